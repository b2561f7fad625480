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
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from postmortem.analysis.replay.inputs import Incident, recovery
from postmortem.analysis.replay.policy import Policy

DT = 0.01  # seconds per step
HOLDS_S = (0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)  # how long a request holds its connection: not in the
# logs, so calibration picks the one that replays the observed policy best (section.calibrate)
SEED = 19

PENDING, TRYING, HOLDING, DONE = 0, 1, 2, 3


@dataclass(frozen=True)
class Outcome:
    """What one run of the model predicts, counted like the logs count it."""

    per_second: tuple[tuple[datetime, float], ...]  # (second, attempts)
    peak_attempts: float
    peak_connections: float
    rejections: float
    recovery_s: float | None  # None: still above the calm level at the end of the horizon


def rank_within(groups: np.ndarray) -> np.ndarray:
    """Each element's rank among the elements of its group, in input order."""
    if groups.size == 0:
        return groups.astype(np.int64)
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, g.size]))
    ranks = np.empty(g.size, dtype=np.int64)
    ranks[order] = np.arange(g.size) - first
    return ranks


def _arrivals(rng: np.random.Generator, pods: int, rate: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Requests as a Poisson process per pod, pod-major and in time order within a pod."""
    counts = rng.poisson(rate * seconds, size=pods)
    pod = np.repeat(np.arange(pods), counts)
    times = [np.sort(rng.uniform(0.0, seconds, c)) for c in counts]
    return pod, (np.concatenate(times) if times else np.zeros(0))


def simulate(inc: Incident, policy: Policy, pods: int | None = None, maxclients: float | None = None,
             seed: int = SEED, hold_s: float = 0.1) -> Outcome:
    """Run `policy` through the incident's outage with its demand (optionally another fleet size or limit)."""
    rng = np.random.default_rng(seed)
    n_pods = pods or inc.pods
    limit = maxclients if maxclients is not None else inc.maxclients
    limit = math.inf if limit is None else limit
    outage, total = inc.outage_s, inc.outage_s + inc.horizon_s
    pod, arrival = _arrivals(rng, n_pods, inc.demand_per_pod, total)
    n = pod.size
    state = np.full(n, PENDING, dtype=np.int8)
    next_t = np.full(n, np.inf)
    release = np.full(n, np.inf)
    tries = np.zeros(n, dtype=np.int64)  # failed tries in the current call
    calls = np.zeros(n, dtype=np.int64)  # failed calls so far
    call_start = np.zeros(n)
    held = np.zeros(n_pods, dtype=np.int64)
    concurrency = math.ceil(inc.concurrency) if inc.concurrency else None
    frac = inc.down.microsecond / 1e6
    bins = int(math.ceil(frac + total)) + 1
    attempts = np.zeros(bins)
    rejections = 0
    peak_conn = 0
    for step in range(int(math.ceil(total / DT)) + 1):
        t = step * DT
        b = int(frac + t)
        done = (state == HOLDING) & (release <= t)
        state[done] = DONE
        pend = np.flatnonzero((state == PENDING) & (arrival <= t))
        if pend.size and concurrency is not None:
            active = np.bincount(pod[(state == TRYING) | (state == HOLDING)], minlength=n_pods)
            pend = pend[rank_within(pod[pend]) < concurrency - active[pod[pend]]]
        state[pend], next_t[pend], tries[pend], call_start[pend] = TRYING, t, 0, t
        trying = np.flatnonzero((state == TRYING) & (next_t <= t))
        if trying.size == 0:
            continue
        if t < outage:
            failed = trying
        else:
            busy = np.bincount(pod[state == HOLDING], minlength=n_pods)
            rank = rank_within(pod[trying])
            idle = held[pod[trying]] - busy[pod[trying]]
            reuse = rank < idle
            got = trying[reuse]
            need, need_rank = trying[~reuse], (rank - np.maximum(idle, 0))[~reuse]
            if policy.pool_cap:
                fits = held[pod[need]] + need_rank < policy.pool_cap
                wait = need[~fits]
                need = need[fits]
                late = wait[t - call_start[wait] >= policy.pool_timeout]
                next_t[wait] = t + DT
                _fail_calls(late, t, policy, state, next_t, tries, calls, call_start)
            order = need[rng.permutation(need.size)]
            free = int(max(0, min(order.size, limit - held.sum()))) if math.isfinite(limit) else order.size
            accepted, failed = order[:free], order[free:]
            np.add.at(held, pod[accepted], 1)
            got = np.concatenate([got, accepted])
            state[got], release[got] = HOLDING, t + hold_s
            if inc.counts_accepts:
                attempts[b] += order.size
            rejections += failed.size
            peak_conn = max(peak_conn, int(held.sum()))
        more = tries[failed] < policy.retries
        retry = failed[more]
        tries[retry] += 1
        next_t[retry] = t + policy.delays(tries[retry], rng)
        given_up = failed[~more]
        if inc.counts_failures:
            attempts[b] += given_up.size
        _fail_calls(given_up, t, policy, state, next_t, tries, calls, call_start)
    start = inc.down.replace(microsecond=0)
    series = [(start + timedelta(seconds=i), float(a)) for i, a in enumerate(attempts)]
    end = inc.up + timedelta(seconds=inc.horizon_s)
    series = [(s, a) for s, a in series if s < end]
    return Outcome(per_second=tuple(series), peak_attempts=max((a for _, a in series), default=0.0),
                   peak_connections=float(peak_conn), rejections=float(rejections),
                   recovery_s=recovery(series, inc.up, inc.quiet, end))


def _fail_calls(ids: np.ndarray, t: float, policy: Policy, state, next_t, tries, calls, call_start) -> None:
    """Calls that ran out of client tries: the app calls again after its delay, or gives the request up."""
    if ids.size == 0:
        return
    calls[ids] += 1
    tries[ids] = 0
    over = calls[ids] >= policy.app_attempts
    state[ids[over]] = DONE
    again = ids[~over]
    next_t[again] = t + policy.app_interval
    call_start[again] = t + policy.app_interval
