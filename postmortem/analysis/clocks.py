"""One clock: each source's offset worked out from edges the incident's sources share, and the events
corrected before correlation.

An outage is seen by several sources: the server logs its shutdown and `Ready to accept connections`,
a metrics export's `redis_up` drops and comes back, and every client's first connection failure comes
right after the server went away (a lag of zero or more). Matching those edges gives each clock's
offset against a reference:

* **Reference** (anchor order): among the anchored sources that saw outage edges, the one most other
  anchors agree with (within `AGREE_S`); ties go to metric exports (epoch or zoned times) before
  redis-server logs (no zone, UTC by convention), then by path. Anchors that disagree with it are
  aligned to it on their down and up edges. Either edge can be blunt: a scraper refused at maxclients
  comes back seconds after the ready line (a storm), and a server that hung before it shut down failed
  its scrapes from the hang on; where the metrics' own counter shows no refused connection, the
  recoveries are sharp and win over starts that disagree with them.
* **Clients**: per (file, host), the first loss (a lost, refused or timed-out connection, or a command
  left unanswered) of each burst against the reference's down edges.
  The fleet is the largest group of hosts within `AGREE_S` of each other: its offset beyond the
  skew margins (a zone, or every client off the same way) is the fleet's correction, and a host
  outside the group by more than `HOST_MARGIN_S` has its own offset (one pod ahead of the others).
  Ahead needs first losses after the reference saw Redis back: one while Redis was down is a lag,
  however long (a stalled server's connect timeouts come when pools reopen; an idle pod fails late).
  Without a reference only per-host offsets against the fleet are found: a fleet of `FLEET_MIN`
  hosts or more, hosts between `FLEET_MARGIN_S` and `FLEET_RANGE_S` from it.
* **Against a server log's shutdown line** a client's edge is its first lost or refused connection: a
  timeout may precede the shutdown by a hang (a blocking command, then the restart queued behind it).
* **A lone server log** (the reference, no other anchor agreeing with it) against a fleet of
  `FLEET_MIN` or more agreeing hosts: clients lose connections only after the shutdown and are refused only before
  the ready line, so the server's offset is bounded from both sides (`server_against_fleet`); outside
  `AGREE_S` of zero it is the server that is off.
* **A stalled server** (a hang: SIGSTOP, a blocking command, a frozen VM) logs no shutdown or ready
  line, but when it runs again it handles at once the connections the clients dropped and opened
  meanwhile: a burst of `Client closed connection` and `Accepted` lines after a silence. No client
  loses its connection (a timeout, a lost or refused connection) after the server answers again, and
  a client works again only after it: a redis-server log with no outage cycle lies between (burst -
  first activity after the losses) and (burst - last loss), medians over a fleet of `FLEET_MIN` or
  more agreeing hosts (`server_against_stall`). The reading must hold against the rest of the log: a
  server that logged its exit answered nobody after it, so an offset that puts that exit before the
  fleet's last work (the closes of a fleet leaving taken for a resume) is no evidence.
* **Pod starts**: a pod no outage edge placed, by its log's first line after the Kubernetes `Started`
  event for it, against the other started pods (`pod_start_offsets`).
* **Pods with no edge of their own** (they rode out the outage without a loss, or were started during it and
  agree only with the other started pods, whose `Started` events no edge has placed): a zone-less pod log is
  read in the zone most compared pods of its source were found in, when its lines as read lie wholly outside their
  corrected span and moved by that zone fall inside it (`peer_zones`); otherwise it keeps its times.
* **Kubernetes events ahead**: a pod logs only after Kubernetes started it, so its first line comes
  after the `Started` event for it; started pods (`FLEET_MIN` or more, most of them agreeing) whose
  logs begin more than `AGREE_S` before their `Started` events prove the events' clock ahead by at
  least that much, and the events are moved by that least offset (`k8s_against_pod_starts`). A clock
  behind reads as a slow start-up and is kept as read.
* A whole quarter-hour part (within `ZONE_SLACK_S`) of a zone-less source's offset is its zone; the
  rest is skew. Both are reported (the clock-skew rule) and subtracted from the source's times.

Nothing is shifted without evidence: a source with no shared edge keeps its stated or default zone.
Each correction is one constant per file (or per host inside a file), so lines of one file keep their
order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

import polars as pl

from postmortem.analysis.correlate import is_problem, refused_connect
from postmortem.analysis.refusals import counter_rises
from postmortem.input.options import IngestOptions
from postmortem.kinds import KINDS
from postmortem.model import InputFile, SourceClock
from postmortem.schema import EVENT_COLUMNS

AGREE_S = 2.0  # two clocks closer than this agree (metric polls are a second apart)
MATCH_S = 5.0  # an edge matches another within this, once the offset is applied
HOST_MARGIN_S = 5.0  # a host's first failure this far from the fleet's is its own clock
NEGATIVE_SKEW_S = 2.0  # a fleet that fails this much before the server went down is behind
POSITIVE_SKEW_S = 5.0  # lags are positive, so "ahead" needs a larger margin
ZONE_STEP_S = 900.0  # zones are whole quarter hours from UTC
ZONE_SLACK_S = 120.0  # an offset this close to a quarter-hour multiple is that zone plus skew
FLEET_MIN = 3  # without an anchor, a fleet of this many agreeing hosts is the reference
FLEET_MARGIN_S = 30.0  # ... off it by more than this (no server edge tells a lag from a clock)
FLEET_RANGE_S = 600.0  # ... for hosts at most this far from it (farther: unrelated logs, not a clock)
BURST_GAP = timedelta(seconds=15)  # client failures closer than this are one burst (one outage)
UNREACHABLE = KINDS.with_flag("unreachable")
DOWN = "redis.server.shutdown"
UP = ("redis.server.ready", "redis.server.start")
POD_STARTED = "k8s.Started"
K8S_SOURCE = "k8s_events"
NOT_PODS = (K8S_SOURCE, "metrics", "redis_server")  # sources whose host is no pod of the application
LOWER = "shutdown - first failure"  # at most the server's offset: a client fails a lag after the shutdown
UPPER = "ready - last refusal"  # at least the server's offset: refusals end before the server listens
LOSS = (*UNREACHABLE, "redis.timeout")  # the server did not answer: no connection, or no reply in time
CHURN = ("redis.server.client_accepted", "redis.server.client_closed")
PER_SECOND = "app.activity"  # one row per host and second: its time is the second's start
STARTED_BEFORE = "Started - first line"  # at most the events' offset: a pod logs after it was started
STALL_UPPER = "resume burst - last loss"  # at least the server's offset: no loss once the server answers
STALL_LOWER = "resume burst - next activity"  # at most: a client works again only after the server does
SPAN_ATTRS = ("first_ts", "last_ts")  # an aggregated event's span (Kubernetes), moved with its time
FLEET_ONLY = "other client hosts on their first failure"  # agreement among clients alone: any server edge wins
RESUME_WINDOW_S = 1.0  # the closes and accepts of one resume come within this (churn rows are per second)


@dataclass(frozen=True)
class Edge:
    """One shared edge: what it is, this clock's offset on it, and the two lines (path, line) compared."""

    name: str
    offset_s: float
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ClockOffset:
    """A clock found off the reference: total offset (its times minus true times), split in zone and skew."""

    path: str
    host: str | None  # None: the whole file
    source: str
    offset_s: float
    zone_s: float  # whole quarter hours of a zone-less source: the zone it was written in
    skew_s: float  # the rest: the clock is off
    reference: str  # the path compared against, or "fleet" (the other client hosts)
    edges: tuple[Edge, ...]


