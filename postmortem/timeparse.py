"""Vectorized timestamp parsing: many log layouts in, UTC microseconds out.

Year-less layouts (old redis-server, syslog, klog) are parsed into the placeholder year
`PLACEHOLDER_YEAR` and flagged, so ingest can give them the year the other sources agree on.
Zone-less times are read in the zone given by `--tz` (default UTC); the report states both.
"""

from __future__ import annotations

import polars as pl

from postmortem.model import TS_DTYPE

PLACEHOLDER_YEAR = 2000  # a leap year, so 29 Feb parses

_DT = pl.Datetime("us")

# Layouts with an explicit zone (after normalization to "+HH:MM").
_AWARE_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%d/%b/%Y:%H:%M:%S%.f%:z",
)
# Layouts without zone.
_NAIVE_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%d %b %Y %H:%M:%S%.f",
    "%m/%d/%Y %I:%M:%S%.f %p",
    "%m/%d/%Y %H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S%.f",
    "%a %b %d %H:%M:%S%.f %Y",
)
# Year-less layouts, parsed with the placeholder year prepended.
_YEARLESS_FORMATS = (
    "%Y %d %b %H:%M:%S%.f",  # redis 2.x/3.x "[pid] 15 Jan 10:02:11.532"
    "%Y %b %d %H:%M:%S%.f",  # syslog "Sep  3 10:19:40"
    "%Y %m%d %H:%M:%S%.f",  # klog "I0314 09:31:02.114123" (letter stripped)
)


def _normalized(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.strip_chars(" []\t\"'")
        .str.replace(r"^(\d{4}-\d\d-\d\d)T", "$1 ")
        .str.replace(r"^(\d\d?/\d\d?/\d{4}),", "$1")
        .str.replace(r"(\d\d:\d\d:\d\d),(\d)", "$1.$2")
        .str.replace(r"\s*(?:Z|UTC|GMT)$", "+00:00")
        .str.replace(r"(\d)\s*([+-]\d\d):?(\d\d)$", "$1$2:$3")
        .str.replace_all(r"\s+", " ")
    )


def parse_ts(expr: pl.Expr, tz: str = "UTC") -> tuple[pl.Expr, pl.Expr]:
    """Return (UTC datetime expression, year-less flag expression) for a string column of times."""
    norm = _normalized(expr)
    aware = pl.coalesce([norm.str.strptime(pl.Datetime("us", "UTC"), f, strict=False) for f in _AWARE_FORMATS])
    naive = pl.coalesce([norm.str.strptime(_DT, f, strict=False) for f in _NAIVE_FORMATS])
    yl_text = pl.lit(f"{PLACEHOLDER_YEAR} ") + norm.str.replace(r"^[IWEF](\d{4} )", "$1")
    yearless = pl.coalesce([yl_text.str.strptime(_DT, f, strict=False) for f in _YEARLESS_FORMATS])
    epoch_num = norm.str.extract(r"^(\d{9,10}(?:\.\d+)?|\d{12,13})$").cast(pl.Float64, strict=False)
    epoch = (
        pl.when(epoch_num > 1e11).then(epoch_num * 1_000).otherwise(epoch_num * 1_000_000)
        .cast(pl.Int64, strict=False)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )
    local = pl.coalesce([naive, yearless])
    local_utc = local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone(
        "UTC"
    )
    ts = pl.coalesce([aware, local_utc, epoch]).cast(TS_DTYPE)
    flag = naive.is_null() & yearless.is_not_null() & aware.is_null()
    return ts, flag


def with_parsed_ts(df: pl.DataFrame, column: str = "ts_text", tz: str = "UTC") -> pl.DataFrame:
    """Add `ts` and `ts_yearless` columns parsed from a string column."""
    ts, flag = parse_ts(pl.col(column), tz)
    return df.with_columns(ts.alias("ts"), flag.fill_null(False).alias("ts_yearless"))
