"""A fleet refused at maxclients before the outage: its refusals after it are its baseline, not a storm the outage
triggered (`refusals.refused_after`, PM103's clause `came while Redis was already refusing ...`), and a refusal the
server gave before it stopped, logged as the outage began, does not end the outage (`correlate._answered_before`).

storm-rate50-long-8 and -16 (session 16): pods at 50 requests a second want 8 connections each against maxclients
of 4 a pod; Redis refused ~600 connections a second from 6 s before a 6.1 s restart, and as many after it. The old
code called the restart a reconnect storm ("0.0x amplification", every refusal after it "not kept") and, at 16 pods,
ended the outage 0.01 s after it began: a pod's refusal logged then was taken for the restarted server's answer."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.recorded import facts_and_report

SATURATED = ["storm-rate50-long-8", "storm-rate50-long-16"]
STORMS = ["storm-16", "storm-pause-16"]


@pytest.mark.parametrize("name", SATURATED)
def test_refusals_at_the_pre_outage_rate_are_no_reconnect_storm(name):
    facts, report = facts_and_report(name)
    assert not [f for f in report.findings if f.rule_id == "PM101"]
    first = datetime.fromisoformat(facts["first_rejected_connection"]["client_error"])
    assert f"came while Redis was already refusing connections at maxclients (from {first:%H:%M:%S} UTC" \
        in report.summary
    assert "triggered a reconnect storm" not in report.summary


@pytest.mark.parametrize("name", SATURATED)
def test_the_outage_lasts_from_the_shutdown_to_the_ready_line(name):
    facts, report = facts_and_report(name)
    (pm100,) = [f for f in report.findings if f.rule_id == "PM100"]
    start, end = (datetime.fromisoformat(facts["outage"][k]) for k in ("start", "end"))
    assert abs(pm100.start - start) < timedelta(seconds=0.5)
    assert abs(pm100.end - end) < timedelta(seconds=0.5)


@pytest.mark.parametrize("name", STORMS)
def test_a_fleet_refused_only_after_the_outage_still_storms(name):
    _, report = facts_and_report(name)
    assert [f for f in report.findings if f.rule_id == "PM101"]
    assert "triggered a reconnect storm" in report.summary and "already refusing" not in report.summary


def test_pm301_says_what_pools_could_hold_when_their_capacity_is_the_figure():
    """per-request-32 (blind, session 16): 8 connections open before, 32 pods x pool cap 4 = 128; PM301 said
    "134 more, 1.05× the 128 the clients held" beside "8 before the incident"."""
    from postmortem.analysis.population import Held, Population

    capped = Held(128.0, Population(8.0, "connected_clients metric", 32), (128, "32 pods x pool cap 4"))
    assert capped.from_capacity and capped.source == "32 pods x pool cap 4"
    held = Held(37.0, Population(37.0, "connected_clients metric", 32), (32, "8 pods x pool cap 4"))
    assert not held.from_capacity and held.source == "connected_clients metric"