@dataclass
class Alignment:
    """The events with every offset subtracted (unless not applied), the offsets and each source's clock."""

    events: pl.DataFrame
    offsets: list[ClockOffset]
    clocks: tuple[SourceClock, ...]
    applied: bool


def server_cycles(events: pl.DataFrame) -> list[tuple[dict, dict]]:
    """(shutdown row, next ready row) pairs from redis-server logs, in time order.

    A shutdown logs several lines ("User requested shutdown", "ready to exit"): the first one is
    the edge, except the signal handler's "Received SIGTERM" line when a shutdown line follows it: that
    one carries whole epoch seconds (not the log's own clock and zone). A start without a ready line
    stands in for ready.
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
            down = r if down is None or (_signal_handler(down) and not _signal_handler(r)) else down
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


def _signal_handler(row: dict) -> bool:
    return (row.get("message") or "").startswith("Received SIG")


def metric_cycles(events: pl.DataFrame) -> list[tuple[dict, dict]]:
    """(first `redis_up` 0 sample, next 1 sample) pairs of one metrics file, in time order. The 1 sample carries
    `sharp`: whether the file's `rejected_connections` counter, sampled before the 0 sample and with the 1 sample, shows
    that the server refused no connection between them (no counter: not known, False). Only a server refusing at
    maxclients (a storm) refuses the scraper after its ready line; otherwise the scraper is answered at its first try
    once the server is back."""
    rows = (events.filter((pl.col("metric") == "redis_up") & pl.col("ts").is_not_null())
            .sort(["ts", "line"]).to_dicts())
    counted = events.filter(pl.col("metric") == "rejected_connections").get_column("ts").drop_nulls()
    cycles, down = [], None
    for r in rows:
        if r["value"] == 0 and down is None:
            down = r
        elif r["value"] == 1 and down is not None:
            known = (counted < down["ts"]).any() and (counted == r["ts"]).any()
            cycles.append((down, {**r, "sharp": bool(known) and not counter_rises(events, down["ts"], r["ts"])}))
            down = None
    return cycles


def _secs(row: dict) -> float:
    return row["ts"].timestamp()


def _where(row: dict) -> tuple[str, int]:
    return (row["path"], int(row["line"]))


def match(mine: list[float], theirs: list[float]) -> tuple[float, list[tuple[int, int]]] | None:
    """The offset that lines up most of `mine` with `theirs` (ties: the smallest), refined to the median
    of the matched pairs, and the pairs (index in mine, index in theirs); None without edges."""
    best: tuple[int, float] | None = None
    for m in mine:
        for t in theirs:
            c = m - t
            score = sum(any(abs(x - c - y) <= MATCH_S for y in theirs) for x in mine)
            if best is None or (score, -abs(c)) > (best[0], -abs(best[1])):
                best = (score, c)
    if best is None:
        return None
    c = best[1]
    pairs = []
    for i, x in enumerate(mine):
        j = min(range(len(theirs)), key=lambda k: abs(x - c - theirs[k]))
        if abs(x - c - theirs[j]) <= MATCH_S:
            pairs.append((i, j))
    return median(mine[i] - theirs[j] for i, j in pairs), pairs


def split_zone(offset: float, zoneless: bool) -> tuple[float, float]:
    """(zone, skew): the whole quarter hours of a zone-less source's offset and the rest."""
    zone = round(offset / ZONE_STEP_S) * ZONE_STEP_S
    if not zoneless or zone == 0 or abs(offset - zone) > ZONE_SLACK_S:
        return 0.0, offset
    return zone, offset - zone


def _anchors(events: pl.DataFrame) -> list[tuple[int, str, str, list[tuple[dict, dict]]]]:
    """(rank, path, source, cycles) of every source whose outage edges can anchor the others."""
    out = []
    scraped = events.filter(pl.col("metric").is_in(["redis_up", "rejected_connections"]))
    for (path,), part in scraped.partition_by("path", as_dict=True).items():
        if cycles := metric_cycles(part):
            out.append((0, path, "metrics", cycles))
    server = events.filter(pl.col("source") == "redis_server")
    for (path,), part in server.partition_by("path", as_dict=True).items():
        if cycles := server_cycles(part):
            out.append((1, path, "redis_server", cycles))
    return sorted(out, key=lambda a: (a[0], a[1]))


def _anchor_offset(a, b) -> tuple[float, tuple[Edge, ...]] | None:
    """Anchor a's offset against anchor b from their down and up edges (the median of both)."""
    found = match([_secs(d) for d, _ in a[3]], [_secs(d) for d, _ in b[3]])
    if found is None:
        return None
    starts, recoveries, sharp_ups = [], [], []
    for i, j in found[1]:
        (da, ua), (db, ub) = a[3][i], b[3][j]
        starts.append(Edge("outage start", _secs(da) - _secs(db), (_where(db), _where(da))))
        recoveries.append(Edge("recovery", _secs(ua) - _secs(ub), (_where(ub), _where(ua))))
        sharp_ups.append(ua.get("sharp", True) and ub.get("sharp", True))  # a server's ready line is sharp
    at_start = median(e.offset_s for e in starts)
    # A recovery is a blunt edge: during a storm the exporter's own connection is refused at maxclients, so
    # `redis_up` returns seconds after the server's ready line. Recoveries count only where they agree.
    agreeing = [e for e in recoveries if abs(e.offset_s - at_start) <= AGREE_S]
    edges = starts + agreeing
    # A start is a blunt edge too: a server that hung before it went down (a blocking command, then the restart it
    # had queued) failed its scrapes from the hang on, before its shutdown line (slow-restart-12: 4.2 s). Where the
    # server refused nobody, the recoveries are sharp: when they disagree with the starts, they win.
    sharp = [e for e, ok in zip(recoveries, sharp_ups, strict=True) if ok]
    if sharp and abs(median(e.offset_s for e in sharp) - at_start) > AGREE_S:
        at_up = median(e.offset_s for e in sharp)
        edges = sharp + [e for e in starts if abs(e.offset_s - at_up) <= AGREE_S]
    return median(e.offset_s for e in edges), tuple(edges)


def _reference(anchors, units: dict[tuple[str, str, str], list[dict]]):
    """The anchor most other clocks agree with, and the other anchors' offsets against it.

    Agreeing: another anchor within `AGREE_S`, or a client host whose first failures fall within the
    skew margin after its reaction lag (no zone part). Ties go to the anchor order (metrics, then
    redis-server logs), then the path."""
    if not anchors:
        return None, []
    pair = {(i, j): _anchor_offset(a, b) for i, a in enumerate(anchors) for j, b in enumerate(anchors) if i != j}

    def agreeing(i: int) -> int:
        n = sum(1 for j in range(len(anchors)) if j != i and pair[i, j] and abs(pair[i, j][0]) <= AGREE_S)
        downs = [_secs(d) for d, _ in anchors[i][3]]
        for firsts in units.values():
            found = match([_secs(r) for r in firsts], downs)
            n += bool(found and found[1] and -NEGATIVE_SKEW_S <= found[0] <= POSITIVE_SKEW_S)
        return n

    ref = min(range(len(anchors)), key=lambda i: (-agreeing(i), anchors[i][0], anchors[i][1])) \
        if len(anchors) > 1 else 0
    aligned = [(a, pair[j, ref]) for j, a in enumerate(anchors) if j != ref and pair[j, ref]]
    return anchors[ref], aligned


