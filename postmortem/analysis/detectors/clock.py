"""PM002 clock-skew: sources whose clocks disagree, as the shared edges show them (analysis/clocks.py).

The offsets are worked out once, before correlation (the pipeline hands them over in
`ctx.extras["clock_offsets"]`, and the events are already corrected); run on its own the rule
estimates them from the events it is given. A zone-less source written in a local zone is one finding
per source and zone; a clock that is off (skew, one host ahead of the fleet) is one finding per host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from postmortem.analysis.advice import Advice, Facts
from postmortem.analysis.clocks import (
    NEGATIVE_SKEW_S,
    POSITIVE_SKEW_S,
    ClockOffset,
    estimate,
    server_cycles,
)
from postmortem.analysis.correlate import Context
from postmortem.analysis.detectors.base import MAX_EVIDENCE, RuleDetector, finding
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity

__all__ = ["ClockSkew", "SkewFigures", "server_cycles"]


@dataclass(frozen=True, eq=False, repr=False)
class SkewFigures(Figures):
    source: str  # the source whose clock is off
    host: str  # its host(s), comma-separated for a zone shared by several
    path: str  # its file(s), comma-separated
    offset_s: float  # its times minus true times (positive: ahead), zone included
    zone_s: float  # the whole quarter hours of a zone-less source: local time written without an offset
    skew_s: float  # the rest: the clock itself is off
    edges: list[dict]  # the shared edges used: {"edge", "offset_s"} each
    reference: str  # the clock compared against (a path, or "fleet": the other client hosts)
    corrected: bool  # the offset was subtracted from its events before correlation


def _evidence(events: pl.DataFrame, offsets: list[ClockOffset]) -> pl.DataFrame:
    """The events on the lines the edges compared: the clock's own lines and the other side's, half of
    the cited rows each at most, so both sides of an edge are cited whichever came first in time."""
    lines = {where for o in offsets for e in o.edges for where in e.lines}
    keys = pl.DataFrame(sorted(lines), schema={"path": pl.String, "line": pl.UInt32}, orient="row")
    rows = events.join(keys, on=["path", "line"], how="semi").sort(["ts", "path", "line"], nulls_last=True)
    own = pl.col("path").is_in(sorted({o.path for o in offsets}))
    mine, theirs = rows.filter(own), rows.filter(~own)
    half = MAX_EVIDENCE // 2
    keep = max(half, MAX_EVIDENCE - theirs.height)
    return pl.concat([mine.head(keep), theirs.head(MAX_EVIDENCE - min(keep, mine.height))])


def _hours(seconds: float) -> str:
    sign = "+" if seconds >= 0 else "-"
    m = int(round(abs(seconds) / 60))
    return f"UTC{sign}{m // 60:02d}:{m % 60:02d}"


class ClockSkew(RuleDetector):
    """PM002: say when a host's clock is off, so the timeline is not misread as cause and effect."""

    rule = Rule(
        "PM002",
        "clock-skew",
        Severity.LOW,
        "sources whose clocks disagree",
        what=("sources whose clocks disagree, from edges several sources saw: the server's shutdown and "
              "`Ready to accept connections` vs a metrics export's `redis_up` drop and return, the server's "
              "shutdown vs each client host's first connection failure, and one host's first failure vs the "
              "fleet's; a redis-server log no other anchor agrees with, against a fleet of three or more agreeing "
              "hosts (its shutdown before their first failures, its ready line after their last refused "
              "connections: both bound it, so a reaction lag is not an offset); a server that stalled (a hang, a "
              "blocking command: no shutdown or ready line), by its burst of closed and accepted connections when "
              "it ran again, after the fleet's last timeouts or lost connections and before their next activity, "
              "and each client host against it; a pod no outage edge placed, by "
              "its log's first line after the Kubernetes `Started` event for it, against the other started "
              "pods' start-up lag; Kubernetes events ahead, by pods that log before their `Started` event (moved "
              "by the least offset that proves; events behind look like a slow start and stay). A zone-less source off by whole quarter hours wrote local time without an offset "
              "(one finding per source and zone); the rest is skew (one finding per host): the whole client "
              f"fleet beyond {NEGATIVE_SKEW_S:g} s behind or {POSITIVE_SKEW_S:g} s ahead of the reference on "
              "two edges or more, or one host beyond 5 s off the fleet. The offsets are subtracted before "
              "correlation (not with `--no-align`); the edges' lines are the evidence."),
        why=("the postmortem orders events across machines by their timestamps; with a skewed clock, "
             "a client's errors can appear before the outage that caused them (or a restart after "
             "the errors it caused), and the causal chain reads backwards."),
        recommendation=("run NTP/chrony on every node and container host and log in UTC with an offset; "
                        "until then give zone-less sources their zone (`--tz ZONE=GLOB`) and check the "
                        "corrected timeline against the listed edges."),
        role=Role.DATA_QUALITY,
        phrase="clock skew",
        actions=(
            ("process", "Enforce NTP/chrony on every node and alert on clock offset."),
        ),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Fix clock skew", "Run chrony/NTP on every node; until then read cross-source ordering with care.")

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        offsets = ctx.extras.get("clock_offsets")
        corrected = bool(ctx.extras.get("clocks_corrected", False))
        if offsets is None:  # run on its own: the offsets these events show, not subtracted
            offsets, corrected = estimate(events, {}), False
        zones: dict[tuple[str, float, str], list[ClockOffset]] = {}
        for o in offsets:
            if o.skew_s == 0 and o.zone_s:
                zones.setdefault((o.source, o.zone_s, o.reference), []).append(o)
        for (source, zone_s, reference), group in sorted(zones.items()):
            hosts = sorted({o.host or o.path for o in group})
            title = (f"{len(group)} {source} clock(s) wrote local time {_hours(zone_s)} without an offset "
                     f"({', '.join(hosts[:4])}{' …' if len(hosts) > 4 else ''})")
            yield from self._finding(events, group, title, source, hosts, zone_s, 0.0, reference, corrected)
        for o in offsets:
            if o.skew_s == 0:
                continue
            ahead = "ahead of" if o.skew_s > 0 else "behind"
            ref = "the other client hosts" if o.reference == "fleet" else o.reference
            title = f"{o.host or o.path} ({o.source}) clock about {abs(o.skew_s):.1f} s {ahead} {ref}"
            if o.zone_s:
                title += f", written in local time {_hours(o.zone_s)} without an offset"
            edges = ", ".join(f"{e.name} {e.offset_s:+.1f} s" for e in o.edges[:4])
            title += f" ({edges})"
            yield from self._finding(events, [o], title, o.source, [o.host or o.path], o.zone_s, o.skew_s,
                                     o.reference, corrected)

    def _finding(self, events, group, title, source, hosts, zone_s, skew_s, reference, corrected):
        edges = [e for o in group for e in o.edges]
        figures = SkewFigures(
            source=source, host=", ".join(hosts), path=", ".join(sorted({o.path for o in group})),
            offset_s=round(zone_s + skew_s if len(group) > 1 else group[0].offset_s, 3),
            zone_s=zone_s, skew_s=round(skew_s, 3),
            edges=[{"edge": e.name, "offset_s": round(e.offset_s, 3)} for e in edges[:16]],
            reference=reference, corrected=corrected,
        )
        confidence = Confidence.MEDIUM if len(edges) >= 2 else Confidence.LOW
        f = finding(self.rule, title, _evidence(events, group), figures, confidence, entities=tuple(hosts))
        if f:
            yield f
