"""PM100–PM104: the trigger (Redis unreachable) and the storm it set off.

The figures here are the ones users cannot get elsewhere: peak connection attempts per second
against the pre-incident baseline, synchrony across pods, amplification, and persistence after
the trigger ended.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import polars as pl

from postmortem.analysis.advice import (
    Advice,
    Facts,
    breaker,
    cap_connections,
    for_clients,
    py_pool,
    py_retry,
    reconnect_backoff,
    se_full,
    se_options,
)
from postmortem.analysis.clocks import AGREE_S
from postmortem.analysis.correlate import (
    ATTEMPT_KINDS,
    PROBLEM_COLUMNS,
    UNREACHABLE_KINDS,
    UP_METRICS,
    Context,
    Outage,
    first_accepted,
    is_problem,
    silent_until,
    unanswered_connect,
)
from postmortem.analysis.detectors.base import (
    NO_CLIENT_LOGS,
    ROW_COLUMNS,
    RuleDetector,
    at_time,
    finding,
    rows_by_ids,
)
from postmortem.analysis.fleet_silence import FleetSilence
from postmortem.analysis.kept import Kept, kept_after
from postmortem.analysis.limits import maxclients_at, maxclients_changes
from postmortem.analysis.population import (
    CLIENT_LOG_ATTEMPTS,
    HORIZON,
    LOOKBACK,
    Demand,
    Held,
    Population,
    counter_reset,
    demand_after,
    held_before,
)
from postmortem.analysis.rate_spread import Spread, errors_spread, rate_spread
from postmortem.analysis.refusals import refused_after, rejected_server
from postmortem.analysis.resets import ResetBurst
from postmortem.analysis.scrape_gaps import Gap, LateScrape
from postmortem.analysis.silence import Silence
from postmortem.analysis.source_kinds import has_client_logs
from postmortem.analysis.storm_dating import Dated, date_counter_rise
from postmortem.analysis.table_memo import per_outages
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity
from postmortem.schema import CLIENT_SOURCES, ts_lit

# A storm opens connections it does not keep (refused at maxclients, or closed again and re-opened; analysis/kept.py):
# at least as many as the fleet needs (the larger of what it held before and what it kept after) means every
# connection it needed was opened twice or more. A ratio to the incident's own population, not a multiple of growth:
# fleets that re-open their pools keep what they open at every size, capped or not (0 to 0.2 on the recordings of 2
# to 48 pods: healthy, hung, slow, per-request, and the uncapped pools that open 4.5x to 7.6x what they held); the
# recorded storms measure 4.7 (storm-48) to 236 (storm-pause-8), the .NET fleet 6.3, the hand-written example 1.3.
NOT_KEPT_PER_NEEDED = 1.0
WINDOW_SHARE = 0.05  # a second belongs to the storm window above this share of the held connections per s
SYNC_BUCKET = "100ms"
# Errors this long after the trigger ended mean retries kept the incident alive. A time per client, not a count, so it
# does not grow with the fleet: a call begun during the outage may still fail one client timeout after the server is
# back (StackExchange.Redis' default syncTimeout is 5,000 ms). Checked on recordings (tests/test_thresholds_by_size.py):
# healthy and hung fleets of 4 to 48 pods log no client error 0.9 s after the outage; the storm configuration at its
# limit keeps failing until its pods stop (7.7 s at 2 pods, 6.7 s at 16; 3.7-4.6 s where the traffic stopped sooner).
PERSIST_MIN_S = 5.0


def _in_outage(ctx: Context) -> pl.Expr:
    cond = pl.lit(False)
    for o in ctx.outages:
        cond = cond | pl.col("ts").is_between(ts_lit(o.start), ts_lit(o.end))
    return cond


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass(frozen=True, eq=False, repr=False)
class OutageFigures(Figures):
    OMIT_NONE = ("at_least", "server_lines_per_s", "resume_lines", "scrape_gap_s", "scrape_interval_s", "no_client_logs",
                 "fleet_quiet_s", "server_answered", "server_silent_until")

    endpoint: str  # the entity clients could not reach, `redis:host:port`
    seconds: float  # how long the window lasted
    client_failures: int  # client failures in the window: connection errors and the timeouts of a hang
    hosts: int  # client hosts (pods) that failed (a server seen stopped by its own log: the pods that waited on it)
    server_down: str | None  # the server's own shutdown line time (ISO), when logged
    server_up: str | None  # the server's ready line time (ISO), when logged
    timeouts: int = 0  # of the failures, timeouts: commands and connects not answered (all of them: the server hung)
    hang: bool = False  # no client was refused or lost its connection: the server stopped answering
    # True for a hang whose clients logged no socket timeout: it began that unknown timeout before the first
    # timeout, so `seconds` (first timeout to the server's resume) is a lower bound (busy-pause-8: 2.0 s of 4.0)
    at_least: bool | None = None
    # a server seen stopped by its own log (silence.py): its median lines per second before the silence, and the
    # lines of the second it resumed in (None: not seen that way)
    server_lines_per_s: float | None = None
    resume_lines: int | None = None
    # a server seen stopped by a scrape answered late (scrape_gaps.py): the gap between the answered scrapes around
    # it and the scraper's median interval (None: not seen that way)
    scrape_gap_s: float | None = None
    scrape_interval_s: float | None = None
    # a server seen stopped by its whole fleet's silence, no scraper watching (fleet_silence.py): how long the fleet
    # logged nothing (None: not seen that way)
    fleet_quiet_s: float | None = None
    # True when no client's log was among the inputs: "no client logged a failure" would claim what only those logs
    # can show (a server log and an export alone, any outage)
    no_client_logs: bool | None = None
    # the scrapes the server answered on time through the outage, no shutdown logged (server_ran.py): it ran, the
    # network between it and its clients failed (None: not seen so)
    server_answered: int | None = None
    # a hang that outlasted the server's own silence: the server's first log line after the window began (ISO), a
    # connection it accepted or closed (`correlate.silent_until`), before the window ended; it logged nothing from the
    # start until then, and ran again while its clients still failed
    # (slow-pause-12: paused 18.4-21.4, then it ran a `KEYS` queued in the pause until 27.0). None otherwise: a hang
    # that ended as its server resumed, or no server log
    server_silent_until: str | None = None

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts}


@dataclass(frozen=True, eq=False, repr=False)
class StormFigures(Figures):
    OMIT_NONE = ("peak_vs_baseline", "synchrony", "pods", "top_pods", "fleet_pods", "rejected_server",
                 "baseline_attempts_per_s", "kept", "kept_source", "not_kept", "churn", "counter_gap_s",
                 "least_seconds", "rate_before", "rate_after", "rate_top", "attempts_bound", "not_kept_bound",
                 "rejected_server_all")

    attempts: int  # new connections in the storm window, from `attempts_source` (summarized lines by weight)
    peak_new_connections_per_s: int  # the busiest second's new connections per second
    peak_at: str  # that second (ISO)
    baseline_attempts_per_s: float | None  # the same source's rate before the outage (None: no data before)
    threshold_attempts_per_s: float  # the rate above which a second belongs to the storm window
    seconds: float  # the storm window's length
    amplification: float  # excess new connections ÷ connections the clients could hold before the outage
    amplification_basis: str  # the two figures and their sources
    attempts_source: str  # where the new connections were counted
    population: int  # connections the clients held before the outage
    population_source: str  # where that figure came from
    peak_vs_baseline: float | None = None  # peak ÷ baseline (None without a measured baseline)
    synchrony: float | None = None  # share of 100 ms buckets in which two or more pods tried at once
    pods: int | None = None  # client pods that tried in the storm window
    fleet_pods: int | None = None  # client pods in the incident
    top_pods: dict[str, int] | None = None  # the five busiest client hosts and their attempts
    # errors the clients logged for `max number of clients reached` in the window: a failed call each, which a
    # client with its own retries logs once for several refused connections (storm-32: 221 for the server's 884)
    rejected: int = 0
    rejected_server: int | None = None  # connections the server refused: its rejected_connections increase
    # the same counter's increase over the whole incident (PM103's figure), when more than the window's: two facts,
    # each named (storm-berlin-12: 1,921 in the 6 s window, 2,088 in all)
    rejected_server_all: int | None = None
    # what made it a storm (analysis/kept.py); None in figures built by hand (tests/test_reports.py)
    kept: int | None = None  # of the excess new connections, those the clients kept (most open at once, net of
    # those open from before)
    kept_source: str | None = None  # where that figure came from
    not_kept: int | None = None  # of them, those refused at maxclients or closed again: the churn of a storm
    churn: float | None = None  # not_kept ÷ the larger of the connections held before and those kept (1 or more)
    # the storm counted only by a server counter read after unanswered scrapes (storm_dating.py): the seconds
    # between the answered samples around its rise, and how long after the window's start the server surely still
    # refused (its failed scrapes, the clients' refusals; None: nothing in the gap says); `seconds` is then an
    # upper bound, `peak_new_connections_per_s` the window's mean (a lower bound) and `peak_at` its start
    counter_gap_s: float | None = None
    least_seconds: float | None = None
    # a fleet refused at maxclients before the outage (rate_spread.py): new connections a second over its steady
    # seconds before it and over the window, and the highest rate those seconds predict (95 %), which the window's
    # passed (None: not refused before)
    rate_before: float | None = None
    rate_after: float | None = None
    rate_top: float | None = None
    # "at least": counted from the clients' own logs (no server log, counter or gauge), the new connections, the
    # amplification and the peak are lower bounds; `not_kept` is a bound when what was kept is not in the logs
    # (kept.py: "at least" or "at most"); None: counts
    attempts_bound: str | None = None
    not_kept_bound: str | None = None

    def facts(self) -> dict[str, object]:
        return {"pods": self.fleet_pods or self.pods}


@dataclass(frozen=True, eq=False, repr=False)
class PersistenceFigures(Figures):
    persistence_s: float  # how long errors continued after Redis was back
    errors_after_trigger: int  # client errors in that run
    hosts: int  # hosts that logged them
    peak_errors_per_pod_per_s: int  # the highest errors of one host in one second
    trigger_end: str  # when the last outage ended (ISO)

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts}


@dataclass(frozen=True, eq=False, repr=False)
class SaturationFigures(Figures):
    OMIT_NONE = ("first_rejection", "maxclients", "maxclients_source", "peak_connected_clients",
                 "rejected_by_server", "maxclients_raised_to", "maxclients_raised_at", "connections_per_s_before",
                 "connections_per_s_after", "connections_per_s_top", "connections_seconds", "connections_source",
                 "errors_after", "errors_after_s", "errors_after_hosts", "errors_per_s_before", "errors_per_s_after",
                 "errors_per_s_top", "errors_seconds")

    rejections_logged: int  # `max number of clients reached` lines the clients (or the server) logged
    hosts: int  # hosts that logged them
    first_rejection: str | None = None  # the first one's time (ISO)
    maxclients: int | None = None  # the limit in force when Redis filled up (metrics, else its log)
    maxclients_source: str | None = None  # where maxclients came from
    peak_connected_clients: int | None = None  # the highest connected_clients sample while that limit held
    rejected_by_server: int | None = None  # the server's own rejected_connections increase (its counter)
    maxclients_raised_to: int | None = None  # the limit after a later raise (a mitigation: CONFIG SET, restart)
    maxclients_raised_at: str | None = None  # when the raised limit was first read (ISO)
    # an outage after which new connections kept the rate they had before it, within its spread (rate_spread.py):
    # that rate's mean over the steady seconds before and over the window after, the highest rate those seconds
    # predict (95 %), how many they were, and the source counted (None: no such outage)
    connections_per_s_before: float | None = None
    connections_per_s_after: float | None = None
    connections_per_s_top: float | None = None
    connections_seconds: int | None = None
    connections_source: str | None = None
    # the clients' errors once Redis was back, when they kept the level they ran at before the outage
    # (`ErrorsAfter.continued`: no error the outage left behind, so no PM102): how many, over how long after it, from
    # how many hosts, their rate a second over their steady seconds before and over that run, the highest rate those
    # seconds predict (95 %) and how many they were (None: errors rose above that level, or none ran before)
    errors_after: int | None = None
    errors_after_s: float | None = None
    errors_after_hosts: int | None = None
    errors_per_s_before: float | None = None
    errors_per_s_after: float | None = None
    errors_per_s_top: float | None = None
    errors_seconds: int | None = None

    def facts(self) -> dict[str, object]:
        # Not `hosts` as the pod count: the server's own log lines count the Redis host, not client pods.
        return {"maxclients": self.maxclients}


@dataclass(frozen=True, eq=False, repr=False)
class PoolFigures(Figures):
    events: int  # pool-exhausted errors
    hosts: int  # hosts that logged them

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts}


def _at_least(fig: OutageFigures) -> str:
    return "at least " if fig.at_least else ""


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class RedisUnreachable(RuleDetector):
    rule = Rule(
        "PM100", "redis-unreachable", Severity.HIGH,
        "windows in which clients could not reach an endpoint (the trigger)",
        what=("windows in which Redis clients failed to connect or lost their connections to an endpoint "
              "(connection refused, socket failures, no connection available), joined with the server's own "
              "shutdown and ready lines when they were logged; a server that stopped answering without refusing shows "
              "as timeouts across the fleet, scrapes it did not answer, or its own log going silent while its "
              "clients kept sending (then catching up when it resumed)."),
        why="this is usually the trigger of a connection storm: a short blip makes every client reconnect at once.",
        recommendation=("find out why the endpoint went away (failover, restart, network), and make sure clients ride "
                        "through such blips: jittered reconnect backoff, bounded retries, abortConnect=false."),
        role=Role.TRIGGER,
        phrase="a Redis outage",
        actions=(
            ("mitigate", "Put a circuit breaker in front of Redis and a fallback to the source of truth."),
            ("process", "Alert when clients cannot reach Redis for more than 30 s."),
        ),
        chart_colour="#cf222e", chart_label="outage (PM100)",
        impact_duration=True,
        bleeding=('breaker',),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Survive a Redis outage without a storm",
                      "Clients must keep running while Redis is away and come back spread out in time, not at once; "
                      "a circuit breaker stops hammering an endpoint that is down.",
                      for_clients(facts, lambda: se_full(facts), lambda: [py_pool(facts)]) + breaker(facts))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        unread = not has_client_logs(events)
        # the columns read of an outage's rows, apart (`finding`'s and the scrapes' metric; the clients' kinds and
        # attrs): an outage of a dense log is most of its rows, and a filter copies every column it keeps
        for o in ctx.outages:
            rows = rows_by_ids(events.select(*ROW_COLUMNS, "metric"), o.event_ids)
            client = rows_by_ids(events.select("event_id", "source", "kind", "attrs"), o.event_ids).filter(
                pl.col("source").is_in(CLIENT_SOURCES))
            # a connect that timed out was not answered, as a command that timed out: not a refusal
            failed = client.filter(pl.col("kind").is_in(UNREACHABLE_KINDS))
            unanswered = failed.filter(unanswered_connect()).height  # the JSON read over these rows alone
            refused = failed.height - unanswered
            timeouts = client.select((pl.col("kind") == "redis.timeout").sum()).item() + unanswered
            hang = refused == 0 and (timeouts > 0 or o.silence is not None or o.late_scrape is not None
                                     or o.fleet_silence is not None)
            confirmed = o.server_down is not None or o.server_up is not None
            confidence = Confidence.HIGH if confirmed or len(o.hosts) >= 2 else Confidence.MEDIUM
            stats = OutageFigures(
                endpoint=o.entity, seconds=round(o.seconds, 3), client_failures=refused + timeouts,
                hosts=len(o.hosts), server_down=o.server_down.isoformat() if o.server_down else None,
                server_up=o.server_up.isoformat() if o.server_up else None, timeouts=timeouts, hang=hang,
                at_least=True if hang and (o.start_unknown or o.end_unknown) else None,
                server_lines_per_s=o.silence.rate if o.silence else None,
                resume_lines=o.silence.resume_lines if o.silence else None,
                scrape_gap_s=round(o.late_scrape.gap.gap_s, 3) if o.late_scrape else None,
                scrape_interval_s=round(o.late_scrape.gap.interval_s, 3) if o.late_scrape else None,
                no_client_logs=True if unread else None,
                fleet_quiet_s=round(o.fleet_silence.quiet_s, 3) if o.fleet_silence else None,
                server_answered=o.server_answered,
                server_silent_until=_silent_until(events, o) if hang else None,
            )
            what = ("unreachable from its clients" if o.server_answered is not None else "stopped answering" if hang
                    else "unreachable")
            # the figures as the summary's outcome() writes them ("1,341 client failures on 32 pods")
            pods = f"{len(o.hosts)} pod{'' if len(o.hosts) == 1 else 's'}"
            failed = (_scraped(o, rows, timeouts, pods, unread) if o.scraped
                      else _silent(o.silence, timeouts) if o.silence is not None else _late(o.late_scrape, timeouts) if o.late_scrape
                      else _fleet_quiet(o.fleet_silence, timeouts) if o.fleet_silence
                      else f"{_n(timeouts)} client timeout{'' if timeouts == 1 else 's'} from {pods} at once, "
                           "none refused" if hang
                      else f"{_n(refused + timeouts)} client failure{'' if refused + timeouts == 1 else 's'} from "
                           f"{pods}" if refused + timeouts
                      else _reset(o.reset, unread) if o.reset is not None
                      else _unanswered(rows, unread))
            if o.server_answered is not None:
                failed += f"; {_server_ran(o.server_answered)}"
            title = f"{o.entity} {what} for {_at_least(stats)}{_fmt_s(o.seconds)} ({o.start:%H:%M:%S} → {o.end:%H:%M:%S} UTC): {failed}"
            f = finding(self.rule, title, rows, stats, confidence, entities=(o.entity, *o.hosts),
                        start=o.start, end=o.end)
            if f:
                yield f

    def opening(self, f: Finding) -> str:
        fig = f.figures
        where = fig.endpoint if isinstance(fig, OutageFigures) and fig.endpoint else "Redis"
        seconds = fig.seconds if isinstance(fig, OutageFigures) else 0
        if isinstance(fig, OutageFigures) and fig.server_answered is not None:
            return f"A {seconds:.1f} s network outage between the clients and Redis ({where}){at_time(f.start)}"
        if isinstance(fig, OutageFigures) and fig.hang:
            return f"Redis ({where}) stopped answering for {_at_least(fig)}{seconds:.1f} s{at_time(f.start)}, which"
        return f"A {seconds:.1f} s Redis outage ({where}){at_time(f.start)}"

    def silence(self, f: Finding) -> str | None:
        fig = f.figures
        if not isinstance(fig, OutageFigures) or fig.server_silent_until is None or f.start is None:
            return None
        until = datetime.fromisoformat(fig.server_silent_until)
        return f"the server logged nothing from {f.start:%H:%M:%S} to {until:%H:%M:%S} UTC"

    def outcome(self, f: Finding) -> str | None:
        fig = f.figures
        if not isinstance(fig, OutageFigures):
            return None
        if not fig.client_failures and fig.no_client_logs:
            return f"left its clients' failures unknown: {NO_CLIENT_LOGS}"
        if not fig.client_failures:  # seen by the server's log or the scrapes alone
            return "left no connection failure in the clients' logs"
        # `hosts`: the pods that went silent, or kept sending to a silent server: not the pods that failed
        if fig.scrape_gap_s is not None or fig.fleet_quiet_s is not None or fig.server_lines_per_s is not None:
            return f"left {_held_timeouts(fig.timeouts)} in the clients' logs"
        # the title's figures in the title's words ("101 client failures from 8 pods"); a hang's opening ends in ", which"
        pods = f"{fig.hosts} pod{'' if fig.hosts == 1 else 's'}"
        if fig.hang and fig.server_answered is None:
            return f"caused {fig.timeouts:,} client timeout{'' if fig.timeouts == 1 else 's'} on {pods}"
        return f"caused {fig.client_failures:,} client failure{'' if fig.client_failures == 1 else 's'} on {pods}"


def _reset(b: ResetBurst, unread: bool) -> str:
    """How an outage only the server's log showed as its clients' connections reset together was seen (resets.py)."""
    back = f"{b.end:%H:%M:%S}.{b.end.microsecond // 1000:03d}"
    return (f"the server logged {_n(b.resets)} client connection{'' if b.resets == 1 else 's'} reset by peer at once "
            f"(of {b.held:,.0f} it held: {b.held_source}) and accepted none until {back} UTC; {_no_failure(unread)}")


def _server_ran(answered: int) -> str:
    """Why the outage is the network's: the server answered its scraper on time through it (server_ran.py)."""
    return (f"the server ran throughout (its exporter's {answered} scrape{'' if answered == 1 else 's'} in it answered on "
            "time, no shutdown logged): the network between the clients and Redis failed")


