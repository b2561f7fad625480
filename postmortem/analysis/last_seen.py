"""When a server that stopped answering was last seen answering: the start of a stall its first sign reports late.

A stall's first sign comes after the server stopped: a failed scrape is stamped when it began, a held call times out
one client timeout after it was sent, and a pod that logged no timeout setting gives no way to trace it back
(slow-nocfg-28: a 5.9 s `KEYS` from 14.764, the server's last line at 14.767, its first failed scrape at 14.977 and
the first timeout at 15.282). The server's last line before the stall is when it was last seen answering; it starts
the window when nothing after it shows the server answering although the fleet's own rate says something would have:
most pods no record of work known to fall between it and the resume (a per-second row's whole second: hang-nocfg-16's
pods worked in the second after a line 0.8 s before the pause; slow-nocfg-20's in the second a 0.8 s `KEYS` ended
were after it; a row that began before the line and holds more lines than the fleet's rate gives up to it: hang-48's
pods logged a second's work in the second of a line 0.8 s before the pause), and so many lines
missing at the fleet's rate before that the gap is improbable (`silence.improbable_after`, for the one window the
evidence places: it is not sought over the log). An answered scrape is no evidence: it is stamped when it began and
a blocked server answers it late (slow-nocfg-12: one begun 0.1 s into a 0.8 s `KEYS`). A pooled fleet whose server logged nothing for seconds
before a pause keeps working after that line (hang-nocfg-8: 2.3 s before it), and its window keeps its first sign.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.scrape_gaps import CONFIG
from postmortem.analysis.silence import BASELINE_S, NOT_CLIENTS, SILENCE_CHANCE, improbable_after
from postmortem.schema import event_weight

FLEET_SHARE = 0.5  # at least this share of the working pods logged work after the line: the server answered them


def unseen_since(events: pl.DataFrame, alive: datetime, first: datetime, back: datetime) -> bool:
    """Whether nothing shows the server answering from its last line `alive` until it answered again at `back`, where
    the fleet's work before `alive` makes its silence up to the stall's first sign `first` improbable (see the module
    docstring)."""
    if first <= alive:
        return False
    # late: clocks imports correlate, which imports this module
    from postmortem.analysis.clocks import LOSS, PER_SECOND

    work = events.select("ts", "source", "kind", "level", "host", "value").filter(
        ~pl.col("source").is_in(NOT_CLIENTS) & pl.col("host").is_not_null() & pl.col("ts").is_not_null()
        & (pl.col("kind") != CONFIG) & ~pl.col("kind").is_in(LOSS) & (pl.col("level") < "warning")
    ).with_columns(until=pl.when(pl.col("kind") == PER_SECOND).then(pl.col("ts") + timedelta(seconds=1))
                   .otherwise(pl.col("ts")))
    pods = work.filter(pl.col("ts") <= first).get_column("host").n_unique()
    # a per-second row's lines fall anywhere in its second: work in the stall only when its whole second is inside
    after = work.filter((pl.col("ts") > alive) & (pl.col("until") < back)).get_column("host").n_unique()
    if pods == 0 or after >= FLEET_SHARE * pods:
        return False
    # a per-second row that began before the line and ended after it: its lines may fall on either side
    straddle = work.filter((pl.col("ts") <= alive) & (pl.col("until") > alive))
    cut = straddle.get_column("ts").min() or alive
    before = work.filter((pl.col("until") <= cut) & (pl.col("ts") > cut - timedelta(seconds=BASELINE_S)))
    history = (cut - before.get_column("ts").min()).total_seconds() if before.height else 0.0
    gap = (first - alive).total_seconds()
    if history < gap:  # no rate to be silent against
        return False
    rate = float(before.select(event_weight().sum()).item()) / history
    if straddle.height:  # more lines than the fleet's last second gives up to the line: it worked after it
        lines = float(straddle.select(event_weight().sum()).item())
        last = float(before.filter(pl.col("ts") >= cut - timedelta(seconds=1)).select(event_weight().sum()).item())
        if poisson_at_least(lines, last * (alive - straddle.get_column("ts").max()).total_seconds()) < SILENCE_CHANCE:
            return False
    return rate * gap >= improbable_after(1.0)  # one window, placed by the evidence: not sought over the log


def poisson_at_least(n: float, mean: float) -> float:
    """The chance of at least `n` events where `mean` are expected (Poisson), summed in log space."""
    if n <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    below = sum(math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(math.ceil(n)))
    return max(0.0, 1.0 - below)
