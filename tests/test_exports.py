"""Log-platform exports (parsers/exports/): the recorded storm, converted into each platform's layout by
tools/export_fixture.py, gives the findings and per-pod figures its pod files give; every line of
an export is accounted, for random entries too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import FILE_PARSERS, ParseContext
from postmortem.analysis.pipeline import analyze
from postmortem.input.ingest import ingest

from .conftest import STORM, load_export_fixture

export_fixture = load_export_fixture()
LAYOUTS = list(export_fixture.LAYOUTS)
PARSERS = {p.name: p for p in FILE_PARSERS}


def _figures(stats: dict) -> dict:
    """A finding's figures without the file:line pointers of table rows (PM204's ranking cites the input it was
    read from: a pod file or the export, so only the location differs between layouts)."""
    return {k: [{c: x for c, x in row.items() if c != "evidence"} for row in v]
            if isinstance(v, list) and v and all(isinstance(r, dict) and "evidence" in r for r in v) else v
            for k, v in stats.items()}


def _summary(paths: list[str]) -> tuple[dict, pl.DataFrame, list]:
    report, result = analyze(paths)
    findings = {f.rule_id: (f.start, f.end, f.entities, _figures(f.stats)) for f in report.findings}
    per_pod = (result.events.filter(pl.col("source") != "metrics")
               .group_by("host", "kind").agg(n=pl.col("value").fill_null(1.0).sum()).sort("host", "kind"))
    return findings, per_pod, result.inputs


@pytest.fixture(scope="module")
def pod_files() -> tuple[dict, pl.DataFrame, list]:
    return _summary([str(STORM)])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fixture_is_the_converted_recording(layout, storm_exports):
    """The export is what the converter makes of the recorded storm (not hand-made), the same every time."""
    for name, text in export_fixture.convert(STORM, layout).items():
        assert (storm_exports / name).read_text(encoding="utf-8") == text, name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_export_gives_the_pod_files_findings(layout, pod_files, storm_exports):
    name = export_fixture.LAYOUTS[layout][0]
    findings, per_pod, inputs = _summary([str(storm_exports / name), str(STORM / "redis-exporter.prom")])
    exports = [f for f in inputs if not f.path.endswith(".prom")]
    assert exports and all(f.parser == layout for f in exports), [(f.path, f.parser) for f in exports]
    assert all(f.accounted() and f.unrecognized_lines == 0 and not f.problems for f in exports), exports
    base_findings, base_per_pod, _ = pod_files
    assert sorted(findings) == sorted(base_findings)
    for rule, (start, end, entities, stats) in base_findings.items():
        assert findings[rule] == (start, end, entities, stats), rule
    assert per_pod.equals(base_per_pod), per_pod.join(base_per_pod, on=["host", "kind"], how="full")


def test_events_carry_the_platform_pod_time_and_export_line(storm_exports):
    result = ingest([str(storm_exports / "storm.jsonl")])
    ev = result.events
    refused = ev.filter(pl.col("kind") == "redis.connect_failed").sort("ts").row(0, named=True)
    assert refused["host"].startswith("worker-5c8f7b-") and refused["ts"] is not None
    raw = (storm_exports / "storm.jsonl").read_text(encoding="utf-8").split("\n")
    assert refused["path"].endswith("storm.jsonl") and refused["host"] in raw[refused["line"] - 1]
    at = next(i for i, ln in enumerate(raw, 1) if "job 10 failed after 8 attempts" in ln and "jk4y6" in ln)
    assert "Traceback (most recent call last)" in raw[at - 1]
    tb = ev.filter(pl.col("line") == at)
    assert tb.height == 1 and tb.get_column("source")[0] == "redis_py"  # traceback and header: one record


def test_logcli_continuation_lines_are_one_entry(tmp_path):
    text = ('2024-01-15T10:02:00.164Z {pod="api-1"}   2024-01-15 10:02:00,164 ERROR app - boom\n'
            "Traceback (most recent call last):\n"
            '  File "x.py", line 1, in f\n'
            "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.\n"
            '2024-01-15T10:02:01.000Z {pod="api-22"} 2024-01-15 10:02:01,000 INFO app - fine\n\n')
    (tmp_path / "q.txt").write_text(text, encoding="utf-8")
    result = ingest([str(tmp_path / "q.txt")])
    (info,) = result.inputs
    assert info.parser == "loki_logcli" and info.accounted() and info.blank_lines == 1 and info.event_lines == 5
    ev = result.events.sort("line")
    assert ev.get_column("line").to_list()[0] == 1 and ev.get_column("host").to_list() == ["api-1", "api-22"]
    assert ev.get_column("kind")[0] == "redis.connect_failed"


def test_loki_api_json_is_not_a_prometheus_response(storm_exports):
    head = (storm_exports / "storm-query_range.json").read_text(encoding="utf-8")[:65536]
    scores = {p.name: p.sniff(head) for p in FILE_PARSERS}
    assert max(scores, key=scores.get) == "loki_api_json" and scores["prometheus_json"] == 0.0


def test_an_empty_document_is_said():
    res = PARSERS["loki_api_json"].parse('{"status":"success","data":{"resultType":"streams","result":[]}}\n',
                                         ParseContext(path="q.json"))
    assert res.events.height == 0 and res.problems and res.unrecognized_lines == 1


# --- property tests: random entries through each writer keep the accounting invariant -----------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                max_size=40)
_first = st.from_regex(r"[A-Za-z0-9][^\n\r]{0,30}", fullmatch=True)
_body = st.tuples(_first, st.lists(_text, max_size=3)).map(lambda t: "\n".join([t[0], *t[1]]))
_entry = st.builds(
    lambda k, pod, lvl, body: export_fixture.Entry(datetime(2024, 1, 15, 10, tzinfo=UTC) + timedelta(milliseconds=k),
                                                   pod, "app", lvl, body.rstrip("\n")),
    st.integers(0, 10**7), st.sampled_from(["api-1", "api-2", "worker-x"]),
    st.sampled_from(["info", "warning", "error"]), _body,
).filter(lambda e: e.body.strip() != "")


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_entry, min_size=1, max_size=12))
def test_random_entries_are_accounted(layout, entries):
    entries = sorted(entries, key=lambda e: e.ts)
    out = export_fixture.LAYOUTS[layout][1](entries)
    texts = out.values() if isinstance(out, dict) else [out]
    parser = PARSERS[layout]
    for text in texts:
        res = parser.parse(text, ParseContext(path="export"))
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        assert res.lines == lines
        assert res.event_lines + res.unrecognized_lines + res.blank_lines == res.lines
        assert res.unrecognized_lines == 0
        assert 1 <= res.events.height


def test_datadog_default_csv_is_read_not_swallowed(tmp_path):
    """`Date,Host,Service,Message` was claimed by the Grafana metric CSV parser: 0 events, 0 unrecognized."""
    rows = "".join(f'2024-01-15T10:02:{k:02d}.000Z,api-{k % 3},api,"2024-01-15 10:02:{k:02d},000 ERROR app - '
                   f'cache read failed: Error 111 connecting to redis:6379. Connection refused."\n' for k in range(60))
    (tmp_path / "extract.csv").write_text("Date,Host,Service,Message\n" + rows, encoding="utf-8")
    result = ingest([str(tmp_path)])
    (info,) = result.inputs
    assert info.parser == "datadog_csv" and info.accounted() and info.unrecognized_lines == 0
    ev = result.events.filter(pl.col("kind") == "redis.connect_failed")
    assert ev.height == 60 and sorted(ev.get_column("host").unique()) == ["api-0", "api-1", "api-2"]


def test_a_text_csv_is_not_taken_for_metrics(tmp_path):
    (tmp_path / "t.csv").write_text("Time,Note\n2024-01-15T10:02:00Z,redis down\n2024-01-15T10:03:00Z,back\n",
                                    encoding="utf-8")
    assert PARSERS["grafana_csv"].sniff((tmp_path / "t.csv").read_text()) == 0.0
    res = PARSERS["grafana_csv"].parse((tmp_path / "t.csv").read_text(), ParseContext(path="t.csv"))
    assert res.unrecognized_lines == 2 and res.event_lines == 1 and res.problems  # said, never swallowed
    (info,) = ingest([str(tmp_path)]).inputs
    assert info.accounted() and info.parser.startswith("log")