def _silent_until(events: pl.DataFrame, o: Outage) -> str | None:
    """`OutageFigures.server_silent_until`: when the server answered again with nothing logged since the window began
    (`correlate.silent_until`), when that came before the window ended."""
    line = silent_until(events, o.entity, o.start)
    return line.isoformat() if line is not None and line < o.end else None


def _silent(s: Silence, held: int) -> str:
    """How an outage only the server's log showed was seen: its silence against its own rate, the catch-up, and the
    `held` calls that timed out (none: no failure)."""
    pods = f"{len(s.hosts)} pod{'' if len(s.hosts) == 1 else 's'}"
    return f"{_went_silent(s)}; its {pods} kept sending {'but logged ' + _held_timeouts(held) if held else 'and logged no failure'}"


def _went_silent(s: Silence) -> str:
    return (f"its log went silent (no line, against {s.rate:g} a second before) and logged {s.resume_lines} lines in "
            f"the second it resumed")


def _no_failure(unread: bool) -> str:
    """What the clients' logs say of an outage none of them logged a failure in, or that none was read."""
    return NO_CLIENT_LOGS if unread else "no client logged a failure"


def _scraped(o: Outage, rows: pl.DataFrame, held: int, pods: str, unread: bool) -> str:
    """How a hang first seen as an unanswered scrape was seen: the scrapes, the `held` calls that timed out over the
    pause (not a burst at once: per-request-pause-32's 11 from 11 pods), and the server's silence that bounds it."""
    seen = _scrapes(rows)
    seen += f" and {_held_timeouts(held)} on {pods}" if held else f"; {_no_failure(unread)}"
    return f"{seen}; {_went_silent(o.silence)}" if o.silence is not None else seen


