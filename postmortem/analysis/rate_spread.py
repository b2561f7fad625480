"""Whether the new connections after an outage stand out of the rate a fleet already refused at maxclients kept.

A fleet whose pools want more connections than maxclients allows is refused before any outage, every second, and
as often after a short restart (storm-full-long-4: 281 new connections a second before a 6 s restart, 280 after
it). Netted by its baseline rate, what is left is that rate's noise: hundreds of connections over a window, against
the 6 to 80 connections the fleet needs (`kept.Kept.churns`), so the churn test alone called every such restart a
reconnect storm. A fleet refused before the outage storms only when the outage lifts its rate out of the spread of
its own seconds before it: the window's mean above the upper end of the 95 % prediction interval of one more such
second (their mean plus Student's t for their number, times their standard deviation, at least the counting noise,
the square root of the mean, times the square root of 1 + 1/n). Few seconds predict little: storm-rate50-6's three
(352, 334, and 393 a second in the 0.8 s of the outage's second before it) allow up to 509, and its 471 a second
after the restart is within them (its pods were 3 s old; 6 s old, the same fleet was refused at 0.9x its rate
before it, rate50-long-6). A fleet not refused before the outage is not judged so: whatever it opens and does not
keep is the outage's.

The same test judges the clients' errors once Redis was back against their own seconds before the outage
(`errors_spread`): a fleet refused at maxclients all along goes on failing after a restart as before it, and those
errors are no retries the outage left behind (PM102)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean, stdev

import polars as pl

from postmortem.analysis.clocks import AGREE_S
from postmortem.analysis.population import LOOKBACK, Demand
from postmortem.analysis.refusals import counter_rises
from postmortem.schema import ts_lit

# seconds before the first at this share of the busiest are the fleet before it was refused (starting up, or its
# pools held): not the saturation's rate (storm-rate50-6: 37 new connections as its pods started, 352 after)
LEVEL_SHARE = 0.5
# the outage's own second counts, scaled to a whole second, when at least this share of it came before the outage
PART_SHARE = 0.5
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


def refused_before(events: pl.DataFrame, t0: datetime) -> bool:
    """Whether Redis refused a connection at maxclients before the outage at `t0`, by more than two clocks may
    disagree (`clocks.AGREE_S`): a client's logged refusal, or the server's counter rising."""
    since, until = ts_lit(t0 - LOOKBACK), ts_lit(t0 - timedelta(seconds=AGREE_S))
    logged = events.filter((pl.col("kind") == "redis.max_clients") & (pl.col("ts") >= since) & (pl.col("ts") < until))
    return logged.height > 0 or counter_rises(events, t0 - LOOKBACK, t0 - timedelta(seconds=AGREE_S, microseconds=1))


def _steady(d: Demand, t0: datetime) -> list[float]:
    """The source's rate in each steady second before the outage at `t0` (`_steady_seconds`); a sampled counter's
    samples, from the first at `LEVEL_SHARE` of the busiest."""
    rows = d.before
    if rows is None or rows.height == 0:
        return []
    if d.metric is not None:
        own = t0.replace(microsecond=0)
        return _level(rows.filter(pl.col("second") < ts_lit(own)).get_column("rate").to_list())
    return _steady_seconds(rows, t0)


def _steady_seconds(rows: pl.DataFrame, t0: datetime) -> list[float]:
    """Counts of log lines a second (`second`, `attempts`) before the outage at `t0`, in each steady second: the whole
    seconds after the first (partial) one, none counted as 0, and the outage's own second scaled when most of it came
    before (`PART_SHARE`); from the first at `LEVEL_SHARE` of the busiest."""
    if rows.height == 0:
        return []
    own = t0.replace(microsecond=0)
    counted = dict(zip(rows.get_column("second").to_list(), rows.get_column("attempts").to_list(), strict=True))
    values = []
    second = rows.get_column("second").min() + timedelta(seconds=1)
    while second < own:
        values.append(float(counted.get(second, 0.0)))
        second += timedelta(seconds=1)
    part = (t0 - own).total_seconds()
    if part >= PART_SHARE and own > rows.get_column("second").min():
        values.append(float(counted.get(own, 0.0)) / part)
    return _level(values)


def _level(values: list[float]) -> list[float]:
    """`values` from the first at `LEVEL_SHARE` of the busiest: the seconds before are the fleet before it was
    refused (starting up, or its pools held)."""
    top = max(values, default=0.0)
    start = next((i for i, v in enumerate(values) if v >= LEVEL_SHARE * top), len(values))
    return values[start:]


def spread_of(steady: list[float], after: float) -> Spread | None:
    """The spread of `steady` seconds against the rate `after`; None with fewer than two of them."""
    if len(steady) < 2:
        return None
    mean = fmean(steady)
    return Spread(mean, max(stdev(steady), math.sqrt(mean)), len(steady), after)


def errors_spread(errors: pl.DataFrame, t0: datetime, after: float) -> Spread | None:
    """The clients' errors a second (`errors`: their rows, with `ts`) over their steady seconds before the outage at
    `t0`, against `after`, their rate once Redis was back; None when they logged none more than two clocks may
    disagree (`clocks.AGREE_S`) before it, or in fewer than two steady seconds. A fleet refused at maxclients before
    an outage goes on failing after it at that level (storm-rate50-long-8: 128 to 178 errors a second before a 6 s
    restart, 80 to 154 after it): that is no error the outage left behind."""
    before = errors.filter((pl.col("ts") >= ts_lit(t0 - LOOKBACK)) & (pl.col("ts") < ts_lit(t0)))
    if before.height == 0 or before.get_column("ts").min() > t0 - timedelta(seconds=AGREE_S):
        return None
    per_s = before.group_by(second=pl.col("ts").dt.truncate("1s")).agg(attempts=pl.len().cast(pl.Float64))
    return spread_of(_steady_seconds(per_s, t0), after)


def rate_spread(events: pl.DataFrame, d: Demand, t0: datetime, start: datetime, end: datetime) -> Spread | None:
    """The source's spread before the outage at `t0` and its rate from `start` to `end` (the storm window); None
    when Redis refused no connection at maxclients before the outage, or with fewer than two steady seconds."""
    if not refused_before(events, t0):
        return None
    seconds = max((end - start).total_seconds(), 1.0)
    window = d.per_second.filter(pl.col("second").is_between(start.replace(microsecond=0), end, closed="left"))
    return spread_of(_steady(d, t0), float(window.get_column("attempts").sum()) / seconds)
