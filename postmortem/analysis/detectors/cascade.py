"""PM601: the Redis trouble cascaded into the work queues and the database, and the app failed with it.

A cache outage rarely stays a cache outage: workers that need Redis stop consuming and their RabbitMQ
queues back up, every cache read becomes a database read until the database pool runs dry, and an app
that cannot serve without Redis returns errors instead of degrading. Each of those is a consequence in
the story, measured against its own baseline before the Redis trouble began (never an absolute size)
and told with its delay after that start:

* queue backlog: a queue's depth (`rabbitmq_queue_messages`, else `…_ready`; rabbitmqctl, the management
  API or a Prometheus scrape) reaching BACKLOG_RATIO x its highest depth before the trouble (earlier than
  the start by the clock slack) after the trouble began;
* database pool exhaustion (parsers/db_pools.py) after the trouble began at BURST_RATIO x its own
  pre-trouble rate (none before: any), with the cache-miss loads' rise beside it;
* publishers blocked: RabbitMQ told publishers to stop (pika `Connection.Blocked`, parsers/queues.py) after the
  trouble began at BURST_RATIO x their own pre-trouble rate (none before: any): the broker ran out of memory
  or disk, as it does when consumers that need Redis stop draining its queues;
* a single point of failure: the app's own errors (unclaimed records at error level, HTTP 5xx) or pod
  crashes ran at BURST_RATIO x their pre-trouble rate while no breaker opened to degrade.

Without a queue backlog, a pool exhaustion or a blocked publisher the rule says nothing: app errors alone are PM103's story.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from parsers.breakers import OPENED, REJECTED
from parsers.db_pools import CACHE_MISS_LOAD, POOL_EXHAUSTED
from parsers.queues import ALARM, PUBLISHER_BLOCKED, PUBLISHER_UNBLOCKED
from postmortem.analysis.correlate import Context, attr
from postmortem.analysis.detectors.base import RuleDetector, finding
from postmortem.analysis.detectors.kubernetes import redis_trouble
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity

BACKLOG_RATIO = 3.0  # a queue this many times its own pre-trouble depth is backed up
BURST_RATIO = 3.0  # a rate this many times its own pre-trouble rate is a burst
SLACK = timedelta(seconds=30)  # clock slack between sources (the breaker rules use the same)
DEPTH_METRICS = ("rabbitmq_queue_messages", "rabbitmq_queue_messages_ready")
CONSUMERS = "rabbitmq_queue_consumers"
CRASH_KINDS = ("k8s.BackOff", "k8s.CrashLoopBackOff", "k8s.OOMKilled", "k8s.OOMKilling")
_HTTP_5XX = r"(?:HTTP/\d(?:\.\d)?\"? |\bstatus(?:Code|_code)?[=:]\s*\"?|\" )5\d\d\b"


def _where(row: dict) -> str:
    return f"{row['path']}:{row['line']}"


def _seconds(a: datetime, b: datetime) -> float:
    return round((a - b).total_seconds(), 3)


def _per_second(count: int, span: timedelta) -> float:
    return count / max(span.total_seconds(), 1.0)


@dataclass(frozen=True, eq=False, repr=False)
class CascadeFigures(Figures):
    trouble_start: str  # when the Redis trouble began (ISO): the outage start, else the first Redis problem event
    trouble_end: str  # when it ended (ISO)
    queues: list[dict]  # per backed-up queue: queue, metric, baseline and its source (file:line), peak, peak_at and
    # its source, ratio (peak / baseline, the baseline at least one message), delay_s after the trouble start,
    # consumers before and at the peak
    queue_alarms: int  # RabbitMQ resource alarms set after the trouble began (publishers blocked)
    publishers_blocked: dict | None  # publisher connections RabbitMQ blocked after the trouble began: events, hosts,
    # reasons, events before the trouble, first (ISO) and its source, delay_s after the trouble start, unblocked_after_s
    # (first unblock after the first block, None when none was logged); None when no burst of its own
    db_pools: list[dict]  # per exhausted pool (entity): events, hosts, library, pool_size, timeout_s, events before
    # the trouble, first (ISO) and its source, delay_s after the trouble start
    cache_miss_loads: int  # cache misses served from the database during the trouble
    cache_miss_ratio: float | None  # their rate during the trouble / their rate before it (None: none before)
    first_delay_s: float | None  # seconds from the trouble start to the first consequence
    single_point_of_failure: bool  # the app failed (errors, 5xx, crashes) instead of degrading
    app_failures: int  # app error records, HTTP 5xx and pod crash events during the trouble
    app_failure_ratio: float | None  # their rate during the trouble / before it (None: none before)
    breakers_opened: int  # breaker openings and fast failures during the trouble (degrading, not failing)


class Cascade(RuleDetector):
    rule = Rule(
        "PM601", "cascade", Severity.HIGH,
        "queues backed up and database pools ran dry after the Redis trouble began; the app failed instead of degrading",
        what=("RabbitMQ queues whose depth grew to several times their own pre-outage depth, and database "
              "connection pools exhausted (Npgsql, SQLAlchemy, HikariCP, SqlClient) and publishers RabbitMQ blocked, "
              "at several times their pre-outage rate, after the Redis trouble began, with the delay of each; and whether the app failed (errors, 5xx, "
              "crashes) instead of degrading."),
        why=("a cache outage that empties the cache sends every read to the database and stalls the workers that need "
             "Redis: the database pool and the queues then fail on their own and keep the incident going after Redis "
             "is back. An app that errors when Redis is down has made Redis a single point of failure."),
        recommendation=("make Redis optional on the read path: on a Redis error serve from the database through a "
                        "bounded bulkhead (a semaphore smaller than the pool) or a stale copy, and shed load instead of "
                        "queueing; size the database pool for the cache-miss rate; let consumers that need Redis stop "
                        "taking work (prefetch 1, a breaker) rather than fail and requeue."),
        role=Role.CONSEQUENCE,
        phrase="a cascade into the work queues and the database",
        actions=(
            ("prevent", "Degrade without Redis: fall back to the database behind a bulkhead, or serve stale data."),
            ("mitigate", "Cap database fallbacks below the pool size so a cache outage cannot exhaust it."),
            ("process", "Alert on queue depth against its own baseline, not on a fixed size."),
        ),
    )

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        trouble = redis_trouble(events, ctx)
        if trouble is None:
            return
        start, end = trouble
        # a consequence follows within the trouble, or as long again after it (queues drain late)
        until = end + max(end - start, SLACK) + SLACK
        timed = events.filter(pl.col("ts").is_not_null())
        queues, queue_rows = _backlogs(timed, start, until)
        alarms = timed.filter((pl.col("kind") == ALARM.name) & pl.col("ts").is_between(start - SLACK, until))
        pools, pool_rows = _exhausted_pools(timed, start, until)
        blocked, blocked_rows = _blocked_publishers(timed, start, until)
        if not queues and not pools and blocked is None:
            return
        misses, miss_ratio = _burst(timed.filter(pl.col("kind") == CACHE_MISS_LOAD.name), start, until)
        failures, failure_ratio, failure_rows = _app_failures(timed, start, until)
        degraded = timed.filter(pl.col("kind").is_in([OPENED.name, REJECTED.name])
                                & pl.col("ts").is_between(start - SLACK, until)).height
        spof = failure_rows.height > 0 and (failure_ratio is None or failure_ratio >= BURST_RATIO) and degraded == 0
        delays = [q["delay_s"] for q in queues] + [p["delay_s"] for p in pools] + ([blocked["delay_s"]] if blocked else [])
        figures = CascadeFigures(
            trouble_start=start.isoformat(), trouble_end=end.isoformat(), queues=queues, queue_alarms=alarms.height,
            publishers_blocked=blocked, db_pools=pools, cache_miss_loads=misses, cache_miss_ratio=miss_ratio,
            first_delay_s=min(delays) if delays else None, single_point_of_failure=spof,
            app_failures=failure_rows.height if spof else failures, app_failure_ratio=failure_ratio,
            breakers_opened=degraded,
        )
        rows = pl.concat([queue_rows, alarms.head(3), blocked_rows.head(3), pool_rows,
                          failure_rows.head(3) if spof else failure_rows.clear()],
                         how="diagonal_relaxed")
        entities = tuple(q["entity"] for q in queues) + tuple(p["entity"] for p in pools)
        f = finding(self.rule, _title(figures), rows, figures, Confidence.HIGH if queues and pools else Confidence.MEDIUM,
                    entities=entities, start=start, end=rows.get_column("ts").max())
        if f:
            yield f

    def sentence(self, f: Finding) -> str | None:
        s = f.figures
        if not isinstance(s, CascadeFigures):
            return None
        parts = []
        for q in s.queues[:2]:
            parts.append(f"queue {q['queue']} backed up to {q['ratio']:g}x its pre-outage depth "
                         f"{_after(q['delay_s'], not parts)}")
        for p in s.db_pools[:2]:
            parts.append(f"the database pool {p['entity'].removeprefix('db:')} ran dry {_after(p['delay_s'], not parts)}")
        if s.publishers_blocked:
            parts.append(f"RabbitMQ blocked publishers {_after(s.publishers_blocked['delay_s'], not parts)}")
        text = "The outage cascaded beyond Redis: " + "; ".join(parts) + "."
        if s.single_point_of_failure:
            text += (" Redis was a single point of failure: the app failed with it "
                     f"({s.app_failures} errors and crashes) instead of degrading.")
        return text


def _after(delay_s: float, first: bool) -> str:
    return f"{delay_s:.1f} s after the Redis trouble began" if first else f"{delay_s:.1f} s after it"


def _title(s: CascadeFigures) -> str:
    parts = []
    for q in s.queues[:2]:
        parts.append(f"queue {q['queue']} grew to {q['ratio']:g}x its pre-outage depth ({q['baseline']:g} → "
                     f"{q['peak']:g}) {_after(q['delay_s'], not parts)}")
    for p in s.db_pools[:2]:
        parts.append(f"database pool {p['entity'].removeprefix('db:')} exhausted {p['events']} times on {p['hosts']} "
                     f"hosts from {_after(p['delay_s'], not parts)}")
    if s.publishers_blocked:
        b = s.publishers_blocked
        parts.append(f"RabbitMQ blocked publishers {b['events']} times on {b['hosts']} host{'s' if b['hosts'] != 1 else ''} "
                     f"({', '.join(b['reasons']) or 'no reason logged'}) from {_after(b['delay_s'], not parts)}")
    more = len(s.queues) + len(s.db_pools) - min(len(s.queues), 2) - min(len(s.db_pools), 2)
    title = "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    if s.single_point_of_failure:
        title += f"; the app failed instead of degrading ({s.app_failures} errors and crashes)"
    return title


def _backlogs(timed: pl.DataFrame, start: datetime, until: datetime) -> tuple[list[dict], pl.DataFrame]:
    """Queues whose depth after the trouble began reached BACKLOG_RATIO x their highest depth before it."""
    depth = timed.filter(pl.col("metric").is_in(DEPTH_METRICS) & pl.col("entity").str.starts_with("rabbitmq:")
                         & pl.col("value").is_not_null())
    out, rows = [], []
    for (entity,), series in depth.partition_by("entity", as_dict=True, maintain_order=True).items():
        metrics = series.get_column("metric").unique().to_list()
        metric = next(m for m in DEPTH_METRICS if m in metrics)
        series = series.filter(pl.col("metric") == metric).sort(["ts", "path", "line"])
        # the baseline keeps clear of the start by the clock slack (a snapshot dated a little early is not "before")
        before = series.filter(pl.col("ts") < start - SLACK)
        after = series.filter(pl.col("ts").is_between(start, until))
        if before.height == 0 or after.height == 0:
            continue  # no baseline of its own, or nothing after: no claim
        base_row = before.sort("value", descending=True).row(0, named=True)
        baseline = float(base_row["value"])
        floor = max(baseline, 1.0)  # an empty queue's baseline: one message
        over = after.filter(pl.col("value") >= BACKLOG_RATIO * floor)
        if over.height == 0:
            continue
        peak_row = after.sort(["value", "ts"], descending=[True, False]).row(0, named=True)
        consumers = timed.filter((pl.col("metric") == CONSUMERS) & (pl.col("entity") == entity))
        c_before = consumers.filter(pl.col("ts") < start - SLACK).sort("ts").tail(1).get_column("value").to_list()
        c_peak = consumers.filter(pl.col("ts") <= peak_row["ts"]).sort("ts").tail(1).get_column("value").to_list()
        first_over = over.row(0, named=True)
        out.append({
            "entity": entity, "queue": entity.removeprefix("rabbitmq:"), "metric": metric,
            "baseline": baseline, "baseline_source": _where(base_row),
            "peak": float(peak_row["value"]), "peak_at": peak_row["ts"].isoformat(), "peak_source": _where(peak_row),
            "ratio": round(float(peak_row["value"]) / floor, 1),
            "delay_s": _seconds(first_over["ts"], start), "delay_source": _where(first_over),
            "consumers_before": c_before[0] if c_before else None, "consumers_at_peak": c_peak[0] if c_peak else None,
        })
        rows.append(pl.concat([before.tail(1), over.head(1), after.filter(pl.col("ts") == peak_row["ts"]).head(1)]))
    out.sort(key=lambda q: -q["ratio"])
    return out, (pl.concat(rows).unique(["path", "line", "metric"], maintain_order=True) if rows else timed.clear())


def _burst(rows: pl.DataFrame, start: datetime, until: datetime) -> tuple[int, float | None]:
    """(events in [start, until], their rate / the rate before start over as long a span; None when none before)."""
    during = rows.filter(pl.col("ts").is_between(start, until)).height
    span = until - start
    before = rows.filter(pl.col("ts").is_between(start - span, start, closed="left")).height
    if before == 0:
        return during, None
    return during, round(_per_second(during, span) / _per_second(before, span), 1)


def _exhausted_pools(timed: pl.DataFrame, start: datetime, until: datetime) -> tuple[list[dict], pl.DataFrame]:
    """Pools exhausted after the trouble began at BURST_RATIO x their own rate before it (none before: any)."""
    pool = timed.filter(pl.col("kind") == POOL_EXHAUSTED.name)
    out, rows = [], []
    for (entity,), group in pool.partition_by("entity", as_dict=True, maintain_order=True).items():
        during = group.filter(pl.col("ts").is_between(start, until)).sort(["ts", "path", "line"])
        count, ratio = _burst(group, start, until)
        if during.height == 0 or (ratio is not None and ratio < BURST_RATIO):
            continue
        first = during.row(0, named=True)
        sizes = during.select(attr("pool_size", pl.Int64)).drop_nulls().to_series()
        timeouts = during.select(attr("timeout_s", pl.Float64)).drop_nulls().to_series()
        out.append({
            "entity": entity or "db:unknown", "events": count, "hosts": during.get_column("host").n_unique(),
            "library": during.select(attr("library")).drop_nulls().to_series().first(),
            "pool_size": int(sizes.max()) if sizes.len() else None,
            "timeout_s": float(timeouts.max()) if timeouts.len() else None,
            "before": group.filter(pl.col("ts") < start).height, "rate_ratio": ratio,
            "first": first["ts"].isoformat(), "first_source": _where(first), "delay_s": _seconds(first["ts"], start),
        })
        rows.append(during)
    return out, (pl.concat(rows) if rows else timed.clear())


def _blocked_publishers(timed: pl.DataFrame, start: datetime, until: datetime) -> tuple[dict | None, pl.DataFrame]:
    """Publishers RabbitMQ blocked after the trouble began at BURST_RATIO x their own rate before it (none before: any),
    with the first unblock that followed."""
    blocks = timed.filter(pl.col("kind") == PUBLISHER_BLOCKED.name)
    during = blocks.filter(pl.col("ts").is_between(start, until)).sort(["ts", "path", "line"])
    count, ratio = _burst(blocks, start, until)
    if during.height == 0 or (ratio is not None and ratio < BURST_RATIO):
        return None, timed.clear()
    first = during.row(0, named=True)
    unblocks = timed.filter((pl.col("kind") == PUBLISHER_UNBLOCKED.name) & (pl.col("ts") >= first["ts"])).sort("ts")
    reasons = sorted(during.select(attr("reason")).drop_nulls().to_series().unique().to_list())
    figures = {
        "events": count, "hosts": during.get_column("host").n_unique(), "reasons": reasons,
        "before": blocks.filter(pl.col("ts") < start).height, "rate_ratio": ratio,
        "first": first["ts"].isoformat(), "first_source": _where(first), "delay_s": _seconds(first["ts"], start),
        "unblocked_after_s": _seconds(unblocks.get_column("ts")[0], first["ts"]) if unblocks.height else None,
    }
    return figures, pl.concat([during, unblocks.head(1)])


def _app_failures(timed: pl.DataFrame, start: datetime, until: datetime) -> tuple[int, float | None, pl.DataFrame]:
    """The app failing: its own error records (no recognizer claimed them), HTTP 5xx lines, pod crashes."""
    msg = pl.col("message").fill_null("")
    failing = timed.filter(
        ((pl.col("kind") == "app.log") & (pl.col("level").cast(pl.String).is_in(["error", "critical"])
                                          | msg.str.contains(_HTTP_5XX)))
        | pl.col("kind").is_in(CRASH_KINDS)
    )
    count, ratio = _burst(failing, start, until)
    return count, ratio, failing.filter(pl.col("ts").is_between(start, until)).sort(["ts", "path", "line"])
