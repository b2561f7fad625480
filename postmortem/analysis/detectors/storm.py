"""PM100–PM104: the trigger (Redis unreachable) and the storm it set off.

The figures here are the ones users cannot get elsewhere: peak connection attempts per second
against the pre-incident baseline, synchrony across pods, amplification, and persistence after
the trigger ended.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import polars as pl

from postmortem.analysis.advice import (
    Advice,
    Facts,
    breaker,
    cap_connections,
    for_clients,
    py_pool,
    py_retry,
    reconnect_backoff,
    se_full,
    se_options,
)
from postmortem.analysis.correlate import (
    ATTEMPT_KINDS,
    CLIENT_SOURCES,
    UNREACHABLE_KINDS,
    Context,
    attr,
    is_problem,
)
from postmortem.analysis.detectors.base import RuleDetector, at_time, finding, rows_by_ids
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity, event_weight, weighted_count

STORM_FLOOR = 20  # attempts/s below which no burst is called a storm, whatever the baseline
STORM_RATIO = 5.0  # peak ÷ baseline that makes a burst a storm
SYNC_BUCKET = "100ms"
PERSIST_MIN_S = 5.0  # errors this long after the trigger ended mean retries kept the incident alive


def _in_outage(ctx: Context) -> pl.Expr:
    cond = pl.lit(False)
    for o in ctx.outages:
        cond = cond | pl.col("ts").is_between(o.start, o.end)
    return cond


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass(frozen=True)
class OutageFigures(Figures):
    endpoint: str  # the entity clients could not reach, `redis:host:port`
    seconds: float  # how long the window lasted
    client_failures: int  # client failure events of the unreachable kinds in the window
    hosts: int  # client hosts (pods) that failed
    server_down: str | None  # the server's own shutdown line time (ISO), when logged
    server_up: str | None  # the server's ready line time (ISO), when logged

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts}


@dataclass(frozen=True)
class StormFigures(Figures):
    OMIT_NONE = ("peak_vs_baseline", "synchrony", "pods", "top_pods", "amplification", "amplification_basis")

    attempts: int  # connection attempts in the storm window (summarized lines counted by weight)
    peak_attempts_per_s: int  # the busiest second's attempts
    peak_at: str  # that second (ISO)
    baseline_attempts_per_s: float  # median attempts per second before the first outage
    threshold_attempts_per_s: float  # the rate that made a second part of the storm
    seconds: float  # the storm window's length
    peak_vs_baseline: float | None = None  # peak ÷ baseline (None without a baseline)
    synchrony: float | None = None  # share of 100 ms buckets in which two or more pods tried at once
    pods: int | None = None  # client hosts that tried (when at least two and ten attempts)
    top_pods: dict[str, int] | None = None  # the five busiest client hosts and their attempts
    amplification: float | None = None  # server-side attempts ÷ logged client operations
    amplification_basis: str | None = None  # how amplification was computed
    rejected: int = 0  # attempts rejected at maxclients

    def facts(self) -> dict[str, object]:
        return {"pods": self.pods}


@dataclass(frozen=True)
class PersistenceFigures(Figures):
    persistence_s: float  # how long errors continued after Redis was back
    errors_after_trigger: int  # client errors in that run
    hosts: int  # hosts that logged them
    peak_errors_per_pod_per_s: int  # the highest errors of one host in one second
    trigger_end: str  # when the last outage ended (ISO)

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts}


@dataclass(frozen=True)
class SaturationFigures(Figures):
    OMIT_NONE = ("first_rejection", "maxclients", "maxclients_source", "peak_connected_clients")

    rejections_logged: int  # `max number of clients reached` lines
    hosts: int  # hosts that logged them
    first_rejection: str | None = None  # the first one's time (ISO)
    maxclients: int | None = None  # the server's maxclients (metrics, else its log)
    maxclients_source: str | None = None  # where maxclients came from
    peak_connected_clients: int | None = None  # the highest connected_clients sample

    def facts(self) -> dict[str, object]:
        # Not `hosts` as the pod count: the server's own log lines count the Redis host, not client pods.
        return {"maxclients": self.maxclients}


@dataclass(frozen=True)
class PoolFigures(Figures):
    events: int  # pool-exhausted errors
    hosts: int  # hosts that logged them

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts}


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class RedisUnreachable(RuleDetector):
    rule = Rule(
        "PM100", "redis-unreachable", Severity.HIGH,
        "windows in which clients could not reach an endpoint (the trigger)",
        what=("windows in which Redis clients failed to connect or lost their connections to an endpoint "
              "(connection refused, socket failures, no connection available), joined with the server's own "
              "shutdown and ready lines when they were logged."),
        why="this is usually the trigger of a connection storm: a short blip makes every client reconnect at once.",
        recommendation=("find out why the endpoint went away (failover, restart, network), and make sure clients ride "
                        "through such blips: jittered reconnect backoff, bounded retries, abortConnect=false."),
        role=Role.TRIGGER,
        phrase="a Redis outage",
        actions=(
            ("mitigate", "Put a circuit breaker in front of Redis and a fallback to the source of truth."),
            ("process", "Alert when clients cannot reach Redis for more than 30 s."),
        ),
        chart_colour="#cf222e", chart_label="outage (PM100)",
        impact_duration=True,
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Survive a Redis outage without a storm",
                      "Clients must keep running while Redis is away and come back spread out in time, not at once; "
                      "a circuit breaker stops hammering an endpoint that is down.",
                      for_clients(facts, lambda: se_full(facts), lambda: [py_pool(facts)]) + breaker(facts))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        for o in ctx.outages:
            rows = rows_by_ids(events, o.event_ids)
            failures = rows.filter(pl.col("kind").is_in(UNREACHABLE_KINDS)).height
            confirmed = o.server_down is not None or o.server_up is not None
            confidence = Confidence.HIGH if confirmed or len(o.hosts) >= 2 else Confidence.MEDIUM
            stats = OutageFigures(
                endpoint=o.entity, seconds=round(o.seconds, 3), client_failures=failures, hosts=len(o.hosts),
                server_down=o.server_down.isoformat() if o.server_down else None,
                server_up=o.server_up.isoformat() if o.server_up else None,
            )
            title = (f"{o.entity} unreachable for {_fmt_s(o.seconds)} "
                     f"({o.start:%H:%M:%S} → {o.end:%H:%M:%S} UTC): {failures} client failures from {len(o.hosts)} hosts")
            f = finding(self.rule, title, rows, stats, confidence, entities=(o.entity, *o.hosts),
                        start=o.start, end=o.end)
            if f:
                yield f

    def opening(self, f: Finding) -> str:
        fig = f.figures
        where = fig.endpoint if isinstance(fig, OutageFigures) and fig.endpoint else "Redis"
        seconds = fig.seconds if isinstance(fig, OutageFigures) else 0
        return f"A {seconds:.1f} s Redis outage ({where}){at_time(f.start)}"


def storm_window(events: pl.DataFrame, ctx: Context):
    """Seconds after the first outage start where attempts against a live server exceed the threshold."""
    if not ctx.outages:
        return None
    live = events.filter(
        pl.col("kind").is_in(ATTEMPT_KINDS)
        & pl.col("ts").is_not_null()
        & ~(pl.col("kind").is_in(UNREACHABLE_KINDS) & _in_outage(ctx))
        & (pl.col("ts") >= ctx.outages[0].start)
    )
    if live.height == 0:
        return None
    # a summarized `Accepted` row counts its connections
    per_s = (live.with_columns(second=pl.col("ts").dt.truncate("1s"))
             .group_by("second")
             .agg(attempts=event_weight().sum().round().cast(pl.UInt32), hosts=pl.col("host").n_unique())
             .sort("second"))
    baseline = ctx.attempt_baseline
    threshold = max(STORM_FLOOR, STORM_RATIO * baseline)
    hot = per_s.filter(pl.col("attempts") >= threshold)
    if hot.height == 0:
        return None
    start = hot.get_column("second").min()
    # extend while the rate stays above half the threshold, allowing one quiet second
    end = start
    for r in per_s.filter(pl.col("second") >= start).iter_rows(named=True):
        if r["second"] - end > timedelta(seconds=2):
            break
        if r["attempts"] >= threshold / 2:
            end = r["second"]
    end = end + timedelta(seconds=1)
    window = live.filter(pl.col("ts").is_between(start, end, closed="left"))
    return start, end, window, per_s, threshold


class ReconnectStorm(RuleDetector):
    rule = Rule(
        "PM101", "reconnect-storm", Severity.CRITICAL,
        "thundering herd: connection attempts far above baseline, synchronized across pods",
        what=("a burst of connection attempts (server `Accepted` lines, client reconnects, connect failures and "
              "maxclients rejections against a live server) far above the pre-incident rate, right after an outage."),
        why=("when every pod reconnects in the same instant the server spends its time in TCP and TLS handshakes, "
             "hits maxclients and rejects connections, so clients time out and retry again: the app keeps its own "
             "cache down (a metastable failure). Scaling Redis up does not fix it."),
        recommendation=("spread reconnects out: jittered exponential backoff (StackExchange.Redis ExponentialRetry, redis-py "
                        "Retry(ExponentialWithJitterBackoff(...))), a bounded pool per pod, and no new connection per request."),
        role=Role.AMPLIFIER,
        phrase="a reconnect storm",
        actions=(
            ("prevent", "Use jittered exponential reconnects in every client."),
            ("process", "Load-test a Redis restart with production pod counts before the next release."),
        ),
        chart_colour="#bf8700", chart_label="storm (PM101)",
        impact_duration=True,
    )

    def advise(self, facts: Facts) -> Advice:
        return reconnect_backoff(facts, with_maxclients=True)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        found = storm_window(events, ctx)
        if found is None:
            return
        start, end, window, per_s, threshold = found
        in_win = per_s.filter(pl.col("second").is_between(start, end, closed="left"))
        peak_row = in_win.sort(["attempts", "second"], descending=[True, False]).row(0, named=True)
        baseline = ctx.attempt_baseline
        attempts = weighted_count(window)
        peak_vs_baseline = synchrony = pods = top_pods = amplification = basis = None
        if baseline > 0:
            peak_vs_baseline = round(peak_row["attempts"] / baseline, 1)
        clients = window.filter(pl.col("source").is_in(CLIENT_SOURCES) & pl.col("host").is_not_null())
        if clients.height >= 10 and clients.get_column("host").n_unique() >= 2:
            buckets = clients.with_columns(b=pl.col("ts").dt.truncate(SYNC_BUCKET)).with_columns(
                multi=pl.col("host").n_unique().over("b") >= 2
            )
            synchrony = round(float(buckets.get_column("multi").mean()), 3)
            pods = clients.get_column("host").n_unique()
        if clients.height:
            top = clients.group_by("host").len().sort(["len", "host"], descending=[True, False]).head(5)
            top_pods = {r["host"]: r["len"] for r in top.iter_rows(named=True)}
        in_window = events.filter(
            pl.col("ts").is_between(start, end, closed="left")
            & (pl.col("source").is_in(CLIENT_SOURCES) | (pl.col("source") == "app"))
            & (pl.col("kind") != "redis.config")
        )
        ops = weighted_count(in_window)  # an app.activity row stands for `value` summarized log records
        server_side = weighted_count(window.filter(pl.col("source") == "redis_server")) + window.filter(
            pl.col("kind") == "redis.max_clients").height
        if ops and server_side:
            amplification = round(server_side / ops, 2)
            basis = "server-side attempts ÷ logged client operations in the storm window"
        rejected = window.filter(pl.col("kind") == "redis.max_clients").height
        stats = StormFigures(
            attempts=attempts, peak_attempts_per_s=int(peak_row["attempts"]), peak_at=peak_row["second"].isoformat(),
            baseline_attempts_per_s=round(baseline, 2), threshold_attempts_per_s=round(threshold, 2),
            seconds=round((end - start).total_seconds(), 1), peak_vs_baseline=peak_vs_baseline,
            synchrony=synchrony, pods=pods, top_pods=top_pods, amplification=amplification,
            amplification_basis=basis, rejected=rejected,
        )
        evidence_rows = pl.concat([
            window.filter(pl.col("ts").dt.truncate("1s") == peak_row["second"]).head(4),
            window.filter(pl.col("kind") == "redis.max_clients").head(2),
            window.head(2),
        ]).unique("event_id").sort("ts")
        more = window.height - evidence_rows.height
        title = (f"{attempts} connection attempts in {stats.seconds} s after the outage, peaking at "
                 f"{stats.peak_attempts_per_s}/s" + (f" ({stats.peak_vs_baseline}× baseline)" if baseline > 0 else "")
                 + (f"; {rejected} rejected at maxclients" if rejected else ""))
        confidence = Confidence.HIGH if rejected or (synchrony or 0) >= 0.5 else Confidence.MEDIUM
        f = finding(self.rule, title, evidence_rows, stats, confidence,
                    entities=tuple(o.entity for o in ctx.outages), start=start, end=end)
        if f:
            yield replace(f, evidence_more=max(more, 0))

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None:
        s = f.figures
        if not isinstance(s, StormFigures):
            return None
        text = (f"triggered a reconnect storm: {_n(s.attempts)} connection attempts peaking at "
                f"{_n(s.peak_attempts_per_s)}/s")
        if s.peak_vs_baseline is not None:
            text += f" ({s.peak_vs_baseline}× baseline)"
        if s.pods is not None:
            text += f" from {s.pods} pods"
            if s.synchrony is not None:
                text += f", {round(100 * s.synchrony)} % of them in the same 100 ms"
        sat = next((x.figures for x in findings if x.rule_id == MaxclientsSaturation.rule.rule_id), None)
        rejected = s.rejected or (sat.rejections_logged if isinstance(sat, SaturationFigures) else 0)
        if rejected:
            text += f", {_n(rejected)} rejected at maxclients"
        return text


class RetryStorm(RuleDetector):
    rule = Rule(
        "PM102", "retry-storm", Severity.HIGH,
        "retries beyond budget; errors that persist after the trigger ended",
        what=("client errors that keep coming after the endpoint is back (persistence), at a rate per pod that "
              "exceeds a retry budget."),
        why=("errors that outlive their trigger are the signature of a metastable failure: the retries themselves "
             "are now the load that keeps Redis from recovering."),
        recommendation=("keep one retry layer with a budget (at most 3 per request and ≤ 10 % of requests), with jittered "
                        "backoff, and a circuit breaker that fails fast while Redis is down."),
        role=Role.AMPLIFIER,
        phrase="retries that outlived the outage",
        actions=(
            ("prevent", "Keep one retry layer with a budget (3 tries, jittered); remove outer retry loops."),
            ("mitigate", "Open a circuit breaker while Redis is down instead of retrying."),
        ),
        impact_duration=True,
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("One retry layer with a budget, plus a circuit breaker",
                      "Retries kept a failing Redis down: keep a single retry layer (3 tries, jittered) and no outer "
                      "loop (Polly/tenacity) around it; open a breaker when Redis is down.",
                      for_clients(facts, lambda: [se_options(facts, single=False)], lambda: [py_retry(facts)])
                      + breaker(facts))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        if not ctx.outages:
            return
        trigger_end = ctx.outages[-1].end
        after = events.filter(
            pl.col("source").is_in(CLIENT_SOURCES) & is_problem() & (pl.col("ts") > trigger_end)
            & (pl.col("kind") != "redis.config")
        ).sort("ts")
        if after.height < 10:
            return
        # the contiguous error run after the trigger (gaps under 10 s)
        run = after.with_columns(gap=pl.col("ts").diff().dt.total_seconds().fill_null(0) > 10).with_columns(
            part=pl.col("gap").cum_sum()).filter(pl.col("part") == 0)
        last = run.get_column("ts").max()
        persistence = (last - trigger_end).total_seconds()
        if persistence < PERSIST_MIN_S:
            return
        per_host = (run.with_columns(second=pl.col("ts").dt.truncate("1s"))
                    .group_by(["host", "second"]).len().get_column("len"))
        stats = PersistenceFigures(
            persistence_s=round(persistence, 1), errors_after_trigger=run.height,
            hosts=run.get_column("host").n_unique(), peak_errors_per_pod_per_s=int(per_host.max() or 0),
            trigger_end=trigger_end.isoformat(),
        )
        title = (f"errors persisted {_fmt_s(persistence)} after Redis was back: {run.height} errors from "
                 f"{stats.hosts} hosts, up to {stats.peak_errors_per_pod_per_s}/s per pod")
        f = finding(self.rule, title, run, stats, Confidence.MEDIUM if persistence < 15 else Confidence.HIGH,
                    entities=tuple(run.get_column("host").drop_nulls().unique().sort().to_list()),
                    start=trigger_end, end=last)
        if f:
            yield f

    def sentence(self, f: Finding) -> str | None:
        s = f.figures
        if not isinstance(s, PersistenceFigures):
            return None
        return (f"Errors persisted {s.persistence_s} s after Redis was back "
                f"({_n(s.errors_after_trigger)} errors from {s.hosts} hosts).")


def maxclients_value(events: pl.DataFrame) -> tuple[float | None, str]:
    """maxclients from metrics, else the server log, else None."""
    m = events.filter(pl.col("metric") == "maxclients")
    if m.height:
        return float(m.get_column("value").max()), "metrics"
    s = events.filter(
        (pl.col("source") == "redis_server") & pl.col("attrs").str.contains("maxclients", literal=True)
    ).with_columns(mc=attr("maxclients", pl.Float64)).filter(pl.col("mc").is_not_null())
    if s.height:
        return float(s.get_column("mc").min()), "redis-server log"
    return None, ""


class MaxclientsSaturation(RuleDetector):
    rule = Rule(
        "PM103", "maxclients-saturation", Severity.CRITICAL,
        "`max number of clients reached`, rejected connections, clients at maxclients",
        what=("clients told `ERR max number of clients reached`, the server rejecting connections, or connected "
              "clients at 90 % or more of maxclients."),
        why=("once Redis is full every new connection is rejected, and clients that retry rejected connects "
             "(redis-py 6.x does by default) keep it full: healthy pods cannot get a connection either."),
        recommendation=("size maxclients as pods × per-pod pool cap plus headroom (and `ulimit -n` ≥ maxclients + 32), cap "
                        "every client pool, and stop opening a connection per request."),
        role=Role.CONSEQUENCE,
        phrase="maxclients saturation",
        actions=(
            ("prevent", "Cap per-pod pools and size maxclients as pods x cap + headroom."),
            ("process", "Alert on rejected_connections > 0 and connected_clients above 90 % of maxclients."),
        ),
        impact_duration=True,
    )

    def advise(self, facts: Facts) -> Advice:
        return cap_connections(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rej = events.filter(
            (pl.col("kind") == "redis.max_clients")
            | ((pl.col("source") == "redis_server") & pl.col("message").str.contains("(?i)max number of clients"))
        )
        maxclients, mc_source = maxclients_value(events)
        cc = events.filter(pl.col("metric") == "connected_clients")
        near = pl.DataFrame()
        if maxclients and cc.height:
            near = cc.filter(pl.col("value") >= 0.9 * maxclients)
        if rej.height == 0 and near.height == 0:
            return
        rows = pl.concat([rej, near]) if near.height else rej
        timed = rej.height and rej.filter(pl.col("ts").is_not_null()).height
        stats = SaturationFigures(
            rejections_logged=rej.height, hosts=rej.get_column("host").n_unique(),
            first_rejection=rej.get_column("ts").min().isoformat() if timed else None,
            maxclients=int(maxclients) if maxclients else None, maxclients_source=mc_source if maxclients else None,
            peak_connected_clients=int(cc.get_column("value").max()) if cc.height else None,
        )
        title = f"{rej.height} connections rejected at maxclients from {stats.hosts} hosts"
        if near.height:
            title += f"; connected clients reached {stats.peak_connected_clients} of {int(maxclients)}"
        f = finding(self.rule, title, rows, stats, Confidence.HIGH,
                    entities=tuple(rej.get_column("entity").drop_nulls().unique().to_list()))
        if f:
            yield f

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None:
        s = f.figures
        rejected = s.rejections_logged if isinstance(s, SaturationFigures) else 0
        return f"pushed Redis to maxclients ({_n(rejected)} rejected connections)"


class PoolExhaustion(RuleDetector):
    rule = Rule(
        "PM104", "pool-exhaustion", Severity.HIGH,
        "client pool exhausted (`Too many connections`, `No connection available.`)",
        what=("redis-py `Too many connections` (ConnectionPool at max_connections) and `No connection available.` "
              "(BlockingConnectionPool timed out waiting)."),
        why=("requests queue behind a full pool; usually connections are held by hung sockets (no socket_timeout) "
             "or the pool is too small for the concurrency."),
        recommendation=("set socket_timeout and socket_connect_timeout so dead connections are freed, size the pool for the "
                        "real concurrency, and use BlockingConnectionPool with a short timeout."),
        role=Role.CONSEQUENCE,
        phrase="exhausted client pools",
        actions=(
            ("prevent", "Use a bounded, blocking pool with a wait timeout."),
        ),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Bound the pool and time out waits",
                      "A blocking pool with a cap and a wait timeout turns exhaustion into fast, visible errors.",
                      for_clients(facts, lambda: [se_options(facts, backlog=False)], lambda: [py_pool(facts)]))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = events.filter(pl.col("kind") == "redis.pool_exhausted")
        if rows.height == 0:
            return
        hosts = rows.get_column("host").n_unique()
        stats = PoolFigures(events=rows.height, hosts=hosts)
        f = finding(self.rule, f"connection pool exhausted {rows.height} times on {hosts} hosts", rows, stats,
                    Confidence.HIGH, entities=tuple(rows.get_column("host").drop_nulls().unique().to_list()))
        if f:
            yield f
