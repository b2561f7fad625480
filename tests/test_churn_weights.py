"""Summarized connection churn counts what it stands for (issue #9).

The framer may turn the `Accepted` / `Client closed connection` lines of one file, host, kind and
second into one event with `value` = how many. Every figure built from churn must then be the same
as with one event per line: storm attempts and peak, the attempts/s baseline, PM403's steady accept
rate and the attempts chart. Each test runs the same incident both ways and compares.
"""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.correlate import attempts_per_second
from postmortem.analysis.detectors.configs import ConnectionPerRequest
from postmortem.analysis.detectors.storm import ReconnectStorm
from postmortem.analysis.sections import with_sections
from postmortem.model import Report
from postmortem.schema import event_weight, weighted_count
from reports.charts import render_charts

from .events_factory import T0, context, ev, table
from .test_detectors_storm import baseline, herd, outage

CHURN = ("redis.server.client_accepted", "redis.server.client_closed")


def summarize(rows: list[dict]) -> list[dict]:
    """The framer's contract applied to event rows: churn rows of one path, host, kind and second
    become the first of them with `value` = how many and `last_line` in attrs; others stay."""
    rows = [dict(r) for r in rows]
    for i, r in enumerate(rows):
        r["line"] = r["line"] or i + 1
    out, groups = [], {}
    for r in sorted(rows, key=lambda r: (r["ts"], r["line"])):
        if r["kind"] not in CHURN:
            out.append(r)
            continue
        key = (r["path"], r["host"], r["kind"], r["ts"].replace(microsecond=0))
        if key in groups:
            first = groups[key]
            first["value"] += 1
            first["attrs"] = json.dumps({"summarized": int(first["value"]), "last_line": r["line"]})
        else:
            groups[key] = {**r, "value": 1.0}
            out.append(groups[key])
    return out


def steady_churn(start=100.0, seconds=60, per_s=8):
    """A connection per request outside the outage: accepts and closes at a steady rate."""
    rows = []
    for s in range(seconds):
        for k in range(per_s):
            t = start + s + k / per_s
            rows.append(ev(t, "redis_server", "redis.server.client_accepted", host="redis", level="debug",
                           path="redis.log", message=f"Accepted 10.0.0.9:{30000 + k}"))
            rows.append(ev(t + 0.01, "redis_server", "redis.server.client_closed", host="redis", level="debug",
                           path="redis.log", message="Client closed connection id=1 addr=10.0.0.9:1"))
    return rows


def incident() -> list[dict]:
    busy_baseline = baseline() + [dict(r, ts=r["ts"] + timedelta(seconds=0.5)) for r in baseline()]
    return outage() + herd(n=600) + busy_baseline + steady_churn(per_s=16)


