"""A window whose only sign is an unanswered scrape takes the bounds of the server silence that failed it
(correlate._scrape_silence).

per-request-pause-scrape-12: 12 per-request pods, Redis paused (SIGSTOP) 2.0 s; a scrape began at 06:14:13.565, 28 ms
before the pause, and was not answered; the server logged until 13.576 and again from 15.615. The window built from
the scrape ran from its begin to the server's first accept after it, 13.576, a line logged before the pause: "A 0.0 s
Redis outage", "unreachable", while the silence that measured the pause was dropped as covered by it. (Unfixtured
-r5, the same fleet: the scrape before the pause answered at 16.179, the server logging until 17.942, was a 3.8 s
window for 2.0 s.)

A hang window that starts at the server's last line before it is no lower bound: slow-nocfg-*'s KEYS began within
3 ms of that line, and the window said "at least".
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

RECORDED = DATA / "recorded"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _facts(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@pytest.mark.slow
def test_a_scrape_begun_before_the_pause_yields_to_the_servers_silence():
    name = "per-request-pause-scrape-12"
    outage = _facts(name)["outage"]
    start, end = _iso(outage["start"]), _iso(outage["end"])
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert 0 <= (start - f.start).total_seconds() < 0.1, (f.start, start)
    assert abs((f.end - end).total_seconds()) < 0.1, (f.end, end)
    assert f.stats["hang"] and "at_least" not in f.stats, f.stats
    assert "1 scrape unanswered" in f.title and "its log went silent" in f.title, f.title
    assert "stopped answering for 2.0 s" in report.summary.split(". ")[0], report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-nocfg-16", "slow-nocfg-24"])
def test_a_hang_from_the_servers_last_line_is_no_lower_bound(name):
    keys = _facts(name)["slow_command"]
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert 0 <= (f.start - _iso(keys["start"])).total_seconds() < 0.05, (f.start, keys["start"])
    assert "at_least" not in f.stats and "at least" not in f.title, f.title
