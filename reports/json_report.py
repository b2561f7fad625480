"""The JSON report: a plain dict whose keys are a contract (design.md §6)."""

from __future__ import annotations

import json
from datetime import datetime

from postmortem.model import Evidence, Finding, InputSummary, Report, TimelineEntry


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _evidence(e: Evidence) -> dict:
    return {"path": e.path, "line": e.line, "ts": iso(e.ts), "text": e.text}


def _finding(f: Finding) -> dict:
    return {
        "rule_id": f.rule_id,
        "name": f.name,
        "severity": f.severity.label(),
        "confidence": f.confidence.label(),
        "title": f.title,
        "start": iso(f.start),
        "end": iso(f.end),
        "entities": list(f.entities),
        "stats": f.stats,
        "evidence": [_evidence(e) for e in f.evidence],
        "evidence_more": f.evidence_more,
        "recommendation": f.recommendation,
    }


def _input(i: InputSummary) -> dict:
    return {
        "path": i.path,
        "parser": i.parser,
        "records": i.records,
        "events": i.events,
        "unrecognized_lines": i.unrecognized_lines,
        "first_ts": iso(i.first_ts),
        "last_ts": iso(i.last_ts),
        "lines": i.lines,
        "blank_lines": i.blank_lines,
        "encoding": i.encoding,
        "size_bytes": i.size_bytes,
        "skipped": i.skipped,
        "problems": list(i.problems),
        "unrecognized_samples": [{"line": s.line, "text": s.text} for s in i.unrecognized_samples],
    }


def _timeline(t: TimelineEntry) -> dict:
    return {
        "ts": iso(t.ts), "end": iso(t.end), "source": t.source, "title": t.title, "count": t.count,
        "rule_id": t.rule_id or None, "evidence": [_evidence(e) for e in t.evidence],
    }


def _clock(c) -> dict:
    return {"path": c.path, "host": c.host, "source": c.source, "zone": c.zone, "how": c.how,
            "offset_s": c.offset_s, "corrected": c.corrected, "note": c.note}


def report_dict(report: Report) -> dict:
    return {
        "tool": {"name": "postmortem", "version": report.tool_version},
        "generated_at": report.generated_at,
        "inputs": [_input(i) for i in report.inputs],
        "window": {"start": iso(report.window_start), "end": iso(report.window_end)},
        "summary": report.summary,
        "findings": [_finding(f) for f in report.findings],
        "timeline": [_timeline(t) for t in report.timeline],
        "assumptions": list(report.assumptions),
        "clocks": [_clock(c) for c in report.clocks],
        "warnings": list(report.warnings),
        "event_counts": dict(report.event_counts),
        "templates": [dict(t) for t in report.templates],
        "redacted": report.redacted,
        "whatif": _whatif(report.whatif),
    }


def _whatif(w) -> dict | None:
    """The replay section (postmortem/analysis/replay/): calibration, predictions, chart series."""
    if w is None:
        return None
    return {
        "calibrated": w.calibrated, "tolerance": w.tolerance, "verdict": w.verdict, "horizon_s": w.horizon_s,
        "inputs": list(w.inputs),
        "rows": [{"label": r.label, "policy": r.policy, "peak_logged_attempts_per_s": r.peak_attempts,
                  "peak_connections": r.peak_connections, "maxclients": r.maxclients,
                  "rejections": r.rejections, "recovery_s": r.recovery_s} for r in w.rows],
        "chart": [{"key": c.key, "xs": [iso(x) for x in c.xs], "ys": list(c.ys)} for c in w.chart],
    }


def render_json_doc(doc: dict) -> str:
    """Serialize a report document: stable key order, UTF-8, values that JSON lacks as strings."""
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"


def render_json(report: Report) -> str:
    """The contract keys only (reports.render.render adds story, impact, recommendations, ...)."""
    return render_json_doc(report_dict(report))
