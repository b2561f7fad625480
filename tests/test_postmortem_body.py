"""Issue #18: a postmortem a person reads. The body (everything before the appendix) fits two printed
pages for every fixture incident; the Summary's figures are the JSON's; the terminal gets one screen."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from postmortem.analysis.pipeline import analyze
from reports.render import md_escape, render

DATA = Path(__file__).parent / "data"
INCIDENTS = ["example-incident", "recorded/storm", "recorded/healthy", "dotnet-metrics-storm", "recorded/scaleout",
             "recorded/eviction", "recorded/hang-8", "recorded/slow-8", "recorded/per-request-8", "dotnet-oom-16"]
BODY_LINES = 120
BODY_HEADS = ["## Summary", "## Impact", "## Root cause and trigger", "## Resolution and mitigation", "## Detection",
              "## Timeline (UTC)", "## Stop the bleeding", "## Action items", "## Lessons", "## Appendix"]


@pytest.fixture(scope="module")
def reports():
    return {name: analyze([str(DATA / name)])[0] for name in INCIDENTS if (DATA / name).exists()}


def _body(md: str) -> str:
    return md.split("\n## Appendix\n", 1)[0]


def test_every_fixture_body_fits_two_pages_with_the_sections_in_order(reports):
    assert len(reports) >= 4
    for name, report in reports.items():
        md = render(report, "md", chart_folder="report_files")  # as the CLI writes it: chart links count
        heads = [line for line in md.splitlines() if line.startswith("## ")]
        assert heads == BODY_HEADS, name
        assert len(_body(md).splitlines()) <= BODY_LINES, name
        assert "](#appendix)" in _body(md)
        summary = md.split("## Summary", 1)[1].split("## Impact", 1)[0]
        assert "Read " not in summary and "Findings:" not in summary and "out of time order" not in summary, name


def test_every_figure_in_the_summary_comes_from_the_json(reports):
    """Each number the Summary states is in the JSON report: the story's figures are the findings' stats
    or titles, the ending's times are the resolution's."""
    for name, report in reports.items():
        doc = json.loads(render(report, "json"))
        summary = _body(render(report, "md")).split("## Summary", 1)[1].split("## Impact", 1)[0]
        summary = summary.split("Evidence, figures", 1)[0]
        sources = json.dumps({k: doc[k] for k in ("findings", "resolution", "window")}, ensure_ascii=False)
        for figure in re.findall(r"\d+(?:\.\d+)?", summary):
            assert figure in sources, f"{name}: {figure} in the Summary is not in the JSON"
        shown = re.sub(r"\\(.)", r"\1", summary.replace("\n", " "))  # log text in it is Markdown-escaped
        assert doc["summary"] in shown


def test_every_finding_has_one_value_per_figure_in_md_html_and_json(reports):
    """A finding's figures are the same wherever they appear: the JSON carries the Report's title and stats
    unchanged, and every number of every title is in the Markdown and the HTML."""
    for name, report in reports.items():
        doc = json.loads(render(report, "json"))
        assert [f["rule_id"] for f in doc["findings"]] == [f.rule_id for f in report.findings], name
        md, html = render(report, "md"), render(report, "html")
        for finding, as_json in zip(report.findings, doc["findings"], strict=True):
            assert as_json["title"] == finding.title, name
            assert as_json["stats"] == json.loads(json.dumps(dict(finding.stats), default=str)), (name, finding.rule_id)
            for figure in re.findall(r"\d[\d,]*(?:\.\d+)?", finding.title):
                assert figure in md and figure in html, f"{name} {finding.rule_id}: {figure} missing"


def test_json_keeps_everything_the_body_moved_out(reports):
    doc = json.loads(render(reports["recorded/storm"], "json"))
    assert doc["accounting"].startswith("Read ") and doc["stop_the_bleeding"] and doc["lessons"]
    assert [r["what"] for r in doc["resolution"]][-1] == "recovered"
    assert any(r["what"] == "restart" for r in doc["resolution"])  # the recorded storm restarts Redis


def test_gfm_pastes_without_side_files_and_jira_is_wiki_markup(reports):
    report = reports["recorded/storm"]
    gfm = render(report, "gfm")
    assert "_files/" not in gfm and ".svg" not in gfm and "Charts omitted" in gfm
    jira = render(report, "jira")
    assert jira.startswith("h1. Postmortem") and "||Type||Action||" in jira and "## " not in jira
    assert "{code}" in jira


def test_markdown_escapes_only_what_commonmark_reads():
    assert md_escape("k8s_events (x) redis-py!") == "k8s_events (x) redis-py!"
    assert md_escape("_a_ *b* [c](d) <e> a|b") == r"\_a\_ \*b\* \[c\](d) \<e\> a\|b"
    assert md_escape("# head") == r"\# head"


def test_recommendation_advice_keeps_its_markdown(reports):
    md = render(reports["example-incident"], "md")
    recs = md.split("### Recommendations", 1)[1]
    assert "\\`" not in recs.split("```", 1)[0]


def _run_in_pty(args: list[str], cwd: Path, env: dict) -> tuple[int, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(args, stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=120), out.decode("utf-8", "replace")


@pytest.mark.slow
@pytest.mark.parametrize("no_color", [False, True])
def test_analyze_on_a_terminal_prints_one_screen_and_writes_the_report(tmp_path, no_color):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    code, out = _run_in_pty([sys.executable, "-m", "postmortem.cli", "analyze", str(DATA / "recorded/storm")],
                            tmp_path, env)
    assert code == 1  # findings at medium or above
    lines = out.replace("\r\n", "\n").rstrip("\n").split("\n")
    assert len(lines) <= 24
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert ("\x1b[" in out) is not no_color
    assert all(len(line) <= 80 for line in plain.replace("\r\n", "\n").split("\n"))
    written = sorted(p.name for p in tmp_path.glob("postmortem-*.md"))
    assert written == ["postmortem-2026-11-23.md"] and "Full report: postmortem-2026-11-23.md" in plain
    assert (tmp_path / written[0]).read_text().startswith("# Postmortem")
