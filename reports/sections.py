"""Root causes grouped by role, and the gantt bounds of a finding, from the Report alone.

Impact, detection and the merged timeline are derived in the analysis (postmortem/analysis/sections.py)
and stored in the Report. Ordering is total (ties broken by text) so output is deterministic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from postmortem.model import Finding, Report

TRIGGER_RULES = ("PM100", "PM202")
AMPLIFIER_RULES = ("PM101", "PM102", "PM203")
QUALITY_RULES = ("PM001", "PM002")


def cause_of(rule_id: str) -> str:
    """Rule family → role in the metastable-failure story (design.md §5)."""
    if rule_id in TRIGGER_RULES:
        return "trigger"
    if rule_id in AMPLIFIER_RULES or rule_id.startswith("PM4"):
        return "amplifiers"
    if rule_id in QUALITY_RULES:
        return "data"
    return "impact"


def causes(report: Report) -> dict[str, list[tuple[int, Finding]]]:
    """Findings (with their index, for anchors) grouped as trigger / amplifiers / impact.

    `report.story` (postmortem/analysis/story.py) wins when it lists rule IDs; otherwise the rule family decides.
    """
    groups: dict[str, list[tuple[int, Finding]]] = {"trigger": [], "amplifiers": [], "impact": []}
    placed: dict[str, str] = {}
    for role in groups:
        for item in report.story.get(role, ()) or ():
            rid = item.get("rule_id") if isinstance(item, dict) else item
            if isinstance(rid, str):
                placed.setdefault(rid, role)
    for i, f in enumerate(report.findings):
        role = placed.get(f.rule_id) or cause_of(f.rule_id)
        if role in groups:
            groups[role].append((i, f))
    return groups


def gantt_bounds(f: Finding) -> tuple[datetime, datetime] | None:
    if f.start is None:
        return None
    end = f.end if f.end is not None and f.end > f.start else f.start + timedelta(seconds=1)
    return f.start, end
