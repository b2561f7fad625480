"""PM301 with only the server's log and the metrics export (session 18): whether the clients kept what they opened is
read from the `connected_clients` series itself (analysis/settled.py), so a pooled fleet that re-opened its pools
after a pause or a restart and held them until it stopped is no spike, while a storm's count still is one (or at
maxclients). The ablations are made here: a recorded fixture copied with its pods' logs left out."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postmortem.analysis.detectors.metrics import ConnectedClientsSpike
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.analysis.settled import settled_level

from .conftest import DATA

RECORDED = DATA / "recorded"
T0 = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def _series(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"ts": [T0 + timedelta(seconds=i) for i in range(len(values))], "value": values})


@given(before=st.integers(1, 200), per_pod=st.integers(2, 8), held=st.integers(1, 40), stopping=st.integers(0, 3),
       partial=st.booleans())
def test_a_level_held_after_the_peak_is_the_settled_level_however_the_fleet_stops(before, per_pod, held, stopping,
                                                                                   partial):
    """A fleet that filled its pools holds the level for most of what follows the peak; its last samples, taken as
    it stops, fall below what it held before (to the scraper alone) or part of the way (hang-skew-16: 65, then 44)."""
    level = before * per_pod
    tail = ([level - 1] if partial else []) + [0.0] * stopping
    g = _series([1.0] * 3 + [float(before)] * 3 + [float(level)] * (held + 2) + tail)
    settled = settled_level(g, T0 + timedelta(seconds=6), float(before))
    assert settled is not None and settled.value == level
    assert ("left out" in settled.source) is bool(stopping)


@given(before=st.integers(1, 100), peak=st.integers(300, 1000), settled_at=st.integers(0, 99), after=st.integers(1, 9))
def test_a_peak_not_held_settles_at_the_level_that_followed_it(before, peak, settled_at, after):
    """A storm's excess is refused or closed again: the level after it is what the clients kept."""
    level = float(max(settled_at, before))
    g = _series([float(before)] * 3 + [float(peak)] + [level] * after)
    settled = settled_level(g, T0 + timedelta(seconds=3), float(before))
    assert settled is not None and settled.value == level


def test_with_nothing_after_the_peak_nothing_is_settled():
    """A count that fell below what the fleet held before at once (pair-storm-24: 100, then 17 and 1 while its
    29 pods' connections were refused and closed) shows no level kept: the spike test falls back to the held."""
    assert settled_level(_series([1, 29, 100, 17, 1]), T0 + timedelta(seconds=2), 29.0) is None
    assert settled_level(_series([1, 29, 100]), T0 + timedelta(seconds=2), 29.0) is None


def _server_and_metrics(name: str, tmp_path):
    """The recording with its pods' logs left out: the server's log and the exporter's series."""
    kept = []
    for f in (RECORDED / name).iterdir():
        if f.name == "redis-server.log" or f.name.startswith(("redis-exporter", "metrics")):
            shutil.copy2(f, tmp_path / f.name)
            kept.append(f.name)
    assert "redis-server.log" in kept and len(kept) == 2, kept
    return tmp_path


def _pm301(folder) -> list:
    report, _ = analyze([str(folder)], AnalyzeOptions(select=("PM1", "PM3")))
    return [f for f in report.findings if f.rule_id == "PM301"]


# Pooled fleets (BlockingConnectionPool, 4 a pod) that re-opened their pools after a pause (hang-skew-16, the
# healthy-pause-* fleets, hang-st1-nocfg-24 whose cap is not logged) or a restart (storm-blocking-8 and -20: the storm's
# retry loop, its pools capped) at 8 to 36 pods: the count rose 3.2x to 3.9x to pods x 4 + the poller and stayed there
# until the pods stopped (the last samples taken as they stopped: hang-skew-16's 44, hang-st1-nocfg-24's 88, then 1).
# With their pods' logs, nothing fires (kept to the clients' last record); with the server's log and the export alone,
# main called each "a connected-clients spike" (65 of 17 held, 81 of 21, 129 of 34, 145 of 37, 97 of 26, 33 of 9, 81 of 21):
# the same incident, a different report, only for the lack of a client log.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-skew-16", "healthy-pause-20", "healthy-pause-32", "healthy-pause-tokyo-36",
                                  "hang-st1-nocfg-24", "storm-blocking-8", "storm-blocking-20"])
def test_pools_refilled_after_an_outage_are_no_spike_without_the_clients_logs(name, tmp_path):
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    p = facts["parameters"]
    assert p["pool"] == "BlockingConnectionPool" and facts["rejected_connections"]["total"] == 0
    assert facts["max_connected_clients"] <= p["pods"] * p["max_connections"] + 1  # the pools, filled
    assert not _pm301(RECORDED / name)
    assert not _pm301(_server_and_metrics(name, tmp_path))


