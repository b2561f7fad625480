"""PM301–PM304: what the Redis server's own metrics say (clients, rejections, churn, evictions).

Reads `metrics` rows (`kind` `metric.sample`, normalized `metric`, `value`, entity `redis:<instance>`).
Counters (`rejected_connections`, `connections_received`, `evicted_keys`) are turned into increases
between consecutive samples per entity; a drop is a counter reset (a restart), after which the new
value is the increase. Baselines are taken before the incident starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.advice import Advice, Facts, Snippet, cap_connections, reuse_connections
from postmortem.analysis.correlate import Context, attr
from postmortem.analysis.detectors.base import RuleDetector, finding
from postmortem.analysis.detectors.storm import NOT_KEPT_PER_NEEDED, rejected_server, storms
from postmortem.analysis.kept import Kept, kept_after
from postmortem.analysis.population import (
    connected_before,
    counter_increase,
    counter_reset,
    held_before,
)
from postmortem.analysis.settled import settled_level
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity
from postmortem.schema import CLIENT_SOURCES, ts_lit

DEFAULT_MAXCLIENTS = 10000  # redis.conf default (formats.md §3.3)
NEAR_MAXCLIENTS = 0.9  # clients above this share of maxclients: saturation is imminent
SPIKE_RATIO = 3.0  # connected_clients this many times the baseline ...
# ... and more clients above it than the clients held (or their capped pools could hold) before the incident: a fleet
# re-opening or filling its pools adds at most that at any size (hang-8 to hang-40 add 0.75x after a pause), while
# threads that each open a connection at once add far more (storm-unlimited-2 and -16: 3.7x and 4.1x). A fixed
# number of clients (100 until session 7) missed the small storms and fired on hang-40's pools filling.
CHURN_RATIO = 5.0  # connections per second this many times the baseline, and of those opened above it at least as
# many not kept as the clients needed (PM101's measure, analysis/kept.py, with its NOT_KEPT_PER_NEEDED): every needed
# connection opened twice. Until session 12 a fixed 5 new connections per connection held, which a fleet filling its
# pools passes or not by its pool cap alone: slow-nocfg-8 (cap 4) 2.7x; the same fleet with cap 8 at 8 and 16 pods
# over 5x, every connection kept (tests/test_churn_kept.py)
CHURN_FLOOR = 50.0  # ... or, with no population to divide by, at least this many per second
MAX_ROWS = 8
NEAR_INCIDENT = timedelta(minutes=10)  # evictions this close to the incident window belong to it


def samples(events: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Timed samples of one normalized metric, per entity in time order."""
    return (
        events.filter((pl.col("source") == "metrics") & (pl.col("metric") == metric)
                      & pl.col("value").is_not_null() & pl.col("value").is_finite() & pl.col("ts").is_not_null())
        .with_columns(entity=pl.col("entity").fill_null("redis:unknown"))
        .sort(["entity", "ts", "path", "line"])
    )


def with_increases(df: pl.DataFrame) -> pl.DataFrame:
    """Add `inc` (counter increase since the previous sample), `reset` and `dt` (seconds) per entity."""
    return df.with_columns(
        inc=counter_increase(),
        reset=counter_reset(),
        dt=pl.col("ts").diff().over("entity").dt.total_microseconds() / 1e6,
    )


def incident_start(ctx: Context) -> datetime | None:
    return ctx.outages[0].start if ctx.outages else ctx.window_start


def _baseline_split(g: pl.DataFrame, col: str, ref: datetime | None) -> tuple[pl.DataFrame | None, pl.DataFrame, str]:
    """(the samples the baseline is made of, the rest, how it was taken): the samples before the incident; with
    none before it, the first quarter of the samples with a value; None when there are too few."""
    if ref is not None:
        before = g.filter((pl.col("ts") < ref) & pl.col(col).is_not_null())
        if before.height:
            return before, g.filter(pl.col("ts") >= ref), f"median of {before.height} samples before {ref.isoformat()}"
    with_value = g.filter(pl.col(col).is_not_null())
    if with_value.height >= 4:
        k = with_value.height // 4
        return with_value.head(k), with_value.slice(k), f"median of the first {k} samples (none before the incident)"
    return None, g, ""


