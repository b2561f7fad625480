"""The whole analysis as one pure function: paths and options in, a frozen Report out."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from postmortem import __version__
from postmortem.analysis.correlate import build_context
from postmortem.analysis.detectors import DETECTORS
from postmortem.analysis.message_templates import message_templates
from postmortem.analysis.story import build_story
from postmortem.analysis.timeline import error_bursts
from postmortem.failures import RECOVERABLE
from postmortem.input.ingest import IngestOptions, IngestResult, ingest
from postmortem.model import Finding, Report, TimelineEntry
from postmortem.redaction import redact_events, redact_report


@dataclass(frozen=True)
class AnalyzeOptions:
    ingest: IngestOptions = IngestOptions()
    select: tuple[str, ...] = ()  # rule IDs or prefixes ("PM1")
    ignore: tuple[str, ...] = ()
    redact: bool = True
    generated_at: str | None = None
    since: object | None = None  # datetime
    until: object | None = None


def _wanted(rule_id: str, opts: AnalyzeOptions) -> bool:
    if opts.select and not any(rule_id.startswith(s) for s in opts.select):
        return False
    return not any(rule_id.startswith(s) for s in opts.ignore)


def summarize(result: IngestResult, findings: list[Finding], start, end) -> str:
    """A plain account of what was read and found; story.py replaces it with the causal chain."""
    files = [f for f in result.inputs if not f.skipped]
    lines = sum(f.lines for f in files)
    unrec = sum(f.unrecognized_lines for f in files)
    ev = result.events
    by_source = ev.group_by("source").len().sort("source")
    parts = ", ".join(f"{r['len']} {r['source']}" for r in by_source.iter_rows(named=True))
    text = f"Read {len(files)} files ({lines} lines) into {ev.height} events ({parts or 'none'}); {unrec} lines unrecognized."
    if start is not None:
        text += f" Problems span {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC."
    serious = [f for f in findings if f.rule_id != "PM001"]
    if serious:
        text += " Findings: " + "; ".join(f"{f.rule_id} {f.name}" for f in serious[:6]) + "."
    return text


def run_detectors(events: pl.DataFrame, ctx, opts: AnalyzeOptions, warnings: list[str]) -> list[Finding]:
    """Run the selected detectors; one detector's bug becomes a warning, never a lost report."""
    findings: list[Finding] = []
    for det in DETECTORS:
        if not _wanted(det.rule.rule_id, opts):
            continue
        try:
            findings.extend(det.detect(events, ctx))
        except RECOVERABLE as exc:  # noqa: BLE001
            warnings.append(f"detector {det.rule.rule_id} failed: {type(exc).__name__}: {exc}")
    findings.sort(key=lambda f: (-int(f.severity), f.rule_id, str(f.start or "")))
    return findings


def analyze(paths: list[str], opts: AnalyzeOptions | None = None) -> tuple[Report, IngestResult]:
    opts = opts or AnalyzeOptions()
    result = ingest(paths, opts.ingest)
    events = result.events
    if opts.since is not None:
        events = events.filter(pl.col("ts").is_null() | (pl.col("ts") >= opts.since))
    if opts.until is not None:
        events = events.filter(pl.col("ts").is_null() | (pl.col("ts") <= opts.until))
    result.events = events  # renderers (impact, charts) see the same window as the detectors
    ctx = build_context(events, result.inputs, result.assumptions)
    findings = run_detectors(events, ctx, opts, result.warnings)
    timeline: list[TimelineEntry] = error_bursts(events)
    story = build_story(findings)
    accounting = summarize(result, findings, ctx.window_start, ctx.window_end)
    summary = f"{story.summary} {accounting}" if story and story.summary else accounting
    unrecognized = [s.text for f in result.inputs for s in f.unrecognized_samples]
    templates = message_templates(events, unrecognized)
    counts = {r["source"]: r["len"] for r in events.group_by("source").len().sort("source").iter_rows(named=True)}
    report = Report(
        tool_version=__version__,
        inputs=tuple(result.inputs),
        window_start=ctx.window_start,
        window_end=ctx.window_end,
        summary=summary,
        findings=tuple(findings),
        timeline=tuple(timeline),
        assumptions=tuple(ctx.assumptions),
        warnings=tuple(result.warnings),
        event_counts=counts,
        redacted=opts.redact,
        generated_at=opts.generated_at,
        templates=tuple(templates),
        story=story.as_dict() if story else {},
    )
    if opts.redact:  # the one redaction pass: everything that leaves the analysis
        report = redact_report(report)
        result.events = redact_events(events)
        result.inputs = list(report.inputs)
        result.warnings = list(report.warnings)
    return report, result
