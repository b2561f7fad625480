"""How many connections the clients held before an outage, and how many they opened after it.

A reconnect storm is amplification, not a rate: a fleet that re-opens each of its pooled connections
once after a restart is recovering (amplification about 1) at any fleet size, while a fleet that opens
ten connections for every one it held is DDoS-ing its own cache. Both numbers come from the incident
itself, each from the best source that has it, and say which:

* the population before the outage: the `connected_clients` metric, else the server log's open
  connections (accepted minus closed since the server started), else pods x the logged pool cap, else
  the client connections the client logs show (one per pod at least);
* the demand after the outage: the server's own count of new connections (its `Accepted` lines, the
  `connections_received` counter plus `rejected_connections`, Azure's connections-created rate), else the clients' own records of
  connection attempts against the live server; the pre-outage rate of the same source is subtracted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import NamedTuple

import polars as pl

from postmortem.analysis.fleet_connect import connected_after
from postmortem.schema import CLIENT_SOURCES, event_weight, ts_lit

LOOKBACK = timedelta(minutes=5)  # population and baseline are read this far before the outage
BASELINE_MIN_S = 3.0  # a pre-outage rate needs at least this much time before the outage
HORIZON = timedelta(seconds=60)  # reconnects are counted this long after the server is back
CLIENT_ATTEMPT_KINDS = ("redis.connect_failed", "redis.max_clients", "redis.reconnect_attempt",
                        "redis.connection_restored")


@dataclass(frozen=True)
class Population:
    """Client connections open before the outage, with the source of the figure."""

    connections: float
    source: str
    pods: int  # client hosts seen in client logs (0 when there are none)
    evidence: tuple[int, ...] = ()  # event_ids of the lines the figure was read from


@dataclass(frozen=True)
class Demand:
    """New connections after the outage, net of the pre-outage rate, from one named source."""

    attempts: float  # counted in the window
    baseline_per_s: float | None  # the same source before the outage; None when it has no data before
    excess: float  # attempts - baseline_per_s x window seconds
    source: str
    window_start: datetime
    window_end: datetime
    per_second: pl.DataFrame  # second, attempts, rate (this source, from `back` to the window's end)
    # the sampled metric the source counted (None: log lines, each in its own second): a sample's whole increase
    # lands in its second, however long ago the answered sample before it was (storm_dating.py)
    metric: str | None = None
    # the same source's seconds before the outage, to the one it began in (second, attempts, rate): their spread
    # says how far the rate after it may stray without the outage (`rate_spread.py`)
    before: pl.DataFrame | None = None


def _timed(events: pl.DataFrame) -> pl.DataFrame:
    return events.filter(pl.col("ts").is_not_null())


def _metric(events: pl.DataFrame, name: str) -> pl.DataFrame:
    return _timed(events).filter(
        (pl.col("metric") == name) & pl.col("value").is_not_null() & pl.col("value").is_finite()
    ).sort("ts")


def logged_pool_cap(events: pl.DataFrame) -> int | None:
    """The largest `max_connections` a client logged in its configuration."""
    cfg = events.filter((pl.col("kind") == "redis.config") & pl.col("source").is_in(CLIENT_SOURCES))
    caps = []
    for raw in cfg.get_column("attrs").drop_nulls().to_list():
        try:
            value = json.loads(raw).get("max_connections")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int | float | str) and str(value).strip().isdigit():
            caps.append(int(str(value).strip()))
    return max(caps) if caps else None


def pool_capacity(events: pl.DataFrame) -> tuple[int, str] | None:
    """(pods x the largest pool cap the clients logged, how it was counted): the most connections a fleet
    of capped pools can hold, so the most a recovery can re-open. None when no cap was logged."""
    cap, pods = logged_pool_cap(events), client_pods(events)
    if not cap or not pods:
        return None
    return cap * pods, f"{pods} pods x pool cap {cap} (logged client configuration)"


@dataclass(frozen=True)
class Held:
    """The connections the clients held before a moment: the population, or the pods' pool capacity when that is
    larger (a recovery may re-open every pooled connection). The one figure PM101 and PM303 divide by."""

    connections: float
    population: Population
    capacity: tuple[int, str] | None

    @property
    def from_capacity(self) -> bool:
        """`connections` is the pools' capacity (at least the population): what they could hold, not what they held."""
        return bool(self.capacity) and self.capacity[0] >= self.population.connections

    @property
    def source(self) -> str:
        """Where `connections` came from: the pool capacity when it is at least the population."""
        return self.capacity[1] if self.from_capacity else self.population.source


