"""Reports: golden md/html/json from a hand-built Report, escaping, redaction, schema, CLI determinism."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from postmortem.analysis.detectors.configs import PoolCapFigures
from postmortem.analysis.detectors.inputs import InputFigures
from postmortem.analysis.detectors.kubernetes import ScaleUpFigures
from postmortem.analysis.detectors.storm import OutageFigures, SaturationFigures, StormFigures
from postmortem.analysis.pipeline import conclusions
from postmortem.analysis.sections import with_sections
from postmortem.cli import main
from postmortem.model import (
    Confidence,
    Evidence,
    Figures,
    Finding,
    InputSummary,
    Report,
    Severity,
    SourceClock,
    TimelineEntry,
    UnrecognizedSample,
)
from postmortem.redaction import redact_events, redact_report
from postmortem.schema import conform_events
from reports.mermaid import mermaid_label
from reports.render import chart_files, md_code, md_escape, render

from .conftest import EXAMPLE

# A hand-built Report and events table (stable while detectors change); test_charts uses them too.
T0 = datetime(2026, 3, 14, 2, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> | `tick` ](javascript:alert(1)) ::: {a}[b](c);#x"
SECRETS = ("hunter2", "u:pw@h", "pw@h")


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(path: str, line: int, sec: float, text: str) -> Evidence:
    return Evidence(path=path, line=line, ts=t(sec), text=text)


def found(rule_id, name, severity, confidence, title, start, end, entities, figures: Figures, evidence,
          more: int = 0, recommendation: str = "") -> Finding:
    """A Finding built the way `detectors.base.finding` builds one: stats serialized from typed figures."""
    return Finding(rule_id, name, severity, confidence, title, start, end, entities, figures.as_stats(), evidence,
                   more, recommendation, figures=figures)


def build_report(redacted: bool = True, client_version: str = "5.0.1") -> Report:
    findings = (
        found("PM103", "maxclients-saturation", Severity.CRITICAL, Confidence.HIGH,
              "412 connections rejected at maxclients 10000", t(12), t(40), ("redis:redis:6379",),
              SaturationFigures(
                  rejections_logged=412, hosts=1, first_rejection=t(12).isoformat(), maxclients=10000,
                  maxclients_source="metrics", peak_connected_clients=9998),
              (ev("redis-server.log", 7, 12, "# Error accepting a client connection: max number of clients reached"),),
              3, "raise maxclients"),
        found("PM100", "redis-unreachable", Severity.HIGH, Confidence.MEDIUM,
              "redis:redis:6379 unreachable for 11.6 s", t(1), t(12.6), ("redis:redis:6379", "pod:prod/w-1"),
              OutageFigures(endpoint="redis:redis:6379", seconds=11.6, client_failures=50, hosts=40,
                            server_down=None, server_up=None),
              (ev("w-1.log", 2, 1, "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379."),)),
        found("PM101", "reconnect-storm", Severity.HIGH, Confidence.HIGH,
              "40 pods reconnected within 100 ms " + HOSTILE, t(12.6), t(30),
              ("pod:prod/w-1", "pod:prod/w-2", HOSTILE),
              StormFigures(
                  attempts=4200, peak_new_connections_per_s=812, peak_at=t(13).isoformat(), baseline_attempts_per_s=2.0,
                  threshold_attempts_per_s=20.0, seconds=17.4, amplification=10.4,
                  amplification_basis="4,165 new connections ÷ 400 connections held before",
                  attempts_source="server log `Accepted` lines", population=400,
                  population_source="connected_clients metric", peak_vs_baseline=406.0, synchrony=0.9, pods=40,
                  fleet_pods=40, top_pods={"w-1": 300, HOSTILE: 200, "password=hunter2": 100}),
              (ev("w-2.log", 9, 12.7, "connect to redis://u:pw@h:6379 failed " + HOSTILE),), 120),
        found("PM404", "unbounded-pool", Severity.MEDIUM, Confidence.MEDIUM, "ConnectionPool without max_connections",
              t(0), t(0), ("pod:prod/w-1",),
              PoolCapFigures(unbounded_configs=1, pods=40, maxclients=10000, client="redis_py",
                             client_version=client_version),
              (ev("w-1.log", 1, 0, "pool = ConnectionPool(host='redis')"),)),
        found("PM202", "hpa-feedback", Severity.MEDIUM, Confidence.LOW, "HPA scaled 10 -> 40 during the storm",
              t(20), t(25), ("hpa:prod/worker",),
              ScaleUpFigures(
                  scale_ups=1, workloads=[{"workload": "prod/worker", "replicas_before": 10, "replicas_after": 40,
                                           "scale_up_s_after_trouble_start": [19.0]}],
                  replicas_added=30, trouble_start=t(1).isoformat(), trouble_end=t(30).isoformat(),
                  connections_per_pod=None, connections_per_pod_from=None, connection_demand_added=None),
              (ev("k8s-events.json", 3, 20, "New size: 40; reason: cpu resource utilization above target"),)),
        found("PM001", "unrecognized-input", Severity.INFO, Confidence.HIGH, "2 unrecognized lines in 1 file",
              None, None, (), InputFigures(unrecognized_lines=2, files_skipped=0, files_with_unrecognized_lines=1),
              (ev("odd.txt", 1, 0, HOSTILE),)),
    )
    timeline = (
        TimelineEntry(t(1), t(12), "redis_py", "50 × redis.connect_failed from 2 hosts", 50,
                      (ev("w-1.log", 2, 1, "Error 111 connecting to redis:6379. password=hunter2"),)),
        TimelineEntry(t(12), None, "redis_server", "3 × redis.max_clients " + HOSTILE, 3,
                      (ev("redis-server.log", 7, 12, "max number of clients reached"),), "PM103"),
    )
    inputs = (
        InputSummary("w-1.log", "log:python", 1200, "utf-8", 40, 38, 38, 38, 0, 2, t(0), t(40)),
        InputSummary("odd.txt", "log:bare", 300, "utf-8", 3, 0, 0, 0, 2, 1, None, None,
                     ("odd.txt: mixed encodings " + HOSTILE,),
                     (UnrecognizedSample(1, HOSTILE), UnrecognizedSample(2, "AUTH default hunter2"))),
    )
    report = Report(
        tool_version="0.0.0-test", inputs=inputs, window_start=t(0), window_end=t(40),
        summary="A 11.6 s outage of redis:6379 triggered a reconnect storm (40 pods) " + HOSTILE,
        findings=findings, timeline=timeline, assumptions=("Timestamps without a zone were read as UTC.",),
        warnings=("odd.txt: 2 lines unrecognized",), event_counts={"redis_py": 50, "redis_server": 3},
        templates=({"template": "Error <*> connecting to " + HOSTILE, "count": 50,
                    "example": "Error 111 connecting to redis://u:pw@h:6379 password=hunter2"},),
        redacted=redacted, generated_at="2026-03-15T00:00:00Z",
        clocks=(SourceClock("w-1.log", "w-1", "redis_py", "UTC+01:00", "inferred", 3640.0, True,
                            "written +01:00 from how it was read (UTC); clock 40.0 s ahead " + HOSTILE),
                SourceClock("odd.txt", None, "app", "UTC", "default", 0.0, False, "no zone in the times and no --tz")),
        **conclusions(findings, {"redis_py": 50, "redis_server": 3}),
    )
    report = with_sections(report, None)
    return redact_report(report) if redacted else report  # as pipeline.analyze hands it over


def analysed(report: Report | None = None, events: pl.DataFrame | None = None) -> Report:
    """The hand-built report with the sections and chart data the analysis derives from `events`."""
    base = report or build_report(redacted=False)
    if report is not None and report.redacted:
        base = dataclasses.replace(report, redacted=False)
    done = with_sections(base, build_events(redacted=False) if events is None else events)
    wanted = True if report is None else report.redacted
    return redact_report(dataclasses.replace(done, redacted=True)) if wanted else done


def without_findings(report: Report) -> Report:
    """The fixture with no findings, and so none of the analysis' conclusions either."""
    import dataclasses

    return dataclasses.replace(report, findings=(), **conclusions((), report.event_counts))


