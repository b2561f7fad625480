"""`expr_patterns` reads every search an expression makes in a column, and refuses any use it cannot read."""

from __future__ import annotations

import re

import polars as pl
import pytest

from parsers.expr_patterns import UnknownUse, any_of, patterns

H = pl.col("h")


def test_reads_every_search_and_escapes_literal_ones():
    exprs = [
        pl.coalesce(H.str.extract(r"a(\d+)", 1), pl.col("other").str.extract("zz", 0)).cast(pl.Int64),
        H.str.contains("x.y", literal=True), H.str.count_matches("c+"),
        H.str.extract_groups(r"(?P<n>\d+)-(?P<m>\d+)").struct.field("n"),
        pl.when(H.str.contains("w")).then(H.str.extract_all("q")),
        H.str.extract("k(v)", 1).str.extract(r"^(v)", 1),  # a search in a value, not in `h`
    ]
    assert patterns(exprs, "h") == [r"a(\d+)", re.escape("x.y"), "c+", r"(?P<n>\d+)-(?P<m>\d+)", "w", "q", "k(v)"]


@pytest.mark.parametrize("expr", [H.str.len_bytes(), H == "x", H.str.ends_with("x"), pl.concat_str([H, H]),
                                  H.str.strip_chars().str.extract("a", 0), H.is_null(),
                                  H.str.replace("a", "b"), H.str.find("a")])
def test_refuses_a_use_it_cannot_read(expr):
    with pytest.raises(UnknownUse):
        patterns([expr], "h")


def test_one_search_starts_where_the_first_of_all_starts():
    pats = [r"(?P<n>b)c", r"(?P<n>\d)", r"(?i)XY"]
    rx = any_of(pats)
    texts = ["aaxybc", "bc1", "zz", "aXy", "9"]
    got = pl.Series(texts).str.find(rx).to_list()
    firsts = [min((m.start() for p in pats for m in [re.search(p.replace("?P<n>", ""), t)] if m), default=None)
              for t in texts]
    assert got == firsts
