"""A client fleet that went silent together when no scraper watched the server: a stopped server, seen by its clients.

A server stopped (SIGSTOP, a frozen VM) refuses nobody, and clients without a socket timeout wait on it without a
line: no failure, and a pooled fleet's server log is too quiet to fall silent at its own rate (silence.py). With an
exporter a late scrape shows the stop (scrape_gaps.py); without one the fleet's own silence is the sign, under the
same tests as there, each measured against the incident's own fleet:

* the whole fleet logged nothing for a run that has less than `SILENCE_CHANCE` chance anywhere in the log by its
  pods' own silences before it (`_pods_unlikely`: each pod's share of its time at which a run as long began with no
  record of it, the pods independent). The fleet's rate alone, records arriving at random, misses a fleet of pods
  that each log on a rhythm: per-request-pause-16 without its server log, 16 pods at 7.85 records a second together
  and one empty second, 1.7 % likely somewhere in the log at that rate, well under 1 % by each pod's own seconds;
* the fleet's records before it span at least the silence's length (a start-up's first records are no rate);
* it stands out from the fleet's own quiet spells (`_stands_out`): a busy machine stalls its clients for a moment;
* a server log, when read, was silent too: its first line after the fleet's last record comes in the silence's
  second half at the earliest (a server still logging while the fleet was quiet was running);
* someone caught up when the server ran again (scrape_gaps.Gap.caught_up): the server accepted more connections in
  the second the clients resumed (or the next) than in any second before, or the clients logged more in it than in
  any second before. A busy machine slows its clients, it does not stop them all and then release them at once.

A client that waited and was not answered (`WAITS`: a call's timeout, a pool whose connections were all held) ends
no silence: it is the stop seen from a client.

With a scraper among the inputs, a silence counts only when the scraper answered on time through it
(server_ran.py): the server ran while its whole fleet could not reach it, the network between them failed
(blip-blackhole-16: clients without a socket timeout wait on a blackholed path without a line, and the herd connects
when it heals); the server's own log may go on meanwhile. A late or unanswered scrape is scrape_gaps.py's stop. The
window runs from the fleet's last record before the silence to the server's first accepted connection after
it, within the catch-up's two seconds (else the clients' first record after it); it is a lower bound, as a late
scrape's. The calls it held are the timeouts logged by then, or within the second of a per-second row that ends it
(`answered_by`).
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
from postmortem.analysis.server_ran import answered_through
from postmortem.analysis.silence import BASELINE_S, NOT_CLIENTS, improbable_after
from postmortem.schema import ts_lit

# A client that waited and was not answered (a call's timeout, a pool with every connection held) is no sign the server
# answered: it ends no silence (per-request-pause-st1-8's one timeout at 04.898 in a pause from 03.815 to 05.816 cut
# the fleet's silence at 0.9 s; healthy-pause-32's held calls timed out 1.0 s before the resume, its pools 0.1 s).
WAITS = ("redis.timeout", "redis.pool_exhausted")


@dataclass(frozen=True)
class FleetSilence:
    """The fleet's silence with its rate before it and the catch-up at its end."""

    entity: str
    start: datetime  # the fleet's last record before the silence (a per-second row covers its second)
    end: datetime  # the server's first accepted connection after `start`, else the clients' first record after
    # when the server answered at the latest: `end`, or the end of the second a per-second row at `end` covers (its
    # lines fell anywhere in it); a call's timeout logged by then may be one the stopped server held
    answered_by: datetime
    quiet_s: float
    client_rate: float  # the fleet's records per second before it
    resume_accepts: float
    peak_accepts: float
    resume_lines: float
    peak_lines: float
    hosts: tuple[str, ...]  # the client hosts that logged
    event_ids: tuple[int, ...]  # the fleet's last record before, its first after and the server's first accept
    server_answered: int | None = None  # scrapes the server answered on time through it (server_ran.py), None: none


def _runs(spans: pl.DataFrame) -> pl.DataFrame:
    """The quiet from each of the fleet's records (`seen`: the last it covered so far) to its next (`nxt`), 0 where
    they overlap (a per-second row's second), longest first."""
    return (spans.with_columns(seen=pl.col("until").cum_max(), nxt=pl.col("ts").shift(-1),
                               nxt_id=pl.col("event_id").shift(-1), nxt_until=pl.col("until").shift(-1))
            .filter(pl.col("nxt").is_not_null())
            .with_columns(quiet=((pl.col("nxt") - pl.col("seen")).dt.total_microseconds() / 1e6).clip(lower_bound=0.0))
            .sort("quiet", descending=True))


def _pods_unlikely(spans: pl.DataFrame, start: datetime, quiet: float) -> float:
    """-ln of the chance that every pod that logged in the `BASELINE_S` before `start` would log nothing for `quiet` at
    one place, each by its own record: the share of that pod's time before (from its first record there) at which
    such a run began and stayed empty (`_empty_share`), the pods taken as independent. A pod's requests come on its
    own rhythm, so its silences are its own evidence: per-request-pause-16's 16 pods log a job about every other
    second (7.85 records a second together), and an empty second had a 1.7 % chance anywhere in the log at that rate,
    records arriving at random; by each pod's own seconds it had well under 1 %. A pod that kept logging lends the
    silence most weight, one as idle or as bursty as the silence gives it none."""
    lo = start - timedelta(seconds=BASELINE_S)
    rows = spans.filter((pl.col("ts") < start) & (pl.col("until") > lo)).sort("ts")
    if rows.height == 0:
        return 0.0
    shares = _empty_share(rows, start, quiet)
    return float(-shares.log().sum())


