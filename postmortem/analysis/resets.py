"""The clients' connections reset together while the server ran: a network fault, seen from the server's log.

A network that resets connections (a proxy or firewall dropping its table, a blip that makes both ends send RST)
leaves in a verbose redis-server log every client connection gone in the same moment with `Reading from client:
Connection reset by peer`, then no accepted connection until the path is back, and no shutdown: the server ran. A
client that goes away closes its connection (`Client closed connection`); a reset of most of what the server held at
once is the path failing (blip-reset-16 without its pods: 16 resets at 14.619 of the 17 connections the gauge showed,
the first accept 3.0 s later, when the path was back). Measured against the incident's own population:

* the resets within `BURST` of the first are at least `SHARE` of the connections the server held just before
  (population.population_before: the gauge's last sample, else the log's own accepts less closes), and at least two;
* the window runs from the first reset to the server's next accepted connection (the path back); without one after
  it, nothing is claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.population import population_before
from postmortem.schema import ts_lit

BURST = timedelta(seconds=1)  # resets closer to the first than this are one fault
SHARE = 0.5  # of the connections held before (HANG_SHARE's fleet share)


@dataclass(frozen=True)
class ResetBurst:
    """A burst of connections reset by peer, the population it hit and the server's next accept."""

    entity: str
    start: datetime  # the first reset
    end: datetime  # the server's first accepted connection after the burst
    resets: int
    held: float  # connections the server held just before
    held_source: str
    event_ids: tuple[int, ...]  # the resets and the accept that ends it

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def reset_bursts(events: pl.DataFrame) -> list[ResetBurst]:
    """Every reset burst of the server's log (see the module docstring), in time order."""
    server = events.filter((pl.col("source") == "redis_server") & pl.col("ts").is_not_null())
    resets = server.filter((pl.col("kind") == "redis.server.client_closed")
                           & pl.col("message").str.starts_with("Reading from client:")).select(
        "event_id", "ts", "entity", "value").sort("ts")
    if resets.height < 2:
        return []
    accepts = server.filter(pl.col("kind") == "redis.server.client_accepted").select("event_id", "ts").sort("ts")
    found: list[ResetBurst] = []
    after = None
    for start in resets.get_column("ts"):
        if after is not None and start < after:
            continue
        burst = resets.filter(pl.col("ts").is_between(ts_lit(start), ts_lit(start + BURST)))
        n = int(burst.get_column("value").fill_null(1).sum())
        nxt = accepts.filter(pl.col("ts") > ts_lit(burst.get_column("ts").max())).head(1)
        after = start + BURST
        population = population_before(events, start)
        if nxt.height == 0 or population is None or n < 2 or n < SHARE * population.connections:
            continue
        after = nxt.item(0, "ts")
        found.append(ResetBurst(
            entity=burst.item(0, "entity") or "redis:unknown", start=start, end=after, resets=n,
            held=population.connections, held_source=population.source,
            event_ids=tuple(sorted({*burst.get_column("event_id").to_list(), nxt.item(0, "event_id")}))))
    return found
