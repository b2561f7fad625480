"""A client's first loss during an outage is a lag, however long, not a clock ahead (`clocks.client_offsets`).

Blind slow-w1-40 (session 13: 40 pods of one worker each, a 13.7 s KEYS on a loaded machine): the pods' first
*connect* failure came 7.5 s into the stall, after seconds of read timeouts, and was read as a fleet 8 s ahead of
the exporter; PM100 moved 8 s early and PM108 found no timeout inside the KEYS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postmortem.analysis.clocks import AGREE_S, POSITIVE_SKEW_S, client_offsets
from postmortem.analysis.pipeline import analyze

RECORDED = Path(__file__).parent / "data" / "recorded"
T0 = datetime(2026, 12, 7, 6, 0, 0, tzinfo=UTC)


def _row(path: str, seconds: float, line: int = 1) -> dict:
    return {"ts": T0 + timedelta(seconds=seconds), "path": path, "line": line}


def _reference(down: float, up: float):
    """A metrics export that saw Redis down from `down` to `up` seconds (the anchor `clocks._anchors` builds)."""
    return (0, "redis-exporter.prom", "metrics", [(_row("redis-exporter.prom", down, 10),
                                                   _row("redis-exporter.prom", up, 20))])


def _fleet(firsts: dict[str, float]) -> dict:
    return {(f"{h}.log", h, "redis_py"): [_row(f"{h}.log", s)] for h, s in firsts.items()}


def _offsets(units, reference) -> dict[str, float]:
    return {o.host: o.offset_s for o in client_offsets(units, reference, {u[0]: True for u in units}, {})}


def test_a_fleet_failing_late_inside_the_outage_is_not_ahead():
    """Every pod's first loss 7.5 s into a 13.7 s outage (beyond the 5 s margin for ahead): a lag."""
    units = _fleet({f"pod-{i}": 7.5 + i / 100 for i in range(6)})
    assert 7.5 > POSITIVE_SKEW_S
    assert _offsets(units, _reference(0.0, 13.7)) == {}


def test_a_fleet_failing_after_redis_was_back_is_ahead():
    """The same first losses against a 3 s outage: they came after the server answered again, so the clocks
    are ahead (the offset is the lag-free one, first loss minus the down edge)."""
    units = _fleet({f"pod-{i}": 7.5 + i / 100 for i in range(6)})
    got = _offsets(units, _reference(0.0, 3.0))
    assert set(got) == {f"pod-{i}" for i in range(6)}
    assert all(v == pytest.approx(7.525, abs=0.01) for v in got.values())


def test_an_idle_pod_failing_late_in_the_outage_keeps_its_clock():
    """One pod of a fleet that failed at once first fails 6.5 s later, while Redis is still down: it had nothing
    to send; a pod first failing after Redis was back is ahead."""
    firsts = {f"pod-{i}": 0.1 + i / 100 for i in range(5)}
    idle = _offsets(_fleet({**firsts, "idle": 6.5}), _reference(0.0, 10.0))
    assert idle == {}
    late = _offsets(_fleet({**firsts, "late": 10.0 + AGREE_S + 4.0}), _reference(0.0, 10.0))
    assert set(late) == {"late"} and late["late"] == pytest.approx(16.0 - 0.12, abs=0.05)


def test_slow_w1_40_stays_on_the_exporters_clock():
    """The recording: no clock moved, PM100 and PM108 on the KEYS run, and every one of the 357 client timeouts
    (read and connect) inside it, in both findings."""
    name = "slow-w1-40"
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    assert not [c for c in report.clocks if c.offset_s]
    by_rule = {f.rule_id: f for f in report.findings}
    assert "PM002" not in by_rule
    keys = facts["slow_command"]
    start = datetime.fromisoformat(keys["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(keys["end"].replace("Z", "+00:00"))
    for rule in ("PM100", "PM108"):
        f = by_rule[rule]
        assert abs((f.start - start).total_seconds()) < 0.1 and abs((f.end - end).total_seconds()) < 0.1
    failures = facts["clients"]["errors_by_kind"]["timeout"]
    assert by_rule["PM108"].stats["timeouts_explained"] == failures == 357
