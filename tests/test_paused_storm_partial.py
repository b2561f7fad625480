"""A paused Redis's reconnect storm without the exporter: the fleet's own silence is the outage (fleet_silence.py).

storm-pause-8 and -16: Redis paused (SIGSTOP) for 2.0 s under a fleet with no socket timeout and no backoff; when it
resumed the fleet reconnected at once and hit maxclients. With the redis_exporter file the unanswered scrapes are
the outage and PM101 measures the storm; without it (server log and client logs, or client logs only) the old code
found no outage at all: no PM100, no PM101, and the headline said only that the clients pushed Redis to maxclients.
The healthy pauses (jittered backoff, capped pools, a socket timeout, maxclients far away) must stay storm-free in
the same ablations: they are an outage (the pause is real), never a storm.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

RECORDED = DATA / "recorded"
STORMS = ["storm-pause-8", "storm-pause-16"]
HEALTHY = ["healthy-pause-16", "healthy-pause-24", "healthy-pause-48"]
SERVER = {"redis-server.log", "slowlog.txt"}
EXPORTER = "redis-exporter.prom"
ABLATIONS = ("nometrics", "clientonly")


def _kept(name: str, ablation: str) -> bool:
    """Whether a recording's file stays in an ablation: no exporter; client logs only."""
    if name == EXPORTER:
        return False
    return ablation == "nometrics" or not (name in SERVER or name == "k8s-events.txt")


def ablated(root: Path, rec: str, ablation: str) -> Path:
    """A copy of fixture `rec` (hard links) without the files `ablation` drops."""
    out = root / f"{rec}__{ablation}"
    if not out.exists():
        out.mkdir(parents=True)
        for f in sorted((RECORDED / rec).iterdir()):
            if f.is_file() and _kept(f.name, ablation):
                os.link(f, out / f.name)
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablated")

    @cache
    def run(rec: str, ablation: str):
        return analyze([str(ablated(root, rec, ablation))])[0]
    return run


