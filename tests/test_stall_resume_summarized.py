"""A stall's end when the server's accepts are summarized per second (parsers/churn.py).

The framer makes one row of a second's `Accepted` lines, stamped with the first. In slow-nocfg-16 (a real
redis-server, 16 redis-py pods, a 0.6 s `KEYS` from 16:08:54.323 to .919) that second's row began at .324,
the `KEYS` client's own connect, and held the 27 accepts at .921 that came when the server answered again.
The first accept after the first timeout (.830) was then the end of the run, and PM100 said "stopped answering
for at least 7.3 s". The row now carries how long after its first line its last came (`span_s`), and a row
that straddles the first timeout ends the stall at its last accept: within the second, never before the
resume.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.churn import split_churn
from parsers.envelopes import HEADER_MATCH
from postmortem.analysis.correlate import first_accepted
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.input.options import IngestOptions

from .conftest import DATA
from .events_factory import T0, ev, table

RECORDED = DATA / "recorded"
# every recording whose PM100 ends at the server's first accept after a stall, 8 to 40 pods, and storms
# (slow-nocfg-12 and -16 until session 18: their KEYS timed out 5 of 12 and 3 of 16 pods, no fleet-wide hang)
STALLS = ["slow-nocfg-24", "slow-8", "hang-8", "hang-40", "hang-nocfg-32",
          "busy-pause-8", "busy-cfg-pause-16", "skewed-hang-8", "storm-pause-16", "per-request-pause-8"]


@cache
def pm100_windows(name: str, summarized: bool) -> tuple:
    report, _ = analyze([str(RECORDED / name)], AnalyzeOptions(ingest=IngestOptions(summarize_noise=summarized)))
    return tuple((f.start, f.end) for f in report.findings if f.rule_id == "PM100")


def test_a_keys_inside_one_second_ends_where_the_server_answered_again():
    """The server's first accept after the first timeout (what ends a hang's window, `resumed_after_hang`). Since
    session 18 slow-nocfg-16's 3 timed-out pods of 16 are no fleet-wide hang (PM108 alone, as slow-24's), so the
    accept is read here rather than through PM100's window."""
    facts = json.loads((RECORDED / "slow-nocfg-16.facts.json").read_text())
    resumed = pl.Series([facts["slow_command"]["end"]]).str.to_datetime(time_zone="UTC")[0]
    events = analyze([str(RECORDED / "slow-nocfg-16")], AnalyzeOptions(redact=False))[1].events
    timeouts = events.filter(pl.col("kind") == "redis.timeout")
    first = timeouts.get_column("ts").min()
    end = first_accepted(events, timeouts.get_column("entity").drop_nulls()[0], first, first + timedelta(seconds=15))
    assert timedelta(0) <= end - resumed <= timedelta(seconds=0.1)  # was 7.3 s after it
    assert first < resumed


@pytest.mark.slow
@pytest.mark.parametrize("name", STALLS)
def test_summarized_accepts_end_a_stall_in_the_second_one_per_line_does(name):
    """The same recording framed with a row per line and with a row per second: PM100's windows start at the
    same time and the summarized end is the plain one or later within the same second."""
    plain, summarized = pm100_windows(name, False), pm100_windows(name, True)
    assert plain and len(plain) == len(summarized)
    for (p_start, p_end), (s_start, s_end) in zip(plain, summarized, strict=True):
        assert s_start == p_start
        assert p_end <= s_end < p_end.replace(microsecond=0) + timedelta(seconds=1)


def _accepts(*rows: tuple[float, float | None]):
    return table([ev(t, "redis_server", "redis.server.client_accepted", host="redis", entity="redis:r",
                     attrs={"summarized": 5, "span_s": span} if span is not None else None) for t, span in rows])


def test_first_accepted_reads_a_straddling_rows_last_accept():
    after, until = T0 + timedelta(seconds=10.5), T0 + timedelta(seconds=30)
    assert first_accepted(_accepts((10.1, 0.8)), "redis:r", after, until) == T0 + timedelta(seconds=10.9)
    assert first_accepted(_accepts((10.1, 0.3)), "redis:r", after, until) is None  # all before the stall
    assert first_accepted(_accepts((10.1, None), (10.6, None)), "redis:r", after, until) == T0 + timedelta(seconds=10.6)
    assert first_accepted(_accepts((10.1, 0.8), (10.6, None)), "redis:r", after, until) == T0 + timedelta(seconds=10.6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 999), min_size=2, max_size=30))
def test_the_summary_keeps_the_seconds_from_its_first_line_to_its_last(millis):
    """`_last_span` of one second's accepts is the last line's time minus the first's, as the lines say."""
    millis = sorted(millis)
    body = [f"1:M 06 Dec 2026 16:08:54.{m:03d} - Accepted 127.0.0.1:{40000 + i}" for i, m in enumerate(millis)]
    lines = pl.DataFrame({"line": pl.Series(range(1, len(body) + 1), dtype=pl.UInt32), "body": body,
                          "ohost": [None] * len(body)}, schema_overrides={"ohost": pl.String})
    out = split_churn(lines, HEADER_MATCH["redis_server"]).filter(pl.col("_weight").is_not_null())
    assert out.height == 1
    assert out.item(0, "_last_span") == pytest.approx((millis[-1] - millis[0]) / 1000, abs=1e-9)
    assert out.item(0, "_weight") == len(millis) and out.item(0, "_last_line") == len(millis)
