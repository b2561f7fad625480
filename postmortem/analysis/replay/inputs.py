"""What the replay needs, measured from the incident's own events table: the outage, the fleet, the
request demand, the retry behaviour the logs show, the server's limit, and the observed outcome (attempts
per second as the logs count them, rejections, peak connections, time to recover)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import polars as pl

from postmortem.analysis.correlate import outage_shutdown
from postmortem.analysis.population import connected_before
from postmortem.analysis.replay.median import median
from postmortem.analysis.replay.policy import Policy, from_backoff
from postmortem.import_gc import late_import
from postmortem.kinds import KINDS
from postmortem.messages_apart import select_on_text
from postmortem.schema import CLIENT_SOURCES, event_weight

HUNG = "first and last client timeout (the server stopped answering)"
FAILURE_KINDS = ("redis.connect_failed", "redis.max_clients")  # one row per failed call
HORIZON_MIN, HORIZON_MAX = 3.0, 60.0  # seconds after the server is back that are compared
_RETRY_IN = r"(?i)retrying in ([0-9]*\.?[0-9]+)\s*s"
_ATTEMPT = r"(?i)\(attempt (\d+)\)"
_GAVE_UP = r"(?i)after (\d+) attempts"


def _retry_words() -> dict[str, pl.Expr]:
    """What a failure line says of the app's retries, read once per line: a kept-apart timeout's text is read back
    (`messages_apart`) a slice at a time, not held with every failure."""
    msg = pl.col("message")
    return {"_delay": msg.str.extract(_RETRY_IN, 1).cast(pl.Float64, strict=False),
            "_attempt": msg.str.extract(_ATTEMPT, 1).cast(pl.Int64, strict=False),
            "_gave_up": msg.str.extract(_GAVE_UP, 1).cast(pl.Int64, strict=False),
            "_ended": msg.str.contains(_GAVE_UP).fill_null(False)}


@dataclass(frozen=True)
class Observed:
    """The incident's outcome, counted the way the replay predicts it."""

    peak_attempts: float  # attempts per second, the most in one second from the outage on
    peak_connections: float | None  # connected_clients after the server is back (None: no metric)
    rejections: float | None  # connections refused at maxclients (None: nothing counts them)
    recovery_s: float | None  # server back → attempts back at the quiet level (None: not within the horizon)
    per_second: tuple[tuple[datetime, float], ...]  # (second, attempts) over the compared span


@dataclass(frozen=True)
class Arrivals:
    """When each pod's requests start, measured from the request starts its failure lines show."""

    interval: float | None  # seconds between a pod's requests when they come on a fixed tick (None: random)
    phases: tuple[float, ...]  # per pod, seconds after `down` modulo `interval` of its ticks
    starts: tuple[float, ...]  # per pod, seconds after `down` when it started (0: it ran before the outage)
    call_s: float = 0.0  # a failed call's own duration: each app retry comes this much after the logged delay
    call_spread_s: float = 0.0  # its spread from call to call


@dataclass(frozen=True)
class Incident:
    """The replay's inputs, each measured from the events."""

    down: datetime  # server gone (shutdown line, else the first client failure)
    up: datetime  # server back (ready line, else the last client failure)
    horizon_s: float  # seconds after `up` that are compared
    pods: int
    demand_per_pod: float  # requests per pod per second that needed Redis (chains started in the outage)
    arrivals: Arrivals  # how requests arrive: on a fixed tick per pod (with its phase) or at random
    concurrency: float | None  # requests a pod runs at once at most (Little's law in the outage; None: unseen)
    maxclients: float | None
    policy: Policy  # the observed policy
    counts_accepts: bool  # the server log's `Accepted` lines are among the counted attempts
    counts_failures: bool  # client failure rows are among the counted attempts
    quiet: float  # attempts per second that count as calm
    observed: Observed
    notes: tuple[str, ...]  # how each input was measured
    hang: bool = False  # the server stopped answering (tries time out) rather than refusing connections
    timeout_s: float = 0.0  # the client's command timeout, how long a try waits on a hung server
    held_before: float = 0.0  # connections each pod held before the outage (a hung server keeps them)

    @property
    def outage_s(self) -> float:
        return max(0.0, (self.up - self.down).total_seconds())


