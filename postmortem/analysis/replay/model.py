"""The reconnect model: every request of every pod, stepped through the outage and after it.

Vectorised numpy over requests (no per-request Python), 10 ms steps, seeded: the same incident, policy
and seed give the same numbers. A request calls Redis; a call tries to connect (1 + the client's
retries, with its backoff between tries); a failed call is one client log line; the app may call again
after its own delay. While the server is down every try fails at once (a refused connection); once it is
back a request reuses an idle pooled connection of its pod, else opens one: the server accepts it below
maxclients (it holds the slot until the pod dies, as pools keep their connections) and rejects it above,
and both are one `Accepted` line in a verbose server log. A restart drops every connection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from postmortem.analysis.replay.inputs import Arrivals, Incident, recovery
from postmortem.analysis.replay.median import median
from postmortem.analysis.replay.policy import Policy

DT = 0.01  # seconds per step
HOLDS_S = (0.03, 0.05, 0.1, 0.2, 0.3, 0.5)  # how long a request holds its connection: not in the
# logs, so calibration picks the one that replays the observed policy best (section.calibrate)
SEEDS = (19, 20, 21)  # a replay is the median of these runs: which pod wins the freed slots is a lottery
SEED = SEEDS[0]



@dataclass(frozen=True)
class Outcome:
    """What one run of the model predicts, counted like the logs count it."""

    per_second: tuple[tuple[datetime, float], ...]  # (second, attempts)
    peak_attempts: float
    peak_connections: float
    rejections: float
    recovery_s: float | None  # None: still above the calm level at the end of the horizon
    # whether the run drew from its random generator; when it did not, the seed never reached it and every
    # seed gives this same run (`ensemble` reuses it). Not a figure: left out of comparisons.
    drew: bool = field(default=True, compare=False, repr=False)
    # the least maxclients at which the same inputs make this same run: the most connections it ever asked
    # the server for at once (inf when the server's limit refused one). Not a figure either (`for_limit`).
    unbound_at: float = field(default=math.inf, compare=False, repr=False)


def _where(mask: np.ndarray) -> np.ndarray:
    """`np.flatnonzero` for the 1-D masks of the loop, without its Python wrapper (called per step)."""
    return mask.nonzero()[0]


def _per_pod(pods: np.ndarray, n_pods: int) -> np.ndarray:
    """How many of `pods` name each pod: the loop's `np.add.at(counts, pods, 1)` as one `bincount`, which
    costs a fraction of `ufunc.at` on these short arrays (the counts are integers: the same sums)."""
    return np.bincount(pods, minlength=n_pods)


def _shuffled(ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`ids[rng.permutation(ids.size)]` in fewer calls: shuffling a copy makes the same swaps from the same
    draws, and fewer than two elements draw nothing (most steps); tests/test_replay_loop_calls.py checks both."""
    if ids.size < 2:
        return ids
    out = ids.copy()
    rng.shuffle(out)
    return out


def _least(values: np.ndarray) -> float:
    """The minimum, inf when empty (`min(initial=inf)` without the method's Python-side dispatch)."""
    return float(np.minimum.reduce(values, initial=math.inf))


SMALL_RANKS = 48  # up to this many elements, ranks are counted in Python: a step's few requests cost
# ~2 µs there against ~10 µs of numpy calls, and the loop ranks a few hundred times per run


def rank_within(groups: np.ndarray) -> np.ndarray:
    """Each element's rank among the elements of its group, in input order."""
    if groups.size > SMALL_RANKS:
        return _rank_within_arrays(groups)
    seen: dict[int, int] = {}
    ranks = []
    for g in groups.tolist():
        r = seen.get(g, 0)
        ranks.append(r)
        seen[g] = r + 1
    return np.array(ranks, dtype=np.int64)


