"""The incident recorder: a live run against a real redis-server, and the committed recordings it made."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postmortem.input.ingest import ingest

from .conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "record_incident.py"
RECORDED = DATA / "recorded"
POD_TS = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) ")


def load_tool():
    spec = importlib.util.spec_from_file_location("record_incident", TOOL)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["record_incident"] = mod
    spec.loader.exec_module(mod)
    return mod


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def pod_lines(folder: Path, needle: str) -> list[tuple[datetime, str]]:
    """(UTC time, line) of pod log lines containing `needle`."""
    out = []
    for log in sorted(folder.glob("*.log")):
        if log.name == "redis-server.log":
            continue
        for line in log.read_text(encoding="utf-8").splitlines():
            m = POD_TS.match(line)
            if m and needle in line:
                ts = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
                out.append((ts, line))
    return out


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (the pods carry their --out folder in --pod-config)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


def server_ready_times(text: str) -> list[datetime]:
    """When each redis-server lifetime logged `Ready to accept connections` (UTC, from its own log)."""
    found = re.findall(r"^\d+:M (\d+ \w+ \d{4} \d\d:\d\d:\d\d\.\d{3}) \* Ready to accept", text, re.M)
    return [datetime.strptime(t, "%d %b %Y %H:%M:%S.%f").replace(tzinfo=UTC) for t in found]


def server_pids(log: Path) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(r"^(\d+):[CMSX] ", log.read_text(), re.M)}


needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not on PATH (apt-get install redis-server)"
)
RECORDINGS = sorted(p.name.removesuffix(".facts.json") for p in RECORDED.glob("*.facts.json"))


def facts_of(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


# the recordings of tools/record_incident.py (tools/record_cascade.py's are tested in tests/test_cascade.py)
FIXTURES = [n for n in RECORDINGS if facts_of(n).get("recorder", "tools/record_incident.py") == "tools/record_incident.py"]


@pytest.mark.slow
@needs_redis
def test_live_storm_recording(tmp_path):
    pytest.importorskip("redis", reason="redis-py is not installed (pip install -e '.[test]')")
    out = tmp_path / "storm"
    proc = subprocess.run(
        [
            sys.executable,
            str(TOOL),
            "--scenario",
            "storm",
            "--out",
            str(out),
            "--seconds",
            "6",
            "--timeout",
            "25",
        ],
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    facts = json.loads((tmp_path / "storm.facts.json").read_text())
    assert not (out / "storm.facts.json").exists()

    start, end = parse_iso(facts["outage"]["start"]), parse_iso(facts["outage"]["end"])
    assert start < end

    server_log = out / "redis-server.log"
    text = server_log.read_text()
    assert len(re.findall(r" - Accepted 127\.0\.0\.1:\d+", text)) >= facts["parameters"]["pods"]
    assert text.count("Ready to accept connections") == 2  # started, restarted on the same port and log

    refused = pod_lines(out, "Connection refused")
    assert any(start <= ts <= end for ts, _ in refused), (
        "no connection-refused error logged during the outage"
    )
    assert facts["clients"]["errors_by_kind"]["connection_refused"] > 0
    assert facts["files"]["redis-server.log"]["lines"] == len(text.splitlines())

    # Nothing left running: neither redis-server lifetime nor any pod.
    for pid in server_pids(server_log):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert processes_mentioning(str(out)) == []


def test_every_recorded_folder_has_its_facts():
    folders = sorted(p.name for p in RECORDED.iterdir() if p.is_dir())
    assert folders == RECORDINGS
    assert {"storm", "healthy", "healthy-4", "healthy-16", "healthy-48", "storm-16", "hang-8", "slow-8"} <= set(
        FIXTURES
    )


@pytest.mark.parametrize("name", RECORDINGS)
def test_recorded_fixture_is_fully_accounted(name):
    folder = RECORDED / name
    result = ingest([str(folder)])
    names = sorted(Path(i.path).name for i in result.inputs)
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    assert names == sorted(facts["files"])
    for info in result.inputs:
        assert not info.skipped, info.problems
        assert info.lines == facts["files"][Path(info.path).name]["lines"]
        assert info.accounted(), (
            info.path,
            info.lines,
            info.event_lines,
            info.unrecognized_lines,
            info.blank_lines,
        )
    # busy-16: 16 pods at 25 requests/s, 901 kB; the fleets refused at maxclients for 6 s before a 6 s restart
    # need their 50 requests/s for 24 s (storm-rate50-long-8 1.96 MB, -16 3.99 MB); scaleout-pause-16's server log
    # holds an `Accepted` line for each of the 9,894 connections its 32 pods asked for (1.27 MB)
    limit = 4_000_000 if name.startswith("storm-rate50-long-") else 1_300_000 if name == "scaleout-pause-16" \
        else 1_100_000
    assert sum(p.stat().st_size for p in folder.iterdir()) < limit


def pod_logs(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.glob("*.log")) if p.name != "redis-server.log" and "session-cleanup" not in p.name]


def _shifted(folder: Path, shift: dict, needle: str) -> list[tuple[datetime, str]]:
    out = []
    for log in pod_logs(folder):
        back = timedelta(seconds=shift.get(log.stem, 0.0))
        for ts, line in pod_lines_of(log, needle):
            out.append((ts - back, line))
    return out


def pod_lines_of(log: Path, needle: str) -> list[tuple[datetime, str]]:
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        m = POD_TS.match(line)
        if m and needle in line:
            out.append((datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC), line))
    return out


@pytest.mark.parametrize("name", [n for n in FIXTURES if facts_of(n)["outage"]["kind"] == "restart"])
def test_recorded_restarts_match_the_logs(name):
    folder = RECORDED / name
    facts = facts_of(name)
    start, end = parse_iso(facts["outage"]["start"]), parse_iso(facts["outage"]["end"])
    assert start < end
    server_text = (folder / "redis-server.log").read_text()
    assert server_text.count(" - Accepted ") == facts["connections_accepted"]["server_log_accepted_lines"]
    assert server_text.count("Ready to accept connections") == 2
    refused = _shifted(folder, facts.get("clocks", {}).get("written_minus_true_seconds", {}), "Connection refused")
    if facts["clients"]["errors_by_kind"].get("connection_refused"):  # per-request-40: restarted after the traffic
        assert any(start <= ts <= end + timedelta(seconds=0.5) for ts, _ in refused)
    else:
        assert refused == []
    startup = pod_lines(folder, "redis client: Redis(")
    logged = facts["parameters"].get("log_config", True)  # --no-config-log: pods that never print it
    assert len(startup) == (len(facts["parameters"]["pod_names"]) if logged else 0)
    # in true UTC: scaleout-saopaulo-12's pods wrote São Paulo local time
    rejected = _shifted(folder, facts.get("clocks", {}).get("written_minus_true_seconds", {}),
                        "max number of clients reached")
    pool = facts["parameters"]["max_connections"]
    unlimited = facts["parameters"]["maxclients"] >= facts["parameters"]["pods"] * facts["parameters"]["workers"] * 4
    if facts["parameters"]["backoff"] == "NoBackoff" and unlimited:  # the storm configuration with room to grow
        assert facts["rejected_connections"]["total"] == 0 and rejected == []
        assert all("Retry(NoBackoff(), 3)" in line for _, line in startup)
        before, after = facts["connections_accepted"]["per_server_lifetime"]
        if facts["parameters"]["workers"] >= 8:
            assert after >= 3 * before  # every thread opened its own connection at once after the restart
        else:  # storm-slow-nocfg-*: two threads a pod at 1 request/s, one or two connections each
            assert after > before
    elif facts["parameters"]["backoff"] == "NoBackoff":  # the storm configuration at its limit
        assert facts["rejected_connections"]["total"] > 0
        assert facts["clients"]["errors_by_kind"]["max_clients"] > 0
        assert facts["max_connected_clients"] == facts["parameters"]["maxclients"]
        restarted = server_ready_times(server_text)[1]
        if facts["rejected_connections"]["per_server_lifetime"][0]:  # storm-rate50-long-*: refused before it too
            assert rejected and min(ts for ts, _ in rejected) < start
        else:
            assert rejected and min(ts for ts, _ in rejected) >= restarted  # the rejections come with the restart
        assert all("Retry(NoBackoff(), 3)" in line for _, line in startup)
    elif pool is None:  # storm-jitter-*: the storm with backoff alone (the what-if check): still rejected
        assert facts["rejected_connections"]["total"] > 0 and rejected
        assert facts["max_connected_clients"] == facts["parameters"]["maxclients"]
        assert all("ExponentialWithJitterBackoff" in line and "max_connections=None" in line for _, line in startup)
    else:  # healthy at any fleet size: capped pools well inside maxclients, nothing rejected
        assert facts["rejected_connections"]["total"] == 0
        assert rejected == []
        assert len(facts["parameters"]["pod_names"]) * pool < facts["parameters"]["maxclients"]
        assert all(f"BlockingConnectionPool(max_connections={pool}" in line for _, line in startup)
        assert all("ExponentialWithJitterBackoff" in line for _, line in startup)


def test_healthy_fixtures_span_eight_fleet_sizes_with_pools_4_to_16():
    sizes = {facts_of(n)["parameters"]["pods"]: facts_of(n)["parameters"]["max_connections"] for n in FIXTURES
             if n.startswith("healthy-")}
    # healthy-pause-24 (session 12) added 24, healthy-pause-20 (13) 20, healthy-pause-tokyo-36 (14) 36
    assert sorted(sizes) == [4, 16, 20, 24, 32, 36, 40, 48]
    assert all(4 <= pool <= 16 for pool in sizes.values())
    assert all(facts_of(n)["rejected_connections"]["total"] == 0 for n in FIXTURES if n.startswith("healthy"))


@pytest.mark.parametrize("size", [8, 24])
def test_pairs_share_outage_and_fleet(size):
    storm, healthy = facts_of(f"pair-storm-{size}"), facts_of(f"pair-healthy-{size}")
    same = ("pods", "workers", "rate", "job_share", "maxclients", "seconds", "outage", "outage_seconds")
    assert {k: storm["parameters"][k] for k in same} == {k: healthy["parameters"][k] for k in same}
    assert storm["parameters"]["pods"] == size
    assert storm["rejected_connections"]["total"] > 0
    assert healthy["rejected_connections"]["total"] == 0
    assert healthy["max_connected_clients"] < healthy["parameters"]["maxclients"]


def test_hang_times_out_on_every_pod_without_refusals():
    facts = facts_of("hang-8")
    assert facts["outage"]["kind"] == "pause"
    assert len(facts["clients_by_pod"]) == 8
    assert all(p["errors"].get("timeout", 0) > 0 for p in facts["clients_by_pod"].values())
    assert "connection_refused" not in facts["clients"]["errors_by_kind"]
    start, end = parse_iso(facts["outage"]["start"]), parse_iso(facts["outage"]["end"])
    timeouts = pod_lines(RECORDED / "hang-8", "Timeout")
    assert timeouts and all(start <= ts <= end + timedelta(seconds=1) for ts, _ in timeouts)
    assert (RECORDED / "hang-8" / "redis-server.log").read_text().count("Ready to accept connections") == 1


def test_slow_command_is_in_the_cronjob_log_and_the_slowlog():
    folder, facts = RECORDED / "slow-8", facts_of("slow-8")
    slow = facts["slow_command"]
    assert slow["command"] == "KEYS user:session:*:expired" and slow["seconds"] > 1.0
    cron = [p for p in folder.glob("session-cleanup-*.log")]
    assert len(cron) == 1
    text = cron[0].read_text()
    assert "running KEYS pattern=user:session:*:expired" in text and f"KEYS took {slow['seconds']:.2f} s" in text
    slowlog = (folder / "slowlog.txt").read_text()
    assert '4) 1) "KEYS"' in slowlog and slow["slowlog_entries"] >= 1
    micros = int(re.search(r"3\) \(integer\) (\d+)", slowlog).group(1))
    assert abs(micros / 1e6 - slow["seconds"]) < 0.2
    start, end = parse_iso(slow["start"]), parse_iso(slow["end"])
    assert all(p["errors"].get("timeout", 0) > 0 for p in facts["clients_by_pod"].values())
    timeouts = pod_lines(folder, "Timeout")
    assert timeouts and all(start <= ts <= end + timedelta(seconds=1.5) for ts, _ in timeouts)
    assert facts["outage"]["kind"] == "none" and facts["rejected_connections"]["total"] == 0


@pytest.mark.parametrize("name", ["scaleout", "scaleout-8", "scaleout-16"])
def test_scaleout_events_are_a_kubectl_table_at_real_times(name):
    folder, facts = RECORDED / name, facts_of(name)
    result = ingest([str(folder / "k8s-events.txt")])
    kinds = result.events.get_column("kind").to_list()
    assert kinds.count("k8s.SuccessfulRescale") == 1 and kinds.count("k8s.ScalingReplicaSet") == 1
    rescale = result.events.filter(result.events["kind"] == "k8s.SuccessfulRescale")
    ts = rescale.get_column("ts")[0]
    true = parse_iso(facts["scaleout"]["rescaled_at"])
    assert abs((ts - true).total_seconds()) < 1.0  # the table has whole seconds
    assert f"New size: {facts['scaleout']['to']}" in rescale.get_column("message")[0]
    start, end = parse_iso(facts["outage"]["start"]), parse_iso(facts["outage"]["end"])
    assert start < true < end
    assert len(facts["clients_by_pod"]) == facts["scaleout"]["to"] > facts["scaleout"]["from"]


def test_eviction_shows_in_the_exporter_file():
    folder, facts = RECORDED / "eviction", facts_of("eviction")
    assert facts["evicted_keys"]["total"] > 0 and facts["evicted_keys"]["policy"] == "allkeys-lru"
    values = [int(line.split()[1]) for line in (folder / "redis-exporter.prom").read_text().splitlines()
              if line.startswith("redis_evicted_keys_total{")]
    assert values[0] == 0 and max(values) == facts["evicted_keys"]["total"]
    assert facts["clients"]["failed_requests"] == 0


@pytest.mark.parametrize(("name", "zone", "skew"), [("skewed", "Europe/Berlin", 40.0),
                                                     ("skewed-16", "America/New_York", -25.0)])
def test_skewed_clocks_are_written_as_the_facts_say(name, zone, skew):
    folder, facts = RECORDED / name, facts_of(name)
    clocks = facts["clocks"]
    assert clocks["app_tz"] == zone and clocks["app_written_with_offset"] is False
    skewed = clocks["pod_skew_seconds"]
    assert list(skewed.values()) == [skew]
    run_start = parse_iso(facts["run"]["start"])
    for log in pod_logs(folder):
        shift = clocks["written_minus_true_seconds"][log.stem]
        assert shift == clocks["app_utc_offset_seconds"] + skewed.get(log.stem, 0.0)
        first_request = pod_lines_of(log, "")[1][0] - timedelta(seconds=shift)  # after the startup line
        assert abs((first_request - run_start).total_seconds()) < 8
    server = server_ready_times((folder / "redis-server.log").read_text())[0]
    assert server < run_start  # the server log stays UTC


def test_lifetime_totals_split_on_restart():
    tool = load_tool()
    snaps = [
        {"ts": 1.0, "rejected_connections": 0, "uptime_in_seconds": 5},
        {"ts": 2.0, "rejected_connections": 3, "uptime_in_seconds": 6},
        {"ts": 3.0, "rejected_connections": None, "uptime_in_seconds": None},
        {"ts": 4.0, "rejected_connections": 1, "uptime_in_seconds": 0},
        {"ts": 5.0, "rejected_connections": 9, "uptime_in_seconds": 1},
    ]
    assert tool.lifetime_totals(snaps, "rejected_connections") == [3, 9]
    assert tool.first_increase(snaps, "rejected_connections") == 2.0


def test_error_kinds_follow_redis_py_messages():
    tool = load_tool()
    assert tool.error_kind(
        ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    ) == ("connection_refused")
    assert tool.error_kind(ConnectionError("max number of clients reached")) == "max_clients"
    assert tool.error_kind(ConnectionError("No connection available.")) == "pool_exhausted"
    assert tool.error_kind(TimeoutError("Timeout reading from 127.0.0.1:6379")) == "timeout"
    assert tool.error_kind(ConnectionError("Connection closed by server.")) == "connection_lost"
    assert tool.error_kind(ValueError("x")) == "other:ValueError"
    # redis-py 8's WatchError wordings: a connection lost while watching vs an optimistic-lock conflict
    watch = type("WatchError", (Exception,), {})
    assert tool.error_kind(watch("A ConnectionError occurred while watching one or more keys")) == "connection_lost"
    assert tool.error_kind(watch("A TimeoutError occurred while watching one or more keys")) == "timeout"
    assert tool.error_kind(watch("Watched variable changed.")) == "other:WatchError"


def test_configure_sizes_the_limit_with_the_fleet(monkeypatch):
    tool = load_tool()
    storm = tool.configure("storm", clients=16)
    assert (storm.pods, storm.maxclients) == (16, 64)  # a limit sized for calm traffic, 4 per pod
    healthy = tool.configure("healthy", clients=48, pool_max=16, workers=4, rate=2)
    assert (healthy.pods, healthy.max_connections, healthy.workers, healthy.rate) == (48, 16, 4, 2)
    assert healthy.maxclients >= 2 * 48 * 16 + 32
    assert tool.configure("scaleout", clients=3).scaleout_to == 6
    assert tool.configure("storm", clients=8, maxclients=40).maxclients == 40
    assert tool.configure("healthy", job_share=0.1).job_share == 0.1
    with pytest.raises(ValueError, match="pods x pool"):
        tool.configure("healthy", clients=8, pool_max=4, maxclients=32)  # 32 pooled + the poller > 32
    monkeypatch.setitem(tool.SCENARIOS, "healthy", replace(tool.SCENARIOS["healthy"], maxclients=100))
    with pytest.raises(ValueError, match="comfortably"):
        tool.configure("healthy", clients=16)  # 64 pooled: a healthy fleet must not sit near its limit
    with pytest.raises(ValueError, match="--clients"):
        tool.configure("healthy", clients=tool.MAX_PODS + 1)


def test_scenario_defaults():
    tool = load_tool()
    assert tool.SCENARIOS["hang"].outage == "pause" and tool.SCENARIOS["hang"].socket_timeout
    assert tool.SCENARIOS["slow"].outage == "none" and tool.SCENARIOS["slow"].slow_pattern
    assert tool.SCENARIOS["eviction"].maxmemory and tool.SCENARIOS["eviction"].write_bytes
    assert tool.SCENARIOS["scaleout"].scaleout_to > tool.SCENARIOS["scaleout"].pods
    assert len(tool.pod_names(tool.SCENARIOS["scaleout"])) == tool.SCENARIOS["scaleout"].scaleout_to
    # the same scenario gives the same pod names whatever the fleet size (pairs stay comparable)
    small, big = tool.configure("healthy", clients=4), tool.configure("healthy", clients=16)
    assert tool.pod_names(big)[:4] == tool.pod_names(small)


def test_pod_clock_writes_local_time_without_offset_and_skew():
    tool = load_tool()
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "x", None, None)
    record.created = datetime(2026, 1, 15, 12, 0, 0, 250_000, tzinfo=UTC).timestamp()
    assert tool.PodClockFormatter(tool.LOG_FORMAT, None, 0.0).formatTime(record) == "2026-01-15 12:00:00,250"
    berlin = tool.PodClockFormatter(tool.LOG_FORMAT, "Europe/Berlin", 40.0)
    assert berlin.formatTime(record) == "2026-01-15 13:00:40,250"
    assert tool.parse_skew(["1=40", "3=-2.5"]) == {1: 40.0, 3: -2.5}
    with pytest.raises(ValueError):
        tool.parse_skew(["pod-a=40"])
    clocks = tool.pod_clock_facts(["a", "b"], tool.Clocks("Europe/Berlin", {1: 40.0}), record.created, False)
    assert clocks["written_minus_true_seconds"] == {"a": 3600.0, "b": 3640.0}
    assert clocks["pod_skew_seconds"] == {"b": 40.0} and clocks["k8s_events"] is None


def test_kubectl_events_table_is_read_with_its_times(tmp_path):
    tool = load_tool()
    sc = tool.configure("scaleout", clients=2)
    names = tool.pod_names(sc)
    t0 = datetime(2026, 3, 14, 2, 13, 5, tzinfo=UTC).timestamp()
    events = tool.scaleout_events(sc, names, t0, {n: t0 + 2 for n in names[2:]})
    path = tmp_path / "k8s-events.txt"
    path.write_text(tool.k8s_events_table(events))
    result = ingest([str(path)])
    info = result.inputs[0]
    assert info.accounted() and info.unrecognized_lines == 0 and info.lines == len(events) + 1  # + header
    df = result.events.sort("line")
    assert df.height == len(events)
    assert df.get_column("kind").to_list()[:2] == ["k8s.SuccessfulRescale", "k8s.ScalingReplicaSet"]
    assert df.get_column("message")[0].startswith("New size: 4; reason: cpu resource utilization")
    assert df.get_column("ts")[0] == datetime(2026, 3, 14, 2, 13, 5, tzinfo=UTC)
    assert df.get_column("ts").max() == datetime(2026, 3, 14, 2, 13, 7, tzinfo=UTC)


def test_exporter_file_keeps_evictions_and_memory(tmp_path):
    tool = load_tool()
    snaps = [
        {"ts": 100.1, "connected_clients": 3, "evicted_keys": 0, "used_memory": 10, "maxmemory": 2097152},
        {"ts": 101.2, "connected_clients": 3, "evicted_keys": 7, "used_memory": 20, "maxmemory": 2097152},
    ]
    path = tmp_path / "redis-exporter.prom"
    tool.write_prometheus(path, 6379, snaps, [(102.5, "refused")])
    text = path.read_text()
    assert 'redis_evicted_keys_total{addr="redis://127.0.0.1:6379"} 7 101200' in text
    assert "redis_memory_max_bytes{" in text and 'redis_up{addr="redis://127.0.0.1:6379"} 0 102500' in text


def test_exporter_file_keeps_a_failed_scrape_in_a_second_that_had_an_answered_one(tmp_path):
    """A scraper records every scrape: one answered a second (its interval), and a poll that got no answer is
    `redis_up 0` stamped when it began, even in a second whose first poll was answered (the old writer kept the first
    poll of each second only: storm-pause-8's pause at 14:15:08.089 first showed as `redis_up 0` at 10.366)."""
    tool = load_tool()
    snaps = [{"ts": 107.157, "connected_clients": 9}, {"ts": 108.088, "connected_clients": 9},
             {"ts": 108.3, "connected_clients": 9}]
    path = tmp_path / "redis-exporter.prom"
    tool.write_prometheus(path, 6379, snaps, [(108.288, "Timeout reading from socket"), (108.5, "again"),
                                              (110.366, "max number of clients reached")])
    ups = [line.split()[1:] for line in path.read_text().splitlines() if line.startswith("redis_up{")]
    assert ups == [["1", "107157"], ["1", "108088"], ["0", "108288"], ["0", "110366"]]


def test_record_refuses_to_append_to_an_older_recording(tmp_path):
    tool = load_tool()
    out = tmp_path / "old"
    out.mkdir()
    (out / "redis-server.log").write_text("older run\n")
    with pytest.raises(FileExistsError):
        tool.record(tool.SCENARIOS["healthy"], out, 12.0, binary="/bin/true")


def test_record_refuses_an_outage_after_the_traffic(tmp_path):
    """per-request's outage comes after 34 s of traffic: at --seconds 12 its pods had stopped long before it (three
    blind recordings of session 14 held no traffic during their outage)."""
    tool = load_tool()
    with pytest.raises(ValueError, match="ends the traffic"):
        tool.record(tool.SCENARIOS["per-request"], tmp_path / "short", 12.0, binary="/bin/true")
    assert not (tmp_path / "short").exists()


def test_client_settings_as_a_snippet_sets_them():
    tool = load_tool()
    sc = tool.configure("storm", 16, pool_max=3, maxclients=64, client={
        "backoff": "ExponentialWithJitterBackoff(base=0.1,cap=10)", "retries": "3", "pool": "BlockingConnectionPool",
        "pool_timeout": "2", "socket_timeout": "2", "socket_connect_timeout": "none"})
    assert (sc.backoff, sc.backoff_base, sc.backoff_cap, sc.retries) == ("ExponentialWithJitterBackoff", 0.1, 10.0, 3)
    assert (sc.pool, sc.max_connections, sc.pool_timeout, sc.socket_timeout) == ("BlockingConnectionPool", 3, 2.0, 2.0)
    assert sc.socket_connect_timeout is None and sc.app_retry_interval == 0.25  # the app's own loop is kept
    assert tool.configure("storm", 16, client={"backoff": "NoBackoff"}).backoff_cap == 0.0


def test_cli_rejects_bad_knobs(capsys):
    tool = load_tool()
    for argv in (["--clients", "0"], ["--pod-skew", "x"], ["--app-tz", "Mars/Olympus"], ["--job-share", "2"],
                 ["--scenario", "per-request", "--seconds", "12"], ["--client", "backoff=Fibonacci(base=1,cap=2)"],
                 ["--client", "retries"], ["--client", "color=blue"],
                 ["--client", "pool=BlockingConnectionPool", "--pool-max", "3"]):  # the last: maxclients 16 < 2x12+32
        with pytest.raises(SystemExit):
            tool.main(["--out", "/nonexistent/never-written", *argv])
    assert "error" in capsys.readouterr().err


def record_small(out: Path, *argv: str) -> dict:
    """A two-pod live recording into `out`; its facts."""
    pytest.importorskip("redis")
    argv = ["--clients", "2", "--out", str(out), *argv]
    proc = subprocess.run([sys.executable, str(TOOL), *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out.parent / f"{out.name}.facts.json").read_text())


@pytest.mark.slow
@needs_redis
@pytest.mark.parametrize("scenario", ["hang", "eviction"])
def test_live_small_recording(tmp_path, scenario):
    out = tmp_path / scenario
    facts = record_small(out, "--scenario", scenario, "--seconds", "5", "--app-tz", "Europe/Berlin", "--pod-skew", "0=40")
    names = facts["parameters"]["pod_names"]
    assert facts["clocks"]["written_minus_true_seconds"][names[0]] in (3640.0, 7240.0)  # CET or CEST
    if scenario == "hang":
        assert all(p["errors"].get("timeout", 0) > 0 for p in facts["clients_by_pod"].values())
    else:
        assert facts["evicted_keys"]["total"] > 0
    assert processes_mentioning(str(out)) == []


@pytest.mark.slow
@needs_redis
@pytest.mark.parametrize("mode", ["reset", "blackhole"])
def test_live_network_outage_leaves_the_server_running(tmp_path, mode):
    """The pods reach Redis through tools/netrelay.py, which fails for the outage; the server never restarts."""
    out = tmp_path / mode
    facts = record_small(out, "--scenario", "healthy", "--outage", mode, "--seconds", "6")
    outage, text = facts["outage"], (out / "redis-server.log").read_text()
    assert outage["kind"] == mode and outage["server_down"] is None and 1.9 < outage["seconds"] < 3.0
    assert outage["network"]["relay_port"] != outage["network"]["server_port"] == facts["parameters"]["port"]
    assert text.count("Ready to accept connections") == 1 and facts["polls"]["failed"] == 0  # the exporter: direct
    assert all(f"port={outage['network']['relay_port']}" in line for _, line in pod_lines(out, "redis client: Redis("))
    if mode == "reset":
        # one line per reset connection the server was reading (one reset while it wrote logs `Error writing to client`)
        assert 0 < text.count("Reading from client: Connection reset by peer") <= outage["network"]["connections_at_start"]
        assert facts["clients"]["errors_by_kind"].get("connection_refused", 0) > 0
    else:
        assert outage["network"]["connections_held_at_end"] == outage["network"]["connections_at_start"]
    assert processes_mentioning(str(out)) == []
    assert processes_mentioning(f"--listen-port {outage['network']['relay_port']} ") == []  # the relay ended too


def test_cli_refuses_an_unknown_outage_in_one_line(capsys):
    tool = load_tool()
    with pytest.raises(SystemExit):
        tool.main(["--out", "/nonexistent/never-written", "--outage", "partition"])
    assert "invalid choice" in capsys.readouterr().err