def _timed(events: pl.DataFrame, *where: pl.Expr) -> pl.DataFrame:
    """The timed rows that also meet `where`, in one filter (a filter copies every column of what it keeps)."""
    return events.filter(pl.col("ts").is_not_null(), *where)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def seconds_after(ts: pl.Series, down: datetime):
    """`(t - down).total_seconds()` of every time, as a numpy array, without a Python datetime per row:
    whole microseconds from `down` divided by 10**6, the same correctly rounded division Python does
    (`seconds_after_plain` is the per-row form; microsecond times only, else that form)."""
    if ts.dtype != pl.Datetime("us", "UTC") or down.tzinfo is None or ts.null_count():
        return seconds_after_plain(ts, down)
    offset = (down - _EPOCH) // _US
    return (ts.dt.epoch("us").to_numpy() - offset) / 1e6


def seconds_after_plain(ts: pl.Series, down: datetime):
    """The per-row form of `seconds_after`."""
    import numpy as np  # late: numpy loads only when there is an outage to replay

    return np.array([(t - down).total_seconds() for t in ts.to_list()])


HANG_KINDS = ("redis.timeout",)  # a server that stops answering: calls time out instead of being refused


def _outage(events: pl.DataFrame) -> tuple[datetime, datetime, str] | None:
    """The first outage: client unreachable failures, bounded by the server's shutdown and ready lines;
    without any, client timeouts on more than one pod (a hung server, `how` says so)."""
    clients = _timed(events.select("ts", "source", "kind", "host"), pl.col("source").is_in(CLIENT_SOURCES))
    fails = clients.filter(pl.col("kind").is_in(KINDS.with_flag("unreachable"))).sort("ts")
    if fails.height == 0:
        hung = clients.filter(pl.col("kind").is_in(HANG_KINDS)).sort("ts")
        if hung.get_column("host").n_unique() < 2:
            return None
        ts = hung.get_column("ts")
        gaps = ts.diff().dt.total_seconds().fill_null(0.0).to_list()
        cut = next((i for i, g in enumerate(gaps) if g > 15), hung.height)
        return ts.min(), ts[cut - 1], HUNG
    first = fails.get_column("ts").min()
    gaps = fails.get_column("ts").diff().dt.total_seconds().fill_null(0.0)
    cut = next((i for i, g in enumerate(gaps.to_list()) if g > 15), fails.height)
    last = fails.get_column("ts")[cut - 1]
    server = _timed(events.select("ts", "source", "kind"), pl.col("source") == "redis_server").sort("ts")
    up = server.filter((pl.col("kind") == "redis.server.ready") & (pl.col("ts") >= first)
                       & (pl.col("ts") <= last + timedelta(minutes=2)))
    down = outage_shutdown(server, first, up.get_column("ts").min() if up.height else last)
    t_down = min(first, down.get_column("ts").max()) if down.height else first
    t_up = up.get_column("ts").min() if up.height else last
    how = ("server shutdown and ready lines" if down.height and up.height
           else "first and last client failure")
    return t_down, max(t_up, t_down), how


def _timeout(events: pl.DataFrame) -> tuple[float, str]:
    """The command timeout the clients logged: redis-py `socket_timeout` (s), StackExchange.Redis
    `syncTimeout` (ms); else StackExchange.Redis's default 5 s, said so."""
    values = []
    for c in _configs(events):
        if _float(c.get("socket_timeout")):
            values.append(_float(c.get("socket_timeout")))
        elif _float(c.get("syncTimeout")):
            values.append(_float(c.get("syncTimeout")) / 1000)
    if values:
        value = float(median(values))
        return value, f"{value:g} s command timeout the clients logged"
    return 5.0, "5 s command timeout (not logged: StackExchange.Redis's default syncTimeout)"


def _float(value) -> float | None:
    try:
        return float(value) if value is not None and float(value) > 0 else None
    except (TypeError, ValueError):
        return None


def _configs(events: pl.DataFrame) -> list[dict]:
    cfg = events.filter((pl.col("kind") == "redis.config") & pl.col("source").is_in(CLIENT_SOURCES))
    out = []
    for raw in cfg.get_column("attrs").drop_nulls().to_list():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def _int(value) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(float(text)) if text.replace(".", "", 1).isdigit() else None


