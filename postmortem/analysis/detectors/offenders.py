"""PM204 top offenders: the few pods (and their deployments) that made most of the incident's connection
attempts, client errors or restarts, ranked in a table with evidence per pod.

"Most" is measured against the incident's own fleet, never an absolute count: for each measure the smallest
set of pods holding half its total must be at most a quarter of the fleet (their share at least twice their
fair share), and a uniform fleet must be unlikely to put that much on them by chance (binomial tail, times
the fleet size for having picked the top pods after the fact, below 1 %). A storm every pod joins equally,
or a healthy fleet, is not skewed and the rule stays silent.

With `kubectl top pods` captures (`pod.usage`) of at least MIN_FLEET pods, the table also gives each ranked pod's
peak CPU and memory as a multiple of the fleet's median peak (`cpu_vs_median`, `memory_vs_median`): a pod that
crash-loops at several times its peers' memory points at its memory limit. Usage is a column, not a measure: the
rule fires on attempts, errors and restarts alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from postmortem.analysis.correlate import ATTEMPT_KINDS, Context, attr, is_problem
from postmortem.analysis.detectors.base import RuleDetector, finding
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity
from postmortem.schema import CLIENT_SOURCES, event_weight

K8S = "k8s_events"
MIN_FLEET = 3  # fewer pods have no fleet to be skewed against
MAX_TOP_FRACTION = 0.25  # the pods holding half a measure are at most a quarter of the fleet
ALPHA = 0.01  # chance of a uniform fleet concentrating that much on its top pods (Bonferroni over the fleet)
MAX_ROWS = 10  # rows of the ranked table
MEASURES = ("restarts", "errors", "attempts")  # ranking order when several are skewed
USAGE = (("pod_cpu_cores", "cpu_vs_median"), ("pod_memory_bytes", "memory_vs_median"))  # `kubectl top pods` columns
# ReplicaSet pod names: <deployment>-<pod-template-hash>-<5 chars>; bare controllers: <name>-<5 chars>;
# StatefulSet: <name>-<ordinal>
_RS_POD = re.compile(r"^(?P<d>.+?)-(?P<h>[a-z0-9]{6,10})-[a-z0-9]{5}$")
_BARE_POD = re.compile(r"^(?P<d>.+?)-(?P<h>[a-z0-9]{5})$")
_ORDINAL = re.compile(r"^(?P<d>.+?)-(?P<h>\d+)$")
_DIGIT = re.compile(r"\d")


def deployment_of(pod: str) -> str:
    """The workload a pod belongs to: its name without the ReplicaSet hash and pod suffix (or ordinal)."""
    for rx in (_RS_POD, _BARE_POD, _ORDINAL):
        if (m := rx.match(pod)) and _DIGIT.search(m.group("h")):  # generated suffixes carry a digit; words do not
            return m.group("d")
    return pod


@dataclass(frozen=True, eq=False, repr=False)
class OffenderFigures(Figures):
    TABLES = ("ranking",)

    fleet_pods: int  # pods seen in the incident (client log hosts and pods with a status)
    measure: str  # the skewed measure the table is ranked by: restarts, errors or attempts
    skewed: tuple[str, ...]  # every measure that is skewed
    total: int  # that measure summed over the fleet
    top_pods: int  # the fewest pods holding at least half of it
    top_share: float  # the share of the total those pods hold
    fair_share: float  # the share the same number of pods would hold in a uniform fleet
    chance: float  # probability a uniform fleet concentrates that much on its top pods (after the fleet-size factor)
    deployments: dict[str, float]  # share of the measure per deployment, largest first
    ranking: list[dict]  # the ranked pods: pod, deployment, attempts, errors, restarts, share, evidence; with
    # `kubectl top pods` captures of the fleet, cpu_vs_median and memory_vs_median (the pod's peak / the fleet's
    # median peak; None for a pod without a capture)


def _per_pod(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pod, attempts, errors, restarts) per pod of the fleet, and the rows each figure came from: their
    `event_id`, host, time and place only (with every column, the rows of a dense log's errors, concatenated, were
    a second copy of their messages and `attrs`: +412 MiB on the dense 1 GiB log)."""
    where = ("event_id", "host", "ts", "path", "line")
    # only the columns read here, before the filters: a filter copies every column it keeps (the client rows of the
    # dense 1 GiB log with every column: +150 MiB)
    read = events.select(*where, "source", "kind", "level", "value", "attrs")
    # each set of rows is filtered lazily, so only the columns it keeps are copied (the client rows of the dense
    # 1 GiB log as one frame of the columns read here: +90 MiB, the analysis' highest transient after PM105's)
    client = read.lazy().filter(pl.col("source").is_in(CLIENT_SOURCES) & pl.col("host").is_not_null())
    pod_rows = read.filter((pl.col("source") == K8S) & pl.col("kind").str.starts_with("pod.")
                           & pl.col("host").is_not_null())
    attempts = client.filter(pl.col("kind").is_in(ATTEMPT_KINDS)).select(*where, measure=pl.lit("attempts"),
                                                                           w=event_weight())
    errors = client.filter(is_problem()).select(*where, measure=pl.lit("errors"), w=event_weight())
    restarts = pod_rows.select(*where, measure=pl.lit("restarts"), w=attr("restarts", pl.Float64).fill_null(0.0))
    rows = pl.concat([attempts.collect(), errors.collect(), restarts], how="diagonal_relaxed")
    fleet = pl.concat([client.select("host").unique().collect(), pod_rows.select("host")]).unique()
    per = (
        rows.group_by("host", "measure")
        # restart counts are cumulative snapshots: the largest one per pod; attempts and errors add up
        .agg(total=pl.col("w").sum(), top=pl.col("w").max())  # two plain aggregates: half the memory of a when/then
        .select("host", "measure", w=pl.when(pl.col("measure") == "restarts").then("top").otherwise("total"))
        .pivot(on="measure", index="host", values="w")
    )
    table = fleet.join(per, on="host", how="left")
    for m in MEASURES:
        if m not in table.columns:
            table = table.with_columns(pl.lit(0.0).alias(m))
    table = table.with_columns(pl.col(m).fill_null(0.0).cast(pl.Int64) for m in MEASURES).rename({"host": "pod"})
    return table.sort("pod"), rows


