"""A scrape answered late: a server that stopped for less than its scraper's timeout.

A server stopped (SIGSTOP, a frozen VM) for less than its scraper's timeout answers the scrape it held when it runs
again: no `redis_up` 0, only a sample that comes later than the scraper's own rhythm, and clients without a socket
timeout log nothing while they wait (storm-pause-late-16: answered samples 1.0 s apart, then 2.9 s around a 2.0 s
pause). A scraper on a busy machine is late too, so a late scrape is a stop only when the clients' silence and a
catch-up at the resume (the server's or the clients') say so. Every threshold is the incident's own:

* the gap between two answered scrapes is more than `GAP_FACTOR` of the scraper's median interval (its own samples:
  a scrape interval differs from one exporter to another), with no unanswered scrape in it;
* the client fleet logged nothing for a run inside it (beginning at most one interval before it) that has less than
  `SILENCE_CHANCE` chance anywhere in the log at the fleet's own rate before it (measured over at least one
  interval), and that is long enough to make a scrape that late (`GAP_FACTOR` - 1 intervals): a busy machine slows
  its clients, it does not stop them all;
* someone caught up when the server ran again: the server accepted more connections in the second the clients
  resumed (or the next) than in any second of its log before (the fleet reconnecting at once, the connects it held),
  or the clients logged more in it than in any second before (the calls it held answered at once). A pooled fleet
  whose pools had filled at start-up opens no connection at the resume, or fewer than its start-up's second
  (healthy-pause-16: none; healthy-pause-24: 48 against 52), and its held calls finish together (92 and 132 lines
  against at most 33 and 51 a second before). A busy machine's clients slow down and do not burst
  (healthy-loaded-40: 3 and 4 lines against 7).

The clients' silence counts their records of work: a client's configuration line is written when it is created
(healthy-pause-48: pods still starting logged theirs through the pause).

The window runs from the later of the answered scrape before the gap and the fleet's last record before the silence
(a per-second summary row covers its whole second) to the server's first accepted connection after that (the clients'
first record when the server logged none). It is a lower bound: the server may have stopped before either (the scrape
before the gap may be the one it held, its time is when it began).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.silence import BASELINE_S, NOT_CLIENTS, improbable_after
from postmortem.schema import event_weight

GAP_FACTOR = 1.5  # a scrape more than this many of the scraper's own median intervals after the one before is late
MIN_INTERVALS = 3  # fewer answered intervals: no rhythm to be late against
UP_METRICS = ("redis_up", "up")  # exporter scrape success: 0 means the server did not answer
CONFIG = "redis.config"  # a client's configuration line: written when it is created, no work


@dataclass(frozen=True)
class Gap:
    """Two answered scrapes further apart than the scraper's rhythm, and what the clients and server did meanwhile."""

    entity: str | None
    before_id: int  # the answered scrape before the gap
    after_id: int  # the one after it
    scraped: datetime  # when the one before was taken
    gap_s: float
    interval_s: float  # the scraper's median interval
    quiet: tuple[datetime, datetime] | None  # the fleet's longest run without a record inside the gap
    history_s: float = 0.0  # the fleet's records before the silence span this long (at most BASELINE_S)
    client_rate: float = 0.0  # their lines per second
    chance_need: float = math.inf  # lines a silence must lack to be that improbable anywhere in the log
    resume_accepts: float = 0.0  # connections accepted in the second the clients resumed (or the next)
    peak_accepts: float = 0.0  # the server's busiest second before the silence
    resume_lines: float = 0.0  # the clients' lines in the second they resumed (or the next)
    peak_lines: float = 0.0  # their busiest second before the silence
    resumed: tuple[datetime, int] | None = None  # the server's first accepted connection after `start` (and its id)

    @property
    def start(self) -> datetime | None:
        """When the server was last seen answering: the later of the scrape before the gap and the fleet's last
        record before its silence."""
        return max(self.scraped, self.quiet[0]) if self.quiet else None

    @property
    def quiet_s(self) -> float:
        return (self.quiet[1] - self.quiet[0]).total_seconds() if self.quiet else 0.0

    @property
    def caught_up(self) -> bool:
        """The server's accepts or the clients' lines at the resume outnumber their busiest second before."""
        return self.resume_accepts > self.peak_accepts or self.resume_lines > self.peak_lines

    @property
    def stopped(self) -> bool:
        """The clients' silence and a catch-up at the resume confirm the late scrape."""
        return (self.quiet is not None and self.quiet_s >= (GAP_FACTOR - 1) * self.interval_s
                and self.history_s >= self.interval_s and self.client_rate * self.quiet_s >= self.chance_need
                and self.caught_up)