def client_policy(events: pl.DataFrame, label: str) -> tuple[Policy, str]:
    """The most common logged client configuration (retries, backoff, pool cap) as a Policy."""
    configs = _configs(events)
    if not configs:
        return Policy(label), "no client configuration logged: no client retries, unbounded pool assumed"
    keys = Counter((c.get("backoff") or "", c.get("backoff_args") or "", c.get("retries"), c.get("max_connections"),
                    c.get("pool") or "", c.get("timeout")) for c in configs)
    (backoff, args, retries, cap, pool, timeout), n = keys.most_common(1)[0]
    policy = Policy(label, retries=_int(retries) or 0, pool_cap=_int(cap),
                    pool_timeout=float(_int(timeout) or 0) or 2.0)
    if backoff:
        policy = from_backoff(policy, backoff, args)
    if policy.pool_cap and "blocking" not in pool.lower():
        policy = replace(policy, pool_timeout=0.0)  # a plain capped pool raises at once
    aborting = sum(1 for c in configs if str(c.get("abortConnect")).lower() == "true")
    return policy, f"client configuration logged by {n} of {len(configs)} clients" + (
        f" (abortConnect=true in {aborting}: not modelled, the replay keeps one client per pod)" if aborting else "")


def _app_retry(fails: pl.DataFrame) -> tuple[float, int, str]:
    """The app's own retry loop, from its failure lines: delay (`retrying in 0.25s`), calls per request."""
    msgs = fails.select(delay=pl.col("_delay"), attempt=pl.col("_attempt"), gave_up=pl.col("_gave_up"))
    delay = msgs.get_column("delay").drop_nulls()
    if delay.len() == 0:
        return 0.0, 1, "no app-level retry in the failure lines (each request fails once)"
    calls = max(int(msgs.get_column("gave_up").max() or 0), int(msgs.get_column("attempt").max() or 0) + 1, 2)
    return float(delay.median()), calls, (f"app retries every {float(delay.median()):g} s, up to {calls} calls "
                                          f"per request ({delay.len()} `retrying in` lines)")


def _per_second(rows: pl.DataFrame) -> pl.DataFrame:
    return (rows.with_columns(second=pl.col("ts").dt.truncate("1s"), _w=event_weight())
            .group_by("second").agg(attempts=pl.col("_w").sum()).sort("second"))


def by_host(rows: pl.DataFrame, hosts: list[str]) -> dict[str, pl.DataFrame]:
    """Each host's rows in their table order, as `rows.filter(pl.col("host") == host)` gives them, from one
    partition instead of a scan of the whole table per host (`by_host_plain`)."""
    parts = rows.partition_by("host", as_dict=True, maintain_order=True)
    return {host: parts.get((host,), rows.clear()) for host in hosts}


def by_host_plain(rows: pl.DataFrame, hosts: list[str]) -> dict[str, pl.DataFrame]:
    """The per-host filter form of `by_host`."""
    return {host: rows.filter(pl.col("host") == host) for host in hosts}


def _rate_in_outage(rows: pl.DataFrame, down: datetime, up: datetime, pods: int) -> float:
    """Rows per pod per second in the outage: the busiest 1 s window inside it, else the mean over a
    shorter outage."""
    if rows.height == 0 or pods == 0:
        return 0.0
    span = (up - down).total_seconds()
    if span < 1.0:
        return rows.height / pods / max(span, 0.5)
    import numpy as np  # late: numpy loads only when there is an outage to replay (start-up)

    ts = np.sort(seconds_after(rows.get_column("ts"), down))
    starts = ts[ts <= span - 1.0]
    counts = np.searchsorted(ts, starts + 1.0, side="left") - np.arange(starts.size)
    return float(counts.max() if counts.size else 0) / pods