def _late(s: LateScrape, held: int) -> str:
    """How an outage seen as a late answered scrape was seen: the scrape's gap, the fleet's silence and the `held`
    calls that timed out (none: no failure), the catch-up."""
    g = s.gap
    pods = f"{len(s.hosts)} pod{'' if len(s.hosts) == 1 else 's'}"
    caught = _caught_up(g)
    return (f"a scrape answered {g.gap_s:.1f} s after the one before (every {g.interval_s:.1f} s otherwise), while its "
            f"{pods} logged nothing for {g.quiet_s:.1f} s {'but ' + _held_timeouts(held) if held else 'and no failure'}; {caught}")


def _fleet_quiet(s: FleetSilence, held: int) -> str:
    """How an outage seen as the whole fleet's silence (no scraper) was seen: the silence against the fleet's own
    rate, the `held` calls that timed out, the catch-up."""
    pods = f"{len(s.hosts)} pod{'' if len(s.hosts) == 1 else 's'}"
    return (f"its {pods} logged nothing for {s.quiet_s:.1f} s (against {s.client_rate:.1f} records a second before) "
            f"{'but ' + _held_timeouts(held) if held else 'and no failure'}; {_caught_up(s)}")


def _caught_up(g: Gap | FleetSilence) -> str:
    return (f"{g.resume_accepts:,.0f} connections accepted in the second they resumed (at most "
            f"{g.peak_accepts:,.0f} a second before)" if g.resume_accepts > g.peak_accepts else
            f"{g.resume_lines:,.0f} lines logged in the second they resumed (at most {g.peak_lines:,.0f} a second "
            f"before)")


