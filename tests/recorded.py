"""A recorded fixture's facts (the measured truth) and its report, for tests that hold a report against them."""

from __future__ import annotations

import json
from pathlib import Path

from postmortem.analysis.pipeline import analyze

RECORDED = Path(__file__).parent / "data" / "recorded"


def facts_and_report(name: str):
    """(facts.json as a dict, the Report of tests/data/recorded/<name>)."""
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    return facts, report
