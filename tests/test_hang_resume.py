"""A stall's end is the server's resume, read from its own log (real recordings of a blocking KEYS, 8 to 24 pods).

A second's accepts are one summarized row stamped with its first accept, so the accepts right after a resume can
hide in a row stamped before the stall; the first accept after it was then the end of the run, and slow-nocfg-16's
0.6 s KEYS read as a 7.3 s stall. The connections the server closes when it resumes are its first sign too.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from postmortem.analysis.pipeline import AnalyzeOptions, analyze

from .conftest import DATA

RECORDED = DATA / "recorded"


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-8", "slow-nocfg-12", "slow-nocfg-16", "slow-nocfg-20", "slow-nocfg-24"])
def test_a_stall_ends_when_the_server_resumed(name):
    keys = json.loads((RECORDED / f"{name}.facts.json").read_text())["slow_command"]
    report, _ = analyze([str(RECORDED / name)], AnalyzeOptions(select=("PM1",)))
    (stall,) = [f for f in report.findings if f.rule_id == "PM100"]
    start, end = _iso(keys["start"]), _iso(keys["end"])
    # the recorder times the KEYS call from its own client; the server's lines come within milliseconds of it
    near = timedelta(seconds=0.05)
    assert start <= stall.start and end - near <= stall.end <= end + near, (stall.start, stall.end)
    assert stall.stats["seconds"] <= keys["seconds"]