def held_before(events: pl.DataFrame, t0: datetime) -> Held | None:
    """What the clients held just before `t0` (None without a population to count)."""
    pop = population_before(events, t0)
    if pop is None or pop.connections <= 0:
        return None
    capacity = pool_capacity(events)
    return Held(max(pop.connections, float(capacity[0]) if capacity else 0.0), pop, capacity)


def client_pods(events: pl.DataFrame) -> int:
    """Client hosts (pods) in the client logs: the fleet, counted once for every figure that needs it."""
    hosts = events.select("source", "host").filter(pl.col("source").is_in(CLIENT_SOURCES)).get_column("host").drop_nulls()
    return hosts.n_unique()


class Reading(NamedTuple):
    """A `connected_clients` reading: the value, its named source, its event_id and its time."""

    value: float
    source: str
    event_id: int
    ts: datetime


def connected_before(samples: pl.DataFrame, t0: datetime, events: pl.DataFrame) -> Reading | None:
    """The `connected_clients` gauge's last sample before `t0` (within the lookback) or, when the server log shows
    that sample taken before the fleet connected, the first sample once it had (`fleet_connect.connected_after`).
    The one figure for "connections before the incident": the storm's population and the connected-clients rule's
    reference both read it here, so they never disagree."""
    before = samples.filter((pl.col("ts") < ts_lit(t0)) & (pl.col("ts") >= ts_lit(t0 - LOOKBACK))).sort("ts")
    if before.height == 0:
        return None
    last = before.tail(1).row(0, named=True)
    fleet = connected_after(samples, events, last, t0)
    if fleet is not None:
        row, source = fleet
        return Reading(float(row["value"]), source, row["event_id"], row["ts"])
    return Reading(float(last["value"]), f"connected_clients metric at {last['ts']:%H:%M:%S} UTC", last["event_id"],
                   last["ts"])


def population_before(events: pl.DataFrame, t0: datetime) -> Population | None:
    """Client connections open just before `t0` (see the module doc for the order of sources)."""
    pods = client_pods(events)
    gauge = connected_before(_metric(events, "connected_clients"), t0, events)
    if gauge is not None:  # a gauge: its last value before the outage is the state the outage found
        value, source, event_id, _ = gauge
        return Population(value, source, pods, (event_id,))
    server = _timed(events).filter(pl.col("source") == "redis_server")
    starts = server.filter((pl.col("kind") == "redis.server.ready") & (pl.col("ts") < ts_lit(t0)))
    since = starts.get_column("ts").max() if starts.height else None
    churn = server.filter(pl.col("kind").is_in(["redis.server.client_accepted", "redis.server.client_closed"])
                          & (pl.col("ts") < ts_lit(t0)))
    if since is not None:
        churn = churn.filter(pl.col("ts") >= ts_lit(since))
    if churn.height:
        w = churn.with_columns(w=event_weight()).group_by("kind").agg(pl.col("w").sum())
        by = dict(zip(w.get_column("kind").to_list(), w.get_column("w").to_list(), strict=True))
        open_ = by.get("redis.server.client_accepted", 0.0) - by.get("redis.server.client_closed", 0.0)
        if open_ > 0:
            return Population(float(open_), "server log (connections accepted minus closed before "
                              f"{t0:%H:%M:%S})", pods)
    cap = logged_pool_cap(events)
    if cap and pods:
        return Population(float(cap * pods), f"{pods} pods x pool cap {cap} (logged client configuration)", pods)
    if pods:
        return Population(float(pods), f"{pods} client pods (at least one connection each)", pods)
    return None


def _per_second(rows: pl.DataFrame, weight: pl.Expr, span: pl.Expr | None = None) -> pl.DataFrame:
    """second, attempts, rate: `span` (seconds a sample covers, for counters sampled every few seconds)
    turns a sample's attempts into a per-second rate; log lines cover their own second."""
    if rows.height == 0:
        return pl.DataFrame(schema={"second": pl.Datetime("us", "UTC"), "attempts": pl.Float64, "rate": pl.Float64})
    return (rows.with_columns(second=pl.col("ts").dt.truncate("1s"), _w=weight,
                              _s=(span if span is not None else pl.lit(1.0)).clip(lower_bound=1.0))
            .group_by("second").agg(attempts=pl.col("_w").sum(), rate=(pl.col("_w") / pl.col("_s")).sum())
            .sort("second"))


