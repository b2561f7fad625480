"""A client fleet that went silent together when no scraper watched the server: a stopped server, seen by its clients.

A server stopped (SIGSTOP, a frozen VM) refuses nobody, and clients without a socket timeout wait on it without a
line: no failure, and a pooled fleet's server log is too quiet to fall silent at its own rate (silence.py). With an
exporter a late scrape shows the stop (scrape_gaps.py); without one the fleet's own silence is the sign, under the
same tests as there, each measured against the incident's own fleet:

* the whole fleet logged nothing for a run that has less than `SILENCE_CHANCE` chance anywhere in the log at its own
  rate before it (storm-pause-20 without its exporter: 20 pods at 44.5 records a second, none for 1.0 s of
  per-second rows; 6.7 expected records make it improbable in that 8 s log);
* that rate was measured over at least the silence's length (a start-up's first records are no rate);
* it stands out from the fleet's own quiet spells (`_stands_out`): a busy machine stalls its clients for a moment;
* a server log, when read, was silent too: its first line after the fleet's last record comes in the silence's
  second half at the earliest (a server still logging while the fleet was quiet was running);
* someone caught up when the server ran again (scrape_gaps.Gap.caught_up): the server accepted more connections in
  the second the clients resumed (or the next) than in any second before, or the clients logged more in it than in
  any second before. A busy machine slows its clients, it does not stop them all and then release them at once.

Only when no scraper is among the inputs: a scraper answered on time through the fleet's silence says the server
ran. The window runs from the fleet's last record before the silence to the server's first accepted connection after
it, within the catch-up's two seconds (else the clients' first record after it); it is a lower bound, as a late
scrape's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.scrape_gaps import (
    UP_METRICS,
    catch_up,
    client_spans,
    per_second_accepts,
    per_second_lines,
    rate_before,
)
from postmortem.analysis.silence import NOT_CLIENTS, improbable_after


@dataclass(frozen=True)
class FleetSilence:
    """The fleet's silence with its rate before it and the catch-up at its end."""

    entity: str
    start: datetime  # the fleet's last record before the silence (a per-second row covers its second)
    end: datetime  # the server's first accepted connection after `start`, else the clients' first record after
    quiet_s: float
    client_rate: float  # the fleet's records per second before it
    resume_accepts: float
    peak_accepts: float
    resume_lines: float
    peak_lines: float
    hosts: tuple[str, ...]  # the client hosts that logged
    event_ids: tuple[int, ...]  # the fleet's last record before, its first after and the server's first accept


def _runs(spans: pl.DataFrame) -> pl.DataFrame:
    """The quiet from each of the fleet's records (`seen`: the last it covered so far) to its next (`nxt`), 0 where
    they overlap (a per-second row's second), longest first."""
    return (spans.with_columns(seen=pl.col("until").cum_max(), nxt=pl.col("ts").shift(-1),
                               nxt_id=pl.col("event_id").shift(-1))
            .filter(pl.col("nxt").is_not_null())
            .with_columns(quiet=((pl.col("nxt") - pl.col("seen")).dt.total_microseconds() / 1e6).clip(lower_bound=0.0))
            .sort("quiet", descending=True))


def _stands_out(quiet: float, gaps: pl.Series) -> bool:
    """The silence is improbable against the fleet's largest other quiet spells (silence.py's `_stands_out` for the
    fleet): at the mean of the largest sqrt(n) of its n others as an exponential tail's scale, in any of those
    places. A busy machine stalls its clients now and then (eviction-40: 40 pods at 148 records a second, none for
    88 ms, where its 52 largest other spells average 21 ms)."""
    others = pl.concat([gaps.filter(gaps > quiet), gaps.filter(gaps <= quiet).slice(1)])  # less the silence itself
    k = math.ceil(math.sqrt(others.len()))
    return others.len() > 0 and quiet >= float(others.head(k).mean()) * improbable_after(k)


def _entity(events: pl.DataFrame) -> str:
    """The one Redis endpoint the clients or the server named (not a pod or deployment of the cluster's events)."""
    named = events.filter(pl.col("entity").str.starts_with("redis:")).get_column("entity").unique()
    return named[0] if named.len() == 1 else "redis:unknown"


def fleet_silences(events: pl.DataFrame) -> list[FleetSilence]:
    """Every silence of the whole client fleet confirmed by a catch-up (see the module docstring), in time order;
    none when a scraper is among the inputs."""
    if events.get_column("metric").is_in(UP_METRICS).any():
        return []
    timed = events.select("event_id", "ts", "source", "kind", "host", "value", "entity").filter(
        pl.col("ts").is_not_null())
    spans = client_spans(timed)
    if spans.height < 2:
        return []
    span = (spans.get_column("until").max() - spans.get_column("ts").min()).total_seconds()
    server = timed.filter(pl.col("source") == "redis_server").get_column("ts").sort()
    accepted = timed.filter(pl.col("kind") == "redis.server.client_accepted").sort("ts")
    accepts, lines = per_second_accepts(accepted), per_second_lines(spans)
    peak = max(lines.values(), default=0.0)
    hosts = tuple(sorted(set(timed.filter(~pl.col("source").is_in(NOT_CLIENTS)).get_column("host").drop_nulls())))
    found: list[FleetSilence] = []
    # improbable at the busiest second's rate at the most: the few runs worth a baseline
    runs = _runs(spans)
    gaps = runs.get_column("quiet")
    runs = runs.filter(pl.col("quiet") * peak >= improbable_after(span / pl.col("quiet")))
    for r in runs.iter_rows(named=True):
        start, quiet = r["seen"], r["quiet"]
        history, rate, before = rate_before(spans, start)
        if history < quiet or rate * quiet < improbable_after(span / quiet) or not _stands_out(quiet, gaps):
            continue
        logged = server.filter(server > start)
        if logged.len() and logged[0] < start + timedelta(seconds=quiet / 2):
            continue  # the server logged on while its fleet was quiet
        first = r["nxt"].replace(microsecond=0)
        s = catch_up(accepts, lines, start, r["nxt"])
        if not (s["resume_accepts"] > s["peak_accepts"] or s["resume_lines"] > s["peak_lines"]):
            continue
        last_id = before.sort("until").get_column("event_id")[-1] if before.height else r["event_id"]
        # the server's resume within the catch-up's two seconds (a server log on another clock is no resume of theirs)
        after = accepted.filter((pl.col("ts") > start) & (pl.col("ts") < first + timedelta(seconds=2))).head(1)
        end, ids = (after.item(0, "ts"), (after.item(0, "event_id"),)) if after.height else (r["nxt"], ())
        found.append(FleetSilence(
            entity=_entity(timed), start=start, end=end, quiet_s=quiet, client_rate=rate, hosts=hosts,
            event_ids=tuple(sorted({last_id, r["nxt_id"], *ids})), **s))
    return sorted(found, key=lambda f: f.start)
