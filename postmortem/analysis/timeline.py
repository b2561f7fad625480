"""The merged timeline: bursts of problem events per source and kind, in UTC.

A burst is a run of problem events of one (source, kind) with gaps below `BURST_GAP`.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from postmortem.analysis.correlate import INCIDENT_COLUMNS, incident_problems
from postmortem.analysis.detectors.base import evidence_rows
from postmortem.messages_apart import restored
from postmortem.model import TimelineEntry

BURST_GAP = timedelta(seconds=30)
MAX_ENTRIES = 60


def error_bursts(events: pl.DataFrame) -> list[TimelineEntry]:
    # only what a burst reads (its evidence: path, line, ts, message): a filter copies every column it keeps
    problems = incident_problems(
        events.select(list(dict.fromkeys(("event_id", "ts", "source", "kind", "host", "path", "line", "message", *INCIDENT_COLUMNS))))
    )
    # each a copy of the problem rows (most of a dense log's), made only when it changes them: a sort of rows already in
    # time order leaves them in their order
    if problems.get_column("ts").null_count():
        problems = problems.filter(pl.col("ts").is_not_null())
    if problems.height == 0:
        return []
    if not problems.get_column("ts").is_sorted():
        problems = problems.sort("ts")
    problems = problems.with_columns(
        burst=(
            (pl.col("ts").diff().over(["source", "kind"]).fill_null(BURST_GAP * 2) > BURST_GAP)
            .cast(pl.UInt32)
            .cum_sum()
            .over(["source", "kind"])
        )
    )
    # a burst's figures are one aggregation, and its evidence (its first row by time, file and line) is read from its
    # rows at its first instant only: a copy of every burst's rows and a sort of them was +75 MiB on the dense 1 GiB log
    keys = ["source", "kind", "burst"]
    bursts = problems.group_by(keys, maintain_order=True).agg(
        start=pl.col("ts").min(), end=pl.col("ts").max(), count=pl.len(), hosts=pl.col("host").drop_nulls().n_unique())
    first = restored(problems.filter(pl.col("ts") == pl.col("ts").min().over(keys)))  # their texts read back at once
    evidence = {k: evidence_rows(g, limit=1)[0] for k, g in first.group_by(keys, maintain_order=True)}
    entries: list[TimelineEntry] = []
    for source, kind, burst, start, end, count, hosts in bursts.iter_rows():
        where = f" from {hosts} hosts" if hosts > 1 else ""
        entries.append(
            TimelineEntry(
                ts=start, end=end if end != start else None, source=source,
                title=f"{count} × {kind}{where}", count=count, evidence=evidence[(source, kind, burst)],
            )
        )
    entries.sort(key=lambda e: (e.ts, e.source, e.title))
    if len(entries) > MAX_ENTRIES:
        entries = sorted(sorted(entries, key=lambda e: -e.count)[:MAX_ENTRIES], key=lambda e: (e.ts, e.source))
    return entries