def _held_timeouts(n: int) -> str:
    return f"{_n(n)} timeout{'' if n == 1 else 's'} of {'a call' if n == 1 else 'calls'} it held"


def _unanswered(rows: pl.DataFrame, unread: bool) -> str:
    """How an outage no client logged was seen: the scrapes the server did not answer."""
    return f"{_scrapes(rows)}; {_no_failure(unread)}"


def _scrapes(rows: pl.DataFrame) -> str:
    scrapes = rows.filter(pl.col("metric").is_in(UP_METRICS))
    return (f"{scrapes.height} scrape{'' if scrapes.height == 1 else 's'} unanswered (`{scrapes.get_column('metric')[0]}` 0)" if scrapes.height
            else "seen by the server's own log only")


@dataclass(frozen=True)
class Storm:
    """Reconnect demand after one outage, measured against the connections the clients held before."""

    outage: Outage
    population: Population
    capacity: tuple[int, str] | None  # (pods x logged pool cap, how counted)
    demand: Demand
    held: float  # the larger of the population and the capacity: what a recovery may re-open
    amplification: float  # excess new connections per connection held
    rejected_clients: int  # `max number of clients reached` errors the clients logged in the window
    rejected_server: int | None  # the server's rejected_connections increase in the window (metric)
    start: datetime
    end: datetime
    threshold: float  # rate above which a second belongs to the storm window
    kept: Kept  # of the new connections, those the clients kept and those they did not
    dated: Dated | None = None  # a counter's rise across unanswered scrapes: the window it allows (storm_dating.py)
    spread: Spread | None = None  # the source's rate before the outage and in the window (rate_spread.py)

    @property
    def within_spread(self) -> bool:
        """The window's rate is one the source kept before the outage: a fleet refused at maxclients all along."""
        return self.spread is not None and self.spread.within

    @property
    def is_storm(self) -> bool:
        return self.kept.churns(NOT_KEPT_PER_NEEDED) and not self.within_spread


def _restarted(events: pl.DataFrame, o: Outage, back: datetime) -> bool:
    """Whether the server was restarted in outage `o`: its ready line, a shutdown before it answered again (not the
    run's own shutdown after it: hang-40's, 3.3 s after its pause), or its connections counter reset meanwhile."""
    if o.server_up is not None or (o.server_down is not None and o.server_down <= back):
        return True
    received = events.filter((pl.col("metric") == "connections_received") & pl.col("value").is_not_null()
                             & (pl.col("ts") <= back + HORIZON)).sort("ts")
    return received.filter(counter_reset() & (pl.col("ts") >= o.start)).height > 0


def answered_again(events: pl.DataFrame, o: Outage) -> datetime:
    """When the server answered again after outage `o`: its ready line, else the window's end; or, earlier,
    the first connection its log shows it accepting inside the window. A fleet that reconnects the instant a
    paused server resumes can keep it busy refusing them at maxclients (and refusing the scraper whose failures
    then extend the window) for seconds: that flood is the storm, not more of the outage. A server whose shutdown
    line falls inside the window answered nobody between it and its ready line: the connections it accepted before
    it are the old server's last (storm-rate50-long-16: 42 from 14:40:54.611 to .625, after the clients' first failure,
    began PM101's count 6.1 s before the restarted server's ready line). A hang that ended at its logged resume
    answered then."""
    if o.resumed is not None:  # a line the clock margin put inside the window is not the resume (_hang_end)
        return o.resumed
    back = o.server_up or o.end
    gone = o.server_down if o.server_down is not None and o.start <= o.server_down <= back else o.start
    first = first_accepted(events, o.entity, gone, back)
    return first if first is not None and first < back else back


def measure_storm(events: pl.DataFrame, ctx: Context, o: Outage, nxt: Outage | None) -> Storm | None:
    """The reconnect demand after outage `o` against the client population before it; None without the
    figures to measure it (no population, or no count of new connections after the outage)."""
    had = held_before(events, o.start)
    back = answered_again(events, o)
    live = ~(pl.col("kind").is_in(UNREACHABLE_KINDS) & _in_outage(ctx))
    # a server that was not restarted kept its listening socket: what clients queued there meanwhile is accepted
    # and closed at once when it answers again (population.demand_after)
    restarted = _restarted(events, o, back)
    demand = demand_after(events, o.start, back, nxt.start if nxt else None, live, abandoned=not restarted)
    if had is None or demand is None:
        return None
    pop, capacity, held = had.population, had.capacity, had.connections
    per_s = demand.per_second
    threshold = max(2.0 * (demand.baseline_per_s or 0.0), held * WINDOW_SHARE, 1.0)
    hot = per_s.filter(pl.col("rate") > threshold)
    if hot.height == 0:
        start, end = demand.window_start, demand.window_end
    else:
        # from the first to the last second above the threshold within the horizon: not broken at a quiet
        # second, so the window does not hinge on where one second's boundary falls
        start = hot.get_column("second").min()
        end = hot.get_column("second").max() + timedelta(seconds=1)
    dated = date_counter_rise(events, demand, back, hot.get_column("second").to_list())
    if dated is not None:
        start, end = dated.start, dated.end
    refused = refused_after(events, o.start, back, end)
    # a restarted server's rate is measured from its ready line: a window that began with the old server's last
    # accepts (storm-rate50-long-16: at its shutdown line) holds the seconds it was down
    # without the server log's closes, the queue a server that kept running accepted when it answered again is in
    # the first count after it (hang-24 and hang-40 without their logs: 217 and 388 connections not kept, 2.3x)
    netted = demand.source.startswith("server log")
    queued = 0.0 if restarted or netted or demand.per_second.height == 0 \
        else float(demand.per_second.get_column("attempts")[0])
    kept = kept_after(events, held, demand.excess, o.start, back, demand.window_end, restarted, refused.server,
                      refused.clients, queued, (refused.server_before, refused.clients_before),
                      opened_at_least=demand.source == CLIENT_LOG_ATTEMPTS)
    return Storm(o, pop, capacity, demand, held, round(demand.excess / held, 1), refused.clients, refused.server,
                 start, end, threshold, kept, dated,
                 rate_spread(events, demand, o.start, max(start, o.server_up) if o.server_up else start, end))


