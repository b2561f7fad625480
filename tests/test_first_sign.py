"""The first sign of an incident is a sign of the incident, not redis-server's boot sequence.

redis-server logs its start banner, version, `Configuration loaded`, `Server initialized` and host-tuning warnings
(`WARNING Memory overcommit must be enabled!`) with the `#` marker, which is its warning level. The incident window
already left a booting server's lines out; the Detection section ("First sign"), the merged timeline's bursts and
the resolution's last problem did not: on every real recording the report said the first sign came from the server
seconds (up to minutes) before the outage, when the server merely started, and the timeline led with "6 ×
redis.server.log". The first sign lies in the incident window.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from postmortem.analysis.pipeline import AnalyzeOptions, analyze

from .conftest import DATA

RECORDED = DATA / "recorded"
# restarts (a second boot mid-incident), pauses, no outage, a slow command; 4 to 48 pods
CASES = ["storm", "storm-48", "hang-24", "healthy-16", "eviction-16", "slow-nocfg-24", "per-request-8"]


@cache
def report_of(name: str):
    report, _ = analyze([str(RECORDED / name)], AnalyzeOptions())
    return report


def boot_lines(server_log: Path) -> set[int]:
    """Line numbers from each start banner to its ready line, read from the file itself."""
    lines, inside, out = server_log.read_text().splitlines(), False, set()
    for n, text in enumerate(lines, 1):
        if "Redis is starting" in text:
            inside = True
        if inside:
            out.add(n)
        if re.search(r"Ready to accept connections", text):
            inside = False
    return out


@pytest.mark.parametrize("name", CASES)
def test_the_first_sign_lies_in_the_incident_window(name):
    """Not before the window (a hang's window starts one client timeout before its first logged timeout, so the
    first sign may come after the window's start)."""
    report = report_of(name)
    assert report.detection, name
    assert report.window_start <= report.detection[0].ts <= report.window_end


@pytest.mark.parametrize("name", CASES)
def test_no_timeline_burst_or_last_problem_cites_a_booting_server(name):
    report = report_of(name)
    booting = boot_lines(RECORDED / name / "redis-server.log")
    assert booting, "every recording starts its server"
    cited = [(e.title, ev.line) for e in report.timeline for ev in e.evidence if ev.path.endswith("redis-server.log")]
    cited += [(s.what, s.evidence.line) for s in report.resolution if s.evidence.path.endswith("redis-server.log")
              and s.what == "recovered"]
    cited += [(d.kind, d.evidence.line) for d in report.detection if d.evidence.path.endswith("redis-server.log")]
    assert not [c for c in cited if c[1] in booting], cited


def test_a_warning_outside_the_boot_sequence_is_still_a_first_sign(tmp_path):
    """Control: the same warning logged while the server runs is a sign (the boot filter is by span, not by text)."""
    log = tmp_path / "redis-server.log"
    log.write_text(
        "1:C 07 Dec 2026 00:46:43.968 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo\n"
        "1:C 07 Dec 2026 00:46:43.968 # Redis version=7.0.15, bits=64, commit=00000000, modified=0, pid=1, just started\n"
        "1:M 07 Dec 2026 00:46:43.969 # Server initialized\n"
        "1:M 07 Dec 2026 00:46:43.970 * Ready to accept connections\n"
        "1:M 07 Dec 2026 00:47:10.001 # Error accepting a client connection: Too many open files\n"
    )
    report, _ = analyze([str(tmp_path)], AnalyzeOptions())
    assert report.detection and report.detection[0].evidence.line == 5
    assert report.window_start == report.detection[0].ts


@pytest.mark.parametrize("name", ["storm-pause-8", "storm-pause-16", "storm-pause-sparse-16"])
def test_a_counter_that_rose_at_one_sample_is_placed_between_that_sample_and_the_one_before(name):
    """PM302 said "rejected between 16:07:47.603 UTC and 16:07:47.603 UTC (peak +1,902 at 16:07:47.603 UTC)" when
    the exporter's poller could not connect during the storm and read the counter once after it: the rejections
    happened between the last sample before and that one."""
    report = report_of(name)
    pm302 = next(f for f in report.findings if f.rule_id == "PM302")
    prom = (RECORDED / name / "redis-exporter.prom").read_text().splitlines()
    before, after = pm302.evidence[0], pm302.evidence[-1]
    assert before.ts < after.ts and "rejected_connections" in prom[before.line - 1]
    assert f"between {before.ts:%H:%M:%S.%f}"[:-3] in pm302.title, pm302.title
    assert f"and {after.ts:%H:%M:%S.%f}"[:-3] in pm302.title and "one rise of the counter" in pm302.title
    assert "peak +" not in pm302.title
