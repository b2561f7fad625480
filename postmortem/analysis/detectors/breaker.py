"""PM501–PM502: what the circuit breakers did while Redis was in trouble.

A breaker is the part that should turn a Redis outage into fast, cheap failures instead of a retry storm.
PM501 (amplifier): retry layers kept retrying against the failing dependency and no breaker opened or
rejected a call. PM502 (consequence): a breaker opened, and either protected Redis (calls failed fast
while it was open: said as the good news it is) or flapped (opened again and again: its break is shorter
than the outage). Both read the `circuit_breaker` and `retry` events (parsers/breakers.py, retries.py)
by the kinds those parsers declare.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from parsers.breakers import CLOSED, OPENED, REJECTED
from parsers.retries import ATTEMPT
from postmortem.analysis.advice import Advice, Facts, breaker
from postmortem.analysis.correlate import Context, attr
from postmortem.analysis.detectors.base import RuleDetector, finding
from postmortem.analysis.detectors.kubernetes import redis_trouble
from postmortem.analysis.population import client_pods
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity

# Retried attempts during the trouble that make a retry storm, on average per pod of the fleet: as if each pod's retry
# layer had retried 20 times (one pod of a big fleet retrying alone stays below it: the trouble was not the fleet's). A
# count for the whole fleet (20 until session 7) called one retry on each of 20 pods of a big fleet a storm and judged
# the same per-pod behaviour differently at each fleet size.
RETRIES_PER_POD = 20
SLACK = timedelta(seconds=30)  # retries and breaker events this close to the trouble belong to it
FLAP_MIN = 3  # openings of one breaker that make it a flapping one


def _retries(events: pl.DataFrame, window: tuple[datetime, datetime] | None) -> pl.DataFrame:
    """Retried attempts: in the Redis trouble window when there is one, else those that retried Redis."""
    rows = events.filter((pl.col("kind") == ATTEMPT.name) & pl.col("ts").is_not_null())
    if window is None:
        return rows.filter(attr("target") == "redis")
    start, end = window
    return rows.filter(pl.col("ts").is_between(start - SLACK, end + SLACK) | (attr("target") == "redis"))


def _breaker_key() -> pl.Expr:
    """One breaker: its name on one host (a breaker's state is per process: two pods, two breakers)."""
    return pl.coalesce(pl.col("entity").str.strip_prefix("breaker:"), pl.lit("?")) + pl.lit("@") + \
        pl.col("host").fill_null("?")


@dataclass(frozen=True, eq=False, repr=False)
class MissingBreakerFigures(Figures):
    retried_attempts: int  # retry.attempt events during the trouble
    hosts: int  # hosts whose retry layers logged them
    fleet_pods: int  # the fleet: client pods in the Redis client logs (population.client_pods), or `hosts` when more
    per_pod: float  # retried attempts ÷ fleet_pods
    peak_per_s: int  # most retried attempts in one second
    operations: list[str]  # the operations retried (up to 5)
    breakers_seen: int  # breakers that logged anything at all (0: none configured, or none logging)
    start: str  # first retried attempt (ISO)
    end: str  # last one (ISO)


class BreakerMissing(RuleDetector):
    rule = Rule(
        "PM501", "breaker-missing", Severity.HIGH,
        "a retry storm against a failing dependency with no circuit breaker opening",
        what=(f"retry layers (Polly, tenacity, backoff, celery) logged at least {RETRIES_PER_POD} retried attempts per pod "
              "of the fleet (the client pods the Redis client logs show, or the hosts that retried when more) while Redis "
              "was in trouble, and no circuit breaker opened or rejected a call."),
        why=("retries against a dead dependency multiply its load at the worst moment; a breaker that opens after a "
             "few failures caps them and lets it recover. Without one the retries are the storm."),
        recommendation=("put a circuit breaker around the Redis calls (Polly / Microsoft.Extensions.Resilience "
                        "`AddCircuitBreaker`, resilience4j, pybreaker) that opens after a few consecutive failures "
                        "and serves a fallback while open; keep one retry layer inside it, with a budget."),
        role=Role.AMPLIFIER,
        phrase="retries with no circuit breaker to stop them",
        actions=(
            ("prevent", "Wrap Redis calls in a circuit breaker that opens after a few consecutive failures."),
            ("mitigate", "Serve a fallback (stale cache, the database, a default) while the breaker is open."),
        ),
        bleeding=('breaker',),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Add a circuit breaker around Redis",
                      "Retries ran against a failing Redis and nothing stopped them: open a breaker after a few "
                      "consecutive failures and fail fast (with a fallback) until Redis answers again.",
                      breaker(facts))

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        window = redis_trouble(events, ctx)
        retries = _retries(events, window).sort("ts")
        if retries.height == 0:
            return
        fleet = max(client_pods(events), retries.get_column("host").n_unique())
        if retries.height < RETRIES_PER_POD * fleet:
            return
        start, end = retries.get_column("ts").min(), retries.get_column("ts").max()
        breakers = events.filter(pl.col("source") == "circuit_breaker")
        acted = breakers.filter(pl.col("kind").is_in([OPENED.name, REJECTED.name]) & pl.col("ts").is_not_null()
                                & pl.col("ts").is_between(start - SLACK, end + SLACK))
        if acted.height:
            return
        per_s = retries.group_by(pl.col("ts").dt.truncate("1s")).len().get_column("len")
        operations = (retries.select(op=attr("operation")).drop_nulls().group_by("op").len()
                      .sort(["len", "op"], descending=[True, False]).head(5).get_column("op").to_list())
        seen = breakers.select(_breaker_key()).n_unique() if breakers.height else 0
        figures = MissingBreakerFigures(
            retried_attempts=retries.height, hosts=retries.get_column("host").n_unique(),
            fleet_pods=fleet, per_pod=round(retries.height / fleet, 1),
            peak_per_s=int(per_s.max() or 0), operations=operations, breakers_seen=seen,
            start=start.isoformat(), end=end.isoformat(),
        )
        what = ("no breaker opened" if seen else "no circuit breaker logged anything")
        title = (f"{retries.height} retried attempts from {figures.hosts} hosts ({figures.per_pod} per pod of "
                 f"{fleet}, peak {figures.peak_per_s}/s) while Redis was in trouble, and {what}")
        f = finding(self.rule, title, retries, figures, Confidence.HIGH if seen else Confidence.MEDIUM,
                    entities=tuple(sorted(retries.get_column("host").drop_nulls().unique().to_list())),
                    start=start, end=end)
        if f:
            yield f


@dataclass(frozen=True, eq=False, repr=False)
class BreakerFigures(Figures):
    breakers: list[dict]  # per breaker and host: name, host, openings, rejected calls, first opened, closed, library,
    # whether it guards Redis
    openings: int  # breaker.opened events over all breakers
    rejected_calls: int  # calls failed fast by an open breaker
    flapping: list[str]  # breakers that opened FLAP_MIN times or more on one host
    open_delay_s: float | None  # seconds from the start of the Redis trouble to the first opening
    protected_redis: bool  # a breaker that guards Redis (or opened during its trouble) failed calls fast


class BreakerBehaviour(RuleDetector):
    rule = Rule(
        "PM502", "breaker-behaviour", Severity.LOW,
        "a circuit breaker opened: it protected Redis, or flapped",
        what=("circuit breakers that opened (Polly, resilience4j, pybreaker, Hystrix, Envoy ejection), how long after "
              "the Redis trouble began, how many calls they failed fast, and whether they opened again and again."),
        why=("an open breaker is the system degrading instead of piling on: calls it rejects never reach Redis. One "
             "that flaps (opens, half-opens, fails, opens) has a break shorter than the outage and sends a burst of "
             "trial calls each time."),
        recommendation=("keep the breaker; if it flapped, lengthen its break (or make it exponential) and limit "
                        "half-open trial calls so recovery is probed gently."),
        role=Role.CONSEQUENCE,
        phrase="a circuit breaker that opened",
        actions=(
            ("process", "Alert on breaker openings: they are the earliest sign a dependency is failing."),
        ),
    )

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = events.filter(pl.col("source") == "circuit_breaker").with_columns(_key=_breaker_key())
        opened = rows.filter(pl.col("kind") == OPENED.name)
        if opened.height == 0:
            return
        window = redis_trouble(events, ctx)
        per = []
        for key, group in opened.partition_by("_key", as_dict=True, maintain_order=True).items():
            name = key[0]
            mine = rows.filter(pl.col("_key") == name)
            first = group.get_column("ts").min()
            closed = mine.filter((pl.col("kind") == CLOSED.name) & pl.col("ts").is_not_null()).get_column("ts")
            closed_at = closed.filter(closed >= first).min() if first is not None and closed.len() else None
            guards = bool(mine.select((attr("target") == "redis").any()).item())
            breaker_name, _, host = name.rpartition("@")
            per.append({
                "breaker": breaker_name, "host": host, "openings": group.height,
                "rejected": mine.filter(pl.col("kind") == REJECTED.name).height,
                "first_opened": first.isoformat() if first else None,
                "closed": closed_at.isoformat() if closed_at else None,
                "library": mine.select(attr("library")).drop_nulls().to_series().first(),
                "guards_redis": guards,
            })
        first_open = opened.get_column("ts").min()
        delay = None
        if window and first_open is not None:
            delay = round((first_open - window[0]).total_seconds(), 3)
        during = window is not None and first_open is not None and window[0] - SLACK <= first_open <= window[1] + SLACK
        flapping = sorted({b["breaker"] for b in per if b["openings"] >= FLAP_MIN})
        rejected = sum(b["rejected"] for b in per)
        protected = rejected > 0 and (during or any(b["guards_redis"] for b in per))
        figures = BreakerFigures(breakers=per, openings=opened.height, rejected_calls=rejected, flapping=flapping,
                                 open_delay_s=delay, protected_redis=protected)
        unique = list(dict.fromkeys(b["breaker"] for b in per))
        hosts = len({b["host"] for b in per})
        names = ", ".join(unique[:3]) + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")
        names += f" (on {hosts} hosts)" if hosts > 1 else ""
        if flapping:
            title = (f"circuit breaker {', '.join(flapping[:3])} flapped: opened {max(b['openings'] for b in per)} "
                     f"times; {rejected} calls failed fast")
        else:
            title = f"circuit breaker {names} opened" + (
                f" {delay:.1f} s after the Redis trouble began" if delay is not None and delay >= 0 else "")
            title += (f" and failed {rejected} calls fast instead of sending them to Redis" if protected
                      else f"; {rejected} calls failed fast")
        evidence = rows.filter(pl.col("kind").is_in([OPENED.name, CLOSED.name]) | (pl.col("kind") == REJECTED.name))
        f = finding(self.rule, title, evidence.drop("_key"), figures, Confidence.HIGH,
                    severity=Severity.MEDIUM if flapping else None,
                    entities=tuple(sorted({b["breaker"] for b in per})))
        if f:
            yield f

    def sentence(self, f: Finding) -> str | None:
        s = f.figures
        if not isinstance(s, BreakerFigures):
            return None
        if s.flapping:
            return (f"The circuit breaker flapped ({s.openings} openings): its break was shorter than the outage, "
                    "so each half-open probe hit Redis again.")
        if s.protected_redis:
            return (f"A circuit breaker opened and failed {s.rejected_calls} calls fast: those calls never reached "
                    "Redis, which is what it is for.")
        return None