@per_outages
def storms(events: pl.DataFrame, ctx: Context) -> list[Storm]:
    """One measurement per outage (see `measure_storm`); once per analysis, for PM101 and PM303 alike."""
    out = []
    for i, o in enumerate(ctx.outages):
        nxt = ctx.outages[i + 1] if i + 1 < len(ctx.outages) else None
        found = measure_storm(events, ctx, o, nxt)
        if found is not None:
            out.append(found)
    return out


class ReconnectStorm(RuleDetector):
    rule = Rule(
        "PM101", "reconnect-storm", Severity.CRITICAL,
        "thundering herd: after an outage, as many new connections refused or closed again as the clients keep",
        what=("new connections after an outage (the server's `Accepted` lines, its connections_received plus rejected_connections counters or "
              "created-connections rate, else the clients' own connect attempts against the live server), net of the "
              "pre-outage rate, and how many of them the clients kept (the most open at once: connected_clients, else "
              "the server log's accepted minus closed): a fleet that re-opens its pools keeps what it opens, however wide "
              "its pools; a storm's connections are refused at maxclients or closed and opened again. A storm when those "
              "not kept reach the larger of the connections the clients held before (connected_clients, the server's "
              "open connections, or pods x pool cap) and those they kept; a fleet Redis already refused at maxclients "
              "before the outage storms only when the outage lifts its rate out of its own seconds before it (above "
              "the 95 % prediction interval of one more such second). Counted from when the server "
              "answered again: its ready line, or the first connection it accepted inside the outage window, after its "
              "shutdown line when it logged one (a "
              "resumed server kept busy refusing the fleet is the storm, not more outage); a server that was not "
              "restarted counts its accepted connections net of those it closed at once as it resumed (connects "
              "the clients abandoned in its listen queue while it was stopped)."),
        why=("when every pod reconnects in the same instant the server spends its time in TCP and TLS handshakes, "
             "hits maxclients and rejects connections, so clients time out and retry again: the app keeps its own "
             "cache down (a metastable failure). Scaling Redis up does not fix it."),
        recommendation=("spread reconnects out: jittered exponential backoff (StackExchange.Redis ExponentialRetry, redis-py "
                        "Retry(ExponentialWithJitterBackoff(...))), a bounded pool per pod, and no new connection per request."),
        role=Role.AMPLIFIER,
        phrase="a reconnect storm",
        actions=(
            ("prevent", "Use jittered exponential reconnects in every client."),
            ("process", "Load-test a Redis outage (a restart, a failover and a network blip of a few seconds) with "
                        "production pod counts before the next release."),
        ),
        chart_colour="#bf8700", chart_label="storm (PM101)",
        impact_duration=True,
        bleeding=('ingress', 'retries', 'breaker', 'noisy_clients'),
    )

    def advise(self, facts: Facts) -> Advice:
        return reconnect_backoff(facts, with_maxclients=True)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        for st in storms(events, ctx):
            if st.is_storm:
                f = self._finding(events, st)
                if f is not None:
                    yield f

    def _finding(self, events: pl.DataFrame, st: Storm) -> Finding | None:
        d = st.demand
        counted_until = st.dated.counted_until if st.dated else st.end
        in_win = d.per_second.filter(pl.col("second").is_between(st.start.replace(microsecond=0), counted_until,
                                                                 closed="left"))
        in_win = in_win if in_win.height else d.per_second
        peak = in_win.sort(["rate", "second"], descending=[True, False]).row(0, named=True)
        attempts = int(round(float(in_win.get_column("attempts").sum())))
        seconds = round((st.end - st.start).total_seconds(), 1)
        if st.dated:  # no second of it was counted alone: its mean over the window is all the sources say
            peak = {"rate": attempts / max(seconds, 1.0), "second": st.start.replace(microsecond=0)}
        window = events.filter(pl.col("ts").is_between(st.start, st.end, closed="left")
                               & (pl.col("kind").is_in(ATTEMPT_KINDS) | (pl.col("metric") == "connections_received")
                                  | pl.col("kind").is_in(("redis.connection_restored",))))
        clients = window.filter(pl.col("source").is_in(CLIENT_SOURCES) & pl.col("host").is_not_null())
        synchrony = pods = top_pods = None
        if clients.height >= 10 and clients.get_column("host").n_unique() >= 2:
            buckets = clients.with_columns(b=pl.col("ts").dt.truncate(SYNC_BUCKET)).with_columns(
                multi=pl.col("host").n_unique().over("b") >= 2)
            synchrony = round(float(buckets.get_column("multi").mean()), 3)
        if clients.height:
            pods = clients.get_column("host").n_unique()
            top = clients.group_by("host").len().sort(["len", "host"], descending=[True, False]).head(5)
            top_pods = {r["host"]: r["len"] for r in top.iter_rows(named=True)}
        base = d.baseline_per_s
        stats = StormFigures(
            attempts=attempts, peak_new_connections_per_s=int(round(peak["rate"])), peak_at=peak["second"].isoformat(),
            baseline_attempts_per_s=round(base, 2) if base is not None else None,
            threshold_attempts_per_s=round(st.threshold, 2), seconds=seconds,
            peak_vs_baseline=round(peak["rate"] / base, 1) if base else None, synchrony=synchrony, pods=pods,
            top_pods=top_pods, amplification=st.amplification,
            amplification_basis=(f"{_n(int(round(d.excess)))} new connections ({d.source}, net of the pre-outage rate) "
                                 f"÷ {_n(int(round(st.held)))} connections the clients could hold before "
                                 f"({_held_source(st)})"),
            rejected=st.rejected_clients, attempts_source=d.source, population=int(round(st.population.connections)),
            population_source=st.population.source, fleet_pods=st.population.pods or None,
            rejected_server=st.rejected_server, rejected_server_all=_rejected_beyond(events, st.rejected_server),
            kept=int(round(st.kept.kept)), kept_source=st.kept.kept_source,
            not_kept=int(round(st.kept.not_kept)), churn=st.kept.churn,
            counter_gap_s=st.dated.gap_s if st.dated else None,
            least_seconds=round((st.dated.least_end - st.start).total_seconds(), 1)
            if st.dated and st.dated.least_end else None,
            rate_before=round(st.spread.before, 1) if st.spread else None,
            rate_after=round(st.spread.after, 1) if st.spread else None,
            rate_top=round(st.spread.top, 1) if st.spread else None,
            attempts_bound="at least" if d.source == CLIENT_LOG_ATTEMPTS else None, not_kept_bound=st.kept.bound,
        )
        evidence = pl.concat([
            rows_by_ids(events, st.population.evidence).select(window.columns),
            window.filter(pl.col("ts").dt.truncate("1s") == peak["second"]).head(3),
            window.filter(pl.col("kind") == "redis.max_clients").head(2),
            window.head(2),
            _counting_samples(events, st).select(window.columns),
        ]).unique("event_id").sort("ts")
        if evidence.height == 0:
            return None
        title = (f"{_bound(stats.attempts_bound)}{_n(attempts)} new connections {_span(stats)} after the outage for the "
                 f"{_n(stats.population)} the clients held before ({_bound(stats.attempts_bound)}{st.amplification}x amplification), "
                 f"{_not_kept(st.kept)}, {_rate(stats)}"
                 + (f"; {refused}" if (refused := _refused(stats)) else ""))
        confidence = Confidence.HIGH if st.rejected_clients or st.rejected_server or (synchrony or 0) >= 0.5 \
            else Confidence.MEDIUM
        f = finding(self.rule, title, evidence, stats, confidence, entities=(st.outage.entity,),
                    start=st.start, end=st.end)
        return replace(f, evidence_more=max(window.height - evidence.height, 0)) if f else None

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None:
        s = f.figures
        if not isinstance(s, StormFigures):
            return None
        text = (f"triggered a reconnect storm: {_bound(s.attempts_bound)}{_n(s.attempts)} new connections {_span(s)} for the "
                f"{_n(s.population)} the clients held before ({_bound(s.attempts_bound)}{s.amplification}x), "
                + (f"{_bound(s.not_kept_bound)}{_n(s.not_kept)} not kept, " if s.not_kept is not None else "")
                + _rate(s))
        sat = next((x.figures for x in findings if x.rule_id == MaxclientsSaturation.rule.rule_id), None)
        refused = _refused(s) or (_refused_overall(sat) if isinstance(sat, SaturationFigures) else None)
        if refused:
            text += f", {refused}"
        if s.pods is not None:  # not who made the peak (the server's count, from every pod): who logged attempts
            text += f"; {s.pods} of {s.fleet_pods} pods" if s.fleet_pods else f"; {s.pods} pods"
            text += " logged reconnect attempts in it"
            if s.synchrony is not None:
                text += f", two or more at once in {round(100 * s.synchrony)} % of its 100 ms steps"
        if (before := refusing_before(sat, findings)) is not None:
            text += (f"; Redis was already refusing connections at maxclients from {before[0]:%H:%M:%S} UTC, "
                     f"{before[1]:.1f} s before the outage")
            if s.rate_before is not None and s.rate_after is not None:
                text += (f", and the outage lifted its new connections from {s.rate_before:,.0f} a second to "
                         f"{s.rate_after:,.0f}, beyond the {s.rate_top:,.0f} its seconds before predict (95 %)")
        return text


