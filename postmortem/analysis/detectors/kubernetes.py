"""PM201–PM203: what Kubernetes did during the incident (restarts, autoscaling, liveness kills).

All three read `k8s_events` rows (`kind` = `k8s.<Reason>`, entity `pod:ns/name`, `hpa:ns/name`,
`deployment:ns/name`). An aggregated event (`count` > 1) spans `first_ts`..`last_ts` in its attrs;
`ts` alone is the last sighting, so windows are tested against that span.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.advice import Advice, Facts, hpa_yaml, redis_free_liveness, rollout_yaml
from postmortem.analysis.correlate import (
    PROBLEM_COLUMNS,
    REDIS_SOURCES,
    Context,
    attr,
    incident_problems,
    is_problem,
)
from postmortem.analysis.detectors.base import RuleDetector, finding
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity
from postmortem.schema import CLIENT_SOURCES, ts_lit

K8S = "k8s_events"
CONTROLLER_LOG = "k8s_controller"  # kube-controller-manager's own log lines (`hpa.rescale`)
NEAR_BEFORE = timedelta(minutes=5)  # restarts this long before the window still count as "near"
NEAR_AFTER = timedelta(minutes=10)  # ... and this long after it (BackOff keeps going)
SCALE_AFTER = timedelta(minutes=10)  # a scale-up this long after the trouble is still its echo
REDIS_SLACK = timedelta(seconds=30)  # event-time granularity of kubectl (seconds) and clock slack
_TS_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")


def _ts_attr(name: str) -> pl.Expr:
    return pl.coalesce(
        [attr(name).str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False) for f in _TS_FORMATS]
    )


def k8s_events(events: pl.DataFrame, kinds: tuple[str, ...]) -> pl.DataFrame:
    """Kubernetes events of `kinds` with `first`/`last` (their span) and `n` (the event's count)."""
    rows = events.filter(pl.col("source").is_in((K8S, CONTROLLER_LOG)) & pl.col("kind").is_in(kinds))
    return rows.with_columns(
        first=pl.coalesce(_ts_attr("first_ts"), pl.col("ts")),
        last=pl.coalesce(_ts_attr("last_ts"), pl.col("ts")),
        n=attr("count", pl.Int64).fill_null(1).clip(lower_bound=1),
    ).filter(pl.col("last").is_not_null())


def _overlaps(start: datetime, end: datetime) -> pl.Expr:
    return (pl.col("first") <= ts_lit(end)) & (pl.col("last") >= ts_lit(start))


def redis_trouble(events: pl.DataFrame, ctx: Context) -> tuple[datetime, datetime] | None:
    """When Redis was in trouble: the outages, else the span of Redis problem events."""
    if ctx.outages:
        return min(o.start for o in ctx.outages), max(o.end for o in ctx.outages)
    probs = incident_problems(events.filter(pl.col("source").is_in(REDIS_SOURCES) & pl.col("ts").is_not_null()))
    if probs.height == 0:
        return None
    return probs.get_column("ts").min(), probs.get_column("ts").max()


def _secs(a: datetime, b: datetime) -> float:
    return round((a - b).total_seconds(), 3)



@dataclass(frozen=True, eq=False, repr=False)
class RestartFigures(Figures):
    pods_affected: int  # distinct pods restarting
    restart_events: int  # restart events, with their repeat counts
    by_reason: dict[str, int]  # events per Kubernetes reason
    first: str  # the first one (ISO)
    last: str  # the last one (ISO)


@dataclass(frozen=True, eq=False, repr=False)
class ScaleUpFigures(Figures):
    scale_ups: int  # scale-up events during the Redis trouble
    workloads: list[dict]  # per workload: replicas before / after, seconds after the trouble began
    replicas_added: int  # replicas added over all workloads
    trouble_start: str  # when the Redis trouble began (ISO)
    trouble_end: str  # when it ended (ISO)
    connections_per_pod: int | None  # connections one pod opens
    connections_per_pod_from: str | None  # where that figure came from
    connection_demand_added: int | None  # connections_per_pod × replicas_added


@dataclass(frozen=True, eq=False, repr=False)
class LivenessFigures(Figures):
    pods: int  # pods killed by liveness probes
    liveness_failures: int  # probe failures
    kills: int  # kills
    first_redis_error: str  # the first Redis error (ISO)
    first_kill: str  # the first kill (ISO)
    delay_first_error_to_first_kill_s: float  # seconds from the first error to the first kill

    def facts(self) -> dict[str, object]:
        return {"pods": self.pods}


class PodRestarts(RuleDetector):
    """PM201: app pods restarting around the incident: each restart reconnects, so it feeds the storm."""

    rule = Rule(
        "PM201",
        "pod-restarts",
        Severity.HIGH,
        "BackOff / CrashLoopBackOff / OOMKilled / Killing of app pods in the window",
        what=("Kubernetes events that show application pods restarting in or near the incident window: "
              "`BackOff` (Back-off restarting failed container), `CrashLoopBackOff`, `OOMKilled` / "
              "`OOMKilling`, and `Killing` of a container that failed a probe. Counts include the "
              "event's own `count` (kubectl `x12 over 5m`)."),
        why=("a restarting pod drops its connections and opens new ones on start, so restarts turn a "
             "short Redis blip into a reconnect storm; a crash on start (abortConnect=true, a failed "
             "liveness probe) makes the loop self-sustaining. Event counts are lower bounds: the "
             "event recorder drops events during storms."),
        recommendation=("make startup tolerate Redis being down (StackExchange.Redis `abortConnect=false`; "
                        "redis-py connect lazily), keep Redis out of the liveness probe, and give the container "
                        "enough memory for the reconnect burst."),
        role=Role.CONSEQUENCE,
        phrase="pod restarts",
        actions=(
            ("prevent", "Stop restarting pods on Redis errors (liveness must not depend on Redis)."),
        ),
        bleeding=('hpa',),
        lucky_if_absent=True,
    )

    # pod.* are container states from pod status (describe, get pods, pod JSON): the same restarts, seen by kubectl
    KINDS = ("k8s.BackOff", "k8s.CrashLoopBackOff", "k8s.OOMKilled", "k8s.OOMKilling", "k8s.Killing",
             "pod.oom_killed", "pod.crash_loop")

    def advise(self, facts: Facts) -> Advice:
        return redis_free_liveness(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = k8s_events(events, self.KINDS)
        msg = pl.col("message").fill_null("").str.to_lowercase()
        rows = rows.filter(
            # BackOff also means "Back-off pulling image": not a restart.
            ((pl.col("kind") == "k8s.BackOff") & ~msg.str.contains("pulling image"))
            | pl.col("kind").is_in(["k8s.CrashLoopBackOff", "k8s.OOMKilled", "k8s.OOMKilling", "pod.oom_killed",
                                    "pod.crash_loop"])
            # Killing is also a plain rollout/scale-down ("Stopping container"): only probe kills.
            | ((pl.col("kind") == "k8s.Killing") & msg.str.contains("probe|will be restarted|oom"))
        )
        # The Redis trouble, not ctx's window: that one also stretches over the k8s warnings themselves.
        window = redis_trouble(events, ctx) or (ctx.window_start, ctx.window_end)
        if window[0] is not None and window[1] is not None:
            rows = rows.filter(_overlaps(window[0] - NEAR_BEFORE, window[1] + NEAR_AFTER))
        if rows.height == 0:
            return
        rows = rows.sort(["last", "path", "line"])
        by_kind = rows.group_by("kind").agg(pl.col("n").sum()).sort("kind")
        counts = {k.removeprefix("k8s."): int(n) for k, n in by_kind.iter_rows()}
        pods = sorted(set(rows.get_column("entity").drop_nulls().to_list()))
        total = int(rows.get_column("n").sum())
        severe = len(pods) >= 2 or any(k in counts for k in ("BackOff", "CrashLoopBackOff", "OOMKilled",
                                                             "pod.oom_killed", "pod.crash_loop"))
        stats = RestartFigures(
            pods_affected=len(pods), restart_events=total, by_reason=counts,
            first=rows.get_column("first").min().isoformat(), last=rows.get_column("last").max().isoformat(),
        )
        what = ", ".join(f"{n} {k}" for k, n in counts.items())
        f = finding(
            self.rule, f"{len(pods) or 'unnamed'} pods restarting: {what}", rows, stats, Confidence.HIGH,
            entities=tuple(pods), severity=Severity.HIGH if severe else Severity.MEDIUM,
            start=rows.get_column("first").min(), end=rows.get_column("last").max(),
        )
        if f:
            yield f


_NEW_SIZE = r"(?i)new size:\s*(\d+)"
_SCALED_TO = r"(?i)scaled (?:up|down) replica set \S+ to (\d+)"
_SCALED_FROM = r"(?i) to \d+ from (\d+)"


def _distinct_rescales(ups: pl.DataFrame) -> int:
    """Scale-ups counted once however many sources saw them: the HPA's event, the Deployment's
    ScalingReplicaSet and the controller's log line of one rescale share workload and size within REDIS_SLACK."""
    ordered = ups.sort(["workload", "last"])
    same = ((pl.col("workload") == pl.col("workload").shift(1)) & (pl.col("after") == pl.col("after").shift(1))
            & ((pl.col("last") - pl.col("last").shift(1)) <= REDIS_SLACK))
    return int(ordered.select((~same.fill_null(False)).sum()).item())


class HpaFeedback(RuleDetector):
    """PM202: scale-ups during the storm: every new pod opens its own pool, adding connection demand."""

    rule = Rule(
        "PM202",
        "hpa-feedback",
        Severity.MEDIUM,
        "scale-ups during the storm that added connection demand",
        what=("HorizontalPodAutoscaler `SuccessfulRescale` and Deployment `ScalingReplicaSet` scale-ups "
              "during a Redis outage or error window, or within 10 minutes after it, with replicas "
              "before → after, times relative to the trouble's start and, when the per-pod pool size "
              "is known, the connections the new pods add."),
        why=("retries and timeouts burn CPU, the HPA reads that as load and adds pods, and each new "
             "pod opens its own pool or multiplexer: connected clients climb in steps with the "
             "replica count, towards maxclients. The autoscaler amplifies the incident it reacts to."),
        recommendation=("slow scale-ups down (HPA `behavior.scaleUp: {stabilizationWindowSeconds: 120, policies: "
                        "[{type: Pods, value: 4, periodSeconds: 60}]}`), keep `maxSurge` small, add startup "
                        "jitter, and budget connections: pool cap × max replicas ≤ 0.8 × maxclients."),
        role=Role.AMPLIFIER,
        phrase="an autoscaler scaling out during the storm",
        actions=(
            ("prevent", "Limit HPA scale-up speed (stabilization window, pods per minute)."),
        ),
        bleeding=('hpa',),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Slow the autoscaler down during a storm",
                      "Retries burn CPU, the HPA adds pods, each new pod opens its pool: limit scale-up speed and "
                      "roll out one pod at a time.", (hpa_yaml(facts), rollout_yaml()))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        trouble = redis_trouble(events, ctx)
        if trouble is None:
            return
        t_start, t_end = trouble
        rows = k8s_events(events, ("k8s.SuccessfulRescale", "k8s.ScalingReplicaSet", "hpa.rescale"))
        if rows.height == 0:
            return
        msg = pl.col("message").fill_null("")
        rows = rows.with_columns(
            after=pl.coalesce(attr("new_size", pl.Int64), attr("replicas", pl.Int64), attr("to_replicas", pl.Int64),
                              msg.str.extract(_NEW_SIZE).cast(pl.Int64, strict=False),
                              msg.str.extract(_SCALED_TO).cast(pl.Int64, strict=False)),
            before=pl.coalesce(attr("old_size", pl.Int64), attr("from", pl.Int64), attr("from_replicas", pl.Int64),
                               msg.str.extract(_SCALED_FROM).cast(pl.Int64, strict=False)),
            # `hpa:ns/worker` and `deployment:ns/worker` are the same workload.
            workload=pl.col("entity").fill_null("unknown").str.replace(r"^[^:/]*:", ""),
            down=msg.str.contains(r"(?i)scaled down|below target"),
        ).filter(pl.col("after").is_not_null()).sort(["last", "path", "line"])
        # Before-size unknown: the previous event of the same workload says it.
        rows = rows.with_columns(before=pl.coalesce(pl.col("before"), pl.col("after").shift(1).over("workload")))
        ups = rows.filter(
            ~pl.col("down") & (pl.col("before").is_null() | (pl.col("after") > pl.col("before")))
            & _overlaps(t_start - REDIS_SLACK, t_end + SCALE_AFTER)
        )
        if ups.height == 0:
            return
        steps, added = [], 0
        for (wl,), g in ups.group_by(["workload"], maintain_order=True):
            before = g.get_column("before").drop_nulls()
            b = int(before.min()) if before.len() else None
            a = int(g.get_column("after").max())
            added += a - b if b is not None else 0
            steps.append({
                "workload": wl, "replicas_before": b, "replicas_after": a,
                "scale_up_s_after_trouble_start": [_secs(t, t_start) for t in g.get_column("first").to_list()],
            })
        per_pod, per_pod_from = _connections_per_pod(events, ctx, steps)
        stats = ScaleUpFigures(
            scale_ups=_distinct_rescales(ups), workloads=steps, replicas_added=added,
            trouble_start=t_start.isoformat(), trouble_end=t_end.isoformat(),
            connections_per_pod=per_pod, connections_per_pod_from=per_pod_from,
            connection_demand_added=per_pod * added if per_pod is not None else None,
        )
        sizes = "; ".join(f"{s['workload']} {s['replicas_before'] if s['replicas_before'] is not None else '?'}"
                          f"→{s['replicas_after']}" for s in steps)
        title = f"{stats.scale_ups} scale-ups during the Redis trouble ({sizes})"
        if stats.connection_demand_added is not None:
            title += f", about {stats.connection_demand_added} more connections"
        cpu = ups.get_column("message").fill_null("").str.contains(r"(?i)cpu|above target").any()
        f = finding(self.rule, title, ups, stats, Confidence.HIGH if cpu else Confidence.MEDIUM,
                    entities=tuple(sorted(set(ups.get_column("entity").drop_nulls().to_list()))),
                    start=ups.get_column("first").min(), end=ups.get_column("last").max())
        if f:
            yield f


def _connections_per_pod(events: pl.DataFrame, ctx: Context, steps: list[dict]) -> tuple[int | None, str | None]:
    """Connections one pod opens: a logged pool cap, else connected_clients ÷ replicas before the scale-up."""
    if ctx.configs is not None and ctx.configs.height:
        caps = ctx.configs.select(attr("max_connections", pl.Int64)).to_series().drop_nulls()
        caps = caps.filter(caps < 1_000_000)  # 2**31 is "unbounded", not a size
        if caps.len():
            return int(caps.max()), "max_connections in the logged client configuration"
    befores = [s["replicas_before"] for s in steps if s["replicas_before"]]
    clients = events.filter((pl.col("source") == "metrics") & (pl.col("metric") == "connected_clients")
                            & pl.col("value").is_not_null()).sort("ts")
    if befores and clients.height:
        first = float(clients.get_column("value")[0])
        if first > 0:
            return max(1, round(first / sum(befores))), "first connected_clients sample ÷ replicas before"
    return None, None


class LivenessDependsOnRedis(RuleDetector):
    """PM203: liveness probes that fail because Redis is down get pods killed, which reconnects them."""

    rule = Rule(
        "PM203",
        "liveness-depends-on-redis",
        Severity.HIGH,
        "liveness failures and kills that follow Redis errors",
        what=("`Unhealthy` `Liveness probe failed` events followed by `Killing` of the same pod inside "
              "the window in which clients logged Redis errors; reports the pods, the kills and the "
              "delay from the first Redis error to the first kill."),
        why=("a liveness check that touches Redis turns a Redis blip into container restarts: the "
             "kubelet kills healthy processes, each restart opens new connections, and the restarts "
             "keep the storm going after Redis is back."),
        recommendation=("keep Redis out of liveness: `livenessProbe: {httpGet: {path: /livez, port: 8080}, "
                        "periodSeconds: 10, failureThreshold: 6}` where `/livez` does not touch Redis; put the "
                        "dependency check in `readinessProbe` instead."),
        role=Role.AMPLIFIER,
        phrase="liveness probes that depend on Redis",
        actions=(
            ("prevent", "Move the Redis check from the liveness to the readiness probe."),
        ),
        bleeding=('hpa',),
    )

    def advise(self, facts: Facts) -> Advice:
        return redis_free_liveness(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        # the columns read of the clients' errors (most of a dense log's rows: a filter copies every column it keeps)
        errs = events.select("event_id", "source", "ts", "path", "line", "host", *PROBLEM_COLUMNS).filter(
            pl.col("source").is_in(CLIENT_SOURCES) & is_problem() & pl.col("ts").is_not_null())
        if errs.height == 0:
            return
        first_err, last_err = errs.get_column("ts").min(), errs.get_column("ts").max()
        lo, hi = first_err - REDIS_SLACK, last_err + NEAR_AFTER
        rows = k8s_events(events, ("k8s.Unhealthy", "k8s.Killing")).filter(pl.col("entity").is_not_null())
        msg = pl.col("message").fill_null("").str.to_lowercase()
        probe = attr("probe").str.to_lowercase()
        unhealthy = rows.filter((pl.col("kind") == "k8s.Unhealthy")
                                & ((probe == "liveness") | msg.str.contains("liveness probe"))
                                & _overlaps(lo, hi))
        kills = rows.filter((pl.col("kind") == "k8s.Killing") & ~msg.str.contains("readiness|startup")
                            & _overlaps(lo, hi))
        if unhealthy.height == 0 or kills.height == 0:
            return
        first_fail = unhealthy.group_by("entity").agg(pl.col("first").min().alias("fail_first"))
        kills = kills.join(first_fail, on="entity").filter(pl.col("last") >= pl.col("fail_first"))
        if kills.height == 0:
            return
        pods = sorted(set(kills.get_column("entity").to_list()))
        unhealthy = unhealthy.filter(pl.col("entity").is_in(pods))
        first_kill = kills.get_column("first").min()
        # SE.Redis clientName / the log file name is usually the pod: prefer that pod's own first error.
        names = [p.rsplit("/", 1)[-1] for p in pods]
        own = errs.filter(pl.col("host").is_in(names))
        if own.height:
            errs, first_err = own, own.get_column("ts").min()
        liveness_kill = kills.get_column("message").fill_null("").str.contains(r"(?i)liveness").all()
        stats = LivenessFigures(
            pods=len(pods), liveness_failures=int(unhealthy.get_column("n").sum()),
            kills=int(kills.get_column("n").sum()), first_redis_error=first_err.isoformat(),
            first_kill=first_kill.isoformat(), delay_first_error_to_first_kill_s=_secs(first_kill, first_err),
        )
        first = errs.sort(["ts", "path", "line"]).get_column("event_id").head(1)
        evidence = pl.concat([events.filter(pl.col("event_id").is_in(first.implode())),
                              unhealthy.drop("first", "last", "n"),
                              kills.drop("first", "last", "n", "fail_first")], how="vertical_relaxed")
        f = finding(
            self.rule,
            f"{len(pods)} pods killed by liveness probes {stats.delay_first_error_to_first_kill_s:g} s after "
            f"the first Redis error ({stats.liveness_failures} probe failures, {stats.kills} kills)",
            evidence, stats, Confidence.HIGH if liveness_kill else Confidence.MEDIUM, entities=tuple(pods),
            start=first_err, end=kills.get_column("last").max(),
        )
        if f:
            yield f
