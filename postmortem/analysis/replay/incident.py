"""The replay's inputs as plain values (what `inputs.measure` finds in the events), and how the model's
series is read back: numpy-free and polars-free, so the side process (postmortem/side_process.py) that runs
replay runs unpickles an Incident without importing the analysis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from postmortem.analysis.replay.policy import Policy


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


def recovery(per_second: list[tuple[datetime, float]], up: datetime, quiet: float, end: datetime) -> float | None:
    """Seconds from `up` to the end of the last second above `quiet`; None when still above at `end`."""
    loud = [s for s, a in per_second if a > quiet and s + timedelta(seconds=1) > up]
    if not loud:
        return 0.0
    last = max(loud) + timedelta(seconds=1)
    if last >= end:
        return None
    return max(0.0, (last - up).total_seconds())
