"""A connect that timed out is the server not answering, not a refusal (correlate.unanswered_connect).

A healthy fleet with 0.5 s timeouts drops its connections when the server stops answering and re-opens its pools when
it answers again; at 32 and 40 pods some of those connects wait out their own timeout (redis-py's `Timeout connecting
to server`, filed `redis.connect_failed` with the `timeout` attr): hang-nocfg-32 logged 7 of its 201 timeouts that way
after a 2.5 s pause, slow-nocfg-40 (recorded in session 10) 27 of its 216 after a 2.2 s KEYS. The old code counted
them as refusals, so the server that stopped answering was called unreachable: hang-nocfg-32's summary said "A 2.5 s
Redis outage", and PM100 "216 client failures" beside PM108's 189 timeouts.
"""

from __future__ import annotations

import json

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

RECORDED = DATA / "recorded"


def _facts(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-nocfg-32", "slow-nocfg-40", "hang-nocfg-16", "slow-nocfg-24"])
def test_a_server_that_answered_no_connect_stopped_answering(name):
    facts = _facts(name)
    assert set(facts["clients"]["errors_by_kind"]) == {"timeout"}  # the recorder saw nothing refused or dropped
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    s = f.stats
    assert s["hang"], f.title
    assert s["timeouts"] == s["client_failures"] == facts["clients"]["errors_by_kind"]["timeout"]
    assert f.title.endswith("at once, none refused")
    if facts["outage"]["kind"] == "pause":
        assert report.summary.startswith(f"Redis ({s['endpoint']}) stopped answering for at least")
    else:  # the KEYS leads, as before
        assert "`KEYS user:session:*:expired`" in report.summary.split(" blocked Redis")[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["healthy-16", "healthy-40", "storm-16"])
def test_a_restart_that_refused_connections_is_still_unreachable(name):
    """The controls: restarts whose clients were refused stay an outage the clients could not reach."""
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert not f.stats["hang"] and f.stats["timeouts"] == 0 and " unreachable for " in f.title
