"""#19: the reconnect model, calibrated on the paired recordings (real redis-server + redis-py), predicts
the healthy configuration's outcome from the storm recording."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.analysis.replay.inputs import measure
from postmortem.analysis.replay.model import rank_within, simulate
from postmortem.analysis.replay.policy import Policy, parse_breaker_spec, parse_retry_spec
from postmortem.analysis.replay.section import FACTOR, build, calibrate
from postmortem.cli import main
from reports.render import render

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


CALIBRATING = ["storm", "storm-16", "scaleout", "pair-storm-8", "pair-storm-24"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CALIBRATING)
def test_every_storm_recording_calibrates_within_the_tolerance(name):
    """The replay of the observed policy reproduces each recording's own peak attempts/s and rejections
    (the rejections are the server's counter, as the facts measured them)."""
    inc = measure(_events(name))
    facts = _facts(name)
    assert inc.observed.rejections == facts["rejected_connections"]["total"]
    _, out, ok = calibrate(inc)
    assert ok, name
    assert 1 / FACTOR <= out.peak_attempts / inc.observed.peak_attempts <= FACTOR
    assert 1 / FACTOR <= out.rejections / inc.observed.rejections <= FACTOR


@pytest.mark.slow
def test_arrivals_are_measured_on_the_pods_tick_and_late_pods_start_late():
    """The recorder submits each pod's requests on a fixed tick (1 / rate) at a random phase; the scale-out
    pods start during the incident: both are read from the logs, not assumed."""
    storm = measure(_events("storm"))
    assert storm.arrivals.interval == pytest.approx(1 / _facts("storm")["parameters"]["rate"], rel=0.05)
    assert len(set(round(p, 3) for p in storm.arrivals.phases)) == storm.pods
    out = measure(_events("scaleout"))
    fleet = _facts("scaleout")["parameters"]["fleet"]
    late = [s for s in out.arrivals.starts if s > 0]
    assert len(late) == fleet["pods_at_end"] - fleet["pods_at_start"]
    assert all(s > out.outage_s for s in late)  # the new processes started 1 s after the rescale


@pytest.mark.slow
def test_a_hung_server_is_replayed_with_the_logged_timeout_and_says_why_it_does_not_calibrate():
    events = _events("hang-8")
    inc = measure(events)
    facts = _facts("hang-8")
    assert inc.hang and inc.timeout_s == facts["parameters"]["socket_timeout"]
    assert inc.observed.rejections == 0
    w = build(events, ())
    assert not w.calibrated and len(w.rows) == 2
    assert "peak logged attempts/s replayed" in w.verdict and "the server hung" in w.verdict


def test_breaker_spec_and_an_open_breaker_spares_redis():
    base = Policy("x", retries=3)
    assert parse_breaker_spec("5/30s", base).breaker_failures == 5
    assert parse_breaker_spec("failures=2, open=500ms", base).breaker_open_s == 0.5
    assert parse_breaker_spec("none", parse_breaker_spec("5/30s", base)).breaker_failures == 0
    for bad in ("5", "0/3s", "x/3s"):
        with pytest.raises(ValueError):
            parse_breaker_spec(bad, base)
    inc = measure(_events("pair-storm-8"))
    plain = simulate(inc, inc.policy)
    guarded = simulate(inc, parse_breaker_spec("2/1s", inc.policy))
    assert sum(a for _, a in guarded.per_second) < sum(a for _, a in plain.per_second)


def test_whatif_cli_breaker_option(tmp_path):
    bad = CliRunner().invoke(main, ["whatif", str(tmp_path / "missing"), "--breaker", "3/"])
    assert bad.exit_code == 2 and "breaker spec" in bad.output  # checked before anything is read
    ok = CliRunner().invoke(main, ["whatif", str(REC / "pair-storm-8"), "--breaker", "3/2s", "-f", "json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output[ok.output.index("{"):])
    assert doc["calibrated"] and doc["rows"][-1]["label"] == "--breaker 3/2s"
    assert "breaker opens after 3 failed calls for 2 s" in doc["rows"][-1]["policy"]


@pytest.mark.slow
def test_the_what_if_table_and_chart_are_in_the_body():
    report = analyze([str(REC / "storm")])[0]
    md = render(report, "md", chart_folder="r_files")
    body = md.split("\n## Appendix\n", 1)[0]
    section = body.split("### What if", 1)[1].split("## Lessons", 1)[0]
    assert "| replay of the observed policy |" in section and "](r_files/whatif.svg)" in section
    assert "### Replay inputs" in md.split("\n## Appendix\n", 1)[1]
    html = render(report, "html")
    assert html.index('id="whatif"') < html.index('id="lessons"') < html.index('id="replay-inputs"')
    assert "<svg" in html.split('id="whatif"', 1)[1].split('id="lessons"', 1)[0]
    doc = json.loads(render(report, "json"))["whatif"]
    assert doc["calibrated"]
    # Jira gets the same table with the same figures (one value per fact), tolerance and inputs inline
    jira = render(report, "jira").split("h2. What if", 1)[1].split("h2. Lessons", 1)[0]
    assert "||Configuration||Peak logged attempts/s||" in jira and "Tolerance: " in jira
    for row in report.whatif.rows:
        assert f"|{row.peak_attempts:.0f}|{row.peak_connections:.0f} / {row.maxclients:.0f}|{row.rejections:.0f}|" in jira


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-16", "scaleout", "hang-8", "pair-storm-24"])
def test_keeping_only_live_requests_changes_no_figure(name, monkeypatch):
    """The loop steps through the live requests only (model._Requests), and counts an outage whose every
    request fails on arrival without stepping (`_refused_at_once`); one window holding every request of the
    horizon, stepped through, is the plain model: every policy's outcome must be the same."""
    from dataclasses import replace

    from postmortem.analysis.replay import model

    inc = measure(_events(name))
    policies = [inc.policy, replace(inc.policy, pool_cap=4, pool_timeout=0.5),
                parse_breaker_spec("3/1s", inc.policy),
                parse_retry_spec("exponential(base=0.05s, cap=1s, jitter=full)", replace(inc.policy, retries=3)),
                replace(inc.policy, retries=0, app_attempts=1), replace(inc.policy, retries=3, backoff="none", app_attempts=1)]
    if not inc.hang:
        assert model._refused_at_once(inc, policies[-1], model._Breaker(inc.pods, policies[-1]), None)
    cases = [(p, hold, None, None) for p in policies for hold in (0.03, 0.3)] + [(inc.policy, 0.1, inc.pods * 3, 50.0)]
    windowed = [simulate(inc, p, pods=pods, maxclients=mc, hold_s=hold) for p, hold, pods, mc in cases]
    monkeypatch.setattr(model._Requests, "WINDOW_S", float("inf"))
    monkeypatch.setattr(model, "_refused_at_once", lambda *a: False)
    whole = [simulate(inc, p, pods=pods, maxclients=mc, hold_s=hold) for p, hold, pods, mc in cases]
    assert windowed == whole


@pytest.mark.parametrize("folder", [Path(__file__).parent / "data" / "example-incident", REC / "storm"])
def test_a_run_without_random_draws_stands_for_every_seed(folder, monkeypatch):
    """`ensemble` replays the first seed's run for the others when that run drew nothing from its
    generator (the example's outage: a fixed tick, no retries, no spread): the same Outcome as running
    every seed; a run that draws (the storm's call spread) is run once per seed."""
    from postmortem.analysis.replay import model

    inc = measure(analyze([str(folder)], AnalyzeOptions(redact=False))[1].events)
    calls: list[int] = []
    real = model.simulate

    def counted(*args, **kwargs):
        calls.append(kwargs.get("seed", args[4] if len(args) > 4 else model.SEED))
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "simulate", counted)
    quick = model.ensemble(inc, inc.policy, hold_s=0.1)
    drew = real(inc, inc.policy, hold_s=0.1).drew
    monkeypatch.setattr(model, "simulate", lambda *a, **k: replace(real(*a, **k), drew=True))
    every_seed = model.ensemble(inc, inc.policy, hold_s=0.1)
    assert quick == every_seed and quick.per_second == every_seed.per_second
    assert len(calls) == (len(model.SEEDS) if drew else 1)
    assert drew == (folder.name == "storm")
