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
from postmortem.schema import event_weight

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
    """Every reset burst of the server's log (see the module docstring), in time order. The resets are the lines the
    redis_server parser read as `read_error` closes; each one's burst size is counted at once (sorted times, a search
    per row), so only the moments with two or more resets are weighed against the population."""
    server = events.filter((pl.col("source") == "redis_server") & pl.col("ts").is_not_null())
    resets = (server.filter(pl.col("kind") == "redis.server.client_closed")  # then the JSON, over those rows only
              .filter(pl.col("attrs").str.json_path_match("$.event") == "read_error")
              .select("event_id", "ts", "entity", w=event_weight()).sort("ts"))
    if resets.height < 2:
        return []
    times = resets.get_column("ts")
    done = resets.get_column("w").cum_sum()
    ends = times.search_sorted(times + BURST, side="right")  # one past each burst's last reset
    sizes = (done.gather(ends - 1) - done + resets.get_column("w")).to_list()
    accepts = server.filter(pl.col("kind") == "redis.server.client_accepted").get_column("ts").sort()
    accept_ids = server.filter(pl.col("kind") == "redis.server.client_accepted").sort("ts").get_column("event_id")
    found: list[ResetBurst] = []
    after = None
    for i, (start, n, end) in enumerate(zip(times.to_list(), sizes, ends.to_list(), strict=True)):
        if (after is not None and start < after) or n < 2:
            continue
        after = start + BURST
        nxt = accepts.search_sorted(times[end - 1], side="right")
        population = population_before(events, start) if nxt < accepts.len() else None
        if population is None or n < SHARE * population.connections:
            continue
        after = accepts[nxt]
        found.append(ResetBurst(
            entity=resets.item(i, "entity") or "redis:unknown", start=start, end=after, resets=int(n),
            held=population.connections, held_source=population.source,
            event_ids=tuple(sorted({*resets.get_column("event_id").slice(i, end - i).to_list(),
                                    accept_ids[nxt]}))))
    return found