def _usage_vs_median(events: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Per column of USAGE sampled for at least MIN_FLEET pods: each pod's peak as a multiple of the median peak.
    A pod's figure is its whole-pod row (`kubectl top pods`), else its containers' rows of one capture summed."""
    usage = events.filter((pl.col("kind") == "pod.usage") & pl.col("host").is_not_null() & pl.col("value").is_not_null())
    out: dict[str, dict[str, float]] = {}
    if usage.height == 0:
        return out
    usage = usage.with_columns(container=attr("container"))
    for metric, column in USAGE:
        rows = usage.filter(pl.col("metric") == metric)
        whole = rows.filter(pl.col("container").is_null()).group_by("host").agg(peak=pl.col("value").max())
        parts = (rows.filter(pl.col("container").is_not_null()).group_by("host", "path", "ts")
                 .agg(pl.col("value").sum()).group_by("host").agg(peak=pl.col("value").max())
                 .join(whole, on="host", how="anti"))
        peaks = pl.concat([whole, parts])
        median = peaks.get_column("peak").median() if peaks.height >= MIN_FLEET else None
        if not median:
            continue
        out[column] = {h: round(v / median, 2) for h, v in peaks.iter_rows()}
    return out


def _binom_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in logs (no scipy: the JSON path loads no heavy module)."""
    lp, lq = math.log(p), math.log1p(-p)
    return min(1.0, sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
                        for i in range(max(k, 0), n + 1)))


def _skew(values: list[int]) -> tuple[int, float, float, float] | None:
    """(top pods, their share, fair share, chance) when the measure is skewed, else None."""
    n, total = len(values), sum(values)
    if n < MIN_FLEET or total <= 0:
        return None
    ordered = sorted(values, reverse=True)
    held, k = 0, 0
    while held * 2 < total:
        held += ordered[k]
        k += 1
    fair = k / n
    if fair > MAX_TOP_FRACTION:
        return None
    chance = min(1.0, _binom_tail(held, total, fair) * n)
    if chance >= ALPHA:
        return None
    return k, held / total, fair, chance


