"""Whether the new connections after an outage stand out of what the same source did before it.

A fleet whose pools want more connections than maxclients allows is refused before any outage, every second, and
as often after a short restart (storm-full-long-4: 281 new connections a second before a 6 s restart, 280 after
it). Netted by its baseline rate, what is left is that rate's noise: hundreds of connections over a window, against
the 6 to 80 connections the fleet needs (`kept.Kept.churns`), so the churn test alone called every such restart a
reconnect storm. A storm must also lift the rate out of the spread of its own seconds before the outage: its mean
over the storm window above the upper end of the 95 % prediction interval of one second from those seconds (their
mean plus Student's t for their number times their standard deviation, at least the counting noise, the square root
of the mean). Few seconds predict little: two seconds at 352 and 334 allow up to 630 (storm-rate50-6, refused at
maxclients before its restart as after it, 1.4x its rate for 6 s after it at 6 pods, 0.9x at 6 pods with 6 s before
it). A fleet healthy before the outage (its pools held, a few new connections a second) is lifted out of any
spread it had; a fleet already refused at maxclients at about the same rate is not."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean, median, stdev

import polars as pl

from postmortem.analysis.population import Demand

RAMP_SHARE = 0.5  # seconds before the first at this share of the median one are the fleet starting up, not its rate
# Student's t, two-sided 95 %, for 1 to 30 degrees of freedom (past 30: 1.96 + 2.37 / df, within 0.005 of it)
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_975(df: int) -> float:
    """Student's t 97.5 % quantile for `df` degrees of freedom (1 or more)."""
    return T_975[df - 1] if df <= len(T_975) else 1.96 + 2.37 / df


@dataclass(frozen=True)
class Spread:
    """A source's new connections per second before an outage (its steady seconds) and in the storm window."""

    before: float  # mean of the steady seconds before the outage
    sd: float  # their standard deviation, at least the counting noise (square root of the mean)
    seconds: int  # how many seconds `before` is the mean of
    after: float  # the mean rate over the storm window

    @property
    def top(self) -> float:
        """The highest rate after the outage that the seconds before it account for: the upper end of the 95 %
        prediction interval of one more second."""
        return self.before + t_975(self.seconds - 1) * self.sd * math.sqrt(1.0 + 1.0 / self.seconds)

    @property
    def within(self) -> bool:
        return self.after <= self.top


def _steady(d: Demand, t0: datetime) -> list[float]:
    """The source's rate in each steady second before the outage at `t0`: a log's whole seconds after its first
    (partial) one, none counted as 0, a sampled counter's samples; less the fleet's start-up (seconds before the first
    at `RAMP_SHARE` of their median: storm-rate50-6's 37 new connections in the second its pods started, 352 after).
    Not of their busiest: a healthy fleet's seconds are mostly none, and a pool re-opened once is no start-up."""
    rows = d.before
    if rows is None or rows.height == 0:
        return []
    if d.metric is not None:
        values = rows.get_column("rate").to_list()
    else:
        counted = dict(zip(rows.get_column("second").to_list(), rows.get_column("attempts").to_list(), strict=True))
        values: list[float] = []
        second = rows.get_column("second").min() + timedelta(seconds=1)
        while second < t0 - timedelta(seconds=1):
            values.append(float(counted.get(second, 0.0)))
            second += timedelta(seconds=1)
    middle = median(values) if values else 0.0
    start = next((i for i, v in enumerate(values) if v >= RAMP_SHARE * middle), len(values))
    return values[start:]


def rate_spread(d: Demand, t0: datetime, start: datetime, end: datetime) -> Spread | None:
    """The source's spread before the outage at `t0` and its rate from `start` to `end` (the storm window); None
    with fewer than two steady seconds before it (no spread to measure)."""
    steady = _steady(d, t0)
    if len(steady) < 2:
        return None
    seconds = max((end - start).total_seconds(), 1.0)
    window = d.per_second.filter(pl.col("second").is_between(start.replace(microsecond=0), end, closed="left"))
    after = float(window.get_column("attempts").sum()) / seconds
    mean = fmean(steady)
    return Spread(mean, max(stdev(steady), math.sqrt(mean)), len(steady), after)