def _counting_samples(events: pl.DataFrame, st: Storm) -> pl.DataFrame:
    """The counter samples that counted a storm dated across unanswered scrapes (none otherwise): its evidence."""
    if st.dated is None or st.demand.metric is None:
        return events.clear()
    return events.filter((pl.col("metric") == st.demand.metric)
                         & pl.col("ts").is_between(st.start, st.dated.counted_until, closed="left")).tail(1)


def _span(s: StormFigures) -> str:
    """How long the storm lasted, as precisely as its count dates it: a counter read only after unanswered scrapes
    bounds it by that gap, and what the server refused inside the gap says how long at least (`storm_dating.py`)."""
    if s.counter_gap_s is None:
        return f"in {s.seconds} s"
    least = "" if s.least_seconds == s.seconds else \
        f"{s.least_seconds} to " if s.least_seconds is not None else "at most "
    return (f"in {least}{s.seconds} s (the server's counter rose once across {s.counter_gap_s} s of unanswered "
            "scrapes)")


def _bound(bound: str | None) -> str:
    """"at least " or "at most " before a figure that is a bound (`StormFigures.attempts_bound`, `not_kept_bound`)."""
    return f"{bound} " if bound else ""


def _rate(s: StormFigures) -> str:
    """The storm's rate: its busiest second, or, counted only across a gap of unanswered scrapes, its mean over the
    longest window the gap allows (at least that: no second of it was counted alone)."""
    if s.attempts_bound:
        return f"{s.attempts_bound} {_n(s.peak_new_connections_per_s)} new connections/s at its peak"
    if s.counter_gap_s is None:
        return f"peaking at {_n(s.peak_new_connections_per_s)} new connections/s"
    return f"at least {_n(s.peak_new_connections_per_s)} new connections/s on average"


def _not_kept(k: Kept) -> str:
    """The churn as the title says it: not kept, against what the fleet kept or held (the larger). Not "of them":
    the refusals the clients logged may outnumber the connections the server logged (example-incident: 16 and 12)."""
    kept = int(round(k.kept))
    against = f"the {_n(kept)} they kept" if k.measured and kept >= k.needed \
        else f"the {_n(int(round(k.needed)))} they held before"
    bound = _bound(k.bound)
    return f"{bound}{_n(int(round(k.not_kept)))} not kept (refused or closed again: {bound}{k.churn}x {against})"


def _refused(s: StormFigures) -> str | None:
    """The storm window's refusals at maxclients (`_refusals`), and the incident's when the server refused more."""
    said = _refusals(s.rejected_server, s.rejected, "client errors at maxclients")
    if said and s.rejected_server and s.rejected_server_all:
        return f"{said} in it ({_n(s.rejected_server_all)} in all)"
    return said


def _rejected_beyond(events: pl.DataFrame, in_window: int | None) -> int | None:
    """The server's refusals over the whole incident (PM103's count), when more than the storm window's."""
    if not in_window:
        return None
    ts = events.get_column("ts")
    total = rejected_server(events, ts.min(), ts.max())
    return total if total is not None and total > in_window else None


def _refused_overall(s: SaturationFigures) -> str | None:
    """PM103's refusals at maxclients (`_refusals`)."""
    return _refusals(s.rejected_by_server, s.rejections_logged, "errors at maxclients logged")


def _refusals(server: int | None, logged: int, logged_as: str) -> str | None:
    """Refusals at maxclients: connections by the server's own counter, else the errors logged. Not one for the
    other: a client that retries inside a call logs one error for several refused connections (the storm
    recordings at 4 to 48 pods: one logged error per four refusals)."""
    if server:
        return f"{_n(server)} connections rejected at maxclients"
    return f"{_n(logged)} {logged_as}" if logged else None


def _held_source(st: Storm) -> str:
    return Held(st.held, st.population, st.capacity).source


# Client records after the outage that no retry of it explains: a logged configuration, and the running server's
# refusal of a write at its memory limit (PM305's own trigger: eviction-restart-12's 434 OOM replies after the restart)
NOT_RETRIES = ("redis.config", "redis.oom")


@dataclass(frozen=True)
class ErrorsAfter:
    """The clients' errors once Redis was back after the last outage, against the level they had before the first."""

    run: pl.DataFrame  # the contiguous run of errors after the last outage ended (gaps under 10 s)
    trigger_end: datetime  # when the last outage ended
    spread: Spread | None  # errors a second over their steady seconds before the first outage, and over the run
    storm: bool  # an outage set off a reconnect storm (PM101): its errors are the storm's, whatever their level

    @property
    def persistence_s(self) -> float:
        """How long the errors went on after Redis was back."""
        return (self.run.get_column("ts").max() - self.trigger_end).total_seconds()

    @property
    def continued(self) -> bool:
        """The run kept the level the fleet's errors ran at before the outage (within the 95 % prediction of one
        more second, `rate_spread.errors_spread`) and no storm lifted it: errors the outage did not leave behind
        (a fleet refused at maxclients all along: storm-rate50-long-8, storm-full-long-4)."""
        return self.spread is not None and self.spread.within and not self.storm