def _in_flight(fails: pl.DataFrame, down: datetime, up: datetime, pods: int, cycle: float, lifetime: float) -> float:
    """Requests per pod in the app's retry loop when the server is back: each logs one failure per `cycle` (the
    app's delay, its call's backoff sleeps and the call itself), so the failures of the last cycle before `up` are
    the requests in flight then, less those that were a request's last (`failed after N attempts`: it ended, and a
    busy pod's worker starts the next one at once). Not the mean over a longer window: the loops pile up through an
    outage shorter than a request's retries (the outage's last second said 6.1 a pod where storm-24's 8 workers
    ran; the last cycle's 7.2), and a busy pod's last lines are ends as well as requests (storm-48: 8.0 for 6)."""
    span = (up - down).total_seconds()
    # the loops are steady once the outage's first requests could have ended (`lifetime` after `down`): from then
    # on a longer window, up to 1 s, counts the same requests with more lines
    window = min(span, max(cycle, min(1.0, span - lifetime)))
    if fails.height == 0 or pods == 0 or window <= 0:
        return 0.0
    ts = seconds_after(fails.get_column("ts"), down)
    ended = fails.get_column("_ended").to_numpy()
    return float(((ts > span - window) & (ts <= span) & ~ended).sum()) / pods * cycle / window


TICK_SPREAD = 0.15  # a pod's gaps between request starts within this share of their median: a fixed tick


def _call_duration(retries: pl.DataFrame, hosts: list[str], phases: tuple[float, ...], tick: float,
                   down: datetime) -> tuple[float, float, str]:
    """How long a failed call itself takes, from how far the n-th call of a request lags its pod's tick:
    (n - 1) x (delay + call) after the start, so the lag grows by one call duration per retry."""
    import numpy as np  # late: numpy loads only when there is an outage to replay

    lags, steps = [], []
    per_host = by_host(retries.select("host", "ts", "attempt"), hosts)
    for host, phase in zip(hosts, phases, strict=True):
        mine = per_host[host]
        ts = seconds_after(mine.get_column("ts"), down)
        lag = (ts - phase + tick / 2) % tick - tick / 2
        lags.append(lag)
        steps.append(mine.get_column("attempt").to_numpy() - 1)
    lag, step = (np.concatenate(lags), np.concatenate(steps)) if lags else (np.zeros(0), np.zeros(0))
    lag = lag - (median(lag[step == 0]) if (step == 0).any() else 0.0)
    later = step > 0
    if later.sum() < 10:
        return 0.0, 0.0, ""
    call = max(0.0, float(lag[later].sum() / step[later].sum()))
    spread = float(np.sqrt(np.mean((lag[later] - step[later] * call) ** 2 / step[later])))
    return call, spread, (f"; a failed call takes {call * 1000:.1f} ms (± {spread * 1000:.1f} ms) beyond its "
                          f"delays (each retry of a request lags its pod's tick by that much more)")


def _arrivals(starts: pl.DataFrame, client: pl.DataFrame, hosts: list[str], down: datetime,
              retries: pl.DataFrame | None = None) -> tuple[Arrivals, str]:
    """Fixed-tick or random request arrivals per pod, and the pods that started during the incident (their
    first line is a client configuration line, i.e. the process started, after the outage began)."""
    import numpy as np  # late: numpy loads only when there is an outage to replay

    begun = []
    clients, started = by_host(client.select("host", "ts", "kind"), hosts), by_host(starts.select("host", "ts"), hosts)
    for host in hosts:
        mine = clients[host].sort("ts")
        first = mine.row(0, named=True) if mine.height else None
        late = first is not None and first["kind"] == "redis.config" and first["ts"] > down
        begun.append((first["ts"] - down).total_seconds() if late else 0.0)
    late_note = (f"; {sum(1 for b in begun if b > 0)} pods started during the incident (their client configuration "
                 f"line), the first {min(b for b in begun if b > 0):.1f} s after the outage began"
                 if any(b > 0 for b in begun) else "")
    gaps, offsets = [], []
    for host in hosts:
        ts = np.sort(seconds_after(started[host].get_column("ts"), down))
        gaps.append(np.diff(ts))
        offsets.append(ts)
    every = np.concatenate(gaps) if gaps else np.zeros(0)
    if every.size >= 4 * max(len(hosts), 1) and median(every) > 0:
        tick = float(median(every))
        spread = float(median(np.abs(every - tick))) / tick
        if spread <= TICK_SPREAD:
            angle = [np.angle(np.exp(2j * np.pi * ts / tick).mean()) if ts.size else 0.0 for ts in offsets]
            phases = tuple(float((a / (2 * np.pi)) % 1.0 * tick) for a in angle)
            call, spread_s, call_note = (_call_duration(retries, hosts, phases, tick, down)
                                         if retries is not None else (0.0, 0.0, ""))
            return (Arrivals(tick, phases, tuple(begun), call, spread_s),
                    f"requests start on a fixed tick every {tick:g} s per pod (gaps within {spread:.0%} of it), "
                    f"each pod at its own phase{call_note}{late_note}")
    return (Arrivals(None, (0.0,) * len(hosts), tuple(begun)),
            f"requests start at random (Poisson) times{late_note}")


