"""A Mermaid gantt block of the key findings for Markdown viewers that render it (GitHub, GitLab).

Mermaid syntax is fragile (`:` ends a task name, `#` starts a comment, `;` ends a statement, brackets
open shapes), so labels keep only an allow-list of characters.
"""

from __future__ import annotations

import re

from postmortem.model import Report
from reports.sections import causes, gantt_bounds

_SECTIONS = (("trigger", "Trigger"), ("amplifiers", "Amplifiers"), ("impact", "Impact"))


def mermaid_label(text: object, limit: int = 60) -> str:
    s = re.sub(r"[^A-Za-z0-9 ._/+-]", " ", str(text or ""))
    s = re.sub(r"\s+", " ", s).strip()[:limit].strip()
    return s or "finding"


def gantt(report: Report) -> str:
    """The gantt block (without fences), or "" when no finding has a time window."""
    lines = ["gantt", "    title Key findings, UTC", "    dateFormat YYYY-MM-DD HH:mm:ss",
             "    axisFormat %H:%M:%S"]
    tasks = 0
    groups = causes(report)
    for role, title in _SECTIONS:
        rows = [(i, f, gantt_bounds(f)) for i, f in groups[role]]
        rows = sorted([r for r in rows if r[2]], key=lambda r: (r[2][0], r[1].rule_id))
        if not rows:
            continue
        lines.append(f"    section {title}")
        for i, f, (start, end) in rows:
            tag = "crit, " if int(f.severity) >= 3 else ""
            lines.append(f"    {mermaid_label(f.rule_id + ' ' + f.name)} :{tag}f{i}, "
                         f"{start:%Y-%m-%d %H:%M:%S}, {end:%Y-%m-%d %H:%M:%S}")
            tasks += 1
    return "\n".join(lines) + "\n" if tasks else ""
