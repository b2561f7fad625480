"""The postmortem's derived sections: impact, detection (first sign per source), the merged timeline.

Computed once in the analysis and stored in the Report, so Markdown, HTML and JSON show the same
figures and renderers never see the events table. Ordering is total (ties broken by text) so output
is deterministic.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from postmortem.analysis.chart_data import chart_data
from postmortem.analysis.correlate import INCIDENT_COLUMNS, incident_problems
from postmortem.analysis.detectors import find_rule
from postmortem.messages_apart import restored
from postmortem.model import (
    Evidence,
    FirstSign,
    Impact,
    KindRow,
    Report,
    ResolutionStep,
    TimelineRow,
    duration,
)

# Kubernetes reasons that change capacity or roll out code: what on-call did (or the HPA did) to end it.
_SCALE_KINDS = ("k8s.ScalingReplicaSet", "k8s.SuccessfulRescale")
_DEPLOY_KINDS = ("k8s.Pulled", "k8s.Started")
MAX_RESOLUTION_STEPS = 6


def _problems(events: pl.DataFrame | None, *columns: str) -> pl.DataFrame | None:
    """The problem rows of `events`, with only `columns` (and what the test reads) when given: a filter copies
    every column of the rows it keeps, and a dense log's client timeouts carry ~1 kB of message and attrs each."""
    if events is None or events.height == 0:
        return None
    if columns:
        events = events.select(list(dict.fromkeys((*columns, *INCIDENT_COLUMNS))))
    return incident_problems(events)


SHUTDOWN = "redis.server.shutdown"


def _as_shutdowns(row: KindRow, probs: pl.DataFrame, events: pl.DataFrame) -> KindRow:
    """The shutdown row counting shutdowns, not lines: a server's shutdown lines until its next start are one (redis-
    server logs up to four for one: the signal, `User requested shutdown`, the save, `ready to exit`)."""
    downs = probs.filter(pl.col("kind") == SHUTDOWN).select("path", "ts").sort("ts")
    starts = (events.select("kind", "path", "ts")
              .filter((pl.col("kind") == "redis.server.start") & pl.col("ts").is_not_null())
              .sort("ts").select("path", "ts", life=pl.int_range(1, pl.len() + 1).over("path")))
    lives = downs.join_asof(starts, on="ts", by="path", strategy="backward", check_sortedness=False)
    lives = lives.select(pl.struct("path", pl.col("life").fill_null(0)))
    return dataclasses.replace(row, count=lives.n_unique(), unit="shutdowns")


def impact(report: Report, events: pl.DataFrame | None) -> Impact:
    """Errors by kind, hosts by problem events, endpoints and pods touched, and how long things lasted."""
    rows: list[KindRow] = []
    hosts: list[tuple[str, int]] = []
    endpoints = {e for f in report.findings for e in f.entities if str(e).startswith("redis:")}
    pods = {e for f in report.findings for e in f.entities if str(e).startswith("pod:")}
    probs = _problems(events, "kind", "host", "ts", "entity", "path")
    if probs is not None and probs.height:
        by_kind = probs.group_by("kind").agg(
            pl.len().alias("n"), pl.col("host").drop_nulls().n_unique().alias("h"),
            pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b"),
        ).sort(["n", "kind"], descending=[True, False])
        rows = [KindRow(r["kind"], r["n"], r["h"], r["a"], r["b"]) for r in by_kind.iter_rows(named=True)]
        rows = [_as_shutdowns(r, probs, events) if r.kind == SHUTDOWN else r for r in rows]
        by_host = probs.filter(pl.col("host").is_not_null()).group_by("host").len().sort(
            ["len", "host"], descending=[True, False])
        hosts = [(r["host"], r["len"]) for r in by_host.iter_rows(named=True)]
        endpoints |= set(probs.filter(pl.col("entity").str.starts_with("redis:")).get_column("entity").unique())
    durations = []
    if report.window_start is not None:
        durations.append(("Incident window", duration(report.window_start, report.window_end)))
    for f in sorted(report.findings, key=lambda f: (f.rule_id, str(f.start))):
        rule = find_rule(f.rule_id)
        if rule is not None and rule.impact_duration and f.start is not None:
            durations.append((f"{f.rule_id} {f.name}", duration(f.start, f.end)))
    return Impact(
        errors=tuple(rows), hosts=tuple(hosts), endpoints=tuple(sorted(endpoints)), pods=tuple(sorted(pods)),
        durations=tuple(durations), total_errors=sum(r.count for r in rows),
    )


def detection(events: pl.DataFrame | None) -> tuple[FirstSign, ...]:
    """When each source first showed the problem, and how long after the very first sign."""
    probs = _problems(events, "event_id", "source", "ts", "path", "line", "message", "kind")
    if probs is None:
        return ()
    probs = probs.filter(pl.col("ts").is_not_null()).sort(["ts", "path", "line"])
    if probs.height == 0:
        return ()
    firsts = restored(probs.group_by("source", maintain_order=True).first().sort(["ts", "source"]))
    t0 = firsts.get_column("ts").min()
    out = []
    for r in firsts.iter_rows(named=True):
        ev = Evidence(path=r["path"], line=int(r["line"] or 0), ts=r["ts"], text=(r["message"] or "")[:300])
        lag = "first sign" if r["ts"] == t0 else f"+{duration(t0, r['ts'])}"
        out.append(FirstSign(r["source"], r["ts"], lag, r["kind"], ev))
    return tuple(out)