def _rank_within_arrays(groups: np.ndarray) -> np.ndarray:
    """`rank_within` in numpy calls, for more than `SMALL_RANKS` elements (tests compare the two)."""
    if groups.size == 0:
        return groups.astype(np.int64)
    if groups.size == 1 or (groups[1:] >= groups[:-1]).all():  # sorted already (requests are pod-major)
        new = _where(groups[1:] != groups[:-1]) + 1
        first = np.zeros(groups.size, dtype=np.int64)
        first[new] = new
        return np.arange(groups.size) - np.maximum.accumulate(first)
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.r_[0, _where(np.diff(g)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, g.size]))
    ranks = np.empty(g.size, dtype=np.int64)
    ranks[order] = np.arange(g.size) - first
    return ranks


def _arrivals(rng: np.random.Generator, pods: int, rate: float, seconds: float,
              measured: Arrivals) -> tuple[np.ndarray, np.ndarray]:
    """Requests per pod, pod-major and in time order within a pod: on the measured fixed tick and phase,
    or as a Poisson process; none before the pod started. Pods beyond the measured ones (another fleet
    size) take the measured pods' phases in turn and run from the start."""
    times = []
    for p in range(pods):
        known = p < len(measured.starts)
        begin = measured.starts[p] if known else 0.0
        if measured.interval:
            phase = measured.phases[p % len(measured.phases)]
            ticks = phase + measured.interval * np.arange(int(seconds / measured.interval) + 1)
            times.append(ticks[(ticks >= begin) & (ticks < seconds)])
        else:
            t = np.sort(rng.uniform(0.0, seconds, rng.poisson(rate * seconds)))
            times.append(t[t >= begin])
    pod = np.repeat(np.arange(pods), [t.size for t in times])
    return pod, (np.concatenate(times) if times else np.zeros(0))


