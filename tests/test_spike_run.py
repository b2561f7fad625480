"""PM301 dates a spike from the run above its threshold that holds the peak, not from an earlier crossing the count
fell back from: the story reads a consequence that "began before" the outage by that start (prp-nocfg-12, session 18:
a per-request fleet's 7 connections 28 s before a pause made its spike of 52 after it read as "began before it")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from postmortem.analysis.detectors.metrics import _run_start

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _series(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"ts": [T0 + timedelta(seconds=i) for i in range(len(values))], "value": values},
                        schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64})


@pytest.mark.parametrize(("values", "peak", "start"), [
    ([2, 7, 2, 2, 52, 30, 4], 4, 4),  # an earlier crossing the count fell back from
    ([2, 2, 9, 20, 52, 4], 4, 2),  # the rise to the peak
    ([40, 40, 40, 40], 0, 0),  # above all along
    ([2, 40, 38, 40, 3], 1, 1),  # the peak is the run's first sample
])
def test_a_spike_starts_where_the_run_that_holds_its_peak_began(values, peak, start):
    g = _series([float(v) for v in values])
    found = _run_start(g, 6.0, g.get_column("ts")[peak])
    assert found.get_column("ts").to_list() == [g.get_column("ts")[start]]
