"""The whole analysis as one pure function: paths and options in, a frozen Report out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import polars as pl

from postmortem import __version__
from postmortem.analysis.advice import Facts, action_items, gather, recommendations
from postmortem.analysis.clocks import align
from postmortem.analysis.correlate import build_context
from postmortem.analysis.detectors import DETECTORS
from postmortem.analysis.entities import canonical_events
from postmortem.analysis.limits import maxclients_at
from postmortem.analysis.message_templates import message_templates
from postmortem.analysis.population import client_pods, logged_pool_cap
from postmortem.analysis.sections import with_sections
from postmortem.analysis.source_kinds import missing_sentence
from postmortem.analysis.story import build_story, causes
from postmortem.analysis.timeline import error_bursts
from postmortem.failures import RECOVERABLE
from postmortem.input.events_table import fill_time_ranges
from postmortem.input.ingest import IngestOptions, IngestResult, ingest
from postmortem.messages_apart import messages_apart, restored
from postmortem.model import (
    Confidence,
    Finding,
    InputSummary,
    Report,
    Role,
    ShadedWindow,
    TimelineEntry,
    frozen_mapping,
)
from postmortem.quoting import MAX_MESSAGE, shorten
from postmortem.redaction import redact_events, redact_report, redact_value
from postmortem.schema import empty_events
from postmortem.se_attrs import with_attrs

_RULES = {d.rule.rule_id: d for d in DETECTORS}


@dataclass(frozen=True)
class AnalyzeOptions:
    ingest: IngestOptions = IngestOptions()
    select: tuple[str, ...] = ()  # rule IDs or ID prefixes
    ignore: tuple[str, ...] = ()
    redact: bool = True
    generated_at: str | None = None
    since: object | None = None  # datetime
    until: object | None = None
    align: bool = True  # subtract the clock offsets shared edges show (False: --no-align, raw times)
    # result.events: the analysed table (redacted when `redact`); False where only the Report is wanted (the CLI's
    # analyze, batch): redacting every event of a dense log is seconds of CPU and the analysis' last memory peak
    return_events: bool = True
    # called with the Report's chart data (redacted as the Report will be) as soon as it is known, before the
    # what-if replay: the CLI's `reports.chart_process` draws the charts meanwhile. Not an option of the analysis.
    on_chart_data: Callable | None = field(default=None, compare=False)


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
    serious = [f for f in findings if _RULES[f.rule_id].rule.role != Role.DATA_QUALITY]
    if serious:
        text += " Findings: " + "; ".join(f"{f.rule_id} {f.name}" for f in serious[:6]) + "."
    return text


def _weak(findings: list[Finding]) -> bool:
    """Whether every finding that tells the incident (not the inputs' quality) is of low confidence."""
    return all(f.confidence == Confidence.LOW for f in findings if _RULES[f.rule_id].rule.role != Role.DATA_QUALITY)


def shaded_windows(findings: list[Finding]) -> tuple[ShadedWindow, ...]:
    """The windows of findings whose rule has a chart colour, for the charts to shade."""
    out = []
    for f in findings:
        rule = _RULES[f.rule_id].rule
        if rule.chart_colour and f.start is not None and f.end is not None and f.end >= f.start:
            out.append(ShadedWindow(f.rule_id, f.start, f.end, rule.chart_colour, rule.chart_label or rule.name))
    return tuple(sorted(out, key=lambda w: (w.start, w.rule_id)))


def incident_facts(findings, event_counts, events: pl.DataFrame | None) -> Facts:
    """The facts the recommendations are filled with: the findings' figures first, then, for what no finding
    states, the incident's own (client pods, maxclients, the pool cap the clients logged). Without them a fleet of
    8 pods capped at 3 against maxclients 32 was told to cap its pools at 20 (storm-jitter-pool-8)."""
    facts = gather(findings, event_counts)
    if events is None:
        return facts
    if facts.pods is None:
        facts.pods = client_pods(events) or None
    if facts.maxclients is None:
        limit = maxclients_at(events, None)
        facts.maxclients = int(limit.value) if limit else None
    if facts.pool_cap is None:
        facts.pool_cap = logged_pool_cap(events)
    return facts


def conclusions(findings, event_counts, events: pl.DataFrame | None = None) -> dict:
    """What the rules conclude from their findings, as Report fields: the causes grouping, the
    recommendations (filled with the incident's facts), the action items and the shaded chart windows."""
    findings = list(findings)
    facts = incident_facts(findings, event_counts, events)
    return {
        "causes": causes(findings, DETECTORS),
        "recommendations": recommendations(findings, lambda rule_id: _RULES[rule_id].advise(facts)),
        "action_items": action_items((r, _RULES[r].rule.actions) for r in {f.rule_id for f in findings}),
        "shaded_windows": shaded_windows(findings),
    }


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
    """The Report (frozen, with every derived section and the chart data) and the ingest result whose
    `events` are the analysed window (for `parse`, tests and tools that need the table; an empty table
    with `return_events=False`)."""
    opts = opts or AnalyzeOptions()
    result = ingest(paths, replace(opts.ingest, se_fields_in_message=True))  # each timeout's fields once
    clocks = align(result.events, result.inputs, opts.ingest, apply=opts.align)  # one clock before correlation
    events = clocks.events
    clocks = replace(clocks, events=empty_events())  # the table is held once: `messages_apart` lets its messages go
    if opts.align and clocks.offsets:
        fill_time_ranges(result.inputs, events)
    if opts.since is not None:
        events = events.filter(pl.col("ts").is_null() | (pl.col("ts") >= opts.since))
    if opts.until is not None:
        events = events.filter(pl.col("ts").is_null() | (pl.col("ts") <= opts.until))
    events, servers = canonical_events(events)  # one Redis, one entity, whatever the sources called it
    with messages_apart(events) as events:  # the timeouts' long messages read back by `restored`
        result.events = events  # callers that want the table see the same window as the detectors
        ctx = build_context(events, result.inputs, result.assumptions)
        ctx.extras["clock_offsets"] = clocks.offsets  # the clock-skew rule reports them
        ctx.extras["clocks_corrected"] = clocks.applied
        findings = run_detectors(events, ctx, opts, result.warnings)
        timeline: list[TimelineEntry] = error_bursts(events)
        story = build_story(findings, DETECTORS)
        accounting = summarize(result, findings, ctx.window_start, ctx.window_end)
        summary = story.summary if story and story.summary else accounting
        if (summary is accounting or _weak(findings)) and (missing := missing_sentence(events)) is not None:
            summary += " " + missing  # nothing found, or only weakly: say what the inputs could not have shown
        unrecognized = [s.text for f in result.inputs for s in f.unrecognized_samples]
        templates = message_templates(events, unrecognized, redacted=opts.redact)
        counts = {r["source"]: r["len"] for r in events.group_by("source").len().sort("source").iter_rows(named=True)}
        report = Report(
            tool_version=__version__,
            inputs=tuple(InputSummary.of(f) for f in result.inputs),
            window_start=ctx.window_start,
            window_end=ctx.window_end,
            summary=summary,
            accounting=accounting,
            findings=tuple(findings),
            timeline=tuple(timeline),
            assumptions=tuple(ctx.assumptions),
            warnings=tuple(shorten(w, MAX_MESSAGE) for w in result.warnings),  # a warning may quote input
            event_counts=frozen_mapping(counts),
            redacted=opts.redact,
            generated_at=opts.generated_at,
            templates=tuple(frozen_mapping(t) for t in templates),
            clocks=clocks.clocks,
            **conclusions(findings, counts, events),
        )
        report = with_sections(report, events)
        if opts.on_chart_data is not None:
            opts.on_chart_data(redact_value(report.charts) if opts.redact else report.charts)
        replay_warnings: list[str] = []
        from postmortem.analysis.replay.section import whatif_section  # late: numpy loads only for the replay

        report = replace(report, whatif=whatif_section(events, report.recommendations, replay_warnings),
                         warnings=report.warnings + tuple(replay_warnings))
        result.warnings.extend(replay_warnings)
        if opts.redact:  # the one redaction pass: everything that leaves the analysis
            report = redact_report(report)
            result.events = redact_events(with_attrs(restored(events))) if opts.return_events else events
            result.inputs = list(report.inputs)
            result.warnings = list(report.warnings)
        if not opts.return_events:
            result.events = empty_events()
        elif not opts.redact:
            result.events = with_attrs(restored(events))
    return report, result
