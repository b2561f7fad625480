"""The postmortem's derived sections: root causes, impact, detection, the merged timeline.

Everything here is computed from the Report (and, when the caller has it, the events table) so the
templates only lay text out. Ordering is total (ties broken by text) so output is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.model import Evidence, Finding, Report


def causes(report: Report) -> dict[str, list[tuple[int, Finding]]]:
    """Findings (with their index, for anchors) grouped as trigger / amplifiers / impact, as the
    analysis grouped them (`Report.causes`, from each rule's role)."""
    groups: dict[str, list[tuple[int, Finding]]] = {"trigger": [], "amplifiers": [], "impact": []}
    for group, indices in report.causes:
        groups.setdefault(group, []).extend((i, report.findings[i]) for i in indices)
    return groups


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    secs = max(0.0, (end - start).total_seconds())
    if secs < 60:
        return f"{secs:.1f} s"
    if secs < 3600:
        return f"{int(secs // 60)} min {int(secs % 60)} s"
    return f"{int(secs // 3600)} h {int(secs % 3600 // 60)} min"


@dataclass(frozen=True)
class KindRow:
    kind: str
    count: int
    hosts: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class Impact:
    errors: tuple[KindRow, ...]
    hosts: tuple[tuple[str, int], ...]  # (host, problem events), most affected first
    endpoints: tuple[str, ...]
    pods: tuple[str, ...]
    durations: tuple[tuple[str, str], ...]  # (what, how long)
    total_errors: int


def _problems(events: pl.DataFrame | None) -> pl.DataFrame | None:
    if events is None or events.height == 0:
        return None
    from postmortem.analysis.correlate import is_problem

    return events.filter(is_problem())


def impact(report: Report, events: pl.DataFrame | None) -> Impact:
    rows: list[KindRow] = []
    hosts: list[tuple[str, int]] = []
    endpoints = {e for f in report.findings for e in f.entities if str(e).startswith("redis:")}
    pods = {e for f in report.findings for e in f.entities if str(e).startswith("pod:")}
    probs = _problems(events)
    if probs is not None and probs.height:
        by_kind = probs.group_by("kind").agg(
            pl.len().alias("n"), pl.col("host").drop_nulls().n_unique().alias("h"),
            pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b"),
        ).sort(["n", "kind"], descending=[True, False])
        rows = [KindRow(r["kind"], r["n"], r["h"], r["a"], r["b"]) for r in by_kind.iter_rows(named=True)]
        by_host = probs.filter(pl.col("host").is_not_null()).group_by("host").len().sort(
            ["len", "host"], descending=[True, False])
        hosts = [(r["host"], r["len"]) for r in by_host.iter_rows(named=True)]
        endpoints |= set(probs.filter(pl.col("entity").str.starts_with("redis:")).get_column("entity").unique())
    durations = []
    if report.window_start is not None:
        durations.append(("Incident window", duration(report.window_start, report.window_end)))
    for f in sorted(report.findings, key=lambda f: (f.rule_id, str(f.start))):
        if f.rule_id in ("PM100", "PM101", "PM102", "PM103") and f.start is not None:
            durations.append((f"{f.rule_id} {f.name}", duration(f.start, f.end)))
    return Impact(
        errors=tuple(rows), hosts=tuple(hosts), endpoints=tuple(sorted(endpoints)), pods=tuple(sorted(pods)),
        durations=tuple(durations), total_errors=sum(r.count for r in rows),
    )


@dataclass(frozen=True)
class FirstSign:
    source: str
    ts: datetime
    lag: str
    kind: str
    evidence: Evidence


def detection(events: pl.DataFrame | None) -> tuple[FirstSign, ...]:
    """When each source first showed the problem, and how long after the very first sign."""
    probs = _problems(events)
    if probs is None:
        return ()
    probs = probs.filter(pl.col("ts").is_not_null()).sort(["ts", "path", "line"])
    if probs.height == 0:
        return ()
    firsts = probs.group_by("source", maintain_order=True).first().sort(["ts", "source"])
    t0 = firsts.get_column("ts").min()
    out = []
    for r in firsts.iter_rows(named=True):
        ev = Evidence(path=r["path"], line=int(r["line"] or 0), ts=r["ts"], text=(r["message"] or "")[:300])
        lag = "first sign" if r["ts"] == t0 else f"+{duration(t0, r['ts'])}"
        out.append(FirstSign(r["source"], r["ts"], lag, r["kind"], ev))
    return tuple(out)


@dataclass(frozen=True)
class TimelineRow:
    ts: datetime
    end: datetime | None
    source: str
    title: str
    rule_id: str
    anchor: str  # the finding / evidence this row links to (HTML id)
    evidence: tuple[Evidence, ...]
    row_id: str


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


def gantt_bounds(f: Finding) -> tuple[datetime, datetime] | None:
    if f.start is None:
        return None
    end = f.end if f.end is not None and f.end > f.start else f.start + timedelta(seconds=1)
    return f.start, end