def _nested(down: datetime, up: datetime, held: float, policy: Policy) -> float:
    """Requests per pod still in their first call when the server is back, which no failure line shows yet:
    a call that began on a connection the pool held before the outage (`held` per pod) fails its command, and each
    of its command retries runs a whole connect with its own retries inside (redis-py `Retry` nests: client.py
    `_execute_command` → connection.py `connect`), so it sleeps (1 + retries) x a failed call's backoff."""
    if (1 + policy.retries) * policy.failed_call_s() <= (up - down).total_seconds():
        return 0.0
    return held


def _metric(events: pl.DataFrame, name: str) -> pl.DataFrame:
    return _timed(events, (pl.col("metric") == name) & pl.col("value").is_not_null()).sort("ts")


def _rejections(events: pl.DataFrame, down: datetime, end: datetime, retries: int) -> tuple[float | None, str]:
    rej = _metric(events, "rejected_connections").filter(pl.col("ts") <= end)
    if rej.height:
        prev = pl.col("value").shift(1)
        inc = rej.with_columns(inc=pl.when(prev.is_null()).then(0.0).when(pl.col("value") >= prev)
                               .then(pl.col("value") - prev).otherwise(pl.col("value")))
        return float(inc.filter(pl.col("ts") >= down).get_column("inc").sum()), "rejected_connections counter"
    cl = _timed(events, (pl.col("kind") == "redis.max_clients") & (pl.col("ts") >= down) & (pl.col("ts") <= end))
    if cl.height:
        return float(cl.height * (retries + 1)), f"client max_clients errors x {retries + 1} tries per call"
    if _timed(events.select("ts", "source"), pl.col("source").is_in(CLIENT_SOURCES)).height:
        return 0.0, "no client logged a max_clients error"
    return None, "nothing counts rejections"


def _maxclients(events: pl.DataFrame) -> float | None:
    m = _metric(events, "maxclients")
    if m.height:
        return float(m.get_column("value").max())
    conf = events.filter((pl.col("kind") == "redis.config") & (pl.col("source") == "redis_server"))
    for raw in conf.get_column("attrs").drop_nulls().to_list():
        value = _int(json.loads(raw).get("maxclients")) if raw.startswith("{") else None
        if value:
            return float(value)
    return None


def recovery(per_second: list[tuple[datetime, float]], up: datetime, quiet: float, end: datetime) -> float | None:
    """Seconds from `up` to the end of the last second above `quiet`; None when still above at `end`."""
    loud = [s for s, a in per_second if a > quiet and s + timedelta(seconds=1) > up]
    if not loud:
        return 0.0
    last = max(loud) + timedelta(seconds=1)
    if last >= end:
        return None
    return max(0.0, (last - up).total_seconds())


