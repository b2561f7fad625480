"""A paused Redis seen from its clients' logs alone: the fleet's silence, measured by each pod's own rhythm.

The per-request fleets (a client per request, 2.0 s SIGSTOP) log no error through the pause: with the server log and
the exporter deleted, the only sign is that every pod went quiet at once and caught up when the server resumed
(fleet_silence.py). At 16 pods and 1 request a second the fleet logs 7.9 records a second (a job line about every
other second a pod, folded into per-second rows): one empty second at that rate, records arriving at random, had a
1.7 % chance anywhere in the log, and main found no outage at all (per-request-pause-16, per-request-pause-nocfg-16).
Each pod's own seconds make it improbable: the silence test multiplies the pods' own chances of being that quiet.

A client's timeout is no sign the server answered: it no longer ends the fleet's silence, and the calls the paused
server held are the outage's failures, not PM106's. A fleet that logs no client configuration names the Redis client
only in its failures: every pod that logged counts toward the fleet, so 2 held timeouts on 2 of 8 pods are no
fleet-wide hang (per-request-pause-st1-nocfg-8: main's "at least 0.0 s" window).

The healthy recordings, the per-request restarts and the per-request fleet with no outage stay free of a silence.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import cache

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postmortem.analysis.fleet_silence import _empty_share
from postmortem.analysis.pipeline import analyze

from .conftest import DATA
from .test_paused_storm_partial import _iso, ablated, facts_of

RECORDED = DATA / "recorded"
PAUSES = ["per-request-pause-8", "per-request-pause-12", "per-request-pause-16", "per-request-pause-nocfg-16",
          "per-request-pause-nocfg-24", "per-request-pause-st1-8", "per-request-pause-st1-12",
          "per-request-pause-st1-nocfg-8", "per-request-pause-st18-nocfg-8", "per-request-pause-st18-nocfg-24"]
CONTROLS = ["per-request-none-nocfg-24", "per-request-8", "per-request-16", "per-request-24", "per-request-40",
            "healthy-4", "healthy-16", "healthy-32", "healthy-40", "healthy-48", "healthy-loaded-32", "healthy-loaded-40"]


@pytest.fixture(scope="module")
def client_only(tmp_path_factory):
    root = tmp_path_factory.mktemp("clientonly")

    @cache
    def run(rec: str):
        return analyze([str(ablated(root, rec, "clientonly"))])[0]
    return run


@pytest.mark.parametrize("rec", PAUSES)
def test_a_paused_per_request_fleet_is_found_from_its_logs_alone(client_only, rec):
    facts = facts_of(rec)
    assert facts["outage"]["kind"] == "pause" and facts["clients"]["errors_by_kind"].keys() <= {"timeout"}
    start, end = _iso(facts["outage"]["start"]), _iso(facts["outage"]["end"])
    r = client_only(rec)
    (f,) = [f for f in r.findings if f.rule_id == "PM100"]
    # the fleet's silence: a lower bound of the pause, inside it within the per-second rows' second
    assert f.stats["hang"] and f.stats["at_least"] and f.stats["fleet_quiet_s"] >= 0.9, f.stats
    assert start - timedelta(seconds=1) <= f.start and f.end <= end + timedelta(seconds=1), (f.start, f.end)
    assert f.stats["seconds"] <= facts["outage"]["seconds"] + 0.05
    # every call the paused server held that timed out is the outage's, none a timeout on a live connection
    timeouts = facts["clients"]["errors_by_kind"].get("timeout", 0)
    assert f.stats["timeouts"] == timeouts
    assert "PM106" not in {g.rule_id for g in r.findings}


@pytest.mark.parametrize("rec", ["per-request-pause-st1-nocfg-8", "per-request-pause-st18-nocfg-24"])
def test_two_held_timeouts_of_a_fleet_that_logs_no_configuration_are_no_fleet_wide_hang(rec):
    """With every source: 2 timeouts on 2 pods of 8 or 24 are no burst across half the fleet (main counted only the 2
    pods that named redis-py, "2 client timeouts from 2 pods at once"); the server log's silence is the outage and
    they are the calls it held."""
    facts = facts_of(rec)
    r = analyze([str(RECORDED / rec)])[0]
    (f,) = [f for f in r.findings if f.rule_id == "PM100"]
    assert "at once" not in f.title and "its log went silent" in f.title, f.title
    assert f.stats["timeouts"] == facts["clients"]["errors_by_kind"]["timeout"] == 2
    assert "PM106" not in {g.rule_id for g in r.findings}


@pytest.mark.parametrize("rec", CONTROLS)
def test_no_silence_where_the_server_ran(client_only, rec):
    """The healthy fleets never stopped; the per-request restarts refused connects, an outage of its own kind."""
    facts = facts_of(rec)
    r = client_only(rec)
    for f in r.findings:
        assert "fleet_quiet_s" not in f.stats, (f.rule_id, f.title)
        if f.rule_id == "PM100":
            assert facts["outage"]["kind"] == "restart", f.title


@given(ticks=st.lists(st.integers(min_value=0, max_value=59), min_size=1, max_size=60, unique=True),
       quiet=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_a_pods_empty_share_counts_its_empty_places(ticks, quiet):
    """A pod's per-second rows in a minute: the share of places a run of `quiet` with no record of it began is at
    least its one prior run and at most 1; a run of one second fits once in each of its empty seconds, and a pod that
    logged every second lends a run of a second or more only its prior."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame({"host": ["p"] * len(ticks), "ts": [t0 + timedelta(seconds=s) for s in sorted(ticks)]},
                        schema={"host": pl.String, "ts": pl.Datetime("us", "UTC")}).with_columns(
        until=pl.col("ts") + timedelta(seconds=1))
    start = rows.get_column("until").max()
    span = (start - rows.get_column("ts").min()).total_seconds()
    share = _empty_share(rows, start, quiet).item()
    assert quiet / (span + quiet) <= share <= 1
    empty = span - len(ticks)  # its empty seconds: a run of one second fits once in each
    if quiet == 1.0:
        assert math.isclose(share, (empty + quiet) / (span + quiet))
    if empty == 0 and quiet >= 1.0:
        assert math.isclose(share, quiet / (span + quiet))


