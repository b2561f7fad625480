"""PM401–PM406: the client configurations behind the storm, from logged configs and from behaviour.

Config evidence is matched on the logged text (connection strings, constructor kwargs, property
assignments) so it works whatever the parser put in `attrs`; behaviour evidence (evenly spaced
retries, `aoc: 1`, `lm`/`mc` growth, Busy > Min) comes from the failure events themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from postmortem.analysis.advice import (
    Advice,
    Facts,
    cap_connections,
    fitting_timeouts,
    for_clients,
    py_pool,
    reconnect_backoff,
    se_full,
    se_options,
    thread_pool_minimum,
)
from postmortem.analysis.correlate import Context, attr
from postmortem.analysis.detectors.base import ROW_COLUMNS, RuleDetector, finding
from postmortem.analysis.detectors.client_health import INJECTION_S_PER_THREAD, thread_stats
from postmortem.analysis.detectors.storm import maxclients_value
from postmortem.analysis.se_fields import drop_fields, field, se_records, with_fields
from postmortem.analysis.table_memo import per_table
from postmortem.analysis.turnover import steady_turnover
from postmortem.messages_apart import restored, select_on_text
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity
from postmortem.schema import event_weight, ts_lit

CONFIG_SOURCES = ("stackexchange_redis", "redis_py", "app")
# Retries closer than this are faster than any backoff policy would allow; slower, evenly spaced
# failures are usually just the request rate and prove nothing about the retry policy. An absolute figure, kept after
# session 13's measurements because nothing in the logs does better: no timing tells a retry loop at its request's
# own pace from the request rate (storm-slow-nocfg-8/24, no backoff: a pod's failures 0.14-0.21 s apart at over 10x
# the pace before; healthy-quiet-nocfg-24, jittered: 0.16-0.27 s at about 4-5x, 22 of its 24 pods stopped by this
# gap alone). The pods' logged retry delay (`constant_logged_delays`) judges the slow loops instead.
NO_BACKOFF_GAP_S = 0.1
# ... and they go on for at least this share of the outage (the recorded no-backoff fleets: 0.78-0.99 per pod;
# the cascades' web pods, whose requests fail and then block: 0.09-0.27)
MIN_OUTAGE_COVER = 0.5
# ... on at least this share of the pods that failed during the outage (the recorded no-backoff fleets: all of them
# at 2 to 48 pods, 8 of 12 with two handler threads a pod; healthy-quiet-nocfg-24, jittered backoff: 1 of 24)
MIN_FLEET_SHARE = 0.5
# ... and they come at least this many times faster than a pod of the fleet logged records of any kind before the
# outage (the fleet's median), when any did: a busy pod's requests fail as fast as they arrive, whatever its
# backoff. Recorded, per pod: fleets with jittered backoff at 25 requests/s and no logged configuration 0.86-1.22
# (busy-8, busy-16; 1.5-2.0 in a 24-pod recording at 12/s); the no-backoff fleets 12.4-39 (storm, storm-16,
# pair-storm-8/24, scaleout)
FAILURE_RATE_MULTIPLE = 4.0
# A connection per request, from the steady state's turnover (analysis/turnover.py): pooled connections live
# for hours, so connections that live under two minutes on average are renewed, not reused; and the fleet
# renews at least one connection per pod every 10 s, ten times what an exporter or a health probe opens.
MAX_LIFETIME_S = 120.0
MIN_PER_POD_PER_S = 0.1


def configs(events: pl.DataFrame) -> pl.DataFrame:
    return events.filter(pl.col("kind") == "redis.config")


def _config_text() -> pl.Expr:
    return pl.concat_str([pl.col("message"), pl.col("attrs")], separator=" ", ignore_nulls=True)


@per_table
def client_versions(events: pl.DataFrame) -> dict:
    """Client library versions seen, per client family (from attrs or text)."""
    out: dict = {}
    se = se_records(events, ("event_id", "message")).with_columns(v=pl.coalesce(field("v"), field("lib_version")))
    # the message read only where no field gives the version (a kept-apart text is read back: `messages_apart`)
    se = pl.concat([se.get_column("v").drop_nulls(), select_on_text(
        se.filter(pl.col("v").is_null()), v=pl.col("message").str.extract(r"SE\.Redis-v([0-9.]+)", 1)).get_column("v")])
    se = se.drop_nulls()
    if se.len():
        out["stackexchange_redis"] = se.sort().item(-1)
    py = configs(events).filter(pl.col("source") == "redis_py").with_columns(
        v=pl.coalesce(attr("version"), pl.col("message").str.extract(r"(?i)redis(?:-py|==| )\s*v?(\d+\.\d+(?:\.\d+)?)", 1))
    ).get_column("v").drop_nulls()
    if py.len():
        out["redis_py"] = py.sort().item(-1)
    return out


def _major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, eq=False, repr=False)
class AbortConnectFigures(Figures):
    config_lines: int  # logged configurations with abortConnect=true
    aoc_1_messages: int  # StackExchange.Redis messages showing `aoc: 1`
    advisory_messages: int  # abort-on-connect errors
    hosts: int  # hosts that logged any of them
    client: str  # the client family
    client_version: str | None  # its logged version

    def facts(self) -> dict[str, object]:
        return {"pods": self.hosts, "client": self.client, "client_version": self.client_version}


@dataclass(frozen=True, eq=False, repr=False)
class BackoffFigures(Figures):
    OMIT_NONE = ("hosts_without_backoff", "median_retry_gap_s", "failure_rate_multiple", "constant_retry_delay_s",
                 "hosts_with_constant_delay", "client_backoff")

    config_lines: int  # logged retry configurations without backoff
    client_versions: dict[str, str]  # client family → logged version
    hosts_without_backoff: int | None = None  # pods whose retries came at even intervals
    median_retry_gap_s: float | None = None  # their median gap between retries
    failure_rate_multiple: float | None = None  # their median failures/s in the outage ÷ the fleet's records/s before
    constant_retry_delay_s: float | None = None  # the constant retry delay the pods logged (their median)
    hosts_with_constant_delay: int | None = None  # pods that logged one retry delay, at least three times
    client: str | None = None  # the client family of the configurations
    client_backoff: str | None = None  # the growing backoff the client's own retry was configured with, when the
    # only evidence is the constant delay the app logged: the app's retry loop has none, the client's retry has one

    def facts(self) -> dict[str, object]:
        return {"client": self.client}


@dataclass(frozen=True, eq=False, repr=False)
class PerRequestFigures(Figures):
    max_multiplexers_created: int | None  # the most multiplexers one process created (`lm`)
    mc_attempts_growth: int | None  # growth of connect attempts on one multiplexer (`mc`)
    OMIT_NONE = ("connection_lifetime_s", "new_connections_per_pod_per_s", "turnover_basis")

    steady_new_connections_per_s: float | None  # new connections per second in the steady state (turnover.py)
    connection_lifetime_s: float | None  # connections held ÷ that rate: how long one lived on average
    new_connections_per_pod_per_s: float | None  # that rate per client pod
    turnover_basis: str | None  # the counts, spans and named sources behind the three figures
    client_versions: dict[str, str]  # client family → logged version


@dataclass(frozen=True, eq=False, repr=False)
class PoolCapFigures(Figures):
    OMIT_NONE = ("pool_cap", "connection_demand")

    unbounded_configs: int  # redis-py configurations without a pool cap
    pods: int  # pods seen
    maxclients: int | None  # the server's maxclients
    client: str  # the client family
    client_version: str | None  # its logged version
    pool_cap: int | None = None  # the largest per-pod cap, when pods × cap exceeds maxclients
    connection_demand: int | None = None  # pods × pool_cap

    def facts(self) -> dict[str, object]:
        return {"pods": self.pods, "maxclients": self.maxclients, "pool_cap": self.pool_cap,
                "client": self.client, "client_version": self.client_version}


@dataclass(frozen=True, eq=False, repr=False)
class MinThreadsFigures(Figures):
    worker_min: int | None  # the worker-thread minimum
    iocp_min: int | None  # the IOCP-thread minimum
    peak_busy: int  # the most busy threads (worker or IOCP) at a timeout
    suggested_min_threads: int  # peak_busy plus a quarter
    injection_delay_s: float  # about how long the pool took to inject the missing threads
    client: str  # the client family
    client_version: str | None  # its logged version

    def facts(self) -> dict[str, object]:
        return {"min_threads": self.worker_min, "client": self.client, "client_version": self.client_version}


@dataclass(frozen=True, eq=False, repr=False)
class TimeoutFigures(Figures):
    min_sync_timeout_ms: int | None  # the shortest syncTimeout configured
    min_connect_timeout_ms: int | None  # the shortest connectTimeout configured
    socket_timeout_none: int  # redis-py configurations with socket_timeout=None
    short_timeout_errors: int  # timeouts that fired under 1000 ms
    client_versions: dict[str, str]  # client family → logged version


class AbortConnectTrue(RuleDetector):
    rule = Rule(
        "PM401", "abort-connect-true", Severity.HIGH,
        "StackExchange.Redis abortConnect=true (config string, `aoc: 1`, UnableToConnect text)",
        what=("StackExchange.Redis configured with abortConnect=true: in a logged connection string or "
              "ConfigurationOptions, as `aoc: 1` in timeout messages, or in the `Error connecting right now. To "
              "allow this multiplexer to continue retrying ... use abortConnect=false` text."),
        why=("with abortConnect=true `Connect()` throws when Redis is briefly unreachable, so pods crash at start "
             "or keep a dead multiplexer; Kubernetes restarts them and every restart reconnects at once."),
        recommendation=("set abortConnect=false (AbortOnConnectFail = false) with connectRetry=5 and connectTimeout=10000, and "
                        "create the multiplexer once per process."),
        role=Role.AMPLIFIER,
        config_cause=True,
        phrase="abortConnect=true",
        actions=(
            ("prevent", "Set abortConnect=false in every StackExchange.Redis connection string."),
        ),
        bleeding=('retries',),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("abortConnect=false", "With abortConnect=true a Redis blip at startup crashes the pod, and "
                      "every restart reconnects.", tuple(se_full(facts)))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        text = _config_text()
        cfg = configs(events).filter(
            text.str.contains(r"(?i)abortConnect\s*[=:]\s*\"?true|AbortOnConnectFail\"?\s*[=:]\s*\"?true")
        ).select(ROW_COLUMNS)
        se = se_records(events, ROW_COLUMNS)
        aoc = drop_fields(se.filter(select_on_text(
            se, hit=(field("aoc") == "1") | pl.col("message").str.contains(r"\baoc: 1\b")).get_column("hit")))
        cited = events.select(ROW_COLUMNS)
        advisory = cited.filter(select_on_text(cited, hit=pl.col("message").str.contains(
            r"Error connecting right now\. To allow this multiplexer|to create a disconnected multiplexer, disable AbortOnConnectFail")
        ).get_column("hit"))
        rows = pl.concat([cfg, aoc, advisory]).unique("event_id")
        if rows.height == 0:
            return
        stats = AbortConnectFigures(
            config_lines=cfg.height, aoc_1_messages=aoc.height, advisory_messages=advisory.height,
            hosts=rows.get_column("host").n_unique(), client="stackexchange_redis",
            client_version=client_versions(events).get("stackexchange_redis"))
        parts = [f"{n} {what}" for n, what in ((cfg.height, "config lines"), (aoc.height, "`aoc: 1` messages"),
                                              (advisory.height, "abort-on-connect errors")) if n]
        f = finding(self.rule, "abortConnect=true: " + ", ".join(parts), rows, stats,
                    Confidence.HIGH if cfg.height or aoc.height else Confidence.MEDIUM,
                    entities=tuple(rows.get_column("host").drop_nulls().unique().to_list()))
        if f:
            yield f


GROWING_BACKOFF = r"Exponential\w*(Backoff|Retry)\s*\(|EqualJitterBackoff\s*\(|FullJitterBackoff\s*\(|DecorrelatedJitterBackoff\s*\("


FAILURE_KINDS = ["redis.connect_failed", "redis.reconnect_attempt", "redis.connection_lost", "redis.no_connection"]
RECONNECT_KIND = "redis.reconnect_attempt"


def _retry_records(events: pl.DataFrame, ctx: Context) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(failures inside the outages, the client's own reconnect attempts from the first outage on), client
    records of pods that did not log a growing policy, each sorted by host and time; of each record its id, host,
    time and kind alone (a filter copies every column it keeps, and these are most of a dense log's rows)."""
    if not ctx.outages:
        return pl.DataFrame(), pl.DataFrame()
    client = events.select("event_id", "source", "host", "ts", "kind").filter(
        pl.col("source").is_in(["stackexchange_redis", "redis_py"]) & pl.col("ts").is_not_null())
    # a pod that logged a growing, jittered policy is not judged by spacing: its many threads' independent
    # requests fail at evenly spread moments while each retry sequence backs off
    backed_off = configs(events).filter(_config_text().str.contains(GROWING_BACKOFF)).get_column("host")
    client = client.filter(~pl.col("host").is_in(backed_off.drop_nulls().implode()))
    window = pl.lit(False)
    for o in ctx.outages:
        window = window | pl.col("ts").is_between(ts_lit(o.start), ts_lit(o.end))
    failures = client.filter(pl.col("kind").is_in(FAILURE_KINDS) & window).sort(["host", "ts"])
    reconnects = client.filter((pl.col("kind") == RECONNECT_KIND)
                               & (pl.col("ts") >= ctx.outages[0].start)).sort(["host", "ts"])
    return failures, reconnects


