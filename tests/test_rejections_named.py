"""The refusals at maxclients, named by what counted them (real recordings, 4 to 48 pods).

redis-py retries a call inside itself (`Retry(NoBackoff(), 3)` in the storm recordings), so a pod logs one
`max number of clients reached` for four connections the server refused: the headline used to call the clients'
175, 333, 221 errors the rejected connections where the server counted 700, 1,332, 884 (storm, storm-16,
storm-32). The server's counter is the rejected connections; the clients' lines are errors at maxclients, and
each figure says which it is.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import pytest

from postmortem.analysis.pipeline import AnalyzeOptions, analyze

from .conftest import DATA

RECORDED = DATA / "recorded"
STORMS = ["storm", "storm-16", "pair-storm-24", "storm-32", "storm-48", "scaleout-8", "scaleout-16", "scaleout-nocfg-16"]


def facts_of(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@cache
def report_of(folder: str):
    report, _ = analyze([folder], AnalyzeOptions())
    return report


def finding(report, rule_id: str):
    return next(f for f in report.findings if f.rule_id == rule_id)


@pytest.mark.slow
@pytest.mark.parametrize("name", STORMS)
def test_the_headline_names_the_servers_count_as_the_rejected_connections(name):
    facts = facts_of(name)
    rejected = facts["rejected_connections"]["total"]
    logged = facts["clients"]["errors_by_kind"]["max_clients"]
    assert rejected > logged > 0  # the recordings' premise: the clients log fewer errors than the server refuses
    report = report_of(str(RECORDED / name))
    storm, sat = finding(report, "PM101"), finding(report, "PM103")
    assert storm.stats["rejected_server"] == rejected and storm.stats["rejected"] == logged
    assert f"{rejected:,} connections rejected at maxclients" in report.summary
    assert f"{logged:,} rejected" not in report.summary and f"{logged:,} client errors" not in report.summary
    assert storm.title.endswith(f"; {rejected:,} connections rejected at maxclients")
    assert sat.stats["rejected_by_server"] == rejected and sat.stats["rejections_logged"] == logged
    assert sat.title.startswith(f"{rejected:,} connections rejected at maxclients (the server's count); "
                                f"{logged:,} errors at maxclients logged from {sat.stats['hosts']} host")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm", "storm-32"])
def test_without_the_servers_counter_the_clients_errors_are_named_as_errors(name, tmp_path: Path):
    """The same incidents with their exporter file removed: no count of refused connections is left, and the
    clients' figure is not passed off as one."""
    folder = tmp_path / name
    shutil.copytree(RECORDED / name, folder)
    (folder / "redis-exporter.prom").unlink()
    logged = facts_of(name)["clients"]["errors_by_kind"]["max_clients"]
    report, _ = analyze([str(folder)], AnalyzeOptions())
    storm, sat = finding(report, "PM101"), finding(report, "PM103")
    assert storm.stats.get("rejected_server") is None and storm.stats["rejected"] == logged
    assert f"{logged:,} client errors at maxclients" in report.summary
    assert "connections rejected at maxclients" not in report.summary
    assert sat.title.startswith(f"{logged:,} errors at maxclients logged from") and "server" not in sat.title


@pytest.mark.slow
@pytest.mark.parametrize("name", ["healthy-16", "healthy-32", "healthy-48"])
def test_healthy_recoveries_name_no_refusal(name):
    report = report_of(str(RECORDED / name))
    assert facts_of(name)["rejected_connections"]["total"] == 0
    assert "maxclients" not in report.summary
    assert not [f for f in report.findings if f.rule_id in ("PM101", "PM103")]
