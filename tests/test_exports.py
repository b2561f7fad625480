"""Log-platform exports (parsers/exports/): the recorded storm, converted into each platform's layout by
tools/export_fixture.py, gives the findings and per-pod figures its pod files give; every line of
an export is accounted, for random entries too."""

from __future__ import annotations

import json
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
    beside = [str(STORM / "redis-server.log")] if layout in export_fixture.SERVER_APART else []
    findings, per_pod, inputs = _summary([str(storm_exports / name), str(STORM / "redis-exporter.prom"), *beside])
    exports = [f for f in inputs if not f.path.endswith((".prom", "redis-server.log"))]
    assert exports and all(f.parser == layout for f in exports), [(f.path, f.parser) for f in exports]
    assert all(f.accounted() and f.unrecognized_lines == 0 and not f.problems for f in exports), exports
    base_findings, base_per_pod, _ = pod_files
    if layout == "appinsights_csv":  # it reads each trace row as one record: no activity summary of noise rows
        base_per_pod = (base_per_pod.with_columns(kind=pl.col("kind").replace("app.activity", "app.log"))
                        .group_by("host", "kind").agg(pl.col("n").sum()).sort("host", "kind"))
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


# --- Splunk and Azure Log Analytics: the platform fields each layout names the pod with ------------------

_LINE = "2024-01-15 10:02:0{k},000 ERROR app - cache read failed: Error 111 connecting to redis:6379. Connection refused."


def test_splunk_pod_from_otel_fields_or_the_log_path_before_the_node(tmp_path):
    rows = [  # OTel collector fields; SCK's log path only; nothing but the node
        {"_time": "2024-01-15T10:02:01.000+00:00", "_raw": _LINE.format(k=1), "host": "node-1", "k8s.pod.name": "api-1"},
        {"_time": "2024-01-15T10:02:02.000+00:00", "_raw": _LINE.format(k=2), "host": "node-1",
         "source": f"/var/log/containers/api-2_shop_api-{'ab' * 32}.log"},
        {"_time": "2024-01-15T10:02:03.000+00:00", "_raw": _LINE.format(k=3), "host": "node-2",
         "source": "/var/log/pods/shop_api-3_5f0c2d3e-1111-2222-3333-444455556666/api/0.log"},
        {"_time": "2024-01-15T10:02:04.000+00:00", "_raw": _LINE.format(k=4), "host": "node-3"},
    ]
    text = "".join(json.dumps({"preview": False, "offset": k, "result": r}) + "\n" for k, r in enumerate(rows))
    text += '{"preview":false,"lastrow":true}\n{"preview":false,"offset":4,"result":{"sourcetype":"x","count":"3"}}\n'
    (tmp_path / "export.json").write_text(text, encoding="utf-8")
    result = ingest([str(tmp_path / "export.json")])
    (info,) = result.inputs
    assert info.parser == "splunk_export_json" and info.accounted() and info.event_lines == 5
    assert info.unrecognized_lines == 1  # a stats row is no log event: counted, never swallowed
    ev = result.events.sort("ts")
    assert ev.get_column("host").to_list() == ["api-1", "api-2", "api-3", "node-3"]
    assert ev.get_column("kind").to_list() == ["redis.connect_failed"] * 4
    assert str(ev.get_column("ts")[0]) == "2024-01-15 10:02:01+00:00"


def test_a_splunk_stats_csv_is_not_taken_for_events():
    head = '"_time",count\n"2024-01-15T10:02:00.000+00:00",3\n'
    assert PARSERS["splunk_csv"].sniff(head) == 0.0


def test_azure_containerlog_v1_csv_names_the_node_and_reads_utc_whatever_tz(tmp_path):
    from postmortem.input.options import IngestOptions

    text = PARSERS["azure_containerlog_csv"].samples[1].replace("2024-01-15 10:02:00,164 ERROR app.cache - ", "")
    (tmp_path / "containerlog.csv").write_text(text, encoding="utf-8")
    result = ingest([str(tmp_path)], IngestOptions(tz="America/New_York"))
    (info,) = result.inputs
    assert info.parser == "azure_containerlog_csv" and info.accounted() and info.unrecognized_lines == 0
    (row,) = result.events.rows(named=True)
    assert row["host"] == "aks-nodepool1-12345678-vmss000000" and row["kind"] == "redis.connect_failed"
    assert str(row["ts"]) == "2024-01-15 10:02:00.164000+00:00"  # a line without its own time: the column says [UTC]


def test_az_query_of_app_tables_reads_message_role_instance_and_exceptions():
    rows = [
        {"AppRoleInstance": "api-1", "Message": _LINE.format(k=1), "SeverityLevel": "3", "TableName": "PrimaryResult",
         "TimeGenerated": "2024-01-15T10:02:01.000Z"},
        {"AppRoleInstance": "api-2", "OuterMessage": "No connection is active/available to service this operation: GET k; "
         "UnableToConnect on cache1:6380/Interactive, state: Connecting", "OuterType":
         "StackExchange.Redis.RedisConnectionException", "ProblemId": "p", "TableName": "PrimaryResult",
         "TimeGenerated": "2024-01-15T10:02:02.000Z"},
    ]
    text = json.dumps(rows, indent=2)
    assert max(FILE_PARSERS, key=lambda p: p.sniff(text)).name == "azure_cli_query_json"
    res = PARSERS["azure_cli_query_json"].parse(text, ParseContext(path="q.json"))
    assert res.unrecognized_lines == 0 and res.event_lines == res.lines
    ev = res.events.sort("ts")
    assert ev.get_column("host").to_list() == ["api-1", "api-2"]
    assert ev.get_column("kind").to_list() == ["redis.connect_failed", "redis.no_connection"]
    assert ev.get_column("level").cast(pl.String).to_list()[0] == "error"