def facts_of(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("ablation", ABLATIONS)
@pytest.mark.parametrize("rec", STORMS)
def test_a_paused_storm_is_found_without_the_exporter(report, rec, ablation):
    facts = facts_of(rec)
    p = facts["parameters"]
    assert facts["outage"]["kind"] == "pause" and p["socket_timeout"] is None and p["backoff"] == "NoBackoff"
    start, end = _iso(facts["outage"]["start"]), _iso(facts["outage"]["end"])
    r = report(rec, ablation)
    found = {f.rule_id: f for f in r.findings}
    f = found["PM100"]
    # the fleet's silence is a lower bound of the pause: inside it, within the per-second rows' second
    assert f.stats["hang"] and f.stats["at_least"] and f.stats["fleet_quiet_s"] >= 1.0
    assert start <= f.start <= start + timedelta(seconds=1), (f.start, start)
    assert f.end <= end + timedelta(seconds=1) and f.stats["seconds"] <= facts["outage"]["seconds"] + 0.05
    assert f"its {p['pods']} pods logged nothing for" in f.title
    s = found["PM101"]
    # the storm's refusals: at least those the clients logged, every one of them a refusal the server counted
    logged = facts["clients"]["errors_by_kind"]["max_clients"]
    assert s.stats["rejected"] == logged <= facts["rejected_connections"]["total"]
    assert s.stats["not_kept"] >= logged and s.stats["pods"] == p["pods"]
    assert "reconnect storm" in r.summary and r.summary.startswith(f"Redis ({f.stats['endpoint']}) stopped answering for at least")


@pytest.mark.parametrize("ablation", ABLATIONS)
@pytest.mark.parametrize("rec", HEALTHY)
def test_a_healthy_pause_is_no_storm_without_the_exporter(report, rec, ablation):
    facts = facts_of(rec)
    assert facts["rejected_connections"]["total"] == 0 and facts["outage"]["kind"] == "pause"
    r = report(rec, ablation)
    ids = {f.rule_id for f in r.findings}
    assert "PM101" not in ids and "reconnect storm" not in r.summary, r.summary
    for f in r.findings:
        if f.rule_id == "PM100":  # an outage it finds is the pause, inside it
            start, end = _iso(facts["outage"]["start"]), _iso(facts["outage"]["end"])
            assert start - timedelta(seconds=1) <= f.start and f.end <= end + timedelta(seconds=1), (f.start, f.end)


# the storms at three fleet sizes: storm-pause-8 and -16, scaleout-pause-nocfg-12 (12 pods rescaled to 24)
BOUNDED = [*STORMS, "scaleout-pause-nocfg-12"]


@pytest.mark.parametrize("rec", BOUNDED)
def test_client_logs_alone_count_a_storm_at_least(report, rec):
    """The clients log their refusals, never a connect that worked (storm-pause-8: 36 for the server's 2,147): every
    count of the storm is a lower bound, and the report says so in PM101 and the summary alike."""
    facts = facts_of(rec)
    r = report(rec, "clientonly")
    (s,) = [f for f in r.findings if f.rule_id == "PM101"]
    st = s.stats
    assert st["attempts_bound"] == st["not_kept_bound"] == "at least", st
    assert st["attempts"] <= facts["connections_accepted"]["server_log_accepted_lines"]
    assert st["not_kept"] <= facts["rejected_connections"]["total"]
    assert s.title.startswith(f"at least {st['attempts']:,} new connections"), s.title
    assert f"(at least {st['amplification']}x amplification)" in s.title, s.title
    assert f"at least {st['not_kept']:,} not kept" in s.title, s.title
    assert f"at least {st['peak_new_connections_per_s']:,} new connections/s at its peak" in s.title, s.title
    assert f"reconnect storm: at least {st['attempts']:,} new connections" in r.summary, r.summary
    assert f"at least {st['not_kept']:,} not kept" in r.summary, r.summary


@pytest.mark.parametrize("rec", BOUNDED)
def test_without_a_count_of_what_was_kept_not_kept_is_at_most(report, rec):
    """The server log without the export: its open count holds the refusals no counter numbers, so the fleet is
    taken to have kept what it held before; it kept more (storm-pause-8 held 12 at once, 9 before), and the new
    connections beyond it are at most those not kept: never fewer than the server refused."""
    facts = facts_of(rec)
    r = report(rec, "nometrics")
    (s,) = [f for f in r.findings if f.rule_id == "PM101"]
    st = s.stats
    assert "attempts_bound" not in st and st["not_kept_bound"] == "at most", st
    assert st["not_kept"] >= facts["rejected_connections"]["total"], (st["not_kept"], facts["rejected_connections"])
    assert f"at most {st['not_kept']:,} not kept (refused or closed again: at most {st['churn']}x" in s.title, s.title
    assert f", at most {st['not_kept']:,} not kept," in r.summary, r.summary


@pytest.mark.parametrize("ablation", ABLATIONS)
@pytest.mark.parametrize("rec", ["per-request-pause-8", "per-request-pause-12"])
def test_a_paused_per_request_fleet_is_an_outage_without_the_exporter(report, rec, ablation):
    """A fleet opening a connection per request, paused 2 s under it: its log (or the server's) goes silent and
    catches up. The blind per-request-pause-24 and -nocfg-40 of sessions 11 and 14 show nothing without their
    exporter: their pods stopped at 12 s, the pause came at 34 s (the recorder refuses such a run since)."""
    facts = facts_of(rec)
    assert facts["parameters"]["client_per_request"] and facts["outage"]["kind"] == "pause"
    start, end = _iso(facts["outage"]["start"]), _iso(facts["outage"]["end"])
    r = report(rec, ablation)
    (f,) = [f for f in r.findings if f.rule_id == "PM100"]
    assert start - timedelta(seconds=1) <= f.start and f.end <= end + timedelta(seconds=1), (f.start, f.end)
    assert f.stats["seconds"] <= facts["outage"]["seconds"] + 0.1 and "PM101" not in {g.rule_id for g in r.findings}