def _client_losses(events: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """The clients' lost connections and unanswered commands, numbered by burst per (path, host), with `columns`
    beside the keys (a filter and a sort copy every column they keep: a dense log's losses are most of its rows).

    Why unanswered commands too: a server that stalls (a blocking command, SIGSTOP) keeps its connections
    open, so a client's first loss is a read timeout, and a connect failure may come only seconds later,
    when the pool opens a new connection; taken alone it reads as a clock ahead by the stall's length."""
    return (events.select(*dict.fromkeys(("path", "host", "ts", "line", "kind", *columns)))
            .filter(pl.col("kind").is_in(LOSS) & pl.col("ts").is_not_null() & pl.col("host").is_not_null())
            .sort(["path", "host", "ts", "line"])
            .with_columns(burst=(pl.col("ts").diff().over(["path", "host"]).fill_null(BURST_GAP * 2) > BURST_GAP)
                          .cum_sum().over(["path", "host"])))


def _client_units(events: pl.DataFrame) -> dict[tuple[str, str, str], list[dict]]:
    """Per (path, host, source) of a client: the first loss of each burst, in time order (each a whole row)."""
    firsts = _client_losses(events.with_row_index("_row"), "_row").unique(
        ["path", "host", "burst"], keep="first", maintain_order=True)
    firsts = events[firsts.get_column("_row")].with_columns(firsts.get_column("burst")).to_dicts()
    out: dict[tuple[str, str, str], list[dict]] = {}
    for r in firsts:
        out.setdefault((r["path"], r["host"], r["source"]), []).append(r)
    return out


def _last_refusals(events: pl.DataFrame) -> dict[tuple[str, str, str], list[dict | None]]:
    """Per client (path, host, source): the last refused connection of each burst (`_client_units`'
    bursts, in the same order), or None where a burst had no refusal."""
    fails = _client_losses(events, "source", "message").with_columns(refused=refused_connect())
    last = (fails.group_by(["path", "host", "source", "burst"], maintain_order=True)
            .agg(pl.struct("ts", "path", "line").filter(pl.col("refused")).last().alias("row")))
    out: dict[tuple[str, str, str], list[dict | None]] = {}
    for r in last.sort(["path", "host", "burst"]).iter_rows(named=True):
        out.setdefault((r["path"], r["host"], r["source"]), []).append(r["row"] if r["row"] and r["row"]["ts"] else None)
    return out


def _first_unreachable(events: pl.DataFrame) -> dict[tuple[str, str, str], dict[int, dict]]:
    """Per client (path, host, source): the first lost or refused connection of each of `_client_units`' bursts, by
    burst number (a burst that only timed out has none)."""
    fails = _client_losses(events, "source").filter(pl.col("kind").is_in(UNREACHABLE)).unique(
        ["path", "host", "burst"], keep="first", maintain_order=True)
    out: dict[tuple[str, str, str], dict[int, dict]] = {}
    for r in fails.iter_rows(named=True):
        out.setdefault((r["path"], r["host"], r["source"]), {})[r["burst"]] = r
    return out


def server_against_fleet(server, units, refusals, zoneless: dict[str, bool],
                         unreachable: dict[tuple[str, str, str], dict[int, dict]]) -> tuple[float, tuple[Edge, ...]] | None:
    """A lone redis-server log's offset against a fleet of client hosts that agree with each other.

    The two edges have a known direction: a client loses its connection only after the server went down (its
    first lost or refused connection comes a reaction lag after the shutdown line; a timeout may come before it, from
    a server that hung before it shut down: slow-restart-8's KEYS, 6.2 s), and a connection is refused only before the
    server listens again (its last refusal comes before the ready line). So the server's offset lies
    between (shutdown - first failure) and (ready - last refusal): the medians over the fleet's hosts
    bound it from both sides, and a lag never reads as an offset. None when zero lies within those
    bounds (within `AGREE_S`), when the fleet is smaller than `FLEET_MIN` hosts or showed no refusal,
    or when the offset is a whole zone of a zone-less fleet (then by convention the fleet was written
    in a zone, see `client_offsets`)."""
    downs = [_secs(d) for d, _ in server[3]]
    raw, pairs = {}, {}
    for unit, firsts in units.items():
        found = match([_secs(r) for r in firsts], downs)
        if found and found[1]:
            raw[unit], pairs[unit] = found
    fleet = _fleet(raw)
    if len(fleet) < FLEET_MIN:
        return None
    edges: list[Edge] = []  # per host: the lower bound (shutdown - first failure), then the upper one
    for unit in fleet:
        for i, j in pairs[unit]:
            (down, up) = server[3][j]
            first = unreachable.get(unit, {}).get(units[unit][i]["burst"])
            if first is not None:
                edges.append(Edge(LOWER, _secs(down) - _secs(first), (_where(down), _where(first))))
            refused = refusals.get(unit, [])[i] if i < len(refusals.get(unit, [])) else None
            if refused is not None:
                edges.append(Edge(UPPER, _secs(up) - _secs(refused), (_where(up), _where(refused))))
    highs = [e.offset_s for e in edges if e.name == UPPER]
    lows = [e.offset_s for e in edges if e.name == LOWER]
    if not highs or not lows:
        return None
    low, high = median(lows), median(highs)
    if low <= AGREE_S and high >= -AGREE_S:
        return None
    offset = (low + high) / 2
    if split_zone(-offset, all(zoneless.get(u[0], False) for u in fleet))[0]:
        return None
    return offset, tuple(edges)


def _shifted(anchor, offset: float):
    """An anchor with `offset` seconds taken off its edges' times (the lines cited stay the same)."""
    delta = timedelta(seconds=offset)
    cycles = [({**d, "ts": d["ts"] - delta}, {**u, "ts": u["ts"] - delta}) for d, u in anchor[3]]
    return (anchor[0], anchor[1], anchor[2], cycles)


def _fleet(values: dict) -> list:
    """The largest group of units whose offsets agree (ties: the one nearest a whole zone, then earliest)."""
    def group(k):
        return [j for j in values if abs(values[j] - values[k]) <= AGREE_S]

    def key(k):
        return (-len(group(k)), abs(values[k] - round(values[k] / ZONE_STEP_S) * ZONE_STEP_S), values[k], k)

    return group(min(values, key=key)) if values else []


def client_offsets(units: dict[tuple[str, str, str], list[dict]], reference, zoneless: dict[str, bool],
                   agreed: dict[str, str]) -> list[ClockOffset]:
    """Each client (file, host) clock found off the reference (or, without one, off the fleet), from the
    first failure of each of its bursts (`_client_units`)."""
    if not units:
        return []
    downs = [d for d, _ in reference[3]] if reference else []
    raw: dict[tuple[str, str, str], float] = {}
    past_up: dict[tuple[str, str, str], float] = {}  # its first losses after the reference saw Redis back
    edges: dict[tuple[str, str, str], list[Edge]] = {}
    for unit, firsts in units.items():
        if downs:
            found = match([_secs(r) for r in firsts], [_secs(d) for d in downs])
            if found is None or not found[1]:
                continue
            raw[unit] = found[0]
            past_up[unit] = median(_secs(firsts[i]) - _secs(reference[3][j][1]) for i, j in found[1])
            edges[unit] = [Edge("outage start", _secs(firsts[i]) - _secs(downs[j]), (_where(downs[j]), _where(firsts[i])))
                           for i, j in found[1]]
        else:
            raw[unit] = _secs(firsts[0])
    fleet = _fleet(raw)
    fleet_value = median(raw[u] for u in fleet)
    if reference:
        zone, residual = split_zone(fleet_value, all(zoneless.get(u[0], False) for u in fleet))
        # a skew of the whole fleet needs two edges: one client failing early proves little; and ahead, failures
        # after Redis was back: a first loss while it was down is a lag, however long (a stall, an idle pod)
        ahead = residual > POSITIVE_SKEW_S and median(past_up[u] for u in fleet) - zone > AGREE_S
        skewed = (residual < -NEGATIVE_SKEW_S or ahead) and sum(len(edges[u]) for u in fleet) >= 2
        correction = zone + (residual if skewed else 0.0)
    else:
        correction = 0.0
    lag = fleet_value - correction  # what the fleet's edges show beyond its clock: the reaction lag
    first_of_fleet = min((units[u][0] for u in fleet), key=_secs)
    out = []
    for unit in sorted(raw):
        own = abs(raw[unit] - fleet_value) > HOST_MARGIN_S and not (
            reference and raw[unit] > fleet_value and past_up[unit] - correction <= AGREE_S)
        if own and not reference and (len(fleet) < FLEET_MIN or abs(raw[unit] - fleet_value) > FLEET_RANGE_S
                                      or abs(raw[unit] - fleet_value) <= FLEET_MARGIN_S):
            continue  # no anchor: only a host near a fleet that agrees is compared with it
        offset = raw[unit] - lag if own else correction
        if abs(offset) < 1e-9:
            if reference:
                agreed.setdefault(unit[0], f"agrees with {reference[1]} on {_edges(len(edges[unit]))}")
            elif unit in fleet and len(fleet) > 1:
                agreed.setdefault(unit[0], f"agrees with {len(fleet) - 1} {FLEET_ONLY}")
            continue
        zone, skew = split_zone(offset, zoneless.get(unit[0], False))
        unit_edges = list(edges.get(unit, []))
        if own:
            first = units[unit][0]
            unit_edges.append(Edge("first failure vs the fleet's", _secs(first) - _secs(first_of_fleet),
                                   (_where(first_of_fleet), _where(first))))
        out.append(ClockOffset(unit[0], unit[1], unit[2], offset, zone, skew,
                               reference[1] if reference else "fleet", tuple(unit_edges)))
    return out


def estimate(events: pl.DataFrame, zoneless: dict[str, bool],
             agreed: dict[str, str] | None = None) -> list[ClockOffset]:
    """Every clock offset the incident's shared edges show (`zoneless`: path → its times carried no zone).
    `agreed` collects, per path compared and found on time, what it was compared with."""
    agreed = {} if agreed is None else agreed
    if events.height == 0:
        return []
    units = _client_units(events)
    reference, aligned = _reference(_anchors(events), units)
    out = []
    lone = None
    unreachable = _first_unreachable(events)
    if reference and reference[2] == "redis_server" and not any(abs(o) <= AGREE_S for _, (o, _) in aligned):
        lone = server_against_fleet(reference, units, _last_refusals(events), zoneless, unreachable)
    if lone:
        offset, edges = lone
        zone, skew = split_zone(offset, zoneless.get(reference[1], False))
        out.append(ClockOffset(reference[1], None, reference[2], offset, zone, skew, "fleet", edges))
        aligned = [(a, (o + offset, e)) for a, (o, e) in aligned]
        reference = _shifted(reference, offset)
    elif reference:
        agreed[reference[1]] = "the reference clock (anchor order: metrics, then redis-server logs)"
    for anchor, (offset, edges) in aligned:
        if abs(offset) <= AGREE_S:
            agreed[anchor[1]] = f"agrees with {reference[1]} on {_edges(len(edges))}"
            continue
        zone, skew = split_zone(offset, zoneless.get(anchor[1], False))
        out.append(ClockOffset(anchor[1], None, anchor[2], offset, zone, skew, reference[1], edges))
    # clients against the reference's own times: an aligned anchor is never the reference. A server log's down edge
    # is its shutdown line, which a client's timeout may precede by a hang (`server_against_fleet`): against it, a
    # client's edge is its first lost or refused connection of each burst
    if reference and reference[2] == "redis_server":
        units = {u: [unreachable[u][r["burst"]] for r in rows if r["burst"] in unreachable.get(u, {})]
                 for u, rows in units.items()}
        units = {u: rows for u, rows in units.items() if rows}
    out += client_offsets(units, reference, zoneless, agreed)
    before = set(agreed)
    out += pod_start_offsets(events, zoneless, {o.path for o in out} | set(agreed), agreed)
    # a pod on time with the other started pods is on the Kubernetes events' clock, which no edge has
    # placed yet: its zone may still be its peers'
    on_reference = {p: why for p, why in agreed.items() if p in before}
    # the last two read the clients' clocks as corrected so far
    out += stalled_servers(events, out, zoneless, {o.path for o in out} | set(agreed), agreed)
    out += peer_zones(events, out, zoneless, {o.path for o in out}, on_reference)
    out += k8s_against_pod_starts(events, out, agreed)
    return out


def _pod_rows(events: pl.DataFrame) -> pl.DataFrame:
    """The timed lines of the application's pods: a host, and a source that is no server, metrics or Kubernetes."""
    return events.filter(pl.col("host").is_not_null() & ~pl.col("source").is_in(NOT_PODS) & pl.col("ts").is_not_null())


def _loss_bursts(events: pl.DataFrame) -> dict[tuple[str, str, str], list[dict]]:
    """Per client (path, host, source): each burst of lost connections and unanswered commands (gaps
    under `BURST_GAP`), as {first, last: the rows; next: the host's first activity after the last loss,
    or None}. Activity is a line of the same file and host that signals no trouble; a row summarized per
    second counts from the end of its second, and only when that second began after the loss."""
    hosts = _pod_rows(events).sort(["path", "host", "ts", "line"])
    losses = (hosts.filter(pl.col("kind").is_in(LOSS))
              .with_columns(burst=(pl.col("ts").diff().over(["path", "host"]).fill_null(BURST_GAP * 2) > BURST_GAP)
                            .cum_sum().over(["path", "host"])))
    if losses.height == 0:
        return {}
    bursts = (losses.group_by(["path", "host", "source", "burst"])
              .agg(pl.struct("ts", "path", "line").first().alias("first"),
                   pl.struct("ts", "path", "line").last().alias("last"))
              .with_columns(end=pl.col("last").struct.field("ts")))
    busy = (hosts.filter(~is_problem())
            .with_columns(at=pl.when(pl.col("kind") == PER_SECOND)
                          .then(pl.col("ts") + pl.duration(seconds=1)).otherwise(pl.col("ts")))
            .select("path", "host", pl.col("ts").alias("busy_ts"), "line", "at").sort("busy_ts"))
    # strictly after the last loss: a per-second row of the loss's own second may hold lines written before it
    nexts = (bursts.sort("end").join_asof(busy, left_on="end", right_on="busy_ts", by=["path", "host"],
                                          strategy="forward", allow_exact_matches=False, check_sortedness=False)
             .with_columns(next=pl.when(pl.col("busy_ts").is_not_null())
                           .then(pl.struct(pl.col("at").alias("ts"), "path", "line"))))
    out: dict[tuple[str, str, str], list[dict]] = {}
    for r in nexts.sort(["path", "host", "burst"]).iter_rows(named=True):
        out.setdefault((r["path"], r["host"], r["source"]), []).append(
            {"first": r["first"], "last": r["last"], "next": r["next"]})
    return out


def resume_bursts(server: pl.DataFrame, silence_s: float) -> list[tuple[dict, dict]]:
    """(churn row that ends the stall, the row before the stall) of each resume of one redis-server log: after
    at least `silence_s` without a line, closes and accepts within `RESUME_WINDOW_S` of each other (a running
    server logs a pooled fleet's connections one by one; a stalled one, all at once when it runs again).

    A resume whose burst is followed, within `RESUME_WINDOW_S`, by another silence of `AGREE_S` or more and
    another such burst did not end the stall: the server ran only long enough to take the connections queued
    in it and stalled again (slow-pause-20: SIGCONT at 38.7 let a queued `KEYS` run until 41.3, and the
    fleet's timeouts went on until then), so the stall ends with the last burst of that chain."""
    churn = pl.col("kind").is_in(CHURN)
    rows = (server.filter(pl.col("ts").is_not_null()).sort(["ts", "line"])
            .with_columns(at=pl.col("ts").dt.epoch("us") / 1e6)
            # a churn row summarizing several lines may have lines up to the end of its second
            .with_columns(end=pl.when(churn & (pl.col("value").fill_null(0) > 1))
                          .then(pl.col("at").floor() + 1).otherwise(pl.col("at")))
            .with_columns(gap=pl.col("at") - pl.col("end").shift(1), before=pl.int_range(pl.len()) - 1))
    bursts = _bursts_after(rows, min(silence_s, AGREE_S))
    later = {r["before"] + 1: r for r in bursts}
    ends = rows.get_column("end").to_list()
    gaps = rows.get_column("gap").to_list()
    out = []
    for r in bursts:
        if r["gap"] < silence_s:
            continue
        stall_end = r
        while (nxt := _next_silence(gaps, ends, stall_end["before"] + 1)) is not None and nxt in later:
            stall_end = later[nxt]
        out.append((stall_end, rows.row(r["before"], named=True)))
    return out


def _bursts_after(rows: pl.DataFrame, silence_s: float) -> list[dict]:
    """The churn rows after at least `silence_s` without a line that have a close and an accept within
    `RESUME_WINDOW_S` from them."""
    found = rows.filter(pl.col("kind").is_in(CHURN) & (pl.col("gap") >= silence_s))
    for i, kind in enumerate(CHURN):
        found = found.join_asof(rows.filter(pl.col("kind") == kind).select(pl.col("at").alias(f"next{i}")),
                                left_on="at", right_on=f"next{i}", strategy="forward")
        found = found.filter(pl.col(f"next{i}") - pl.col("at") <= RESUME_WINDOW_S)
    return list(found.iter_rows(named=True))


def _next_silence(gaps: list, ends: list, start: int) -> int | None:
    """The index of the first row after `start` that follows a silence of `AGREE_S` or more, when every row
    from `start` up to it lies within `RESUME_WINDOW_S` of `start`'s (a burst, then silence); else None."""
    for i in range(start + 1, len(gaps)):
        if gaps[i] is not None and gaps[i] >= AGREE_S:
            return i
        if ends[i] - ends[start] > RESUME_WINDOW_S:
            return None
    return None


def _line_end(row: dict) -> float:
    """The latest time a row's lines can have: a churn row summarizing several lines spans its second."""
    if row["kind"] in CHURN and (row["value"] or 0) > 1:
        return float(int(_secs(row)) + 1)
    return _secs(row)


@dataclass(frozen=True)
class Stall:
    """A server's resume bursts matched to the client hosts' loss bursts (`match`: last losses against
    resumes); `raw` is each host's median (last loss - resume), `fleet` the hosts that agree on it."""

    resumes: list[tuple[dict, dict]]
    bursts: dict[tuple[str, str, str], list[dict]]
    raw: dict[tuple[str, str, str], float]
    pairs: dict[tuple[str, str, str], list[tuple[int, int]]]
    fleet: list[tuple[str, str, str]]


def _stall(server: pl.DataFrame, bursts: dict[tuple[str, str, str], list[dict]]) -> Stall | None:
    """The stall of one server log the fleet saw: None without resume bursts, without a fleet of
    `FLEET_MIN` agreeing hosts, or when a resume matches none of the fleet's loss bursts."""
    spans = [_secs(b["last"]) - _secs(b["first"]) for bs in bursts.values() for b in bs]
    if not spans:
        return None
    resumes = resume_bursts(server, max(median(spans), AGREE_S))
    if not resumes:
        return None
    raw, pairs = {}, {}
    for unit, bs in bursts.items():
        found = match([_secs(b["last"]) for b in bs], [_secs(r) for r, _ in resumes])
        if found and found[1]:
            raw[unit], pairs[unit] = found
    fleet = _fleet(raw)
    if len(fleet) < FLEET_MIN or {j for u in fleet for _, j in pairs[u]} != set(range(len(resumes))):
        return None
    return Stall(resumes, bursts, raw, pairs, fleet)


def _stall_edges(stall: Stall, unit, shift: float = 0.0) -> list[Edge]:
    """(resume - last loss) and (resume - next activity) of one host's matched bursts, the resume's time
    taken `shift` seconds back (the server's offset)."""
    edges = []
    for i, j in stall.pairs[unit]:
        (resume, _), burst = stall.resumes[j], stall.bursts[unit][i]
        at = _secs(resume) - shift
        edges.append(Edge(STALL_UPPER, at - _secs(burst["last"]), (_where(resume), _where(burst["last"]))))
        if burst["next"] is not None:
            edges.append(Edge(STALL_LOWER, at - _secs(burst["next"]), (_where(resume), _where(burst["next"]))))
    return edges


def server_against_stall(server: pl.DataFrame, bursts: dict[tuple[str, str, str], list[dict]],
                         spans: dict[tuple[str, str, str], tuple[float, float]],
                         stall: Stall | None = None) -> tuple[float, tuple[Edge, ...], int] | None:
    """A redis-server log with no outage cycle, placed by a stall: its offset against the fleet (the
    server's times minus the fleet's), the edges and the fleet's size.

    A stalled server answers nobody, so its clients' losses come before it runs again and their next
    activity after: per host, (resume burst - next activity) <= offset <= (resume burst - last loss);
    the medians over a fleet of `FLEET_MIN` or more hosts that agree bound the offset from both sides,
    so the hosts' reaction never reads as one. The offset is 0.0 (on time) when zero lies within those
    bounds (within `AGREE_S`). None (no evidence) without a stall (`_stall`), when the bounds are wider
    than `2 * MATCH_S` or cross, when the server logged lines while the fleet was losing it, when its
    log begins after the fleet's do, or when, by this offset, the fleet still worked after the server
    logged its own exit (`spans`: each host's first line and last line that signals no trouble)."""
    stall = stall or _stall(server, bursts)
    if stall is None:
        return None
    edges = [e for unit in stall.fleet for e in _stall_edges(stall, unit)]
    lows = [e.offset_s for e in edges if e.name == STALL_LOWER]
    if not lows:
        return None
    low, high = median(lows), median(e.offset_s for e in edges if e.name == STALL_UPPER)
    if low > high + AGREE_S or high - low > 2 * MATCH_S:
        return None
    offset = 0.0 if low <= AGREE_S and high >= -AGREE_S else (low + high) / 2
    # the server was silent while the fleet lost it: its line before the burst came before their first losses
    firsts = [_secs(stall.resumes[j][0]) - _secs(stall.bursts[u][i]["first"]) for u in stall.fleet for i, j in stall.pairs[u]]
    silent = min(_secs(resume) - _line_end(before) for resume, before in stall.resumes)
    if silent < median(firsts) - offset - AGREE_S:
        return None
    # the fleet's traffic before the stall needed a running server: a log that begins after the fleet's
    # (by this offset) cannot tell a resume from its own start (a fleet's first connections after a silence)
    if _secs(server.sort("ts").row(0, named=True)) - offset > median(spans[u][0] for u in stall.fleet) + AGREE_S:
        return None
    # the fleet's work after the server's exit needed a running server: the closes of a fleet leaving read as
    # a resume (slow-nocfg-12: 48 closes 4.7 s after the KEYS ended, the stall itself too short to be seen)
    # put that exit before the fleet's last work, even by the least offset the bounds allow
    exit_s = _exit(server, max(_secs(r) for r, _ in stall.resumes))
    if exit_s is not None and exit_s - min(low, offset) < median(spans[u][1] for u in stall.fleet):
        return None
    return offset, tuple(edges), len(stall.fleet)


def _exit(server: pl.DataFrame, after: float) -> float | None:
    """When a redis-server log says the server went away after `after` (its first shutdown line on its own
    clock: the signal handler's line carries epoch seconds), or None."""
    rows = [r for r in server.filter((pl.col("kind") == DOWN) & pl.col("ts").is_not_null()).sort(["ts", "line"])
            .iter_rows(named=True) if not _signal_handler(r) and _secs(r) > after]
    return _secs(rows[0]) if rows else None


def stalled_servers(events: pl.DataFrame, found: list[ClockOffset], zoneless: dict[str, bool], known: set[str],
                    agreed: dict[str, str]) -> list[ClockOffset]:
    """Every redis-server log no outage cycle placed, against the fleet's losses around a stall of it
    (`server_against_stall`), on the clients' clocks as corrected by the offsets `found` so far; then
    each client host against it (`_hosts_against_stall`). A whole zone between the server and a
    zone-less fleet is the fleet's (redis-server logs are UTC by convention, as in `server_against_fleet`)."""
    servers = events.filter(pl.col("source") == "redis_server")
    if servers.height == 0:
        return []
    bursts, spans = None, {}
    out = []
    for (path,), part in sorted(servers.partition_by("path", as_dict=True).items()):
        if path in known or server_cycles(part):
            continue
        if bursts is None:
            events = apply_offsets(events, found)
            bursts = _loss_bursts(events)
            spans = _host_spans(events)
        stall = _stall(part, bursts)
        found = server_against_stall(part, bursts, spans, stall) if stall else None
        if found is None:
            continue
        offset, edges, hosts = found
        fleet_zone, rest = split_zone(-offset, all(zoneless.get(u[0], False) for u in stall.fleet))
        fleet_shift = (fleet_zone + (rest if abs(rest) > AGREE_S else 0.0)) if fleet_zone else 0.0
        server_shift = 0.0 if fleet_zone else offset
        if server_shift:
            zone, skew = split_zone(server_shift, zoneless.get(path, False))
            out.append(ClockOffset(path, None, "redis_server", server_shift, zone, skew, "fleet", edges))
        elif not fleet_shift:
            agreed[path] = f"agrees with {hosts} client hosts on a stall (its resume between their losses and activity)"
        out += _hosts_against_stall(stall, path, server_shift, fleet_shift, zoneless, agreed)
    return out


def _host_spans(events: pl.DataFrame) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Per (path, host, source): the first line of that file and host, and the time of its last line that
    signals no trouble, whatever their source (`app.activity` rows at the start of their second, the earliest
    their lines can be; without one, its last line's). Whatever the source: a pod that logs no client
    configuration names redis-py only in its failures, so its redis-py lines begin at the stall, while its
    work began long before (prp-st17-nocfg-12: the server's start-up read as the pause's resume, 36.5 s)."""
    timed = events.filter(pl.col("ts").is_not_null() & pl.col("host").is_not_null())
    work = (timed.group_by(["path", "host"])
            .agg(first=pl.col("ts").min(), last=pl.col("ts").filter(~is_problem()).max(), end=pl.col("ts").max()))
    spans = timed.select("path", "host", "source").unique().join(work, on=["path", "host"])
    return {(r["path"], r["host"], r["source"]): (r["first"].timestamp(), (r["last"] or r["end"]).timestamp())
            for r in spans.iter_rows(named=True)}


def _hosts_against_stall(stall: Stall, path: str, server_shift: float, fleet_shift: float,
                         zoneless: dict[str, bool], agreed: dict[str, str]) -> list[ClockOffset]:
    """Client hosts against a stalled server: the fleet moved by `fleet_shift` (its zone), and a host
    whose last losses come more than `HOST_MARGIN_S` off the fleet's, and after the server answered
    again (or whose next activity comes before it), by that difference, kept within its own bounds
    (last loss - resume <= its offset <= next activity - resume)."""
    fleet_value = median(stall.raw[u] for u in stall.fleet)
    typical = min(stall.fleet, key=lambda u: (abs(stall.raw[u] - fleet_value), u))
    out = []
    for unit in sorted(stall.raw):
        own_edges = _stall_edges(stall, unit, server_shift)
        # the edges read resume - loss; the host's bounds read the other way round
        lo = -median(e.offset_s for e in own_edges if e.name == STALL_UPPER)
        highs = [-e.offset_s for e in own_edges if e.name == STALL_LOWER]
        hi = median(highs) if highs else float("inf")
        proven = lo > AGREE_S + fleet_shift or hi < -AGREE_S + fleet_shift
        own = abs(stall.raw[unit] - fleet_value) > HOST_MARGIN_S and proven
        offset = min(max(stall.raw[unit] - fleet_value + fleet_shift, lo), hi) if own else fleet_shift
        if offset == 0.0:
            if FLEET_ONLY in agreed.get(unit[0], FLEET_ONLY):  # the server's stall is the stronger evidence
                agreed[unit[0]] = f"agrees with {path} on a stall"
            continue
        edges = own_edges if own else []
        if own:
            last = stall.bursts[typical][stall.pairs[typical][0][0]]["last"]
            resume = stall.resumes[stall.pairs[typical][0][1]][0]
            edges.append(Edge("the fleet's " + STALL_UPPER, _secs(resume) - server_shift - _secs(last),
                              (_where(resume), _where(last))))
        else:
            edges = [e for e in own_edges if e.name == STALL_UPPER]
        zone, skew = split_zone(offset, zoneless.get(unit[0], False))
        out.append(ClockOffset(unit[0], unit[1], unit[2], offset, zone, skew, path, tuple(edges)))
    return out


def _pod_first_lines(events: pl.DataFrame) -> pl.DataFrame:
    """Per client pod file (path, host): its first line (time, line, kind), joined to the latest
    Kubernetes `Started` event of the pod of that name (its time, the events file and line)."""
    starts = (events.filter((pl.col("source") == K8S_SOURCE) & (pl.col("kind") == POD_STARTED)
                            & pl.col("ts").is_not_null())
              .with_columns(pod=pl.col("attrs").str.json_path_match("$.object_name"),
                            object_kind=pl.col("attrs").str.json_path_match("$.object_kind"))
              .filter(pl.col("pod").is_not_null() & pl.col("object_kind").fill_null("Pod").eq("Pod"))
              .sort(["ts", "path", "line"]).group_by("pod").last()
              .select(pl.col("pod").alias("host"), pl.col("ts").alias("started"),
                      pl.col("path").alias("k8s_path"), pl.col("line").alias("k8s_line")))
    if starts.height == 0:
        return starts
    firsts = (_pod_rows(events).sort(["path", "line"]).group_by(["path", "host"]).first()
              .select("path", "host", "source", "ts", "line", "kind"))
    return firsts.join(starts, on="host").sort("path", "host")


def pod_start_offsets(events: pl.DataFrame, zoneless: dict[str, bool], known: set[str],
                      agreed: dict[str, str]) -> list[ClockOffset]:
    """Pod clocks from their restarts: a pod's log begins when its container starts, right after the
    Kubernetes `Started` event for that pod (a start-up lag, and the event's whole seconds). The pods
    whose logs begin with the same kind of line (a process start, not a log cut by `--tail`) and whose
    first line comes about as long after their `Started` as the others' (`_fleet`, `FLEET_MIN` pods or
    more) set that lag; a pod more than `HOST_MARGIN_S` off it has its own offset. Pods already placed by
    outage edges (`known` paths) keep those."""
    rows = _pod_first_lines(events)
    if rows.height < FLEET_MIN:
        return []
    start_kind = rows.get_column("kind").mode().sort().first()
    rows = rows.filter(pl.col("kind") == start_kind).to_dicts()
    lags = {(r["path"], r["host"]): _secs(r) - r["started"].timestamp() for r in rows}
    fleet = _fleet(lags)
    if len(fleet) < FLEET_MIN:
        return []
    lag = median(lags[u] for u in fleet)
    typical = min(rows, key=lambda r: (abs(lags[(r["path"], r["host"])] - lag), r["path"]))

    def edge(name: str, r: dict) -> Edge:
        return Edge(name, lags[(r["path"], r["host"])], ((r["k8s_path"], int(r["k8s_line"])), _where(r)))

    out = []
    for r in rows:
        unit = (r["path"], r["host"])
        if r["path"] in known:
            continue
        if abs(lags[unit] - lag) <= HOST_MARGIN_S:
            agreed.setdefault(r["path"], f"agrees with {r['k8s_path']} on its pod start")
            continue
        offset = lags[unit] - lag
        zone, skew = split_zone(offset, zoneless.get(r["path"], False))
        edges = (edge("Started - first line", r), edge("the started pods' start-up lag", typical))
        out.append(ClockOffset(r["path"], r["host"], r["source"], offset, zone, skew, r["k8s_path"], edges))
    agreed.setdefault(rows[0]["k8s_path"], f"pod starts compared with {len(rows)} pod logs' first lines")
    return out


def _client_spans(events: pl.DataFrame) -> pl.DataFrame:
    """Per client (path, host): its first and last times as read, and its first line."""
    return (_pod_rows(events).sort(["path", "host", "ts", "line"])
            .group_by(["path", "host"], maintain_order=True)
            .agg(first=pl.col("ts").first(), last=pl.col("ts").last(), line=pl.col("line").first()))


def peer_zones(events: pl.DataFrame, found: list[ClockOffset], zoneless: dict[str, bool], known: set[str],
               agreed: dict[str, str]) -> list[ClockOffset]:
    """Zone-less client hosts no edge placed (pods that rode out the outage without a loss), written in the
    zone their peers were found in: the zone of most of the compared hosts of files of the same source (a
    zone the edges showed), when the host's lines as read lie wholly outside the placed hosts' corrected
    span and moved by that zone fall inside it. A host whose lines already overlap its peers' keeps its times."""
    placed = {(o.path, o.host): o for o in found if o.host is not None and o.source not in NOT_PODS}
    if not placed:
        return []
    sources = file_sources(events)
    spans = _client_spans(events).with_columns(source=pl.col("path").replace_strict(sources, default=None))
    out = []
    for _, part in sorted(spans.partition_by("source", as_dict=True).items()):
        rows = part.to_dicts()
        mine = [r | {"offset": placed[(r["path"], r["host"])]} for r in rows if (r["path"], r["host"]) in placed]
        zones = [r["offset"].zone_s for r in mine] + [0.0 for r in rows if r["path"] in agreed and r["path"] not in known]
        zone = max(sorted(set(zones)), key=zones.count) if mine else 0.0
        if not zone or 2 * zones.count(zone) <= len(zones):
            continue
        lo = min(r["first"].timestamp() - r["offset"].offset_s for r in mine)
        hi = max(r["last"].timestamp() - r["offset"].offset_s for r in mine)
        first_peer = min(mine, key=lambda r: r["first"].timestamp() - r["offset"].offset_s)
        for r in rows:
            if (r["path"], r["host"]) in placed or r["path"] in known or r["path"] in agreed \
                    or not zoneless.get(r["path"], False):
                continue
            first, last = r["first"].timestamp(), r["last"].timestamp()
            outside = first > hi + MATCH_S or last < lo - MATCH_S
            inside = first - zone <= hi + MATCH_S and last - zone >= lo - MATCH_S
            if outside and inside:
                edge = Edge("first line vs its peers' (as corrected)", first - lo,
                            ((first_peer["path"], int(first_peer["line"])), (r["path"], int(r["line"]))))
                peer = first_peer["offset"]
                out.append(ClockOffset(r["path"], r["host"], peer.source, zone, zone, 0.0, peer.reference, (edge,)))
    return out


def k8s_against_pod_starts(events: pl.DataFrame, found: list[ClockOffset], agreed: dict[str, str]) -> list[ClockOffset]:
    """A Kubernetes events file whose clock is ahead, from the pods it started: a container logs only
    after it started, so (Started - first line) is at most the events' offset (their times are whole
    seconds, cut down). When the started pods whose logs begin with the same kind of line agree on it
    (`_fleet`: `FLEET_MIN` or more, and most of them) and their median is beyond `AGREE_S`, the events
    are moved by that median: the least offset the evidence proves (a start-up lag would make it larger,
    never smaller). An events clock behind looks like a slow start-up and is not moved. The pods' times
    are read as corrected by the offsets `found` so far."""
    if _pod_first_lines(events).height < FLEET_MIN:
        return []
    known = {o.path for o in found}
    rows = _pod_first_lines(apply_offsets(events, found))
    start_kind = rows.get_column("kind").mode().sort().first()
    out = []
    for (k8s_path,), part in sorted(rows.filter(pl.col("kind") == start_kind).partition_by("k8s_path", as_dict=True).items()):
        if k8s_path in known:
            continue
        pods = part.to_dicts()
        ahead = {(r["path"], r["host"]): r["started"].timestamp() - _secs(r) for r in pods}
        fleet = _fleet(ahead)
        if len(fleet) < FLEET_MIN or 2 * len(fleet) <= len(pods):
            continue
        offset = median(ahead[u] for u in fleet)
        if offset <= AGREE_S:
            continue
        edges = tuple(Edge(STARTED_BEFORE, ahead[(r["path"], r["host"])], ((k8s_path, int(r["k8s_line"])), _where(r)))
                      for r in pods if (r["path"], r["host"]) in fleet)
        out.append(ClockOffset(k8s_path, None, K8S_SOURCE, offset, 0.0, offset, "fleet", edges))
        agreed.pop(k8s_path, None)
    return out


def _edges(n: int) -> str:
    return f"{n} shared edge{'' if n == 1 else 's'}"


def apply_offsets(events: pl.DataFrame, offsets: list[ClockOffset]) -> pl.DataFrame:
    """Subtract each offset from its file's (or host's) times, then sort and number the table again.

    A host of a file with no offset of its own gets the file's zone when every corrected host of that
    file agrees on it; skew moves only the hosts that showed it."""
    if not offsets:
        return events
    rows = []
    by_path: dict[str, list[ClockOffset]] = {}
    for o in offsets:
        by_path.setdefault(o.path, []).append(o)
    for path, group in by_path.items():
        zones = {o.zone_s for o in group if o.host is not None}
        whole = [o for o in group if o.host is None]
        default = whole[0].offset_s if whole else (zones.pop() if len(zones) == 1 else 0.0)
        rows.append({"path": path, "host": None, "shift": default})
        rows.extend({"path": path, "host": o.host, "shift": o.offset_s} for o in group if o.host is not None)
    shifts = pl.DataFrame(rows, schema={"path": pl.String, "host": pl.String, "shift": pl.Float64})
    by_host = shifts.filter(pl.col("host").is_not_null())
    by_file = shifts.filter(pl.col("host").is_null()).drop("host").rename({"shift": "file_shift"})
    shifted = (events.join(by_host, on=["path", "host"], how="left", nulls_equal=False)
               .join(by_file, on="path", how="left")
               .with_columns(pl.coalesce("shift", "file_shift", pl.lit(0.0)).alias("shift")))
    shifted = shifted.with_columns(
        ts=pl.col("ts") - pl.duration(microseconds=(pl.col("shift") * 1_000_000).round(0).cast(pl.Int64)))
    spans = (pl.col("shift") != 0) & pl.col("attrs").str.contains_any([f'"{k}"' for k in SPAN_ATTRS]).fill_null(False)
    if shifted.filter(spans).height:
        keep, move = shifted.filter(~spans), shifted.filter(spans)
        attrs = [_shift_span(a, s) for a, s in zip(move.get_column("attrs"), move.get_column("shift"), strict=True)]
        shifted = pl.concat([keep, move.with_columns(pl.Series("attrs", attrs, dtype=pl.String))])
    return (shifted.sort(["ts", "path", "line"], nulls_last=True, maintain_order=True)
            .drop("event_id").with_row_index("event_id").with_columns(pl.col("event_id").cast(pl.UInt32))
            .select(EVENT_COLUMNS))


def _shift_span(attrs: str, shift: float) -> str:
    """The attrs JSON with its `SPAN_ATTRS` times moved back by `shift` seconds, like the row's time."""
    doc = json.loads(attrs)
    for key in SPAN_ATTRS:
        if isinstance(doc.get(key), str):
            try:
                at = datetime.fromisoformat(doc[key].replace("Z", "+00:00"))
            except ValueError:
                continue
            if at.tzinfo is not None:
                doc[key] = (at - timedelta(seconds=shift)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(doc, sort_keys=True)


def _signed(seconds: float) -> str:
    sign = "+" if seconds >= 0 else "-"
    m = int(round(abs(seconds) / 60))
    return f"{sign}{m // 60:02d}:{m % 60:02d}"


def file_sources(events: pl.DataFrame) -> dict[str, str]:
    """Each file's source: the one with the most rows, ties to the first name (a pod log with as many
    redis-py lines as app lines gets one answer every run; `mode()` broke such ties at random)."""
    counts = events.group_by("path", "source").len().sort(["path", "len", "source"], descending=[False, True, False])
    return {r["path"]: r["source"] for r in counts.group_by("path", maintain_order=True).first().iter_rows(named=True)}


def source_clocks(inputs: list[InputFile], events: pl.DataFrame, offsets: list[ClockOffset],
                  agreed: dict[str, str], opts: IngestOptions, applied: bool) -> tuple[SourceClock, ...]:
    """Every read source with the zone it was read in and why (carried, given, inferred, default), and
    the offset found for it (or for a host of it)."""
    sources = file_sources(events)
    by_path: dict[str, list[ClockOffset]] = {}
    for o in offsets:
        by_path.setdefault(o.path, []).append(o)
    out = []
    for info in inputs:
        if info.skipped or info.path not in sources:
            continue
        zone, how = opts.zone_for(info.path)
        source = sources[info.path]
        if info.zoned:
            zone, how, why = "in the timestamps", "carried", "every time carried its zone or offset"
        elif info.zoned is None:
            why = f"times as the {info.parser} format states them (epoch or offset); zone-less ones in {zone}"
        elif source == "redis_server" and how == "default":
            why = "redis-server logs without a zone, in UTC by convention"
        else:
            why = "--tz" if how == "given" else "no zone in the times and no --tz"
        found = by_path.get(info.path, [])
        if not found:
            why += f"; {agreed[info.path]}" if info.path in agreed else "; no shared edge with another clock, kept as read"
            out.append(SourceClock(info.path, None, source, zone, how, 0.0, False, why))
            continue
        for o in found:
            read_in = zone
            if o.zone_s:
                zone_txt = f"UTC{_signed(o.zone_s)}" if read_in == "UTC" else f"{read_in} {_signed(o.zone_s)}"
                how_o = "inferred"
            else:
                zone_txt, how_o = read_in, how
            parts = []
            if o.zone_s:
                parts.append(f"written {_signed(o.zone_s)} from how it was read ({read_in})")
            if o.skew_s:
                parts.append(f"clock {abs(o.skew_s):.1f} s {'ahead' if o.skew_s > 0 else 'behind'}")
            ref = "the other client hosts" if o.reference == "fleet" else o.reference
            note = f"{'; '.join(parts)}: {_edges(len(o.edges))} with {ref}"
            note += "; corrected" if applied else "; not corrected (--no-align)"
            out.append(SourceClock(info.path, o.host, o.source, zone_txt, how_o, round(o.offset_s, 3), applied, note))
    return tuple(out)


def align(events: pl.DataFrame, inputs: list[InputFile], opts: IngestOptions, apply: bool = True) -> Alignment:
    """The clocks of this incident: offsets estimated, subtracted from the events (when `apply`), listed."""
    zoneless = {i.path: i.zoned is False for i in inputs}
    agreed: dict[str, str] = {}
    offsets = estimate(events, zoneless, agreed)
    corrected = apply_offsets(events, offsets) if apply else events
    return Alignment(corrected, offsets, source_clocks(inputs, events, offsets, agreed, opts, apply), apply)
