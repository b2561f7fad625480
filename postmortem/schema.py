"""The events table's schema (polars) and the helpers every stage uses to build and count its rows.

Apart from `postmortem/model.py` because that module is pure Python: the chart side process unpickles the
report's chart data through it and so does not import polars (about 0.2 CPU s of an HTML report, issue 20).
The column names, `source`/`kind` values are contracts (design.md §4): add to them, never rename.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

LEVELS = ("trace", "debug", "info", "warning", "error", "critical")
LEVEL_DTYPE = pl.Enum(list(LEVELS))
TS_DTYPE = pl.Datetime("us", "UTC")

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.UInt32(),
    "ts": TS_DTYPE,
    "source": pl.String(),
    "kind": pl.String(),
    "path": pl.String(),
    "line": pl.UInt32(),
    "level": LEVEL_DTYPE,
    "host": pl.String(),
    "entity": pl.String(),
    "message": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "attrs": pl.String(),
}
EVENT_COLUMNS = tuple(EVENT_SCHEMA)

# the `source` of the Redis client libraries' records: what "the clients logged" means wherever a stage asks
CLIENT_SOURCES = ("stackexchange_redis", "redis_py")


def event_weight() -> pl.Expr:
    """How many log records an event stands for: `value` for the `weighted` kinds (1 when null), else 1.

    Weighted kinds (summarized noise, summarized connection churn) may stand for many log lines; anything
    that counts them must sum this, never rows.
    """
    # late: the table is assembled from the parsers, which import this module
    from postmortem.kinds import KINDS

    return (
        pl.when(pl.col("kind").is_in(KINDS.with_flag("weighted")))
        .then(pl.col("value").fill_null(1.0))
        .otherwise(pl.lit(1.0))
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def ts_lit(value: object) -> pl.Expr:
    """`pl.lit(value)` for comparing with `ts`: a UTC datetime as its microseconds cast to `TS_DTYPE`, because polars
    builds a datetime literal with two queries of its own (~0.2-0.3 ms; a small incident makes ~150, issue 20).
    Anything else, a datetime in another zone or None, is `pl.lit(value)` itself, so the result is always the same."""
    if isinstance(value, datetime) and value.tzinfo is not None and str(value.tzinfo) == "UTC":
        return pl.lit((value - _EPOCH) // _US, dtype=pl.Int64).cast(TS_DTYPE)
    return pl.lit(value)


def weighted_count(events: pl.DataFrame) -> int:
    """How many log records `events` stands for: the sum of `event_weight()` (0 for no rows)."""
    return int(round(events.select(event_weight().sum()).item() or 0)) if events.height else 0


def empty_events() -> pl.DataFrame:
    """An events table with no rows but the full schema, so concat and joins never guess types."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def conform_events(df: pl.DataFrame) -> pl.DataFrame:
    """Give a parser's output exactly the events schema: missing columns become null, order fixed."""
    cols = []
    for name, dtype in EVENT_SCHEMA.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype, strict=False))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)
