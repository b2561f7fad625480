"""End to end: real recordings (committed, and one made live) give the findings the facts call for.

The facts files hold what the recorder measured (outage start, first rejected connection); the
analysis must find the storm within seconds of those instants, from the logs alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from postmortem.analysis.pipeline import analyze

from .conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
RECORDED = DATA / "recorded"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def findings_of(folder: Path) -> dict:
    report, _ = analyze([str(folder)])
    by_rule: dict = {}
    for f in report.findings:
        by_rule.setdefault(f.rule_id, f)
    return by_rule


def assert_storm(folder: Path, facts: dict) -> None:
    found = findings_of(folder)
    assert {"PM100", "PM101", "PM103", "PM402"} <= set(found), sorted(found)
    outage_start = _iso(facts["outage"]["start"])
    assert abs((found["PM100"].start - outage_start).total_seconds()) <= 3
    first_rejected = min(_iso(v) for v in facts["first_rejected_connection"].values() if v)
    assert abs((found["PM101"].start - first_rejected).total_seconds()) <= 5
    for f in found.values():
        for e in f.evidence:
            if e.line:  # every cited line exists and is the line the evidence quotes
                lines = (folder / e.path).read_text(encoding="utf-8").splitlines()
                assert e.line <= len(lines)


def assert_healthy(folder: Path) -> None:
    found = findings_of(folder)
    assert "PM100" in found
    assert "PM101" not in found and "PM103" not in found, sorted(found)


def test_committed_storm_recording():
    assert_storm(RECORDED / "storm", json.loads((RECORDED / "storm.facts.json").read_text()))


def test_committed_healthy_recording():
    assert_healthy(RECORDED / "healthy")


def test_same_inputs_same_findings():
    a, _ = analyze([str(RECORDED / "storm")])
    b, _ = analyze([str(RECORDED / "storm")])
    assert a == b


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
@pytest.mark.parametrize("scenario", ["storm", "healthy"])
def test_live_recording(tmp_path, scenario):
    pytest.importorskip("redis")
    out = tmp_path / scenario
    subprocess.run([sys.executable, str(ROOT / "tools" / "record_incident.py"), "--scenario", scenario,
                    "--out", str(out), "--seconds", "10", "--timeout", "30"], check=True, timeout=60)
    if scenario == "storm":
        assert_storm(out, json.loads((tmp_path / f"{scenario}.facts.json").read_text()))
    else:
        assert_healthy(out)