def measure(events: pl.DataFrame) -> Incident | None:
    """The replay's inputs, or None when the events show no outage that clients lived through."""
    found = _outage(events)
    if found is None:
        return None
    late_import("numpy")  # first needed below: without the collector (postmortem/import_gc.py)
    down, up, how = found
    hang = how == HUNG
    policy, cfg_note = client_policy(events, "observed")
    timeout, timeout_note = _timeout(events)
    if hang:  # the first timed-out call was sent one timeout before it failed
        down -= timedelta(seconds=timeout)
    failure_kinds = FAILURE_KINDS + (HANG_KINDS if hang else ())
    # only the columns read below: a filter copies every column of the rows it keeps
    client = _timed(events.select("event_id", "ts", "source", "kind", "host", "message"),
                    pl.col("source").is_in(CLIENT_SOURCES))
    fails = client.filter(pl.col("kind").is_in(failure_kinds) & (pl.col("ts") >= down))
    fails = fails.hstack(select_on_text(fails, **_retry_words()))
    hosts = sorted(client.filter(pl.col("kind").is_in(failure_kinds)).get_column("host").drop_nulls().unique())
    pods = len(hosts)
    if pods == 0:
        return None
    app_delay, calls, app_note = _app_retry(fails)
    policy = replace(policy, app_interval=app_delay, app_attempts=calls)
    in_outage = fails.filter(pl.col("ts") <= up)
    numbered = fails.with_columns(attempt=pl.col("_attempt"))
    starts = numbered.filter(pl.col("attempt") == 1) if calls > 1 else fails
    arrivals, arrivals_note = _arrivals(starts, client, hosts, down, numbered.filter(pl.col("attempt").is_not_null()))
    running = max(1, sum(1 for b in arrivals.starts if b < (up - down).total_seconds()))  # pods in the outage
    # per pod, the connections the clients held before: the population's one reading of the gauge
    before = connected_before(_metric(events, "connected_clients"), down, events)
    held = before.value / pods if before is not None else 0.0
    if calls > 1:
        demand = _rate_in_outage(starts.filter(pl.col("ts") <= up), down, up, running)
        cycle = app_delay + policy.failed_call_s() + arrivals.call_s
        concurrency = _in_flight(in_outage, down, up, running, cycle, (calls - 1) * cycle)
        concurrency += _nested(down, up, held, policy)
    else:
        demand = _rate_in_outage(in_outage, down, up, running)
        concurrency = None
    attempts = _timed(events.select("ts", "kind", "value"),
                      pl.col("kind").is_in(KINDS.with_flag("attempt") + (HANG_KINDS if hang else ())))
    counts_accepts = attempts.filter(pl.col("kind") == "redis.server.client_accepted").height > 0
    counts_failures = fails.height > 0
    last_seen = attempts.get_column("ts").max() if attempts.height else up
    horizon = min(HORIZON_MAX, max(HORIZON_MIN, (last_seen - up).total_seconds() + 1))
    end = up + timedelta(seconds=horizon)
    per = _per_second(attempts)
    before = per.filter((pl.col("second") < down.replace(microsecond=0)) & (pl.col("second") >= down - timedelta(minutes=1)))
    span = len({s for s in before.get_column("second").to_list()})
    baseline = float(before.get_column("attempts").sum()) / max(span, 1) if span >= 3 else 0.0
    quiet = max(float(pods), 2 * baseline)
    compared = per.filter((pl.col("second") >= down.replace(microsecond=0)) & (pl.col("second") < end))
    series = [(s, float(a)) for s, a in compared.iter_rows()]
    rejected, rej_note = _rejections(events, down, end, policy.retries)
    cc = _metric(events, "connected_clients").filter((pl.col("ts") >= up) & (pl.col("ts") <= end))
    observed = Observed(
        peak_attempts=max((a for _, a in series), default=0.0),
        peak_connections=float(cc.get_column("value").max()) if cc.height else None,
        rejections=rejected, recovery_s=recovery(series, up, quiet, end), per_second=tuple(series))
    notes = (
        f"outage {down:%H:%M:%S.%f}"[:-3] + f" → {up:%H:%M:%S.%f}"[:-3] + f" UTC from the {how}",
        f"{pods} client pods; {demand:.1f} requests per pod per second needed Redis during the outage"
        + (f", at most {concurrency:.1f} at once per pod" if concurrency else "") + f"; {arrivals_note}",
        f"{cfg_note}: {policy.describe()}", app_note,
        f"maxclients {maxclients_text(_maxclients(events))}; rejections from the {rej_note}",
        f"attempts counted as the logs count them: {'server `Accepted` lines + ' if counts_accepts else ''}"
        f"client failure lines; calm below {quiet:.0f}/s",
    ) + ((f"the server hung (no refusal): a try waits the {timeout_note} and fails; each pod keeps the "
          f"{held:.1f} connections it held before (connected_clients before the outage)",) if hang else ())
    return Incident(down=down, up=up, horizon_s=horizon, pods=pods, demand_per_pod=demand, arrivals=arrivals,
                    hang=hang, timeout_s=timeout, held_before=held,
                    concurrency=concurrency, maxclients=_maxclients(events), policy=policy,
                    counts_accepts=counts_accepts, counts_failures=counts_failures, quiet=quiet,
                    observed=observed, notes=notes)


def maxclients_text(value: float | None) -> str:
    return "unknown (unlimited assumed)" if value is None else f"{value:.0f}"
