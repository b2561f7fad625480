"""A server log's silence must stand out from the log's own quiet spells, not only from its rate: a server on a busy
machine stalls now and then and handles its backlog at once (silence._stands_out). per-request-pause-12 (recorded on
a loaded machine, 12 per-request pods, a 2.0 s SIGSTOP): 28 s into the traffic the server logged none of its 96 lines
a second for 182 ms, then 7 in one millisecond; improbable at that rate, it was headlined "stopped answering for
0.2 s", ahead of the real pause, though the log had gone 129, 106 and 83 ms without a line elsewhere. (So did a
134 ms stall in a 32-pod recording, 2.3 MB, kept out.)

A silence starts at the server's last line before it (a churn row's time plus its span): a stopped server logs
nothing after it. Placed at the baseline rate, per-request-pause-16's and -12's began 42 and 6 ms after the pause."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from postmortem.analysis.pipeline import analyze
from postmortem.analysis.silence import server_silences

from .conftest import DATA

RECORDED = DATA / "recorded"
PAUSES = ["per-request-pause-8", "per-request-pause-16", "per-request-pause-12"]


def _outage(name: str) -> tuple[datetime, datetime]:
    o = json.loads((RECORDED / f"{name}.facts.json").read_text())["outage"]
    return tuple(datetime.fromisoformat(o[k].replace("Z", "+00:00")) for k in ("start", "end"))


@pytest.mark.slow
@pytest.mark.parametrize("name", PAUSES)
def test_the_only_silence_is_the_pause_from_the_servers_last_line(name):
    start, end = _outage(name)
    _, ingested = analyze([str(RECORDED / name)])
    (silence,) = server_silences(ingested.events)
    assert timedelta(0) <= start - silence.start < timedelta(milliseconds=100), (silence.start, start)
    assert abs(silence.end - end) < timedelta(milliseconds=100), (silence.end, end)


@pytest.mark.slow
def test_a_stall_as_long_as_the_logs_others_is_not_the_headline():
    start, end = _outage("per-request-pause-12")
    report, _ = analyze([str(RECORDED / "per-request-pause-12")])
    outages = [f for f in report.findings if f.rule_id == "PM100"]
    assert outages and all(start - timedelta(seconds=1) <= f.start <= end for f in outages), [
        (f.start, f.title) for f in outages]
    assert f"at {start:%H:%M:%S} UTC" in report.summary.split(". ")[0], report.summary
