"""What the batch index knows about one incident, read back from its report.json (the JSON contract).

Reading the written JSON, rather than keeping Report objects, gives fresh and cached incidents the
same path into the index and keeps the parent's memory flat however many incidents there are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from postmortem.analysis.detectors import DETECTORS
from postmortem.model import Role, Rule, Severity

_RULES: dict[str, Rule] = {d.rule.rule_id: d.rule for d in DETECTORS}

# What the index calls each part of the causal chain (design.md §5); a configuration cause is a root cause.
_LABELS = {Role.TRIGGER: "trigger", Role.AMPLIFIER: "amplifier", Role.CONSEQUENCE: "impact",
           Role.DATA_QUALITY: "data quality"}
ROOT_CAUSE = "root cause"


def rule_role(rule_id: str) -> str:
    """'root cause', 'trigger', 'amplifier', 'impact' or 'data quality', from the rule's role; a rule
    this version does not know (a report from another version) counts as impact."""
    rule = _RULES.get(rule_id)
    if rule is None:
        return "impact"
    return ROOT_CAUSE if rule.config_cause else _LABELS[rule.role]


def cause_rank(rule_id: str) -> int | None:
    """`Rule.cause_rank` (0 explains the incident best, None explains nothing); unknown rules rank last."""
    rule = _RULES.get(rule_id)
    return 3 if rule is None else rule.cause_rank


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
    story_trigger: tuple[str, ...] = ()  # the report's trigger rules in its story's order: the lead first

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
        """The trigger the report's summary leads with (story.py: by the evidence), else the most severe one."""
        lead = next((f for r in self.story_trigger[:1] for f in self.findings if f.rule_id == r), None)
        return lead or self._top(lambda r: rule_role(r) == "trigger")

    def root_cause(self) -> FindingRow | None:
        """The finding that best explains the incident: the best `cause_rank` (a configuration to fix,
        then a trigger, another amplifier, a consequence), then the most severe, then the lowest rule ID."""
        ranked = [(cause_rank(f.rule_id), f) for f in self.findings]
        ranked = [(r, f) for r, f in ranked if r is not None]
        lead = self.trigger()  # among triggers, the one the summary leads with
        return min(ranked, key=lambda rf: (rf[0], rf[1] is not lead, -rf[1].rank, rf[1].rule_id),
                   default=(None, None))[1]


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
                           summary=str(doc.get("summary", "")), findings=findings, cached=cached,
                           story_trigger=tuple(str(r) for r in (doc.get("story") or {}).get("trigger") or ()))
