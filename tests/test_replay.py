"""#19: the reconnect model, calibrated on the paired recordings (real redis-server + redis-py), predicts
the healthy configuration's outcome from the storm recording."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.analysis.replay.inputs import measure
from postmortem.analysis.replay.model import rank_within, simulate
from postmortem.analysis.replay.policy import Policy, parse_retry_spec
from postmortem.analysis.replay.section import FACTOR, build, calibrate

REC = Path(__file__).parent / "data" / "recorded"
PAIRS = [("pair-storm-8", "pair-healthy-8"), ("pair-storm-24", "pair-healthy-24")]


def _events(name: str):
    return analyze([str(REC / name)], AnalyzeOptions(redact=False))[1].events


def _facts(name: str) -> dict:
    return json.loads((REC / f"{name}.facts.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("storm,healthy", PAIRS)
def test_calibration_reproduces_the_storm_and_predicts_the_healthy_recording(storm, healthy):
    inc = measure(_events(storm))
    facts = _facts(storm)
    assert inc.observed.rejections == facts["rejected_connections"]["total"]
    hold, replay, ok = calibrate(inc)
    assert ok
    assert 1 / FACTOR <= replay.peak_attempts / inc.observed.peak_attempts <= FACTOR
    assert 1 / FACTOR <= replay.rejections / facts["rejected_connections"]["total"] <= FACTOR
    measured = measure(_events(healthy))
    hf = _facts(healthy)
    assert measured.policy.pool_cap == hf["parameters"]["max_connections"]  # read from its logged config
    assert measured.policy.app_attempts == 1
    pred = simulate(inc, measured.policy, hold_s=hold)
    assert 0.5 <= pred.peak_attempts / measured.observed.peak_attempts <= 2
    assert 0.5 <= pred.peak_connections / hf["max_connected_clients"] <= 2
    assert (pred.rejections > 0) == (hf["rejected_connections"]["total"] > 0)


@pytest.mark.slow
def test_report_section_shows_calibration_and_recommended_configurations():
    report, result = analyze([str(REC / "pair-storm-8")], AnalyzeOptions(redact=False))
    w = report.whatif
    assert w is not None and w.calibrated
    labels = [r.label for r in w.rows]
    assert labels[:2] == ["observed", "replay of the observed policy"] and len(labels) > 2
    assert [s.key for s in w.chart][:2] == ["observed", "replay"]
    again = build(result.events, report.recommendations)
    assert again.rows == w.rows  # seeded: same numbers every run


def test_model_is_deterministic_and_backoff_lowers_the_storm():
    events = _events("pair-storm-8")
    inc = measure(events)
    a, b = simulate(inc, inc.policy), simulate(inc, inc.policy)
    assert a == b
    jitter = parse_retry_spec("exponential(base=0.1s, cap=2s, jitter=full)", inc.policy)
    assert (jitter.backoff, jitter.base, jitter.cap, jitter.jitter) == ("exponential", 0.1, 2.0, "full")
    assert simulate(inc, jitter).peak_attempts < a.peak_attempts


def test_policy_delays_and_ranks():
    rng = np.random.default_rng(0)
    exp = Policy("x", retries=3, backoff="exponential", base=0.1, cap=0.3)
    assert list(exp.delays(np.array([1, 2, 3]), rng)) == pytest.approx([0.2, 0.3, 0.3])
    full = Policy("x", retries=3, backoff="exponential", base=0.1, cap=0.3, jitter="full")
    assert (full.delays(np.array([1, 2, 3] * 50), rng) <= 0.3).all()
    assert list(rank_within(np.array([2, 0, 2, 2, 0]))) == [0, 0, 1, 2, 1]
    with pytest.raises(ValueError):
        parse_retry_spec("fibonacci(1s)", exp)


def test_no_outage_no_section():
    assert measure(_events("eviction")) is None