def baseline(g: pl.DataFrame, col: str, ref: datetime | None) -> tuple[float | None, str | None]:
    """Median before the incident; with no sample before it, the median of the first quarter."""
    base, _, label = _baseline_split(g, col, ref)
    return (float(base.get_column(col).median()), label) if base is not None else (None, None)


def after_baseline(g: pl.DataFrame, col: str, ref: datetime | None) -> pl.DataFrame:
    """The samples `baseline` did not use: a peak among the baseline's own samples is the normal it is judged
    against (a fleet opening its pools at start-up), not a departure from it."""
    return _baseline_split(g, col, ref)[1]


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def _clock(ts: datetime | None) -> str:
    """A time as a title shows it (the figures keep the full ISO time): 03:08:34.076 UTC."""
    if ts is None:
        return "?"
    return f"{ts:%H:%M:%S}" + (f".{ts.microsecond // 1000:03d}" if ts.microsecond else "") + " UTC"


def _when_risen(up: pl.DataFrame) -> str:
    """When a counter rose, as a title says it: from the sample before its first rising one (the rise it shows
    happened somewhere after that sample) to its last rising sample. A rise seen only once the scraper got
    through again is not dated by that scrape: scaleout-pause-nocfg-12's first answered scrape after 9 s of
    refused ones showed 6,744 refusals, and "between 09:36:41.203 and 09:36:42.105" put the whole storm after
    it had ended."""
    first_row = up.sort("ts").row(0, named=True)
    first, last, dt = first_row["ts"], up.get_column("ts").max(), first_row["dt"]
    if dt is None:
        return f"between {_clock(first)} and {_clock(last)}" if first != last else f"by {_clock(last)}"
    once = " (one rise of the counter)" if first == last else ""
    return f"between {_clock(first - timedelta(seconds=dt))} and {_clock(last)}{once}"


def _run_start(g: pl.DataFrame, threshold: float, peak_ts) -> pl.DataFrame:
    """The first sample of the run at or above `threshold` that holds the peak: when the count rose to the level it
    peaked at, not an earlier crossing it fell back from (prp-nocfg-12: a per-request fleet's 7 connections 28 s
    before a pause read as its spike of 52 after it, "began before" the pause)."""
    below = g.filter((pl.col("value") < threshold) & (pl.col("ts") < peak_ts)).get_column("ts").max()
    return g.filter((pl.col("value") >= threshold) & ((pl.col("ts") > below) if below is not None else True)).head(1)


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(float(x), 3)


def _entities(df: pl.DataFrame) -> list[str]:
    return sorted(set(df.get_column("entity").to_list()))


def _maxclients(events: pl.DataFrame, entity: str) -> tuple[pl.DataFrame, int, str]:
    """The limit for `entity`: a metric sample, else a redis-server log attr, else the default."""
    m = samples(events, "maxclients")
    own = m.filter(pl.col("entity") == entity)
    if own.height == 0 and m.get_column("entity").n_unique() == 1:
        own = m  # one exporter, one server: its limit is this server's
    if own.height:
        row = own.tail(1)
        return row, int(row.get_column("value")[0]), "maxclients metric"
    logged = events.filter((pl.col("source") == "redis_server")
                           & attr("maxclients", pl.Int64).is_not_null()).sort(["ts", "path", "line"], nulls_last=True)
    if logged.height:
        row = logged.tail(1)
        return row, int(row.select(attr("maxclients", pl.Int64)).item()), "redis-server log"
    return m.head(0), DEFAULT_MAXCLIENTS, f"assumed default {DEFAULT_MAXCLIENTS} (not in the inputs)"



Number = int | float