def recommendations(report: Report):
    return report.recommendations


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
    golden("report_fixture.md", render(analysed(), "md"))


def test_golden_html(golden):
    golden("report_fixture.html", render(build_report(), "html"))


def test_golden_json(golden):
    golden("report_fixture.json", render(analysed(), "json"))


def test_sections_follow_the_sre_template():
    md = render(analysed(), "md")
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## Summary", "## Impact", "## Root cause and trigger", "## Resolution and mitigation",
                     "## Detection", "## Timeline (UTC)", "## Stop the bleeding", "## Action items", "## Lessons",
                     "## Appendix"]
    appendix = md.split("## Appendix", 1)[1]
    for head in ("### Findings", "### Recommendations", "### Inputs read", "### Message templates"):
        assert head in appendix
    html = render(build_report(), "html")
    for anchor in ("summary", "impact", "causes", "detection", "timeline", "findings", "recommendations",
                   "actions", "inputs", "templates"):
        assert f'id="{anchor}"' in html


def test_hostile_text_and_secrets_never_reach_any_output(tmp_path):
    report = analysed()
    md = render(report, "md", chart_folder="report_files")
    html = render(report, "html")
    js = render(report, "json")
    charts = [svg for _, svg in chart_files(report)]
    assert len(charts) == 3 and md.count("](report_files/") == 3
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
    md = render(analysed(), "md")
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
    jsonschema.validate(json.loads(render(analysed(), "json")), SCHEMA)
    jsonschema.validate(json.loads(render(build_report(), "json")), SCHEMA)


