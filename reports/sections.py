"""Root causes grouped by role, and the gantt bounds of a finding, from the Report alone.

Impact, detection and the merged timeline are derived in the analysis (postmortem/analysis/sections.py)
and stored in the Report. Ordering is total (ties broken by text) so output is deterministic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from postmortem.model import Finding, Report


def causes(report: Report) -> dict[str, list[tuple[int, Finding]]]:
    """Findings (with their index, for anchors) grouped as trigger / amplifiers / impact / risks, as the
    analysis grouped them (`Report.causes`, from each rule's role)."""
    groups: dict[str, list[tuple[int, Finding]]] = {"trigger": [], "amplifiers": [], "impact": [], "risks": []}
    for group, indices in report.causes:
        groups.setdefault(group, []).extend((i, report.findings[i]) for i in indices)
    return groups


def gantt_bounds(f: Finding) -> tuple[datetime, datetime] | None:
    if f.start is None:
        return None
    end = f.end if f.end is not None and f.end > f.start else f.start + timedelta(seconds=1)
    return f.start, end
