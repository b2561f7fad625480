"""Correlation context: what every detector needs to know about the incident as a whole.

Built once per analysis from the events table and the input accounting: the incident window, the
outage windows per Redis endpoint (the trigger), which hosts talk to which endpoint, per-second
connection-attempt rates with their baseline, and the client configurations that were logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.fleet_connect import CHURN_KINDS
from postmortem.analysis.fleet_silence import FleetSilence, fleet_silences
from postmortem.analysis.last_seen import unseen_since
from postmortem.analysis.resets import ResetBurst, reset_bursts
from postmortem.analysis.scrape_gaps import UP_METRICS, LateScrape, late_scrapes
from postmortem.analysis.server_ran import answered_through
from postmortem.analysis.silence import NOT_CLIENTS, Silence, server_silences
from postmortem.kinds import KINDS
from postmortem.model import InputFile
from postmortem.schema import CLIENT_SOURCES, event_weight, ts_lit

ERROR_LEVELS = ("warning", "error", "critical")
REDIS_SOURCES = ("stackexchange_redis", "redis_py", "redis_server")

# Client-side signs that an endpoint could not be reached (not: server full, slow replies).
UNREACHABLE_KINDS = KINDS.with_flag("unreachable")
# Every client or server record of a connection attempt (a server churn row may stand for many: weigh it).
ATTEMPT_KINDS = KINDS.with_flag("attempt")
OUTAGE_GAP = timedelta(seconds=15)  # failures closer than this belong to one outage
HANG_GAP = timedelta(seconds=2)  # timeouts closer than this are one burst
# client records of a reply from a listening server (a full one's refusal of service, a connection restored)
ANSWERED_KINDS = ("redis.max_clients", "redis.connection_restored")
HANG_SHARE = 0.5  # a burst of timeouts from at least this share of the client pods is a hang, not slowness


@dataclass(frozen=True)
class Outage:
    """A window in which clients could not reach an endpoint."""

    entity: str
    start: datetime
    end: datetime
    event_ids: tuple[int, ...]  # the failures (and server edges) that bound it
    hosts: tuple[str, ...]
    server_down: datetime | None = None  # server shutdown / crash, when logged
    server_up: datetime | None = None  # server ready again, when logged
    restored: datetime | None = None  # first client-side restore/success after the failures
    start_unknown: bool = False  # a hang whose clients logged no socket timeout: it began before its first timeout
    # a hang with no server log whose end is the next answered scrape's begin: it lasted at least that long
    end_unknown: bool = False
    silence: Silence | None = None  # seen by the server's log going silent while its clients kept sending (silence.py)
    late_scrape: LateScrape | None = None  # seen as a scrape answered late while its clients went silent (scrape_gaps.py)
    scraped: bool = False  # a hang whose only sign was an unanswered scrape: its timeouts are the calls it held
    fleet_silence: FleetSilence | None = None  # seen as the whole fleet's silence (fleet_silence.py)
    resumed: datetime | None = None  # a hang's end at the server's logged resume, its fleet's failures agreeing (_hang_end)
    # scrapes the server answered on time through it, no shutdown or ready line logged: the path to it failed, not the
    # server (server_ran.py); None when not seen so
    server_answered: int | None = None
    reset: ResetBurst | None = None  # seen as the clients' connections reset together in the server's log (resets.py)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Context:
    inputs: list[InputFile]
    window_start: datetime | None = None
    window_end: datetime | None = None
    assumptions: list[str] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    endpoint_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    attempts_per_second: pl.DataFrame | None = None  # columns: second, attempts, hosts
    attempt_baseline: float = 0.0  # median attempts/s before the first outage (0 when unknown)
    configs: pl.DataFrame | None = None  # redis.config events with attrs
    extras: dict = field(default_factory=dict)


PROBLEM_COLUMNS = ("level", "kind")  # what `is_problem()` reads: select them with a caller's own columns
INCIDENT_COLUMNS = (*PROBLEM_COLUMNS, "source", "path", "ts")  # what `incident_problems()` reads


def is_problem() -> pl.Expr:
    """Events that signal trouble: warning and above (unless the kind is `routine`, such as the server's
    start banner), or a kind declared `problem` (client failures)."""
    return (pl.col("level").cast(pl.String).is_in(ERROR_LEVELS) & ~KINDS.flag_expr("routine")) | KINDS.problem_expr()


def attr(name: str, dtype: pl.DataType = pl.String) -> pl.Expr:
    """One field of the `attrs` JSON column (null when absent)."""
    return pl.col("attrs").str.json_path_match(f"$['{name}']").cast(dtype, strict=False)


def attrs_of(row_attrs: str | None) -> dict:
    try:
        value = json.loads(row_attrs or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def starting_up(timed: pl.DataFrame) -> pl.Expr:
    """redis-server lines of a server still starting (after its start banner, before its ready line): its
    `#` marker puts the version, config and host-tuning warnings at warning level, but they are the boot
    sequence, not a sign of the incident."""
    edges = timed.filter(pl.col("kind").is_in(["redis.server.start", "redis.server.ready"])).select(
        "path", "ts", edge=pl.col("kind")).sort("ts")
    if edges.height == 0:
        return pl.lit(False)
    spans = edges.with_columns(nxt=pl.col("edge").shift(-1).over("path"), until=pl.col("ts").shift(-1).over("path"))
    booting = spans.filter((pl.col("edge") == "redis.server.start") & (pl.col("nxt") == "redis.server.ready"))
    cond = pl.lit(False)
    for r in booting.iter_rows(named=True):
        cond = cond | ((pl.col("path") == r["path"]) & pl.col("ts").is_between(ts_lit(r["ts"]), ts_lit(r["until"])))
    return (pl.col("source") == "redis_server") & cond


def incident_problems(events: pl.DataFrame) -> pl.DataFrame:
    """The problem rows that belong to the incident: `is_problem()` without a server's boot sequence or its final stop
    after the incident (`final_stop`). Every section that says when trouble began or ended (window, first sign,
    timeline, last problem, impact) reads these."""
    problems = events.filter(is_problem())
    if problems.height == 0:
        return problems
    edges = events.filter(pl.col("kind").is_in(["redis.server.start", "redis.server.ready"]) & pl.col("ts").is_not_null())
    problems = problems.filter(~starting_up(edges)) if edges.height else problems
    return problems.filter(~final_stop(problems, edges))


def final_stop(problems: pl.DataFrame, edges: pl.DataFrame) -> pl.Expr:
    """A server log's last shutdown, and its lines after it, when it came after the incident: no start or ready line
    after it, no other input's problem from it on, and problems before it. The operator stopping Redis once the
    incident was over (every recording ends so) is not the incident: it ran the window to the final shutdown
    (blind slow-nocfg-28: 8.5 s for a 5.9 s KEYS). A shutdown its clients failed after, or the only trouble logged, stays."""
    downs = problems.filter(pl.col("kind") == "redis.server.shutdown").group_by("path").agg(pl.col("ts").min())
    cond = pl.lit(False)
    for path, _ in downs.iter_rows():
        up = edges.filter(pl.col("path") == path).get_column("ts").max()
        mine = problems.filter((pl.col("path") == path) & (pl.col("kind") == "redis.server.shutdown")
                               & (pl.col("ts") > ts_lit(up) if up is not None else pl.lit(True)))
        first = mine.get_column("ts").min()
        if first is None:
            continue
        after = problems.filter((pl.col("path") != path) & (pl.col("ts") >= ts_lit(first))).height
        before = problems.filter(pl.col("ts") < ts_lit(first)).height
        if before and not after:
            cond = cond | ((pl.col("path") == path) & (pl.col("ts") >= ts_lit(first)))
    return cond


def incident_window(events: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    """The span of problem events (not a server's boot sequence); the whole span of timed events when
    there are none."""
    # rows without a time are left in (min and max skip them, and no problem row's time depends on them): a filter of
    # the timed rows first copied the whole table's five columns (+50 MiB on the dense 1 GiB log)
    problems = incident_problems(events.select("ts", "level", "kind", "source", "path")).get_column("ts")
    base = problems if problems.null_count() < problems.len() else events.get_column("ts")
    return base.min(), base.max()


def _endpoint(expr: pl.Expr) -> pl.Expr:
    return pl.coalesce(expr, pl.lit("redis:unknown"))


def _server_edges(events: pl.DataFrame) -> pl.DataFrame:
    return events.filter(
        pl.col("kind").is_in(["redis.server.shutdown", "redis.server.start", "redis.server.ready"])
        & pl.col("ts").is_not_null()
    ).sort("ts")


def hang_timeouts(events: pl.DataFrame) -> pl.Series:
    """The `event_id`s of the command timeouts that are an outage's first sign: bursts (gaps under HANG_GAP) in which
    at least HANG_SHARE of the client pods (and two) timed out at once. A server that stops answering without
    refusing (a hang, SIGSTOP, a blocking command) shows only this. Only the columns a burst reads are kept: on a
    dense log the timeouts are most of the rows, and a filter or sort copies every column it keeps."""
    timeouts = events.select("event_id", "source", "kind", "host", "ts").filter(
        pl.col("source").is_in(CLIENT_SOURCES) & (pl.col("kind") == "redis.timeout") & pl.col("ts").is_not_null()
    ).select("event_id", "host", "ts").sort("ts")
    if timeouts.height == 0:
        return timeouts.get_column("event_id")
    # the fleet is every pod that logged, not only those that logged a Redis client's line: a fleet that logs no
    # client configuration names the client only in its failures (per-request paused 2.0 s, 1 s socket timeouts, no
    # configuration logged, 8 pods: 2 held calls timed out on 2 pods, "a fleet" of 2 that all timed out)
    fleet = events.select("source", "host").filter(~pl.col("source").is_in(NOT_CLIENTS)).get_column("host").drop_nulls().n_unique()
    need = max(2, int(fleet * HANG_SHARE + 0.999))
    bursts = timeouts.with_columns(
        burst=(pl.col("ts").diff().fill_null(HANG_GAP * 2) > HANG_GAP).cast(pl.UInt32).cum_sum()
    )
    wide = bursts.group_by("burst").agg(pl.col("host").drop_nulls().n_unique().alias("pods")).filter(
        pl.col("pods") >= need).get_column("burst")
    return bursts.filter(pl.col("burst").is_in(wide.implode())).get_column("event_id")


def hang_began(events: pl.DataFrame, failures: pl.DataFrame) -> datetime | None:
    """When a hang began, from its timeouts: each was sent one socket timeout (the `socket_timeout` its pod's
    redis-py configuration line logged) before it was logged, so the earliest such send; None when no timed-out pod
    logged one. Retries only make a timeout later, so this never starts the window before the server stopped."""
    sent = _timeout_sent(events, failures)
    return sent.get_column("sent").min() if sent.height else None


def _timeout_sent(events: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """(event_id, sent) of each timeout in `failures` whose pod logged the timeout it waited out: a command's
    (`socket_timeout`) or a connect's (`socket_connect_timeout`, redis-py's `Timeout connecting to server`: a paused
    server's kernel completes the handshake and the process answers nothing): the call or connect (its last try) was
    sent that long before the timeout was logged (hang-48: 29 connect timeouts logged up to 0.5 s after the resume)."""
    configs = events.filter((pl.col("kind") == "redis.config") & pl.col("host").is_not_null())
    out = []
    connects = failures.filter(pl.col("kind").is_in(UNREACHABLE_KINDS)).select("event_id", "host", "ts")
    if connects.height:  # a connect timeout is told by its attrs (`unanswered_connect`), read for these rows only
        told = (events.select("event_id", "kind", "attrs")
                .filter(pl.col("event_id").is_in(connects.get_column("event_id").implode()))
                .filter(unanswered_connect()))  # two filters: the JSON path over these rows, not the table
        connects = connects.filter(pl.col("event_id").is_in(told.get_column("event_id").implode()))
    for waits, setting in ((failures.filter(pl.col("kind") == "redis.timeout"), "socket_timeout"),
                           (connects, "socket_connect_timeout")):
        logged = (configs.with_columns(timeout_s=attr(setting, pl.Float64))
                  .filter(pl.col("timeout_s") > 0).group_by("host").agg(pl.col("timeout_s").min()))
        out.append(waits.select("event_id", "host", "ts").join(logged, on="host").select(
            "event_id", sent=pl.col("ts") - pl.duration(microseconds=(pl.col("timeout_s") * 1e6).cast(pl.Int64))))
    return pl.concat(out)


def last_line() -> pl.Expr:
    """A row's last log line: a summarized row (parsers/churn.py) spans `span_s` from its time."""
    return pl.col("ts") + pl.duration(microseconds=(attr("span_s", pl.Float64).fill_null(0.0) * 1e6).round()
                                      .cast(pl.Int64))


def alive_before_hang(events: pl.DataFrame, entity: str, g: pl.DataFrame) -> datetime | None:
    """The server's last log line before its clients' first timeout in the hang `g`: a stopped server logs nothing,
    so it ran until then, however early the first timed-out call was sent or a failed scrape began (hang-36: a
    0.5 s timeout logged at 09.356 sent at 08.856, a scrape begun at 09.048, the server accepting until 09.259,
    paused at 09.261). Only when its clock agrees with the clients' (the `_last_refusals` pattern; a skew inside the
    clock margin is left uncorrected): its next line, the resume, must come after the median pod's first timeout and
    before the median pod worked again (its first record after the first timeout that is no failure; a per-second
    row's whole second). A log ahead would start the window late by its skew; one behind has its resume's lines
    before the first timeout and no line until long after the pods worked again (busy-cfg-pause-16 moved 1.5 s
    either way: 0.18 s late, and at the resume). None without such a line or a line after it."""
    clients = g.filter(pl.col("source").is_in(CLIENT_SOURCES) & pl.col("host").is_not_null())
    if clients.height == 0:
        return None
    first = clients.get_column("ts").min()
    server = events.select("ts", "source", "entity", "attrs").filter(
        (pl.col("source") == "redis_server") & pl.col("ts").is_not_null()
        & (pl.col("entity").is_null() | (pl.col("entity") == entity)))
    # a summarized row that straddles the first timeout: its first line before it, its last after (slow-nocfg-16: the
    # KEYS client's accept at .324, the resume's at .921 in one row), as a row per line reads
    rows = server.filter(pl.col("ts") < first).select("ts", last=last_line())
    alive = rows.select(pl.when(pl.col("last") < first).then(pl.col("last")).otherwise(pl.col("ts")).max()).item()
    after = min((t for t in (server.filter(pl.col("ts") >= first).get_column("ts").min(),
                             rows.filter(pl.col("last") >= first).get_column("last").min()) if t is not None), default=None)
    if alive is None or after is None:  # no silence of its own around the first timeout
        return None
    # late: clocks imports this module
    from postmortem.analysis.clocks import LOSS, PER_SECOND

    timed_out = clients.group_by("host").agg(pl.col("ts").min()).get_column("ts").sort()
    worked = (events.select("ts", "source", "kind", "level", "host").filter(
        ~pl.col("source").is_in(NOT_CLIENTS) & pl.col("host").is_not_null() & (pl.col("ts") > first)
        & ~pl.col("kind").is_in(LOSS) & (pl.col("level") < "warning"))
        .group_by("host").agg(pl.when(pl.col("kind") == PER_SECOND).then(pl.col("ts") + timedelta(seconds=1))
                              .otherwise(pl.col("ts")).min()).get_column("ts").sort())
    agrees = timed_out[(timed_out.len() - 1) // 2] <= after and (worked.len() == 0 or after <= worked[(worked.len() - 1) // 2])
    return alive if agrees else None


def _sent_by_first_wait(events: pl.DataFrame, entity: str, g: pl.DataFrame, seen: datetime,
                        waits: pl.DataFrame) -> pl.DataFrame:
    """(event_id, sent) of the timeouts in `waits` whose pod logged no timeout setting: each waited at most as long as
    the hang's first timeout of its kind (command or connect) came after the server's last line before the clients'
    first failure (a stopped server logs nothing, so it stopped after that line and nothing sent since was answered).
    An upper bound on the wait makes `sent` a lower bound: slow-nocfg-32's 0.66 s for a 0.5 s socket_timeout, whose
    held calls timed out up to 0.5 s after the 5.2 s KEYS ended and ran the window 0.5 s past it."""
    out = [waits.select("event_id", sent=pl.col("ts")).clear()]
    quiet = _last_server_line(events, entity, seen) if waits.height else None
    for kind in (pl.col("kind") == "redis.timeout", pl.col("kind").is_in(UNREACHABLE_KINDS)):
        first = g.filter(kind & pl.col("source").is_in(CLIENT_SOURCES)).get_column("ts").min()
        if quiet is not None and first is not None and first > quiet:
            out.append(waits.filter(kind).select("event_id", sent=pl.col("ts") - (first - quiet)))
    return pl.concat(out)


def _last_server_line(events: pl.DataFrame, entity: str, before: datetime) -> datetime | None:
    """The last line the server `entity` logged before `before` (a summarized row's last line: its time plus its span,
    when that too came before)."""
    rows = events.select("source", "entity", "ts", "attrs").filter(
        (pl.col("source") == "redis_server") & (pl.col("ts") < before)
        & (pl.col("entity").is_null() | (pl.col("entity") == entity)))
    if rows.height == 0:
        return None
    return rows.select(pl.when(last_line() < before).then(last_line()).otherwise(pl.col("ts")).max()).item()


def silent_until(events: pl.DataFrame, entity: str, after: datetime) -> datetime | None:
    """When the server `entity` ran again after `after` having logged nothing since: its first line after `after`, when
    that line accepted or closed a connection (the server at work on its sockets; slow-pause-nocfg-20's first after its
    pause closed one). None when it logged no line after it, a summarized row straddles `after` (parsers/churn.py: its
    lines fall anywhere in its span), or its first line is of another kind: such a line may carry a coarser time than
    its place (redis-server's signal handler stamps whole epoch seconds: slow-w1-40's SIGTERM, logged after a line at
    35.883, reads 35.000)."""
    rows = events.select("source", "kind", "entity", "ts", "line", "attrs").filter(
        (pl.col("source") == "redis_server") & pl.col("ts").is_not_null()
        & (pl.col("entity").is_null() | (pl.col("entity") == entity))
        & (pl.col("ts") > ts_lit(after - timedelta(seconds=1))))  # a summarized row is one second's lines
    if rows.filter((pl.col("ts") <= ts_lit(after)) & (last_line() > after)).height:
        return None
    later = rows.filter(pl.col("ts") > ts_lit(after)).sort("ts", "line")
    if later.height == 0 or later.item(0, "kind") not in CHURN_KINDS:
        return None
    return later.item(0, "ts")


def resumed_after_hang(events: pl.DataFrame, entity: str, first: datetime, last: datetime) -> datetime | None:
    """When a server that stopped answering (timeouts only, no refusal) answered again: the first connection its
    log shows it accepting after the first timeout, within OUTAGE_GAP of the last. A stopped server (SIGSTOP, a
    blocking command) accepts nothing; the connects its clients queued meanwhile are accepted when it resumes.
    The last timeout alone ends the window one client timeout too early, or seconds early when the clients' waits
    ran into their pools instead (busy-pause-8: timeouts span 0.3 s of a 4.0 s pause). An accept that a stall of
    the server's own log follows (its resume burst, `clocks.resume_bursts`) is the last line before the stall, not
    the resume: a skew inside the clock margin, left uncorrected, can put it after the first timeout (slow-8's log
    2.1 s ahead: the KEYS client's accept, then the 2.4 s the KEYS ran, then the resume's 120 accepts)."""
    found = first_accepted(events, entity, first, last + OUTAGE_GAP)
    return None if found is None else _stall_after(events, entity, found, last + OUTAGE_GAP) or found


def _stall_after(events: pl.DataFrame, entity: str, line: datetime, until: datetime) -> datetime | None:
    """The end of the first stall of the server `entity`'s log that began at or after `line` and ended by `until`."""
    from postmortem.analysis.clocks import AGREE_S, resume_bursts  # late: clocks imports this module

    server = events.select("ts", "line", "kind", "value", "source", "entity").filter(
        (pl.col("source") == "redis_server") & pl.col("ts").is_between(ts_lit(line), ts_lit(until))
        & (pl.col("entity").is_null() | (pl.col("entity") == entity)))
    return next((end["ts"] for end, before in resume_bursts(server, AGREE_S) if before["ts"] >= line), None)


def first_accepted(events: pl.DataFrame, entity: str, after: datetime, until: datetime) -> datetime | None:
    """The first connection the server `entity` logged accepting after `after`, up to `until`: the server answering.

    A summarized row (one second's accepts, parsers/churn.py) that began before `after` and ended after it holds
    accepts on both sides of the stall (slow-nocfg-16: one at .324, the KEYS until .921, 27 at .921): its last
    accept is the one known to come after, so the server answered by then."""
    accepted = events.select("kind", "ts", "entity", "attrs").filter(
        (pl.col("kind") == "redis.server.client_accepted") & (pl.col("ts") <= ts_lit(until))
        & (pl.col("ts") > ts_lit(after - timedelta(seconds=1)))  # a summarized row is one second's lines
        & (pl.col("entity").is_null() | (pl.col("entity") == entity)))
    last = last_line()
    answered = accepted.select(pl.when(pl.col("ts") > after).then(pl.col("ts")).when(last > after).then(last)
                               .alias("ts")).drop_nulls()
    return answered.get_column("ts").min() if answered.height else None


def scrapes_stopped(events: pl.DataFrame, entity: str, failures: pl.DataFrame) -> datetime | None:
    """When a server that stopped answering stopped, from its scrapes: when a window's first sign is an unanswered
    scrape that came more than 1.5 of the scraper's own interval (its median between answered scrapes) after the last
    answered one, the scrapes due between them never came back (a stopped server keeps a scrape waiting) and it stopped
    right after that last answer. A scraper that keeps one scrape a second (storm-pause-8 and -16 as first recorded) has
    its first `redis_up` 0 only when the server already refused the reconnect flood after its resume; None otherwise."""
    first = failures.sort("ts").row(0, named=True)
    if first["metric"] not in UP_METRICS:
        return None
    answered = events.filter(pl.col("metric").is_in(UP_METRICS) & (pl.col("value") > 0) & (pl.col("ts") < first["ts"])
                             & (pl.col("entity").is_null() | (pl.col("entity") == entity))).get_column("ts").sort()
    if answered.len() < 3:
        return None
    interval = answered.diff().drop_nulls().median()
    return answered[-1] if first["ts"] - answered[-1] > 1.5 * interval else None


def unanswered_connect() -> pl.Expr:
    """A client's connect that timed out (redis-py's `Timeout connecting to server`, attrs `timeout`): the server did
    not answer it, as a stopped one does not; not a refusal or a dropped connection. A fleet re-opening its pools when
    a paused server resumes has some connects wait out their timeout (hang-nocfg-32: 7 of 201 failures). A JSON path
    per row: filter the unreachable rows first (a dense log's ~1 kB timeouts are most of the table)."""
    return pl.col("kind").is_in(UNREACHABLE_KINDS) & (attr("timeout") == "true").fill_null(False)


def _unanswered_scrapes(events: pl.DataFrame) -> pl.DataFrame:
    """Exporter samples saying the server did not answer (`redis_up 0`)."""
    return events.select(OUTAGE_COLUMNS).filter(pl.col("metric").is_in(UP_METRICS) & (pl.col("value") == 0)
                                                & pl.col("ts").is_not_null())


# What an outage's failure rows are read for (a filter copies every column of the rows it keeps, and a dense
# log's client timeouts carry ~1 kB of message and attrs each)
OUTAGE_COLUMNS = ("event_id", "ts", "source", "kind", "entity", "host", "metric", "value")


def find_outages(events: pl.DataFrame) -> list[Outage]:
    """Outage windows per endpoint, from the first sign: a client that cannot connect or lost its
    connection, a burst of timeouts across the fleet (a hang), a scrape the server did not answer, or the
    server's own shutdown line; to the server ready again / the last failure."""
    client_unreachable = pl.col("source").is_in(CLIENT_SOURCES) & pl.col("kind").is_in(UNREACHABLE_KINDS)
    unreachable = events.select(*OUTAGE_COLUMNS, "attrs").filter(client_unreachable)
    # the JSON read only over those rows (a dense log's ~1 kB timeouts are most of the table)
    unanswered = unreachable.filter(unanswered_connect()).get_column("event_id")
    signs = pl.concat([unreachable.filter(pl.col("ts").is_not_null()).get_column("event_id"), hang_timeouts(events),
                       _unanswered_scrapes(events).get_column("event_id")])
    del unreachable
    # each first sign's row once, by time: the analysed table is in time order, ties in its order (a unique and a
    # sort of the three copied the rows twice, +180 MiB on the dense 1 GiB log, and left ties in no set order)
    fails = events.select(OUTAGE_COLUMNS).filter(pl.col("event_id").is_in(signs.implode()))
    if not fails.get_column("ts").is_sorted():  # a table built by hand
        fails = fails.sort("ts", maintain_order=True)
    fails = _configured_endpoint(events, fails)
    known = fails.get_column("entity").drop_nulls().unique()
    if known.len() == 1:  # a failure that names no endpoint belongs to the only endpoint there is
        fails = fails.with_columns(entity=pl.coalesce("entity", pl.lit(known[0])))
    fails = fails.with_columns(entity=_endpoint(pl.col("entity")))
    edges = _server_edges(events)
    restores = events.filter(pl.col("kind") == "redis.connection_restored").sort("ts")
    outages: list[Outage] = []
    silences = server_silences(events)
    logged = events.get_column("source").eq("redis_server").any()  # a server log says when it resumed
    if fails.height:
        fails = fails.with_columns(
            group=(pl.col("ts").diff().over("entity").fill_null(OUTAGE_GAP * 2) > OUTAGE_GAP)
            .cast(pl.UInt32).cum_sum().over("entity")
        )
        for (entity, _), g in _groups(fails):
            start, end = g.get_column("ts").min(), g.get_column("ts").max()
            up = edges.filter((pl.col("kind").is_in(["redis.server.ready", "redis.server.start"]))
                              & (pl.col("ts") >= ts_lit(start)) & (pl.col("ts") <= ts_lit(end + timedelta(minutes=2))))
            server_up = None
            if up.height:
                ready = up.filter(pl.col("kind") == "redis.server.ready")
                server_up = (ready if ready.height else up).get_column("ts").min()
            down = outage_shutdown(edges, start, server_up if server_up is not None else end)
            server_down = down.get_column("ts").max() if down.height else None
            rest = restores.filter(pl.col("ts") >= start)
            restored = rest.get_column("ts").min() if rest.height else None
            # Timeouts only, no restart: the server stopped answering (a shutdown after them is not this window's).
            quiet, scraped, alive, waited, resumed = None, False, None, None, None
            hung = (server_up is None and server_down is None
                    and not (g.get_column("kind").is_in(UNREACHABLE_KINDS) & ~g.get_column("event_id").is_in(unanswered.implode())).any())
            sent = hang_began(events, g) if hung else None
            stopped = scrapes_stopped(events, entity, g) if hung else None
            refused = _last_refusals(events, g, server_up)
            behind = refused is not None and refused[(len(refused) - 1) // 2] > server_up
            # without the server's ready line, a reply only a listening server gives still ends the window: the
            # scrapes it refused at maxclients are the storm, not the outage (scaleout-nocfg-44 without its log: 10.9 s)
            answered = None if behind else _answered_before(events, entity, start, server_up or end)
            if server_up is None and answered is not None:
                refused = _refused_before(events, g, answered)
            o_start = min(x for x in (start, None if behind else server_down, sent, stopped) if x is not None)
            if hung:  # its own log shows it alive after a call it left unanswered was sent (or a scrape), or last
                alive = alive_before_hang(events, entity, g)  # seen answering long before a late first sign
                if alive is not None and answered_through(events, entity, min(alive, o_start), end) is not None:
                    alive = None  # it ran on, answering its scraper: its last line is no stop (server_ran.py)
                if alive is not None and alive < o_start:
                    seen = g.filter(pl.col("source").is_in(CLIENT_SOURCES)).get_column("ts").min()
                    back = resumed_after_hang(events, entity, seen, end) or end
                    o_start = alive if unseen_since(events, alive, o_start, back) else o_start
                elif alive is not None:
                    o_start = alive
            o_end = server_up if server_up is not None and server_up >= o_start else end
            if behind:  # the clients were refused until their last refusal, whatever the log's ready line says
                o_end = max(o_end, refused[-1])
            elif answered is not None:  # ... and answered from their first reply, however late the ready line
                o_end = refused[-1] if refused and refused[-1] <= answered else answered
            if restored is not None and restored < o_end and server_up is None:
                o_end = restored
            if hung:  # scrapes refused after the resume are the server full, not more of this window (_hang_end)
                o_end, resumed = _hang_end(events, entity, g, start, o_end)
            if hung or answered is not None:
                g = g.filter(~pl.col("metric").is_in(UP_METRICS).fill_null(False) | (pl.col("ts") <= o_end))
            if hung:
                scraped = not g.get_column("source").is_in(CLIENT_SOURCES).any()  # a scrape its only sign
                if scraped:
                    quiet = _scrape_silence(events, entity, g, silences)
                    if quiet is not None:  # the server's own lines bound it, not a scrape's begin (_scrape_silence)
                        o_start, o_end = quiet.start, quiet.end
                    elif not logged:  # a reply only a listening server gives bounds it from above (a storm's)
                        waited = _scraper_waited(events, entity, g, o_end)
                        reply = _answered_before(events, entity, start, end + OUTAGE_GAP)
                        if waited is not None and reply is not None and reply < waited:
                            waited = None
                            o_end = max(o_end, reply)
                        o_end = waited or o_end
                    held = held_calls(events, entity, o_start, max(o_end, o_start))
                    g = pl.concat([g, held.with_columns(group=pl.lit(g.item(0, "group")))], how="vertical_relaxed")
                    began = hang_began(events, held) if held.height else None  # a held call sent before the scrape
                    if quiet is None and began is not None and began < o_start:
                        o_start = max(began, alive_before_hang(events, entity, g) or began)
            # sorted and unique in polars: a Python set of a dense log's outage ids was +30 MiB
            ids = pl.concat([g.get_column("event_id"), down.get_column("event_id"), up.get_column("event_id")]).sort()
            ids = ids.filter((ids.diff() != 0).fill_null(True)).to_list()  # unique once sorted: no hash table
            clients = g.filter(pl.col("source").is_in(CLIENT_SOURCES))
            # a start at the server's last line before the stop is known, however late the first timeout
            at_line = o_start == (quiet.start if quiet is not None else alive if hung else None)
            outages.append(Outage(
                entity=entity, start=o_start, end=max(o_end, o_start), event_ids=tuple(ids),
                hosts=tuple(sorted(set(clients.get_column("host").drop_nulls().to_list()))),
                server_down=server_down, server_up=server_up, restored=restored,
                start_unknown=hung and sent is None and g.get_column("kind")[0] == "redis.timeout" and not at_line,
                end_unknown=waited is not None,
                silence=quiet, scraped=hung and scraped,
                resumed=resumed if resumed is not None and resumed == max(o_end, o_start) else None,
            ))
    elif edges.height:
        # Server-only evidence: shutdown followed by a start/ready.
        rows = edges.select("event_id", "ts", "kind").to_dicts()
        for i, r in enumerate(rows):
            if r["kind"] != "redis.server.shutdown":
                continue
            nxt = next((x for x in rows[i + 1:] if x["kind"] in ("redis.server.ready", "redis.server.start")), None)
            if nxt is None:
                continue
            outages.append(Outage(entity="redis:server", start=r["ts"], end=nxt["ts"],
                                  event_ids=(r["event_id"], nxt["event_id"]), hosts=(),
                                  server_down=r["ts"], server_up=nxt["ts"]))
    outages += [_silent_outage(events, s) for s in silences if not _covered(s, outages)]
    outages.sort(key=lambda o: (o.start, o.entity))
    return outages


def outage_shutdown(edges: pl.DataFrame, start: datetime, back: datetime) -> pl.DataFrame:
    """The server's shutdown lines that belong to an outage whose first failure is `start`: near it, and not after
    the server was back at `back` (its ready line, else the last failure), so the latest is the last before the ready
    line. A run stopped within 5 s of the first failure put its final shutdown there, after the server was back
    (storm-32: 18:57:27 for a server back at 18:57:24.7), and a pause has no shutdown of its own (hang-40). The
    replay's outage window reads the same rule."""
    return edges.filter((pl.col("kind") == "redis.server.shutdown") & (pl.col("ts") <= ts_lit(start + timedelta(seconds=5)))
                        & (pl.col("ts") >= ts_lit(start - timedelta(minutes=2))) & (pl.col("ts") <= ts_lit(back)))


def refused_connect() -> pl.Expr:
    """A client's connect the server refused (nothing listened): not a timeout, a full server or a lost connection."""
    return (pl.col("kind") == "redis.connect_failed") & pl.col("message").fill_null("").str.contains(
        r"(?i)refused")  # "Connection refused", ECONNREFUSED, "actively refused it"


def _last_refusals(events: pl.DataFrame, g: pl.DataFrame, ready: datetime | None) -> list[datetime] | None:
    """Each pod's last refused connect in the outage `g`, sorted; None without a ready line or a refusal. A connect
    is refused only before the server listens (clocks' upper bound): when the median pod's last refusal comes after
    the ready line, the server log is behind its clients. Left uncorrected inside the clock margin, such a log would
    move the window's start to its shutdown and its end to its ready line by its skew (pair-storm-24 1.1 s behind, no
    exporter: PM402's window moved 3.1 s; storm: errors "after Redis was back", PM102); the clients place them."""
    if ready is None:
        return None
    last = (events.select("event_id", "kind", "host", "ts", "message")
            .filter(pl.col("event_id").is_in(g.get_column("event_id").implode()))
            .filter(refused_connect() & pl.col("host").is_not_null()).group_by("host").agg(pl.col("ts").max()))
    return last.get_column("ts").sort().to_list() if last.height else None


def _scraper_waited(events: pl.DataFrame, entity: str, g: pl.DataFrame, end: datetime) -> datetime | None:
    """When the scraper began its first answered scrape after the hang `g`'s last unanswered one, if after `end`: a
    scraper takes its next scrape once the unanswered one gave up, so the server answered none of its scrapes until
    then, a lower bound of the resume (a scrape is stamped when it began). Without the server's log the window ended
    at its last sign instead: healthy-pause-kolkata-48 without its log, a 0.0 s outage for a 3.0 s pause."""
    failed = g.filter(pl.col("metric").is_in(UP_METRICS)).get_column("ts")
    if failed.len() == 0:
        return None
    nxt = events.filter(pl.col("metric").is_in(UP_METRICS) & (pl.col("value") > 0) & (pl.col("ts") > failed.max())
                        & (pl.col("entity").is_null() | (pl.col("entity") == entity))).get_column("ts")
    return nxt.min() if nxt.len() and nxt.min() > end else None


def _refused_before(events: pl.DataFrame, g: pl.DataFrame, answered: datetime) -> list[datetime] | None:
    """The refused connects of the outage `g` up to the first reply `answered`, sorted; None without one. With no
    server log to say when it listened again, the server came back between the last of them and that reply."""
    refused = (events.select("event_id", "kind", "ts", "message")
               .filter(pl.col("event_id").is_in(g.get_column("event_id").implode()))
               .filter(refused_connect() & (pl.col("ts") <= answered)).get_column("ts").sort())
    return refused.to_list() if refused.len() else None


def _answered_before(events: pl.DataFrame, entity: str, start: datetime, ready: datetime | None) -> datetime | None:
    """The first reply only a listening server gives (`max number of clients reached`, a client's restored
    connection) that a client logged after the outage's first failure `start` and before the server's ready line; None
    without one. Such a reply before the ready line says the server log is ahead of its clients (the mirror of
    `_last_refusals`): left inside the clock margin, it would end the window at its ready line, later by its skew
    (storm-16's log 1.3 s ahead, no exporter: PM100's window 3.2 s for 1.9 s, and PM402's retries no longer covered
    it: its window moved 3.4 s).

    A reply the same pod followed with an unreachable failure before the ready line does not count: it was the
    server's answer before it stopped, logged as the outage began (a fleet refused at maxclients before the
    outage: storm-rate50-long-16's first such reply 0.01 s after its first failure, PM100 "0.0 s" for 6.1 s). A pod
    that logged no failure (a paused storm's fleet without socket timeouts) keeps its replies."""
    if ready is None:
        return None
    rows = events.select("source", "kind", "entity", "host", "ts").filter(
        pl.col("source").is_in(CLIENT_SOURCES) & (pl.col("ts") > ts_lit(start)) & (pl.col("ts") < ts_lit(ready))
        & (pl.col("entity").is_null() | (pl.col("entity") == entity)))
    down = (rows.filter(pl.col("kind").is_in(UNREACHABLE_KINDS)).group_by("host")
            .agg(pl.col("ts").max().alias("down_until")))
    replies = (rows.filter(pl.col("kind").is_in(ANSWERED_KINDS)).join(down, on="host", how="left", nulls_equal=True)
               .filter(pl.col("down_until").is_null() | (pl.col("ts") > pl.col("down_until"))))
    return replies.get_column("ts").min() if replies.height else None


def _hang_end(events: pl.DataFrame, entity: str, g: pl.DataFrame, start: datetime,
              end: datetime) -> tuple[datetime, datetime | None]:
    """The end of a window with no refusal and no restart: the server's resume (`resumed_after_hang`), or, when most
    of its clients logged failures after it that are not calls sent before the resume (a timeout whose call the
    paused server held, logged as it drained its backlog: hang-24 +0.02 s, hang-40 +0.05 s), the median client's
    last such failure (one pod's clock ahead, or its own late timeout, is no fleet's: hang-skew-16); without a logged
    resume, `end`. A scrape refused after
    the resume is the server full, not stopped: a storm fleet that reconnects the instant a paused server resumes
    keeps it refusing the scraper at maxclients for seconds (storm-pause-8: 5 s of `redis_up` 0 after a 2.5 s pause).
    With it, the logged resume it ended at (None when the window ended otherwise)."""
    # a failed scrape is stamped when it began (it may begin before the server stopped: hang-36's at .048, the
    # server accepting at .258, paused at .261); a client's timeout is logged when it was not answered
    clients = g.filter(pl.col("source").is_in(CLIENT_SOURCES)).get_column("ts")
    seen = clients.min() if clients.len() else start
    resumed = resumed_after_hang(events, entity, seen, g.get_column("ts").max())
    if resumed is None:
        return end, None
    later = g.filter(pl.col("source").is_in(CLIENT_SOURCES) & (pl.col("ts") > resumed))
    sent = _timeout_sent(events, later)
    unlogged = later.filter(~pl.col("event_id").is_in(sent.get_column("event_id").implode()))
    sent = pl.concat([sent, _sent_by_first_wait(events, entity, g, seen, unlogged)], how="vertical_relaxed")
    held = sent.filter(pl.col("sent") <= resumed).get_column("event_id")  # sent: an upper bound
    later = later.filter(~pl.col("event_id").is_in(held.implode()))
    if later.height == 0:
        return resumed, resumed
    # the fleet's failures after the resume contradict it, one pod's do not (a pod's clock 2 s ahead: hang-skew-16)
    hosts = g.filter(pl.col("source").is_in(CLIENT_SOURCES)).get_column("host").drop_nulls().unique()
    last = later.group_by("host").agg(pl.col("ts").max()).get_column("ts").sort(descending=True)
    if last.len() <= hosts.len() // 2:
        return resumed, resumed
    failed_until = max(resumed, last[hosts.len() // 2])
    again = _resumed_after_silence(events, entity, resumed, failed_until)
    return (again, again) if again is not None else (failed_until, None)


def _resumed_after_silence(events: pl.DataFrame, entity: str, false: datetime, failed_until: datetime) -> datetime | None:
    """The server's first accept after the fleet's failures that contradicted the accept at `false`, when its log
    is silent from `false` until then: that accept was no resume but a line a clock skew inside the margin (left
    uncorrected) put after the first timeout, and the stall went on (slow-8's server log 1-1.9 s ahead: the KEYS
    client's accept after the first timeout, the resume's 120 accepts after the fleet's last; the window ended
    between them and counted the resume's queued connects as a storm). A server that logged lines in between was
    running: the failures after it are the fleet's own, and the window ends with them."""
    again = first_accepted(events, entity, failed_until, failed_until + OUTAGE_GAP)
    if again is None:
        return None
    between = events.select("source", "entity", "ts").filter(
        (pl.col("source") == "redis_server") & (pl.col("ts") > ts_lit(false)) & (pl.col("ts") < ts_lit(again))
        & (pl.col("entity").is_null() | (pl.col("entity") == entity)))
    return again if between.height == 0 else None


def _configured_endpoint(events: pl.DataFrame, fails: pl.DataFrame) -> pl.DataFrame:
    """`fails` with a failure that names no endpoint given the one its pod's client configuration names (redis-py's
    `Timeout connecting to server` names none). Without it, a fleet whose exporter scrapes the server at another
    address than the clients' (a Service's, a proxy's) had failures of no known endpoint: "redis:unknown stopped
    answering" (hang-blackhole-28, session 19, blind: config 127.0.0.1:47089 through a relay, scrapes :39571)."""
    if fails.height == 0 or fails.get_column("entity").null_count() == 0:
        return fails
    configured = (events.select("kind", "host", "entity")
                  .filter((pl.col("kind") == "redis.config") & pl.col("host").is_not_null() & pl.col("entity").is_not_null())
                  .group_by("host").agg(pl.col("entity").unique()).filter(pl.col("entity").list.len() == 1)
                  .select("host", _configured=pl.col("entity").list.first()))
    if configured.height == 0:
        return fails
    return (fails.join(configured, on="host", how="left", nulls_equal=False, maintain_order="left")
            .with_columns(entity=pl.coalesce("entity", "_configured")).drop("_configured"))


def _groups(fails: pl.DataFrame):
    """((entity, group), rows) of each outage's first signs, in order. One group is the frame itself: iterating a
    group_by gathers each group's rows, and a dense log's one outage has most of the table's rows as first signs."""
    if fails.select(pl.col("entity", "group").n_unique()).row(0) == (1, 1):
        return [((fails.item(0, "entity"), fails.item(0, "group")), fails)]
    return fails.group_by(["entity", "group"], maintain_order=True)


def with_late_scrapes(events: pl.DataFrame, outages: list[Outage]) -> list[Outage]:
    """The outages plus those only a late answered scrape shows (scrape_gaps.py), with the calls it held, in time
    order; with no outage and no scraper at all, those only the whole fleet's silence shows (fleet_silence.py): the
    last sign looked for, the clients' records read only then."""
    late = []
    for s in late_scrapes(events):
        if not _covered(s, outages):
            held = held_calls(events, s.entity, s.start, s.end).get_column("event_id").to_list()
            late.append(Outage(entity=s.entity, start=s.start, end=s.end, event_ids=tuple(sorted({*s.event_ids, *held})),
                               hosts=s.hosts, start_unknown=True, late_scrape=s))
    if not outages and not late:
        for f in _longest_apart(fleet_silences(events)):
            held = held_calls(events, f.entity, f.start, f.answered_by).get_column("event_id").to_list()
            late.append(Outage(entity=f.entity, start=f.start, end=f.end, event_ids=tuple(sorted({*f.event_ids, *held})),
                               hosts=f.hosts, start_unknown=True, fleet_silence=f))
    return sorted(outages + late, key=lambda o: (o.start, o.entity)) if late else outages


def with_resets(events: pl.DataFrame, outages: list[Outage]) -> list[Outage]:
    """The outages plus the reset bursts of the server's log no outage already covers (resets.py): with no client
    log, the only sign of a network fault that reset every connection."""
    extra = [Outage(entity=b.entity, start=b.start, end=b.end, event_ids=b.event_ids, hosts=(), reset=b)
             for b in reset_bursts(events)
             if all(b.end < o.start - OUTAGE_GAP or b.start > o.end + OUTAGE_GAP for o in outages)]
    return sorted(outages + extra, key=lambda o: (o.start, o.entity)) if extra else outages


def _network_or_server(events: pl.DataFrame, o: Outage) -> Outage:
    """The outage with the scrapes its server answered on time through it (server_ran.py), unless the server logged
    its own shutdown or start in it or a late scrape showed it (then the server went away)."""
    if o.server_down is not None or o.server_up is not None or o.late_scrape is not None:
        return o
    ran = answered_through(events, o.entity, o.start, o.end)
    return replace(o, server_answered=ran) if ran is not None else o


def _longest_apart(found: list[FleetSilence]) -> list[FleetSilence]:
    """Of the fleet's silences closer than OUTAGE_GAP (one pause split by a stray record: healthy-pause-saopaulo-24
    without its exporter, 1.4 s and 0.6 s), the longest: one outage, and its window a lower bound still."""
    kept: list[FleetSilence] = []
    for f in sorted(found, key=lambda f: f.quiet_s, reverse=True):
        if all(f.end < k.start - OUTAGE_GAP or f.start > k.end + OUTAGE_GAP for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def held_calls(events: pl.DataFrame, entity: str, start: datetime, end: datetime) -> pl.DataFrame:
    """The client timeouts of calls a server stopped from `start` to `end` held, when no client failure was its sign (a
    late or unanswered scrape): logged inside the window (healthy-pause-24: one 9 ms before the resume), or after it by
    a call sent, one logged `socket_timeout` earlier, by the resume (healthy-pause-40 and -48: 2 ms and 20 ms after
    it). Too few pods for a fleet-wide burst (`hang_timeouts`), they are still the pause's: the title's failures, not
    timeouts on a live connection (PM106)."""
    timeouts = events.select(OUTAGE_COLUMNS).filter(
        pl.col("source").is_in(CLIENT_SOURCES) & (pl.col("kind") == "redis.timeout") & (pl.col("ts") >= start)
        & (pl.col("ts") <= end + OUTAGE_GAP) & (pl.col("entity").is_null() | (pl.col("entity") == entity)))
    sent = _timeout_sent(events, timeouts.filter(pl.col("ts") > end)).filter(pl.col("sent") <= end)
    return timeouts.filter((pl.col("ts") <= end) | pl.col("event_id").is_in(sent.get_column("event_id").implode()))


def _scrape_silence(events: pl.DataFrame, entity: str, g: pl.DataFrame, silences: list[Silence]) -> Silence | None:
    """The server silence (silence.py) that failed the unanswered scrapes `g`, a window's only sign: it ends after the
    last of them began and begins before the first scrape answered after the first (the scrape still waited when the
    server went quiet). Its bounds are the server's own lines, its last before and its first after; a failed scrape is
    stamped when it began, before the server stopped, and the window built from it starts there or at the last
    answered scrape, and ends at the first accept after it, which may be a line the server logged before it stopped
    (per-request-pause-12-r6: a scrape begun at 13.565, the server logging until 13.576 and resuming at 15.615, was
    a 0.0 s window; -r5: the scrape before answered at 16.179, the server logging until 17.942, was 3.8 s for 2.0)."""
    scrapes = g.filter(pl.col("metric").is_in(UP_METRICS).fill_null(False)).get_column("ts")
    if scrapes.len() == 0:
        return None
    answered = events.select("metric", "value", "ts", "entity").filter(
        pl.col("metric").is_in(UP_METRICS) & (pl.col("value") > 0) & (pl.col("ts") > scrapes.min())
        & (pl.col("entity").is_null() | (pl.col("entity") == entity))).get_column("ts").min()
    return next((s for s in silences if _same_endpoint(s.entity, entity) and s.end > scrapes.max() and (answered is None or s.start < answered)), None)


def _covered(s: Silence | LateScrape, outages: list[Outage]) -> bool:
    """A silence or late scrape inside (or within OUTAGE_GAP of) an outage of its endpoint found from other signs adds
    nothing."""
    return any(_same_endpoint(o.entity, s.entity) and o.start - OUTAGE_GAP <= s.end
               and s.start <= o.end + OUTAGE_GAP for o in outages)


def _same_endpoint(a: str, b: str) -> bool:
    """Two endpoints that may be one: the same, or either named by a window or log that names none."""
    vague = ("redis:unknown", "redis:server")
    return a == b or a in vague or b in vague


def _silent_outage(events: pl.DataFrame, s: Silence) -> Outage:
    """An outage only the server's log shows: it stopped (its last line's second at its own rate) and resumed; with
    the calls it held that timed out (per-request-pause-nocfg-16: one at 2.0 s, 4 ms before the resume)."""
    held = held_calls(events, s.entity, s.start, s.end).get_column("event_id").to_list()
    return Outage(entity=s.entity, start=s.start, end=s.end, event_ids=tuple(sorted({s.before_id, s.after_id, *held})),
                  hosts=s.hosts, silence=s)


def attempts_per_second(events: pl.DataFrame) -> pl.DataFrame:
    """Connection attempts per second (client attempts, server accepts, rejections), with host counts.

    Attempts are summed by `event_weight()`: one summarized `Accepted` row counts its connections.
    """
    att = events.select("kind", "ts", "value", "host").filter(pl.col("kind").is_in(ATTEMPT_KINDS) & pl.col("ts").is_not_null())
    if att.height == 0:
        return pl.DataFrame(schema={"second": pl.Datetime("us", "UTC"), "attempts": pl.UInt32, "hosts": pl.UInt32})
    return (
        att.with_columns(second=pl.col("ts").dt.truncate("1s"))
        .group_by("second")
        .agg(attempts=event_weight().sum().round().cast(pl.UInt32), hosts=pl.col("host").n_unique().cast(pl.UInt32))
        .sort("second")
    )


def endpoint_hosts(events: pl.DataFrame) -> dict[str, tuple[str, ...]]:
    """Which hosts (pods) talked to which endpoint, from client events that name both."""
    links = events.select("source", "entity", "host").filter(pl.col("source").is_in(CLIENT_SOURCES) & pl.col("entity").is_not_null()
                          & pl.col("host").is_not_null())
    if links.height == 0:
        return {}
    grouped = links.group_by("entity").agg(pl.col("host").unique().sort()).sort("entity")
    return {r["entity"]: tuple(r["host"]) for r in grouped.iter_rows(named=True)}


def build_context(events: pl.DataFrame, inputs: list[InputFile], assumptions: list[str]) -> Context:
    start, end = incident_window(events)
    outages = [_network_or_server(events, o) for o in with_resets(events, with_late_scrapes(events, find_outages(events)))]
    aps = attempts_per_second(events)
    baseline = 0.0
    if outages and aps.height:
        before = aps.filter(pl.col("second") < outages[0].start - timedelta(seconds=1))
        if before.height >= 3:
            baseline = float(before.get_column("attempts").median() or 0.0)
    if outages and start is not None:
        start = min(start, outages[0].start)
    return Context(
        inputs=inputs, window_start=start, window_end=end, assumptions=list(assumptions), outages=outages,
        endpoint_hosts=endpoint_hosts(events), attempts_per_second=aps, attempt_baseline=baseline,
        configs=events.filter(pl.col("kind") == "redis.config"),
    )
