"""Refusals at maxclients after an outage, and how many of them the pre-outage rate accounts for.

A fleet whose pools want more connections than maxclients is refused before any outage, at a steady rate
(storm-rate50-long-8: 565 a second for the 6.4 s before a restart, 467 a second after it). Those refusals are
its baseline, not a reconnect storm: PM101 counts the refusals after the outage net of that rate, as it counts
new connections net of theirs (`population.demand_after`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.population import (
    BASELINE_MIN_S,
    LOOKBACK,
    baseline_rate,
    counter_increase,
)
from postmortem.schema import CLIENT_SOURCES, ts_lit

COUNTED_AFTER = timedelta(seconds=5)  # the server's count runs this long past the storm window (late scrapes)


@dataclass(frozen=True)
class Refused:
    """Refusals from when the server answered again: the server's count and the replies the clients logged,
    each with the share of it the pre-outage rate of the same source accounts for."""

    server: int | None  # the rejected_connections counter's increase (None: no such metric)
    server_before: float  # of `server`, what the counter's pre-outage rate gives over the span it covers
    clients: int  # `max number of clients reached` replies the clients logged in the window
    clients_before: float  # of `clients`, what their pre-outage rate gives over the window

    @property
    def server_net(self) -> float:
        return max(float(self.server or 0) - self.server_before, 0.0)

    @property
    def clients_net(self) -> float:
        return max(float(self.clients) - self.clients_before, 0.0)


def _increases(events: pl.DataFrame) -> pl.DataFrame:
    """The rejected_connections counter's samples in time order with the increase since the one before."""
    rows = events.filter(pl.col("metric") == "rejected_connections").select("entity", "ts", "value").sort("ts")
    return rows.with_columns(inc=counter_increase(), prev_ts=pl.col("ts").shift(1).over("entity"))


def counter_rises(events: pl.DataFrame, start: datetime, end: datetime) -> bool:
    """Whether a rejected_connections sample from `start` up to `end` (both included) rose over the one before it: the
    server refused a connection at maxclients then (a restart's reset is no rise: `counter_increase`)."""
    rows = _increases(events).filter(pl.col("ts").is_between(ts_lit(start), ts_lit(end)) & (pl.col("inc") > 0))
    return rows.height > 0


def rejected_server(events: pl.DataFrame, start: datetime, end: datetime) -> int | None:
    """The server's rejected_connections increase from `start` to `COUNTED_AFTER` past `end` (None: no such metric)."""
    found = _counted(events, start, end)
    return None if found is None else found[0]


def _counted(events: pl.DataFrame, start: datetime, end: datetime) -> tuple[int, float] | None:
    """The counter's increase from `start` to `COUNTED_AFTER` past `end`, and the seconds its samples cover (from
    the sample before the first counted one)."""
    rows = _increases(events)
    if rows.height == 0:
        return None
    inside = rows.filter(pl.col("ts").is_between(ts_lit(start), ts_lit(end + COUNTED_AFTER)) & pl.col("inc").is_not_null())
    if inside.height == 0:
        return 0, 0.0
    covered = (inside.get_column("ts").max() - inside.get_column("prev_ts").min()).total_seconds()
    return int(inside.get_column("inc").sum()), covered


def _counter_rate(events: pl.DataFrame, t0: datetime) -> float:
    """The counter's refusals per second over `LOOKBACK` before the outage start `t0` (0: under `BASELINE_MIN_S` of
    samples): the larger of the mean and the median sample's rate, as `population.baseline_rate` for new connections
    (the mean understates a fleet whose refusals began after the log did: storm-rate50-long-8, 427 a second over
    its first 6.4 s, ~600 once its pools had filled)."""
    rows = _increases(events).filter((pl.col("ts") >= ts_lit(t0 - LOOKBACK)) & (pl.col("ts") < ts_lit(t0))
                                    & pl.col("inc").is_not_null())
    if rows.height == 0:
        return 0.0
    span = (rows.get_column("ts").max() - rows.get_column("prev_ts").min()).total_seconds()
    if span < BASELINE_MIN_S:
        return 0.0
    rates = rows.select(pl.col("inc") / (pl.col("ts") - pl.col("prev_ts")).dt.total_microseconds() * 1e6)
    return max(float(rows.get_column("inc").sum()) / span, float(rates.to_series().median() or 0.0))


def _client_rate(events: pl.DataFrame, t0: datetime) -> float:
    """The clients' logged refusals per second over `LOOKBACK` before `t0`, from their first line in it (0: under
    `BASELINE_MIN_S` of client lines), by `population.baseline_rate`."""
    rows = events.select("source", "kind", "ts").filter(
        pl.col("source").is_in(CLIENT_SOURCES) & (pl.col("ts") >= ts_lit(t0 - LOOKBACK)) & (pl.col("ts") < ts_lit(t0)))
    if rows.height == 0:
        return 0.0
    span = (t0 - rows.get_column("ts").min()).total_seconds()
    if span < BASELINE_MIN_S:
        return 0.0
    per_s = rows.filter(pl.col("kind") == "redis.max_clients").group_by(pl.col("ts").dt.truncate("1s")).len()
    return baseline_rate(per_s.get_column("len").cast(pl.Float64), span) if per_s.height else 0.0


def refused_after(events: pl.DataFrame, t0: datetime, back: datetime, end: datetime) -> Refused:
    """Refusals from `back` (the server answering again after the outage that began at `t0`) to `end`."""
    replies = events.filter((pl.col("kind") == "redis.max_clients") & pl.col("ts").is_between(ts_lit(back), ts_lit(end))).height
    counted = _counted(events, back, end)
    server, covered = counted if counted is not None else (None, 0.0)
    return Refused(server, _counter_rate(events, t0) * covered, replies,
                   _client_rate(events, t0) * (end - back).total_seconds())
