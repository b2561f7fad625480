"""What a detector is, and the evidence helpers every detector uses.

A detector has a `rule` (stable ID, name, severity, doc with What it detects / Why it matters /
Recommendation) and `detect(events, ctx)` yielding `Finding`s. A detector that cannot cite
evidence (file:line) does not report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import polars as pl

from postmortem.correlate import Context
from postmortem.model import Evidence, Finding, Rule

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