# Real storms without their pods' logs still get PM301: the fleets that reached maxclients and held it (refused
# there until they stopped) at maxclients, as with their logs when the count is kept (storm-8); pair-storm-24, whose
# count fell from 100 to 17 while its pods ran and then to the scraper alone, is still a spike (nothing after the
# peak at or above the 29 held before: no level kept); per-request-pause-scrape-12's 37 after the pause, back to 2 to 4
# at once, is a spike of connections the clients did not keep.
@pytest.mark.slow
@pytest.mark.parametrize(("name", "spike"), [("storm", False), ("storm-16", False), ("storm-24", False),
                                             ("scaleout-8", False), ("scaleout-16", False), ("pair-storm-8", False),
                                             ("pair-storm-24", True), ("per-request-pause-scrape-12", True)])
def test_storms_keep_their_finding_without_the_clients_logs(name, spike, tmp_path):
    (f,) = _pm301(_server_and_metrics(name, tmp_path))
    assert f.stats["spike"] is spike, f.title
    if not spike:
        assert f.stats["pct_of_maxclients"] > 90, f.title
    elif f.stats["kept_after"] is not None:
        assert f.stats["peak"] - f.stats["kept_after"] >= f.stats["held_before"], f.title
        assert f.stats["kept_from"].startswith("median of the"), f.stats


# Fleets that grew beyond what they held and kept every connection (tests/test_thresholds_by_size.py: no spike with
# their logs): the storm configuration with room to grow (no pool cap, maxclients 10000: each handler thread opens its
# own connection at once, 4.7x to 5.7x the count before) at 2 to 32 pods, and a KEYS that blocked the server while 40
# pods' unlogged pools of 4 filled (41 -> 149). Without their pods' logs main called each a spike.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-unlimited-2", "storm-unlimited-16", "storm-unlimited-32", "slow-nocfg-40"])
def test_pools_that_grew_and_kept_every_connection_are_no_spike_without_the_clients_logs(name, tmp_path):
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    p = facts["parameters"]
    assert facts["rejected_connections"]["total"] == 0 and p["maxclients"] == 10000
    assert facts["max_connected_clients"] <= p["pods"] * (p["max_connections"] or p["workers"]) + 1
    assert not _pm301(RECORDED / name)
    assert not _pm301(_server_and_metrics(name, tmp_path))


def _without_server_log(name: str, tmp_path):
    """The recording with the server's log left out: the pods' logs and the exporter's series."""
    for f in (RECORDED / name).iterdir():
        if f.name != "redis-server.log":
            shutil.copy2(f, tmp_path / f.name)
    return tmp_path


# Storms that reached maxclients and held it until their pods stopped (refused there: storm-16 and storm-jitter-16 at
# 64, scaleout-8 at 32 after its scale-out, storm-pause-late-16 at 64 after a pause), at 8 to 16 pods. Whatever the
# sources, one verdict: the count at maxclients, kept, not a spike above what the clients hold. Main read what they
# kept with their pods' logs as the fewest connections to a second past the pods' last record, a sample taken as
# they stopped (1, or storm-pause-late-16's 48 of 64), and called each "a connected-clients spike" with the pods'
# logs and "connected clients at maxclients" without them.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-16", "storm-jitter-8", "storm-jitter-16", "scaleout-8", "scaleout-nocfg-16",
                                  "storm-pause-late-16"])
def test_a_storm_held_at_maxclients_gets_one_verdict_from_every_source_set_with_the_metrics(name, tmp_path):
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    assert facts["max_connected_clients"] == facts["parameters"]["maxclients"]
    whole = tmp_path / "whole"
    server_and_metrics, pods_and_metrics = tmp_path / "srv", tmp_path / "pods"
    for d in (whole, server_and_metrics, pods_and_metrics):
        d.mkdir()
    verdicts = {}
    for label, folder in (("whole", RECORDED / name), ("server and metrics", _server_and_metrics(name, server_and_metrics)),
                          ("pods and metrics", _without_server_log(name, pods_and_metrics))):
        (f,) = _pm301(folder)
        assert f.stats["kept_after"] is not None, f.stats  # a level held after the peak
        verdicts[label] = (ConnectedClientsSpike().named(f), f.stats["spike"], f.stats["pct_of_maxclients"])
    assert set(verdicts.values()) == {("connected clients at maxclients", False, 100.0)}, verdicts