def _empty_share(rows: pl.DataFrame, start: datetime, quiet: float) -> pl.Series:
    """Per pod, the share of its time before `start` at which a run of no record of it `quiet` long began: the
    places in each of its quiet spells (from a record's end to its next record, the last to `start`) where such a run
    fits, one more where the next record is a per-second row (its second holds the run's end anywhere in it), over its
    time from its first record; one such run more counted in both (a pod never quiet that long still may be)."""
    return (rows.with_columns(seen=pl.col("until").cum_max().over("host"),
                              nxt=pl.col("ts").shift(-1).over("host"),
                              res=(pl.col("until") - pl.col("ts")).shift(-1).over("host"))
            .with_columns(nxt=pl.col("nxt").fill_null(start),
                          res=pl.col("res").dt.total_microseconds().fill_null(0) / 1e6)
            .with_columns(places=((pl.col("nxt") - pl.col("seen")).dt.total_microseconds() / 1e6 - quiet
                                  + pl.col("res")).clip(lower_bound=0.0))
            .group_by("host").agg(places=pl.col("places").sum(), first=pl.col("ts").min())
            .select(((pl.col("places") + quiet)
                     / ((ts_lit(start) - pl.col("first")).dt.total_microseconds() / 1e6 + quiet)).clip(upper_bound=1.0))
            .to_series())


def _stands_out(quiet: float, gaps: pl.Series) -> bool:
    """The silence is improbable against the fleet's largest other quiet spells (silence.py's `_stands_out` for the
    fleet): at the mean of the largest sqrt(n) of its n others as an exponential tail's scale, in any of those
    places. A busy machine stalls its clients now and then (eviction-40: 40 pods at 148 records a second, none for
    88 ms, where its 52 largest other spells average 21 ms)."""
    others = pl.concat([gaps.filter(gaps > quiet), gaps.filter(gaps <= quiet).slice(1)])  # less the silence itself
    k = math.ceil(math.sqrt(others.len()))
    return others.len() > 0 and quiet >= float(others.head(k).mean()) * improbable_after(k)


def _may_stand_out(gaps: pl.Series) -> pl.Expr:
    """The runs `_stands_out` may pass, all at once: none is shorter than the mean of the largest sqrt(n) others
    less the longest at that test's bound (the few runs worth a baseline)."""
    k = math.ceil(math.sqrt(max(gaps.len() - 1, 1)))
    return (pl.col("quiet") > 0) & (pl.col("quiet") >= float(gaps.slice(1, k).mean() or 0.0) * improbable_after(k))


def _entity(events: pl.DataFrame) -> str:
    """The one Redis endpoint the clients or the server named (not a pod or deployment of the cluster's events)."""
    named = events.filter(pl.col("entity").str.starts_with("redis:")).get_column("entity").unique()
    return named[0] if named.len() == 1 else "redis:unknown"


def fleet_silences(events: pl.DataFrame) -> list[FleetSilence]:
    """Every silence of the whole client fleet confirmed by a catch-up (see the module docstring), in time order;
    with a scraper among the inputs, those it answered on time through."""
    scraped = events.get_column("metric").is_in(UP_METRICS).any()
    timed = events.select("event_id", "ts", "source", "kind", "host", "value", "entity").filter(
        pl.col("ts").is_not_null())
    spans = client_spans(timed.filter(~pl.col("kind").is_in(WAITS)))
    if spans.height < 2:
        return []
    span = (spans.get_column("until").max() - spans.get_column("ts").min()).total_seconds()
    server = timed.filter(pl.col("source") == "redis_server").get_column("ts").sort()
    accepted = timed.filter(pl.col("kind") == "redis.server.client_accepted").sort("ts")
    accepts, lines = per_second_accepts(accepted), per_second_lines(spans)
    hosts = tuple(sorted(set(timed.filter(~pl.col("source").is_in(NOT_CLIENTS)).get_column("host").drop_nulls())))
    found: list[FleetSilence] = []
    runs = _runs(spans)
    gaps = runs.get_column("quiet")
    for r in runs.filter(_may_stand_out(gaps)).iter_rows(named=True):
        start, quiet = r["seen"], r["quiet"]
        history, rate, before = rate_before(spans, start)
        need = improbable_after(span / quiet)
        if history < quiet or not _stands_out(quiet, gaps) or _pods_unlikely(spans, start, quiet) < need:
            continue
        logged = server.filter(server > start)
        if not scraped and logged.len() and logged[0] < start + timedelta(seconds=quiet / 2):
            continue  # the server logged on while its fleet was quiet
        first = r["nxt"].replace(microsecond=0)
        s = catch_up(accepts, lines, start, r["nxt"])
        if not (s["resume_accepts"] > s["peak_accepts"] or s["resume_lines"] > s["peak_lines"]):
            continue
        last_id = before.sort("until").get_column("event_id")[-1] if before.height else r["event_id"]
        # the server's resume within the catch-up's two seconds (a server log on another clock is no resume of theirs)
        after = accepted.filter((pl.col("ts") > start) & (pl.col("ts") < first + timedelta(seconds=2))).head(1)
        end, ids = (after.item(0, "ts"), (after.item(0, "event_id"),)) if after.height else (r["nxt"], ())
        answered_by = end if after.height else r["nxt_until"]
        entity = _entity(timed)
        ran = answered_through(events, entity, start, end) if scraped else None
        if scraped and ran is None:
            continue  # a scraper that did not answer through it: a stop is scrape_gaps.py's to find
        found.append(FleetSilence(
            entity=entity, start=start, end=end, answered_by=answered_by, quiet_s=quiet, client_rate=rate, hosts=hosts,
            event_ids=tuple(sorted({last_id, r["nxt_id"], *ids})), server_answered=ran, **s))
    return sorted(found, key=lambda f: f.start)
