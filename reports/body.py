"""The two-page body of a postmortem, laid out from the Report alone: status line, the Summary's closing
sentence, user-facing and Redis-side impact lines, the timeline's key moments. Markdown, HTML and Jira
share it, so the three bodies say the same thing; everything else goes to the appendix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from postmortem.model import Report, Severity, TimelineRow, duration

MAX_MOMENTS = 16  # the timeline keeps the moments that matter: two pages in all
MAX_IMPACT_KINDS = 5
MAX_ACTIONS = 8
MAX_AMPLIFIERS = 6  # each is also in the timeline and the lessons; the rest are in the appendix
# A pod name's generated suffixes (deployment: -<replicaset hash>-<5 chars>; statefulset: -<ordinal>).
_POD_SUFFIX = re.compile(r"-(?:[a-z0-9]{6,10}-[a-z0-9]{5}|[0-9]+)$")
_SERVER_KINDS = ("redis.server.", "metric.")


@dataclass(frozen=True)
class Status:
    severity: str
    date: str
    duration: str
    services: tuple[str, ...]


def services(report: Report) -> tuple[str, ...]:
    """Affected services: hosts with problems, pod suffixes dropped, then the Redis endpoints."""
    names = dict.fromkeys(_POD_SUFFIX.sub("", h) for h, _ in report.impact.hosts)
    return tuple(names) + tuple(e for e in report.impact.endpoints if e not in names)


def status(report: Report) -> Status:
    serious = [f.severity for f in report.findings if f.rule_id >= "PM1"]
    sev = max(serious, default=Severity.INFO).label() if serious else "none found"
    date = report.window_start.strftime("%Y-%m-%d") if report.window_start else "unknown"
    span = (f"{duration(report.window_start, report.window_end)} ({report.window_start:%H:%M:%S} → "
            f"{report.window_end:%H:%M:%S} UTC)") if report.window_start and report.window_end else "unknown"
    return Status(sev, date, span, services(report)[:6])


def ending(report: Report) -> str:
    """How it ended, one sentence, from the resolution steps the analysis found in the evidence."""
    steps = report.resolution
    if not steps:
        return ""
    acts = [s for s in steps if s.what != "recovered"]
    last = next((s for s in reversed(steps) if s.what == "recovered"), None)
    text = ""
    if acts:
        text = f"It eased at {acts[0].ts:%H:%M:%S} UTC: {acts[0].text}."
    if last is not None and report.window_start is not None:
        text += f"{' ' if text else ''}The last problem was logged at {last.ts:%H:%M:%S} UTC."
    return text


def user_facing(report: Report) -> list[tuple[str, int, int]]:
    """(kind, events, hosts) of the client-side problems: what callers of Redis saw."""
    return [(k.kind, k.count, k.hosts) for k in report.impact.errors
            if not k.kind.startswith(_SERVER_KINDS)][:MAX_IMPACT_KINDS]


def server_side(report: Report) -> list[tuple[str, int, int, str]]:
    """(kind, count, hosts, unit) of the server-side problems (a shutdown counted as shutdowns, not lines)."""
    return [(k.kind, k.count, k.hosts, k.unit) for k in report.impact.errors
            if k.kind.startswith(_SERVER_KINDS)][:MAX_IMPACT_KINDS]


def consequences(report: Report) -> list:
    """The findings the story counts as impact (Redis-side figures such as rejected connections)."""
    return [report.findings[i] for group, idx in report.causes if group == "impact" for i in idx]


def _picked(report: Report) -> list[TimelineRow]:
    """Every finding's start, the resolution, then the largest bursts, in time order."""
    rows = list(report.merged_timeline)
    if len(rows) <= MAX_MOMENTS:
        return rows
    found = [i for i, r in enumerate(rows) if r.source == "finding"][:MAX_MOMENTS]
    rest = [i for i, r in enumerate(rows) if r.source != "finding"]
    room = MAX_MOMENTS - len(found)
    picked = found + (rest[:room - 2] + rest[-2:] if room >= 4 else rest[:room])
    return [rows[i] for i in sorted(set(picked))]


def moments(report: Report) -> list[TimelineRow]:
    """The timeline's key moments, findings that start together on one row."""
    return _same_moment_merged(_picked(report))


def more_moments(report: Report) -> int:
    """Timeline rows the body leaves to the appendix."""
    return len(report.merged_timeline) - len(_picked(report))


def _same_moment_merged(rows: list[TimelineRow]) -> list[TimelineRow]:
    """Findings that start at the same instant as one row naming each (their titles are in Root cause),
    with each one's first evidence."""
    groups: list[list[TimelineRow]] = []
    for row in rows:
        if groups and row.source == "finding" == groups[-1][0].source and row.ts == groups[-1][0].ts:
            groups[-1].append(row)
        else:
            groups.append([row])
    return [g[0] if len(g) == 1 else replace(g[0], title="; ".join(_headline(r) for r in g),
                                              evidence=tuple(r.evidence[0] for r in g if r.evidence))
            for g in groups]


def _headline(row: TimelineRow) -> str:
    return row.title.split(":", 1)[0]


def body(report: Report) -> dict:
    """What the two-page body shows besides the Report's own fields."""
    return {
        "status": status(report), "ending": ending(report), "user_facing": user_facing(report),
        "server_side": server_side(report), "consequences": consequences(report)[:5],
        "moments": moments(report), "more_moments": more_moments(report), "actions": report.action_items[:MAX_ACTIONS],
        "max_amplifiers": MAX_AMPLIFIERS, "more_actions": max(0, len(report.action_items) - MAX_ACTIONS),
    }
