"""What `postmortem analyze` prints on a terminal: a summary that fits one screen and where the full
report went. Plain text (no Markdown escapes); colour only when asked (the CLI: a TTY and no NO_COLOR)."""

from __future__ import annotations

import textwrap

from postmortem.model import Report
from reports.body import body, user_facing

MAX_LINES = 24  # one screen of a default 80x24 terminal
_SEVERITY_COLOUR = {"critical": "red", "high": "red", "medium": "yellow", "low": "cyan", "info": "cyan"}


def _style(text: str, colour: bool, **kw) -> str:
    if not colour:
        return text
    import click

    return click.style(text, **kw)


def terminal_summary(report: Report, written: str, width: int = 100, colour: bool = False) -> str:
    """The short account: status, summary, trigger and amplifiers, impact, how it ended, first moves,
    and the report file; at most MAX_LINES lines of at most `width` characters."""
    width = max(40, width)
    b = body(report)
    st = b["status"]
    sev = _style(st.severity, colour, fg=_SEVERITY_COLOUR.get(st.severity), bold=True)
    head = _style("Postmortem", colour, bold=True)
    lines = [f"{head} {st.date} · {st.duration} · severity {sev}"]
    wrap = lambda text, indent="": textwrap.wrap(text, width, initial_indent=indent,  # noqa: E731
                                                 subsequent_indent=" " * len(indent)) or [indent]
    story = report.summary + (f" {b['ending']}" if b["ending"] else "")
    lines += wrap(story)[:8]
    trig = [report.findings[i] for g, idx in report.causes if g == "trigger" for i in idx]
    amps = [report.findings[i] for g, idx in report.causes if g == "amplifiers" for i in idx]
    if trig:
        lines += wrap(f"{trig[0].rule_id} {trig[0].name}: {trig[0].title}", "Trigger: ")[:2]
    if amps:
        lines += wrap(", ".join(f"{f.rule_id} {f.name}" for f in amps), "Amplified by: ")[:2]
    risks = [report.findings[i] for g, idx in report.causes if g == "risks" for i in idx]
    if risks:
        lines += wrap(", ".join(f"{f.rule_id} {f.name}" for f in risks), "Risks (did not act): ")[:2]
    hits = user_facing(report)
    if hits:
        lines += wrap("; ".join(f"{k} ×{n} on {h} hosts" for k, n, h in hits[:3]), "Impact: ")[:2]
    moves = [step.split(":", 1)[0] for step in report.stop_the_bleeding]
    if moves:
        lines += wrap(", ".join(f"{i}. {m}" for i, m in enumerate(moves, 1)), "Do now: ")[:2]
    if not report.findings:
        lines.append("No findings: nothing in the inputs points at a Redis incident.")
    lines = lines[:MAX_LINES - 1]
    lines.append(_style(f"Full report: {written}", colour, bold=True))
    return "\n".join(lines) + "\n"