@dataclass(frozen=True, eq=False, repr=False)
class ClientsSpikeFigures(Figures):
    peak: Number  # the highest connected_clients sample
    peak_ts: str | None  # when (ISO)
    baseline: Number | None  # the normal level before the incident
    baseline_from: str | None  # how the baseline was taken
    ratio: float | None  # peak ÷ baseline
    maxclients: Number  # the server's maxclients (or the assumed default)
    maxclients_from: str  # where maxclients came from
    pct_of_maxclients: float | None  # peak as a percentage of maxclients
    first_above_ts: str | None  # the first sample above the threshold (ISO)
    held_before: Number | None = None  # connections the clients held before the incident (PM101's figure): a spike
    # adds more than this above the baseline
    held_from: str | None = None  # where that figure came from
    added_per_held: float | None = None  # (peak - baseline) ÷ held_before
    kept_after: Number | None = None  # the level connected_clients settled at after the peak (to the clients' last
    # record when logged, `settled_level`): the connections the clients went on holding (pools keep what they open); a
    # spike adds more than these too and falls short of them by the connections held before
    spike: bool = False  # above the baseline by more than the clients hold (else it fired near maxclients only)
    kept_from: str | None = None  # how kept_after was taken (None: no sample after the peak, nothing kept)

    OMIT_NONE = ("kept_from",)

    def facts(self) -> dict[str, object]:
        return {"maxclients": self.maxclients}


@dataclass(frozen=True, eq=False, repr=False)
class RejectedFigures(Figures):
    rejected: Number  # connections rejected (sum of counter increases)
    peak_increase: Number  # the largest increase between two samples
    peak_ts: str | None  # when (ISO)
    max_per_minute: Number | None  # the most rejections in one minute
    first_increase_ts: str | None  # the first increase (ISO)
    last_increase_ts: str | None  # the last increase (ISO)
    counter_resets: int  # counter drops (server restarts) in the series
    samples: int  # samples of the series


@dataclass(frozen=True, eq=False, repr=False)
class RejectedTotalFigures(Figures):
    rejected_since_server_start: Number  # a lone counter sample: rejections since the server started
    samples: int  # always 1
    ts: str | None  # the sample's time (ISO)


@dataclass(frozen=True, eq=False, repr=False)
class ChurnFigures(Figures):
    metric: str  # the connection-rate metric read
    peak_per_s: Number  # the highest rate
    peak_ts: str | None  # when (ISO)
    baseline_per_s: Number  # the normal rate before the incident
    baseline_from: str | None  # how the baseline was taken
    ratio: float | None  # peak ÷ baseline
    samples_above: int  # samples above the threshold
    first_above_ts: str | None  # the first one (ISO)
    last_above_ts: str | None  # the last one (ISO)
    new_connections: Number | None = None  # opened in the samples above the threshold, net of the baseline
    held_before: Number | None = None  # connections the clients held before the incident (PM101's figure)
    held_from: str | None = None  # where that figure came from
    kept: Number | None = None  # of the new connections, the most open at once (analysis/kept.py)
    kept_from: str | None = None  # where that figure came from
    not_kept: Number | None = None  # new connections refused or closed again
    churn: float | None = None  # not kept ÷ needed (the larger of held and kept), PM101's measure


@dataclass(frozen=True, eq=False, repr=False)
class EvictionFigures(Figures):
    evicted: Number  # keys evicted (sum of counter increases)
    peak_increase: Number  # the largest increase between two samples
    peak_ts: str | None  # when (ISO)
    first_increase_ts: str | None  # the first increase (ISO)
    last_increase_ts: str | None  # the last increase (ISO)
    counter_resets: int  # counter drops (server restarts) in the series
    during_incident: bool  # whether evictions overlap the incident window
    used_memory_peak: Number | None  # the highest used_memory sample


