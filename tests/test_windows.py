"""Windows that ran past what they measure, on real recordings at several fleet sizes.

* A blocking command's stall, when the pods log no client configuration: the calls the blocked server held time out up
  to one client timeout after it answered again, and without `socket_timeout` logged they were not traced back to when
  they were sent, so PM100 ran to the last of them (slow-nocfg-32 and -40 +0.5 s; blind slow-nocfg-28 6.1 s for 5.9 s).
  `correlate._sent_by_first_wait` bounds the wait from the hang's own first timeout after the server's last line.
* A server log ahead of its clients inside the clock margin: its ready line ended PM100's window later by the skew,
  and PM402's retries no longer covered the longer window (storm-16 +1.3 s: PM402's window moved 3.4 s).
  `correlate._answered_before`: a client answered by a listening server before the ready line places the end.
* The recording's final shutdown (the operator stopping Redis after the incident) is not the incident: it ran the
  incident window to the end of the recording and Impact counted its lines as shutdowns.
* A stall's start when the pods log no client configuration: the first sign (a failed scrape, stamped when it began;
  a timeout, one unknown client timeout after its call) came 0.1-0.6 s after the `KEYS` began (slow-nocfg-12 +0.58 s,
  -40 +0.13 s; blind slow-nocfg-28 +0.21 s). `last_seen.unseen_since`: the server's last line starts it when nothing
  after it shows the server answering and the fleet's rate makes that silence improbable.
* A pause its scrapes showed (late or unanswered) and a few pods' timeouts too few for a fleet-wide burst: the title
  said "no failure" (healthy-pause-24: one timeout 9 ms before the resume), the held calls timed out just after the
  window were a PM106 of their own (healthy-pause-48), and the window began at the failed scrape, after the first held
  call was sent (healthy-pause-32 +0.14 s). `correlate.held_calls`.
* A window whose only sign is an unanswered scrape, and the server's silence that failed it: the scrape is stamped when
  it began, before the server stopped, and its window ran to the server's first accept after it, a line logged before
  the stop (per-request-pause-scrape-12: a scrape begun 28 ms before the pause, "A 0.0 s Redis outage", the silence
  that measured it dropped as covered; unfixtured -r5, the scrape before answered 1.8 s before the stop: 3.8 s for
  2.0 s; a 24-pod recording whose held calls timed out after the resume: 0.0 s). `correlate._scrape_silence`: the
  window takes the silence's bounds, the server's own last line before and first line after.
* A hang window that starts at the server's last line before it is no lower bound: slow-nocfg-*'s `KEYS` began within
  4 ms of that line, and the window said "at least".
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA
from .test_clocks import shift_file

RECORDED = DATA / "recorded"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _facts(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-nocfg-32", "slow-nocfg-40"])
def test_a_blocking_commands_stall_ends_with_the_command_without_a_logged_timeout(name):
    """facts `slow_command.end`: the CronJob's `KEYS took` line. The stall's window (PM100) ends there (the server's
    next accept: within 50 ms), not at the last held call's timeout 0.4-0.5 s later; PM108 keeps its timeouts."""
    truth = _facts(name)
    assert truth["parameters"]["log_config"] is False
    end = _iso(truth["slow_command"]["end"])
    report, _ = analyze([str(RECORDED / name)])
    (stall,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert end - timedelta(milliseconds=80) <= stall.end <= end + timedelta(milliseconds=50), (stall.end, end)
    assert stall.stats["client_failures"] == truth["clients"]["errors_by_kind"]["timeout"]
    (keys,) = [f for f in report.findings if f.rule_id == "PM108"]
    assert keys.stats["pods_explained"] == len(truth["parameters"]["pod_names"])


@pytest.mark.slow
@pytest.mark.parametrize(("fixture", "seconds"), [("storm-16", 1.3), ("storm-16", 1.49), ("storm", 1.4),
                                                  ("pair-storm-24", 1.4)])
def test_a_server_log_ahead_inside_the_margin_keeps_the_outage_and_pm402(tmp_path, fixture, seconds):
    """No exporter to anchor it: the server log `seconds` ahead (inside the clock margin, so not corrected) ends no
    window later by its skew: PM100 ends at the fleet's last refusal, within 0.2 s of the unshifted ready line (the
    server listened between that refusal and the first reply only a listening server gives: 0.2 s apart in storm and
    storm-16), and PM402 keeps its window."""
    def run(shift: float):
        folder = tmp_path / f"{fixture}{shift:+}"
        shutil.copytree(RECORDED / fixture, folder, ignore=shutil.ignore_patterns("*.prom"))
        if shift:
            shift_file(folder / "redis-server.log", shift)
        report, _ = analyze([str(folder)])
        return {f.rule_id: f for f in report.findings}

    base, ahead = run(0.0), run(seconds)
    assert abs((ahead["PM100"].end - base["PM100"].end).total_seconds()) <= 0.2, (ahead["PM100"].end, base["PM100"].end)
    assert (ahead["PM402"].start, ahead["PM402"].end) == (base["PM402"].start, base["PM402"].end)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-16", "slow-nocfg-32", "pair-storm-8"])
def test_the_final_shutdown_is_not_the_incident(name):
    """The recorder stops Redis after its traffic (facts `run.end`): the incident window ends before that shutdown,
    and Impact counts the outage's restart as one shutdown (storm-16: 4 lines, 2 of them the final stop's)."""
    truth = _facts(name)
    report, _ = analyze([str(RECORDED / name)])
    server = (RECORDED / name / "redis-server.log").read_text().splitlines()
    final = next(line for line in reversed(server) if "User requested shutdown" in line)
    stopped = datetime.strptime(final.split(" ", 1)[1][:24], "%d %b %Y %H:%M:%S.%f").replace(
        tzinfo=report.window_end.tzinfo)
    assert report.window_end < stopped - timedelta(milliseconds=500), (report.window_end, stopped)
    restarts = 0 if truth["outage"]["kind"] in (None, "none", "pause") else 1
    shutdowns = [k for k in report.impact.errors if k.kind == "redis.server.shutdown"]
    assert [(k.count, k.unit) for k in shutdowns] == ([(restarts, "shutdowns")] if restarts else [])


# KEYS runs of 1.2-2.2 s, 24 and 40 pods that log no socket_timeout, most of them timed out (slow-nocfg-12/-16/-20's runs
# timed out 3 to 5 pods, no fleet-wide hang since session 18: PM108 alone, as slow-24's with its configuration logged;
# tests/test_client_only_pause.py)
NOCFG_STALLS = ["slow-nocfg-24", "slow-nocfg-40"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NOCFG_STALLS)
def test_a_stall_starts_where_the_server_was_last_seen_answering(name):
    """facts `slow_command.start` (the CronJob's `running KEYS` line): PM100 starts at the server's last line, its
    accept of the CronJob's connection, within 10 ms after it (was 0.13-0.58 s, at the first scrape or timeout)."""
    truth = _facts(name)
    assert truth["parameters"]["log_config"] is False
    began = _iso(truth["slow_command"]["start"])
    report, _ = analyze([str(RECORDED / name)])
    (stall,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert began <= stall.start <= began + timedelta(milliseconds=10), (stall.start, began)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hang-nocfg-8", "hang-nocfg-16", "hang-nocfg-32"])
def test_a_pause_whose_server_was_quiet_before_keeps_its_first_sign(name):
    """The pooled fleet worked after the server's last line (0.8-2.3 s before the pause): that line is no start, and
    PM100 never starts before the pause (facts `outage.start`)."""
    truth = _facts(name)
    paused = _iso(truth["outage"]["start"])
    report, _ = analyze([str(RECORDED / name)])
    (stall,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert paused <= stall.start <= paused + timedelta(seconds=0.6), (stall.start, paused)


# pauses seen by a late scrape (-16, -24, -48) or an unanswered one (-32), with 0, 1, 1 and 10 held calls' timeouts
SCRAPED_PAUSES = ["healthy-pause-16", "healthy-pause-24", "healthy-pause-48", "healthy-pause-32"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRAPED_PAUSES)
def test_a_pause_seen_by_its_scrapes_counts_the_calls_it_held(name):
    """Every timeout the recorder counted (facts `clients.errors_by_kind`) is the pause's: PM100 counts them, says "no
    failure" only without one, and no PM106 reports them as timeouts on a live connection."""
    truth = _facts(name)
    held = truth["clients"]["errors_by_kind"].get("timeout", 0)
    report, _ = analyze([str(RECORDED / name)])
    (pause,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert pause.stats["timeouts"] == held and pause.stats["hang"]
    assert ("no failure" in pause.title) == (held == 0) and ("no client logged a failure" not in pause.title)
    assert not [f for f in report.findings if f.rule_id == "PM106"]
    assert ("no connection failure" in report.summary) == (held == 0), report.summary


@pytest.mark.slow
def test_a_held_call_sent_before_the_failed_scrape_starts_the_pause():
    """healthy-pause-32: the first held call (logged 2 s socket_timeout) was sent 0.12 s before the scrape that failed
    began: PM100 starts within 30 ms of the pause (was 0.14 s after it, at the scrape)."""
    truth = _facts("healthy-pause-32")
    paused = _iso(truth["outage"]["start"])
    report, _ = analyze([str(RECORDED / "healthy-pause-32")])
    (pause,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert paused <= pause.start <= paused + timedelta(milliseconds=30), (pause.start, paused)


@pytest.mark.slow
def test_a_scrape_begun_before_the_pause_yields_to_the_servers_silence():
    name = "per-request-pause-scrape-12"
    outage = _facts(name)["outage"]
    start, end = _iso(outage["start"]), _iso(outage["end"])
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert 0 <= (start - f.start).total_seconds() < 0.1, (f.start, start)
    assert abs((f.end - end).total_seconds()) < 0.1, (f.end, end)
    assert f.stats["hang"] and "at_least" not in f.stats, f.stats
    assert "1 scrape unanswered" in f.title and "its log went silent" in f.title, f.title
    assert "stopped answering for 2.0 s" in report.summary.split(". ")[0], report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-nocfg-24"])
def test_a_hang_from_the_servers_last_line_is_no_lower_bound(name):
    keys = _facts(name)["slow_command"]
    report, _ = analyze([str(RECORDED / name)])
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert 0 <= (f.start - _iso(keys["start"])).total_seconds() < 0.05, (f.start, keys["start"])
    assert "at_least" not in f.stats and "at least" not in f.title, f.title
