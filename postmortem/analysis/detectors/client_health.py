"""PM105–PM107: client-side slowness that is not an outage: thread-pool starvation, timeouts while
connected, and a server still loading its dataset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from postmortem.analysis.advice import (
    Advice,
    Facts,
    Snippet,
    fitting_timeouts,
    for_clients,
    probes_yaml,
    py_backoff,
    se_options,
    thread_pool_minimum,
)
from postmortem.analysis.correlate import Context
from postmortem.analysis.detectors.base import ROW_COLUMNS, RuleDetector, at_time, finding
from postmortem.analysis.detectors.slow_commands import explained_timeout_ids
from postmortem.analysis.se_fields import at_positions, field, se_figures, with_fields
from postmortem.analysis.table_memo import per_table
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity

INJECTION_S_PER_THREAD = 0.5  # .NET injects about one thread per 500 ms once Busy exceeds Min


@per_table
def _busy_above_min(events: pl.DataFrame) -> pl.DataFrame:
    """The positions and WORKER/IOCP figures of the SE.Redis timeouts with Busy above Min (kept for the table's
    life without the rows: those are most of a dense log's 967 MiB table)."""
    return se_figures(
        events, worker_busy=field("worker_busy", pl.Int64), worker_min=field("worker_min", pl.Int64),
        iocp_busy=field("iocp_busy", pl.Int64), iocp_min=field("iocp_min", pl.Int64),
    ).filter(
        (pl.col("worker_busy") > pl.col("worker_min")) | (pl.col("iocp_busy") > pl.col("iocp_min"))
    ).with_columns(
        excess=pl.max_horizontal(pl.col("worker_busy") - pl.col("worker_min"), pl.col("iocp_busy") - pl.col("iocp_min"))
    )


def thread_stats(events: pl.DataFrame) -> pl.DataFrame:
    """SE.Redis timeouts with WORKER/IOCP Busy and Min parsed from attrs, Busy above Min, and the excess; of the rows,
    the columns the rules read (their hosts and evidence)."""
    return at_positions(events, _busy_above_min(events), ROW_COLUMNS)


@dataclass(frozen=True, eq=False, repr=False)
class StarvationFigures(Figures):
    timeouts_with_busy_above_min: int  # timeouts whose WORKER or IOCP Busy exceeded Min
    peak_worker_busy: int | None  # busy worker threads at the worst timeout
    worker_min: int | None  # the worker-thread minimum then
    peak_iocp_busy: int | None  # busy IOCP threads at the worst timeout
    iocp_min: int | None  # the IOCP minimum then
    busy_minus_min: int  # threads the pool had to inject at the worst timeout
    injection_delay_s: float  # about how long that injection took
    hosts: int  # hosts with such timeouts

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts, "busy": self.peak_worker_busy, "min_threads": self.worker_min}


@dataclass(frozen=True, eq=False, repr=False)
class SlowFigures(Figures):
    timeouts: int  # command timeouts while connected
    hosts: int  # hosts that logged them
    max_qs: int | None  # the longest queue of sent, unanswered commands (`qs`)
    timeout_ms: int | None  # the most common configured timeout in the messages

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts}


@dataclass(frozen=True, eq=False, repr=False)
class LoadingFigures(Figures):
    loading_errors: int  # client LOADING errors
    load_seconds: float | None  # how long the server said the dataset took to load


