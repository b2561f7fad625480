"""A run the server's limit never bound (`Outcome.unbound_at`) is the run the same inputs make under any
limit at or above that mark: the what-if's maxclients row reuses the previous row's runs on that ground
(`model.for_limit`), so the generated incidents here check the claim against the stepped loop, and the
storm fixtures check the section makes fewer runs and the same rows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.analysis.replay import model, section
from postmortem.analysis.replay.inputs import Arrivals, Incident, Observed
from postmortem.analysis.replay.policy import Policy

REC = Path(__file__).parent / "data" / "recorded"


@st.composite
def limited(draw) -> tuple[Incident, Policy, float, int, float | None]:
    pods = draw(st.integers(1, 8))
    interval = draw(st.sampled_from([None, 0.05, 0.1, 0.3]))
    arrivals = Arrivals(interval, (draw(st.floats(0, interval or 1, allow_nan=False)),), (),
                        call_s=draw(st.sampled_from([0.0, 0.02])), call_spread_s=draw(st.sampled_from([0.0, 0.01])))
    down = datetime(2026, 3, 14, 2, 0, 20, draw(st.integers(0, 999_999)), tzinfo=UTC)
    hang = draw(st.booleans())
    policy = Policy("observed", retries=draw(st.sampled_from([0, 3])),
                    backoff=draw(st.sampled_from(["none", "exponential", "constant"])), base=0.05, cap=0.5,
                    jitter=draw(st.sampled_from(["none", "full"])), app_attempts=draw(st.sampled_from([1, 3])),
                    app_interval=0.1, pool_cap=draw(st.sampled_from([None, 2, 5])), pool_timeout=0.3,
                    breaker_failures=draw(st.sampled_from([0, 3])), breaker_open_s=0.5)
    inc = Incident(down=down, up=down + timedelta(seconds=draw(st.sampled_from([0.3, 1.23, 2.0]))),
                   horizon_s=draw(st.sampled_from([1.0, 2.5])), pods=pods,
                   demand_per_pod=draw(st.sampled_from([4.0, 30.0, 80.0])), arrivals=arrivals,
                   concurrency=draw(st.sampled_from([None, 2.0, 6.0])),
                   maxclients=draw(st.sampled_from([None, 4.0, 12.0, 40.0])), policy=policy,
                   counts_accepts=draw(st.booleans()), counts_failures=draw(st.booleans()), quiet=5.0,
                   observed=Observed(1.0, None, None, None, ()), notes=(), hang=hang,
                   timeout_s=draw(st.sampled_from([0.1, 0.5])) if hang else 0.0,
                   held_before=draw(st.sampled_from([0.0, 2.0, 6.0])) if hang else 0.0)
    hold = draw(st.sampled_from(model.HOLDS_S))
    other = draw(st.sampled_from([None, 3.0, 10.0, 25.0, 100.0]))
    return inc, policy, hold, draw(st.sampled_from(model.SEEDS)), other


def _same(run: model.Outcome, other: model.Outcome) -> bool:
    return run == other and run.drew == other.drew


@settings(max_examples=60, deadline=None)
@given(limited())
def test_a_run_the_limit_never_bound_is_the_run_under_any_limit_above_its_mark(case):
    inc, policy, hold, seed, other = case
    run = model.simulate(inc, policy, seed=seed, hold_s=hold)
    if run.rejections:
        assert math.isinf(run.unbound_at)  # refused by the limit: bound by it
    if math.isinf(run.unbound_at):
        return
    for limit in (run.unbound_at, run.unbound_at + 7.5, None, other):
        if limit is None or limit >= run.unbound_at:
            assert _same(model.simulate(inc, policy, maxclients=limit, seed=seed, hold_s=hold), run), limit
            assert model.for_limit({seed: run}, limit) == {seed: run}
        else:
            assert model.for_limit({seed: run}, limit) == {}


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(limited())
def test_a_run_the_limit_never_bound_is_the_run_under_any_limit_above_its_mark_many(case):
    test_a_run_the_limit_never_bound_is_the_run_under_any_limit_above_its_mark.hypothesis.inner_test(case)


@pytest.mark.parametrize("name", ["storm", "storm-16"])
def test_the_maxclients_row_reuses_the_pool_cap_rows_runs(name, monkeypatch):
    report, result = analyze([str(REC / name)], AnalyzeOptions(redact=False))
    events = result.events
    calls = []
    real = model.simulate
    monkeypatch.setattr(model, "simulate", lambda *a, **k: calls.append(a[1].label) or real(*a, **k))
    reused = section.build(events, report.recommendations)
    assert any(r.label.startswith("+ maxclients") for r in reused.rows)
    assert not [c for c in calls if c.startswith("+ maxclients")]  # its runs are the pool cap row's
    calls.clear()
    monkeypatch.setattr(model, "for_limit", lambda runs, limit: {})  # every row run afresh
    fresh = section.build(events, report.recommendations)
    assert [c for c in calls if c.startswith("+ maxclients")]
    assert reused == fresh
