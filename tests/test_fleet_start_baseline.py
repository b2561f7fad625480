"""A connected-clients sample from before the client fleet started is no baseline of its connections
(`population.fleet_started`).

Blind eviction-nocfg-16 (session 13): the writes hit maxmemory 0.24 s after the 16 pods started; the exporter's
last sample before that counted 1 connection (the poller), so PM301 called the pools' 31 connections a 31x
spike and the summary listed "a connected-clients spike" in its impact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from postmortem.analysis.pipeline import analyze
from postmortem.analysis.population import connected_before

RECORDED = Path(__file__).parent / "data" / "recorded"
T0 = datetime(2026, 12, 7, 6, 0, 0, tzinfo=UTC)


def test_connected_before_reads_from_the_fleets_start():
    samples = pl.DataFrame({"ts": [T0 - timedelta(seconds=s) for s in (30, 2, 0.5)], "value": [20.0, 1.0, 31.0],
                            "event_id": [1, 2, 3]})
    assert connected_before(samples, T0)[0] == 31.0
    assert connected_before(samples, T0 - timedelta(seconds=0.4))[0] == 31.0
    started = T0 - timedelta(seconds=1)
    assert connected_before(samples, T0 - timedelta(seconds=0.6), started) is None  # only the pre-start sample
    assert connected_before(samples, T0, started)[0] == 31.0


def test_eviction_at_start_up_has_no_connected_clients_spike():
    name = "eviction-nocfg-16"
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    rules = {f.rule_id for f in report.findings}
    assert "PM301" not in rules
    assert {"PM305", "PM304"} <= rules
    refused = facts["clients"]["errors_by_kind"]["other:OutOfMemoryError"]
    assert report.summary.startswith(f"Redis at its memory limit at 06:04:42 UTC refused {refused} writes from all 16 pods")
    assert "spike" not in report.summary
