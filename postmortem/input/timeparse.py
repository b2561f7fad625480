"""Vectorized timestamp parsing: many log layouts in, UTC microseconds out.

Year-less layouts (old redis-server, syslog, klog) are parsed into the placeholder year
`PLACEHOLDER_YEAR` and flagged, so ingest can give them the year the other sources agree on.
Zone-less times are read in the zone given by `--tz` (default UTC); the report states both. Each
parsed row says whether its time carried its own zone or offset (`ts_zoned`: True for an offset, `Z`,
`UTC` or an epoch; False for a local time read in `--tz`; null when nothing parsed), so the DST checks
(timecheck.py) know which times `--tz` moved without parsing the file again.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from postmortem.schema import TS_DTYPE

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


# Common zone-less layouts that parse straight from the raw text, with no normalization pass.
_RAW_FORMATS = (
    "%Y-%m-%d %H:%M:%S,%3f",  # Python logging
    "%Y-%m-%d %H:%M:%S%.f",
    "%d %b %Y %H:%M:%S%.f",  # redis-server 3.2+
    "%Y-%m-%dT%H:%M:%S%.f",
)


def _raw_format(sample: pl.Series) -> str | None:
    """A layout that parses every sampled value as it is, when there is one (all tried in one call)."""
    ok = pl.DataFrame({"t": sample}).select(
        pl.col("t").str.strptime(_DT, fmt, strict=False).is_not_null().all().alias(str(i))
        for i, fmt in enumerate(_RAW_FORMATS)
    ).row(0)
    return next((fmt for fmt, good in zip(_RAW_FORMATS, ok, strict=True) if good), None)


def _formats_in_use(sample: pl.Series | None) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]:
    """Which layouts occur in a sample of the column, so the full column is parsed with those only.

    Every layout is tried in one polars call: per-file fixed cost matters for folders of many logs."""
    if sample is None:
        return _AWARE_FORMATS, _NAIVE_FORMATS, _YEARLESS_FORMATS, True
    frame = pl.DataFrame({"t": sample}).select(n=_normalized(pl.col("t")))
    norm = pl.col("n")
    yl_text = pl.lit(f"{PLACEHOLDER_YEAR} ") + norm.str.replace(r"^[IWEF](\d{4} )", "$1")
    tries = (
        [("a", f, norm.str.strptime(pl.Datetime("us", "UTC"), f, strict=False)) for f in _AWARE_FORMATS]
        + [("n", f, norm.str.strptime(_DT, f, strict=False)) for f in _NAIVE_FORMATS]
        + [("y", f, yl_text.str.strptime(_DT, f, strict=False)) for f in _YEARLESS_FORMATS]
    )
    counts = frame.select(
        *(e.is_not_null().any().alias(str(i)) for i, (_, _, e) in enumerate(tries)),
        epoch=norm.str.contains(r"^\d{9,13}(?:\.\d+)?$").any(),
    ).row(0, named=True)
    found = [(group, f) for i, (group, f, _) in enumerate(tries) if counts[str(i)]]

    def of(group: str) -> tuple[str, ...]:
        return tuple(f for g, f in found if g == group)

    return of("a"), of("n"), of("y"), bool(counts["epoch"])


class ParsedTs(NamedTuple):
    ts: pl.Expr  # UTC datetime
    yearless: pl.Expr  # parsed with the placeholder year
    zoned: pl.Expr  # the text carried its own zone/offset (null: nothing parsed)


def parse_ts(expr: pl.Expr, tz: str = "UTC", sample: pl.Series | None = None) -> ParsedTs:
    """The UTC time, year-less flag and carried-its-own-zone flag expressions for a string column of times.

    With a `sample` of the column only the layouts seen in it are tried on the whole column, which
    is most of the cost on big files.
    """
    aware_f, naive_f, yearless_f, use_epoch = _formats_in_use(sample)
    norm = _normalized(expr)
    null_dt = pl.lit(None, dtype=_DT)
    aware = pl.coalesce([norm.str.strptime(pl.Datetime("us", "UTC"), f, strict=False) for f in aware_f]) \
        if aware_f else pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    naive = pl.coalesce([norm.str.strptime(_DT, f, strict=False) for f in naive_f]) if naive_f else null_dt
    yl_text = pl.lit(f"{PLACEHOLDER_YEAR} ") + norm.str.replace(r"^[IWEF](\d{4} )", "$1")
    yearless = pl.coalesce([yl_text.str.strptime(_DT, f, strict=False) for f in yearless_f]) if yearless_f else null_dt
    if use_epoch:
        epoch_num = norm.str.extract(r"^(\d{9,10}(?:\.\d+)?|\d{12,13})$").cast(pl.Float64, strict=False)
        epoch = (
            pl.when(epoch_num > 1e11).then(epoch_num * 1_000).otherwise(epoch_num * 1_000_000)
            .cast(pl.Int64, strict=False)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
        )
    else:
        epoch = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    local = pl.coalesce([naive, yearless])
    local_utc = local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone(
        "UTC"
    )
    ts = pl.coalesce([aware, local_utc, epoch]).cast(TS_DTYPE)
    flag = naive.is_null() & yearless.is_not_null() & aware.is_null()
    zoned = (pl.when(aware.is_not_null()).then(True).when(local.is_not_null()).then(False)
             .when(epoch.is_not_null()).then(True).otherwise(None))
    return ParsedTs(ts, flag, zoned)


def with_parsed_ts(df: pl.DataFrame, column: str = "ts_text", tz: str = "UTC") -> pl.DataFrame:
    """Add `ts`, `ts_yearless` and `ts_zoned` columns parsed from a string column."""
    col = df.get_column(column)
    present = col.drop_nulls()
    if present.len() == 0:
        return df.with_columns(pl.lit(None, dtype=TS_DTYPE).alias("ts"), pl.lit(False).alias("ts_yearless"),
                               pl.lit(None, dtype=pl.Boolean).alias("ts_zoned"))
    # sample spread over the file: the head and an even stride, so a mid-file layout change is seen
    stride = max(1, present.len() // 500)
    sample = pl.concat([present.head(500), present.gather_every(stride).head(500)])
    raw = _raw_format(sample)
    if raw is not None:  # fast path: one strptime, no normalization regexes
        local = pl.col(column).str.strptime(_DT, raw, strict=False)
        ts = local.dt.replace_time_zone(
            tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC").cast(TS_DTYPE)
        flag = pl.lit(False)
        zoned = pl.when(local.is_not_null()).then(False).otherwise(None)  # the raw layouts carry no zone
    else:
        ts, flag, zoned = parse_ts(pl.col(column), tz, sample)
    out = df.with_columns(ts.alias("ts"), flag.fill_null(False).alias("ts_yearless"), zoned.alias("ts_zoned"))
    failed = pl.col("ts").is_null() & pl.col(column).is_not_null()
    if out.select(failed.any()).item():
        # a layout the sample did not show: parse just those rows with every layout
        out = out.with_row_index("_row")
        every = parse_ts(pl.col(column), tz, None)
        fixed = out.filter(failed).select("_row", every.ts.alias("ts"), every.yearless.fill_null(False).alias("ts_yearless"),
                                          every.zoned.alias("ts_zoned"))
        out = out.update(fixed, on="_row").drop("_row")
    return out