@per_outages
def errors_after(events: pl.DataFrame, ctx: Context) -> list[ErrorsAfter]:
    """The clients' errors after the outages (none: no outage, or fewer than 10 errors after it), for PM102 and PM103
    alike: once per analysis."""
    if not ctx.outages:
        return []
    trigger_end, first = ctx.outages[-1].end, ctx.outages[0].start
    # the columns read (`finding`'s, and what picks the rows): a dense log's errors after an outage are many rows
    errors = events.select(*ROW_COLUMNS, "source", *PROBLEM_COLUMNS).filter(
        pl.col("source").is_in(CLIENT_SOURCES) & is_problem() & ~pl.col("kind").is_in(NOT_RETRIES)
        & (pl.col("ts") >= ts_lit(first - LOOKBACK)))
    after = errors.filter(pl.col("ts") > trigger_end).sort("ts")
    if after.height < 10:
        return []
    run = after.with_columns(gap=pl.col("ts").diff().dt.total_seconds().fill_null(0) > 10).with_columns(
        part=pl.col("gap").cum_sum()).filter(pl.col("part") == 0).drop("gap", "part")
    seconds = max((run.get_column("ts").max() - trigger_end).total_seconds(), 1.0)
    spread = errors_spread(errors.select("ts"), first, run.height / seconds)
    return [ErrorsAfter(run, trigger_end, spread, any(st.is_storm for st in storms(events, ctx)))]


