"""Redact every log-derived string of a Report before any renderer sees it.

The pipeline redacts evidence; titles, entities, stats values, templates, samples, problems and
extras can also carry log text, so the report layer redacts the whole value once more (redaction is
idempotent). Nothing happens when the user asked for `--no-redact`.
"""

from __future__ import annotations

import dataclasses

from postmortem.model import Evidence, Finding, InputSummary, Report, TimelineEntry, UnrecognizedSample
from postmortem.redaction import redact_text


def scrub(value: object) -> object:
    """Redact strings inside any JSON-like value (dict keys too), keeping its shape."""
    if isinstance(value, str):
        return redact_text(value) or ""
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v) for v in value)
    return value


def _evidence(ev: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    return tuple(dataclasses.replace(e, path=scrub(e.path), text=scrub(e.text)) for e in ev)


def _finding(f: Finding) -> Finding:
    return dataclasses.replace(
        f, title=scrub(f.title), entities=scrub(tuple(f.entities)), stats=scrub(dict(f.stats)),
        evidence=_evidence(f.evidence), recommendation=scrub(f.recommendation),
    )


def _timeline(t: TimelineEntry) -> TimelineEntry:
    return dataclasses.replace(t, title=scrub(t.title), source=scrub(t.source), evidence=_evidence(t.evidence))


def _input(i: InputSummary) -> InputSummary:
    return dataclasses.replace(
        i, path=scrub(i.path), problems=tuple(scrub(p) for p in i.problems),
        unrecognized_samples=tuple(UnrecognizedSample(s.line, scrub(s.text)) for s in i.unrecognized_samples),
    )


def redact_report(report: Report) -> Report:
    """The report with secrets masked everywhere, or unchanged under --no-redact."""
    if not report.redacted:
        return report
    return dataclasses.replace(
        report,
        inputs=tuple(_input(i) for i in report.inputs),
        summary=scrub(report.summary),
        findings=tuple(_finding(f) for f in report.findings),
        timeline=tuple(_timeline(t) for t in report.timeline),
        assumptions=scrub(tuple(report.assumptions)),
        warnings=scrub(tuple(report.warnings)),
        event_counts=scrub(dict(report.event_counts)),
        templates=tuple(scrub(dict(t)) for t in report.templates),
        extras=scrub(dict(report.extras)),
        story=scrub(dict(report.story)),
    )
