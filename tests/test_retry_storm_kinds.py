"""PM102 (retries that outlived the outage) counts the client errors after the outage that a retry of it explains:
a write the running server refused at its memory limit is PM305's, not a retry (eviction-restart-12, recorded blind
in session 12: the restarted server filled to maxmemory again and refused 434 writes in the 5.9 s after the restart,
which PM102 told as "errors persisted 5.9 s after Redis was back" beside PM305's own finding of the same lines)."""

from __future__ import annotations

import json

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

RECORDED = DATA / "recorded"


@pytest.mark.slow
def test_oom_replies_after_a_restart_are_no_retry_storm():
    truth = json.loads((RECORDED / "eviction-restart-12.facts.json").read_text())
    report, _ = analyze([str(RECORDED / "eviction-restart-12")])
    found = {f.rule_id: f for f in report.findings}
    assert "PM102" not in found, found["PM102"].title
    assert found["PM305"].stats["refused"] == truth["clients"]["errors_by_kind"]["other:OutOfMemoryError"], found["PM305"].stats
    assert "persisted" not in report.summary, report.summary