def _spacing(rows: pl.DataFrame) -> pl.DataFrame:
    """Per host: records, the median gap, and the median gaps of the first and last thirds."""
    gaps = rows.with_columns(gap=pl.col("ts").diff().over("host").dt.total_microseconds() / 1e6,
                             idx=pl.int_range(pl.len()).over("host"), n=pl.len().over("host"))
    return gaps.filter(pl.col("gap").is_not_null()).group_by("host").agg(
        n=pl.len() + 1,
        first_third=pl.col("gap").filter(pl.col("idx") <= pl.col("n") / 3).median(),
        last_third=pl.col("gap").filter(pl.col("idx") >= 2 * pl.col("n") / 3).median(),
        median_gap=pl.col("gap").median(),
        span_s=(pl.col("ts").max() - pl.col("ts").min()).dt.total_microseconds() / 1e6,
    )


def _fleet_pace_before(events: pl.DataFrame, ctx: Context, hosts: pl.Series) -> float | None:
    """The fleet's pace when nothing failed: the median over these pods of the records of any kind each logged per
    second from its first record to the first outage (None when none logged before it). The fleet's median, not
    each pod's own: a pod's few seconds before the outage hold a handful of records (a 24-pod recording at 12
    requests/s: 1.3-4.4x its own, 1.5-2.0x the fleet's), while pods behind one load balancer see the same traffic."""
    start = ctx.outages[0].start
    before = events.select("host", "ts", "kind", "value").filter(pl.col("host").is_in(hosts.implode()) & (pl.col("ts") < start))
    rates = before.group_by("host").agg(
        records=event_weight().sum(),
        span_s=(pl.lit(start) - pl.col("ts").min()).dt.total_microseconds() / 1e6,
    ).filter(pl.col("span_s") > 0).select(pl.col("records") / pl.col("span_s")).to_series()
    return float(rates.median()) if rates.len() else None