def simulate(inc: Incident, policy: Policy, pods: int | None = None, maxclients: float | None = None,
             seed: int = SEED, hold_s: float = 0.1, fast: bool = True) -> Outcome:
    """Run `policy` through the incident's outage with its demand (optionally another fleet size or limit).
    `fast=False` steps through every case (`_unlimited` computes one case without stepping; tests compare).

    Per request: `arrive` (until admitted), `due` (its next try while it is trying), `release` (while it
    holds a connection); inf when not in that phase, so each phase is one comparison. Per pod: requests
    active, connections held and busy, the breaker."""
    rng = np.random.default_rng(seed)
    seeded = rng.bit_generator.state
    n_pods = pods or inc.pods
    limit = maxclients if maxclients is not None else inc.maxclients
    limit = math.inf if limit is None else limit
    outage, total = inc.outage_s, inc.outage_s + inc.horizon_s
    requests = _Requests(*_arrivals(rng, n_pods, inc.demand_per_pod, total, inc.arrivals))
    pod, arrive, due, release, tries, calls, call_start, pool_wait, waiting = requests.arrays()
    active, busy = np.zeros(n_pods, dtype=np.int64), np.zeros(n_pods, dtype=np.int64)
    held = np.zeros(n_pods, dtype=np.int64)
    if inc.hang:  # a paused server keeps its connections: the pools keep theirs
        held[:] = round(inc.held_before)
    # per pod, disconnected connection objects idle in an unbounded pool: a call takes one (or a new one) and
    # gives it back disconnected when it fails. A capped pool's waits are modelled by its cap alone.
    unbounded = policy.pool_cap is None
    dead = np.zeros(n_pods, dtype=np.int64) if unbounded and not inc.hang else None
    last_ok, last_dead = np.full(n_pods, -np.inf), np.full(n_pods, -np.inf)  # each pod's last release of each
    held_n = int(held.sum())  # held.sum(), kept as a Python int: a numpy sum per step costs as much as the rest
    breaker = _Breaker(n_pods, policy)
    concurrency = math.ceil(inc.concurrency) if inc.concurrency else None
    frac = inc.down.microsecond / 1e6
    attempts = np.zeros(int(math.ceil(frac + total)) + 1)
    rejections, peak_conn, backlog = 0, held_n, 0
    unbound_at = 0  # see Outcome.unbound_at
    last_step, step = int(math.ceil(total / DT)), 0
    if _refused_at_once(inc, policy, breaker, concurrency):
        requests.refuse_outage(outage, frac, attempts if inc.counts_failures else None, concurrency)
        if math.isinf(limit) and policy.pool_cap is None and concurrency is None and hold_s > 0 and fast:
            peak_conn, crowded = _unlimited(requests, frac, hold_s, last_step, n_pods,
                                            attempts if inc.counts_accepts else None)
            # every connection opened is kept: the most asked for at once is the most held at the end
            return _outcome(inc, attempts, peak_conn, 0, rng.bit_generator.state != seeded or crowded, peak_conn)
    ctx = (policy, due, tries, calls, call_start, active, inc.arrivals, rng)
    while step <= last_step:
        t = step * DT
        b = int(frac + t)
        if t >= requests.until:  # the next requests enter, finished ones leave: arrays stay the live size
            pod, arrive, due, release, tries, calls, call_start, pool_wait, waiting = requests.advance(t)
            ctx = (policy, due, tries, calls, call_start, active, inc.arrivals, rng)
        freed = False
        rel = _where(release <= t)
        if rel.size:
            release[rel] = np.inf
            rel_pod = pod[rel]
            done = _per_pod(rel_pod, n_pods)
            busy -= done
            active -= done
            last_ok[rel_pod] = t
            freed = True
            if policy.pool_cap:  # a released connection goes to the pod's requests waiting on its pool
                freed_pod = np.zeros(n_pods, dtype=bool)
                freed_pod[rel_pod] = True
                wake = _where(pool_wait & freed_pod[pod])
                due[wake], pool_wait[wake] = t, False
        pend = _where(arrive <= t)
        if pend.size and concurrency is not None:
            pend_pod = pod[pend]
            pend = pend[rank_within(pend_pod) < concurrency - active[pend_pod]]
        if pend.size:
            arrive[pend], due[pend], tries[pend], call_start[pend] = np.inf, t, 0, t
            active += _per_pod(pod[pend], n_pods)
        if t >= outage and backlog:
            attempts[b] += backlog if inc.counts_accepts else 0  # a hung server's queued connects, accepted now
            backlog = 0
        trying = _where(due <= t)
        while trying.size:  # a retry without delay is tried again in the same instant, as a client does
            if breaker.on:  # without a breaker nothing is refused here (skipping saves three calls a try)
                shut = breaker.refuses(trying, pod, t)
                freed |= _fail_calls(trying[shut], t, pod, *ctx) > 0
                trying = trying[~shut]
            if t < outage:
                if inc.hang:  # no refusal: the try times out, or is answered once the server is back
                    failed = trying[waiting[trying]]
                    sent = trying[~waiting[trying]]
                    waiting[failed] = False
                    answered = t + inc.timeout_s >= outage
                    due[sent] = t + inc.timeout_s if not answered else outage
                    waiting[sent] = not answered
                    backlog += int(sent.size) if not answered else 0  # a timed-out try drops its connection:
                    # the next one connects anew, and the kernel queues it until the server runs again
                else:
                    failed = trying
                    if dead is not None:
                        dead -= np.minimum(dead, np.bincount(pod[trying[tries[trying] == 0]], minlength=n_pods))
            else:
                tried_pod = pod[trying]
                idle = held[tried_pod] - busy[tried_pod]
                # a client retry keeps the connection object its call took from the pool (redis-py's
                # get_connection → connect() retries inside it), so it opens a new connection, never an idle one
                first = tries[trying] == 0 if unbounded else np.ones(trying.size, dtype=bool)
                order_in_pod = rank_within(np.where(first, tried_pod, -1))
                # the pool is a stack: a pod whose last release was a failed call's dead object hands those
                # out first (each connects anew), its connected idle ones only below them
                under = (np.where(last_dead[tried_pod] > last_ok[tried_pod], dead[tried_pod], 0)
                         if dead is not None else 0)
                reuse = first & (order_in_pod >= under) & (order_in_pod - under < idle)
                if dead is not None:
                    dead -= np.minimum(dead, np.bincount(tried_pod[first & ~reuse], minlength=n_pods))
                got, need = trying[reuse], trying[~reuse]
                need_rank = rank_within(pod[need])
                if policy.pool_cap:
                    fits = held[pod[need]] + need_rank < policy.pool_cap
                    wait = need[~fits]
                    need = need[fits]
                    timed_out = t - call_start[wait] >= policy.pool_timeout - 1e-9
                    late, wait = wait[timed_out], wait[~timed_out]
                    due[wait] = call_start[wait] + policy.pool_timeout  # or sooner: woken by a release
                    pool_wait[wait] = True
                    pool_wait[late] = False
                    freed |= _fail_calls(late, t, pod, *ctx) > 0
                order = _shuffled(need, rng)
                free = int(max(0, min(order.size, limit - held_n))) if math.isfinite(limit) else order.size
                unbound_at = max(unbound_at, held_n + order.size) if free == order.size else math.inf
                accepted, failed = order[:free], order[free:]
                if accepted.size:
                    held += _per_pod(pod[accepted], n_pods)
                    held_n += accepted.size
                    got = np.concatenate([got, accepted])
                due[got], release[got], pool_wait[got] = np.inf, t + hold_s, False
                if got.size:
                    got_pod = pod[got]
                    busy += _per_pod(got_pod, n_pods)
                    if breaker.on:
                        breaker.succeeded(got_pod)
                if inc.counts_accepts:
                    attempts[b] += order.size
                rejections += failed.size
                peak_conn = max(peak_conn, held_n)
            if not failed.size:  # nothing failed: the rest of the iteration would change nothing
                break
            if policy.backoff == "none" and (t >= outage or inc.hang):  # the limit decides the next line
                unbound_at = max(unbound_at, held_n + 1) if held_n < limit else math.inf
            if policy.backoff == "none" and (t < outage and not inc.hang or held_n >= limit):
                # retried at once into the same refusal: the call's remaining tries fail in this instant
                left = policy.retries - tries[failed]
                if t >= outage:
                    rejections += int(left.sum())
                    attempts[b] += int(left.sum()) if inc.counts_accepts else 0
                tries[failed] = policy.retries
            more = tries[failed] < policy.retries
            retry = failed[more]
            if retry.size:  # (an empty draw leaves the generator as it was)
                tries[retry] += 1
                due[retry] = t + policy.delays(tries[retry], rng)
            given_up = failed[~more]
            if dead is not None and given_up.size:  # a failed call gives its disconnected object back to the pool
                up_pod = pod[given_up]
                dead += _per_pod(up_pod, n_pods)
                last_dead[up_pod] = t
            if inc.counts_failures:
                attempts[b] += given_up.size
            if breaker.on:
                breaker.failed(pod[given_up], t)
            if given_up.size:
                freed |= _fail_calls(given_up, t, pod, *ctx) > 0
            trying = retry[due[retry] <= t]
        peak_conn = max(peak_conn, held_n)
        step = _next_step(step, t, arrive, due, release, freed, requests.next_arrival, concurrency is not None)
    return _outcome(inc, attempts, peak_conn, rejections, rng.bit_generator.state != seeded, unbound_at)


