"""The .NET metrics-only storm fixture (issue #15) parses as its facts say: every file by its own parser, no
unrecognized lines, the metric series with their peaks, and the StackExchange.Redis client kinds on every pod.
The PM101 outcome is asserted elsewhere, once the storm detector reads metrics and client logs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from postmortem.input.ingest import ingest
from postmortem.redaction import redact_events

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "dotnet-metrics-storm"
FACTS = json.loads((DATA / "dotnet-metrics-storm.facts.json").read_text(encoding="utf-8"))
METRICS_FILE = FACTS["metrics"]["file"]
PASSWORD = "Rd1s-Pr0d-7x!q"  # the generator's invented password: must never reach an event


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def result():
    return ingest([str(FIXTURE)])


def test_every_file_has_its_parser_and_no_unrecognized_lines(result):
    parsers = {Path(f.path).name: f.parser for f in result.inputs}
    expected = {f"{pod}.log": ("log:serilog" if info["layout"] == "serilog text" else "log:kubectl_ts+mel_console")
                for pod, info in FACTS["pods"]["per_pod"].items()}
    expected |= {"redis-master-0.log": "log:redis_server", METRICS_FILE: "grafana_csv"}
    assert parsers == expected
    for f in result.inputs:
        assert f.unrecognized_lines == 0, f.path
        assert not f.problems, (f.path, f.problems)


def test_metric_series_show_the_storm(result):
    m = result.events.filter(pl.col("source") == "metrics")
    clients = m.filter(pl.col("metric") == "connected_clients").sort("ts")
    before = clients.filter(pl.col("ts") == _ts(FACTS["outage"]["start"]))["value"].item()
    assert before == FACTS["population_before"]["connected_clients"] == 803
    peak = clients.sort("value", descending=True).row(0, named=True)
    assert peak["value"] == FACTS["peak_clients"]["connected_clients"] == 2173
    assert peak["ts"] == _ts(FACTS["peak_clients"]["at"])
    received = m.filter(pl.col("metric") == "connections_received").sort("ts")
    storm = received.filter(pl.col("ts").is_between(_ts(FACTS["storm"]["start"]), _ts(FACTS["storm"]["end"])))
    seconds = (storm["ts"][-1] - storm["ts"][0]).total_seconds()
    rate = (storm["value"][-1] - storm["value"][0]) / seconds
    assert rate == pytest.approx(FACTS["storm"]["new_connections_per_second"], abs=0.1)
    assert 380 <= rate <= 440
    base = received.filter(pl.col("ts") <= _ts(FACTS["outage"]["start"]))
    base_rate = (base["value"][-1] - base["value"][0]) / (base["ts"][-1] - base["ts"][0]).total_seconds()
    assert base_rate == pytest.approx(FACTS["storm"]["new_connections_per_second_baseline"], abs=0.1)
    assert m.filter(pl.col("metric") == "rejected_connections")["value"].max() == 0
    first, last = m["ts"].min(), m["ts"].max()
    assert (_ts(FACTS["outage"]["start"]) - first).total_seconds() >= 115
    assert (last - _ts(FACTS["storm"]["end"])).total_seconds() >= 115


def test_client_kinds_on_every_pod(result):
    se = result.events.filter(pl.col("source") == "stackexchange_redis")
    pods = set(FACTS["pods"]["names"])
    assert len(pods) == FACTS["pods"]["count"] == 8
    for kind in ("redis.no_connection", "redis.connection_lost", "redis.connection_restored", "redis.reconnect_attempt"):
        assert set(se.filter(pl.col("kind") == kind)["host"].to_list()) == pods, kind
    assert se.filter(pl.col("kind") == "redis.connect_failed").height == sum(
        p["unable_to_connect"] for p in FACTS["pods"]["per_pod"].values())
    assert set(se["entity"].drop_nulls().to_list()) == {"redis:" + FACTS["redis"]["endpoint"]}
    assert se["entity"].null_count() == 0
    attrs = se.filter(pl.col("kind") == "redis.no_connection")["attrs"].str.json_decode()
    assert set(attrs.struct.field("lib_version").to_list()) == {FACTS["client"]["version"]}
    assert attrs.struct.field("mc").null_count() == 0 and attrs.struct.field("mgr").null_count() == 0
    cfg = se.filter(pl.col("kind") == "redis.config")
    logged = {p for p, info in FACTS["pods"]["per_pod"].items() if info["abortConnect_true_logged"]}
    assert set(cfg["host"].to_list()) == logged and 0 < len(logged) < len(pods)
    assert cfg["attrs"].str.json_decode().struct.field("abortConnect").to_list() == [True] * cfg.height
    shown = redact_events(se)  # the one redaction pass every output goes through
    assert PASSWORD not in "".join(shown["message"].to_list() + shown["attrs"].to_list())


def test_restored_and_reconnects_follow_the_outage(result):
    se = result.events.filter(pl.col("source") == "stackexchange_redis")
    start, end, storm_end = (_ts(FACTS["outage"]["start"]), _ts(FACTS["outage"]["end"]), _ts(FACTS["storm"]["end"]))
    lost = se.filter(pl.col("kind").is_in(["redis.connection_lost", "redis.no_connection"]))
    assert lost["ts"].min() >= start and lost["ts"].max() < end
    again = se.filter(pl.col("kind").is_in(["redis.connection_restored", "redis.reconnect_attempt"]))
    assert again["ts"].min() >= end and again["ts"].max() < storm_end
    assert (again["ts"].max() - again["ts"].min()).total_seconds() >= 20


def test_server_log_has_nothing_about_connections(result):
    srv = result.events.filter(pl.col("source") == "redis_server")
    assert srv.height > 0
    assert set(srv["kind"].to_list()) == {"redis.server.log"}
    assert not srv["message"].str.contains("(?i)accept|client|connection").any()


def test_generator_is_deterministic(tmp_path):
    out = tmp_path / "dotnet-metrics-storm"
    subprocess.run([sys.executable, str(DATA.parent.parent / "tools" / "make_dotnet_fixture.py"), "--out", str(out)],
                   check=True, capture_output=True)
    for f in sorted(out.iterdir()):
        assert f.read_bytes() == (FIXTURE / f.name).read_bytes(), f.name
    assert (tmp_path / "dotnet-metrics-storm.facts.json").read_bytes() == (DATA / "dotnet-metrics-storm.facts.json").read_bytes()

