"""`analyze` for the Report alone (the CLI, batch) skips redacting the events table nobody reads
(issue #20: seconds of CPU and the last memory peak on a dense log); the Report is the same."""

from __future__ import annotations

from pathlib import Path

import pytest

import postmortem.analysis.pipeline as pipeline
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from reports.render import render

STORM = Path(__file__).parent / "data" / "recorded" / "storm"


@pytest.mark.slow
def test_the_report_alone_is_the_same_report_without_redacting_events(monkeypatch):
    full, with_events = analyze([str(STORM)], AnalyzeOptions())
    assert with_events.events.height > 100

    def never(events):
        raise AssertionError("the events table was redacted although nobody reads it")

    monkeypatch.setattr(pipeline, "redact_events", never)
    alone, without = analyze([str(STORM)], AnalyzeOptions(return_events=False))
    assert without.events.height == 0 and without.events.columns == with_events.events.columns
    assert render(alone, "json") == render(full, "json")
    assert without.inputs == with_events.inputs and without.warnings == with_events.warnings
