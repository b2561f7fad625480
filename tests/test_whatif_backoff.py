"""The what-if section checked against recordings of its own advice: one storm scenario recorded as it is (A:
`storm-8`), with the report's snippet retry alone (B: `storm-jitter-8`, `storm-jitter-16`, jittered exponential
backoff) and with the snippet's capped pool too (C: `storm-jitter-pool-8`); A at 24 pods too (`storm-24`). Until session 15 the model could not
replay a fleet with client backoff (B's replay missed its logs 5x) and A's "snippet retry" row claimed 0 rejections
where B really had 336."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.analysis.replay.inputs import measure
from postmortem.analysis.replay.section import FACTOR, calibrate

REC = Path(__file__).parent / "data" / "recorded"


@cache
def _analyzed(name: str):
    return analyze([str(REC / name)], AnalyzeOptions(redact=False))


def _facts(name: str) -> dict:
    return json.loads((REC / f"{name}.facts.json").read_text())


def _within(pred: float, obs: float) -> bool:
    return 1 / FACTOR <= pred / obs <= FACTOR


def test_a_fleet_measures_the_same_concurrency_under_either_policy():
    """The requests a pod runs at once are the app's (its workers and demand), not the client policy's: a
    failure line with backoff comes after the call's backoff sleeps too, which Little's law must count."""
    a = measure(_analyzed("storm-8")[1].events)
    b = measure(_analyzed("storm-jitter-8")[1].events)
    assert _within(b.concurrency, a.concurrency), (a.concurrency, b.concurrency)


@pytest.mark.parametrize("name", ["storm-8", "storm-24", *(pytest.param(n, marks=pytest.mark.slow) for n in (
    "storm-16", "storm-32", "storm-48", "pair-storm-24"))])
def test_the_requests_a_pod_runs_at_once_are_its_workers(name):
    """A fleet without client backoff (A) fills its workers by the time the server is back: each in the app's retry
    loop, logging one failure per retry cycle. The mean over the outage's last second said 6.8, 6.4 and 6.1 a pod at
    8, 16 and 24 pods where 8 workers ran (the loops still piling up in a 2 s outage, shorter than a request's
    retries), and the 24-pod replay missed its rejections (188 vs 380). The last cycle's failures, less requests'
    last ones, count them: 7.8, 7.4, 7.2, 8.2 for 8 at 8-32 pods, 6.2 for storm-48's 6, 8.3 for pair-storm-24's 8
    (all failures of that cycle said 8.0 for storm-48's 6: a busy worker ends a request and starts the next)."""
    inc = measure(_analyzed(name)[1].events)
    workers = _facts(name)["parameters"]["workers"]
    assert abs(inc.concurrency / workers - 1) <= 0.15, (inc.concurrency, workers)


@pytest.mark.slow
def test_a_storm_at_24_pods_calibrates_on_its_own_logs():
    inc = measure(_analyzed("storm-24")[1].events)
    assert inc.observed.rejections == _facts("storm-24")["rejected_connections"]["total"]
    _, out, ok = calibrate(inc)
    assert ok, (out.peak_attempts, inc.observed.peak_attempts, out.rejections, inc.observed.rejections)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-jitter-8", "storm-jitter-16", "storm-jitter-pool-8"])
def test_the_replay_of_a_backoff_policy_calibrates_on_its_own_logs(name):
    inc = measure(_analyzed(name)[1].events)
    assert inc.policy.backoff == "exponential" and inc.policy.jitter == "full"
    assert inc.observed.rejections == _facts(name)["rejected_connections"]["total"]
    _, out, ok = calibrate(inc)
    assert ok, (name, out.peak_attempts, inc.observed.peak_attempts, out.rejections, inc.observed.rejections)


@pytest.mark.slow
def test_the_snippet_rows_predict_what_recording_them_gave():
    """A's report replays its snippets on A's fleet: the retry alone must give what B really gave (within the
    tolerance: backoff alone did not end the storm), the pool cap what C gave (no rejections)."""
    report = _analyzed("storm-8")[0]
    w = report.whatif
    assert w is not None and w.calibrated
    rows = {r.label.split(":")[0]: r for r in w.rows}
    retry, pool = rows["snippet retry"], rows["+ pool cap 3 per pod"]
    b = measure(_analyzed("storm-jitter-8")[1].events).observed
    assert b.rejections == _facts("storm-jitter-8")["rejected_connections"]["total"] > 0
    assert _within(retry.rejections, b.rejections), (retry.rejections, b.rejections)
    assert _within(retry.peak_attempts, b.peak_attempts), (retry.peak_attempts, b.peak_attempts)
    c = _facts("storm-jitter-pool-8")
    assert pool.rejections == c["rejected_connections"]["total"] == 0
    assert pool.peak_connections <= c["parameters"]["maxclients"]


@pytest.mark.parametrize("name", ["storm-8", "storm-jitter-8", "storm-jitter-pool-8"])
def test_pm402_says_whose_retries_have_no_backoff(name):
    """B and C's redis-py retried with ExponentialWithJitterBackoff; only the app's own loop (`retrying in 0.25s`)
    had none, and PM402 said "retries without backoff" as of A, whose client had NoBackoff."""
    report = _analyzed(name)[0]
    (f,) = [f for f in report.findings if f.rule_id == "PM402"]
    backoff = _facts(name)["parameters"]["backoff"]
    if backoff == "NoBackoff":
        assert "configured NoBackoff()" in f.title and "application" not in report.summary
    else:
        assert f.stats["client_backoff"] == backoff and f"client's retry backs off ({backoff})" in f.title
        assert "the application's own retry loop waits a constant 0.25 s" in f.title
        assert "an application-level retry loop without backoff" in report.summary
        assert "retries without backoff" not in report.summary
