"""Summarize redis-server's per-connection lines (`Accepted ...`, `Client closed connection ...`).

A verbose redis-server logs one line per connection opened or closed: during a connection storm that
is most of the folder (a million lines per 75 MB). They matter only as counts per second, so the
lines of one file, host, kind and second become one record: the first line of the group, framed and
recognized as usual, with `n_lines` = how many connections it stands for, `last_line` = the last
line's number and `last_span` = seconds from the first line's time to the last's (a second's lines can straddle a
stall: the accepts right after a resume share the row of those before it, so only this says when they came). The redis_server recognizer turns `n_lines` into the event's `value` (its weight, see
postmortem/schema.py `event_weight`); every line stays accounted as an event line.

Only plain redis-server headers (`pid:role dd Mon yyyy hh:mm:ss.mmm marker`) are summarized, and only
single-line records, checked with one regex each; the second is the text before the first `.`.
"""

from __future__ import annotations

import polars as pl

# The redis_server header variant, its message starting with a churn phrase.
CHURN_RX = (
    r"^(?:\[\d+\]|\d+:[XCSM]) \d\d? [A-Z][a-z]{2}(?: \d{4})? \d\d:\d\d:\d\d\.\d+ [.*#-] "
    r"(?:Accepted \S+:\d+\s*$|Client closed connection)"
)
VARIANT = "redis_server"


# The columns of a framed record that only a summarized group fills
SUMMARY_COLUMNS = {"last_line": pl.UInt32, "last_span": pl.Float64}


def no_summary(prefix: str = "") -> dict[str, pl.Expr]:
    """The summary columns of records that are not a summarized group: nulls."""
    return {prefix + name: pl.lit(None, dtype=dtype) for name, dtype in SUMMARY_COLUMNS.items()}


def _fraction(body: pl.Expr) -> pl.Expr:
    """A churn line's fraction of its second (the header's digits after `hh:mm:ss.`), in seconds."""
    return ("0." + body.str.extract(r"\d\d:\d\d:\d\d\.(\d+) ", 1)).cast(pl.Float64)


def split_churn(lines: pl.DataFrame, header_rx: str) -> pl.DataFrame:
    """`lines` with each group of churn lines (file, host, kind, second) reduced to its first line,
    which gets `_weight` (lines in the group), `_last_line` and `_last_span`; other lines get nulls there."""
    body = pl.col("body")
    by_file = ["_file"] if "_file" in lines.columns else []  # many files framed at once: within each
    next_hdr = body.str.contains(header_rx).shift(-1)
    marked = lines.with_columns(
        _churn=body.str.contains(CHURN_RX),
        _next_hdr=(next_hdr.over("_file") if by_file else next_hdr).fill_null(True),
    )
    if by_file:  # a file with fewer than two churn lines is left as it is, as when framed alone
        marked = marked.with_columns(_churn=pl.col("_churn") & (
            (pl.col("_churn") & pl.col("_next_hdr")).sum().over("_file") >= 2))
    churn = marked.filter(pl.col("_churn") & pl.col("_next_hdr"))
    if churn.height < 2:
        return lines.with_columns(_weight=pl.lit(None, dtype=pl.UInt32), **no_summary("_"))
    groups = (
        churn.select(
            *by_file, "line", "ohost",
            _second=body.str.slice(0, body.str.find(".", literal=True)),
            _accepted=body.str.contains(" Accepted ", literal=True),
            _fraction=_fraction(body),
        )
        .group_by([*by_file, "ohost", "_second", "_accepted"], maintain_order=True)
        .agg(pl.col("line").first(), _weight=pl.len().cast(pl.UInt32), _last_line=pl.col("line").last(),
             _last_span=pl.col("_fraction").last() - pl.col("_fraction").first())
        .select(*by_file, "line", "_weight", "_last_line", "_last_span")
    )
    rest = marked.filter(~(pl.col("_churn") & pl.col("_next_hdr"))).drop("_churn", "_next_hdr")
    firsts = churn.drop("_churn", "_next_hdr").join(groups, on=[*by_file, "line"], how="inner")
    return pl.concat(
        [rest.with_columns(_weight=pl.lit(None, dtype=pl.UInt32), **no_summary("_")), firsts],
        how="vertical_relaxed",
    ).sort([*by_file, "line"])
