"""Pods an autoscaler started during the incident are written in the zone of the pods that were there before
(`clocks.estimate`: a pod on time with the other started pods is on the Kubernetes events' clock, not yet on the
reference's, so `peer_zones` may still give it its peers' zone).

Blind scaleout-ny-20 (session 16: 20 pods writing New York local time without an offset, rescaled to 40 during
the outage): the 20 new pods had no outage edge and agreed with each other on their `Started` events, so they
kept their times, five hours early; the Kubernetes events file, whose times carry `Z`, was moved 17,997.5 s to
meet them, and the scale-up (PM202) was lost. With the zone east of UTC (Kolkata) the events looked behind, a
slow start-up, so nothing at all was said of the eight new pods' clocks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.recorded import facts_and_report

SCALEOUTS = ["scaleout-kolkata-8", "scaleout-saopaulo-12"]


@pytest.mark.parametrize("name", SCALEOUTS)
def test_every_pod_old_and_new_is_read_in_the_zone_it_wrote(name):
    facts, report = facts_and_report(name)
    written = facts["clocks"]["written_minus_true_seconds"]
    new_pods = set(facts["scaleout"]["new_pods"])
    assert new_pods <= set(written) and len(new_pods) == facts["scaleout"]["to"] - facts["scaleout"]["from"]
    offsets = {c.path.removesuffix(".log"): c.offset_s for c in report.clocks if c.source == "redis_py"}
    assert {pod: offsets.get(pod) for pod in written} == written


@pytest.mark.parametrize("name", SCALEOUTS)
def test_the_kubernetes_events_keep_their_utc_times_and_the_scale_up_is_found(name):
    facts, report = facts_and_report(name)
    k8s = [c for c in report.clocks if c.source == "k8s_events"]
    assert len(k8s) == 1 and abs(k8s[0].offset_s) < 60
    scale = [f for f in report.findings if f.rule_id == "PM202"]
    assert scale and f"{facts['scaleout']['from']}→{facts['scaleout']['to']}" in scale[0].title
    run_start = datetime.fromisoformat(facts["run"]["start"]) - timedelta(seconds=5)
    run_end = datetime.fromisoformat(facts["run"]["end"]) + timedelta(seconds=5)
    assert all(run_start <= f.start <= run_end for f in report.findings)


@pytest.mark.parametrize("name", SCALEOUTS)
def test_every_pod_of_the_scaled_fleet_is_in_the_storm(name):
    facts, report = facts_and_report(name)
    pods = facts["scaleout"]["to"]
    assert f"{pods} of {pods} pods logged reconnect attempts" in report.summary
