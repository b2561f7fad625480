"""A server log's silence is improbable only against the number of places one of its length fits in the log: a
34 ms gap in a 36 s log fits a thousand times, not 36 (silence.improbable_after). per-request-40 (recorded blind in
session 12 on a loaded machine): the server logged 264 lines a second, then none for 34 ms, and five `Accepted` in
one millisecond; counted against the log's seconds, that gap made a 0.0 s outage and a reconnect storm the headline,
ahead of the real 2.0 s restart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from postmortem.analysis.pipeline import analyze
from postmortem.analysis.silence import improbable_after

from .conftest import DATA

RECORDED = DATA / "recorded"


def test_a_short_gap_fits_many_times_into_a_log():
    # expected lines in the gap at the server's rate, against what a silence must lack to be improbable
    assert 0.034 * 264 < improbable_after(36 / 0.034)
    assert 2.0 * 32 > improbable_after(36 / 2.0)
    assert improbable_after(0.5) == improbable_after(1.0)  # a silence longer than the log fits once


@pytest.mark.slow
def test_a_34_ms_gap_in_a_busy_server_log_is_no_outage():
    truth = json.loads((RECORDED / "per-request-40.facts.json").read_text())
    report, _ = analyze([str(RECORDED / "per-request-40")])
    rules = [f.rule_id for f in report.findings]
    assert "PM101" not in rules, report.summary
    (outage,) = [f for f in report.findings if f.rule_id == "PM100"]
    start = datetime.fromisoformat(truth["outage"]["start"].replace("Z", "+00:00"))
    assert abs(outage.start - start) < timedelta(milliseconds=100), (outage.start, start)
    assert report.summary.startswith("A 2.0 s Redis outage"), report.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", ["per-request-40", "healthy-4", "hang-skew-16"])
def test_the_summary_tells_what_the_outage_did_with_its_finding_s_figure(name):
    """An outage that set off nothing else is told with PM100's own figure (one value per fact), and one no client
    logged a failure for says so (it used to read "disrupted the Redis clients" for both)."""
    report, _ = analyze([str(RECORDED / name)])
    (outage,) = [f for f in report.findings if f.rule_id == "PM100"]
    pods = f"{outage.stats['hosts']} pods"
    if outage.stats["hang"]:
        said = f"which caused {outage.stats['timeouts']:,} client timeouts on {pods}."
    elif outage.stats["client_failures"]:
        said = f"caused {outage.stats['client_failures']:,} client failures on {pods}."
    else:
        said = "left no connection failure in the clients' logs."
    assert said in report.summary, report.summary
    assert "disrupted the Redis clients" not in report.summary
