"""A source's pre-outage rate is read from its own seconds, not from a span that began before its traffic
(`population._baseline`).

Blind per-request-long-24 (session 14: 24 pods opening a connection per request, 95 a second, a 2 s restart): the
scraper's lone connection 5 s before the fleet started stretched the span, the baseline read 83 a second, the
per-second noise after the restart summed to 133 "excess" connections, and a normal recovery was called a
reconnect storm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from postmortem.analysis.population import demand_after
from postmortem.schema import EVENT_SCHEMA

T0 = datetime(2026, 12, 7, 9, 0, 0, tzinfo=UTC)


def _accepted(per_second: dict[int, int]) -> pl.DataFrame:
    """`Accepted` lines of a server log: `per_second[s]` of them in second s from T0."""
    rows = [{"ts": T0 + timedelta(seconds=s, milliseconds=10 * i), "source": "redis_server",
             "kind": "redis.server.client_accepted", "path": "redis-server.log", "line": 1}
            for s, n in per_second.items() for i in range(n)]
    return pl.DataFrame(rows).with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in EVENT_SCHEMA.items() if c not in rows[0]]).cast(EVENT_SCHEMA)


def _demand(per_second: dict[int, int], outage: int, back: int):
    return demand_after(_accepted(per_second), T0 + timedelta(seconds=outage), T0 + timedelta(seconds=back),
                        T0 + timedelta(seconds=back + 8), pl.lit(True))


def test_a_steady_rate_after_a_lone_early_connection_is_the_steady_rate():
    """One connection at 0 s, then 95 a second from 5 s to the outage at 40 s and after it again: no excess."""
    steady = {s: 95 for s in range(5, 40)} | {s: 95 for s in range(42, 50)}
    d = _demand({0: 1} | steady, 40, 42)
    assert d.baseline_per_s == pytest.approx(95.0)
    assert d.excess == 0.0


def test_a_bursty_source_keeps_its_mean():
    """Pools opened now and then (most seconds none): the median is 0, the mean is the rate."""
    d = _demand({s: 4 for s in range(0, 40, 10)} | {s: 30 for s in range(42, 45)}, 40, 42)
    assert d.baseline_per_s == pytest.approx(16 / 40)
    assert d.excess == pytest.approx(90 - 16 / 40 * 3)  # its window: the 3 s with attempts after 42 s
