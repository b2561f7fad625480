"""A summary with no trigger and only a risky configuration has no "it" to refer to.

A 2 s pause of a fleet that opens a connection per request (recorded at 24 pods: no client failed, no scrape
failed) left PM403 alone, and the summary read "Nothing amplified it, but the clients run with a connection per
request (PM403), …": "it" was nothing the summary had said.
"""

from __future__ import annotations

from datetime import UTC, datetime

from postmortem.analysis.detectors import DETECTORS
from postmortem.analysis.story import NO_TRIGGER, build_story
from postmortem.model import Confidence, Finding, Severity

T0 = datetime(2026, 12, 7, 1, 26, 16, tzinfo=UTC)


def _finding(rule_id: str, title: str) -> Finding:
    rule = next(d.rule for d in DETECTORS if d.rule.rule_id == rule_id)
    return Finding(rule_id, rule.name, Severity.HIGH, Confidence.HIGH, title, T0, T0, (), {}, ())


def test_a_risk_alone_says_that_no_trigger_shows():
    story = build_story([_finding("PM403", "connection per request: 23.3 new connections/s")], DETECTORS)
    assert story.summary.startswith(NO_TRIGGER + ", but the clients run with a connection per request (PM403)")
    assert "Nothing amplified it" not in story.summary


def test_a_risk_and_an_impact_without_trigger_list_what_was_seen():
    story = build_story([_finding("PM403", "connection per request"),
                         _finding("PM304", "redis:x: 192 keys evicted")], DETECTORS)
    assert story.summary.startswith(NO_TRIGGER + ", but")
    assert story.summary.endswith("Seen: redis:x: 192 keys evicted (PM304).")
    assert story.summary.count(NO_TRIGGER) == 1


def test_with_a_trigger_the_risk_sentence_is_unchanged():
    story = build_story([_finding("PM100", "redis:x unreachable for 2.0 s"),
                         _finding("PM403", "connection per request")], DETECTORS)
    assert "Nothing amplified it, but the clients run with a connection per request (PM403)" in story.summary
    assert NO_TRIGGER not in story.summary