def _outcome(inc: Incident, attempts: np.ndarray, peak_conn: int, rejections: float, drew: bool,
             unbound_at: float) -> Outcome:
    start = inc.down.replace(microsecond=0)
    series = [(start + timedelta(seconds=i), float(a)) for i, a in enumerate(attempts)]
    end = inc.up + timedelta(seconds=inc.horizon_s)
    series = [(s, a) for s, a in series if s < end]
    return Outcome(per_second=tuple(series), peak_attempts=max((a for _, a in series), default=0.0),
                   peak_connections=float(peak_conn), rejections=float(rejections),
                   recovery_s=recovery(series, inc.up, inc.quiet, end), drew=drew, unbound_at=unbound_at)


def _unlimited(requests: _Requests, frac: float, hold_s: float, last_step: int, n_pods: int,
               attempts: np.ndarray | None) -> tuple[int, bool]:
    """What the loop computes after the outage when nothing can fail (no maxclients, no pool cap, no limit
    on a pod's requests) and the outage's requests were all refused on arrival (`refuse_outage`), without
    stepping: each request takes a connection at the first step not before it arrives and frees it at the
    first step not before it took it + `hold_s`; a pod reuses its idle connections and opens the rest, so
    the connections it holds are the most it ever had busy at once. Adds each step's new connections to
    `attempts` (None: accepts are not what the logs count) and returns the connections held at the end and
    whether any step opened two or more (the loop shuffles those, drawing random numbers). A hypothesis test
    (tests/test_replay_unlimited.py) checks it gives the loop's Outcome."""
    rest = requests.by_arrival[requests.entered:]
    arrive = requests.all_arrive[rest]
    step = np.ceil(arrive / DT - 1e-9)
    step += step * DT < arrive  # the loop compares the step's own time with the arrival
    keep = step <= last_step
    pod, step = requests.all_pod[rest][keep], step[keep]
    order = np.lexsort((step, pod))
    pod, step = pod[order], step[order]
    bounds = np.searchsorted(pod, np.arange(n_pods + 1))
    steps_out, new_out, held_total = [], [], 0
    for p in range(n_pods):
        s_p = step[bounds[p]:bounds[p + 1]]
        if s_p.size == 0:
            continue
        last = np.r_[_where(s_p[1:] != s_p[:-1]), s_p.size - 1]  # each distinct step's last request
        at = s_p[last] * DT
        busy = (last + 1) - np.searchsorted(s_p * DT + hold_s, at, side="right")  # taken, less those freed by then
        held = np.maximum.accumulate(busy)
        steps_out.append(s_p[last])
        new_out.append(np.diff(held, prepend=0))
        held_total += int(held[-1])
    if not steps_out:
        return 0, False
    steps, per = np.unique(np.concatenate(steps_out), return_inverse=True)
    opened = np.bincount(per, weights=np.concatenate(new_out))
    if attempts is not None:
        np.add.at(attempts, (frac + steps * DT).astype(np.int64), opened)
    return held_total, bool((opened >= 2).any())


