"""The incident recorder: a live run against a real redis-server, and the committed recordings it made."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
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


@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not on PATH (apt-get install redis-server)"
)
@pytest.mark.slow
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


@pytest.mark.parametrize("name", ["storm", "healthy"])
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
    assert sum(p.stat().st_size for p in folder.iterdir()) < 300_000


@pytest.mark.parametrize("name", ["storm", "healthy"])
def test_recorded_facts_match_the_logs(name):
    folder = RECORDED / name
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    start, end = parse_iso(facts["outage"]["start"]), parse_iso(facts["outage"]["end"])
    assert start < end
    server_text = (folder / "redis-server.log").read_text()
    assert server_text.count(" - Accepted ") == facts["connections_accepted"]["server_log_accepted_lines"]
    assert any(start <= ts <= end for ts, _ in pod_lines(folder, "Connection refused"))
    startup = pod_lines(folder, "redis client: Redis(")
    assert len(startup) == facts["parameters"]["pods"]
    rejected = pod_lines(folder, "max number of clients reached")
    if name == "storm":
        assert facts["rejected_connections"]["total"] > 0
        assert facts["clients"]["errors_by_kind"]["max_clients"] > 0
        restarted = server_ready_times(server_text)[1]
        assert rejected and min(ts for ts, _ in rejected) >= restarted  # the rejections come with the restart
        assert all("Retry(NoBackoff(), 3)" in line for _, line in startup)
    else:
        assert facts["rejected_connections"]["total"] == 0
        assert rejected == []
        assert all("BlockingConnectionPool(max_connections=3" in line for _, line in startup)


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
