"""What the batch index knows about one incident, read back from its report.json (the JSON contract).

Reading the written JSON, rather than keeping Report objects, gives fresh and cached incidents the
same path into the index and keeps the parent's memory flat however many incidents there are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from postmortem.model import Severity

# Rule roles in the causal chain (design.md §5): trigger + amplifier (root cause) → impact.
TRIGGER_RULES = ("PM100", "PM107")
DATA_QUALITY_PREFIX = "PM0"
ROOT_CAUSE_PREFIX = "PM4"


def rule_role(rule_id: str) -> str:
    """'trigger', 'root cause', 'data quality' or 'impact', from the rule catalogue's numbering."""
    if rule_id in TRIGGER_RULES:
        return "trigger"
    if rule_id.startswith(ROOT_CAUSE_PREFIX):
        return "root cause"
    if rule_id.startswith(DATA_QUALITY_PREFIX):
        return "data quality"
    return "impact"


@dataclass(frozen=True)
class FindingRow:
    """One finding without its evidence: enough for tables, recurrence and similarity."""

    rule_id: str
    name: str
    severity: str
    confidence: str
    title: str
    start: datetime | None
    end: datetime | None
    stats: dict

    @property
    def rank(self) -> int:
        try:
            return int(Severity[self.severity.upper()])
        except KeyError:
            return -1

    def numeric_stats(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.stats.items()
                if isinstance(v, int | float) and not isinstance(v, bool)}


@dataclass(frozen=True)
class IncidentSummary:
    """One incident as the index shows it; `error` set means it could not be analyzed."""

    name: str
    error: str = ""
    window_start: datetime | None = None
    window_end: datetime | None = None
    summary: str = ""
    findings: tuple[FindingRow, ...] = ()
    cached: bool = False

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def duration_seconds(self) -> float | None:
        if self.window_start is None or self.window_end is None:
            return None
        return (self.window_end - self.window_start).total_seconds()

    def rule_ids(self) -> list[str]:
        return sorted({f.rule_id for f in self.findings})

    def _top(self, pred) -> FindingRow | None:
        """The most severe finding whose rule passes `pred`; ties go to the lowest rule ID."""
        hits = [f for f in self.findings if pred(f.rule_id)]
        return min(hits, key=lambda f: (-f.rank, f.rule_id), default=None)

    def trigger(self) -> FindingRow | None:
        return self._top(lambda r: rule_role(r) == "trigger")

    def root_cause(self) -> FindingRow | None:
        """The most severe client-configuration finding (PM4xx), else the most severe non-input one."""
        return self._top(lambda r: rule_role(r) == "root cause") or self._top(
            lambda r: rule_role(r) != "data quality")


def _ts(value: object) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def summary_from_json(name: str, text: str, cached: bool = False) -> IncidentSummary:
    """Build the summary from a report.json text (keys per design.md §6)."""
    doc = json.loads(text)
    window = doc.get("window") or {}
    findings = tuple(
        FindingRow(
            rule_id=str(f.get("rule_id", "")), name=str(f.get("name", "")), severity=str(f.get("severity", "")),
            confidence=str(f.get("confidence", "")), title=str(f.get("title", "")),
            start=_ts(f.get("start")), end=_ts(f.get("end")), stats=dict(f.get("stats") or {}),
        )
        for f in doc.get("findings") or ()
    )
    return IncidentSummary(name=name, window_start=_ts(window.get("start")), window_end=_ts(window.get("end")),
                           summary=str(doc.get("summary", "")), findings=findings, cached=cached)