class _Requests:
    """The requests the loop steps through, kept to the live ones: those arrived by the end of the current
    window and not finished. A finished request (not arriving, not due, not holding a connection) never
    acts again, and one that arrives later cannot act before it arrives, so leaving both out changes
    nothing; the live ones keep their global order (pod-major, in time within a pod), which the ranks
    within a pod rely on. The work per step is then the live size, not the whole horizon's demand."""

    WINDOW_S = 0.5  # requests entering per window; a window is one compaction

    def __init__(self, pod: np.ndarray, arrive: np.ndarray):
        self.all_pod, self.all_arrive = pod, arrive
        self.by_arrival = np.argsort(arrive, kind="stable")
        self.entered = 0  # requests of `by_arrival` taken in so far
        self.until = -math.inf  # the current window ends here (exclusive)
        self.ids = np.zeros(0, dtype=np.int64)
        self.state = (pod[:0], arrive[:0], np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64),
                      np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """pod, arrive, due, release, tries (failed in this call), calls (failed so far), call_start,
        pool_wait (waiting on a capped pool), waiting (a try sent to a hung server, answer pending)."""
        return self.state

    @property
    def next_arrival(self) -> float:
        return float(self.all_arrive[self.by_arrival[self.entered]]) if self.entered < self.by_arrival.size \
            else math.inf

    def refuse_outage(self, outage: float, frac: float, attempts: np.ndarray | None, concurrency: int | None) -> None:
        """Count, without stepping, the requests the loop would fail on arrival before the server is back
        (`_refused_at_once`): each at the first step not before it arrives, in that step's second of
        `attempts` (None: failures are not what the logs count); they then never enter the live set. Not
        when a pod gets more requests in one step than it may run at once (the rest would wait a step)."""
        order = self.by_arrival
        arrive = self.all_arrive[order]
        step = np.ceil(arrive / DT - 1e-9)
        step += step * DT < arrive  # the loop compares the step's own time with the arrival
        t = step * DT
        m = int(np.searchsorted(t, outage, side="left"))  # t is sorted: the outage's requests lead
        if m == 0:
            return
        if concurrency is not None:
            key = self.all_pod[order[:m]].astype(np.int64) * (int(step[m - 1]) + 1) + step[:m].astype(np.int64)
            if np.unique(key, return_counts=True)[1].max() > concurrency:
                return
        if attempts is not None:
            np.add.at(attempts, (frac + t[:m]).astype(np.int64), 1)
        self.entered = m

    def advance(self, t: float) -> tuple[np.ndarray, ...]:
        """Drop the finished requests and take in those arriving before `t` + the window."""
        self.until = t + self.WINDOW_S
        cut = max(self.entered, int(np.searchsorted(self.all_arrive, self.until, side="left", sorter=self.by_arrival)))
        new = np.sort(self.by_arrival[self.entered:cut])
        self.entered = cut
        pod, arrive, due, release, tries, calls, call_start, pool_wait, waiting = self.state
        keep = np.isfinite(arrive) | np.isfinite(due) | np.isfinite(release)
        ids = np.concatenate([self.ids[keep], new])
        order = np.argsort(ids, kind="stable")
        m = new.size

        def merged(old: np.ndarray, fresh: np.ndarray) -> np.ndarray:
            return np.concatenate([old[keep], fresh])[order]

        self.ids = ids[order]
        self.state = (self.all_pod[self.ids], merged(arrive, self.all_arrive[new]), merged(due, np.full(m, np.inf)),
                      merged(release, np.full(m, np.inf)), merged(tries, np.zeros(m, dtype=np.int64)),
                      merged(calls, np.zeros(m, dtype=np.int64)), merged(call_start, np.zeros(m)),
                      merged(pool_wait, np.zeros(m, dtype=bool)), merged(waiting, np.zeros(m, dtype=bool)))
        return self.state


