"""The storm's refusals at maxclients and the incident's are two facts, each named: one phrase, one value.

storm-berlin-12 (blind, session 18): PM101 and the summary said "1,921 connections rejected at maxclients" (its 6 s
window), PM103 "2,088 connections rejected at maxclients (the server's count)" (the incident); storm-rate50-doubled-8
the same (2,252 and 2,488)."""

from __future__ import annotations

import re

import pytest

from tests.recorded import facts_and_report

PHRASE = re.compile(r"([\d,]+) connections rejected at maxclients")


def _n(s: str) -> int:
    return int(s.replace(",", ""))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm-rate50-doubled-8", "storm-16", "storm-24"])
def test_a_count_of_rejected_connections_has_one_value_per_name(name):
    _, report = facts_and_report(name)
    by = {f.rule_id: f for f in report.findings}
    total = by["PM103"].stats["rejected_by_server"]
    storm = by["PM101"]
    window = storm.stats["rejected_server"]
    assert window <= total
    for text in (storm.title, report.summary):
        said = PHRASE.search(text)
        assert said and _n(said.group(1)) == window
        if window < total:
            assert f"{said.group(0)} in it ({total:,} in all)" in text
            assert storm.stats["rejected_server_all"] == total
        else:
            assert "in all" not in text and "rejected_server_all" not in storm.stats
