"""Per-table figures several rules read are computed once per events table (issue #20), and a result
never leaks between tables or callers."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from postmortem.analysis.detectors.client_health import _busy_above_min, thread_stats
from postmortem.analysis.detectors.configs import client_versions
from postmortem.analysis.table_memo import per_table
from postmortem.schema import conform_events


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


def _storm_inputs():
    from postmortem.analysis import pipeline as pp

    opts = pp.AnalyzeOptions()
    result = pp.ingest([str(Path(__file__).parent / "data" / "recorded" / "storm-16")], opts.ingest)
    events, _ = pp.canonical_events(pp.align(result.events, result.inputs, opts.ingest, apply=opts.align).events)
    return events, pp.build_context(events, result.inputs, result.assumptions)


def _figures(storms) -> list[tuple]:
    return [(s.outage.start, s.amplification, s.held, s.rejected_clients, s.rejected_server, s.start, s.end,
             s.threshold, s.demand.excess, s.kept.churn) for s in storms]


def test_each_outage_s_reconnects_are_measured_once_per_analysis(monkeypatch):
    """PM101 and PM303 both read every outage's storm measurement: one `measure_storm` per outage, not one per
    rule, and the same Storms either way."""
    from postmortem.analysis.detectors import storm
    from postmortem.analysis.pipeline import AnalyzeOptions, run_detectors

    events, ctx = _storm_inputs()
    assert ctx.outages and _figures(storm.storms(events, ctx)) == _figures(storm.storms.__wrapped__(events, ctx))
    calls = []
    measure = storm.measure_storm
    monkeypatch.setattr(storm, "measure_storm", lambda *a: calls.append(a[2]) or measure(*a))
    events = events.clone()  # a new table: nothing measured yet
    findings = run_detectors(events, ctx, AnalyzeOptions(), [])
    assert calls == list(ctx.outages), calls
    assert any(f.rule_id == "PM101" for f in findings)


def test_a_storm_list_is_each_caller_s_own_and_follows_the_outages():
    from dataclasses import replace

    from postmortem.analysis.detectors import storm

    events, ctx = _storm_inputs()
    first = storm.storms(events, ctx)
    first.clear()  # a caller that changes its list
    again = storm.storms(events, ctx)
    assert again and _figures(again) == _figures(storm.storms.__wrapped__(events, ctx))
    fewer = replace(ctx, outages=ctx.outages[:0])  # another context: measured again
    assert storm.storms(events, fewer) == []
    ctx.outages = [*ctx.outages]  # the same outages in a new list: the same measurement, not made again
    assert _figures(storm.storms(events, ctx)) == _figures(again)