class TopOffenders(RuleDetector):
    """PM204: a few pods made most of the attempts, errors or restarts of their fleet."""

    rule = Rule(
        "PM204",
        "top-offenders",
        Severity.MEDIUM,
        "a few pods made most of the fleet's connection attempts, errors or restarts",
        what=("per pod (a client log's host, a pod with a status): connection attempts, client errors and the "
              "largest restart count its status showed; a measure is skewed when the fewest pods holding half "
              "of it are at most a quarter of the fleet and a uniform fleet would put that much on them with "
              "less than 1 % chance (binomial, times the fleet size). The appendix ranks those pods with their "
              "deployment (the pod name without its ReplicaSet hash and suffix), their peak CPU and memory as a "
              "multiple of the fleet's median when `kubectl top pods` captured the fleet, and a file:line for each."),
        why=("when the trouble sits in a few pods, the fix is there: a crash-looping or OOM-killed deployment "
             "reconnects on every start, a pod with a bad config or a tight loop retries far more than its "
             "peers. Averages over the fleet hide them; restarting or removing them stops most of the load."),
        recommendation=("look at the ranked pods first: their restarts (memory limit, liveness), their retry "
                        "settings and their deployment's rollout; scale down or restart the noisiest while Redis "
                        "recovers."),
        role=Role.CONSEQUENCE,
        phrase="a few pods carrying most of the trouble",
        actions=(
            ("mitigate", "Restart or scale down the pods the top-offenders table names while Redis recovers."),
        ),
        bleeding=("noisy_clients",),
    )

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        table, rows = _per_pod(events)
        skewed = {m: s for m in MEASURES if (s := _skew(table.get_column(m).to_list()))}
        if not skewed:
            return
        measure = next(iter(skewed))
        k, share, fair, chance = skewed[measure]
        total = int(table.get_column(measure).sum())
        ranked = table.sort([measure, "pod"], descending=[True, False]).head(max(k, min(MAX_ROWS, table.height)))
        ranked = ranked.filter(pl.col(measure) > 0)
        offenders = ranked.head(k).get_column("pod").to_list()
        proof = rows.filter((pl.col("measure") == measure) & pl.col("host").is_in(offenders))
        # the events themselves, for their messages: one measure's rows are each an event once, in the table's order
        cited = events.filter(pl.col("event_id").is_in(proof.get_column("event_id").implode()))
        first = proof.sort(["ts", "path", "line"], nulls_last=True).group_by("host", maintain_order=True).first()
        where = {r["host"]: f"{r['path']}:{r['line']}" for r in first.iter_rows(named=True)}
        any_row = rows.filter(pl.col("measure") == measure).sort(["ts", "path", "line"], nulls_last=True)
        any_row = any_row.group_by("host", maintain_order=True).first()
        where_any = {r["host"]: f"{r['path']}:{r['line']}" for r in any_row.iter_rows(named=True)}
        usage = _usage_vs_median(events)
        ranking = [
            {"pod": r["pod"], "deployment": deployment_of(r["pod"]), "attempts": r["attempts"], "errors": r["errors"],
             "restarts": r["restarts"], "share": round(r[measure] / total, 3),
             **{column: by_pod.get(r["pod"]) for column, by_pod in usage.items()},
             "evidence": where.get(r["pod"]) or where_any.get(r["pod"], "")}
            for r in ranked.iter_rows(named=True)
        ]
        by_dep = (table.with_columns(dep=pl.col("pod").map_elements(deployment_of, return_dtype=pl.String))
                  .group_by("dep").agg(pl.col(measure).sum()).filter(pl.col(measure) > 0)
                  .sort([measure, "dep"], descending=[True, False]))
        figures = OffenderFigures(
            fleet_pods=table.height, measure=measure, skewed=tuple(skewed), total=total, top_pods=k,
            top_share=round(share, 3), fair_share=round(fair, 3), chance=float(f"{chance:.3g}"),
            deployments={d: round(v / total, 3) for d, v in by_dep.iter_rows()},
            ranking=ranking,
        )
        title = (f"{k} of {table.height} pods made {share:.0%} of the {measure} (fair share {fair:.0%}): "
                 + ", ".join(offenders[:3]) + (" …" if len(offenders) > 3 else ""))
        f = finding(self.rule, title, cited, figures, Confidence.HIGH if chance < ALPHA / 100 else Confidence.MEDIUM,
                    entities=tuple(offenders))
        if f:
            yield f
