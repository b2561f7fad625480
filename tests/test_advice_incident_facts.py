"""The recommendations are filled with the incident's own facts when no finding states them
(`pipeline.incident_facts`): client pods, maxclients and the pool cap the clients logged.

storm-jitter-pool-8 (session 15): 8 pods capped at 3 connections each against maxclients 32, a 2 s outage with no
storm; only PM100 and PM402 fired, neither states pods or maxclients, so the snippet said `max_connections=20`
("pods x processes x cap <= 80 % of maxclients": 160 against 32) and the what-if replayed "+ pool cap 20 per pod"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from postmortem.analysis.pipeline import analyze

RECORDED = Path(__file__).parent / "data" / "recorded"


def _caps(report) -> set[int]:
    code = "\n".join(sn.code for r in report.recommendations for sn in r.snippets)
    return {int(m) for m in re.findall(r"max_connections=(\d+)", code)}


@pytest.mark.parametrize("name", ["storm-jitter-pool-8"])
def test_the_pool_cap_fits_the_fleet_and_its_maxclients(name):
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    pods, maxclients = facts["parameters"]["pods"], facts["parameters"]["maxclients"]
    caps = _caps(report)
    assert caps and all(pods * cap <= 0.8 * maxclients for cap in caps)
    assert caps == {int(0.8 * maxclients) // pods}


@pytest.mark.parametrize("name", ["healthy-16", "hang-24"])
def test_a_cap_the_clients_already_set_is_never_raised(name):
    """healthy-16: pools capped at 4 under maxclients 10,000; the fair share (50) would add connections a recovery
    may re-open."""
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    logged = facts["parameters"]["max_connections"]
    assert logged and _caps(report) == {logged}
