"""PM100 names the outage's own shutdown, not the next server lifetime's (correlate._outage_shutdown).

The recorder ends every run by shutting the server down again; when that came within 5 s of the outage's first client
failure, PM100 took the latest shutdown line in reach: the end of the run, logged after the server's ready line, as
`server_down` (storm-32: 18:57:27 for a server back at 18:57:24.7), and the window started at the first client failure
instead of the outage's shutdown (per-request-16: 1.8 s for a 2.0 s restart, the title and the summary).

The shutdown places the start only when the server log is not behind its clients (correlate._log_behind): a first try
(6ff44dd, reverted) let pair-storm-24's server log, 1.1 s behind with no exporter to correct it, start the window 1.1 s
early, and PM402's window moved 3.1 s (tests/test_clocks.py).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import pytest

from postmortem.analysis.pipeline import AnalyzeOptions, analyze

from .conftest import DATA
from .test_clocks import shift_file

RECORDED = DATA / "recorded"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _outage(name: str):
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)], AnalyzeOptions(select=("PM100",)))
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    return facts["outage"], f


# The old code named the run's final shutdown in all of these (a restart at 16 to 48 pods, and a pause at 40: a
# paused server logs no shutdown at all); per-request-16 and healthy-40 were recorded in session 10 at sizes no fixture
# had. The controls (healthy-16, storm-16, hang-8) stopped their runs later and were right before.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-unlimited-16", "pair-healthy-24", "storm-32", "healthy-40", "storm-48",
                                  "per-request-16", "hang-40", "healthy-16", "storm-16", "hang-8"])
def test_the_shutdown_named_is_the_outages_own(name):
    truth, f = _outage(name)
    down = f.stats["server_down"]
    if truth["kind"] == "pause":  # SIGSTOP: no shutdown line belongs to it
        assert down is None, down
        return
    # between the SIGTERM the recorder sent and the moment the process had exited
    assert _iso(truth["start"]) <= _iso(down) <= _iso(truth["server_down"]), (down, truth)
    assert _iso(down) <= _iso(f.stats["server_up"])
    assert f.start == _iso(down)  # the window starts at the server's shutdown, not the first client failure


@pytest.mark.slow
@pytest.mark.parametrize("name", ["per-request-16", "healthy-40", "healthy-16"])
def test_the_restart_lasts_from_the_shutdown_to_the_servers_ready_line(name):
    """per-request-16's pods send 16 requests a second in all: the first failure came 0.19 s after the shutdown, and the
    old window (from it) said 1.8 s for a server down 2.02 s (from its exit to the recorder's first answered ping). The
    controls' first failures came within 0.01 s of their shutdowns: right before and after."""
    truth, f = _outage(name)
    down_for = (_iso(truth["end"]) - _iso(truth["server_down"])).total_seconds()
    assert abs(f.stats["seconds"] - down_for) < 0.05, (f.stats["seconds"], down_for)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pair-storm-24", "healthy-40", "per-request-16"])
def test_a_server_log_behind_its_clients_does_not_start_the_window(tmp_path, name):
    """The server log 1.1 s behind, no exporter (inside the clock margin: left uncorrected): its ready line comes
    before most pods' last refusals, so its shutdown, 1.1 s before their first failures, does not start the window:
    the start stays within the clients' reaction to the real shutdown, not 1.1 s early."""
    folder = tmp_path / name
    shutil.copytree(RECORDED / name, folder, ignore=shutil.ignore_patterns("*.prom"))
    shift_file(folder / "redis-server.log", -1.1)
    truth, _ = _outage(name)
    report, _ = analyze([str(folder)], AnalyzeOptions(select=("PM100",)))
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert _iso(f.stats["server_down"]) < _iso(truth["start"]) - timedelta(seconds=1)  # the skewed line is named
    assert _iso(truth["start"]) <= f.start <= _iso(truth["start"]) + timedelta(seconds=0.5), (f.start, truth["start"])
