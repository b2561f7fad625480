"""A reconnect storm is at least one connection not kept per connection needed, judged on the exact counts
(`Kept.churns`), not on the one-decimal figure a title shows.

Recorded healthy-pause-20 (the windows helper's, session 13): a pooled fleet resuming from a 3 s pause did not keep
78 of the 80 connections it needed (0.975, shown 1.0x) and was headlined a reconnect storm."""

from __future__ import annotations

from pathlib import Path

from postmortem.analysis.detectors.storm import NOT_KEPT_PER_NEEDED
from postmortem.analysis.kept import Kept
from postmortem.analysis.pipeline import analyze

RECORDED = Path(__file__).parent / "data" / "recorded"


def test_a_ratio_rounded_up_to_the_threshold_is_below_it():
    below = Kept(60.0, "gauge", 78.0, 80.0, round(78 / 80, 1), True)
    at = Kept(60.0, "gauge", 80.0, 80.0, 1.0, True)
    assert below.churn == NOT_KEPT_PER_NEEDED and not below.churns(NOT_KEPT_PER_NEEDED)
    assert at.churns(NOT_KEPT_PER_NEEDED)


def test_a_healthy_fleet_resuming_from_a_pause_is_no_storm():
    report, _ = analyze([str(RECORDED / "healthy-pause-20")])
    rules = {f.rule_id for f in report.findings}
    assert "PM101" not in rules and "PM100" in rules
    assert "storm" not in report.summary
    assert report.summary.startswith("Redis (redis:127.0.0.1:44573) stopped answering for 3.0 s at 06:14:00 UTC")
