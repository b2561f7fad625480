"""A pause that shows only as a scrape answered late (analysis/scrape_gaps.py), and scrapers late from load alone.

storm-pause-late-16 and -24: Redis paused (SIGSTOP) for 2.0 s, less than the scraper's 2 s timeout, so the poll it
held was answered when it resumed: no `redis_up` 0, only answered samples 2.2 and 2.7 s apart against the scraper's
1.0 s; the storm fleet (no socket timeout) logged nothing while it waited, and reconnected at once when it resumed.
The old code found no outage there, so PM101 (a storm is measured after an outage) found no storm and the headline led
with PM103 (connections rejected at maxclients: true, but not the cause).
"""

from __future__ import annotations

import json
import re
import statistics
from datetime import UTC, datetime, timedelta
from functools import cache

import polars as pl
import pytest

from postmortem.analysis.pipeline import analyze
from postmortem.analysis.scrape_gaps import GAP_FACTOR, late_scrapes

from .conftest import DATA

RECORDED = DATA / "recorded"
LATE = ["storm-pause-late-16", "storm-pause-late-24"]
# healthy fleets recorded while CPU burners kept the 2-core machine busy: their scraper came late with no outage
LOADED = ["healthy-loaded-32", "healthy-loaded-40"]


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def facts_of(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


def up_samples(name: str) -> list[tuple[datetime, int]]:
    """The exporter file's `redis_up` samples as written (value, ms timestamp)."""
    text = (RECORDED / name / "redis-exporter.prom").read_text()
    return [(datetime.fromtimestamp(int(ms) / 1000, UTC), int(v))
            for v, ms in re.findall(r"^redis_up\{[^}]*\} (\d) (\d+)$", text, re.M)]


def longest_late_step(name: str) -> float:
    """The longest step between answered samples with no unanswered one between them, in the scraper's median
    intervals (read from the file)."""
    samples = up_samples(name)
    steps = [((b - a).total_seconds(), va and vb) for (a, va), (b, vb) in zip(samples, samples[1:], strict=False)]
    answered = [s for s, ok in steps if ok]
    return max(answered) / statistics.median(answered)


@cache
def analyzed(name: str):
    return analyze([str(RECORDED / name)])


@pytest.mark.slow
@pytest.mark.parametrize("name", LATE)
def test_a_pause_seen_only_as_a_late_scrape_is_the_outage_that_triggered_the_storm(name):
    facts = facts_of(name)
    start, end = _iso(facts["outage"]["start"]), _iso(facts["outage"]["end"])
    assert facts["outage"]["kind"] == "pause" and facts["polls"]["failed"] == 0
    assert all(v == 1 for _, v in up_samples(name))  # no unanswered scrape anywhere: the pause is a late one only
    assert longest_late_step(name) > GAP_FACTOR
    report, _ = analyzed(name)
    found = {f.rule_id: f for f in report.findings}
    f = found["PM100"]
    assert f.stats["hang"] and f.stats["at_least"] and f.stats["scrape_gap_s"] > GAP_FACTOR * f.stats["scrape_interval_s"]
    # a lower bound: it starts after the pause did, within the per-second rows' second; it ends at the resume
    assert timedelta(0) <= f.start - start <= timedelta(seconds=1), (f.start, start)
    assert abs((f.end - end).total_seconds()) <= 0.1, (f.end, end)
    assert f"its {facts['parameters']['pods']} pods logged nothing for" in f.title
    s = found["PM101"]
    assert s.start <= end + timedelta(seconds=1) and s.stats["amplification"] >= 10
    assert report.summary.startswith(f"Redis ({f.stats['endpoint']}) stopped answering for at least"), report.summary


# The controls: healthy fleets recorded while the machine was busy, whose scraper came late with no outage.
# healthy-loaded-32 (no outage, four CPU burners): a sample 1.6 s after the one before against the scraper's 1.0 s
# as the traffic ended, the pods logging until then. healthy-loaded-40 (two CPU burners, a restart 4 s later): 1.6 s
# while the pods were starting, their first silence 0.7 s long (more than the half interval a stop needs) but not
# improbable at their rate, and no catch-up after it. Neither is an outage; the restart is healthy-loaded-40's only.
@pytest.mark.slow
@pytest.mark.parametrize("name", LOADED)
def test_a_scraper_late_from_load_alone_is_no_outage(name):
    facts = facts_of(name)
    assert facts["outage"]["kind"] in ("none", "restart") and facts["rejected_connections"]["total"] == 0
    assert longest_late_step(name) > GAP_FACTOR  # the scraper was late: the rule's first sign is there
    report, ingested = analyzed(name)
    assert late_scrapes(ingested.events) == []
    outages = [f for f in report.findings if f.rule_id == "PM100"]
    if facts["outage"]["kind"] == "none":
        assert outages == []
    else:
        (f,) = outages
        assert abs((f.start - _iso(facts["outage"]["start"])).total_seconds()) <= 0.5, (f.start, facts["outage"])
        assert not f.stats["hang"]


# Each confirmation is needed. The late recordings without the server's log (no accept to see) are confirmed by
# the clients' own catch-up, their reconnect loops' lines at the resume (and the clients' catch-up is needed where
# the server's is not: test_a_pooled_fleets_resume_needs_its_held_calls_to_finish_together); they find no late
# scrape when the clients' records of the second before the silence are copied into every second of it (a fleet
# that kept working while its scraper was late).
@pytest.mark.slow
@pytest.mark.parametrize("name", LATE)
def test_a_late_scrape_needs_the_fleets_silence_and_a_catch_up(name):
    _, ingested = analyzed(name)
    events = ingested.events
    (late,) = late_scrapes(events)
    (blind,) = late_scrapes(events.filter(pl.col("source") != "redis_server"))
    assert blind.gap.resume_accepts == 0 and blind.gap.resume_lines > blind.gap.peak_lines
    quiet = late.gap.quiet
    seconds = int((quiet[1] - quiet[0]).total_seconds()) + 1
    activity = events.filter((pl.col("kind") == "app.activity") & (pl.col("ts") == quiet[0] - timedelta(seconds=1)))
    assert activity.height
    busy = pl.concat([events, *(activity.with_columns(pl.col("ts") + timedelta(seconds=k + 1)) for k in range(seconds))])
    assert late_scrapes(busy) == []


# A pooled fleet paused for its socket timeout (healthy-pause-*): its pools filled at start-up in one second, so the
# server's accepts at the resume need not pass that second (healthy-pause-24: 52 at start-up, 48 at the resume;
# healthy-pause-16: none at the resume, its pools full since start-up); its held calls finishing together pass the
# pods' own busiest second. healthy-pause-48's pods still starting wrote their configuration lines through the pause.
# The old rule found no outage in any of them.
POOLED = ["healthy-pause-16", "healthy-pause-24", "healthy-pause-48"]


@pytest.mark.slow
@pytest.mark.parametrize("name", POOLED)
def test_a_pooled_fleets_pause_seen_only_as_a_late_scrape_is_an_outage(name):
    facts = facts_of(name)
    start, end = _iso(facts["outage"]["start"]), _iso(facts["outage"]["end"])
    assert facts["outage"]["kind"] == "pause" and facts["polls"]["failed"] == 0
    assert all(v == 1 for _, v in up_samples(name)) and longest_late_step(name) > GAP_FACTOR
    report, ingested = analyzed(name)
    (late,) = late_scrapes(ingested.events)
    assert late.gap.resume_lines > late.gap.peak_lines
    (f,) = [f for f in report.findings if f.rule_id == "PM100"]
    assert f.stats["hang"] and f.stats["at_least"]
    # a lower bound: after the pause began, within the per-second rows' second; it ends at the resume
    assert timedelta(0) <= f.start - start <= timedelta(seconds=1), (f.start, start)
    assert abs((f.end - end).total_seconds()) <= 0.1, (f.end, end)
    assert report.summary.startswith(f"Redis ({f.stats['endpoint']}) stopped answering for at least"), report.summary


# The clients' catch-up is needed where the server's is not there: healthy-pause-16 (no accept at the resume) with
# the pods' lines in the resume's two seconds scaled down to their busiest second before finds no late scrape.
@pytest.mark.slow
def test_a_pooled_fleets_resume_needs_its_held_calls_to_finish_together():
    _, ingested = analyzed("healthy-pause-16")
    events = ingested.events
    (late,) = late_scrapes(events)
    assert late.gap.resume_accepts <= late.gap.peak_accepts
    second = late.gap.quiet[1].replace(microsecond=0)
    resume = ((pl.col("kind") == "app.activity") & (pl.col("ts") >= second)
              & (pl.col("ts") < second + timedelta(seconds=2)))
    for share, found in ((1.0, 1), (late.gap.peak_lines / late.gap.resume_lines, 0)):
        cut = events.with_columns(value=pl.when(resume).then(pl.col("value") * share).otherwise(pl.col("value")))
        assert len(late_scrapes(cut)) == found, share
