"""A network blip between the pods and a running Redis (the tool's headline incident), held against its recordings.

tools/record_incident.py `--outage reset|blackhole` (session 19) fails the path through tools/netrelay.py while
redis-server runs and its exporter keeps scraping it directly. The report must find the outage, name it the network
(not a restart or a hang of Redis: the server answered every scrape on time), measure it against the relay's own
times, and call a storm exactly when the facts show one: blip-storm-* rejected thousands at maxclients, blip-healthy-*
none.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import pytest

from postmortem.analysis.pipeline import analyze
from postmortem.analysis.resets import reset_bursts
from postmortem.input.ingest import ingest
from tests.recorded import RECORDED, facts_and_report

RESETS = ["blip-storm-reset-8", "blip-healthy-reset-16"]
BLIPS = [*RESETS, "blip-storm-blackhole-8", "blip-healthy-blackhole-8", "blip-hang-blackhole-28"]
TOLERANCE_S = 0.1  # the relay's clock and the logs' are one machine's; a log line is written a few ms after the fact


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def only(report, rule: str):
    found = [f for f in report.findings if f.rule_id == rule]
    assert len(found) <= 1, [f.title for f in found]
    return found[0] if found else None


def truth(facts: dict) -> tuple[datetime, datetime]:
    return iso(facts["outage"]["start"]), iso(facts["outage"]["end"])


@pytest.mark.parametrize("name", BLIPS)
def test_the_outage_is_named_the_network_and_a_storm_called_only_when_one_came(name):
    facts, report = facts_and_report(name)
    pm100 = only(report, "PM100")
    assert pm100 is not None, report.summary
    fig = pm100.figures
    assert fig.server_answered >= 1 and fig.server_down is None and fig.server_up is None
    assert "unreachable from its clients" in pm100.title and "stopped answering" not in pm100.title
    assert "the network between the clients and Redis failed" in pm100.title
    assert report.summary.startswith(f"A {fig.seconds:.1f} s network outage between the clients and Redis")
    assert "restart" not in report.summary and "stopped answering" not in report.summary
    stormed = facts["rejected_connections"]["total"] > 0
    assert bool(only(report, "PM101")) == stormed
    assert ("triggered a reconnect storm" in report.summary) == stormed


@pytest.mark.parametrize("name", [*RESETS, "blip-healthy-blackhole-8"])
def test_a_window_the_clients_logged_is_measured_as_the_relay_measured_it(name):
    facts, report = facts_and_report(name)
    start, end = truth(facts)
    pm100 = only(report, "PM100")
    assert abs((pm100.start - start).total_seconds()) < TOLERANCE_S
    assert abs((pm100.end - end).total_seconds()) < TOLERANCE_S


def test_a_fleet_that_waited_silently_on_a_blackhole_is_found_by_its_silence_as_a_lower_bound():
    """The storm's pods have no socket timeout: they logged nothing in the blackhole, and the herd came when it healed.
    A scraper answering throughout used to rule the fleet's silence out (a running server); it is the network's."""
    facts, report = facts_and_report("blip-storm-blackhole-8")
    start, end = truth(facts)
    pm100 = only(report, "PM100")
    assert pm100.figures.fleet_quiet_s is not None and pm100.figures.at_least
    assert start <= pm100.start < end and abs((pm100.end - end).total_seconds()) < TOLERANCE_S
    assert report.summary.startswith(f"A {pm100.figures.seconds:.1f} s network outage")
    assert "for at least" in pm100.title
    pm101 = only(report, "PM101")
    assert pm101.start >= pm100.start and facts["rejected_connections"]["total"] == 3028


@pytest.mark.parametrize("name", RESETS)
def test_the_server_log_and_exporter_alone_see_the_reset(name, tmp_path):
    """Without the pods: the server logged its clients' connections reset by peer together, then no accept until the
    path was back (resets.py)."""
    facts = (RECORDED / f"{name}.facts.json").read_text()
    folder = tmp_path / name
    folder.mkdir()
    for file in ("redis-server.log", "redis-exporter.prom"):
        shutil.copy(RECORDED / name / file, folder / file)
    report, _ = analyze([str(folder)])
    _, full = facts_and_report(name)
    facts = json.loads(facts)
    start, end = truth(facts)
    pm100 = only(report, "PM100")
    assert pm100 is not None, report.summary
    assert abs((pm100.start - start).total_seconds()) < TOLERANCE_S
    assert abs((pm100.end - end).total_seconds()) < 2 * TOLERANCE_S  # the first accept after it: a reconnect's delay
    assert pm100.figures.server_answered >= 1
    resets = facts["outage"]["network"]["connections_at_start"]
    assert f"the server logged {resets} client connections reset by peer at once" in pm100.title
    assert bool(only(report, "PM101")) == (facts["rejected_connections"]["total"] > 0) == bool(only(full, "PM101"))


def test_the_pods_alone_do_not_say_where_it_failed(tmp_path):
    """The clients see a refused or reset connection whether the server or the path failed: no network claimed."""
    folder = tmp_path / "pods"
    shutil.copytree(RECORDED / "blip-storm-reset-8", folder)
    for file in ("redis-server.log", "redis-exporter.prom"):
        (folder / file).unlink()
    report, _ = analyze([str(folder)])
    pm100 = only(report, "PM100")
    assert pm100.figures.server_answered is None and "network" not in report.summary


@pytest.mark.parametrize("name", ["hang-nocfg-16", "healthy-pause-20", "storm"])
def test_clients_closing_together_after_a_stop_or_restart_are_no_reset(name):
    """A pause's clients time out and close at the resume (hang-nocfg-16: 220 closed within 100 ms); a restart drops
    every connection: neither is a burst of connections reset by peer."""
    assert reset_bursts(ingest([str(RECORDED / name)]).events) == []


def test_a_failure_naming_no_endpoint_is_its_pods_configured_one():
    """redis-py's `Timeout connecting to server` names no endpoint, and the exporter scrapes the server at another
    address than the clients' (a relay here; a Service or proxy in a cluster): the failures are the endpoint the
    pods' client configuration names, not "redis:unknown" (blip-hang-blackhole-28, recorded blind)."""
    facts, report = facts_and_report("blip-hang-blackhole-28")
    pm100 = only(report, "PM100")
    assert pm100.figures.endpoint == f"redis:127.0.0.1:{facts['outage']['network']['relay_port']}"
    assert "unknown" not in report.summary

