"""A `connected_clients` sample taken before the client fleet connected is no baseline of its connections
(`analysis/fleet_connect.py`), and a peak before the incident began is no spike in it.

Blind eviction-nocfg-16 (session 13): the 16 pods hit maxmemory 0.17 s after the exporter's last sample, which
counted the poller alone (1); the server log shows 20 of the fleet's connections accepted in between, and PM301 called
the pools' 31 a 31x spike. Eviction-nocfg-8 (session 14): no write refused, so the analysis window is the run's
shutdown after the pods stopped, and PM301 compared the fleet's 15 with the 1 left after them. The same fleet at 24
and 32 pods (/tmp recordings over 1 MB, kept out) read 9 and 1 before the incident against 53 and 58."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postmortem.analysis.detectors.metrics import ConnectedClientsSpike
from postmortem.analysis.pipeline import analyze
from postmortem.analysis.population import connected_before
from postmortem.analysis.replay.inputs import measure

from .test_detectors_k8s_metrics import at, client_fail, ev, run, sample, table

RECORDED = Path(__file__).parent / "data" / "recorded"


def accepted(seconds: float, n: int, span: float, kind: str = "accepted") -> dict:
    """A summarized server-log row: `n` `Accepted` (or closed) lines from `seconds` over `span` seconds."""
    return ev(seconds, "redis_server", f"redis.server.client_{kind}", host="redis-0", value=float(n),
              message=f"{n} × {kind}", attrs={"summarized": n, "span_s": span}, path="redis-server.log")


# the fleet's pods fail from 0 s on (their logs begin with their failures), the gauge samples once a second
FAILING = [client_fail(s, host=f"api-{i}", kind="redis.oom") for i in range(1, 9) for s in (0.0, 4.0, 9.5)]
GAUGE = [sample(-3.2, "connected_clients", 1), sample(-0.2, "connected_clients", 1),
         *[sample(s, "connected_clients", v) for s, v in ((0.8, 21), (2.8, 22), (5.8, 26), (9.8, 30))]]


def test_a_sample_before_the_fleet_connected_is_no_baseline():
    assert run(ConnectedClientsSpike(), [*FAILING, *GAUGE])  # no server log: the 1 stands, 30 is a spike
    fleet = [accepted(-0.15, 20, 0.12)]  # the fleet's connections, after the sample and before the incident
    assert run(ConnectedClientsSpike(), [*FAILING, *GAUGE, *fleet]) == []
    events = table([*FAILING, *GAUGE, *fleet])
    gauge = events.filter(events["metric"] == "connected_clients")
    reading = connected_before(gauge, at(0), events)
    assert reading.value == 21 and reading.ts == at(0.8)
    assert "first sample after the fleet connected" in reading.source and "about 20" in reading.source


def test_the_replay_reads_the_connections_held_before_where_the_population_does():
    """One value per fact: the what-if replay's connections each pod held before the outage are the population's
    reading (the first sample once the fleet connected: 21), not the gauge's last sample before it (the poller's 1)."""
    refused = [client_fail(s, host=f"api-{i}") for i in range(1, 9) for s in (0.0, 0.5, 1.0)]
    events = table([*refused, *GAUGE, accepted(-0.15, 20, 0.12)])
    inc = measure(events)
    reading = connected_before(events.filter(events["metric"] == "connected_clients"), inc.down, events)
    assert reading.value == 21 and inc.held_before == 21 / 8


@pytest.mark.parametrize("rows", [
    [accepted(-0.15, 20, 0.12), accepted(-0.14, 20, 0.12, "closed")],  # turnover: as many closed as accepted
    [accepted(0.3, 20, 0.1)],  # opened once the incident had begun: the incident's, not the fleet's start
    [accepted(-0.15, 1, 0.0)],  # no more than the sample counted
])
def test_a_sample_that_counted_the_fleet_stays_the_baseline(rows):
    events = table([*FAILING, *GAUGE, *rows])
    gauge = events.filter(events["metric"] == "connected_clients")
    reading = connected_before(gauge, at(0), events)
    assert reading.value == 1 and reading.ts == at(-0.2)
    assert reading.source.startswith("connected_clients metric at ")


def test_connections_closed_again_by_the_next_sample_are_no_fleet_connecting():
    """A fleet opening a connection per request (per-request-pause-16: 2 held while it opened and closed more): the
    next sample does not hold what the log opened, so the sample before the incident counted the fleet."""
    levels = [sample(-3.2, "connected_clients", 2), sample(-0.2, "connected_clients", 2),
              sample(0.8, "connected_clients", 3)]
    events = table([*FAILING, *levels, accepted(-0.15, 20, 0.12)])
    reading = connected_before(events.filter(events["metric"] == "connected_clients"), at(0), events)
    assert reading.value == 2 and reading.ts == at(-0.2)


def test_a_peak_before_the_incident_is_no_spike_in_it():
    """The fleet's 15 before a shutdown after the pods stopped (eviction-nocfg-8's shape): nothing after it."""
    levels = [sample(s, "connected_clients", v) for s, v in ((-14, 1), (-12, 9), (-10, 12), (-1, 15), (-0.1, 1))]
    stop = [ev(0, "redis_server", "redis.server.shutdown", host="redis-0", level="warning", path="redis-server.log")]
    assert run(ConnectedClientsSpike(), [*levels, *stop]) == []


@pytest.mark.parametrize("name", ["eviction-nocfg-8", "eviction-nocfg-16"])
def test_a_fleet_that_fills_its_pools_at_start_up_has_no_connected_clients_spike(name):
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    assert facts["rejected_connections"]["total"] == 0  # never near maxclients 10000
    accepted_ = facts["connections_accepted"]["total_connections_received"]
    assert facts["max_connected_clients"] == accepted_  # every connection opened was held: no surge, no churn
    report, _ = analyze([str(RECORDED / name)])
    rules = {f.rule_id for f in report.findings}
    assert "PM301" not in rules and "spike" not in report.summary
    assert "PM304" in rules  # the evictions are still found
    refused = facts["clients"]["errors_by_kind"].get("other:OutOfMemoryError")
    if refused:
        assert report.summary.startswith(f"Redis at its memory limit at 06:04:42 UTC refused {refused} writes "
                                         f"from all {facts['parameters']['pods']} pods")