@dataclass(frozen=True)
class LateScrape:
    """An outage seen as a late answered scrape, confirmed by the fleet's silence and a catch-up at the resume."""

    entity: str
    start: datetime
    end: datetime
    gap: Gap
    hosts: tuple[str, ...]  # the client hosts that logged

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def event_ids(self) -> tuple[int, ...]:
        """The two answered scrapes and the server's first accepted connection after them."""
        return tuple(sorted({self.gap.before_id, self.gap.after_id, *([self.gap.resumed[1]] if self.gap.resumed else [])}))


def client_spans(events: pl.DataFrame) -> pl.DataFrame:
    """The client fleet's records as [ts, until] with their lines and pod (a per-second summary row spans its
    second)."""
    # late: clocks imports correlate, which imports this module
    from postmortem.analysis.clocks import PER_SECOND

    rows = events.filter(~pl.col("source").is_in(NOT_CLIENTS) & pl.col("host").is_not_null()
                         & (pl.col("kind") != CONFIG))
    return rows.select("event_id", "ts", "host", until=pl.when(pl.col("kind") == PER_SECOND).then(pl.col("ts") + timedelta(seconds=1))
                       .otherwise(pl.col("ts")), lines=event_weight()).sort("ts")


def _silence(spans: pl.DataFrame, a: datetime, b: datetime, interval: timedelta) -> tuple[datetime, datetime] | None:
    """The longest run without a client record that ends inside the gap (a, b] and begins at most one interval
    before a."""
    runs = spans.with_columns(seen=pl.col("until").cum_max(), nxt=pl.col("ts").shift(-1)).filter(
        (pl.col("seen") >= a - interval) & (pl.col("nxt") <= b) & (pl.col("nxt") > a)
        & (pl.col("nxt") > pl.col("seen"))).with_columns(length=pl.col("nxt") - pl.col("seen"))
    if runs.height == 0:
        return None
    best = runs.sort("length", descending=True).row(0, named=True)
    return best["seen"], best["nxt"]


def _late_steps(events: pl.DataFrame) -> list[tuple[str | None, dict, timedelta]]:
    """Answered scrapes more than GAP_FACTOR of their scraper's median interval after the answered one before, with
    no unanswered scrape between them: (endpoint, the step's row, the interval)."""
    scrapes = events.select("event_id", "ts", "entity", "metric", "value").filter(
        pl.col("metric").is_in(UP_METRICS) & pl.col("ts").is_not_null()).sort("ts")
    late = []
    for (entity,), series in scrapes.group_by(["entity"], maintain_order=True):
        answered = series.filter(pl.col("value") > 0)
        if answered.height <= MIN_INTERVALS:
            continue
        steps = answered.select("event_id", "ts", prev_id=pl.col("event_id").shift(1), prev=pl.col("ts").shift(1))
        interval = steps.select((pl.col("ts") - pl.col("prev")).median()).item()
        failed = series.filter(pl.col("value") == 0).get_column("ts")
        late += [(entity, r, interval) for r in steps.filter(pl.col("ts") - pl.col("prev") > interval * GAP_FACTOR)
                 .iter_rows(named=True) if not ((failed > r["prev"]) & (failed < r["ts"])).any()]
    return late


