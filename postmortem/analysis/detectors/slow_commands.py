"""PM108: a command that blocked Redis (KEYS, FLUSHALL, a big DEL, a long script) and the client timeouts
it caused.

Redis runs one command at a time: while a 2 s `KEYS` scans the keyspace every other client waits, and
those whose socket timeout is shorter fail although nothing is down. The evidence is the server's SLOWLOG,
redis-server's slow-script warning and the lines where an application times or announces the command
(`redis.slow_command`, `redis.blocking_command`, parsers/slow_commands.py). Sightings of one command
(the app's start line, its `took` line, the SLOWLOG entry) are one episode; an episode blocks when it ran
at least as long as the clients' shortest configured timeout (when none is logged: 1 s, or shorter when client
timeouts fell inside its run, which shows their timeout was shorter than it). The client
timeouts that fall inside the episode, plus that timeout as slack, are the ones it explains: PM106 leaves
them to this rule, and the story opens with it when it explains most of the clients' errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.advice import Advice, Facts, Snippet
from postmortem.analysis.correlate import Context, attr, unanswered_connect
from postmortem.analysis.detectors.base import LEADS_AT, MAX_EVIDENCE, NO_CLIENT_LOGS, RuleDetector, finding
from postmortem.analysis.se_fields import field, with_fields
from postmortem.kinds import KINDS
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity
from postmortem.schema import CLIENT_SOURCES

SLOW_KINDS = ("redis.slow_command", "redis.blocking_command")
# client failures a blocked server causes on live connections: timeouts, and BUSY replies while a script runs
EXPLAINED_KINDS = ("redis.timeout", "redis.busy")


def explained_failure() -> pl.Expr:
    """A failure a blocked server explains: a timeout, a BUSY reply, or a connect it never answered (a server that
    does not run does not accept: slow-w1-40's 40 pods waited out 88 connects in a 13.7 s KEYS; PM100 counts them
    among its client timeouts, so the two findings agree)."""
    return pl.col("kind").is_in(EXPLAINED_KINDS) | unanswered_connect()
DEFAULT_THRESHOLD_S = 1.0  # when no client timeout is logged: a second of a blocked server is an incident
SAME_EPISODE_S = 1.0  # sightings of one command this close (SLOWLOG times are whole seconds) are one run
MAX_FINDINGS = 5
# who measured a duration, most trusted first: the server's own clock, its log, then the application
FIGURE_ORDER = ("slowlog", "server_log", "app")


@dataclass(frozen=True)
class Episode:
    """One run of one command, from all its sightings."""

    verb: str
    command: str  # the fullest spelling logged (verb and first arguments)
    start: datetime
    duration_s: float
    figure: str  # who measured the duration
    client: str | None  # client name or pod it ran from
    address: str | None  # client address (SLOWLOG)
    event_ids: tuple[int, ...]
    late_by_s: float = 0.0  # how much later it may have run: a start from SLOWLOG alone is known to the second

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)


@dataclass(frozen=True, eq=False, repr=False)
class BlockingFigures(Figures):
    OMIT_NONE = ("pods_logging",)

    command: str  # the command as logged: verb and first arguments
    duration_s: float  # how long it ran
    duration_source: str  # who measured it: slowlog (the server), server_log, app
    client: str | None  # where it ran from: client name or pod
    client_address: str | None  # the client's address, from SLOWLOG
    threshold_s: float  # blocking threshold: the clients' shortest configured timeout, else 1 s, else the run itself
    # when no timeout is logged and client timeouts fell inside it (`threshold_source` says which)
    threshold_source: str  # where the threshold came from
    timeouts_explained: int  # client timeouts (unanswered connects too) and BUSY replies inside the command's run (plus the timeout as slack)
    busy_replies_explained: int  # of those, BUSY replies (a script still running)
    pods_explained: int  # pods with such a timeout
    pods_with_clients: int  # pods whose Redis client logged anything
    timeouts_total: int  # client timeouts (unanswered connects too) and BUSY replies in the whole analysed window
    timeout_share: float  # timeouts_explained / timeouts_total (0 without timeouts)
    client_errors_total: int  # client errors of any connection kind in the window
    error_share: float  # share of all client errors it explains: what ranks it in the story
    # pods whose application logged anything (the command's own client aside), when more than `pods_with_clients`:
    # a fleet that logs no client configuration shows its Redis client only where it failed (slow-nocfg-20: 3 of 20
    # pods timed out, the other 17 logged only their own lines), so those are not "all" the pods
    pods_logging: int | None = None

    def facts(self) -> dict[str, object]:
        return {"pods": self.pods_with_clients or None}


def _client_timeout_s(events: pl.DataFrame) -> tuple[float | None, str]:
    """The shortest command timeout the clients were configured with, and where it was read."""
    cfg = events.filter(pl.col("kind") == "redis.config")
    found: list[tuple[float, str]] = []
    if cfg.height:
        got = cfg.select(
            sock=attr("socket_timeout", pl.Float64),
            sync=attr("syncTimeout", pl.Float64) / 1000,
        )
        for column, label in (("sock", "socket_timeout"), ("sync", "syncTimeout")):
            v = got.get_column(column).drop_nulls().filter(got.get_column(column).drop_nulls() > 0).min()
            if v is not None:
                found.append((float(v), f"{label} {v:g} s (client configuration)"))
    timeouts = events.filter(pl.col("kind") == "redis.timeout")
    ms = with_fields(timeouts, ("timeout_ms",)).select(field("timeout_ms", pl.Float64)).to_series()
    ms = ms.drop_nulls().filter(ms.drop_nulls() > 0)
    if ms.len():
        found.append((float(ms.min()) / 1000, f"{ms.min() / 1000:g} s (timeout in the client errors)"))
    if not found:
        return None, f"default {DEFAULT_THRESHOLD_S:g} s (no client timeout logged)"
    return min(found)


def _sightings(events: pl.DataFrame) -> pl.DataFrame:
    """Each sighting with the start and end of the run it saw (`at`: what its time marks)."""
    rows = events.filter(pl.col("kind").is_in(SLOW_KINDS) & pl.col("ts").is_not_null())
    if rows.height == 0:
        return rows
    d = attr("duration_s", pl.Float64)
    at = attr("at")
    whole_seconds = attr("figure") == "slowlog"  # written after the command, to the second
    start = pl.when(at == "start").then(pl.col("ts")).otherwise(
        pl.col("ts") - pl.duration(microseconds=(d.fill_null(0) * 1e6).cast(pl.Int64)))
    end = pl.when(at == "start").then(pl.col("ts")).otherwise(
        pl.col("ts") + pl.when(whole_seconds).then(pl.duration(seconds=1)).otherwise(pl.duration(seconds=0)))
    return rows.with_columns(
        _verb=attr("verb"), _command=attr("command"), _d=d, _figure=attr("figure"), _at=at,
        _client=pl.coalesce(attr("client_name"), pl.when(attr("figure") == "app").then(pl.col("host"))),
        _address=attr("client"), _start=start, _end=end,
    ).sort("_verb", "_start")


def episodes(events: pl.DataFrame) -> list[Episode]:
    """Sightings of one verb whose runs touch (within SAME_EPISODE_S) merged into one episode each."""
    rows = _sightings(events)
    out: list[Episode] = []
    group: list[dict] = []
    group_end = None
    for r in rows.iter_rows(named=True):
        if group and (r["_verb"] != group[0]["_verb"] or r["_start"] > group_end + timedelta(seconds=SAME_EPISODE_S)):
            out.append(_episode(group))
            group = []
        group_end = r["_end"] if not group else max(group_end, r["_end"])
        group.append(r)
    if group:
        out.append(_episode(group))
    return [e for e in out if e.duration_s > 0]


def _episode(group: list[dict]) -> Episode:
    timed = sorted((g for g in group if g["_d"] is not None),
                   key=lambda g: FIGURE_ORDER.index(g["_figure"]) if g["_figure"] in FIGURE_ORDER else 9)
    best = timed[0] if timed else None
    duration = float(best["_d"]) if best else 0.0
    announced = [g["_start"] for g in group if g["_at"] == "start"]
    app_ends = [g for g in group if g["_figure"] == "app" and g["_at"] == "end"]
    app_starts = [g["_start"] for g in app_ends]
    # the most precise start: an announcement, an app's end minus its duration, else the SLOWLOG estimate
    start = _ran_from(min(announced or app_starts or [g["_start"] for g in group]), app_ends, best)
    command = max((g["_command"] or g["_verb"] for g in group), key=len)
    client = next((g["_client"] for g in sorted(group, key=lambda g: g["_figure"] != "slowlog") if g["_client"]),
                  None)
    address = next((g["_address"] for g in group if g["_address"]), None)
    return Episode(group[0]["_verb"], command, start, duration, best["_figure"] if best else "app", client,
                   address, tuple(int(g["event_id"]) for g in group),
                   late_by_s=0.0 if announced or app_starts or best is None or best["_figure"] != "slowlog" else 1.0)


def _ran_from(sent: datetime, app_ends: list[dict], best: dict | None) -> datetime:
    """When a command began to run, from when an app sent it: the app's end minus the server's own duration when
    the server measured it, since the app counts from sending and so includes the time the command waited in a
    stalled server (slow-pause-20: `KEYS` sent during a 3 s pause, `took 5.60 s`, SLOWLOG 2.42 s: it ran from
    38.9 to 41.3, not from 35.7); never before it was sent."""
    if not app_ends or best is None or best["_figure"] == "app" or best["_d"] is None:
        return sent
    return max(sent, min(g["_end"] for g in app_ends) - timedelta(seconds=float(best["_d"])))


def _client_errors(events: pl.DataFrame) -> pl.DataFrame:
    return events.filter(KINDS.flag_expr("connection_error") & pl.col("ts").is_not_null())


SHOWN_BY_TIMEOUTS = ("shorter than the run: client timeouts fell inside it (no client timeout logged, so not the "
                     f"default {DEFAULT_THRESHOLD_S:g} s)")


def explained(events: pl.DataFrame) -> list[tuple[Episode, pl.DataFrame, float, str]]:
    """The blocking episodes, each with the client timeouts it explains and its blocking threshold and source.

    With no client timeout logged, a run shorter than the default blocks when client timeouts fall inside it: a
    client whose timeout is shorter than the run fails within that run's length of it (slow-nocfg-8: a 0.69 s KEYS
    and the one timeout it caused were reported as a timeout with no cause)."""
    timeout_s, source = _client_timeout_s(events)
    threshold = timeout_s if timeout_s is not None else DEFAULT_THRESHOLD_S
    slack = timedelta(seconds=timeout_s if timeout_s is not None else DEFAULT_THRESHOLD_S)
    timeouts = events.filter(explained_failure() & pl.col("ts").is_not_null())
    busy = events.filter((pl.col("kind") == "redis.busy") & pl.col("ts").is_not_null()).get_column("ts").sort()
    out = []
    for e in episodes(events):
        if e.duration_s < threshold:
            run = timedelta(seconds=e.duration_s + e.late_by_s)
            # a command shorter than a connect timeout cannot leave a connect unanswered (slow-nocfg-32: a 12 ms
            # HELLO during the pools' re-opening after a KEYS); only the replies it delayed show it blocked
            inside = timeouts.filter(pl.col("kind").is_in(EXPLAINED_KINDS) & pl.col("ts").is_between(e.start, e.end + run))
            if timeout_s is None and inside.height:
                out.append((e, inside, round(e.duration_s, 3), SHOWN_BY_TIMEOUTS))
            continue
        end = e.end
        for ts in busy:  # a script runs on while clients still get BUSY: the server's warning came mid-run
            if e.start <= ts <= end + slack:
                end = max(end, ts)
        if end > e.end:
            e = replace(e, duration_s=(end - e.start).total_seconds())
        inside = timeouts.filter(pl.col("ts").is_between(e.start, e.end + slack + timedelta(seconds=e.late_by_s)))
        out.append((e, inside, threshold, source))
    return out


def explained_timeout_ids(events: pl.DataFrame) -> set[int]:
    """Event ids of the client timeouts a blocking command explains (PM106 leaves them to PM108)."""
    if not events.filter(pl.col("kind").is_in(SLOW_KINDS)).height:
        return set()
    return {int(i) for _, inside, _, _ in explained(events) for i in inside.get_column("event_id").to_list()}


def _pods_logging(events: pl.DataFrame, e: Episode, pods_with_clients: int) -> int | None:
    """Pods whose application or Redis client logged anything, the command's own client aside; None unless more
    than the pods whose Redis client did."""
    hosts = events.filter(pl.col("source").is_in(("app", *CLIENT_SOURCES)) & pl.col("host").is_not_null()
                          & (pl.col("host") != (e.client or ""))).get_column("host").n_unique()
    return hosts if hosts > pods_with_clients else None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _pods_of_fleet(s: BlockingFigures) -> str:
    """`all 8 pods`, `21 of 24 pods`: the pods that timed out against the fleet the incident shows (the pods whose
    client or application logged anything, `pods_logging` when more than `pods_with_clients`): slow-nocfg-24's
    21 pods that timed out are not all of its 24."""
    fleet = max(s.pods_with_clients, s.pods_logging or 0)
    if s.pods_explained == fleet and fleet > 1:
        return f"all {fleet} pods"
    if s.pods_explained < fleet:
        return f"{s.pods_explained} of {fleet} pods"
    return _count(s.pods_explained, "pod")


def _failures(s: BlockingFigures) -> str:
    """`40 client timeouts`, `12 BUSY replies`, or `52 client errors` for a mix."""
    if s.busy_replies_explained == 0:
        return _count(s.timeouts_explained, "client timeout")
    if s.busy_replies_explained == s.timeouts_explained:
        return f"{s.timeouts_explained} BUSY replies"
    return f"{s.timeouts_explained} client errors ({s.busy_replies_explained} BUSY replies)"


def _duration(s: float) -> str:
    return f"{s:.1f} s" if s >= 1 else f"{round(s * 1000)} ms"


class BlockingCommand(RuleDetector):
    rule = Rule(
        "PM108", "blocking-command", Severity.HIGH,
        "a command that blocked Redis (KEYS, FLUSHALL, big DEL, Lua) and the timeouts it caused",
        what=("a command that ran at least as long as the clients' shortest timeout (when none is logged: 1 s, or any "
              "run client timeouts fell inside), from "
              "SLOWLOG entries, redis-server's slow-script warning and application lines that time or announce it "
              "(`KEYS took 2.36 s`, `running KEYS pattern=…`), with the client timeouts that fell inside its run."),
        why=("Redis executes one command at a time: a KEYS over millions of keys, a FLUSHALL, a DEL of a huge key or "
             "a long Lua script stalls every client for its whole run, and clients with a shorter timeout fail, "
             "retry and reconnect although the server is up."),
        recommendation=("replace KEYS with SCAN (COUNT 100-1000) in batches, delete big keys with UNLINK or in "
                        "chunks, use FLUSHALL ASYNC, keep scripts short; `rename-command KEYS \"\"` in production; run "
                        "maintenance against a replica; alert on SLOWLOG entries longer than the client timeout."),
        role=Role.TRIGGER,
        phrase="a command that blocked Redis",
        actions=(
            ("prevent", "Replace KEYS with SCAN batches, use UNLINK / FLUSHALL ASYNC; disable KEYS in production."),
            ("process", "Alert on SLOWLOG entries longer than the clients' timeout."),
        ),
        chart_colour="#8e44ad",
        chart_label="blocking command",
    )

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        if not events.filter(pl.col("kind").is_in(SLOW_KINDS)).height:
            return
        found = explained(events)
        if not found:
            return
        all_timeouts = events.filter(explained_failure()).height
        errors = _client_errors(events)
        client_kinds = [k.name for k in KINDS if k.family == "redis_client"]
        pods = events.filter(pl.col("kind").is_in(client_kinds)).get_column("host").drop_nulls().n_unique()
        found.sort(key=lambda x: (-x[1].height, -x[0].duration_s))
        for e, inside, threshold, source in found[:MAX_FINDINGS]:
            explained_errors = inside.filter(pl.col("event_id").is_in(errors.get_column("event_id").implode()))
            figures = BlockingFigures(
                command=e.command, duration_s=round(e.duration_s, 3), duration_source=e.figure,
                client=e.client, client_address=e.address, threshold_s=threshold, threshold_source=source,
                timeouts_explained=inside.height,
                busy_replies_explained=inside.filter(pl.col("kind") == "redis.busy").height, pods_explained=inside.get_column("host").drop_nulls().n_unique(),
                pods_with_clients=pods, timeouts_total=all_timeouts,
                timeout_share=round(inside.height / all_timeouts, 3) if all_timeouts else 0.0,
                client_errors_total=errors.height,
                error_share=round(explained_errors.height / errors.height, 3) if errors.height else 0.0,
                pods_logging=_pods_logging(events, e, pods),
            )
            sightings = events.filter(pl.col("event_id").is_in(list(e.event_ids))).sort("ts", "path", "line")
            # the command's own lines first, then the earliest timeouts: evidence shows the first 8 by time
            shown = pl.concat([sightings.head(4), inside.sort("ts").head(MAX_EVIDENCE - min(4, sightings.height))],
                              how="vertical_relaxed")
            title = f"{_duration(e.duration_s)} `{e.command}` blocked Redis"
            if inside.height:
                title += f"; {_failures(figures)} on {_count(figures.pods_explained, 'pod')} fell inside it"
            f = finding(
                self.rule, title, shown, figures,
                Confidence.HIGH if e.figure == "slowlog" or len(e.event_ids) > 1 else Confidence.MEDIUM,
                entities=tuple(inside.get_column("entity").drop_nulls().unique().to_list()),
                severity=None if inside.height else Severity.MEDIUM,
                start=e.start, end=max(e.end, inside.get_column("ts").max() or e.end),
            )
            if f:
                yield replace(f, evidence_more=sightings.height + inside.height - len(f.evidence))

    def advise(self, facts: Facts) -> Advice:
        return Advice(
            "Keep O(N) commands off the production primary",
            "Walk the keyspace with SCAN in small batches (each call returns quickly, so other clients are served "
            "between batches), free big keys and databases in the background, and disable KEYS so it cannot come "
            "back through a cron job or a console.",
            (Snippet("python", "redis-py: SCAN instead of KEYS",
                     "batch = []\n"
                     "for key in r.scan_iter(match=\"session:*\", count=500):  # one short call per 500 keys\n"
                     "    batch.append(key)\n"
                     "    if len(batch) == 500:\n"
                     "        r.unlink(*batch)  # UNLINK frees memory in a background thread\n"
                     "        batch.clear()\n"
                     "if batch:\n"
                     "    r.unlink(*batch)"),
             Snippet("csharp", "StackExchange.Redis: Keys() pages with SCAN when the server supports it",
                     "foreach (var key in server.Keys(pattern: \"session:*\", pageSize: 500))\n"
                     "    await db.KeyDeleteAsync(key, CommandFlags.FireAndForget);"),
             Snippet("conf", "redis.conf",
                     "rename-command KEYS \"\"\nlazyfree-lazy-user-del yes    # DEL behaves like UNLINK (6.0+)\n"
                     "lazyfree-lazy-user-flush yes  # FLUSHALL/FLUSHDB run async (6.2+)\n"
                     "slowlog-log-slower-than 10000\nbusy-reply-threshold 5000   # lua-time-limit before 7.0")),
        )

    def stops_server(self, f: Finding) -> bool:
        return True  # single-threaded Redis runs nothing else while the command runs

    def explains(self, f: Finding) -> float | None:
        s = f.figures
        return s.error_share if isinstance(s, BlockingFigures) else None

    def opening(self, f: Finding) -> str | None:
        s = f.figures
        if not isinstance(s, BlockingFigures):
            return None
        source = f" from {s.client}" if s.client else ""
        return f"A {_duration(s.duration_s)} `{s.command}`{source} at {f.start:%H:%M:%S} UTC"

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None:
        s = f.figures
        if not isinstance(s, BlockingFigures) or s.error_share <= LEADS_AT:
            return None
        return self.outcome(f)

    def outcome(self, f: Finding) -> str | None:
        s = f.figures
        if not isinstance(s, BlockingFigures):
            return None
        if not max(s.pods_with_clients, s.pods_logging or 0):  # "0 client timeouts on 0 pods" would be a claim
            return f"blocked Redis; what it did to the clients is unknown: {NO_CLIENT_LOGS}"
        return f"blocked Redis: {_failures(s)} on {_pods_of_fleet(s)} fell inside it"