class RetryStorm(RuleDetector):
    rule = Rule(
        "PM102", "retry-storm", Severity.HIGH,
        "retries beyond budget; errors that persist after the trigger ended",
        what=("client errors that keep coming after the endpoint is back (persistence), at a rate per pod that "
              "exceeds a retry budget; a fleet that logged errors before the outage too (refused at maxclients all "
              "along) persists only when the errors after it rose out of their spread before it, or a reconnect storm "
              "lifted them."),
        why=("errors that outlive their trigger are the signature of a metastable failure: the retries themselves "
             "are now the load that keeps Redis from recovering."),
        recommendation=("keep one retry layer with a budget (at most 3 per request and ≤ 10 % of requests), with jittered "
                        "backoff, and a circuit breaker that fails fast while Redis is down."),
        role=Role.AMPLIFIER,
        phrase="retries that outlived the outage",
        actions=(
            ("prevent", "Keep one retry layer with a budget (3 tries, jittered); remove outer retry loops."),
            ("mitigate", "Open a circuit breaker while Redis is down instead of retrying."),
        ),
        impact_duration=True,
        bleeding=('ingress', 'retries', 'noisy_clients'),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("One retry layer with a budget, plus a circuit breaker",
                      "Retries kept a failing Redis down: keep a single retry layer (3 tries, jittered) and no outer "
                      "loop (Polly/tenacity) around it; open a breaker when Redis is down.",
                      for_clients(facts, lambda: [se_options(facts, single=False)], lambda: [py_retry(facts)])
                      + breaker(facts))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        found = errors_after(events, ctx)
        if not found or found[0].continued or found[0].persistence_s < PERSIST_MIN_S:
            return
        run, trigger_end = found[0].run, found[0].trigger_end
        last, persistence = run.get_column("ts").max(), found[0].persistence_s
        per_host = (run.with_columns(second=pl.col("ts").dt.truncate("1s"))
                    .group_by(["host", "second"]).len().get_column("len"))
        stats = PersistenceFigures(
            persistence_s=round(persistence, 1), errors_after_trigger=run.height,
            hosts=run.get_column("host").n_unique(), peak_errors_per_pod_per_s=int(per_host.max() or 0),
            trigger_end=trigger_end.isoformat(),
        )
        title = (f"errors persisted {_fmt_s(persistence)} after Redis was back: {run.height} errors from "
                 f"{stats.hosts} hosts, up to {stats.peak_errors_per_pod_per_s}/s per pod")
        f = finding(self.rule, title, run, stats, Confidence.MEDIUM if persistence < 15 else Confidence.HIGH,
                    entities=tuple(run.get_column("host").drop_nulls().unique().sort().to_list()),
                    start=trigger_end, end=last)
        if f:
            yield f

    def sentence(self, f: Finding) -> str | None:
        s = f.figures
        if not isinstance(s, PersistenceFigures):
            return None
        return (f"Errors persisted {s.persistence_s} s after Redis was back "
                f"({_n(s.errors_after_trigger)} errors from {s.hosts} hosts).")


def maxclients_value(events: pl.DataFrame, at: datetime | None = None) -> tuple[float | None, str]:
    """maxclients in force at `at` (postmortem/analysis/limits.py), with its source; (None, "") when unknown."""
    limit = maxclients_at(events, at)
    return (float(limit.value), limit.source) if limit else (None, "")


class MaxclientsSaturation(RuleDetector):
    rule = Rule(
        "PM103", "maxclients-saturation", Severity.CRITICAL,
        "`max number of clients reached`, rejected connections, clients at maxclients",
        what=("clients told `ERR max number of clients reached`, the server rejecting connections, or connected "
              "clients at 90 % or more of maxclients."),
        why=("once Redis is full every new connection is rejected, and clients that retry rejected connects "
             "(redis-py 6.x does by default) keep it full: healthy pods cannot get a connection either."),
        recommendation=("size maxclients as pods × per-pod pool cap plus headroom (and `ulimit -n` ≥ maxclients + 32), cap "
                        "every client pool, and stop opening a connection per request."),
        role=Role.CONSEQUENCE,
        phrase="maxclients saturation",
        actions=(
            ("prevent", "Cap per-pod pools and size maxclients as pods x cap + headroom."),
            ("process", "Alert on rejected_connections > 0 and connected_clients above 90 % of maxclients."),
        ),
        impact_duration=True,
        bleeding=('ingress', 'scale_redis'),
        lucky_if_absent=True,
    )

    def advise(self, facts: Facts) -> Advice:
        return cap_connections(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rej = events.filter(
            (pl.col("kind") == "redis.max_clients")
            | ((pl.col("source") == "redis_server") & pl.col("message").str.contains("(?i)max number of clients"))
        )
        cc = events.filter((pl.col("metric") == "connected_clients") & pl.col("value").is_not_null())
        first = rej.filter(pl.col("ts").is_not_null()).get_column("ts").min() if rej.height else None
        at = first if first is not None else (cc.sort("value", descending=True).get_column("ts")[0]
                                              if cc.height else None)
        limit = maxclients_at(events, at)
        raise_ = next((c for c in maxclients_changes(events) if c.new > c.old and limit and c.old == limit.value
                       and (at is None or c.ts > at)), None)
        if raise_ is not None:  # judge fullness against the limit of the time, not the one set afterwards
            cc = cc.filter(pl.col("ts") < raise_.ts)
        near = pl.DataFrame()
        if limit and cc.height:
            near = cc.filter(pl.col("value") >= 0.9 * limit.value)
        if rej.height == 0 and near.height == 0:
            return
        rows = pl.concat([rej, near]) if near.height else rej
        cited = [i for i in ((limit.event_id if limit else None), (raise_.event_id if raise_ else None))
                 if i is not None]
        if cited:  # the first rejections, and the readings of the limit the figures name
            rows = pl.concat([rej.sort("ts", nulls_last=True).head(4), near.head(2) if near.height else rej.head(0),
                              rows_by_ids(events, cited).select(rej.columns)])
        server = rejected_server(events, events.get_column("ts").min(), events.get_column("ts").max()) \
            if first is not None else None
        steady = next((st for st in storms(events, ctx) if st.within_spread), None)
        if steady is not None:  # the refusals went on after the outage as before it: the first of them is evidence
            rows = pl.concat([rows, rej.filter(pl.col("ts") > steady.outage.end).sort("ts").head(1)])
        spread = steady.spread if steady is not None else None
        went_on = next((e for e in errors_after(events, ctx) if e.continued and e.spread is not None), None)
        level = went_on.spread if went_on is not None else None
        stats = SaturationFigures(
            rejections_logged=rej.height, hosts=rej.get_column("host").n_unique(),
            first_rejection=first.isoformat() if first is not None else None,
            maxclients=limit.value if limit else None, maxclients_source=limit.source if limit else None,
            peak_connected_clients=int(cc.get_column("value").max()) if cc.height else None,
            rejected_by_server=server or None,
            maxclients_raised_to=raise_.new if raise_ else None,
            maxclients_raised_at=raise_.ts.isoformat() if raise_ else None,
            connections_per_s_before=round(spread.before, 1) if spread else None,
            connections_per_s_after=round(spread.after, 1) if spread else None,
            connections_per_s_top=round(spread.top, 1) if spread else None,
            connections_seconds=spread.seconds if spread else None,
            connections_source=steady.demand.source if steady is not None else None,
            errors_after=went_on.run.height if went_on is not None else None,
            errors_after_s=round(went_on.persistence_s, 1) if went_on is not None else None,
            errors_after_hosts=went_on.run.get_column("host").n_unique() if went_on is not None else None,
            errors_per_s_before=round(level.before, 1) if level is not None else None,
            errors_per_s_after=round(level.after, 1) if level is not None else None,
            errors_per_s_top=round(level.top, 1) if level is not None else None,
            errors_seconds=level.seconds if level is not None else None,
        )
        # the server's count of refused connections and the clients' logged errors are two facts, each named
        parts = [f"{_n(server)} connections rejected at maxclients (the server's count)" if server else None,
                 f"{_n(rej.height)} errors at maxclients logged from {stats.hosts} host{'' if stats.hosts == 1 else 's'}"
                 if rej.height else None]
        if near.height and limit:
            parts.append(f"connected clients reached {stats.peak_connected_clients} of {limit.value}")
        if raise_ is not None:
            parts.append(f"maxclients raised {raise_.old} -> {raise_.new} at {raise_.ts:%H:%M:%S} UTC (mitigation)")
        title = "; ".join(p for p in parts if p)
        # the window is the rejections and the samples at the limit, not the limit's readings it cites
        seen = (pl.concat([rej, near]) if near.height else rej).get_column("ts").drop_nulls()
        f = finding(self.rule, title, rows.unique("event_id"), stats, Confidence.HIGH,
                    entities=tuple(rej.get_column("entity").drop_nulls().unique().to_list()),
                    start=seen.min() if seen.len() else None, end=seen.max() if seen.len() else None)
        if f:
            shown = sum(1 for e in f.evidence if e.line)  # rejections and samples not cited are "more"
            yield replace(f, evidence_more=max(0, rej.height + near.height + len(cited) - shown))

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None:
        s = f.figures
        refused = _refused_overall(s) if isinstance(s, SaturationFigures) else None
        before = refusing_before(s, findings)
        if before is not None:
            return (f"came while Redis was already refusing connections at maxclients (from {before[0]:%H:%M:%S} UTC, "
                    f"{before[1]:.1f} s before it" + (f"; {refused})" if refused else ")")
                    + (_steady_rate(s) + _errors_went_on(s) if isinstance(s, SaturationFigures) else ""))
        return f"pushed Redis to maxclients ({refused})" if refused else "pushed Redis to maxclients"


def _steady_rate(s: SaturationFigures) -> str:
    """An outage after which new connections kept their pre-outage rate, within its spread: no reconnect storm."""
    if s.connections_per_s_before is None or s.connections_per_s_after is None:
        return ""
    return (f": {s.connections_per_s_before:,.0f} new connections a second before it and {s.connections_per_s_after:,.0f} "
            f"after it, within the {s.connections_per_s_top:,.0f} a second its {s.connections_seconds} seconds before "
            "predict (95 %), so no reconnect storm")


def _errors_went_on(s: SaturationFigures) -> str:
    """The clients' errors after Redis was back, at the level they ran at before the outage: its refusals went on,
    not errors it left behind (PM102 says nothing of them)."""
    if s.errors_after is None or s.errors_per_s_before is None:
        return ""
    hosts = f"{s.errors_after_hosts} host{'' if s.errors_after_hosts == 1 else 's'}"
    return (f"; its clients' errors went on {s.errors_after_s} s after Redis was back ({_n(s.errors_after)} from {hosts}), "
            f"{s.errors_per_s_after:,.0f} a second against {s.errors_per_s_before:,.0f} before it, within the "
            f"{s.errors_per_s_top:,.0f} its {s.errors_seconds} seconds before predict (95 %)")


def refusing_before(sat: Figures | None, findings: Sequence[Finding]) -> tuple[datetime, float] | None:
    """PM103's first refusal and how many seconds before the first outage it came, when it came before that outage
    began by more than two clocks may disagree (`clocks.AGREE_S`): the outage did not do it
    (a fleet whose pools want more than maxclients: storm-rate50-long-8, refused from 6.0 s before a restart)."""
    outages = [x.start for x in findings if x.rule_id == RedisUnreachable.rule.rule_id and x.start is not None]
    if not outages or not isinstance(sat, SaturationFigures) or not sat.first_rejection:
        return None
    first = datetime.fromisoformat(sat.first_rejection)
    lead = (min(outages) - first).total_seconds()
    if lead <= AGREE_S:
        return None
    return first, lead


class PoolExhaustion(RuleDetector):
    rule = Rule(
        "PM104", "pool-exhaustion", Severity.HIGH,
        "client pool exhausted (`Too many connections`, `No connection available.`)",
        what=("redis-py `Too many connections` (ConnectionPool at max_connections) and `No connection available.` "
              "(BlockingConnectionPool timed out waiting)."),
        why=("requests queue behind a full pool; usually connections are held by hung sockets (no socket_timeout) "
             "or the pool is too small for the concurrency."),
        recommendation=("set socket_timeout and socket_connect_timeout so dead connections are freed, size the pool for the "
                        "real concurrency, and use BlockingConnectionPool with a short timeout."),
        role=Role.CONSEQUENCE,
        phrase="exhausted client pools",
        actions=(
            ("prevent", "Use a bounded, blocking pool with a wait timeout."),
        ),
        bleeding=('ingress', 'breaker', 'noisy_clients'),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Bound the pool and time out waits",
                      "A blocking pool with a cap and a wait timeout turns exhaustion into fast, visible errors.",
                      for_clients(facts, lambda: [se_options(facts, backlog=False)], lambda: [py_pool(facts)]))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = events.filter(pl.col("kind") == "redis.pool_exhausted")
        if rows.height == 0:
            return
        hosts = rows.get_column("host").n_unique()
        stats = PoolFigures(events=rows.height, hosts=hosts)
        f = finding(self.rule, f"connection pool exhausted {rows.height} times on {hosts} hosts", rows, stats,
                    Confidence.HIGH, entities=tuple(rows.get_column("host").drop_nulls().unique().to_list()))
        if f:
            yield f