class ConnectedClientsSpike(RuleDetector):
    """PM301: connected clients far above normal or close to maxclients: the server is filling up."""

    rule = Rule(
        "PM301",
        "connected-clients-spike",
        Severity.HIGH,
        "connected clients far above baseline or near maxclients",
        what=(f"`connected_clients` samples above {NEAR_MAXCLIENTS:.0%} of maxclients (from a maxclients "
              f"sample, the redis-server log, or the default {DEFAULT_MAXCLIENTS}, stated as an "
              f"assumption), or, at a peak from the incident on, at least {SPIKE_RATIO:g}× the pre-incident baseline (the "
              "first sample once the fleet had connected when the server log shows the last one before the incident "
              "taken before it) and above it by more than the "
              "connections the clients held before the incident (PM101's population: connected_clients, the server's "
              "open connections or pods x pool cap, whichever is larger) and than the level the clients kept after "
              "the peak (the median of the later samples, to the clients' last record when their logs say it, less the "
              "trailing ones below the level before the incident, a fleet stopping) and above that level by at "
              "least the connections held before: re-opening or filling the pools is not a spike at any fleet "
              "size, with or without the clients' logs."),
        why=("each client holds a connection and a file descriptor; when the count reaches maxclients "
             "the server answers new connections with `max number of clients reached`, and clients "
             "that retry those connects make the storm worse."),
        recommendation=("cap per-process pools (redis-py `BlockingConnectionPool(max_connections=20)`, one "
                        "multiplexer per process in .NET), size maxclients as pods × pool cap plus headroom, and "
                        "raise `ulimit -n` above maxclients + 32."),
        role=Role.CONSEQUENCE,
        phrase="a connected-clients spike",
        actions=(
            ("process", "Alert on connected_clients near maxclients."),
        ),
        bleeding=('scale_redis',),
    )

    def advise(self, facts: Facts) -> Advice:
        return reuse_connections(facts)

    def named(self, f: Finding) -> str:
        """A count that reached maxclients without rising above what the clients hold is no spike: say so."""
        if f.figures.spike:
            return self.rule.phrase
        return "connected clients " + ("at" if (f.figures.pct_of_maxclients or 0) >= 100 else "near") + " maxclients"

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        s = samples(events, "connected_clients")
        ref = incident_start(ctx)
        held = held_before(events, ref) if ref is not None else None
        clients_end = _clients_end(events)
        for entity in _entities(s):
            g = s.filter(pl.col("entity") == entity)
            peak = g.sort(["value", "ts"], descending=[True, False]).head(1)
            peak_v = float(peak.get_column("value")[0])
            before = connected_before(g, ref, events) if ref is not None else None
            base, base_from = (before.value, before.source) if before else baseline(g, "value", ref)
            mc_row, maxclients, mc_from = _maxclients(events, entity)
            near = peak_v > NEAR_MAXCLIENTS * maxclients
            added = peak_v - base if base is not None else None
            # what the clients kept: the level the series settled at after the peak (analysis/settled.py, to the
            # clients' last record when their logs say it), of which a spike is short by at least the connections the
            # fleet held before (PM101's measure of a storm, NOT_KEPT_PER_NEEDED): a pooled fleet that re-opened its
            # pools after a pause holds them until it stops (hang-st1-nocfg-24: 26 -> 97, kept), and one connection
            # more than the settled level is no spike. One measure with and without the clients' logs: the same
            # incident gets the same verdict
            settled = settled_level(g, peak.get_column("ts")[0], base, clients_end)
            kept = settled.value if settled is not None else None
            unkept = kept is None or peak_v - kept >= NOT_KEPT_PER_NEEDED * (held.connections if held else 0.0)
            # what the clients can hold: what they held before (their capped pools when logged) or, when the pools'
            # cap is not logged, what they went on holding after the peak while their traffic went on
            hold = max(held.connections if held else 0.0, kept - base if kept is not None and base is not None else 0.0)
            # with no population to compare with, the baseline is the clients the server held (the ratio implies it).
            # A peak before the incident began is part of the normal it is judged against, not a spike in it
            # (eviction-nocfg-8: the fleet's 15 before the server's shutdown after the pods stopped, its "incident")
            in_incident = ref is None or peak.get_column("ts")[0] >= ref
            spike = added is not None and in_incident and peak_v >= SPIKE_RATIO * max(base, 1.0) and (
                (held is None and kept is None) or added > hold) and unkept
            if not (near or spike):
                continue
            threshold = NEAR_MAXCLIENTS * maxclients if near else SPIKE_RATIO * max(base or 0.0, 1.0)
            first_above = _run_start(g, threshold, peak.get_column("ts")[0])
            stats = ClientsSpikeFigures(
                peak=_num(peak_v), peak_ts=_iso(peak.get_column("ts")[0]),
                baseline=_num(base) if base is not None else None, baseline_from=base_from,
                ratio=round(peak_v / base, 2) if base else None,
                maxclients=maxclients, maxclients_from=mc_from,
                pct_of_maxclients=round(100 * peak_v / maxclients, 1) if maxclients else None,
                first_above_ts=_iso(first_above.get_column("ts")[0]),
                held_before=_num(held.connections) if held else None, held_from=held.source if held else None,
                added_per_held=round(added / held.connections, 2) if held and added is not None else None,
                kept_after=_num(kept) if kept is not None else None, spike=spike,
                kept_from=settled.source if settled is not None else None,
            )
            parts = [f"peak {stats.peak} connected clients"]
            if near:
                parts.append(f"{stats.pct_of_maxclients}% of maxclients {maxclients}"
                             + (" (assumed default)" if "assumed" in mc_from else ""))
            if base is not None:
                label = (f"{stats.baseline} before the incident" if before and before.ts < ref
                         else f"baseline {stats.baseline}")
                parts.append(label + (f" ({stats.ratio}×)" if base else ""))
            if spike and not near and held is not None:
                parts.append(f"{_num(added)} more, {stats.added_per_held}× the {stats.held_before} the clients "
                             + ("could hold" if held.from_capacity else "held"))
            rows = pl.concat([first_above, peak, mc_row.select(s.columns)], how="vertical_relaxed").unique(
                "event_id", keep="first").sort(["ts", "path", "line"])
            f = finding(self.rule, f"{entity}: " + ", ".join(parts), rows, stats,
                        Confidence.HIGH if spike or (near and "assumed" not in mc_from) else Confidence.MEDIUM,
                        entities=(entity,), severity=Severity.HIGH if near or peak_v >= 10 * (base or 1) else
                        Severity.MEDIUM, start=first_above.get_column("ts")[0], end=g.get_column("ts").max())
            if f:
                yield f


