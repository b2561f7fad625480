"""PM101 judges churn, not growth (analysis/kept.py), on real recordings at 2 to 48 pods.

The storm configuration with room to grow (`--maxclients 10000`: every handler thread opens its own connection at once
and keeps it, none refused) opened 4.5x to 6.9x what it held before at 2 to 32 pods, and the fixed 5x that PM101 used
called it a storm at 16, 24 and 32 pods and not at 2 and 8. It kept every connection it opened: no storm at any size,
and its uncapped pools are named by PM404 at every size. The storms at maxclients refuse most of what they open, at
every size; a hung server's resume (the clients' connects queued while it was stopped) is no storm either.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import pytest

from postmortem.analysis.correlate import build_context
from postmortem.analysis.detectors.storm import NOT_KEPT_PER_NEEDED, storms
from postmortem.analysis.pipeline import AnalyzeOptions, analyze

from .conftest import DATA

RECORDED = DATA / "recorded"
UNCAPPED = ["storm-unlimited-2", "storm-unlimited-8", "storm-unlimited-16", "storm-unlimited-24", "storm-unlimited-32"]
STORMS = ["storm", "storm-16", "storm-32", "storm-48", "pair-storm-8", "pair-storm-24", "storm-pause-8"]
FAST = {"storm-unlimited-2", "storm-unlimited-16", "storm"}


def _param(name: str):
    return name if name in FAST else pytest.param(name, marks=pytest.mark.slow)


def facts_of(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@cache
def _analysed(folder: Path):
    """(PM1xx and PM4xx findings by rule, PM101's measurement of each outage) for a folder."""
    report, ingested = analyze([str(folder)], AnalyzeOptions(select=("PM1", "PM4")))
    ctx = build_context(ingested.events, ingested.inputs, [])
    return {f.rule_id: f for f in report.findings}, storms(ingested.events, ctx)


@pytest.mark.parametrize("name", [_param(n) for n in UNCAPPED])
def test_uncapped_pools_that_keep_what_they_open_are_no_storm_at_any_size(name):
    facts = facts_of(name)
    pods = facts["parameters"]["pods"]
    assert facts["parameters"]["maxclients"] == 10000 and facts["rejected_connections"]["total"] == 0
    before, after = facts["connections_accepted"]["per_server_lifetime"]
    # the recording's own truth: more connections than one per pod, and all of them open at once after the restart
    assert after > 2 * pods and facts["max_connected_clients"] >= after - 1
    found, (st,) = _analysed(RECORDED / name)
    assert "PM101" not in found, found.get("PM101") and found["PM101"].title
    assert st.kept.not_kept == 0 and st.kept.churn < NOT_KEPT_PER_NEEDED
    assert st.kept.kept >= 0.9 * (after - 1)  # kept what it opened (less the pre-outage rate the demand is net of)
    assert "PM404" in found and f"{pods} redis-py clients without a pool cap" in found["PM404"].title


@pytest.mark.parametrize("name", [_param(n) for n in STORMS])
def test_a_storm_refuses_most_of_what_it_opens_at_every_size(name):
    facts = facts_of(name)
    found, _ = _analysed(RECORDED / name)
    s = found["PM101"].stats
    refused = facts["rejected_connections"]["per_server_lifetime"][-1]
    assert s["churn"] >= NOT_KEPT_PER_NEEDED and s["not_kept"] >= 0.9 * refused, (s, refused)
    assert s["kept"] <= facts["parameters"]["maxclients"]  # never more open than the limit
    assert f"{s['not_kept']:,} not kept (refused or closed again: {s['churn']}x the " in found["PM101"].title


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-24", "hang-40", "storm-unlimited-16", "storm-unlimited-32"])
def test_no_storm_from_the_metrics_alone_where_the_fleet_kept_what_it_opened(name, tmp_path):
    """Without the server log (no `Accepted` or close lines) the counters hold the connects a paused server's clients
    left in its listen queue (hang-24 and -40: 217 and 388 not kept, 2.3x, before the first count after the resume was
    set aside); uncapped pools are still kept."""
    folder = tmp_path / name
    shutil.copytree(RECORDED / name, folder, ignore=shutil.ignore_patterns("redis-server*.log"))
    found, (st,) = _analysed(folder)
    assert st.demand.source.startswith("connections_received")
    assert "PM101" not in found and st.kept.churn < NOT_KEPT_PER_NEEDED, st.kept


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-unlimited-16", "storm-unlimited-32", "storm-16", "storm-48"])
def test_the_server_log_alone_tells_kept_pools_from_a_storm(name, tmp_path):
    """Without the metrics: uncapped pools' connections stay open by the log's accepted minus closed lines; a storm's
    refusals log an `Accepted` line and no close, so with the clients' refusals and no counter the fleet is taken to
    keep what it held before."""
    folder = tmp_path / name
    shutil.copytree(RECORDED / name, folder, ignore=shutil.ignore_patterns("*.prom"))
    found, (st,) = _analysed(folder)
    storm = facts_of(name)["rejected_connections"]["total"] > 0
    assert ("PM101" in found) == storm and (st.kept.churn >= NOT_KEPT_PER_NEEDED) == storm, st.kept
    assert st.kept.kept_source.startswith("not in the logs" if storm else "server log")
