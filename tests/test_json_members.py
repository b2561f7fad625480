"""The StackExchange.Redis `attrs` encoder (parsers/json_members.py) writes exactly what encoding every member and
removing the null ones with a regex wrote (issue 20)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parsers.json_members as jm
import parsers.stackexchange_redis as se
from parsers.json_members import without_nulls, without_nulls_plain
from postmortem.input.ingest import ingest

DATA = Path(__file__).parent / "data"
_KEY = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=6)
_ODD_KEY = st.sampled_from(["a.b", "é", "a b", 'q"', "ключ"])  # the regex's `[\w-]+` (or JSON) treats them apart
_ESCAPED = [chr(i) for i in range(32)] + ['"', "\\", "\x7f", "/", "é", "\u2028", "a"]  # every control character
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.text(alphabet=_ESCAPED, max_size=12) | st.sampled_from(
    ["null", '","a":null', "\\", '"', "\x00\x1f\x7f", "\u2028", ",\"k\":null"])
_COLUMNS = {
    pl.String: _TEXT,
    pl.Int64: st.integers(-(2**63), 2**63 - 1),
    pl.UInt32: st.integers(0, 2**32 - 1),
    pl.Boolean: st.booleans(),
    pl.Float64: st.floats(allow_nan=True),  # written by the plain form
}


@st.composite
def _structs(draw: st.DrawFn) -> pl.DataFrame:
    keys = draw(st.lists(_KEY | _ODD_KEY if draw(st.booleans()) else _KEY, min_size=1, max_size=7, unique=True))
    height = draw(st.integers(0, 6))
    dtypes = [draw(st.sampled_from(list(_COLUMNS) if draw(st.booleans()) else [pl.String, pl.Int64, pl.Boolean]))
              for _ in keys]
    return pl.DataFrame({k: pl.Series(k, draw(st.lists(st.none() | _COLUMNS[t], min_size=height, max_size=height)), t)
                         for k, t in zip(keys, dtypes, strict=True)})


@settings(max_examples=400, deadline=None)
@given(_structs())
def test_the_concatenation_is_the_plain_encoding(frame: pl.DataFrame) -> None:
    fields = pl.struct(pl.all())
    old = frame.select(without_nulls_plain(fields).alias("j")).get_column("j").to_list()
    assert frame.select(without_nulls(fields).alias("j")).get_column("j").to_list() == old
    with mock.patch.object(jm, "CHUNK_ROWS", 2):  # rows joined a few at a time, as a big batch's are
        assert frame.select(without_nulls(fields).alias("j")).get_column("j").to_list() == old
    # a null struct (a timeout the recognizer keeps in its message alone) is a null text, the others as before
    some = pl.when(pl.int_range(pl.len()) % 3 != 1).then(fields)
    assert frame.select(without_nulls(some).alias("j")).get_column("j").to_list() == [
        None if i % 3 == 1 else j for i, j in enumerate(old)]


def test_the_cases_the_generator_relies_on() -> None:
    """A null first member is kept, later ones dropped; quotes, backslashes and control characters escaped."""
    frame = pl.DataFrame({"client": [None, "x"], "n": [None, -3], "s": ['a"\\\n\x01\b\f', None], "b": [True, None]},
                         schema={"client": pl.String, "n": pl.Int64, "s": pl.String, "b": pl.Boolean})
    got = frame.select(without_nulls(pl.struct(pl.all())).alias("j")).get_column("j").to_list()
    assert got == ['{"client":null,"s":"a\\"\\\\\\n\\u0001\\b\\f","b":true}', '{"client":"x","n":-3}']
    assert got == frame.select(without_nulls_plain(pl.struct(pl.all())).alias("j")).get_column("j").to_list()


@pytest.mark.parametrize("path", sorted(p.relative_to(DATA).as_posix() for p in (DATA / "stackexchange").iterdir()
                                         if p.suffix != ".md"))
def test_fixture_events_are_the_plain_encodings(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The StackExchange.Redis fixtures' events, attrs included, are those of the plain encoder."""
    new = ingest([str(DATA / path)]).events
    monkeypatch.setattr(se, "without_nulls", without_nulls_plain)
    old = ingest([str(DATA / path)]).events
    assert new.get_column("attrs").null_count() < new.height
    assert new.equals(old)
