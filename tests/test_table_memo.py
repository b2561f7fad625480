"""Per-table figures several rules read are computed once per events table (issue #20), and a result
never leaks between tables or callers."""

from __future__ import annotations

import json

import polars as pl

from postmortem.analysis.detectors.client_health import _busy_above_min, thread_stats
from postmortem.analysis.detectors.configs import client_versions
from postmortem.analysis.table_memo import per_table
from postmortem.model import conform_events


def _se_events(busy: int, version: str) -> pl.DataFrame:
    attrs = json.dumps({"worker_busy": busy, "worker_min": 4, "iocp_busy": 0, "iocp_min": 4, "v": version})
    return conform_events(pl.DataFrame({
        "event_id": [0, 1], "source": ["stackexchange_redis"] * 2, "kind": ["redis.timeout"] * 2,
        "host": ["a", "b"], "message": ["Timeout performing GET"] * 2, "attrs": [attrs, attrs],
    }))


def test_the_rules_share_one_computation_per_table():
    events = _se_events(20, "2.6.122")
    thread_stats(events)
    assert _busy_above_min(events) is _busy_above_min(events)  # computed once, not once per rule
    assert thread_stats(events).get_column("excess").to_list() == [16, 16]
    other = _se_events(30, "2.7.4")  # another table: its own figures
    assert thread_stats(other).get_column("excess").to_list() == [26, 26]
    assert client_versions(other) == {"stackexchange_redis": "2.7.4"}
    assert client_versions(events) == {"stackexchange_redis": "2.6.122"}


def test_a_dict_result_is_each_caller_s_own():
    calls = []

    @per_table
    def figures(events: pl.DataFrame) -> dict:
        calls.append(events.height)
        return {"rows": events.height}

    events = pl.DataFrame({"a": [1, 2, 3]})
    first = figures(events)
    first["rows"] = 0  # a caller that changes its copy
    assert figures(events) == {"rows": 3}
    assert calls == [3]


def test_the_value_is_let_go_with_its_table():
    """A batch analyses many incidents in one process: the last one's figures must not stay in memory."""
    import gc
    import weakref

    events = _se_events(20, "2.6.122")
    thread_stats(events)
    value = weakref.ref(_busy_above_min(events))
    gc.collect()
    assert value() is not None  # held while its table lives
    del events
    gc.collect()
    assert value() is None
