"""What a detector is, and the evidence helpers every detector uses.

A detector has a `rule` (stable ID, name, severity, doc with What it detects / Why it matters /
Recommendation) and `detect(events, ctx)` yielding `Finding`s. A detector that cannot cite
evidence (file:line) does not report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import polars as pl

from postmortem.analysis.correlate import Context
from postmortem.model import Confidence, Evidence, Finding, Rule, Severity

MAX_EVIDENCE = 8


class Detector(Protocol):
    rule: Rule

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterable[Finding]: ...


def evidence_rows(rows: pl.DataFrame, limit: int = MAX_EVIDENCE) -> tuple[tuple[Evidence, ...], int]:
    """Turn event rows into evidence (first `limit` by time), plus how many more there were."""
    if rows.height == 0:
        return (), 0
    ordered = rows.sort(["ts", "path", "line"], nulls_last=True)
    picked = ordered.head(limit)
    ev = tuple(
        Evidence(path=r["path"], line=int(r["line"] or 0), ts=r["ts"], text=(r["message"] or "")[:500])
        for r in picked.select("path", "line", "ts", "message").iter_rows(named=True)
    )
    return ev, rows.height - len(ev)


def rule_doc(what: str, why: str, recommendation: str) -> str:
    return f"What it detects: {what}\n\nWhy it matters: {why}\n\nRecommendation: {recommendation}"


def finding(
    rule: Rule,
    title: str,
    rows: pl.DataFrame,
    stats: dict,
    confidence: Confidence,
    entities: tuple[str, ...] = (),
    severity: Severity | None = None,
    start=None,
    end=None,
) -> Finding | None:
    """Build a Finding from the event rows that prove it; None when there is no evidence to cite."""
    evidence, more = evidence_rows(rows)
    if not evidence:
        return None
    timed = rows.filter(pl.col("ts").is_not_null())
    if start is None and timed.height:
        start = timed.get_column("ts").min()
    if end is None and timed.height:
        end = timed.get_column("ts").max()
    recommendation = rule.doc.split("Recommendation: ", 1)[-1] if "Recommendation: " in rule.doc else ""
    return Finding(
        rule_id=rule.rule_id, name=rule.name, severity=severity or rule.severity, confidence=confidence,
        title=title, start=start, end=end, entities=tuple(sorted(set(entities))), stats=stats,
        evidence=evidence, evidence_more=more, recommendation=recommendation,
    )


def rows_by_ids(events: pl.DataFrame, ids) -> pl.DataFrame:
    return events.filter(pl.col("event_id").is_in(list(ids)))
