"""How many of the connections opened after an outage the clients kept, and how many they did not.

A reconnect storm is churn, not growth. A fleet that re-opens its pools keeps what it opens, however wide the
pools: the storm configuration with room to grow (every handler thread opens its own connection at once) opened
4.5x to 7.6x what it held before on recorded fleets of 2 to 40 pods and kept every one, so a fixed multiple of the
connections held before (5x) called it a storm at 16 to 40 pods and not at 2 and 8 (tests/test_storm_churn.py). A storm opens connections it does not
keep: refused at maxclients, or closed again and re-opened. Counted from the incident itself:

* kept: the most connections the server held at once after it answered again, net of those still open from before
  (none after a restart): the `connected_clients` gauge, else the server log's accepted minus closed connections
  (net of the connections its counter refused, which log an `Accepted` line and no close);
* not kept: the new connections beyond those kept (more than were ever open at once were closed or refused), and
  at least the refusals the server counted or the clients logged.

Without a count of what was kept (no gauge, and a server log whose open count holds refusals no counter numbers)
the fleet is taken to have kept what it held before; a fleet that re-opened its pools keeps at least that, so the
new connections beyond it are at most those not kept (storm-pause-20 without its export: 373 not kept for the 340
the server refused, while it held 80 at once, 58 more than before). Counted from the clients' own logs, every figure
is at least. `bound` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.population import RESUME_DRAIN, connected_before
from postmortem.schema import event_weight

# A gauge sampled once a second may first show the connections a window's last second opened just after it
GAUGE_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class Kept:
    """New connections after an outage that the clients kept, and those they did not."""

    kept: float  # new connections open at once at the most (what the fleet kept)
    kept_source: str  # where that came from
    not_kept: float  # new connections refused or closed again
    needed: float  # the larger of the connections held before and those kept after: what a recovery opens
    churn: float  # not_kept ÷ needed, to one decimal (the figure shown)
    measured: bool  # False: what was kept is not in the logs, taken as the connections held before
    bound: str | None = None  # "at least" or "at most": not_kept (and churn) is a bound, not a count

    def churns(self, per_needed: float) -> bool:
        """At least `per_needed` not kept per connection needed, judged on the exact counts, not on the rounded
        `churn`: a healthy fleet resuming from a pause (healthy-pause-20) did not keep 78 of the 80 it needed,
        0.975, shown as 1.0x, and was called a reconnect storm until session 13."""
        return self.not_kept >= per_needed * self.needed


def _gauge(events: pl.DataFrame) -> pl.DataFrame:
    return events.filter((pl.col("metric") == "connected_clients") & pl.col("value").is_not_null()
                         & pl.col("value").is_finite() & pl.col("ts").is_not_null()).sort("ts")


def _from_gauge(events: pl.DataFrame, t0: datetime, back: datetime, end: datetime,
                restarted: bool) -> tuple[float, str] | None:
    """(peak connected_clients from `back` to `end` minus those open from before, how counted): a restarted server
    starts with none; one that kept running still holds what it held before the outage at `t0`, less the
    connections its log closed from `t0` to the end of its resume (`RESUME_DRAIN`): a fleet whose socket timeout ran out in a pause dropped its
    old connections, and the server logs them closed as it resumes (healthy-pause-kolkata-48 without its clients'
    logs: 75 held, 75 closed at the resume, a peak of 193 of new connections read as 118 kept, and its 121 other
    new connections as a storm)."""
    samples = _gauge(events)
    after = samples.filter(pl.col("ts").is_between(back, end + GAUGE_SLACK))
    if after.height == 0:
        return None
    top = after.sort(["value", "ts"], descending=[True, False]).row(0, named=True)
    peak = float(top["value"])
    if restarted:
        return peak, f"peak connected_clients metric after the outage ({peak:,.0f}; the restarted server held none)"
    before = connected_before(samples, t0, events)
    level = before[0] if before else 0.0
    closed = float(events.filter((pl.col("kind") == "redis.server.client_closed") & pl.col("ts").is_between(
        t0, back + RESUME_DRAIN, closed="left")).select(event_weight().sum()).item() or 0.0)
    still = max(level - closed, 0.0)
    held = f"{level:,.0f} open before it" if still == level \
        else f"{still:,.0f} still open of the {level:,.0f} open before it (the server log closed {closed:,.0f} since)"
    return max(peak - still, 0.0), f"peak connected_clients metric after the outage ({peak:,.0f}) less the {held}"


def _from_log(events: pl.DataFrame, back: datetime, end: datetime, refused: int | None) -> tuple[float, str] | None:
    """(the most connections open at once from `back` to `end` by the server log's accepted minus closed lines, per
    second, less the `refused` its counter counted, how counted); None without those lines."""
    rows = events.filter(pl.col("kind").is_in(["redis.server.client_accepted", "redis.server.client_closed"])
                         & pl.col("ts").is_between(back.replace(microsecond=0), end, closed="left"))
    if rows.height == 0:
        return None
    sign = pl.when(pl.col("kind") == "redis.server.client_accepted").then(1.0).otherwise(-1.0)
    per_s = (rows.with_columns(second=pl.col("ts").dt.truncate("1s"), w=sign * event_weight())
             .group_by("second").agg(pl.col("w").sum()).sort("second"))
    peak = max(float(per_s.get_column("w").cum_sum().max()), 0.0)
    if refused:
        return max(peak - refused, 0.0), (f"server log: most connections open at once ({peak:,.0f}) less the "
                                          f"{refused:,} its counter refused")
    return peak, "server log: most connections open at once (accepted minus closed)"


def kept_after(events: pl.DataFrame, held: float, opened: float, t0: datetime, back: datetime, end: datetime,
               restarted: bool, refused_server: int | None, refused_clients: int, queued: float = 0.0,
               refused_before: tuple[float, float] = (0.0, 0.0), opened_at_least: bool = False) -> Kept:
    """Of the `opened` new connections from `back` (the server answering again after the outage that began at `t0`)
    to `end`, those kept and those not, against the `held` the clients held before. `queued` of them may be the
    connects the clients left in the listen queue of a server that did not answer: not counted as not kept.

    The server log's open count holds every connection it refused (an `Accepted` line and no close): with refusals
    the clients logged and no counter of them, what was kept is not in the logs, and the fleet is taken to have
    kept what it held before. `refused_before` (server, clients) are the refusals the pre-outage rate of each
    count accounts for (`refusals.refused_after`): not the outage's. `opened_at_least`: `opened` is a lower bound
    (the clients' own records), and so is what is not kept."""
    found = _from_gauge(events, t0, back, end, restarted)
    if found is None and not (refused_clients and not refused_server):
        found = _from_log(events, back, end, refused_server)
    if found is None:
        kept, source = min(held, opened), "not in the logs: taken as the connections held before"
    else:
        kept, source = min(found[0], opened), found[1]  # no more than were opened (net of the pre-outage rate)
        if found[0] > opened:
            source += f", at most the {opened:,.0f} opened"
    beyond = opened - queued - kept
    refused = max(float(refused_server or 0) - refused_before[0], float(refused_clients) - refused_before[1], 0.0)
    not_kept = max(beyond, refused)
    bound = "at least" if opened_at_least or (found is None and refused > beyond) \
        else "at most" if found is None else None
    needed = max(held, kept)
    return Kept(kept, source, not_kept, needed, round(not_kept / needed, 1), found is not None, bound)