class ThreadpoolStarvation(RuleDetector):
    rule = Rule(
        "PM105", "threadpool-starvation", Severity.HIGH,
        ".NET WORKER/IOCP Busy > Min in timeouts",
        what="StackExchange.Redis timeouts whose WORKER or IOCP thread-pool stats show Busy above Min.",
        why=("above Min the .NET thread pool adds about one thread per 500 ms, so replies that already arrived "
             "wait for a thread to run their continuation: timeouts, then reconnects, then more load."),
        recommendation=("make the call path async end to end; as a stop-gap raise ThreadPool.SetMinThreads above the "
                        "observed Busy count."),
        role=Role.CONSEQUENCE,
        phrase=".NET thread-pool starvation",
        actions=(
            ("prevent", "Make the Redis call path async end-to-end."),
            ("mitigate", "Raise ThreadPool minimum threads at startup."),
        ),
        bleeding=('breaker',),
        lucky_if_absent=True,
    )

    def advise(self, facts: Facts) -> Advice:
        return thread_pool_minimum(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = thread_stats(events)
        if rows.height == 0:
            return
        peak = rows.sort("excess", descending=True).row(0, named=True)
        stats = StarvationFigures(
            timeouts_with_busy_above_min=rows.height,
            peak_worker_busy=peak["worker_busy"], worker_min=peak["worker_min"],
            peak_iocp_busy=peak["iocp_busy"], iocp_min=peak["iocp_min"],
            busy_minus_min=int(peak["excess"]),
            injection_delay_s=round(int(peak["excess"]) * INJECTION_S_PER_THREAD, 1),
            hosts=rows.get_column("host").n_unique(),
        )
        title = (f"{rows.height} timeouts with thread-pool Busy above Min (peak {peak['excess']} over Min ≈ "
                 f"{stats.injection_delay_s} s of thread injection)")
        f = finding(self.rule, title, rows, stats, Confidence.HIGH,
                    entities=tuple(rows.get_column("host").drop_nulls().unique().to_list()))
        if f:
            yield f


class SlowResponses(RuleDetector):
    rule = Rule(
        "PM106", "slow-responses", Severity.MEDIUM,
        "timeouts while connected (server, network or client-read slowness)",
        what=("command timeouts (StackExchange.Redis `Timeout performing`/`Timeout awaiting response`, redis-py "
              "`Timeout reading from`) outside the windows in which Redis was unreachable (and not theirs: a call a paused server held "
              "times out as it resumes) and outside the run of a command that blocked it (PM108 names those)."),
        why=("timeouts on a live connection point at a slow server (big keys, blocking commands, CPU), a saturated "
             "network, or a client that cannot read fast enough; each one can trigger a retry or a reconnect."),
        recommendation=("look at qs/in in the timeout text (many pending replies = server or network, bytes waiting in `in` = "
                        "client), SLOWLOG on the server, and payload sizes; keep timeouts realistic rather than short."),
        role=Role.CONSEQUENCE,
        phrase="timeouts on live connections",
        actions=(
            ("process", "Check SLOWLOG and server CPU during the window; alert on p99 latency."),
        ),
        bleeding=('breaker',),
    )

    def advise(self, facts: Facts) -> Advice:
        return fitting_timeouts(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = events.filter(pl.col("kind") == "redis.timeout")
        for o in ctx.outages:
            rows = rows.filter(~pl.col("ts").is_between(o.start, o.end).fill_null(False))
        # an outage's own timeouts logged after it ended: calls a paused server held until it resumed (_hang_end)
        rows = rows.filter(~pl.col("event_id").is_in([i for o in ctx.outages for i in o.event_ids]))
        blocked = explained_timeout_ids(events)  # a command that blocked Redis explains these (PM108)
        if blocked:
            rows = rows.filter(~pl.col("event_id").is_in(list(blocked)))
        if rows.height == 0:
            return
        with_qs = with_fields(rows, ("qs", "timeout_ms")).with_columns(qs=field("qs", pl.Int64),
                                                                       timeout_ms=field("timeout_ms", pl.Int64))
        stats = SlowFigures(
            timeouts=rows.height,
            hosts=rows.get_column("host").n_unique(),
            max_qs=with_qs.get_column("qs").max(),
            timeout_ms=with_qs.get_column("timeout_ms").drop_nulls().mode().min() if with_qs.get_column(
                "timeout_ms").drop_nulls().len() else None,
        )
        title = f"{rows.height} command timeouts while connected on {stats.hosts} hosts"
        f = finding(self.rule, title, rows, stats, Confidence.MEDIUM,
                    entities=tuple(rows.get_column("entity").drop_nulls().unique().to_list()))
        if f:
            yield f


class RedisLoading(RuleDetector):
    rule = Rule(
        "PM107", "redis-loading", Severity.MEDIUM,
        "LOADING / BusyLoadingError after a restart",
        what=("clients told `LOADING Redis is loading the dataset in memory`, and the server's own `DB loaded from "
              "disk` time."),
        why=("after a restart Redis refuses commands until the dataset is loaded; clients that treat LOADING as a "
             "connection error reconnect in a loop for the whole load time."),
        recommendation=("treat LOADING as retryable with backoff, keep the dataset (or RDB/AOF) small enough to load fast, "
                        "and fail over to a loaded replica instead of restarting the primary."),
        role=Role.TRIGGER,
        phrase="Redis loading its dataset",
        actions=(
            ("mitigate", "Retry LOADING with backoff and gate readiness on Redis answering."),
        ),
        bleeding=('breaker',),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Treat LOADING as retryable after a restart",
                      "Retry BusyLoadingError with backoff and keep the pod out of the Service until Redis answers.",
                      for_clients(facts, lambda: [se_options(facts, single=False)], lambda: [Snippet(
                          "python", "redis-py", "from redis.exceptions import BusyLoadingError\n\n"
                          f"r = redis.Redis(connection_pool=POOL, retry=Retry({py_backoff(facts)[1]}, 5),\n"
                          "                retry_on_error=[BusyLoadingError])")]) + (probes_yaml(),))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = events.filter(
            (pl.col("kind") == "redis.loading")
            | ((pl.col("source") == "redis_server") & pl.col("message").str.contains(r"DB loaded from disk"))
        )
        if rows.height == 0:
            return
        clients = rows.filter(pl.col("kind") == "redis.loading").height
        load = rows.with_columns(s=pl.col("message").str.extract(r"DB loaded from disk: ([0-9.]+) seconds", 1)
                                 .cast(pl.Float64, strict=False)).get_column("s").max()
        stats = LoadingFigures(loading_errors=clients, load_seconds=load)
        title = f"{clients} LOADING errors" + (f"; dataset took {load} s to load" if load else "")
        f = finding(self.rule, title, rows, stats, Confidence.HIGH if clients else Confidence.MEDIUM)
        if f and (clients or (load or 0) >= 5):
            yield f

    def opening(self, f: Finding) -> str:
        return f"Redis loading its dataset after a restart{at_time(f.start)}"
