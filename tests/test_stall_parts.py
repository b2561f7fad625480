"""A stall that held a slow command is told whole: the stall first, then its parts.

slow-pause-8, -12 and -20 (sessions 18-19): Redis was paused (SIGSTOP) for 3 s, a CronJob's `KEYS` reached it a few
ms into the pause and ran when it resumed, blocking it for another 0.8-5.5 s; the fleet timed out throughout (its
pools capped at 4: the connects it queued were drained at the SIGCONT and when the `KEYS` ended, no storm; main counted
the second drain as one at 12 and 20 pods: test_resume_closes.py). Ranked by their shares of the clients' errors the
`KEYS` (234 of 331 timeouts) opened slow-pause-12's summary, which then said nothing of the 3 s before it, while
slow-pause-20's (159 of 323) opened with the stall. The stall, which began first, leads at every size (stall_parts.py);
a storm it set off is its clause (the hypothesis test below).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postmortem.analysis.clocks import AGREE_S
from postmortem.analysis.correlate import silent_until
from postmortem.analysis.detectors import DETECTORS
from postmortem.analysis.detectors.slow_commands import BlockingFigures
from postmortem.analysis.detectors.storm import OutageFigures, StormFigures
from postmortem.analysis.story import build_story
from postmortem.model import Confidence, Evidence, Finding, Severity
from tests.recorded import facts_and_report

T0 = datetime(2026, 12, 7, 20, 17, 18, 360000, tzinfo=UTC)
BY_ID = {d.rule.rule_id: d for d in DETECTORS}


def _finding(rule_id: str, figures, start: datetime, end: datetime, line: int) -> Finding:
    rule = BY_ID[rule_id].rule
    evidence = (Evidence("pod.log", line, start, "line"),)
    return Finding(rule_id, rule.name, Severity.HIGH, Confidence.HIGH, rule_id, start, end, (), figures.as_stats(),
                   evidence, figures=figures)


def _stall(seconds: float, silent_until: datetime | None) -> Finding:
    figures = OutageFigures(endpoint="redis:127.0.0.1:6379", seconds=seconds, client_failures=331, hosts=12,
                            server_down=None, server_up=None, timeouts=331, hang=True,
                            server_silent_until=silent_until.isoformat() if silent_until else None)
    return _finding("PM100", figures, T0, T0 + timedelta(seconds=seconds), 1)


def _keys(start: datetime, seconds: float, share: float) -> Finding:
    figures = BlockingFigures(command="KEYS user:session:*:expired", duration_s=seconds, duration_source="slowlog",
                              client="session-cleanup", client_address=None, threshold_s=0.5,
                              threshold_source="socket_timeout 0.5 s", timeouts_explained=234,
                              busy_replies_explained=0, pods_explained=12, pods_with_clients=12, timeouts_total=331,
                              timeout_share=share, client_errors_total=331, error_share=share)
    return _finding("PM108", figures, start, start + timedelta(seconds=seconds), 2)


def _storm(start: datetime) -> Finding:
    figures = StormFigures(attempts=509, peak_new_connections_per_s=466, peak_at=start.isoformat(),
                           baseline_attempts_per_s=1.0, threshold_attempts_per_s=2.0, seconds=7.0, amplification=10.5,
                           amplification_basis="509 ÷ 13", attempts_source="server log", population=13,
                           population_source="connected_clients", kept=48, not_kept=456, churn=9.5)
    return _finding("PM101", figures, start, start + timedelta(seconds=7), 3)


@given(gap=st.floats(AGREE_S + 0.01, 20.0), run=st.floats(0.6, 20.0), share=st.floats(0.0, 1.0),
       storm=st.booleans())
def test_a_stall_that_began_before_its_command_leads_and_is_told_with_its_parts(gap, run, share, storm):
    """Whatever share of the errors the command explains (slow-pause-12's 0.71 led with the `KEYS`, slow-pause-20's
    0.49 with the stall), the stall opens the summary, its storm set off by it, then its parts with their figures."""
    ran = T0 + timedelta(seconds=gap)
    stall, keys = _stall(gap + run, ran - timedelta(seconds=0.15)), _keys(ran, run, share)
    findings = [stall, keys] + ([_storm(T0 + timedelta(seconds=gap))] if storm else [])
    story = build_story(findings, DETECTORS)
    assert story.trigger == ("PM100", "PM108")
    head = BY_ID["PM100"].opening(stall)
    assert story.summary.startswith(head + (" triggered a reconnect storm: 509 new connections" if storm
                                            else " caused 331 client timeouts on 12 pods."))
    opening = BY_ID["PM108"].opening(keys)
    part = (f"Until {ran:%H:%M:%S} UTC no command explains the stall: the server logged nothing from {T0:%H:%M:%S} to "
            f"{ran - timedelta(seconds=0.15):%H:%M:%S} UTC (a pause or hang of its process or host); then "
            f"{opening[0].lower()}{opening[1:]} {BY_ID['PM108'].outcome(keys)}.")
    assert part in story.summary
    assert story.summary.count("blocked Redis") == 1  # the command's clause is its own part, not the stall's


@given(gap=st.floats(-1.0, AGREE_S), share=st.floats(0.51, 1.0))
def test_a_command_that_began_with_the_stall_is_no_part_of_it(gap, share):
    """slow-8 to slow-w1-40: the `KEYS` began within 0.2 s of the stall its clients saw (either side) and explains
    most of their errors: it leads, and the stall is not told apart from it."""
    ran = T0 + timedelta(seconds=gap)
    keys = _keys(ran, 5.0, share)
    story = build_story([_stall(max(gap, 0) + 5.0, None), keys], DETECTORS)
    assert story.trigger[0] == "PM108"
    assert story.summary.startswith(BY_ID["PM108"].opening(keys))
    assert "no command explains" not in story.summary


def test_without_the_servers_log_no_silence_is_claimed():
    ran = T0 + timedelta(seconds=3.2)
    story = build_story([_stall(8.6, None), _keys(ran, 5.5, 0.71)], DETECTORS)
    assert f"Until {ran:%H:%M:%S} UTC no command explains the stall; then a 5.5 s `KEYS" in story.summary
    assert "logged nothing" not in story.summary


def test_a_command_in_the_first_part_explains_it():
    """Another command's finding inside the stall before the one that ran last: no "no command explains" claim; each
    command is told with its own figures."""
    ran = T0 + timedelta(seconds=3.2)
    early = replace(_keys(T0 + timedelta(seconds=0.5), 2.5, 0.2), evidence=(Evidence("cron.log", 9, T0, "x"),))
    story = build_story([_stall(8.6, ran), _keys(ran, 5.5, 0.71), early], DETECTORS)
    assert "no command explains" not in story.summary
    assert "A 5.5 s `KEYS user:session:*:expired` from session-cleanup at " in story.summary


def _server(rows: list[tuple[float, str, float]]) -> pl.DataFrame:
    """redis-server rows (seconds after T0, kind, span of a summarized row's lines)."""
    return pl.DataFrame([{"source": "redis_server", "kind": f"redis.server.{k}", "entity": None, "line": i + 1,
                          "ts": T0 + timedelta(seconds=at), "attrs": f'{{"span_s": {span}}}'}
                         for i, (at, k, span) in enumerate(rows)],
                        schema={"source": pl.String, "kind": pl.String, "entity": pl.String, "line": pl.UInt32,
                                "ts": pl.Datetime("us", "UTC"), "attrs": pl.String})


@pytest.mark.parametrize(("rows", "until"), [
    ([(-0.9, "client_accepted", 0.0), (3.0, "client_accepted", 0.0)], 3.0),
    ([(3.0, "client_closed", 0.0), (3.0, "client_accepted", 0.0)], 3.0),  # slow-pause-nocfg-20: a close first
    # slow-w1-40: the signal handler stamps whole epoch seconds, so its line may sort before lines logged earlier
    ([(2.64, "shutdown", 0.0), (3.0, "client_accepted", 0.0)], None),
    ([(-0.5, "client_accepted", 0.8), (3.0, "client_accepted", 0.0)], None),  # a summarized row straddles the start
    ([(-0.5, "client_accepted", 0.0)], None),  # nothing logged after it
])
def test_the_server_was_silent_until_its_first_connection_line(rows, until):
    got = silent_until(_server(rows), "redis:x", T0)
    assert got == (None if until is None else T0 + timedelta(seconds=until))


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-pause-8", "slow-pause-12", "slow-pause-20"])
def test_a_recorded_pause_that_held_a_keys_reads_the_same_at_every_size(name):
    facts, report = facts_and_report(name)
    by_rule = {f.rule_id: f for f in report.findings}
    stall, keys = by_rule["PM100"], by_rule["PM108"]
    assert report.chain("trigger")[:2] == ("PM100", "PM108")
    summary = report.summary
    assert summary.startswith(BY_ID["PM100"].opening(stall))
    storm = by_rule.get("PM101")
    if storm is not None:
        assert BY_ID["PM101"].clause(storm, report.findings) in summary
    opening = BY_ID["PM108"].opening(keys)
    assert f"; then {opening[0].lower()}{opening[1:]} {BY_ID['PM108'].outcome(keys)}." in summary
    # the parts against the truth: the server silent from the pause until it resumed, the `KEYS` run after that
    paused, resumed = _t(facts["outage"]["start"]), _t(facts["outage"]["end"])
    silent_until = _t(stall.stats["server_silent_until"])
    # the recorder stamps its SIGCONT after sending it (slow-pause-8: the server's first line 2 ms before the stamp)
    assert abs(silent_until - resumed) <= timedelta(seconds=0.05)
    assert stall.start <= paused + timedelta(seconds=facts["parameters"]["socket_timeout"])
    assert resumed <= keys.start <= _t(facts["slow_command"]["end"])
    assert (f"Until {keys.start:%H:%M:%S} UTC no command explains the stall: the server logged nothing from "
            f"{stall.start:%H:%M:%S} to {silent_until:%H:%M:%S} UTC") in summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-8", "slow-nocfg-24", "slow-nocfg-32", "slow-nocfg-40", "slow-w1-40",
                                  "slow-restart-8", "slow-restart-12"])
def test_a_keys_with_no_pause_before_it_is_told_alone(name):
    """The recordings with no pause whose clients saw the `KEYS` as a stall too (PM100): the `KEYS` leads alone."""
    _, report = facts_and_report(name)
    keys = next(f for f in report.findings if f.rule_id == "PM108")
    assert report.chain("trigger")[0] == "PM108"
    assert report.summary.startswith(f"{BY_ID['PM108'].opening(keys)} {BY_ID['PM108'].outcome(keys)}.")
    assert "stopped answering" not in report.summary and "no command explains" not in report.summary
