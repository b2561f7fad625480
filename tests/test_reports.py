"""Reports: golden md/html/json from a hand-built Report, escaping, redaction, schema, CLI determinism."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import polars as pl
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from postmortem.cli import main
from postmortem.model import (
    Confidence,
    Evidence,
    Finding,
    InputFile,
    Report,
    Severity,
    TimelineEntry,
    UnrecognizedSample,
    conform_events,
)
from postmortem.redaction import redact_events, redact_report
from reports.mermaid import mermaid_label
from reports.recommendations import recommendations
from reports.render import md_code, md_escape, render

from .conftest import EXAMPLE

# A hand-built Report and events table (stable while detectors change); test_charts uses them too.
T0 = datetime(2026, 3, 14, 2, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> | `tick` ](javascript:alert(1)) ::: {a}[b](c);#x"
SECRETS = ("hunter2", "u:pw@h", "pw@h")


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(path: str, line: int, sec: float, text: str) -> Evidence:
    return Evidence(path=path, line=line, ts=t(sec), text=text)


def build_report(redacted: bool = True, client_version: str = "5.0.1") -> Report:
    findings = (
        Finding("PM103", "maxclients-saturation", Severity.CRITICAL, Confidence.HIGH,
                "412 connections rejected at maxclients 10000", t(12), t(40), ("redis:redis:6379",),
                {"maxclients": 10000, "rejected": 412, "peak_clients": 9998},
                (ev("redis-server.log", 7, 12, "# Error accepting a client connection: max number of clients reached"),),
                3, "raise maxclients"),
        Finding("PM100", "redis-unreachable", Severity.HIGH, Confidence.MEDIUM,
                "redis:redis:6379 unreachable for 11.6 s", t(1), t(12.6), ("redis:redis:6379", "pod:prod/w-1"),
                {"seconds": 11.6, "client": "redis_py", "client_version": client_version},
                (ev("w-1.log", 2, 1, "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379."),)),
        Finding("PM101", "reconnect-storm", Severity.HIGH, Confidence.HIGH,
                "40 pods reconnected within 100 ms " + HOSTILE, t(12.6), t(30),
                ("pod:prod/w-1", "pod:prod/w-2", HOSTILE),
                {"pods": 40, "attempts_per_s": 812.5, "note": "password=hunter2 " + HOSTILE},
                (ev("w-2.log", 9, 12.7, "connect to redis://u:pw@h:6379 failed " + HOSTILE),), 120),
        Finding("PM404", "unbounded-pool", Severity.MEDIUM, Confidence.MEDIUM, "ConnectionPool without max_connections",
                t(0), t(0), ("pod:prod/w-1",), {"max_connections": 50, "client": "redis_py"},
                (ev("w-1.log", 1, 0, "pool = ConnectionPool(host='redis')"),)),
        Finding("PM202", "hpa-feedback", Severity.MEDIUM, Confidence.LOW, "HPA scaled 10 -> 40 during the storm",
                t(20), t(25), ("hpa:prod/worker",), {"replicas_from": 10, "replicas_to": 40},
                (ev("k8s-events.json", 3, 20, "New size: 40; reason: cpu resource utilization above target"),)),
        Finding("PM001", "unrecognized-input", Severity.INFO, Confidence.HIGH, "2 unrecognized lines in 1 file",
                None, None, (), {"unrecognized_lines": 2}, (ev("odd.txt", 1, 0, HOSTILE),)),
    )
    timeline = (
        TimelineEntry(t(1), t(12), "redis_py", "50 × redis.connect_failed from 2 hosts", 50,
                      (ev("w-1.log", 2, 1, "Error 111 connecting to redis:6379. password=hunter2"),)),
        TimelineEntry(t(12), None, "redis_server", "3 × redis.max_clients " + HOSTILE, 3,
                      (ev("redis-server.log", 7, 12, "max number of clients reached"),), "PM103"),
    )
    inputs = (
        InputFile("w-1.log", "log:python", 1200, "utf-8", 40, 38, 38, 38, 0, 2, t(0), t(40)),
        InputFile("odd.txt", "log:bare", 300, "utf-8", 3, 0, 0, 0, 2, 1, None, None,
                  ["odd.txt: mixed encodings " + HOSTILE],
                  [UnrecognizedSample(1, HOSTILE), UnrecognizedSample(2, "AUTH default hunter2")]),
    )
    report = Report(
        tool_version="0.0.0-test", inputs=inputs, window_start=t(0), window_end=t(40),
        summary="A 11.6 s outage of redis:6379 triggered a reconnect storm (40 pods) " + HOSTILE,
        findings=findings, timeline=timeline, assumptions=("Timestamps without a zone were read as UTC.",),
        warnings=("odd.txt: 2 lines unrecognized",), event_counts={"redis_py": 50, "redis_server": 3},
        templates=({"template": "Error <*> connecting to " + HOSTILE, "count": 50,
                    "example": "Error 111 connecting to redis://u:pw@h:6379 password=hunter2"},),
        redacted=redacted, generated_at="2026-03-15T00:00:00Z",
    )
    return redact_report(report) if redacted else report  # as pipeline.analyze hands it over


def build_events(redacted: bool = True) -> pl.DataFrame:
    rows = []
    for i in range(60):
        host = ["w-1", "w-2", HOSTILE, "password=hunter2"][i % 4]
        rows.append({"ts": t(1 + i * 0.2), "source": "redis_py", "kind": "redis.connect_failed", "path": "w.log",
                     "line": i + 1, "level": "error", "host": host, "entity": "redis:redis:6379",
                     "message": "Error 111 connecting " + HOSTILE})
    for i in range(10):
        rows.append({"ts": t(12 + i), "source": "metrics", "kind": "metric.sample", "path": "m.prom", "line": i + 1,
                     "level": "info", "metric": "connected_clients", "value": 9000.0 + i * 100})
    rows.append({"ts": t(12), "source": "metrics", "kind": "metric.sample", "path": "m.prom", "line": 20,
                 "level": "info", "metric": "maxclients", "value": 10000.0})
    df = pl.DataFrame(rows, infer_schema_length=None)
    events = conform_events(df.with_columns(pl.int_range(pl.len()).alias("event_id")))
    return redact_events(events) if redacted else events


SCHEMA = json.loads((Path(__file__).parents[1] / "reports" / "report.schema.json").read_text())


def _outside_code(md: str) -> str:
    """Markdown with fenced blocks and code spans removed: what a viewer would interpret."""
    md = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", md)
    return re.sub(r"(`+)(.+?)(?<!`)\1(?!`)", "", md)


def test_golden_markdown(golden):
    golden("report_fixture.md", render(build_report(), "md", events=build_events()))


def test_golden_html(golden):
    golden("report_fixture.html", render(build_report(), "html"))


def test_golden_json(golden):
    golden("report_fixture.json", render(build_report(), "json", events=build_events()))


def test_sections_follow_the_sre_template():
    md = render(build_report(), "md", events=build_events())
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## Summary", "## Impact", "## Root causes", "## Detection", "## Timeline (UTC)",
                     "## Findings", "## Recommendations", "## Action items", "## Inputs read",
                     "## Message templates"]
    html = render(build_report(), "html")
    for anchor in ("summary", "impact", "causes", "detection", "timeline", "findings", "recommendations",
                   "actions", "inputs", "templates"):
        assert f'id="{anchor}"' in html


def test_hostile_text_and_secrets_never_reach_any_output(tmp_path):
    report, events = build_report(), build_events()
    out = tmp_path / "report.md"
    md = render(report, "md", events=events, output=out)
    html = render(report, "html", events=events)
    js = render(report, "json", events=events)
    charts = [p.read_text() for p in sorted((tmp_path / "report_files").glob("*.svg"))]
    assert len(charts) == 3
    for text in (md, html, js, *charts):
        for secret in SECRETS:
            assert secret not in text
    assert "AUTH ***" in js
    live = _outside_code(md)
    assert not re.search(r"(?<!\\)<script", live) and not re.search(r"(?<!\\)\]\(javascript", live)
    for line in md.splitlines():  # every table row keeps its column count
        if line.startswith("|"):
            assert line.endswith("|")
    mermaid = md.split("```mermaid", 1)[1].split("```", 1)[0]
    assert not re.search(r"[<>`;#{}\[\]()]", mermaid)
    assert "<script" not in html.lower() and 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for svg in charts:
        assert "<script" not in svg and "&lt;script&gt;" in svg + "&lt;script&gt;"
    assert json.loads(js)["summary"].endswith(HOSTILE)


def test_table_rows_keep_their_columns():
    md = render(build_report(), "md", events=build_events())
    for block in re.findall(r"(?m)((?:^\|.*\n)+)", md):
        rows = block.splitlines()
        widths = {len(re.findall(r"(?<!\\)\|", _outside_code(r))) for r in rows}
        assert len(widths) == 1, rows


def test_no_redact_is_said_and_keeps_secrets():
    md = render(build_report(redacted=False), "md")
    assert "NOT redacted" in md and "hunter2" in md
    assert "NOT redacted" in render(build_report(redacted=False), "html")
    assert json.loads(render(build_report(redacted=False), "json"))["redacted"] is False


def test_json_validates_against_schema():
    jsonschema.validate(json.loads(render(build_report(), "json", events=build_events())), SCHEMA)
    jsonschema.validate(json.loads(render(build_report(), "json")), SCHEMA)


def test_recommendations_follow_client_version_and_found_rules():
    old = {r.rule_id: r for r in recommendations(build_report(client_version="5.0.1"))}
    assert set(old) == {"PM001", "PM100", "PM101", "PM103", "PM202", "PM404"}
    code = "\n".join(s.code for r in old.values() for s in r.snippets)
    assert "EqualJitterBackoff(cap=10, base=0.1)" in code and "Retry(ExponentialWithJitterBackoff" not in code
    assert "40 pods x 50 connections per pod = 2000" in code and "maxclients 10000" in code
    assert "stabilizationWindowSeconds: 120" in code and "name: worker" in code
    assert "class RedisBreaker" in code and "ConfigurationOptions" not in code  # redis-py only
    new = recommendations(build_report(client_version="5.3.0"))
    assert "ExponentialWithJitterBackoff(base=0.1, cap=10)" in "\n".join(s.code for r in new for s in r.snippets)


def test_action_items_are_grouped():
    js = json.loads(render(build_report(), "json"))
    kinds = [a["kind"] for a in js["action_items"]]
    assert kinds == sorted(kinds, key=["prevent", "mitigate", "process"].index)
    assert {"prevent", "mitigate", "process"} <= set(kinds)
    assert js["story"] == {"trigger": ["PM100", "PM202"], "amplifiers": ["PM101", "PM404"], "impact": ["PM103"]}


def test_story_from_report_wins():
    import dataclasses

    r = dataclasses.replace(build_report(), story={"trigger": ["PM103"], "amplifiers": [], "impact": []})
    story = json.loads(render(r, "json"))["story"]
    assert story["trigger"] == ["PM103", "PM100", "PM202"] and story["impact"] == []


@given(st.text(max_size=200))
def test_md_escape_is_one_inert_line(text):
    out = md_escape(text)
    assert "\n" not in out and "\r" not in out
    assert not re.search(r"(?<!\\)[|`<\[]", out.replace("\\\\", ""))
    span = md_code(text)
    assert "\n" not in span and "|" not in span


@given(st.text(max_size=100))
def test_mermaid_labels_are_inert(text):
    assert re.fullmatch(r"[A-Za-z0-9 ._/+-]+", mermaid_label(text))


def _run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_example_incident_is_deterministic_in_every_format(tmp_path):
    for fmt in ("html", "json"):
        a, b = _run("analyze", str(EXAMPLE), "-f", fmt, "--exit-zero"), _run("analyze", str(EXAMPLE), "-f", fmt,
                                                                             "--exit-zero")
        assert a.exit_code == 0 and a.output == b.output and a.output
    outs = []
    for n in (1, 2):
        out = tmp_path / f"run{n}" / "report.md"
        out.parent.mkdir()
        assert _run("analyze", str(EXAMPLE), "-o", str(out), "--exit-zero").exit_code == 0
        files = sorted((tmp_path / f"run{n}").rglob("*"))
        outs.append({p.relative_to(out.parent).as_posix(): p.read_bytes() for p in files if p.is_file()})
    assert outs[0] == outs[1]
    assert any(k.startswith("report_files/") and k.endswith(".svg") for k in outs[0])
    md = outs[0]["report.md"].decode()
    for name in outs[0]:
        if name.startswith("report_files/"):
            assert f"]({name})" in md


def test_example_json_validates(tmp_path):
    res = _run("analyze", str(EXAMPLE), "-f", "json", "--exit-zero")
    jsonschema.validate(json.loads(res.output), SCHEMA)