def test_workspace_appexceptions_csv_reads_outer_message():
    text = ("TimeGenerated [UTC],ProblemId,OuterType,OuterMessage,InnermostMessage,Details,AppRoleInstance\n"
            '"1/15/2024, 10:02:00.164 AM",p,StackExchange.Redis.RedisConnectionException,"No connection is active/'
            'available to service this operation: GET k; UnableToConnect on cache1:6380/Interactive, state: '
            'Connecting",,"[]",api-1\n')
    assert max(FILE_PARSERS, key=lambda p: p.sniff(text)).name == "appinsights_csv"
    res = PARSERS["appinsights_csv"].parse(text, ParseContext(path="x.csv"))
    (row,) = res.events.rows(named=True)
    assert row["kind"] == "redis.no_connection" and row["host"] == "api-1"
    assert row["message"].startswith("StackExchange.Redis.RedisConnectionException: No connection")


# --- big exports stream: JSON lines and CSV exports are parsed piece by piece, cut between entries ------

STREAMED = sorted(name for name, p in PARSERS.items() if getattr(p, "streams_by", None) and name in LAYOUTS)


def test_json_lines_and_csv_exports_stream():
    assert {"loki_jsonl", "elasticdump_ndjson", "splunk_export_json", "kibana_csv", "splunk_csv",
            "azure_containerlog_csv", "datadog_csv", "cloudwatch_insights_csv", "appinsights_csv"} <= set(STREAMED)


def _streamed(monkeypatch, piece_chars: int, seen: list[int]) -> None:
    """Stream files above 60 kB (the exports, not the server log beside them) in pieces of `piece_chars`."""
    from postmortem.input import read_file as read_file_mod

    real = read_file_mod.utf8_pieces

    def counting(*args, **kwargs):
        for piece in real(*args, **kwargs):
            seen.append(len(piece))
            yield piece

    monkeypatch.setattr(read_file_mod, "utf8_pieces", counting)
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 60_000)
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", piece_chars)


def _storm_paths(layout: str, storm_exports) -> list[str]:
    paths = [str(storm_exports / export_fixture.LAYOUTS[layout][0]), str(STORM / "redis-exporter.prom")]
    return paths + ([str(STORM / "redis-server.log")] if layout in export_fixture.SERVER_APART else [])


@pytest.mark.parametrize("layout", STREAMED)
def test_a_streamed_export_is_accounted_as_read_whole(layout, storm_exports, monkeypatch):
    """Pieces of ~3 kB (multi-line quoted CSV rows and long JSON lines cross many cuts): every line
    counted as when the file is read whole."""
    paths = _storm_paths(layout, storm_exports)
    whole = ingest(paths[:1]).inputs[0]
    seen: list[int] = []
    _streamed(monkeypatch, 3000, seen)
    (streamed,) = ingest(paths[:1]).inputs
    assert len(seen) > 20  # the export really was read in pieces
    assert streamed.accounted() and not streamed.problems and streamed.parser == layout
    for field in ("lines", "event_lines", "unrecognized_lines", "blank_lines"):
        assert getattr(streamed, field) == getattr(whole, field), field


def test_streamed_csv_events_cite_their_own_line(storm_exports, monkeypatch):
    """Lines renumbered in the file: the streamed events sit on the export lines the whole-file read gives."""
    path = str(storm_exports / export_fixture.LAYOUTS["splunk_csv"][0])
    failed = pl.col("kind") == "redis.connect_failed"
    whole = ingest([path]).events.filter(failed).select("line", "host", "ts").sort("line")
    seen: list[int] = []
    _streamed(monkeypatch, 3000, seen)
    streamed = ingest([path]).events.filter(failed).select("line", "host", "ts").sort("line")
    assert len(seen) > 50 and whole.height > 10
    assert streamed.equals(whole)


def test_an_unclosed_csv_quote_never_grows_a_piece_without_bound(tmp_path, monkeypatch):
    from postmortem.input import read_file as read_file_mod

    rows = "".join(f'"2024-01-15T10:02:{k % 60:02d}.000+00:00",api-{k % 3},"line {k}"\n' for k in range(400))
    text = '"_time",host,"_raw"\n' + '"2024-01-15T10:01:00.000+00:00",api-0,"broken\n' + rows
    (tmp_path / "s.csv").write_text(text, encoding="utf-8")
    sizes: list[int] = []
    real = read_file_mod.utf8_pieces

    def counting(*args, **kwargs):
        for piece in real(*args, **kwargs):
            sizes.append(len(piece))
            yield piece

    monkeypatch.setattr(read_file_mod, "utf8_pieces", counting)
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", 1000)
    (info,) = ingest([str(tmp_path / "s.csv")]).inputs
    assert info.parser == "splunk_csv" and info.accounted() and info.lines == 402
    assert len(sizes) > 1 and max(sizes) <= 9 * 1000 + 300  # 8 pieces, then one more read block at most


_cell = st.text(alphabet=st.sampled_from(list('ab ,"\n')), max_size=30)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(_cell, min_size=1, max_size=3), min_size=1, max_size=40),
       size=st.integers(8, 200))
def test_csv_pieces_join_to_the_file_and_end_between_rows(rows, size, tmp_path_factory):
    """stream.utf8_pieces(cut="csv"): the pieces are the file, and every piece holds whole rows."""
    import csv
    import io

    from postmortem.input.stream import utf8_pieces

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    text = buf.getvalue()
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes(text.encode("utf-8"))
    problems: list[str] = []
    pieces = list(utf8_pieces(str(path), len(text.encode()), size, 1 << 30, problems, "csv"))
    assert "".join(pieces) == text and not problems
    assert sum(len(list(csv.reader(io.StringIO(p, newline="")))) for p in pieces) == len(rows)