def _sample_span() -> pl.Expr:
    return (pl.col("ts").diff().over("entity").dt.total_microseconds() / 1e6).fill_null(1.0)


def counter_reset() -> pl.Expr:
    """A counter's sample below the one before it (per entity, in time order): the server restarted and counts
    from zero. The increase test of every counter reader (`counter_increase`, metrics.with_increases, a restart seen
    from its counter in storm.py)."""
    return (pl.col("value") < pl.col("value").shift(1).over("entity")).fill_null(False)


def counter_increase() -> pl.Expr:
    """A counter's increase since its previous sample (None for the first; after a reset the new value is it)."""
    prev = pl.col("value").shift(1).over("entity")
    return pl.when(prev.is_null()).then(None).when(counter_reset()).then(pl.col("value")).otherwise(pl.col("value") - prev)


def _counter_increase(rows: pl.DataFrame) -> pl.DataFrame:
    """Per-sample increases of a counter (a drop is a restart: the new value is the increase)."""
    return rows.with_columns(inc=counter_increase()).filter(pl.col("inc").is_not_null())


def _sources(events: pl.DataFrame, live: pl.Expr,
             resumed: datetime | None = None) -> list[tuple[str, pl.DataFrame, str | None]]:
    """(name, per-second attempts, sampled metric or None) for every source of new-connection counts, best first. With `resumed` (a
    stopped server answering again), the server log's accepted connections are net of those it closed at once
    in the second after (see `demand_after`)."""
    out = []
    acc = _timed(events).filter(pl.col("kind") == "redis.server.client_accepted")
    if acc.height and resumed is not None:
        out.append(("server log `Accepted` lines, net of connections closed at once as the server resumed (abandoned "
                    "in the listen queue while it did not answer)",
                    _net_of_closed(events, _per_second(acc, event_weight()), resumed), None))
    elif acc.height:
        out.append(("server log `Accepted` lines", _per_second(acc, event_weight()), None))
    rec = _counter_increase(_metric(events, "connections_received").with_columns(_span=_sample_span()))
    if rec.height:
        # a connection refused at maxclients is counted rejected, not received (redis networking.c,
        # acceptCommonHandler: `stat_rejected_conn++` and return before `stat_numconnections++`), while the log's
        # `Accepted` line comes before that test: the two counters together are the connections the server was asked for
        rej = _counter_increase(_metric(events, "rejected_connections").with_columns(_span=_sample_span()))
        name = "connections_received + rejected_connections counters" if rej.height else "connections_received counter"
        out.append((name, _per_second(pl.concat([rec, rej]) if rej.height else rec, pl.col("inc"), pl.col("_span")),
                    "connections_received"))
    created = _metric(events, "connections_created_per_sec").with_columns(_span=_sample_span())
    if created.height:
        out.append(("connections created per second (metric)", _per_second(
            created, pl.col("value") * pl.col("_span"), pl.col("_span")), "connections_created_per_sec"))
    cl = _timed(events).filter(pl.col("source").is_in(CLIENT_SOURCES) & pl.col("kind").is_in(CLIENT_ATTEMPT_KINDS)
                               & live)
    if cl.height:
        out.append((CLIENT_LOG_ATTEMPTS, _per_second(cl, pl.lit(1.0)), None))
    return out


# the clients' own records as the count of new connections: a lower bound, as a client logs no connect that worked and
# one failure for a call whose retries were refused (storm-pause-8 with client logs only: 36 for the server's 2,147)
CLIENT_LOG_ATTEMPTS = "client logs (connect attempts against the live server)"


# how long after a stopped server answers again it may still be logging the closes of connections that ended while
# it was stopped (its queue's abandoned connects, its clients' timed-out ones): within 0.3 s on the recordings
RESUME_DRAIN = timedelta(seconds=1)


