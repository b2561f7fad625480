"""Pods that rode out an outage without a loss are written in the zone their peers were found in
(`clocks.peer_zones`).

Blind healthy-pause-tokyo-36 (session 14: 36 pods writing Tokyo local time without an offset, a 3 s pause): only
the 9 pods that logged a timeout had an edge; the other 27 kept their times, 9 hours late, so PM104's pool
exhaustion ran from 08:51:50 to 17:51:50 and PM002 named 9 of the 36 clocks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from postmortem.analysis.clocks import ClockOffset, Edge, peer_zones
from postmortem.analysis.pipeline import analyze

RECORDED = Path(__file__).parent / "data" / "recorded"
T0 = datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC)
TOKYO = 9 * 3600.0


def test_every_tokyo_pod_is_read_in_its_zone_and_pool_exhaustion_stays_in_the_pause():
    name = "healthy-pause-tokyo-36"
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    report, _ = analyze([str(RECORDED / name)])
    pods = set(facts["clocks"]["written_minus_true_seconds"])
    zoned = {c.host for c in report.clocks if c.host and c.offset_s == TOKYO}
    assert zoned == pods
    end = datetime.fromisoformat(facts["outage"]["end"])
    pm104 = [f for f in report.findings if f.rule_id == "PM104"]
    assert pm104 and all(f.end - end < timedelta(seconds=5) for f in pm104)
    assert sum(f.stats["events"] for f in pm104) == facts["clients"]["errors_by_kind"]["pool_exhausted"]
    skews = [f for f in report.findings if f.rule_id == "PM002"]
    assert len(skews) == 1 and skews[0].title.startswith(f"{len(pods)} redis_py clock(s)")


def _events(hosts: dict[str, tuple[float, float]]) -> pl.DataFrame:
    """Two lines per pod log, at its first and last second as written."""
    rows = [{"ts": T0 + timedelta(seconds=s), "path": f"{h}.log", "line": i + 1, "host": h, "source": "redis_py"}
            for h, span in hosts.items() for i, s in enumerate(span)]
    return pl.DataFrame(rows, schema={"ts": pl.Datetime("us", "UTC"), "path": pl.String, "line": pl.UInt32,
                                      "host": pl.String, "source": pl.String})


def _placed(host: str, zone: float) -> ClockOffset:
    return ClockOffset(f"{host}.log", host, "redis_py", zone, zone, 0.0, "redis-exporter.prom",
                       (Edge("outage start", zone, ((f"{host}.log", 1), ("redis-exporter.prom", 1))),))


def _zoned(hosts: dict[str, tuple[float, float]], placed: dict[str, float], agreed: dict[str, str] | None = None):
    found = [_placed(h, z) for h, z in placed.items()]
    zoneless = {f"{h}.log": True for h in hosts}
    return {o.host: o.offset_s for o in peer_zones(_events(hosts), found, zoneless, {o.path for o in found},
                                                   agreed or {})}


def test_a_pod_outside_its_peers_span_by_their_zone_gets_it():
    hosts = {"a": (TOKYO, TOKYO + 12), "b": (TOKYO + 1, TOKYO + 12), "quiet": (TOKYO + 0.5, TOKYO + 11)}
    assert _zoned(hosts, {"a": TOKYO, "b": TOKYO}) == {"quiet": TOKYO}


def test_a_pod_whose_lines_already_overlap_its_peers_keeps_its_times():
    """The quiet pod's lines, as read, fall inside the corrected peers' span: it was written in UTC."""
    hosts = {"a": (TOKYO, TOKYO + 12), "b": (TOKYO + 1, TOKYO + 12), "quiet": (0.5, 11)}
    assert _zoned(hosts, {"a": TOKYO, "b": TOKYO}) == {}


def test_a_pod_the_zone_does_not_bring_into_the_span_keeps_its_times():
    """Shifted by the peers' zone it still lies outside: an unrelated log, no zone is claimed."""
    hosts = {"a": (TOKYO, TOKYO + 12), "b": (TOKYO + 1, TOKYO + 12), "other": (2 * TOKYO, 2 * TOKYO + 12)}
    assert _zoned(hosts, {"a": TOKYO, "b": TOKYO}) == {}


def test_no_zone_when_most_compared_pods_were_on_time():
    """One placed pod in a zone, two compared and found on time: the fleet's zone is UTC."""
    hosts = {"a": (TOKYO, TOKYO + 12), "b": (0, 12), "c": (0, 12), "quiet": (TOKYO + 0.5, TOKYO + 11)}
    agreed = {"b.log": "agrees with redis-exporter.prom", "c.log": "agrees with redis-exporter.prom"}
    assert _zoned(hosts, {"a": TOKYO}, agreed) == {}