def both(rows: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    expanded = table([dict(r) for r in rows])  # value null: events from before churn carried a weight
    summarized = table(summarize(rows))
    churn = pl.col("kind").is_in(CHURN)
    assert summarized.filter(churn).height <= expanded.filter(churn).height / 4  # the summary did summarize
    return expanded, summarized


def test_summary_helper_keeps_every_connection():
    expanded, summarized = both(incident())
    for kind in CHURN:
        n = expanded.filter(pl.col("kind") == kind).height
        assert weighted_count(summarized.filter(pl.col("kind") == kind)) == n > 100


def test_event_weight_reads_value_only_for_weighted_kinds():
    events = table([
        ev(0, "redis_server", "redis.server.client_accepted", value=57.0),
        ev(1, "redis_server", "redis.server.client_closed"),  # no value: one line
        ev(2, "app", "app.activity", value=12.0),
        ev(3, "redis_server", "redis.server.warning", value=4064.0),  # maxclients, not a count
        ev(4, "metrics", "metric.sample", metric="connected_clients", value=900.0),
    ])
    assert events.select(event_weight()).to_series().to_list() == [57.0, 1.0, 12.0, 1.0, 1.0]
    assert weighted_count(events) == 72 and weighted_count(events.head(0)) == 0


def test_attempts_per_second_and_baseline_are_the_same():
    expanded, summarized = both(incident())
    assert attempts_per_second(expanded).equals(attempts_per_second(summarized))
    a, b = context(expanded), context(summarized)
    assert a.attempt_baseline == b.attempt_baseline == 2.0


def test_storm_figures_are_the_same():
    expanded, summarized = both(incident())
    (a,) = ReconnectStorm().detect(expanded, context(expanded))
    (b,) = ReconnectStorm().detect(summarized, context(summarized))
    assert a.stats == b.stats
    assert a.title == b.title and (a.start, a.end) == (b.start, b.end)
    # 600 accepts in 2.4 s (250/s at most; the server logs `Accepted` before its maxclients check, so the
    # 100 rejections the clients saw are among them), against a baseline of 2/s
    assert a.stats["attempts"] == 600 and a.stats["peak_new_connections_per_s"] >= 250
    assert a.stats["attempts_source"] == "server log `Accepted` lines"
    ratio = a.stats["peak_new_connections_per_s"] / a.stats["baseline_attempts_per_s"]  # the baseline is shown rounded
    assert abs(a.stats["peak_vs_baseline"] - ratio) <= 0.01 * ratio


def test_connection_per_request_rate_is_the_same():
    expanded, summarized = both(incident())
    (a,) = ConnectionPerRequest().detect(expanded, context(expanded))
    (b,) = ConnectionPerRequest().detect(summarized, context(summarized))
    assert a.stats["steady_new_connections_per_s"] == b.stats["steady_new_connections_per_s"] > 5
    assert a.stats["connection_lifetime_s"] == b.stats["connection_lifetime_s"] < 120
    assert a.title == b.title


def held(connections: float, start=100.0, seconds=60) -> list[dict]:
    """connected_clients samples every 5 s: the connections the clients held meanwhile."""
    return [ev(start + s, "metrics", "metric.sample", host="exporter", metric="connected_clients", value=connections, level="info",
               entity="redis:redis:6379", path="redis.prom") for s in range(0, seconds, 5)]


@pytest.mark.parametrize("connections, fires", [(100.0, True), (1000.0, False)])
def test_pm403_judges_the_churn_by_how_long_connections_live_summarized_or_not(connections, fires):
    """4 connections/s renewed for 100 held: each lives 25 s, a connection per request; for 1,000 held
    each lives 250 s: turnover, not the anti-pattern. Summarizing the churn changes neither."""
    pods = [ev(100.0 + s, "redis_py", "redis.config", host=pod, path=f"{pod}.log", message="Redis(max_connections=8)",
               level="info")
            for s, pod in enumerate(("pod-a", "pod-b"))]
    expanded, summarized = both(steady_churn(per_s=4) + held(connections) + pods)
    a = list(ConnectionPerRequest().detect(expanded, context(expanded)))
    b = list(ConnectionPerRequest().detect(summarized, context(summarized)))
    assert bool(a) == bool(b) == fires
    if fires:
        assert a[0].stats == b[0].stats and a[0].stats["connection_lifetime_s"] == 25.0


def _attempts_chart(events: pl.DataFrame) -> str:
    ctx = context(events)
    findings = tuple(ReconnectStorm().detect(events, ctx))
    report = Report(tool_version="test", inputs=(), window_start=ctx.window_start, window_end=ctx.window_end,
                    summary="", findings=findings, timeline=())
    (chart,) = [c for c in render_charts(with_sections(report, events)) if c.name == "attempts"]
    return chart.svg


def test_attempts_chart_is_byte_identical():
    expanded, summarized = both(incident())
    assert _attempts_chart(expanded) == _attempts_chart(summarized)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20_000), st.sampled_from(CHURN), st.sampled_from(["r1", "r2"])),
                min_size=1, max_size=120))
def test_any_churn_sums_to_the_same_seconds(lines):
    rows = [ev(ms / 1000, "redis_server", kind, host=host, level="debug", path=f"{host}.log")
            for ms, kind, host in lines]
    expanded, summarized = table([dict(r) for r in rows]), table(summarize(rows))
    assert weighted_count(summarized) == len(lines)
    per_s = summarized.group_by(pl.col("ts").dt.truncate("1s"), "kind").agg(n=event_weight().sum()).sort("ts", "kind")
    per_line = expanded.group_by(pl.col("ts").dt.truncate("1s"), "kind").agg(n=pl.len().cast(pl.Float64)).sort(
        "ts", "kind")
    assert per_s.equals(per_line)
    assert attempts_per_second(expanded).equals(attempts_per_second(summarized))
    assert summarized.get_column("ts").min() == T0 + timedelta(milliseconds=min(ms for ms, _, _ in lines))
