"""The server's connection limit as it was at a given moment, and the changes on-call made to it.

maxclients is not one number per incident: on-call often raises it with CONFIG SET while the storm is
on or after it, and the exporter's series (or INFO dumps) show the new value from then on. Every rule
that compares a figure with the limit asks for the value in force at that figure's moment, so the story
never says "16 of 1,000" about a storm that hit a limit of 16; the raise itself is a mitigation to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

LOGGED = "redis-server log"
METRIC = "maxclients metric"


@dataclass(frozen=True)
class Limit:
    value: int
    source: str  # METRIC or LOGGED
    ts: datetime | None  # when this value was read
    event_id: int | None  # the line it was read from


@dataclass(frozen=True)
class LimitChange:
    """The limit changed between two readings: old until `ts`, new from it."""

    old: int
    new: int
    ts: datetime
    event_id: int


def _series(events: pl.DataFrame) -> pl.DataFrame:
    """Every reading of maxclients in time order: metric samples, else the server log's values."""
    m = events.filter((pl.col("metric") == "maxclients") & pl.col("value").is_not_null()
                      & pl.col("value").is_finite())
    if m.height:
        return m.select("event_id", "ts", value=pl.col("value").cast(pl.Int64), source=pl.lit(METRIC)).sort(
            "ts", nulls_last=True)
    logged = events.filter((pl.col("source") == "redis_server")
                           & pl.col("attrs").str.contains("maxclients", literal=True)).with_columns(
        value=pl.col("attrs").str.json_path_match("$['maxclients']").cast(pl.Int64, strict=False)).filter(
        pl.col("value").is_not_null())
    return logged.select("event_id", "ts", "value", source=pl.lit(LOGGED)).sort("ts", nulls_last=True)


def maxclients_at(events: pl.DataFrame, at: datetime | None) -> Limit | None:
    """The limit in force at `at`: the last reading at or before it, else the first one after it (the
    limit was not changed before anyone read it); with no time, the first reading. None when not logged."""
    s = _series(events)
    if s.height == 0:
        return None
    row = None
    if at is not None:
        before = s.filter(pl.col("ts") <= at)
        row = before.tail(1) if before.height else None
    if row is None:
        row = s.head(1)
    r = row.row(0, named=True)
    return Limit(int(r["value"]), r["source"], r["ts"], r["event_id"])


def maxclients_changes(events: pl.DataFrame) -> list[LimitChange]:
    """Every change of the limit between consecutive timed readings (a CONFIG SET, a restart with a new
    config), oldest first."""
    s = _series(events).filter(pl.col("ts").is_not_null())
    out = []
    prev = None
    for r in s.iter_rows(named=True):
        if prev is not None and r["value"] != prev:
            out.append(LimitChange(int(prev), int(r["value"]), r["ts"], r["event_id"]))
        prev = r["value"]
    return out
