"""A redis-server log that went silent while its clients kept sending: a server that stopped running.

A server stopped by SIGSTOP (or a frozen VM) refuses nobody, and clients without a socket timeout (or whose
requests outlast the pause) log no error: the only sign is the server's own log. A verbose server whose clients
connect per request logs a steady stream of `Accepted` / `Client closed connection` lines; while it is stopped it
logs none, and when it runs again it handles at once the connections queued meanwhile (per-request-pause-8: 32
lines a second, none for 2.0 s, then 94 in the resume's second). Every threshold is the incident's own:

* the silence is improbable at the server's own rate: at its median lines per second over the minute before
  (`BASELINE_S`), a run of no line that long has less than `SILENCE_CHANCE` chance anywhere in the log (lines
  arriving at random at that rate); a low-rate log's gaps are expected, and its silence is not one; and that rate
  was measured over at least `BASELINE_SILENCES` silences' lengths (a start-up burst is no rate);
* the silence stands out from the log's own quiet spells: a rate assumes lines arrive one by one, but a server
  on a busy machine stalls now and then and handles its backlog in one millisecond, so its quiet spells run longer
  than its rate implies. A spell is the gap from a second's last line to the next second's first while the clients
  logged in both (places chosen blind, in the incident's own traffic); the silence must be improbable in any of
  the log's largest sqrt(n) other spells at their mean as an exponential tail's scale (its own is no baseline).
  per-request-pause-12 (loaded machine): 7 lines in one millisecond after 182 ms of none, against 96 a second
  (improbable at that rate), where the log also went 129, 106 and 83 ms without a line: it needs 0.56 s; its 2.0 s
  pause needs 0.67 s, per-request-pause-8's (32 lines a second in bursts 0.17-0.23 s apart) 1.2 s;
* the server caught up when it resumed: the resume's second holds more lines than any second of that baseline
  (a bursty log's regular bursts reach its own peak; a stopped server's backlog goes past it), and its two seconds
  from the resume hold, past the baseline rate, at least `CATCH_UP_SHARE` of the lines the silence held back at
  that rate (per-request-pause-8 and -16: 62 and 33 of 65 and 64; the backlog is what the clients had in flight);
* its clients' work did not stop: their records from one silence length before it to one after are at least
  `DEMAND_SHARE` of what their own median rate over the baseline gives for those three lengths. The requests a
  stopped server held complete when it resumes, so clients that waited on it log their usual total (1.0 of it:
  per-request-pause-16's 16 pods, 24 records in the second after the resume); clients that went idle when the
  server went quiet log a third of it, before the silence only.

A silence runs from the server's last line before it (a churn row's time plus its span: a stopped server logs
nothing after it) to its first line after. Placing the last line at the baseline rate instead put
per-request-pause-16's and -12's 42 and 6 ms after the pause began and, in a 24-pod recording, a 10 ms gap at 78 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from postmortem.schema import event_weight

BASELINE_S = 60  # the server's and clients' rates are their medians over this many seconds before the silence
BASELINE_MIN_S = 3  # fewer seconds known before it: no baseline, no silence
# A rate is the server's own only over many silences' lengths: the baseline must span this many times the silence
# (or all of BASELINE_S). hang-8's server logged its fleet's pools filling at start-up (8 lines in 0.1 s), then
# nothing for 3.8 s: 4 lines a second over its 4 s of history is a start-up burst, not a rate a silence breaks.
BASELINE_SILENCES = 10
SILENCE_CHANCE = 0.01  # a silence must be less likely than this anywhere in the log at the server's own rate
DEMAND_SHARE = 0.5  # the clients' records around the silence, against what their median rate gives
CATCH_UP_SHARE = 0.5  # the lines past the usual rate in the resume's two seconds, against what the silence held back
RESTART_KINDS = ("redis.server.shutdown", "redis.server.start", "redis.server.ready")
# Records that are not the client fleet's own (the server, scrapes, cluster and slowlog dumps).
NOT_CLIENTS = ("redis_server", "metrics", "k8s_events", "k8s_controller", "redis_slowlog")


@dataclass(frozen=True)
class Silence:
    """A run of no line in one redis-server log while its clients kept sending, ended by a catch-up."""

    entity: str
    path: str
    start: datetime  # its last line before the silence (a churn row's: its time plus its span)
    end: datetime  # its first line after the silence (exact: a churn row keeps its first line's time)
    before_id: int  # the server's last event before the silence
    after_id: int  # its first event after it
    rate: float  # the server's median lines per second before it
    resume_lines: int  # lines in the resume's second
    peak_before: int  # the busiest second of the baseline
    client_rate: float  # the clients' median records per second before it
    client_records: int  # the clients' records from one silence length before it to one after
    hosts: tuple[str, ...]  # the client hosts (every host that logged, other than the server's and scrapes)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def improbable_after(windows: float | pl.Expr) -> float | pl.Expr:
    """Expected lines whose absence has less than SILENCE_CHANCE chance in any of `windows` places a silence of the
    same length could fall (Poisson: windows x e^-lines < SILENCE_CHANCE); scrape_gaps.py's late scrapes read it too.
    The places are the log's span over the silence's length: a 34 ms gap fits a thousand times into a 36 s log."""
    if isinstance(windows, pl.Expr):
        return (pl.max_horizontal(windows, pl.lit(1.0)) / SILENCE_CHANCE).log()
    return math.log(max(windows, 1.0) / SILENCE_CHANCE)


def _per_second(rows: pl.DataFrame, first: datetime, last: datetime, name: str) -> pl.DataFrame:
    """Weighted records per second on a full grid from `first` to `last` (empty seconds are 0)."""
    grid = pl.DataFrame({"sec": pl.datetime_range(first, last, "1s", time_unit="us", time_zone="UTC", eager=True)})
    counts = rows.group_by(sec=pl.col("ts").dt.truncate("1s")).agg(event_weight().sum().alias(name))
    return grid.join(counts.with_columns(pl.col("sec").cast(grid.schema["sec"])), on="sec", how="left").with_columns(
        pl.col(name).fill_null(0.0))


def _quiet_spells(rows: pl.DataFrame, grid: pl.DataFrame) -> pl.DataFrame:
    """Per second with lines (`sec`): the log's last line before it (`stopped`; a churn row's last line is its
    time plus its span), the quiet from there to the second's first line (`quiet`, seconds), and `spell`: that line
    fell in the second before and the clients logged in both seconds (a quiet spell across one boundary while they
    sent; a silence longer than a second, or the start and end of their traffic, is none)."""
    # late: correlate imports this module
    from postmortem.analysis.correlate import last_line

    sending = grid.select("sec", sending=(pl.col("c") > 0) & (pl.col("c").shift(1) > 0))
    spells = (rows.group_by(sec=pl.col("ts").dt.truncate("1s")).agg(first=pl.col("ts").min(), last=last_line().max())
              .sort("sec").select(
                  "sec", stopped=pl.col("last").shift(1),
                  quiet=(pl.col("first") - pl.col("last").shift(1)).dt.total_microseconds() / 1e6,
                  spell=(pl.col("sec").shift(1) == pl.col("sec") - pl.duration(seconds=1)).fill_null(False)))
    return spells.join(sending.with_columns(pl.col("sec").cast(spells.schema["sec"])), on="sec", how="left").select(
        "sec", "stopped", "quiet", spell=pl.col("spell") & pl.col("sending").fill_null(False))


def _stands_out(gap: float, sec: datetime, spells: pl.DataFrame) -> bool:
    """The silence is improbable against the log's largest other quiet spells (its own is no baseline for it): at
    the mean of the largest sqrt(n) of its n others as an exponential tail's scale, in any of those places. A
    server on a busy machine stalls now and then; a log that stalled as long elsewhere had no outage there."""
    others = spells.filter(pl.col("spell") & (pl.col("sec") != sec)).get_column("quiet").sort(descending=True)
    if others.len() < BASELINE_MIN_S:
        return False  # no baseline, no silence
    k = math.ceil(math.sqrt(others.len()))
    return gap >= float(others.head(k).mean()) * improbable_after(k)


def _log_silences(rows: pl.DataFrame, clients: pl.DataFrame) -> list[Silence]:
    rows = rows.sort(["ts", "line"])
    first, last = rows.get_column("ts").min().replace(microsecond=0), rows.get_column("ts").max()
    grid = _per_second(rows, first, last, "n").join(_per_second(clients, first, last, "c"), on="sec", how="left")
    # the baseline of a silence whose last lines fell in second s: the seconds before s
    grid = grid.with_columns(
        history=pl.int_range(pl.len()),
        rate=pl.col("n").rolling_median(BASELINE_S, min_samples=BASELINE_MIN_S).shift(1),
        peak=pl.col("n").rolling_max(BASELINE_S, min_samples=BASELINE_MIN_S).shift(1),
        client_rate=pl.col("c").fill_null(0.0).rolling_median(BASELINE_S, min_samples=BASELINE_MIN_S).shift(1),
    )
    span_s = float(grid.height)
    steps = rows.with_columns(sec=pl.col("ts").dt.truncate("1s")).with_columns(
        prev_sec=pl.col("sec").shift(1), prev_kind=pl.col("kind").shift(1),
        prev_id=pl.col("event_id").shift(1)).filter(pl.col("sec") > pl.col("prev_sec"))
    base = grid.select(prev_sec="sec", rate="rate", peak="peak", client_rate="client_rate", history="history")
    spells = _quiet_spells(rows, grid)
    steps = (steps.join(base, on="prev_sec", how="inner").join(spells, on="sec", how="inner")
             .join(grid.select(sec="sec", resume_n="n", resume_2s=pl.col("n") + pl.col("n").shift(-1).fill_null(0.0)),
                   on="sec", how="inner")
             .filter((pl.col("rate") > 0) & (pl.col("client_rate") > 0) & (pl.col("resume_n") > pl.col("peak"))
                     & ~pl.col("prev_kind").is_in(RESTART_KINDS) & ~pl.col("kind").is_in(RESTART_KINDS)))
    steps = steps.rename({"quiet": "gap"}).filter(
        (pl.col("gap") > 0)
        & (pl.col("gap") * pl.col("rate") >= improbable_after(span_s / pl.col("gap")))
        & (pl.col("history") >= pl.min_horizontal(pl.lit(BASELINE_S), BASELINE_SILENCES * pl.col("gap")))
        & (pl.col("resume_2s") - 2 * pl.col("rate") >= CATCH_UP_SHARE * pl.col("rate") * pl.col("gap")))
    out = []
    fleet = tuple(sorted(set(clients.get_column("host").drop_nulls().to_list())))
    for r in steps.iter_rows(named=True):
        length = timedelta(seconds=r["gap"])
        during = clients.filter((pl.col("ts") >= r["stopped"] - length) & (pl.col("ts") < r["ts"] + length))
        records = float(during.select(event_weight().sum()).item() or 0.0)
        if records < DEMAND_SHARE * r["client_rate"] * 3 * r["gap"] or not _stands_out(r["gap"], r["sec"], spells):
            continue
        out.append(Silence(
            entity=r["entity"] or "redis:unknown", path=r["path"], start=r["stopped"], end=r["ts"],
            before_id=r["prev_id"], after_id=r["event_id"], rate=float(r["rate"]), resume_lines=int(r["resume_n"]),
            peak_before=int(r["peak"]), client_rate=float(r["client_rate"]), client_records=int(records),
            hosts=fleet))
    return out


def server_silences(events: pl.DataFrame) -> list[Silence]:
    """Every silence of every redis-server log (see the module docstring), in time order."""
    timed = events.filter(pl.col("ts").is_not_null())
    servers = timed.filter(pl.col("source") == "redis_server")
    if servers.height == 0:
        return []
    clients = timed.filter(~pl.col("source").is_in(NOT_CLIENTS) & pl.col("host").is_not_null())
    if clients.height == 0:
        return []
    found: list[Silence] = []
    for (_path,), rows in servers.group_by(["path"], maintain_order=True):
        found += _log_silences(rows, clients)
    return sorted(found, key=lambda s: (s.start, s.path))
