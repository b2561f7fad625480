"""Where in time a storm counted only by a sampled counter lay.

A server full at maxclients refuses the exporter's scrapes too: its connection counters are read again only
once the storm is over, and their whole rise lands in that one sample's second (scaleout-nocfg-44 without its
server log: 5,149 new connections "in 1.0 s", really 9 s). The rise happened somewhere between the answered
samples around it, after the server answered again: the window is that part of the gap, an upper bound, and the
rate over it a lower one. An answered sample after the gap that counted more moves the end to it and the least end
to the sample before it (scaleout-pause-16 without its log: "in 7.0 s", to the end of that sample's second, for a
5.8 s storm whose refusals ended 6.2 s after the resume). What the server refused inside it (the exporter's failed scrapes, the clients' own
`max number of clients reached` lines) says it was still full then: a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

import polars as pl

from postmortem.analysis.population import Demand
from postmortem.analysis.scrape_gaps import UP_METRICS
from postmortem.schema import CLIENT_SOURCES

# a sample more than this many scrape intervals after the answered one before it follows unanswered scrapes
GAP_INTERVALS = 1.5


@dataclass(frozen=True)
class Dated:
    """The storm window a counter's rise across unanswered scrapes allows."""

    start: datetime  # the server answered again (or the answered sample before the rise, when later)
    end: datetime  # the answered sample that counted the rise: the storm ended by then
    least_end: datetime | None  # the server still refused then: its last refused scrape or client refusal in the gap
    gap_s: float  # seconds between the answered samples around the rise
    counted_until: datetime  # the end of the last second a counting sample fell in: the count's own window


def date_counter_rise(events: pl.DataFrame, demand: Demand, back: datetime, hot: list[datetime]) -> Dated | None:
    """The window [start, end) of a storm `demand` counted by a sampled metric in the seconds `hot`, when a sample
    that counted it came after unanswered scrapes (None: log lines, or every counting sample came on time). The
    hot seconds outside the gap keep their places in the window."""
    if demand.metric is None or not hot:
        return None
    start, end = min(hot), max(hot) + timedelta(seconds=1)
    samples = (events.filter((pl.col("metric") == demand.metric) & pl.col("value").is_not_null()
                             & pl.col("ts").is_not_null())
               .select("ts").unique().sort("ts").get_column("ts").to_list())
    if len(samples) < 3:
        return None
    interval = median((b - a).total_seconds() for a, b in zip(samples, samples[1:], strict=False))
    gaps = [(a, b) for a, b in zip(samples, samples[1:], strict=False)
            if start <= b < end and b > back and (b - a).total_seconds() > GAP_INTERVALS * interval]
    if not gaps:
        return None
    lo, hi = max(gaps[0][0], back), gaps[-1][1]
    counted = hi.replace(microsecond=0) + timedelta(seconds=1)
    # the other hot seconds: before the gap (answered samples after the server answered again) or after it
    others = [s for s in hot if not lo.replace(microsecond=0) <= s < counted]
    full = events.filter(pl.col("ts").is_between(lo, hi, closed="none") & (
        (pl.col("metric").is_in(UP_METRICS) & (pl.col("value") == 0))
        | ((pl.col("kind") == "redis.max_clients") & pl.col("source").is_in(CLIENT_SOURCES)))).get_column("ts")
    least = full.max() if full.len() else None
    first, last, until = min([lo, *others]), hi, counted
    if later := [s for s in others if s >= counted]:
        # an answered sample after the gap counted more: the storm ran past the sample before it, and ended by it
        until = max(later) + timedelta(seconds=1)
        last = max(t for t in samples if t < until)
        prev = max(t for t in samples if t < last)
        least = max(least or prev, prev)
    gap_s = round(sum((b - a).total_seconds() for a, b in gaps), 1)
    return Dated(first, last, least, gap_s, until)