def test_recommendations_follow_client_version_and_found_rules():
    old = {r.rule_id: r for r in recommendations(build_report(client_version="5.0.1"))}
    # once each, merged by what they change: PM404's pool cap is PM103's "cap connections" change
    assert set(old) == {"PM001", "PM100", "PM101", "PM103", "PM202"} and old["PM103"].also == ("PM404",)
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
    assert js["story"] == {"trigger": ["PM100"], "amplifiers": ["PM101", "PM404", "PM202"], "impact": ["PM103"],
                           "risks": []}


def test_root_causes_are_laid_out_as_the_report_grouped_them():
    """Renderers place findings where `Report.causes` says (the analysis decided), never by rule ID."""
    import dataclasses

    r = dataclasses.replace(build_report(), causes=(("trigger", (0, 1)), ("amplifiers", ()), ("impact", (4,))))
    assert json.loads(render(r, "json"))["story"] == {"trigger": ["PM103", "PM100"], "amplifiers": [],
                                                      "impact": ["PM202"], "risks": []}
    md = render(r, "md")
    causes_md = md.split("## Root cause and trigger", 1)[1].split("## Resolution", 1)[0]
    assert "did not recover" not in causes_md and causes_md.index("PM103") < causes_md.index("PM100")
    consequences = md.split("## Appendix", 1)[1].split("Consequences:", 1)[1].split("###", 1)[0]
    assert "PM202" in consequences and "PM103" not in consequences


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


@pytest.mark.slow
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


def test_report_and_everything_in_it_is_immutable():
    import dataclasses

    import pytest

    from postmortem.analysis.pipeline import analyze

    report, _ = analyze([str(EXAMPLE)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.summary = ""  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.event_counts["app"] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        analysed().templates[0]["count"] = 0  # type: ignore[index]
    assert all(isinstance(i, InputSummary) and isinstance(i.problems, tuple) for i in report.inputs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.inputs[0].lines = 0  # type: ignore[misc]
    assert report.impact.errors and report.detection and report.merged_timeline and report.charts.attempts


def test_markdown_to_a_file_links_the_charts_the_cli_writes(tmp_path):
    out = tmp_path / "pm.md"
    assert _run("analyze", str(EXAMPLE), "-o", str(out), "--exit-zero").exit_code == 0
    written = sorted(p.name for p in (tmp_path / "pm_files").glob("*.svg"))
    linked = sorted(re.findall(r"\]\(pm_files/([a-z]+\.svg)\)", out.read_text()))
    assert written == linked and written
    report = analysed()
    assert "_files/" not in render(report, "md") and not list(tmp_path.glob("report_files"))
