"""Metric exports: corpus snippets, golden outputs per format, error bodies, name normalization, fuzzing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import FILE_PARSERS
from parsers.base import ParseContext
from parsers.metrics import (
    AzureMetricsCsv,
    CloudMetricTable,
    GrafanaCsv,
    PromApiJson,
    PromExposition,
    RedisInfo,
)
from parsers.metrics.names import normalize

from .conftest import DATA

METRICS = DATA / "metrics"
NOW = datetime(2026, 3, 14, 2, 15, tzinfo=UTC)
CTX = ParseContext(path="m.txt", now=NOW, now_source="--now")
PARSERS = [PromApiJson(), PromExposition(), GrafanaCsv(), AzureMetricsCsv(), CloudMetricTable(), RedisInfo()]


def snippets(path: Path) -> dict[int, str]:
    parts = re.split(r"(?m)^=== SOURCE: (.+) ===\n", path.read_text(encoding="utf-8"))
    return {k // 2 + 1: parts[k + 1] for k in range(1, len(parts), 2)}


def best(text: str):
    scores = {p.name: p.sniff(text) for p in FILE_PARSERS}
    name = max(scores, key=scores.get)
    assert scores[name] > 0.5, scores
    return next(p for p in FILE_PARSERS if p.name == name)


def accounted(r) -> bool:
    return r.event_lines + r.unrecognized_lines + r.blank_lines == r.lines


# (file, snippet) -> (parser, number of samples, a (metric, value) that must be present)
CORPUS = {
    ("metrics.txt", 1): ("prometheus_text", 5, ("kubernetes_events", 1.0)),
    ("metrics.txt", 3): ("prometheus_text", 6, ("ops_per_sec", 2092.0)),
    ("metrics.txt", 4): ("prometheus_text", 9, ("process_virtual_memory_max_bytes", 1.8446744073709552e19)),
    ("metrics.txt", 5): ("grafana_csv", 16, ("valB", 2.31)),
    ("metrics.txt", 6): ("cloud_metric_table", 4, ("ListBasedCmds", 0.0)),
    ("redis-info.txt", 1): ("redis_info", 38, ("connected_clients", 10.0)),
    ("redis-info.txt", 2): ("redis_info", 12, ("used_memory", 5873901248.0)),
    ("redis-info.txt", 3): ("redis_info", 25, ("blocked_clients", 0.0)),
    ("redis-info.txt", 4): ("redis_info", 51, ("connections_received", 0.0)),
}


@pytest.mark.parametrize("key", sorted(CORPUS))
def test_corpus_snippets(key):
    text = snippets(DATA / "corpus" / key[0])[key[1]]
    parser_name, n, (metric, value) = CORPUS[key]
    parser = best(text)
    assert parser.name == parser_name
    r = parser.parse(text, CTX)
    assert accounted(r)
    assert r.events.height == n
    assert set(r.events["kind"]) == {"metric.sample"} and set(r.events["source"]) == {"metrics"}
    assert r.events.filter((r.events["metric"] == metric) & (r.events["value"] == value)).height >= 1
    assert r.events["ts"].null_count() == 0


def test_prometheus_error_body_is_a_problem_not_events():
    text = snippets(DATA / "corpus" / "metrics.txt")[2]
    parser = best(text)
    r = parser.parse(text, CTX)
    assert parser.name == "prometheus_json" and r.events.height == 0
    assert r.unrecognized_lines == 1 and accounted(r)
    assert r.problems == [
        'Prometheus API error response: bad_data: invalid expression type "matrix" for range query, must be scalar or vector'
    ]


def test_exposition_timestamps_and_entity():
    text = (DATA / "example-incident" / "redis-exporter.prom").read_text()
    r = PromExposition().parse(text, CTX)
    got = {row["metric"]: row for row in r.events.iter_rows(named=True)}
    assert set(got) == {"connected_clients", "rejected_connections", "maxclients"}
    assert str(got["rejected_connections"]["ts"]) == "2026-03-14 02:12:42+00:00"
    assert got["maxclients"]["entity"] == "redis:redis:6379" and not r.assumptions


def test_exposition_without_timestamps_says_which_reference():
    r = PromExposition().parse("# TYPE redis_connected_clients gauge\nredis_connected_clients 5\n", CTX)
    assert r.events["ts"].to_list() == [NOW]
    assert any("--now" in a for a in r.assumptions)


def test_csv_without_time_column_is_a_problem():
    r = GrafanaCsv().parse("a,b\n1,2\n", CTX)
    assert r.events.height == 0 and accounted(r)
    assert r.problems and "no time column" in r.problems[0]


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("redis_connected_clients", "connected_clients"),
        ("redis_rejected_connections_total", "rejected_connections"),
        ("redis_connections_received_total", "connections_received"),
        ("redis_config_maxclients", "maxclients"),
        ("redis_max_clients", "maxclients"),
        ("connectedclients", "connected_clients"),
        ("connectedclients3", "connected_clients"),
        ("allConnectedClients", "connected_clients"),
        ("allConnectionsCreatedPerSecond", "connections_created_per_sec"),
        ("serverLoad", "server_load"),
        ("percentProcessorTime", "cpu"),
        ("Connected Clients (Max)", "connected_clients"),
        ("total_connections_received", "connections_received"),
        ("evicted_keys", "evicted_keys"),
        ("redis_memory_used_bytes", "used_memory"),
        ("instantaneous_ops_per_sec", "ops_per_sec"),
        ("redis_keyspace_hits_total", "redis_keyspace_hits_total"),
    ],
)
def test_normalize(raw, norm):
    assert normalize(raw) == norm


def _golden_text(r) -> str:
    cols = ["ts", "line", "entity", "metric", "value", "attrs"]
    out = [f"lines={r.lines} event={r.event_lines} unrecognized={r.unrecognized_lines} blank={r.blank_lines}"]
    out += [f"problem: {p}" for p in r.problems]
    out += [json.dumps({c: str(row[c]) if c in ("ts", "value") else row[c] for c in cols}) for row in r.events.iter_rows(named=True)]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    "name, parser_name",
    [
        ("azure-metrics-synthetic.csv", "azure_metrics_csv"),
        ("azure-portal-wide-synthetic.csv", "azure_metrics_csv"),
        ("grafana-wide.csv", "grafana_csv"),
        ("grafana-legacy-de.csv", "grafana_csv"),
        ("prom-range.json", "prometheus_json"),
    ],
)
def test_golden_formats(name, parser_name, golden):
    text = (METRICS / name).read_text(encoding="utf-8")
    parser = best(text)
    assert parser.name == parser_name
    r = parser.parse(text, CTX)
    assert accounted(r)
    golden(f"metrics_{name.rsplit('.', 1)[0].replace('-', '_')}.txt", _golden_text(r))


@pytest.mark.parametrize("key", [("metrics.txt", 3), ("metrics.txt", 6), ("redis-info.txt", 2)])
def test_golden_corpus(key, golden):
    text = snippets(DATA / "corpus" / key[0])[key[1]]
    golden(f"metrics_corpus_{key[0].split('.')[0].replace('-', '_')}_{key[1]}.txt", _golden_text(best(text).parse(text, CTX)))


def test_grafana_formatted_values():
    r = GrafanaCsv().parse((METRICS / "grafana-wide.csv").read_text(encoding="utf-8"), CTX)
    values = dict(zip(zip(r.events["line"], r.events["metric"], strict=True), r.events["value"], strict=True))
    assert values[(3, "connected_clients")] == 3980.0  # "3.98 K"
    assert values[(2, "cpu")] == 35.0  # "35 %"
    assert values[(4, "Rejected")] == 1200.0  # 1.2 K
    assert (4, "connected_clients") not in values  # empty cell = null, no event


def test_info_series_of_snapshots():
    text = "--- 2026-03-14T02:12:00Z ---\nconnected_clients:412\nrejected_connections:0\n\n--- 2026-03-14T02:12:30Z ---\nconnected_clients:9980\nrejected_connections:37\n"
    r = RedisInfo().parse(text, CTX)
    assert accounted(r) and r.unrecognized_lines == 0 and not r.assumptions
    rej = r.events.filter(r.events["metric"] == "rejected_connections")
    assert rej["value"].to_list() == [0.0, 37.0]
    assert [str(t) for t in rej["ts"]] == ["2026-03-14 02:12:00+00:00", "2026-03-14 02:12:30+00:00"]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.name)
def test_samples_recognized_by_own_parser(parser):
    for sample in parser.samples:
        assert best(sample).name == parser.name
        assert parser.parse(sample, CTX).events.height >= 0


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.name)
@settings(max_examples=80, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_arbitrary_text_never_crashes(parser, text):
    r = parser.parse(text, CTX)
    assert accounted(r)
    parser.sniff(text)


FRAGMENTS = [
    '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]}]}}', "# TYPE a gauge",
    'a{x="1"} 2 1700000000000', "Time,a,b", "2026-03-14 02:12:00,1.2 K,", "Series;Time;Value", "x;bad;1",
    "| metric_name | timestamp | maximum |", "| a | 2021-11-10 21:25:00 | 3 |", "+---+", "connected_clients:5",
    "# Clients", "", "\ufeffsep=;", "TimeGenerated,MetricName,Maximum", "1/1/2026 1:00:00 AM,serverLoad,9",
]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.name)
@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.sampled_from(FRAGMENTS), max_size=10))
def test_fragments_account(parser, lines):
    r = parser.parse("\n".join(lines), CTX)
    assert accounted(r)
