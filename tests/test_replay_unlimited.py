"""The replay without stepping where nothing can fail (model._unlimited: no maxclients, no pool cap, no limit
on a pod's requests, every outage request refused on arrival) gives the stepped loop's Outcome, `drew`
included, on generated incidents; and the fixture that most needs it takes that path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.replay import model
from postmortem.analysis.replay.inputs import Arrivals, Incident, Observed
from postmortem.analysis.replay.policy import Policy


@st.composite
def incidents(draw) -> tuple[Incident, Policy, float, int]:
    pods = draw(st.integers(1, 10))
    ticked = draw(st.booleans())
    interval = draw(st.sampled_from([0.05, 0.1, 0.25, 0.3, 1.0])) if ticked else None
    phases = tuple(draw(st.lists(st.floats(0, interval or 1, allow_nan=False), min_size=1, max_size=pods)))
    starts = tuple(draw(st.lists(st.sampled_from([0.0, 0.0, 0.37, 1.5, 4.2]), min_size=0, max_size=pods)))
    arrivals = Arrivals(interval, phases, starts)
    down = datetime(2026, 3, 14, 2, 0, 20, draw(st.integers(0, 999_999)), tzinfo=UTC)
    outage = draw(st.sampled_from([0.0, 0.004, 0.5, 1.23, 3.0]))
    policy = Policy("observed", retries=draw(st.sampled_from([0, 0, 3])),
                    backoff=draw(st.sampled_from(["none", "none", "exponential"])),
                    base=0.1, cap=1.0, jitter=draw(st.sampled_from(["none", "full"])))
    if policy.retries and policy.backoff != "none":
        policy = Policy("observed", retries=0, backoff=policy.backoff, base=0.1, cap=1.0, jitter=policy.jitter)
    inc = Incident(down=down, up=down + timedelta(seconds=outage), horizon_s=draw(st.sampled_from([1.0, 2.5, 4.0])),
                   pods=pods, demand_per_pod=draw(st.sampled_from([0.0, 1.0, 4.25, 30.0, 80.0])), arrivals=arrivals,
                   concurrency=None, maxclients=None, policy=policy, counts_accepts=draw(st.booleans()),
                   counts_failures=draw(st.booleans()), quiet=draw(st.sampled_from([0.0, 5.0, 63.0])),
                   observed=Observed(1.0, None, None, None, ()), notes=())
    hold = draw(st.sampled_from([*model.HOLDS_S, 0.001, 0.013, 0.7, 2.0]))
    return inc, policy, hold, draw(st.sampled_from(model.SEEDS))


@settings(max_examples=40, deadline=None)
@given(incidents())
def test_unlimited_replay_gives_the_loops_outcome(case):
    inc, policy, hold, seed = case
    fast = model.simulate(inc, policy, seed=seed, hold_s=hold)
    stepped = model.simulate(inc, policy, seed=seed, hold_s=hold, fast=False)
    assert fast == stepped
    assert fast.drew == stepped.drew  # not part of ==, but ensemble reuses a run that drew nothing


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(incidents())
def test_unlimited_replay_gives_the_loops_outcome_many(case):
    test_unlimited_replay_gives_the_loops_outcome.hypothesis.inner_test(case)


def test_unlimited_path_is_taken_only_where_nothing_can_fail(monkeypatch):
    calls = []
    real = model._unlimited
    monkeypatch.setattr(model, "_unlimited", lambda *a: calls.append(1) or real(*a))
    down = datetime(2026, 3, 14, 2, 0, 20, tzinfo=UTC)
    inc = Incident(down=down, up=down + timedelta(seconds=1), horizon_s=2.0, pods=3, demand_per_pod=10.0,
                   arrivals=Arrivals(None, (0.0,), ()), concurrency=None, maxclients=None, policy=Policy("observed"),
                   counts_accepts=True, counts_failures=True, quiet=1.0, observed=Observed(1.0, None, None, None, ()),
                   notes=())
    model.simulate(inc, inc.policy)
    assert calls == [1]
    for other in (inc.__class__(**{**inc.__dict__, "maxclients": 20.0}),  # a limit can reject
                  inc.__class__(**{**inc.__dict__, "concurrency": 2.0})):  # requests can wait for a worker
        model.simulate(other, other.policy)
    model.simulate(inc, Policy("capped", pool_cap=2))  # a capped pool can make requests wait
    model.simulate(inc, Policy("app retries", app_attempts=3, app_interval=0.1))  # outage calls are retried
    assert calls == [1]