def _not_growing() -> pl.Expr:
    return (pl.col("n") >= 6) & (pl.col("last_third") <= 1.5 * pl.col("first_third") + 0.05)


def evenly_spaced_retries(events: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Per host: retries whose gaps do not grow (no backoff). Returns host rows (`evidence`: the
    records judged). Two kinds of runs count:
    - failures during the outages closer than any backoff would allow (`NO_BACKOFF_GAP_S`) that go on for
      most of the outage (`MIN_OUTAGE_COVER`), on at least `MIN_FLEET_SHARE` of the pods that failed: slower ones,
      a burst that stops, or one pod's by chance are the request rate and prove nothing about the policy;
    - the client's own reconnect attempts (`redis.reconnect_attempt`: its reconnect loop, whatever the
      request rate) from the outage on, at any pace: a loop whose spacing stays flat has no backoff."""
    failures, reconnects = _retry_records(events, ctx)
    found = []
    if failures.height:
        down_s = sum((o.end - o.start).total_seconds() for o in ctx.outages)
        # a loop without backoff keeps failing while Redis is down; requests that failed in a burst and then
        # stopped (a blocked or idle pod) are the request rate, however close together; and a busy pod's requests
        # fail as fast as they arrive: its failures must outpace its own records before the outage
        pace = _fleet_pace_before(events, ctx, failures.get_column("host").unique())
        fast = (_spacing(failures)
                .with_columns(rate_multiple=(pl.col("n") - 1) / pl.col("span_s") / pace if pace else pl.lit(None))
                .filter(_not_growing() & (pl.col("median_gap") <= NO_BACKOFF_GAP_S)
                        & (pl.col("span_s") >= MIN_OUTAGE_COVER * down_s)
                        & (pl.col("rate_multiple").is_null() | (pl.col("rate_multiple") >= FAILURE_RATE_MULTIPLE))))
        # one retry policy is the fleet's: most of the pods that failed during the outage show it, as every recorded
        # no-backoff fleet did on every pod, while 1 of 24 jittered pods logging a tenth of their requests passed
        if fast.height >= MIN_FLEET_SHARE * failures.get_column("host").n_unique():
            found.append(fast.with_columns(evidence=pl.lit("failures")))
    if reconnects.height:
        loops = _spacing(reconnects).filter(_not_growing())
        found.append(loops.with_columns(evidence=pl.lit("reconnects")))
    if not found:
        return pl.DataFrame()
    both = pl.concat(found, how="diagonal_relaxed")
    # a host in both: the faster run speaks for it
    return both.sort("median_gap").unique("host", keep="first").sort("host")


def _median_multiple(hosts: pl.DataFrame) -> float | None:
    """The judged failure runs' median multiple of their pod's pace before the outage (None: no run had one)."""
    if "rate_multiple" not in hosts.columns or hosts.get_column("rate_multiple").null_count() == hosts.height:
        return None
    return round(float(hosts.get_column("rate_multiple").median()), 1)


def retry_evidence(events: pl.DataFrame, ctx: Context, hosts: pl.DataFrame, per_host: int = 2) -> pl.DataFrame:
    """The first records of each judged host's run, from the run that judged it (whole rows, in the table's order)."""
    failures, reconnects = _retry_records(events, ctx)
    parts = []
    for name, rows in (("failures", failures), ("reconnects", reconnects)):
        chosen = hosts.filter(pl.col("evidence") == name).get_column("host")
        if rows.height and chosen.len():
            first = (rows.filter(pl.col("host").is_in(chosen.implode())).group_by("host", maintain_order=True)
                     .head(per_host).get_column("event_id"))
            parts.append(events.filter(pl.col("event_id").is_in(first.implode())))
    return pl.concat(parts) if parts else events.head(0)


def growing_backoffs(events: pl.DataFrame) -> list[str]:
    """The growing client backoff classes (`GROWING_BACKOFF`) the logged client configurations name, sorted."""
    named = configs(events).select(_config_text().str.extract_all(GROWING_BACKOFF).alias("b")).get_column("b")
    return sorted({b.rstrip("( ") for b in named.explode().drop_nulls().to_list()})


# A retry delay the client logs with each retry: celery's `Trying again in 2.00 seconds...`, tenacity's `Retrying
# app.cache.get in 0.5 seconds as it raised ...`, an app's own `retrying in 0.25s`
LOGGED_DELAY = r"(?:Trying again|\b[Rr]etrying\b[^\n]{0,80}?) in (\d+(?:\.\d+)?) ?s(?:ec(?:ond)?s?)?\b"


def constant_logged_delays(events: pl.DataFrame) -> pl.DataFrame:
    """The retry lines (`delay` added) of the pods that logged one delay, the same at least three times: a constant
    retry, whatever the pace. Why: a retry loop at its request's own pace cannot be told from the request rate by
    timing (storm-slow-nocfg-8: no backoff, a pod's failures 0.21 s apart; a jittered fleet logging a tenth of its
    requests, 0.23 s apart, both over 6x their pace before), while the delay it logs is its policy."""
    hit = select_on_text(events.select("event_id", "message"), hit=pl.col("message").str.contains(LOGGED_DELAY))
    lines = restored(events.filter(hit.get_column("hit"))).with_columns(
        delay=pl.col("message").str.extract(LOGGED_DELAY, 1).cast(pl.Float64), _pod=pl.col("host").fill_null(""))
    flat = lines.group_by("_pod").agg(n=pl.len(), k=pl.col("delay").n_unique()).filter(
        (pl.col("n") >= 3) & (pl.col("k") == 1)).get_column("_pod")
    return lines.filter(pl.col("_pod").is_in(flat.implode())).drop("_pod").sort("ts")


class RetryWithoutBackoff(RuleDetector):
    rule = Rule(
        "PM402", "retry-without-backoff", Severity.HIGH,
        "LinearRetry / NoBackoff / ConstantBackoff, or evenly spaced retries",
        what=("reconnect or retry policies without growing, jittered delays: redis-py `NoBackoff()` or "
              "`ConstantBackoff(...)` (with `retries=-1` the worst), StackExchange.Redis `LinearRetry`, celery "
              "`Trying again in N seconds`, tenacity `Retrying ... in N seconds` or an app's `retrying in Ns` with one N "
              "per pod, at least three times, or, from behaviour alone, per pod: failures during the "
              f"outage under {NO_BACKOFF_GAP_S:g} s apart, going on for at least {MIN_OUTAGE_COVER:.0%} of it on at least "
              f"{MIN_FLEET_SHARE:.0%} of the pods that failed, "
              f"at least {FAILURE_RATE_MULTIPLE:g}x as fast as a pod of the fleet logged records of any kind before the "
              "outage (the median pod, when any logged), whose spacing does not grow (slower failures, a burst that stops, or failures "
              "at the pod's own pace follow the request rate), or the client's own reconnect attempts from the outage on whose spacing does not grow, "
              "at any pace (the reconnect loop's pace is its policy)."),
        why=("pods disconnected by the same blip retry at the same instants and as fast as they can, so the "
             "moment Redis is back it meets the whole fleet at once."),
        recommendation=("redis-py: `Retry(ExponentialWithJitterBackoff(base=0.1, cap=10), 3)` (5.3+; EqualJitterBackoff "
                        "before); StackExchange.Redis: `ReconnectRetryPolicy = new ExponentialRetry(5000, 30000)`."),
        role=Role.AMPLIFIER,
        config_cause=True,
        phrase="retries without backoff",
        actions=(
            ("prevent", "Replace constant/linear retry policies with jittered exponential backoff."),
        ),
        bleeding=('retries',),
    )

    def advise(self, facts: Facts) -> Advice:
        return reconnect_backoff(facts)

    def named(self, f: Finding) -> str:
        return "an application-level retry loop without backoff" if f.stats.get("client_backoff") else self.rule.phrase

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        text = _config_text()
        cfg = configs(events).filter(
            text.str.contains(r"NoBackoff\s*\(|ConstantBackoff\s*\(|LinearRetry\s*\(|retries\s*[=:]\s*-1\b")
        )
        constant = constant_logged_delays(events)
        hosts = evenly_spaced_retries(events, ctx)
        behaviour = retry_evidence(events, ctx, hosts) if hosts.height else pl.DataFrame()
        # a pod's first logged delay speaks for its constant ones
        delays = constant.group_by("host", maintain_order=True).head(1).select(events.columns)
        parts = [df for df in (cfg, delays, behaviour)
                 if df is not None and df.height]
        if not parts:
            return
        rows = pl.concat(parts).unique("event_id")
        fam = cfg.get_column("source").unique().to_list()
        # the app's own loop is the only evidence: say so when the client's own retry backs off (storm-jitter-*)
        app_only = constant.height > 0 and cfg.height == 0 and hosts.height == 0
        growing = growing_backoffs(events) if app_only else []
        stats = BackoffFigures(
            config_lines=cfg.height, client_versions=client_versions(events),
            hosts_without_backoff=hosts.height or None,
            median_retry_gap_s=round(float(hosts.get_column("median_gap").median()), 3) if hosts.height else None,
            failure_rate_multiple=_median_multiple(hosts),
            constant_retry_delay_s=float(constant.get_column("delay").median()) if constant.height else None,
            hosts_with_constant_delay=constant.get_column("host").n_unique() if constant.height else None,
            client="redis_py" if "redis_py" in fam else ("stackexchange_redis" if fam else None),
            client_backoff=", ".join(growing) or None,
        )
        what = []
        if cfg.height:
            found = sorted(set(cfg.get_column("message").str.extract_all(
                r"NoBackoff\s*\(\)|ConstantBackoff\s*\([^)]*\)|LinearRetry\s*\([^)]*\)|retries\s*=\s*-1").explode()
                .drop_nulls().to_list()))
            what.append("configured " + ", ".join(found[:4]))
        if hosts.height:
            what.append(f"{hosts.height} pods retried every {stats.median_retry_gap_s} s without growing delays")
        if constant.height and growing:
            what.append(f"the application's own retry loop waits a constant {stats.constant_retry_delay_s:g} s between "
                        f"calls ({stats.hosts_with_constant_delay} pods logged it), while the client's retry backs off "
                        f"({stats.client_backoff})")
        elif constant.height:
            what.append(f"{stats.hosts_with_constant_delay} pods logged a constant {stats.constant_retry_delay_s:g} s "
                        "retry delay")
        confidence = Confidence.HIGH if cfg.height and hosts.height else (
            Confidence.HIGH if cfg.height else Confidence.MEDIUM)
        f = finding(self.rule, "retries without backoff: " + "; ".join(what), rows, stats, confidence,
                    entities=tuple(rows.get_column("host").drop_nulls().unique().to_list()))
        if f:
            yield f


class ConnectionPerRequest(RuleDetector):
    rule = Rule(
        "PM403", "connection-per-request", Severity.HIGH,
        "a multiplexer or client per request (`lm`, `mc` growth, connections living seconds in normal operation)",
        what=("StackExchange.Redis `lm: live/created/...` with more than one multiplexer created, `mc:` connect "
              "attempts growing on one multiplexer, or, in normal operation outside the incident, connections "
              f"renewed so fast that each lives under {MAX_LIFETIME_S:g} s on average (connections held ÷ new "
              "connections per second, from the server's `Accepted`/`Client closed` lines or the "
              "`connections_received` counter while `connected_clients` stays flat) with at least "
              f"{MIN_PER_POD_PER_S:g} new connections per second per client pod."),
        why=("a connection per request turns every request into a TCP (and TLS) handshake; under load or after a "
             "blip this becomes the connection storm itself."),
        recommendation=("create one ConnectionMultiplexer per process (a static Lazy<ConnectionMultiplexer> or a DI "
                        "singleton); in Python one module-level Redis client with a bounded pool per process."),
        role=Role.AMPLIFIER,
        config_cause=True,
        phrase="a connection per request",
        actions=(
            ("prevent", "Create one client per process (static Lazy<ConnectionMultiplexer> / module-level pool)."),
        ),
        bleeding=('retries', 'noisy_clients'),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("One client per process", "A multiplexer or client per request multiplies connections by the "
                      "request rate.", for_clients(facts, lambda: [se_options(facts)], lambda: [py_pool(facts)]))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        se = se_records(events, ROW_COLUMNS)
        se = drop_fields(se.hstack(select_on_text(
            se,
            lm_created=pl.coalesce(field("lm_created", pl.Int64),
                                   pl.col("message").str.extract(r"\blm: \d+/(\d+)/", 1).cast(pl.Int64, strict=False)),
            mc_attempts=pl.coalesce(field("mc_attempts", pl.Int64),
                                    pl.col("message").str.extract(r"\bmc: (\d+)/", 1).cast(pl.Int64, strict=False)),
        )))
        lm = se.filter(pl.col("lm_created") > 1)
        mc = se.filter(pl.col("mc_attempts").is_not_null()).sort("ts")
        mc_growth = 0
        mc_rows = mc.head(0)
        if mc.height >= 3:
            per_host = mc.group_by("host").agg(lo=pl.col("mc_attempts").min(), hi=pl.col("mc_attempts").max())
            mc_growth = int((per_host.get_column("hi") - per_host.get_column("lo")).max() or 0)
            if mc_growth >= 10:
                mc_rows = pl.concat([mc.head(1), mc.tail(1)])
        turnover = steady_turnover(events, ctx.window_start, ctx.window_end)
        renewing = turnover is not None and turnover.lifetime_s < MAX_LIFETIME_S and (
            turnover.per_pod_per_s is not None and turnover.per_pod_per_s >= MIN_PER_POD_PER_S)
        cited = events.select(ROW_COLUMNS)  # what `finding` reads
        churn_rows = cited.filter(pl.col("event_id").is_in(list(turnover.evidence))) if renewing else cited.head(0)
        rows = pl.concat([lm.drop("lm_created", "mc_attempts"), mc_rows.drop("lm_created", "mc_attempts"), churn_rows])
        if rows.height == 0:
            return
        stats = PerRequestFigures(
            max_multiplexers_created=int(lm.get_column("lm_created").max()) if lm.height else None,
            mc_attempts_growth=mc_growth if mc_rows.height else None,
            steady_new_connections_per_s=round(turnover.per_s, 1) if renewing else None,
            connection_lifetime_s=round(turnover.lifetime_s, 1) if renewing else None,
            new_connections_per_pod_per_s=round(turnover.per_pod_per_s, 2) if renewing else None,
            turnover_basis=(f"{turnover.new_connections:,.0f} new connections in {turnover.seconds:.0f} s "
                            f"({turnover.source}) while the clients held {turnover.held:,.0f} "
                            f"({turnover.held_source}), {turnover.pods} client pods") if renewing else None,
            client_versions=client_versions(events))
        what = []
        if lm.height:
            what.append(f"{stats.max_multiplexers_created} multiplexers created (lm)")
        if mc_rows.height:
            what.append(f"connect attempts grew by {mc_growth} on one multiplexer (mc)")
        if renewing:
            what.append(f"in normal operation {stats.steady_new_connections_per_s} new connections/s for the "
                        f"{turnover.held:,.0f} held: each lived {stats.connection_lifetime_s} s on average")
        f = finding(self.rule, "connection per request: " + "; ".join(what), rows, stats,
                    Confidence.HIGH if lm.height or churn_rows.height else Confidence.MEDIUM)
        if f:
            yield f


class UnboundedPool(RuleDetector):
    rule = Rule(
        "PM404", "unbounded-pool", Severity.HIGH,
        "redis-py pool without a cap, or pods × pool > maxclients",
        what=("redis-py clients built without `max_connections` (or with `max_connections=None`), which up to 7.x "
              "means 2**31, or a per-pod pool cap that times the number of pods exceeds maxclients."),
        why=("an uncapped pool opens as many connections as there are concurrent requests; during a storm every "
             "pod does so at once and the fleet exceeds maxclients."),
        recommendation=("cap the pool: `BlockingConnectionPool(max_connections=20, timeout=2)`, and size maxclients as "
                        "pods × cap plus headroom."),
        role=Role.AMPLIFIER,
        config_cause=True,
        phrase="uncapped redis-py pools",
        actions=(
            ("prevent", "Cap the redis-py pool (BlockingConnectionPool max_connections, timeout)."),
        ),
        bleeding=('noisy_clients',),
    )

    def advise(self, facts: Facts) -> Advice:
        return cap_connections(facts, with_alerts=False)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        py = configs(events).filter(pl.col("source").is_in(["redis_py", "app"])).filter(
            pl.col("message").str.contains(r"(?i)redis|pool")
        )
        text = _config_text()
        unbounded = py.filter(
            text.str.contains(r"max_connections\s*[=:]\s*(?:None|null|\"None\")")
            | (text.str.contains(r"(?i)\bRedis\(|ConnectionPool\(|redis://") & ~text.str.contains(r"max_connections"))
        )
        unbounded = unbounded.filter(~pl.col("message").str.contains(r"BlockingConnectionPool"))
        caps = py.with_columns(cap=pl.coalesce(attr("max_connections", pl.Int64),
                                               text.str.extract(r"max_connections\s*[=:]\s*(\d+)", 1)
                                               .cast(pl.Int64, strict=False))).filter(pl.col("cap").is_not_null())
        maxclients, _ = maxclients_value(events)
        pods = events.filter(pl.col("source") == "redis_py").get_column("host").n_unique()
        over = caps.drop("cap").head(0)
        if caps.height and maxclients and pods:
            cap = int(caps.get_column("cap").max())
            if cap * pods > maxclients:
                over = caps.drop("cap").head(2)
        rows = pl.concat([unbounded, over]).unique("event_id")
        if rows.height == 0:
            return
        version = client_versions(events).get("redis_py")
        major = _major(version)
        if unbounded.height and major is not None and major >= 8 and not over.height:
            # 8.0+ defaults max_connections to 100: only an explicit None is unbounded
            rows = unbounded.filter(text.str.contains(r"max_connections\s*[=:]\s*None"))
            if rows.height == 0:
                return
        cap = int(caps.get_column("cap").max()) if over.height else None
        stats = PoolCapFigures(
            unbounded_configs=unbounded.height, pods=pods, maxclients=int(maxclients) if maxclients else None,
            client="redis_py", client_version=version, pool_cap=cap,
            connection_demand=cap * pods if cap is not None else None)
        title = (f"{unbounded.height} redis-py clients without a pool cap" if unbounded.height else
                 f"pods × pool = {stats.connection_demand} exceeds maxclients {stats.maxclients}")
        f = finding(self.rule, title, rows, stats, Confidence.HIGH if over.height or unbounded.height > 0 else Confidence.MEDIUM,
                    entities=tuple(rows.get_column("host").drop_nulls().unique().to_list()))
        if f:
            yield f


class LowMinThreads(RuleDetector):
    rule = Rule(
        "PM405", "low-min-threads", Severity.MEDIUM,
        ".NET ThreadPool minimum below the burst (Busy > Min)",
        what=("the .NET ThreadPool minimum (the `Min` of WORKER/IOCP in StackExchange.Redis timeouts) set below the "
              "number of busy threads seen during the incident."),
        why=("bursts above Min wait for thread injection (about one thread per 500 ms); with sync-over-async code "
             "that delay turns into timeouts and reconnects."),
        recommendation=("raise the minimum to the observed peak (`ThreadPool.SetMinThreads(200, 200)` at startup) and remove "
                        "sync-over-async calls."),
        role=Role.AMPLIFIER,
        config_cause=True,
        phrase="a .NET ThreadPool minimum below the burst",
        actions=(
            ("mitigate", "Raise ThreadPool.SetMinThreads to the observed burst."),
        ),
    )

    def advise(self, facts: Facts) -> Advice:
        return thread_pool_minimum(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = thread_stats(events)
        if rows.height == 0:
            return
        peak = rows.sort("excess", descending=True).row(0, named=True)
        busy = max(peak["worker_busy"] or 0, peak["iocp_busy"] or 0)
        stats = MinThreadsFigures(
            worker_min=peak["worker_min"], iocp_min=peak["iocp_min"], peak_busy=busy,
            suggested_min_threads=int(busy * 1.25) + 1,
            injection_delay_s=round(int(peak["excess"]) * INJECTION_S_PER_THREAD, 1),
            client="stackexchange_redis", client_version=client_versions(events).get("stackexchange_redis"))
        title = f"ThreadPool Min {peak['worker_min']} (WORKER) / {peak['iocp_min']} (IOCP) below a burst of {busy} busy threads"
        f = finding(self.rule, title, rows, stats, Confidence.HIGH,
                    entities=tuple(rows.get_column("host").drop_nulls().unique().to_list()))
        if f:
            yield f


class TimeoutsMisconfigured(RuleDetector):
    rule = Rule(
        "PM406", "timeouts-misconfigured", Severity.MEDIUM,
        "timeouts too low or missing (syncTimeout, connectTimeout, socket_timeout)",
        what=("StackExchange.Redis syncTimeout/asyncTimeout below 1000 ms or connectTimeout below 5000 ms (in a "
              "connection string or in `Timeout performing GET (500ms)` texts), and redis-py clients with "
              "`socket_timeout=None` (no timeout: hung sockets hold pool slots) or below 0.5 s."),
        why=("timeouts that are too short fire under GC or CPU pressure and feed retries; missing timeouts let "
             "dead connections pile up until the pool is exhausted; a connectTimeout too short for a TLS handshake "
             "during a mass reconnect makes every reconnect fail."),
        recommendation=("syncTimeout=5000,asyncTimeout=5000,connectTimeout=10000; redis-py socket_timeout=2, "
                        "socket_connect_timeout=2 (the 8.0 defaults are 5 s)."),
        role=Role.AMPLIFIER,
        config_cause=True,
        phrase="misconfigured timeouts",
        actions=(
            ("prevent", "Set connect and command timeouts explicitly (5 s / 2 s) in every client."),
        ),
    )

    def advise(self, facts: Facts) -> Advice:
        return fitting_timeouts(facts)

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        text = _config_text()
        cfg = configs(events).with_columns(
            sync=text.str.extract(r"(?i)(?:syncTimeout|asyncTimeout)\s*[=:]\s*(\d+)", 1).cast(pl.Int64, strict=False),
            connect=text.str.extract(r"(?i)connectTimeout\s*[=:]\s*(\d+)", 1).cast(pl.Int64, strict=False),
            sock=text.str.extract(r"socket_timeout\s*[=:]\s*([0-9.]+|None)", 1),
        )
        major = _major(client_versions(events).get("redis_py"))
        if major is not None and major < 8:
            # up to 7.x a redis-py client built without socket_timeout has none (formats.md §2.4)
            implicit = (pl.col("source") == "redis_py") & text.str.contains(r"Redis\(|ConnectionPool\(|redis://") \
                & ~text.str.contains("socket_timeout")
            cfg = cfg.with_columns(sock=pl.when(implicit).then(pl.lit("None")).otherwise(pl.col("sock")))
        bad_cfg = cfg.filter((pl.col("sync") < 1000) | (pl.col("connect") < 5000) | (pl.col("sock") == "None")
                             | (pl.col("sock").cast(pl.Float64, strict=False) < 0.5))
        # the timeouts' columns `with_fields` reads, then their first three whole rows (a dense log's timeouts are most
        # of its rows: a filter copies every column it keeps)
        timeouts = events.select("event_id", "source", "kind", "message", "attrs").filter(pl.col("kind") == "redis.timeout")
        short = select_on_text(with_fields(timeouts, ("timeout_ms",)), event_id=pl.col("event_id"), ms=pl.coalesce(
            field("timeout_ms", pl.Int64),
            pl.col("message").str.extract(r"\((\d+)ms\)|timeout is (\d+)ms", 1).cast(pl.Int64, strict=False),
        )).filter(pl.col("ms") < 1000)
        cited = events.filter(pl.col("event_id").is_in(short.get_column("event_id").head(3).implode()))
        rows = pl.concat([bad_cfg.drop("sync", "connect", "sock"), cited]).unique("event_id")
        if rows.height == 0:
            return
        stats = TimeoutFigures(
            min_sync_timeout_ms=bad_cfg.get_column("sync").min(),
            min_connect_timeout_ms=bad_cfg.get_column("connect").min(),
            socket_timeout_none=bad_cfg.filter(pl.col("sock") == "None").height,
            short_timeout_errors=short.height,
            client_versions=client_versions(events),
        )
        what = []
        if stats.min_sync_timeout_ms is not None and stats.min_sync_timeout_ms < 1000:
            what.append(f"syncTimeout {stats.min_sync_timeout_ms} ms")
        if stats.min_connect_timeout_ms is not None and stats.min_connect_timeout_ms < 5000:
            what.append(f"connectTimeout {stats.min_connect_timeout_ms} ms")
        if stats.socket_timeout_none:
            what.append("socket_timeout=None")
        if short.height:
            what.append(f"{short.height} timeouts under 1000 ms")
        f = finding(self.rule, "timeouts misconfigured: " + ", ".join(what), rows, stats,
                    Confidence.HIGH if bad_cfg.height else Confidence.MEDIUM)
        if f:
            yield f