@pytest.mark.parametrize("rec", ["slow-nocfg-12", "slow-nocfg-16", "slow-nocfg-20"])
def test_a_few_pods_timed_out_by_a_blocking_command_are_no_outage(client_only, rec):
    """A KEYS that blocked Redis for 0.6-1.1 s timed out 3 to 5 pods of 12 to 20 (no configuration logged): main
    counted only those pods as the fleet and called them a fleet-wide hang ("at least 0.0 s" at 16 pods); with
    every pod that logged counted it is no outage, and PM108 names the command."""
    facts = facts_of(rec)
    assert facts["outage"]["kind"] == "none" and facts["clients"]["errors_by_kind"]["timeout"] < facts["parameters"]["pods"] / 2
    ids = {f.rule_id for f in client_only(rec).findings}
    assert "PM100" not in ids and "PM108" in ids, ids


@pytest.mark.parametrize("rec", ["slow-24", "slow-nocfg-12", "slow-nocfg-16", "slow-nocfg-20"])
def test_a_blocking_command_that_timed_out_a_few_pods_reads_alike_with_or_without_their_configuration(rec):
    """Every source: slow-24 (configuration logged, 3 of 24 pods timed out) was PM108 alone on main, slow-nocfg-16
    (none logged, 3 of 16) PM100 and PM108: the fleet was the pods that named redis-py, only the 3 that timed out."""
    facts = facts_of(rec)
    assert facts["clients"]["errors_by_kind"]["timeout"] < facts["parameters"]["pods"] / 2
    ids = {f.rule_id for f in analyze([str(RECORDED / rec)])[0].findings}
    assert "PM100" not in ids and "PM108" in ids, ids
