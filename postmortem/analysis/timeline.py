"""The merged timeline: bursts of problem events per source and kind, in UTC.

A burst is a run of problem events of one (source, kind) with gaps below `BURST_GAP`.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from postmortem.analysis.correlate import INCIDENT_COLUMNS, incident_problems
from postmortem.analysis.detectors.base import evidence_rows
from postmortem.model import TimelineEntry

BURST_GAP = timedelta(seconds=30)
MAX_ENTRIES = 60


def error_bursts(events: pl.DataFrame) -> list[TimelineEntry]:
    # only what a burst reads (its evidence: path, line, ts, message): a filter copies every column it keeps
    problems = incident_problems(
        events.select(list(dict.fromkeys(("ts", "source", "kind", "host", "path", "line", "message", *INCIDENT_COLUMNS))))
    ).filter(pl.col("ts").is_not_null()).sort("ts")
    if problems.height == 0:
        return []
    problems = problems.with_columns(
        burst=(
            (pl.col("ts").diff().over(["source", "kind"]).fill_null(BURST_GAP * 2) > BURST_GAP)
            .cast(pl.UInt32)
            .cum_sum()
            .over(["source", "kind"])
        )
    )
    entries: list[TimelineEntry] = []
    for (source, kind, _), group in problems.group_by(["source", "kind", "burst"], maintain_order=True):
        ev, _more = evidence_rows(group, limit=1)
        start, end = group.get_column("ts").min(), group.get_column("ts").max()
        hosts = group.get_column("host").drop_nulls().n_unique()
        where = f" from {hosts} hosts" if hosts > 1 else ""
        entries.append(
            TimelineEntry(
                ts=start, end=end if end != start else None, source=source,
                title=f"{group.height} × {kind}{where}", count=group.height, evidence=ev,
            )
        )
    entries.sort(key=lambda e: (e.ts, e.source, e.title))
    if len(entries) > MAX_ENTRIES:
        entries = sorted(sorted(entries, key=lambda e: -e.count)[:MAX_ENTRIES], key=lambda e: (e.ts, e.source))
    return entries
