"""What a fleet kept after a pause is the gauge's peak less the connections from before that are still open
(`kept._from_gauge`): a fleet whose socket timeout ran out in the pause dropped its old connections, and the server
logs them closed as it resumes.

Blind healthy-pause-kolkata-48 with only its server log and export (session 15, blind15's ablations): 75 connections
before a 3 s pause, all closed at the resume with the queue's abandoned connects, then the pools refilled to 193.
Reading 193 - 75 = 118 as kept made its other 121 new connections (246 in the resume's second) 1.03 per connection
needed, and the healthy recovery was headlined a reconnect storm. The whole recording (pods x pool cap 4 from the
clients' logged configuration: 192 needed) was right."""

from __future__ import annotations

import json
import shutil

import pytest

from postmortem.analysis.kept import kept_after
from postmortem.analysis.pipeline import analyze

from .conftest import DATA
from .test_detectors_k8s_metrics import at, ev, sample, table

RECORDED = DATA / "recorded"


def _churn(seconds: float, n: int, kind: str) -> dict:
    return ev(seconds, "redis_server", f"redis.server.client_{kind}", host="redis-0", value=float(n),
              message=f"{n} × {kind}", attrs={"summarized": n, "span_s": 0.1}, path="redis-server.log")


GAUGE = [sample(-1.5, "connected_clients", 75), sample(-0.4, "connected_clients", 75),
         sample(3.3, "connected_clients", 193), sample(4.5, "connected_clients", 193)]
RESUMED = 3.0  # the pause: 0 s to 3 s


def _kept(closes: list[dict]):
    events = table([*GAUGE, _churn(RESUMED + 0.05, 246, "accepted"), *closes])
    return kept_after(events, held=75, opened=239, t0=at(0), back=at(RESUMED), end=at(RESUMED + 1),
                      restarted=False, refused_server=0, refused_clients=0, queued=7)


def test_connections_closed_as_the_server_resumed_are_not_still_held():
    k = _kept([_churn(RESUMED + 0.1, 65, "closed"), _churn(RESUMED + 0.2, 128, "closed")])
    assert k.kept == 193 and not k.churns(1.0)  # on main: kept 118, 121 not kept, 1.03 per needed: a storm
    assert "less the 0 still open of the 75 open before it (the server log closed 193 since)" in k.kept_source


def test_connections_closed_long_after_the_resume_leave_the_old_ones_held():
    """The control: closes of pods being stopped seconds later (storm-pause-16's end) say nothing of the old ones."""
    k = _kept([_churn(RESUMED + 6.0, 64, "closed")])
    assert k.kept == 118 and k.kept_source.endswith("less the 75 open before it")


def _server_and_export(name: str, tmp_path):
    for f in ("redis-server.log", "redis-exporter.prom"):
        shutil.copy2(RECORDED / name / f, tmp_path / f)
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@pytest.mark.parametrize("name", ["healthy-pause-20", "healthy-pause-kolkata-48", "storm-pause-8"])
def test_without_client_logs_a_pooled_fleet_resuming_from_a_pause_is_no_storm(name, tmp_path):
    """healthy-pause-20 and -kolkata-48 with their server log and export alone (both headlined a storm on main);
    storm-pause-8 the control: thousands refused at maxclients, still a storm."""
    facts = _server_and_export(name, tmp_path)
    report, _ = analyze([str(tmp_path)])
    storm = any(f.rule_id == "PM101" for f in report.findings)
    assert storm == (facts["rejected_connections"]["total"] > 0), report.summary
    assert ("reconnect storm" in report.summary) == storm
