"""How long the clients' connections lived in normal operation: the connection-per-request signal.

A fleet that reuses its connections (a pool, one multiplexer per process) opens almost none while it
runs: each connection lives for hours. A fleet that opens a client per request renews its connections as
fast as it serves requests, so the server keeps accepting and closing them while the number it holds
stays flat. Both figures are read from the incident's own sources, before the incident, when the fleet
was in its steady state:

* new connections per second: the server log's `Accepted` lines matched by `Client closed` lines, else
  the `connections_received` counter while `connected_clients` stayed flat (a ramp is not turnover);
* the connections held: `population.population_before` at the end of the steady span (before the
  incident, the same figure the storm rule uses).

The steady state is the span before the incident, else the span after it (logs often begin with it).

Their ratio is the mean lifetime of a connection; divided by the client pods, the rate is each pod's
share. Exporters and health probes open a connection every few seconds at most, whatever the fleet, so
they never reach a pod's share of a request-driven rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.population import LOOKBACK, population_before
from postmortem.schema import event_weight, ts_lit

MIN_SPAN_S = 30.0  # a steady state shorter than this says nothing about lifetimes
MIN_CONNECTIONS = 20  # fewer new connections than this are too few to call a rate
STEADY_CLOSED = 0.8  # closes at least this share of opens: connections are renewed, not added
STEADY_FLAT = 0.2  # connected_clients moved by at most this share of the new connections


@dataclass(frozen=True)
class Turnover:
    """New connections per second in the steady state before the incident, against the connections held."""

    new_connections: float
    seconds: float
    per_s: float
    source: str
    held: float
    held_source: str
    pods: int
    evidence: tuple[int, ...]  # event_ids: the first and last lines or samples the rate was read from

    @property
    def lifetime_s(self) -> float:
        """Mean lifetime of a connection (Little's law: held ÷ arrival rate)."""
        return self.held / self.per_s if self.per_s else float("inf")

    @property
    def per_pod_per_s(self) -> float | None:
        return self.per_s / self.pods if self.pods else None


Read = tuple[float, float, str, tuple[int, ...]]  # new connections, seconds, source, event_ids


def _span(events: pl.DataFrame, lo: datetime, hi: datetime) -> pl.DataFrame:
    return events.filter(pl.col("ts").is_not_null() & (pl.col("ts") >= ts_lit(lo)) & (pl.col("ts") < ts_lit(hi)))


def _server_turnover(events: pl.DataFrame, lo: datetime, hi: datetime) -> Read | None:
    server = _span(events, lo, hi)
    closed = server.filter(pl.col("kind") == "redis.server.client_closed").sort("ts")
    if closed.height == 0:  # nothing renewed: a fleet that only opened connections is filling its pools
        return None
    # the steady state starts when connections began to be renewed (a fleet starting up only opens them);
    # in whole seconds, as summarized churn rows stand for their second
    renewing_from = closed.get_column("ts").min().replace(microsecond=0)
    accepted = server.filter((pl.col("kind") == "redis.server.client_accepted")
                             & (pl.col("ts").dt.truncate("1s") >= renewing_from)).sort("ts")
    if accepted.height == 0:
        return None
    n_open = float(accepted.select(event_weight().sum()).item())
    n_closed = float(closed.select(event_weight().sum()).item()) if closed.height else 0.0
    if n_closed < STEADY_CLOSED * n_open:
        return None
    seconds = (accepted.get_column("ts").max().replace(microsecond=0)
               - accepted.get_column("ts").min().replace(microsecond=0)).total_seconds() + 1.0
    ids = tuple(int(i) for i in pl.concat([accepted.head(1), accepted.tail(1), closed.head(1)])
                .get_column("event_id").to_list())
    return n_open, seconds, "server log `Accepted` lines matched by `Client closed` lines", ids


def _counter_turnover(events: pl.DataFrame, lo: datetime, hi: datetime) -> Read | None:
    def series(name: str) -> pl.DataFrame:
        return _span(events, lo, hi).filter(
            (pl.col("metric") == name) & pl.col("value").is_not_null() & pl.col("value").is_finite()).sort("ts")

    received, held = series("connections_received"), series("connected_clients")
    if received.height < 2 or held.height < 2 or received.get_column("entity").n_unique() != 1:
        return None
    values = received.get_column("value")
    if (values.diff().drop_nulls() < 0).any():  # a counter reset (restart) is not a steady state
        return None
    new = float(values[-1] - values[0])
    drift = abs(float(held.get_column("value")[-1] - held.get_column("value")[0]))
    if new <= 0 or drift > STEADY_FLAT * new:
        return None
    seconds = (received.get_column("ts")[-1] - received.get_column("ts")[0]).total_seconds()
    ids = tuple(int(i) for i in pl.concat([received.head(1), received.tail(1)]).get_column("event_id").to_list())
    return new, seconds, "connections_received counter while connected_clients stayed flat", ids


def steady_turnover(events: pl.DataFrame, start: datetime | None, end: datetime | None) -> Turnover | None:
    """The steady state's connection turnover outside the incident (`start`..`end`), or None when the
    sources cannot show one (too short, too few connections, a ramp, no population)."""
    timed = events.filter(pl.col("ts").is_not_null())
    if timed.height == 0:
        return None
    first, last = timed.get_column("ts").min(), timed.get_column("ts").max()
    if start is None or end is None or (start <= first and end >= last):
        start = end = last + timedelta(microseconds=1)  # no incident: all the logs show is the steady state
    for lo, hi in ((start - LOOKBACK, start), (end + timedelta(microseconds=1), end + LOOKBACK)):
        for read in (_server_turnover, _counter_turnover):
            got = read(events, lo, hi)
            if got is None:
                continue
            new, seconds, source, ids = got
            population = population_before(events, hi)
            if seconds < MIN_SPAN_S or new < MIN_CONNECTIONS or population is None or population.connections <= 0:
                continue
            return Turnover(new, seconds, new / seconds, source, population.connections, population.source,
                            population.pods, ids + population.evidence)
    return None
