"""The server ran while its clients could not reach it: the path between them failed, not Redis.

A network blip leaves Redis running: its exporter, beside it, keeps scraping it on time while the clients are refused,
reset or left waiting. A stopped server answers no scrape on time (scrape_gaps.py: a late one) and a restarted one
answers none (`redis_up 0`) or logs its shutdown; a refused or timed-out fleet alone cannot tell them apart from a
network fault (blip-reset-16, blip-blackhole-16: the server answered every 1 s scrape through the outage). So an
outage is the network's when the server's scraper answered on its own rhythm through all of it:

* answered scrapes (`redis_up` 1) of the outage's endpoint before it, in it, and after it, each within `GAP_FACTOR`
  of the scraper's median interval (its own samples) of the one before: no scrape was late;
* no unanswered scrape (`redis_up` 0) in it, and the scraper had a rhythm (`MIN_INTERVALS`);
* at least one answered scrape inside the outage (a shorter outage falls between two scrapes: nothing to tell).

The figure is the number of scrapes answered inside the outage.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from postmortem.analysis.scrape_gaps import GAP_FACTOR, MIN_INTERVALS, UP_METRICS
from postmortem.schema import ts_lit


def scrapes(events: pl.DataFrame, entity: str) -> pl.DataFrame:
    """The endpoint's scrape results (ts, up) in time order."""
    return (events.filter(pl.col("metric").is_in(UP_METRICS) & (pl.col("entity") == entity) & pl.col("ts").is_not_null())
            .select("ts", up=pl.col("value") > 0).sort("ts"))


def answered_through(events: pl.DataFrame, entity: str, start: datetime, end: datetime) -> int | None:
    """The scrapes the server answered from `start` to `end` when its scraper answered on time throughout (see the
    module docstring), else None."""
    rows = scrapes(events, entity)
    answered = rows.filter(pl.col("up")).get_column("ts")
    if answered.len() < MIN_INTERVALS + 1:
        return None
    inside = pl.col("ts").is_between(ts_lit(start), ts_lit(end))
    if rows.filter(inside & ~pl.col("up")).height:
        return None
    within = answered.filter(answered.is_between(start, end))
    before, after = answered.filter(answered < start), answered.filter(answered > end)
    if within.len() == 0 or before.len() == 0 or after.len() == 0:
        return None
    interval = answered.diff().drop_nulls().dt.total_microseconds().median()
    around = pl.concat([before.tail(1), within, after.head(1)])
    longest = around.diff().drop_nulls().dt.total_microseconds().max()
    return within.len() if longest <= GAP_FACTOR * interval else None