def _refused_at_once(inc: Incident, policy: Policy, breaker: _Breaker, concurrency: int | None) -> bool:
    """Whether every request of the outage fails in the instant it arrives and ends there: the server
    refuses (no hang), the client's tries all go at once (no retries, or no backoff), the app does not call
    again, and no breaker counts the failures. Then the loop would only count them, one step each."""
    return (not inc.hang and policy.app_attempts <= 1 and (policy.retries == 0 or policy.backoff == "none")
            and not breaker.on)


class _Breaker:
    """A circuit breaker per pod (Polly / resilience4j style): after `breaker_failures` failed calls in a
    row it opens for `breaker_open_s`, calls fail at once without touching Redis; then one trial call
    per pod goes through (half-open): success closes it, failure opens it again."""

    def __init__(self, pods: int, policy: Policy):
        self.on = policy.breaker_failures > 0
        self.n, self.open_s = policy.breaker_failures, policy.breaker_open_s
        self.streak = np.zeros(pods, dtype=np.int64)
        self.until = np.full(pods, -np.inf)

    def refuses(self, ids: np.ndarray, pod: np.ndarray, t: float) -> np.ndarray:
        if not self.on or ids.size == 0:
            return np.zeros(ids.size, dtype=bool)
        until = self.until[pod[ids]]
        half = np.isfinite(until) & (until <= t)
        return (until > t) | (half & (rank_within(pod[ids]) > 0))

    def failed(self, pods: np.ndarray, t: float) -> None:
        if not self.on or pods.size == 0:
            return
        np.add.at(self.streak, pods, 1)
        trips = _where((self.streak >= self.n) | (np.isfinite(self.until) & (self.until <= t)
                                                          & (np.bincount(pods, minlength=self.streak.size) > 0)))
        self.until[trips] = t + self.open_s
        self.streak[trips] = 0

    def succeeded(self, pods: np.ndarray) -> None:
        if self.on and pods.size:
            self.streak[pods] = 0
            self.until[pods] = -np.inf



