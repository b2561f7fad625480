"""The command line as a user runs it: reports, determinism, exit codes, parse output."""

from __future__ import annotations

import json

from click.testing import CliRunner

from postmortem.cli import main
from postmortem.schema import EVENT_COLUMNS

from .conftest import EXAMPLE


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_analyze_example_markdown_is_deterministic():
    a = run("analyze", str(EXAMPLE), "--exit-zero")
    b = run("analyze", str(EXAMPLE), "--exit-zero")
    assert a.exit_code == 0, a.output
    assert "## Summary" in a.output and "## Inputs read" in a.output
    assert a.output == b.output


def test_analyze_json_has_contract_keys(tmp_path):
    out = tmp_path / "r.json"
    res = run("analyze", str(EXAMPLE), "-o", str(out), "--exit-zero")
    assert res.exit_code == 0
    doc = json.loads(out.read_text())
    for key in ("tool", "inputs", "window", "summary", "findings", "timeline"):
        assert key in doc
    for i in doc["inputs"]:
        assert {"path", "parser", "records", "events", "unrecognized_lines", "first_ts", "last_ts"} <= set(i)


def test_secrets_never_reach_the_report():
    res = run("analyze", str(EXAMPLE), "-f", "json", "--exit-zero")
    assert "hunter2" not in res.output and "s3cret" not in res.output


def test_parse_emits_event_columns(tmp_path):
    out = tmp_path / "e.ndjson"
    res = run("parse", str(EXAMPLE), "-o", str(out))
    assert res.exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and list(rows[0]) == list(EVENT_COLUMNS)


def test_nothing_readable_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "missing")])
    assert res.exit_code == 2


def test_rules_and_explain():
    assert "PM001" in run("rules").output
    res = run("explain", "PM001")
    assert res.exit_code == 0 and "Why it matters" in res.output
    assert CliRunner().invoke(main, ["explain", "PM999"]).exit_code == 2


def test_since_until_limit_the_report(tmp_path):
    from .conftest import DATA

    storm = DATA / "recorded" / "storm"
    full = json.loads(run("analyze", str(storm), "-f", "json", "--exit-zero").stdout)
    start = full["window"]["start"]
    late = json.loads(run("analyze", str(storm), "-f", "json", "--exit-zero", "--since", "2099-01-01T00:00:00Z").stdout)
    assert start and not [f for f in late["findings"] if f["rule_id"] != "PM001"]