def scrape_gaps(events: pl.DataFrame) -> list[Gap]:
    """Every late step of a scraper (`_late_steps`), with the fleet's silence in it and the server's accepts around
    it. The clients are read only when a scraper was late (a dense log's rows are most of the table)."""
    late = _late_steps(events)
    if not late:
        return []
    timed = events.select("event_id", "ts", "source", "kind", "host", "value").filter(pl.col("ts").is_not_null())
    spans = client_spans(timed)
    if spans.height == 0:
        return []
    span = (spans.get_column("until").max() - spans.get_column("ts").min()).total_seconds()
    accepted = timed.filter(pl.col("kind") == "redis.server.client_accepted").sort("ts")
    per_second = per_second_accepts(accepted)
    found: list[Gap] = []
    for entity, r, interval in late:
        a, b = r["prev"], r["ts"]
        gap = Gap(entity, r["prev_id"], r["event_id"], a, (b - a).total_seconds(), interval.total_seconds(),
                  _silence(spans, a, b, interval))
        found.append(_measured(gap, spans, accepted, per_second, span) if gap.quiet else gap)
    return found


def _measured(gap: Gap, spans: pl.DataFrame, accepted: pl.DataFrame, per_second: dict, span: float) -> Gap:
    """The gap with the fleet's rate before its silence and the server's accepts around it."""
    start, end = gap.quiet
    history, rate, _ = rate_before(spans, start)
    after = accepted.filter(pl.col("ts") > gap.start).head(1)
    return replace(gap, history_s=history, client_rate=rate, chance_need=improbable_after(span / gap.quiet_s),
                   **catch_up(per_second, per_second_lines(spans), start, end),
                   resumed=(after.item(0, "ts"), after.item(0, "event_id")) if after.height else None)


def rate_before(spans: pl.DataFrame, start: datetime) -> tuple[float, float, pl.DataFrame]:
    """The fleet's records per second over `BASELINE_S` before `start`: (seconds measured, rate, those records)."""
    before = spans.filter((pl.col("until") <= start) & (pl.col("ts") > start - timedelta(seconds=BASELINE_S)))
    history = (start - before.get_column("ts").min()).total_seconds() if before.height else 0.0
    return history, before.get_column("lines").sum() / history if history > 0 else 0.0, before


def per_second_accepts(accepted: pl.DataFrame) -> dict:
    """The server's accepted connections per second."""
    return dict(accepted.group_by(sec=pl.col("ts").dt.truncate("1s")).agg(event_weight().sum()).iter_rows())


def per_second_lines(spans: pl.DataFrame) -> dict:
    """The fleet's records per second."""
    return dict(spans.group_by(sec=pl.col("ts").dt.truncate("1s")).agg(pl.col("lines").sum()).iter_rows())


def catch_up(accepts: dict, lines: dict, start: datetime, end: datetime) -> dict[str, float]:
    """The accepts and client records in the resume's second (or the next) against the busiest second before the
    silence from `start` to `end` (`Gap.caught_up` reads them)."""
    first, silent = end.replace(microsecond=0), start.replace(microsecond=0)
    return dict(resume_accepts=_resumed(accepts, first), peak_accepts=_peak(accepts, silent),
                resume_lines=_resumed(lines, first), peak_lines=_peak(lines, silent))


def _resumed(per_second: dict, first: datetime) -> float:
    """A per-second count's larger of the resume's second and the next."""
    return max(per_second.get(first, 0.0), per_second.get(first + timedelta(seconds=1), 0.0))


def _peak(per_second: dict, before: datetime) -> float:
    """A per-second count's busiest second before `before`."""
    return max((n for sec, n in per_second.items() if sec < before), default=0.0)


def late_scrapes(events: pl.DataFrame) -> list[LateScrape]:
    """Every late scrape confirmed by the clients' silence and a catch-up (see the module docstring)."""
    gaps = [g for g in scrape_gaps(events) if g.stopped]
    if not gaps:
        return []
    hosts = tuple(sorted(set(events.select("source", "host").filter(~pl.col("source").is_in(NOT_CLIENTS))
                             .get_column("host").drop_nulls().to_list())))
    return sorted((LateScrape(entity=g.entity or "redis:unknown", start=g.start,
                              end=g.resumed[0] if g.resumed else g.quiet[1], gap=g, hosts=hosts) for g in gaps),
                  key=lambda s: s.start)