def _clients_end(events: pl.DataFrame) -> datetime | None:
    """The last moment the client pods (hosts with client records) wrote anything: their traffic's end. A summarized
    `app.activity` row stands for its host's info lines of one second, dated at the second's start, so it ends with
    the second (storm-unlimited-16: the pods' last lines at 13:42:46.226, their row at 13:42:46, and the gauge's last
    sample of the fleet, 87 at 13:42:46.022, between the two)."""
    seen = events.select("source", "host", "ts", "kind")  # the columns read: a filter copies every column it keeps
    hosts = seen.filter(pl.col("source").is_in(CLIENT_SOURCES)).get_column("host").drop_nulls().unique()
    ends = seen.filter(pl.col("host").is_in(hosts.implode()) & (pl.col("source") != "metrics")).select(
        pl.when(pl.col("kind") == "app.activity").then(pl.col("ts") + timedelta(seconds=1)).otherwise(pl.col("ts")))
    return ends.to_series().max()


def _increase_rows(g: pl.DataFrame) -> pl.DataFrame:
    """The largest increases (the peaks) plus the sample just before the first one."""
    up = g.filter(pl.col("inc") > 0)
    peaks = up.sort(["inc", "ts"], descending=[True, False]).head(MAX_ROWS - 1)
    first_idx = g.with_row_index("_i").filter(pl.col("inc") > 0).get_column("_i")[0]
    before = g.slice(max(0, first_idx - 1), 1)
    return pl.concat([before, peaks]).unique("event_id", keep="first").sort(["ts", "path", "line"])