def merged_timeline(report: Report) -> tuple[TimelineRow, ...]:
    """Finding windows and event bursts on one UTC axis; each row points at its evidence."""
    anchors = {f.rule_id: f"f{i}" for i, f in reversed(list(enumerate(report.findings)))}
    rows = []
    for i, f in enumerate(report.findings):
        if f.start is None:
            continue
        rows.append(TimelineRow(f.start, f.end, "finding", f"{f.rule_id} {f.name}: {f.title}", f.rule_id,
                                f"f{i}-e0" if f.evidence else f"f{i}", f.evidence[:1], f"tf{i}"))
    for j, t in enumerate(report.timeline):
        anchor = anchors.get(t.rule_id, f"t{j}")
        rows.append(TimelineRow(t.ts, t.end, t.source, t.title, t.rule_id, anchor, t.evidence[:1], f"t{j}"))
    return tuple(sorted(rows, key=lambda r: (r.ts, r.source != "finding", r.source, r.title)))


def _evidence(r: dict) -> Evidence:
    return Evidence(path=r["path"], line=int(r["line"] or 0), ts=r["ts"], text=(r["message"] or "")[:300])


def _limit_changes(rows: pl.DataFrame) -> list[ResolutionStep]:
    """Each change of the maxclients metric per entity: a CONFIG SET (or a restart with a new redis.conf)."""
    out = []
    changed = (rows.sort(["entity", "ts", "line"]).with_columns(prev=pl.col("value").shift(1).over("entity"))
               .filter(pl.col("prev").is_not_null() & (pl.col("value") != pl.col("prev"))))
    for r in changed.iter_rows(named=True):
        out.append(ResolutionStep(r["ts"], "config", f"maxclients changed from {r['prev']:.0f} to {r['value']:.0f} "
                                  "(CONFIG SET or a restart with a new limit)", _evidence(r)))
    return out


def resolution(report: Report, events: pl.DataFrame | None) -> tuple[ResolutionStep, ...]:
    """What ended or eased the incident, from the evidence after it began: Redis ready again after a
    restart, a changed maxclients, a scale-up or rollout, and when the last problem was logged."""
    if events is None or events.height == 0 or report.window_start is None:
        return ()
    after = (events.select(list(dict.fromkeys(("event_id", "ts", "path", "line", "kind", "message", *INCIDENT_COLUMNS))))
             .filter(pl.col("ts").is_not_null() & (pl.col("ts") >= report.window_start)).sort(["ts", "path", "line"]))
    steps: list[ResolutionStep] = []
    downs = after.filter(pl.col("kind") == "redis.server.shutdown").get_column("ts")
    first_down = downs.min() if downs.len() else None
    ready = after.filter((pl.col("kind") == "redis.server.ready") & (pl.col("ts") > first_down)) \
        if first_down is not None else after.clear()
    for r in restored(ready.head(1)).iter_rows(named=True):
        steps.append(ResolutionStep(r["ts"], "restart", "Redis was restarted and accepted connections again", _evidence(r)))
    limits = events.filter((pl.col("metric") == "maxclients") & pl.col("ts").is_not_null() & pl.col("value").is_not_null())
    steps += [s for s in _limit_changes(restored(limits)) if s.ts >= report.window_start]
    for kinds, what, verb in ((_SCALE_KINDS, "scale", "Scaled"), (_DEPLOY_KINDS, "deploy", "Rolled out / restarted")):
        first = after.filter(pl.col("kind").is_in(kinds)).group_by("kind", maintain_order=True).first()
        for r in restored(first).iter_rows(named=True):
            steps.append(ResolutionStep(r["ts"], what, f"{verb}: {(r['message'] or r['kind'])[:120]}", _evidence(r)))
    probs = _problems(after)
    if probs is not None and probs.height:
        last = restored(probs.tail(1)).row(0, named=True)
        steps.append(ResolutionStep(last["ts"], "recovered", "Last problem logged; none after it in the inputs",
                                    _evidence(last)))
    steps.sort(key=lambda s: (s.ts, s.what, s.evidence.path, s.evidence.line))
    return tuple(steps[:MAX_RESOLUTION_STEPS - 1] + steps[-1:] if len(steps) > MAX_RESOLUTION_STEPS else steps)


def with_sections(report: Report, events: pl.DataFrame | None) -> Report:
    """The report with its derived sections and chart data filled in from `events` (None: findings only)."""
    from postmortem.analysis.playbook import lessons, stop_the_bleeding

    report = dataclasses.replace(
        report, impact=impact(report, events), detection=detection(events),
        merged_timeline=merged_timeline(report), charts=chart_data(report, events),
        resolution=resolution(report, events),
    )
    return dataclasses.replace(report, stop_the_bleeding=stop_the_bleeding(report), lessons=lessons(report))
