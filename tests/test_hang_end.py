"""A hang's window ends when the paused server answered again (correlate._hang_end), not at the last timeout of a call
it held: the calls sent during the pause time out as the resumed server drains its backlog, up to a few hundred ms
after it answered (hang-24 +0.02 s, hang-40 +0.05 s; recorded at 32 pods in session 11: +0.21 s, 21 such timeouts).
A connect that timed out is held the same way, by its `socket_connect_timeout` (hang-48: 29 connect timeouts up to
0.5 s after the resume), and the resume is sought after the clients' first timeout, not after a failed scrape stamped
when it began (hang-36: the scrape began before the pause, and the server's accepts just before it were taken for
the resume)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import polars as pl
import pytest

from postmortem.analysis.correlate import alive_before_hang, find_outages, hang_timeouts
from postmortem.analysis.pipeline import analyze

from .conftest import DATA

RECORDED = DATA / "recorded"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-24", "hang-36", "hang-40", "hang-48", "hang-8", "skewed-hang-8"])
def test_a_hang_ends_when_the_server_answered_again(name):
    """facts `end`: the recorder's first answered ping after SIGCONT. The window may not end after it (the server log's
    millisecond is its resolution), and it still holds every timeout the pause caused. hang-24 and hang-40 ended at a
    held call's timeout before; hang-8 and skewed-hang-8 (no timeout after the resume) were right before and after."""
    truth = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    end = _iso(truth["outage"]["end"])
    assert end - timedelta(milliseconds=50) <= f.end <= end + timedelta(milliseconds=1), (f.end, end)
    assert f.stats["hosts"] == len(truth["parameters"]["pod_names"])
    assert f.stats["client_failures"] >= truth["clients"]["errors_by_kind"]["timeout"], f.stats
    # the held calls' timeouts after the end are the outage's, not slow replies on live connections
    assert "PM106" not in {f.rule_id for f in report.findings}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-skew-16", "hang-nocfg-16", "hang-nocfg-32"])
def test_one_pods_late_timeouts_do_not_move_the_end(name):
    """The failures after the resume that no held call explains move the end only when most of the fleet logged
    them (then the resume was not one). hang-skew-16 (recorded blind, session 12): one pod of 16 writes its clock
    2.0 s ahead, inside the 2 s within which clocks are taken to agree; its timeouts ran the window to 4.9 s for a
    3.0 s pause. The nocfg fleets log no socket_timeout, so no timeout can be traced to its send: hang-nocfg-32's
    window ran to one pod's last timeout, 0.49 s after the resume."""
    truth = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    end = _iso(truth["outage"]["end"])
    assert end - timedelta(milliseconds=50) <= f.end <= end + timedelta(milliseconds=50), (f.end, end)
    assert f.stats["hosts"] == len(truth["parameters"]["pod_names"])


def _hang_start(events: pl.DataFrame):
    (o,) = [o for o in find_outages(events) if o.start_unknown is False]
    return o.start


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-24", "hang-36", "hang-40", "hang-48", "hang-8", "skewed-hang-8"])
def test_a_hang_starts_no_earlier_than_the_servers_last_line(name):
    """facts `start`: the recorder's SIGSTOP. A timed-out call's send (one socket timeout before its timeout) is
    late by its pod's scheduling delay (up to 0.05 s here), and early when the busy server left a call unanswered
    while it still ran: hang-36's first timeout (0.5 s) was sent 0.405 s before the pause, the server accepting
    until 2 ms before it. The server's own last line before the first timeout bounds the start (ms stamps)."""
    truth = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    start = _iso(truth["outage"]["start"])
    timeout = truth["parameters"]["socket_timeout"]
    assert start - timedelta(milliseconds=10) <= f.start <= start + timedelta(seconds=timeout / 5), (f.start, start)


def _timeouts(events: pl.DataFrame) -> pl.DataFrame:
    """The rows of the hang's timeouts (`hang_timeouts` gives their ids)."""
    return events.filter(pl.col("event_id").is_in(hang_timeouts(events).implode()))


@pytest.mark.slow
@pytest.mark.parametrize("skew_s", [1.5, -1.5])
def test_the_servers_last_line_counts_only_when_its_clock_agrees(skew_s):
    """busy-cfg-pause-16 (2 s socket timeout, pause 3.0 s) with its server log moved by a skew inside the clock margin
    (2 s, left uncorrected): 1.5 s ahead, its last line before the pause falls between the first call's send and its
    timeout and would start the window 0.18 s after the pause began; 1.5 s behind, its resume's lines come before
    the first timeout and would start it at the resume. The median pod's records place the log: neither moves it."""
    truth = json.loads((RECORDED / "busy-cfg-pause-16.facts.json").read_text())
    _, ingested = analyze([str(RECORDED / "busy-cfg-pause-16")])
    events = ingested.events
    g = _timeouts(events)
    entity = find_outages(events)[0].entity
    assert alive_before_hang(events, entity, g) is not None  # as recorded, the clocks agree
    shifted = events.with_columns(ts=pl.when(pl.col("source") == "redis_server")
                                  .then(pl.col("ts") + timedelta(seconds=skew_s)).otherwise(pl.col("ts")))
    assert alive_before_hang(shifted, entity, _timeouts(shifted)) is None
    start = _iso(truth["outage"]["start"])
    assert start <= _hang_start(shifted) <= start + timedelta(seconds=truth["parameters"]["socket_timeout"] / 5)
