"""A hang's window ends when the paused server answered again (correlate._hang_end), not at the last timeout of a call
it held: the calls sent during the pause time out as the resumed server drains its backlog, up to a few hundred ms
after it answered (hang-24 +0.02 s, hang-40 +0.05 s; recorded at 32 pods in session 11: +0.21 s, 21 such timeouts).
A connect that timed out is held the same way, by its `socket_connect_timeout` (hang-48: 29 connect timeouts up to
0.5 s after the resume), and the resume is sought after the clients' first timeout, not after a failed scrape stamped
when it began (hang-36: the scrape began before the pause, and the server's accepts just before it were taken for
the resume)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

RECORDED = DATA / "recorded"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-24", "hang-36", "hang-40", "hang-48", "hang-8", "skewed-hang-8"])
def test_a_hang_ends_when_the_server_answered_again(name):
    """facts `end`: the recorder's first answered ping after SIGCONT. The window may not end after it (the server log's
    millisecond is its resolution), and it still holds every timeout the pause caused. hang-24 and hang-40 ended at a
    held call's timeout before; hang-8 and skewed-hang-8 (no timeout after the resume) were right before and after."""
    truth = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    end = _iso(truth["outage"]["end"])
    assert end - timedelta(milliseconds=50) <= f.end <= end + timedelta(milliseconds=1), (f.end, end)
    assert f.stats["hosts"] == len(truth["parameters"]["pod_names"])
    assert f.stats["client_failures"] >= truth["clients"]["errors_by_kind"]["timeout"], f.stats
    # the held calls' timeouts after the end are the outage's, not slow replies on live connections
    assert "PM106" not in {f.rule_id for f in report.findings}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-skew-16", "hang-nocfg-16", "hang-nocfg-32"])
def test_one_pods_late_timeouts_do_not_move_the_end(name):
    """The failures after the resume that no held call explains move the end only when most of the fleet logged
    them (then the resume was not one). hang-skew-16 (recorded blind, session 12): one pod of 16 writes its clock
    2.0 s ahead, inside the 2 s within which clocks are taken to agree; its timeouts ran the window to 4.9 s for a
    3.0 s pause. The nocfg fleets log no socket_timeout, so no timeout can be traced to its send: hang-nocfg-32's
    window ran to one pod's last timeout, 0.49 s after the resume."""
    truth = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    end = _iso(truth["outage"]["end"])
    assert end - timedelta(milliseconds=50) <= f.end <= end + timedelta(milliseconds=50), (f.end, end)
    assert f.stats["hosts"] == len(truth["parameters"]["pod_names"])
