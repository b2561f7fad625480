"""PM002 clock-skew: client hosts whose clocks disagree with the Redis server's.

Offsets come from edges that both sides saw: the server's shutdown vs a client's first failure,
and the server's `ready` vs that client's first restored connection. A client cannot fail before
the server went down nor recover before it was back, so an offset is skew plus a lag ≥ 0: one
edge proves nothing, two that agree (same sign, close together) do. Positive offsets need a larger
margin, since real lags (idle clients, reconnect backoff) are positive too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean

import polars as pl

from postmortem.analysis.advice import Advice, Facts
from postmortem.analysis.correlate import CLIENT_SOURCES, UNREACHABLE_KINDS, Context
from postmortem.analysis.detectors.base import RuleDetector, finding
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity

NEGATIVE_SKEW = 2.0  # seconds: a client that logs edges this much *before* the server is behind
POSITIVE_SKEW = 5.0  # seconds: lags are positive, so "ahead" needs a larger margin
AGREE = 1.0  # seconds the edge offsets of one host may differ (or 10 % of the offset)
EDGE_RANGE = timedelta(minutes=5)  # how far from a server edge a client edge is looked for

DOWN = "redis.server.shutdown"
UP = ("redis.server.ready", "redis.server.start")


def server_cycles(events: pl.DataFrame) -> list[tuple[dict, dict]]:
    """(shutdown row, next ready row) pairs from redis-server logs, in time order.

    A shutdown logs several lines ("User requested shutdown", "ready to exit"): the first one is
    the edge. A start without a ready line stands in for ready.
    """
    rows = (events.filter((pl.col("source") == "redis_server") & pl.col("kind").is_in([DOWN, *UP])
                          & pl.col("ts").is_not_null())
            .sort(["ts", "path", "line"]).to_dicts())
    cycles, down, start = [], None, None
    for r in rows:
        if r["kind"] == DOWN:
            if down is not None and start is not None:  # came back (no ready line), went down again
                cycles.append((down, start))
                down, start = None, None
            down = down or r
        elif down is None:
            continue
        elif r["kind"] == "redis.server.ready":
            cycles.append((down, r))
            down, start = None, None
        elif start is None:
            start = r
    if down is not None and start is not None:
        cycles.append((down, start))
    return cycles


def _bounds(cycles: list[tuple[dict, dict]], i: int) -> tuple[datetime, datetime]:
    """The search range of cycle i: EDGE_RANGE around it, never past the midpoint to a neighbour."""
    down, up = cycles[i][0]["ts"], cycles[i][1]["ts"]
    lo, hi = down - EDGE_RANGE, up + EDGE_RANGE
    if i > 0:
        prev_up = cycles[i - 1][1]["ts"]
        lo = max(lo, prev_up + (down - prev_up) / 2)
    if i + 1 < len(cycles):
        nxt_down = cycles[i + 1][0]["ts"]
        hi = min(hi, up + (nxt_down - up) / 2)
    return lo, hi


def host_edges(events: pl.DataFrame, cycles: list[tuple[dict, dict]]) -> dict[tuple[str, str], list[dict]]:
    """Per (client source, host): the offsets of its first failure and first restore per server cycle."""
    clients = events.filter(pl.col("source").is_in(CLIENT_SOURCES) & pl.col("ts").is_not_null()
                            & pl.col("host").is_not_null()).sort(["ts", "path", "line"])
    fails = clients.filter(pl.col("kind").is_in(UNREACHABLE_KINDS))
    restores = clients.filter(pl.col("kind") == "redis.connection_restored")
    out: dict[tuple[str, str], list[dict]] = {}
    for i, (down, up) in enumerate(cycles):
        lo, hi = _bounds(cycles, i)
        first_fail = (fails.filter((pl.col("ts") >= lo) & (pl.col("ts") <= hi))
                      .group_by(["source", "host"]).agg(pl.all().first()))
        for f in first_fail.sort(["source", "host"]).to_dicts():
            r = restores.filter((pl.col("source") == f["source"]) & (pl.col("host") == f["host"])
                                & (pl.col("ts") >= f["ts"]) & (pl.col("ts") <= hi)).head(1)
            if r.height == 0:
                continue
            out.setdefault((f["source"], f["host"]), []).extend([
                {"edge": "outage start", "offset": (f["ts"] - down["ts"]).total_seconds(),
                 "ids": (down["event_id"], f["event_id"])},
                {"edge": "recovery", "offset": (r.get_column("ts")[0] - up["ts"]).total_seconds(),
                 "ids": (up["event_id"], int(r.get_column("event_id")[0]))},
            ])
    return out


def skew_estimate(edges: list[dict]) -> float | None:
    """The skew the edges agree on, or None: two or more edges, same sign, beyond the margin, close."""
    offsets = [e["offset"] for e in edges]
    if len(offsets) < 2:
        return None
    negative = all(o <= -NEGATIVE_SKEW for o in offsets)
    positive = all(o >= POSITIVE_SKEW for o in offsets)
    est = mean(offsets)
    if not (negative or positive) or max(offsets) - min(offsets) > max(AGREE, 0.1 * abs(est)):
        return None
    return est



@dataclass(frozen=True)
class SkewFigures(Figures):
    source: str  # the client source whose clock is off
    host: str  # its host
    offset_s: float  # estimated offset from the redis-server clock (positive: ahead)
    edges: list[dict]  # the shared edges used: {"edge", "offset_s"} each
    spread_s: float  # how far the edges' offsets disagree
    reference: str  # the clock compared against
    all_client_hosts_agree: bool  # every client host is off the same way (the server may be the one off)


class ClockSkew(RuleDetector):
    """PM002: say when a host's clock is off, so the timeline is not misread as cause and effect."""

    rule = Rule(
        "PM002",
        "clock-skew",
        Severity.LOW,
        "sources whose clocks disagree",
        what=("client hosts whose log times are offset from the redis-server log by more than "
              f"{NEGATIVE_SKEW:g} s (behind) or {POSITIVE_SKEW:g} s (ahead), estimated from at least two "
              "independent edges both sides saw: the server's shutdown vs the host's first connection "
              "failure, and the server's `Ready to accept connections` vs the host's first restored "
              "connection. The edges and their offsets are the evidence."),
        why=("the postmortem orders events across machines by their timestamps; with a skewed clock, "
             "a client's errors can appear before the outage that caused them (or a restart after "
             "the errors it caused), and the causal chain reads backwards."),
        recommendation=("run NTP/chrony on every node and container host, log in UTC with an offset, and read "
                        "the timeline of the listed hosts with the estimated offset in mind."),
        role=Role.DATA_QUALITY,
        phrase="clock skew",
        actions=(
            ("process", "Enforce NTP/chrony on every node and alert on clock offset."),
        ),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Fix clock skew", "Run chrony/NTP on every node; until then read cross-source ordering with care.")

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        cycles = server_cycles(events)
        if not cycles:
            return
        per_host = host_edges(events, cycles)
        skewed = {k: (v, est) for k, v in sorted(per_host.items()) if (est := skew_estimate(v)) is not None}
        server_off = len(per_host) >= 2 and len(skewed) == len(per_host)
        for (source, host), (edges, est) in skewed.items():
            ids = sorted({i for e in edges for i in e["ids"]})
            rows = events.filter(pl.col("event_id").is_in(ids))
            spread = max(e["offset"] for e in edges) - min(e["offset"] for e in edges)
            stats = SkewFigures(
                source=source, host=host, offset_s=round(est, 3),
                edges=[{"edge": e["edge"], "offset_s": round(e["offset"], 3)} for e in edges],
                spread_s=round(spread, 3), reference="redis_server", all_client_hosts_agree=server_off,
            )
            edge_txt = ", ".join(f"{e['edge']} {e['offset']:+.1f} s" for e in edges)
            ahead = "ahead of" if est > 0 else "behind"
            title = f"{host} ({source}) clock about {abs(est):.1f} s {ahead} redis-server ({edge_txt})"
            if server_off:
                title += "; every client host agrees, so the server clock may be the one off"
            f = finding(self.rule, title, rows, stats, Confidence.MEDIUM if spread <= AGREE else Confidence.LOW,
                        entities=(host,))
            if f:
                yield f
