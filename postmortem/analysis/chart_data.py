"""What the report's charts plot, computed from the events: series per second (or minute) and limits.

reports/charts.py only draws these values, so a chart never needs the events table.
"""

from __future__ import annotations

import polars as pl

from postmortem.kinds import KINDS
from postmortem.model import ChartData, ChartSeries, Report, ShadedWindow
from postmortem.schema import event_weight

# The attempts chart: connection attempts, then the errors of commands and connections that did not get through.
ATTEMPTS_AND_ERRORS_KINDS = tuple(dict.fromkeys((*KINDS.with_flag("attempt"), *KINDS.with_flag("connection_error"))))
# The per-host chart: client-side signs of a pod (re)connecting.
RECONNECTING_KINDS = KINDS.with_flag("reconnecting")
TOP_HOSTS = 8


def _metric_series(events: pl.DataFrame, metric: str) -> ChartSeries | None:
    """One metric's samples, the highest per timestamp, in time order (None without samples)."""
    rows = events.filter((pl.col("metric") == metric) & pl.col("ts").is_not_null() & pl.col("value").is_not_null())
    if rows.height == 0:
        return None
    series = rows.group_by("ts").agg(pl.col("value").max()).sort("ts")
    return ChartSeries(metric, tuple(series.get_column("ts").to_list()), tuple(series.get_column("value").to_list()))


def _connections(events: pl.DataFrame) -> tuple[tuple[ChartSeries, ...], float | None, ChartSeries | None]:
    """Connected clients, the highest maxclients, and maxclients as it was at each moment (a limit
    raised by on-call after the storm must not be drawn as if it held during the storm)."""
    line = _metric_series(events, "connected_clients")
    if line is None:
        return (), None, None
    limit = _metric_series(events, "maxclients")
    return (line,), (max(limit.ys) if limit else None), limit


def _bucket(df: pl.DataFrame) -> tuple[str, str]:
    """Per second for incidents up to an hour, per minute beyond (keeps the SVG small)."""
    span = (df.get_column("ts").max() - df.get_column("ts").min()).total_seconds()
    return ("1s", "s") if span <= 3600 else ("1m", "min")


def _series(df: pl.DataFrame, by: str, keys: list[str], every: str) -> tuple[ChartSeries, ...]:
    """Counts per bucket for each key, with empty buckets as 0 so quiet seconds show as quiet.

    A summarized row (connection churn, activity) counts as the `event_weight()` lines it stands for.
    """
    binned = (df.with_columns(sec=pl.col("ts").dt.truncate(every)).group_by(["sec", by])
              .agg(len=event_weight().sum().round().cast(pl.Int64)))
    grid = pl.datetime_range(binned.get_column("sec").min(), binned.get_column("sec").max(), every,
                             eager=True, time_zone="UTC").alias("sec").to_frame()
    out = []
    for key in keys:
        part = grid.join(binned.filter(pl.col(by) == key).select("sec", "len"), on="sec", how="left")
        out.append(ChartSeries(key, tuple(part.get_column("sec").to_list()),
                               tuple(part.get_column("len").fill_null(0).to_list())))
    return tuple(out)


def _attempts(events: pl.DataFrame) -> tuple[tuple[ChartSeries, ...], str]:
    # only what is counted: a filter copies every column of the rows it keeps
    rows = events.select("kind", "ts", "value").filter(pl.col("kind").is_in(ATTEMPTS_AND_ERRORS_KINDS)
                                                       & pl.col("ts").is_not_null())
    if rows.height == 0:
        return (), "s"
    every, unit = _bucket(rows)
    present = set(rows.get_column("kind"))
    return _series(rows, "kind", [k for k in ATTEMPTS_AND_ERRORS_KINDS if k in present], every), unit


def _pods(events: pl.DataFrame) -> tuple[tuple[ChartSeries, ...], str]:
    rows = events.select("kind", "ts", "value", "host").filter(pl.col("kind").is_in(RECONNECTING_KINDS) & pl.col("ts").is_not_null()
                         & pl.col("host").is_not_null())
    if rows.height == 0 or rows.get_column("host").n_unique() < 2:
        return (), "s"
    top = (rows.group_by("host").len().sort(["len", "host"], descending=[True, False]).head(TOP_HOSTS)
           .get_column("host").to_list())
    every, unit = _bucket(rows)
    return _series(rows.filter(pl.col("host").is_in(top)), "host", top, every), unit


def windows(report: Report) -> tuple[ShadedWindow, ...]:
    """The windows the rules asked to shade (a rule with a chart colour), by start then rule."""
    return tuple(sorted(report.shaded_windows, key=lambda w: (w.start, w.rule_id)))


def chart_data(report: Report, events: pl.DataFrame | None) -> ChartData:
    """The charts' data (no series without events; the windows come from the findings)."""
    if events is None or events.height == 0:
        return ChartData(windows=windows(report))
    connections, maxclients, steps = _connections(events)
    attempts, attempts_unit = _attempts(events)
    pods, pods_unit = _pods(events)
    return ChartData(connections=connections, maxclients=maxclients, maxclients_steps=steps, attempts=attempts,
                     attempts_unit=attempts_unit, pods=pods, pods_unit=pods_unit, windows=windows(report))