def ensemble(inc: Incident, policy: Policy, pods: int | None = None, maxclients: float | None = None,
             hold_s: float = 0.1, seeds: tuple[int, ...] = SEEDS, known: dict[int, Outcome] | None = None) -> Outcome:
    """`simulate` once per seed, combined (`combine`)."""
    return combine(seed_runs(inc, policy, pods, maxclients, hold_s, seeds, known))


def seed_runs(inc: Incident, policy: Policy, pods: int | None = None, maxclients: float | None = None,
              hold_s: float = 0.1, seeds: tuple[int, ...] = SEEDS,
              known: dict[int, Outcome] | None = None) -> dict[int, Outcome]:
    """`simulate` once per seed, by seed. `known`: runs already made with these inputs, by seed (a run is a
    pure function of its inputs)."""
    known = known or {}
    runs: dict[int, Outcome] = {}
    for seed in seeds:
        if runs and not runs[seeds[0]].drew:  # the first run used no random draw: another seed gives the same run
            runs[seed] = runs[seeds[0]]
        else:
            runs[seed] = known[seed] if seed in known else simulate(inc, policy, pods, maxclients, seed, hold_s)
    return runs


def for_limit(runs: dict[int, Outcome], limit: float | None) -> dict[int, Outcome]:
    """The runs that the same inputs under maxclients `limit` (None: none) make: those the limit would not
    have bound (`Outcome.unbound_at`), to pass as `known`."""
    at = math.inf if limit is None else limit
    return {seed: run for seed, run in runs.items() if run.unbound_at <= at}


def combine(by_seed: dict[int, Outcome]) -> Outcome:
    """Each figure is the median over the runs, the per-second series is the run closest to those medians
    (one run's lottery of who reconnects first is not the incident's)."""
    runs = list(by_seed.values())
    if len(runs) == 1:
        return runs[0]
    peak = float(median([r.peak_attempts for r in runs]))
    rejected = float(median([r.rejections for r in runs]))
    conn = float(median([r.peak_connections for r in runs]))
    rec = float(median([math.inf if r.recovery_s is None else r.recovery_s for r in runs]))
    typical = min(runs, key=lambda r: abs(math.log((r.peak_attempts + 1) / (peak + 1)))
                  + abs(math.log((r.rejections + 1) / (rejected + 1))))
    return Outcome(per_second=typical.per_second, peak_attempts=peak, peak_connections=conn, rejections=rejected,
                   recovery_s=None if math.isinf(rec) else rec)


def _next_step(step: int, t: float, arrive, due, release, freed: bool, outside: float, waits: bool) -> int:
    """The next step at which anything can happen (steps in between would change nothing): a try that
    is due, a request that arrives (`outside`: the first one not yet among the live requests), a
    connection released; the very next step when a request waits for a free worker and one was freed."""
    if not waits:  # every request that arrived was let in: none is left at or before t
        soon = min(_least(np.concatenate((due, release, arrive))), outside)
    elif freed and (arrive <= t).any():
        return step + 1
    else:
        soon = min(_least(np.concatenate((due, release, arrive[arrive > t]))), outside)  # one reduction, not three
    if not math.isfinite(soon):
        return 1 << 62  # nothing is left to happen
    return max(step + 1, math.ceil(soon / DT - 1e-9))


def _fail_calls(ids: np.ndarray, t: float, pod, policy: Policy, due, tries, calls, call_start, active,
                arrivals: Arrivals, rng: np.random.Generator) -> int:
    """Calls that ran out of client tries: the app calls again after its delay (and the failed call's own
    measured duration), or gives the request up. Returns how many requests ended (a worker freed)."""
    if ids.size == 0:
        return 0
    calls[ids] += 1
    tries[ids] = 0
    over = calls[ids] >= policy.app_attempts
    ended = ids[over]
    due[ended] = np.inf
    if ended.size:
        active -= _per_pod(pod[ended], active.size)
    again = ids[~over]
    if again.size == 0:
        return int(ended.size)
    took = np.maximum(0.0, arrivals.call_s + arrivals.call_spread_s * rng.standard_normal(again.size))
    due[again] = t + policy.app_interval + took
    call_start[again] = due[again]
    return int(ended.size)