class RejectedConnections(RuleDetector):
    """PM302: the server turned connections away (maxclients): clients saw `max number of clients reached`."""

    rule = Rule(
        "PM302",
        "rejected-connections",
        Severity.CRITICAL,
        "the server's rejected-connections counter rising",
        what=("increases of the `rejected_connections` counter (INFO stats, "
              "`redis_rejected_connections_total`) between consecutive samples per server, with counter "
              "resets (a restart) handled; a single sample above zero is reported as cumulative since "
              "the server started."),
        why=("every rejection is a client that could not connect because the server was at maxclients; "
             "clients retry those connects, so rejections feed the storm that caused them. Any "
             "rejection is critical."),
        recommendation=("find who holds the connections (pods × pool size, leaked clients), cap the pools, raise "
                        "maxclients together with `ulimit -n`, and make clients back off with jitter on "
                        "`max number of clients reached`."),
        role=Role.CONSEQUENCE,
        phrase="rejected connections",
        actions=(
            ("mitigate", "Raise maxclients (and ulimit) to pods x pool cap + headroom."),
            ("process", "Alert on any rise of rejected_connections."),
        ),
        bleeding=('scale_redis',),
    )

    def advise(self, facts: Facts) -> Advice:
        return cap_connections(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        s = with_increases(samples(events, "rejected_connections"))
        for entity in _entities(s):
            g = s.filter(pl.col("entity") == entity)
            total = float(g.get_column("inc").sum() or 0.0)
            if total > 0:
                rows = _increase_rows(g)
                peak = g.sort(["inc", "ts"], descending=[True, False], nulls_last=True).head(1)
                up = g.filter(pl.col("inc") > 0)
                per_min = g.filter((pl.col("inc") > 0) & (pl.col("dt") > 0)).select(
                    (pl.col("inc") * 60 / pl.col("dt").clip(lower_bound=60)).max()).item()
                stats = RejectedFigures(
                    rejected=_num(total), peak_increase=_num(peak.get_column("inc")[0]),
                    peak_ts=_iso(peak.get_column("ts")[0]),
                    max_per_minute=_num(per_min) if per_min is not None else None,
                    first_increase_ts=_iso(up.get_column("ts").min()),
                    last_increase_ts=_iso(up.get_column("ts").max()),
                    counter_resets=int(g.get_column("reset").sum()), samples=g.height,
                )
                peak_at = (f" (peak +{stats.peak_increase:,} at {_clock(peak.get_column('ts')[0])})"
                           if up.height > 1 else "")
                title = f"{entity}: {stats.rejected:,} connections rejected {_when_risen(up)}{peak_at}"
                f = finding(self.rule, title, rows, stats, Confidence.HIGH, entities=(entity,),
                            start=up.get_column("ts").min(), end=up.get_column("ts").max())
            else:
                last = g.tail(1)
                value = float(last.get_column("value")[0])
                if g.get_column("inc").drop_nulls().len() or value <= 0:
                    continue  # several samples and no increase: nothing was rejected in this span
                stats = RejectedTotalFigures(rejected_since_server_start=_num(value), samples=1,
                         ts=_iso(last.get_column("ts")[0]))
                title = (f"{entity}: rejected_connections counter at {stats.rejected_since_server_start} "
                         f"(one sample: rejections since the server started)")
                f = finding(self.rule, title, last, stats, Confidence.LOW, entities=(entity,),
                            severity=Severity.HIGH)
            if f:
                yield f


class ConnectionChurn(RuleDetector):
    """PM303: connections opened per second far above normal: a reconnect storm seen from the server."""

    rule = Rule(
        "PM303",
        "connection-churn",
        Severity.HIGH,
        "connections received per second far above baseline",
        what=(f"the rate of new connections (the `connections_received` counter's increase per second, "
              f"or `connections_created_per_sec` as exported by Azure) at least {CHURN_RATIO:g}× its "
              f"pre-incident baseline, and of the connections opened above it at least {NOT_KEPT_PER_NEEDED:g}x as many "
              f"not kept (refused or closed again) as the clients needed, the larger of what they held before the "
              f"incident (PM101's population: connected_clients, the server's open connections or pods x pool cap) "
              f"and what they kept (PM101's measure); with no population, at least {CHURN_FLOOR:g} per second), from "
              f"the incident on "
              "(the samples the baseline is made of, a fleet opening its pools at start-up among them, are what it is "
              "judged against), outside the reconnects after an outage that PM101 measured (those are PM101's: one "
              "rule per fact)."),
        why=("a connection costs the server an accept, a file descriptor, often a TLS handshake and "
             "an AUTH/HELLO; a mass reconnect or a connection-per-request pattern burns CPU that "
             "commands need, so latency rises, clients time out and reconnect again."),
        recommendation=("reuse connections (one multiplexer or pool per process), reconnect with exponential "
                        "backoff and jitter, and look for code that creates a client per request."),
        role=Role.CONSEQUENCE,
        phrase="connection churn",
        actions=(
            ("prevent", "Reuse one multiplexer / pool per process."),
        ),
        bleeding=('noisy_clients',),
    )

    def advise(self, facts: Facts) -> Advice:
        return reuse_connections(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        received = with_increases(samples(events, "connections_received")).with_columns(
            rate=pl.when(pl.col("dt") > 0).then(pl.col("inc") / pl.col("dt")))
        created = samples(events, "connections_created_per_sec").with_columns(
            rate=pl.col("value"), dt=pl.col("ts").diff().over("entity").dt.total_microseconds() / 1e6)
        ref = incident_start(ctx)
        held = held_before(events, ref) if ref is not None else None
        # the reconnects after an outage are PM101's to measure (against the same population): one rule per fact.
        # A counter's sample counts what arrived since the one before it, so one whose interval began inside PM101's
        # window holds PM101's reconnects even when it was taken after the window (storm-unlimited-32: a scrape
        # 0.12 s after the window's end gave a second, higher peak rate of the same storm). A rate gauge's sample
        # is the rate at its own time.
        since = pl.col("ts") - pl.duration(microseconds=(pl.col("dt").fill_null(0.0) * 1e6).cast(pl.Int64))
        storm_list = storms(events, ctx)
        for metric, s in (("connections_received", received), ("connections_created_per_sec", created)):
            began = since if metric == "connections_received" else pl.col("ts")
            covered = pl.lit(False)
            for st in storm_list:
                covered = covered | ((pl.col("ts") >= ts_lit(st.outage.start)) & (began <= ts_lit(st.demand.window_end)))
            for entity in _entities(s):
                g = s.filter(pl.col("entity") == entity)
                judged = after_baseline(g, "rate", ref).filter(~covered)
                if judged.get_column("rate").drop_nulls().len() == 0:
                    continue
                peak = judged.sort(["rate", "ts"], descending=[True, False], nulls_last=True).head(1)
                peak_v = float(peak.get_column("rate")[0])
                base, base_from = baseline(g, "rate", ref)
                floor = CHURN_FLOOR if held is None else 0.0
                if base is None or peak_v <= 0 or peak_v < floor or peak_v < CHURN_RATIO * base:
                    continue
                threshold = max(floor, CHURN_RATIO * base)
                high = judged.filter((pl.col("rate") >= threshold) & (pl.col("rate") > 0))
                began_high = high.with_columns(began=began).get_column("began")
                kept = _kept(events, high, metric, base, held, began_high.min())
                if kept is not None and not kept[1].churns(NOT_KEPT_PER_NEEDED):
                    continue  # kept what they opened (a recovery or pools filling), not churn
                new, k = kept or (None, None)
                stats = ChurnFigures(
                    metric=metric, peak_per_s=_num(round(peak_v, 3)), peak_ts=_iso(peak.get_column("ts")[0]),
                    baseline_per_s=_num(round(base, 3)), baseline_from=base_from,
                    ratio=round(peak_v / base, 1) if base else None,
                    samples_above=high.height,
                    first_above_ts=_iso(high.get_column("ts").min()),
                    last_above_ts=_iso(high.get_column("ts").max()),
                    new_connections=_num(round(new)) if new is not None else None,
                    held_before=_num(held.connections) if k else None, held_from=held.source if k else None,
                    kept=_num(round(k.kept)) if k else None, kept_from=k.kept_source if k else None,
                    not_kept=_num(round(k.not_kept)) if k else None, churn=k.churn if k else None,
                )
                ratio = f"{stats.ratio}× " if stats.ratio else ""
                title = (f"{entity}: {stats.peak_per_s} new connections/s at {_clock(peak.get_column('ts')[0])}, "
                         f"{ratio}the baseline of {stats.baseline_per_s}/s")
                if k is not None:
                    title += (f", {stats.not_kept:,} of {stats.new_connections:,} new connections not kept "
                              f"({k.churn}x the {_num(round(k.needed)):,} the clients needed)")
                rows = pl.concat([g.filter(pl.col("ts") < high.get_column("ts").min()).tail(1),
                                  high.sort(["rate", "ts"], descending=[True, False]).head(MAX_ROWS - 1)],
                                 how="vertical_relaxed").unique("event_id", keep="first")
                f = finding(self.rule, title, rows, stats, Confidence.HIGH, entities=(entity,),
                            severity=Severity.HIGH if peak_v >= 2 * threshold else Severity.MEDIUM,
                            start=high.get_column("ts").min(), end=high.get_column("ts").max())
                if f:
                    yield f


def _kept(events: pl.DataFrame, high: pl.DataFrame, metric: str, base: float, held, began) -> tuple[float, Kept] | None:
    """(new connections net of the baseline, those kept and not) for the samples above the threshold, counted as
    PM101 counts a storm, from `began` (the first such sample's interval) to the last; None with no population."""
    if held is None:
        return None
    dt = high.get_column("dt")
    seconds = dt.fill_null(dt.drop_nulls().median() or 1.0)
    if metric == "connections_received":
        new = float(high.get_column("inc").fill_null(0).sum())
    else:  # a per-second gauge: each sample stands for the seconds since the one before (the median for the first)
        new = float((high.get_column("rate") * seconds).sum())
    excess = max(new - base * float(seconds.sum()), 0.0)
    end = high.get_column("ts").max()
    restarted = bool(high.get_column("reset").any()) if "reset" in high.columns else False
    refused = events.filter((pl.col("kind") == "redis.max_clients") & pl.col("ts").is_between(began, end)).height
    return excess, kept_after(events, held.connections, excess, began, began, end, restarted,
                              rejected_server(events, began, end), refused)


class Evictions(RuleDetector):
    """PM304: keys evicted under memory pressure: cache misses that send load to the backing store."""

    rule = Rule(
        "PM304",
        "evictions",
        Severity.MEDIUM,
        "keys evicted under memory pressure",
        what=("increases of the `evicted_keys` counter between consecutive samples per server (resets "
              "handled), with the peak and, when exported, the memory in use at that time."),
        why=("evictions mean Redis hit maxmemory: evicted keys become cache misses, misses go to the "
             "database and back into Redis, and output or client buffers (connection storms) can "
             "push memory over the limit in the first place."),
        recommendation=("size maxmemory for the working set plus client buffers, set `maxmemory-clients` (7.0+) "
                        "to bound connection memory, and choose an eviction policy that matches the data "
                        "(`allkeys-lru` for caches, `noeviction` for data that must not vanish)."),
        role=Role.CONSEQUENCE,
        phrase="evictions",
        actions=(
            ("mitigate", "Raise maxmemory or set an eviction policy suited to the cache."),
        ),
        bleeding=('scale_redis',),
        lucky_if_absent=True,
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Size memory for the working set", "Evictions under pressure turn cache hits into source "
                      "reads during the storm.",
                      (Snippet("conf", "redis.conf", "maxmemory-policy allkeys-lru  # or volatile-lru if only TTL keys "
                               "may go\n# and raise maxmemory above used_memory at peak"),))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        s = with_increases(samples(events, "evicted_keys"))
        mem = samples(events, "used_memory")
        for entity in _entities(s):
            g = s.filter(pl.col("entity") == entity)
            total = float(g.get_column("inc").sum() or 0.0)
            if total <= 0:
                continue
            up = g.filter(pl.col("inc") > 0)
            peak = up.sort(["inc", "ts"], descending=[True, False]).head(1)
            start, end = up.get_column("ts").min(), up.get_column("ts").max()
            in_window = (ctx.window_start is not None and ctx.window_end is not None
                         and start <= ctx.window_end + NEAR_INCIDENT and end >= ctx.window_start - NEAR_INCIDENT)
            m = mem.filter(pl.col("entity") == entity)
            stats = EvictionFigures(
                evicted=_num(total), peak_increase=_num(peak.get_column("inc")[0]),
                peak_ts=_iso(peak.get_column("ts")[0]), first_increase_ts=_iso(start),
                last_increase_ts=_iso(end), counter_resets=int(g.get_column("reset").sum()),
                during_incident=in_window,
                used_memory_peak=_num(m.get_column("value").max()) if m.height else None,
            )
            peak_at = f" (peak +{stats.peak_increase})" if up.height > 1 else ""
            title = f"{entity}: {stats.evicted} keys evicted {_when_risen(up)}{peak_at}"
            f = finding(self.rule, title, _increase_rows(g), stats, Confidence.HIGH, entities=(entity,),
                        severity=Severity.MEDIUM if in_window else Severity.LOW, start=start, end=end)
            if f:
                yield f