def _net_of_closed(events: pl.DataFrame, accepted: pl.DataFrame, resumed: datetime) -> pl.DataFrame:
    """Per second, accepted connections minus the abandoned connects the server closed then (never below 0).

    The server drains its listen queue as it resumes and logs the connects their clients had given up closed at
    once: within 0.3 s of the resume on the recordings (hang-nocfg-8/16/32, hang-36: 465 closed 0.2 s after).
    So only closes from the resume's second to a second after it count: later ones are the fleet's own
    (scaleout-pause-nocfg-12: 85 closes of pods being stopped 6 s after the resume were taken for abandoned
    connects, and its new connections came out below the refusals the server counted among them). The line's
    `age=` does not tell them apart: a paused server stamps the connects it drains with its clock from before
    the pause (hang-36: `age=2`)."""
    closes = _timed(events).filter((pl.col("kind") == "redis.server.client_closed") & pl.col("ts").is_between(
        resumed.replace(microsecond=0), resumed + RESUME_DRAIN, closed="left"))
    # the drain's closes net the drain's accepts in time order, across a second's boundary: a queue accepted at
    # .94-.98 and closed at .03-.05 of the next second is one drain (slow-pause-12's resume after its KEYS: 466
    # accepted, 473 closed), not 417 new connections and 400 closes of others
    closed = float(closes.select(event_weight().sum()).item() or 0.0)
    drain = ((pl.col("second") >= resumed.replace(microsecond=0))
             & (pl.col("second") < resumed + RESUME_DRAIN)).cast(pl.Float64)
    earlier = (pl.col("attempts") * drain).cum_sum() - pl.col("attempts") * drain  # the drain's accepts before
    left = (closed - earlier).clip(lower_bound=0.0)
    net = accepted.sort("second").with_columns(
        attempts=pl.col("attempts") - pl.min_horizontal(pl.col("attempts"), left) * drain)
    return net.with_columns(rate=pl.col("attempts"))


def baseline_rate(attempts: pl.Series, span_s: float) -> float:
    """A source's rate before the outage: the larger of its mean over the span from its first second and the
    median of that span's seconds (those without an attempt counted as none). The mean understates a steady
    source whose span began before its traffic (the scraper's lone connection 5 s before a fleet that opens a
    connection per request: 83 a second for 95, per-request-long-24); the median understates a bursty one
    (pools opened now and then: most seconds none). Neither overstates a steady rate."""
    seconds = max(int(span_s), attempts.len())
    values = sorted(attempts.to_list())
    padded = [0.0] * (seconds - len(values)) + values
    return max(float(attempts.sum()) / span_s, float(median(padded)))


def demand_after(events: pl.DataFrame, t0: datetime, back: datetime, until: datetime | None,
                 live: pl.Expr, abandoned: bool = False) -> Demand | None:
    """New connections from `back` (server answering again) to `until` (default: `back` + HORIZON).

    `t0` is the outage start: the pre-outage rate of the same source is its baseline. `live` filters
    client events to those against a live server (not failures inside an outage). `abandoned` (the server
    was not restarted, so it kept its listening socket): clients that timed out kept opening connections that
    the kernel queued while the server was stopped, and closed them again; the server accepts the whole queue
    the instant it resumes and logs them closed at once (hang-nocfg-16: 268 accepted, 220 closed in the same
    100 ms), so the server log counts connections net of those (`_net_of_closed`).
    """
    end = min(until, back + HORIZON) if until is not None else back + HORIZON
    for name, per_s, metric in _sources(events, live, back if abandoned else None):
        window = per_s.filter((pl.col("second") >= ts_lit(back.replace(microsecond=0))) & (pl.col("second") < ts_lit(end)))
        if window.height == 0:
            continue
        before = per_s.filter((pl.col("second") < ts_lit(t0 - timedelta(seconds=1))) & (pl.col("second") >= ts_lit(t0 - LOOKBACK)))
        span_before = (t0 - max(before.get_column("second").min(), t0 - LOOKBACK)).total_seconds() \
            if before.height else 0.0
        baseline = baseline_rate(before.get_column("attempts"), span_before) if span_before >= BASELINE_MIN_S else None
        last = window.get_column("second").max() + timedelta(seconds=1)
        seconds = max(1.0, (last - back).total_seconds())
        attempts = float(window.get_column("attempts").sum())
        excess = max(0.0, attempts - (baseline or 0.0) * seconds)
        lead = per_s.filter(pl.col("second").is_between(ts_lit(t0 - LOOKBACK), ts_lit(t0)))
        return Demand(attempts, baseline, excess, name, back, last, window, metric, lead)
    return None
