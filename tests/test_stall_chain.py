"""A server that runs again only long enough to take the connections queued in it, then stalls again (a `KEYS`
that waited in its socket through a pause): its stall ends with the last burst, not the first.

Blind recording slow-pause-20 (session 18, one machine, one clock): SIGSTOP at 35.7, SIGCONT at 38.7, where the
server logged its queued accepts and closes, then ran the queued `KEYS` until 41.3 and logged the rest at once.
The fleet's timeouts went on until 41.0; matched to the 38.7 burst they moved the server's log 3.3 s (PM002).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from postmortem.analysis.clocks import resume_bursts
from tests.recorded import RECORDED, analyze

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _server(rows: list[tuple[float, str]]) -> pl.DataFrame:
    kinds = {"a": "redis.server.client_accepted", "c": "redis.server.client_closed"}
    return pl.DataFrame([{"ts": T0 + timedelta(seconds=at), "path": "redis-server.log", "line": i + 1,
                          "kind": kinds[k], "value": 1.0} for i, (at, k) in enumerate(rows)],
                        schema={"ts": pl.Datetime("us", "UTC"), "path": pl.String, "line": pl.UInt32,
                                "kind": pl.String, "value": pl.Float64})


def _burst(at: float, n: int = 6) -> list[tuple[float, str]]:
    return [(at + i * 0.01, "ac"[i % 2]) for i in range(n)]


def _resumes(rows) -> list[tuple[float, float]]:
    return [((r["ts"] - T0).total_seconds(), (b["ts"] - T0).total_seconds())
            for r, b in resume_bursts(_server(rows), 4.0)]


def test_a_second_stall_right_after_a_resume_ends_the_stall():
    rows = [(0.0, "a"), *_burst(5.0), *_burst(8.0)]
    assert _resumes(rows) == [(pytest.approx(8.0), 0.0)]


def test_a_chain_of_stalls_ends_at_its_last_burst():
    rows = [(0.0, "a"), *_burst(5.0), *_burst(7.5), *_burst(10.0)]
    assert _resumes(rows) == [(pytest.approx(10.0), 0.0)]


@pytest.mark.parametrize("rows", [
    # the server ran on after its resume (lines for more than a second), then was idle and churned again
    [(0.0, "a"), *_burst(5.0), (5.5, "a"), (6.2, "c"), *_burst(9.0)],
    # a silence too short to be a stall of a running server
    [(0.0, "a"), *_burst(5.0), *_burst(6.5)],
    # closes alone after the silence: a fleet leaving, no resume
    [(0.0, "a"), *_burst(5.0), (8.0, "c"), (8.01, "c")],
])
def test_a_resume_the_server_ran_on_from_is_the_stalls_end(rows):
    assert _resumes(rows) == [(pytest.approx(5.0), 0.0)]


@pytest.mark.slow
def test_slow_pause_20_moves_no_clock(tmp_path):
    """One machine, one clock: no log is moved, and the outage ends when the queued `KEYS` did (41.3)."""
    folder = tmp_path / "slow-pause-20"
    shutil.copytree(RECORDED / "slow-pause-20", folder)
    report, _ = analyze([str(folder)])
    assert [c.path for c in report.clocks if c.offset_s] == []
    assert not [f for f in report.findings if f.rule_id == "PM002"]


@pytest.mark.slow
def test_a_fleet_that_names_redis_only_in_its_failures_began_before_them(tmp_path):
    """per-request-pause-st17-nocfg-12: pods that log no client configuration write redis-py lines only when a
    call fails, so the fleet's first redis-py line is the pause itself; the stall test took that for the fleet's
    start, found the server log beginning before it, and matched the server's start-up burst to the pause's end
    (PM002 "36.5 s behind"). The fleet's work began with its first line: no clock moves, the pause is found."""
    folder = tmp_path / "per-request-pause-st17-nocfg-12"
    shutil.copytree(RECORDED / "per-request-pause-st17-nocfg-12", folder)
    report, _ = analyze([str(folder)])
    assert [c.path for c in report.clocks if c.offset_s] == []
    (pm100,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert pm100.start.isoformat().startswith("2026-12-07T20:35:15")
