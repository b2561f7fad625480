"""The analysis after ingest at 1 GiB (issue 20), fast forms against plain ones: the replay's times without a
Python datetime per row (`seconds_after`) bit for bit, each pod's rows from one partition (`by_host`) frame for
frame, `measure` on recorded storms with either, and the columns selected before `is_problem()` filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.replay import inputs
from postmortem.schema import TS_DTYPE

BASE = datetime(2026, 3, 14, 2, 0, 20, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(offsets=st.lists(st.integers(-10**11, 10**11), max_size=40),
       down_us=st.integers(-10**10, 10**10), timeout=st.sampled_from([0.0, 0.1, 0.25, 1.0, 5.0, 2.345678]))
def test_seconds_after_equals_the_per_row_form(offsets, down_us, timeout):
    ts = pl.Series("ts", [BASE + timedelta(microseconds=o) for o in offsets], dtype=TS_DTYPE)
    down = BASE + timedelta(microseconds=down_us) - timedelta(seconds=timeout)
    fast, plain = inputs.seconds_after(ts, down), inputs.seconds_after_plain(ts, down)
    assert fast.dtype == plain.dtype == np.float64
    assert fast.shape == plain.shape
    assert fast.tobytes() == plain.tobytes()


def test_seconds_after_takes_the_per_row_form_for_other_times():
    ts = pl.Series("ts", [datetime(2026, 1, 1, 0, 0, 1, 500)], dtype=pl.Datetime("ns", "UTC"))
    down = datetime(2026, 1, 1, tzinfo=UTC)
    assert inputs.seconds_after(ts, down).tolist() == [1.0005]


@pytest.mark.parametrize("fixture", ["storm-16", "hang-8", "per-request-8"])
def test_measure_equals_the_plain_form(fixture, monkeypatch):
    from pathlib import Path

    from postmortem.analysis.pipeline import AnalyzeOptions, analyze

    folder = Path(__file__).parent / "data" / "recorded" / fixture
    if not folder.is_dir():
        pytest.skip(f"no recording {fixture}")
    _, result = analyze([str(folder)], AnalyzeOptions(redact=False))
    fast = inputs.measure(result.events)
    monkeypatch.setattr(inputs, "seconds_after", inputs.seconds_after_plain)
    monkeypatch.setattr(inputs, "by_host", inputs.by_host_plain)
    plain = inputs.measure(result.events)
    assert fast is not None
    assert fast == plain


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["pod-a", "pod-b", "pod-c", None, ""]), st.integers(0, 5)),
                     max_size=60),
       hosts=st.lists(st.sampled_from(["pod-a", "pod-b", "pod-c", "pod-d", ""]), unique=True, max_size=5))
def test_by_host_equals_a_filter_per_host(rows, hosts):
    """One partition gives each host's rows in table order, as a filter per host does (a host without rows: none)."""
    frame = pl.DataFrame({"host": [h for h, _ in rows], "ts": [BASE + timedelta(seconds=s) for _, s in rows],
                          "n": list(range(len(rows)))}, schema={"host": pl.String, "ts": TS_DTYPE, "n": pl.Int64})
    fast, plain = inputs.by_host(frame, hosts), inputs.by_host_plain(frame, hosts)
    assert list(fast) == list(plain) == hosts
    for host in hosts:
        assert fast[host].equals(plain[host]), host


def test_problem_columns_are_what_is_problem_reads():
    """The sections and the timeline select PROBLEM_COLUMNS before filtering with is_problem(): it must read no other."""
    from postmortem.analysis.correlate import PROBLEM_COLUMNS, is_problem

    assert set(is_problem().meta.root_names()) == set(PROBLEM_COLUMNS)
