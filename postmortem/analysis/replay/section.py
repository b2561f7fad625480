"""The what-if section: calibrate the reconnect model on the incident, then replay the report's own
recommended configurations through the same outage, fleet and demand."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING

import polars as pl

from postmortem.analysis.replay.inputs import Incident, measure
from postmortem.analysis.replay.policy import Policy, from_backoff, parse_breaker_spec, parse_retry_spec
from postmortem.failures import RECOVERABLE
from postmortem.model import ChartSeries, Recommendation, WhatIf, WhatIfRow

if TYPE_CHECKING:
    from postmortem.analysis.replay.model import Outcome

FACTOR = 1.5  # calibration tolerance: replayed peak logged attempts/s and rejections within this factor
TOLERANCE = (f"replayed peak logged attempts/s and rejections within a factor of {FACTOR:g} of the observed "
             "(rejections: both zero, or both non-zero and within the factor)")


def _within(pred: float, obs: float) -> bool:
    if obs <= 0 or pred <= 0:
        return obs <= 0 and pred <= 0
    return 1 / FACTOR <= pred / obs <= FACTOR


def _miss(out: Outcome, inc: Incident) -> float:
    """How far a replay is from the observation (log ratios of peak attempts/s and rejections)."""
    obs = inc.observed
    err = abs(math.log((out.peak_attempts + 1) / (obs.peak_attempts + 1)))
    if obs.rejections is not None:
        err += abs(math.log((out.rejections + 1) / (obs.rejections + 1)))
    return err


def calibrate(inc: Incident) -> tuple[float, Outcome, bool]:
    """The hold time (the one input the logs do not give) that replays the observed policy best, the
    replay, and whether it is within the tolerance. The hold times are swept with one run each (the miss
    falls then rises with the hold time: the sweep stops once it rose twice); the best is then replayed
    with every seed (model.ensemble), and its neighbours too when that misses the tolerance."""
    # late: the model is numpy, loaded only when there is an outage to replay
    from postmortem.analysis.replay.model import HOLDS_S, SEED, ensemble, simulate

    swept: list[tuple[float, int]] = []
    runs: dict[float, Outcome] = {}  # the sweep's run at each hold time, reused by its ensemble
    worse = 0
    for i, hold in enumerate(HOLDS_S):
        runs[hold] = simulate(inc, inc.policy, seed=SEED, hold_s=hold)
        miss = _miss(runs[hold], inc)
        if swept and miss >= min(m for m, _ in swept):
            worse += 1
        else:
            worse = 0
        swept.append((miss, i))
        if worse == 2:
            break
    best = min(swept)[1]
    tried: list[tuple[float, float, Outcome]] = []
    for i in (best, best - 1, best + 1):
        if 0 <= i < len(HOLDS_S):
            hold = HOLDS_S[i]
            out = ensemble(inc, inc.policy, hold_s=hold, known={SEED: runs[hold]} if hold in runs else None)
            tried.append((_miss(out, inc), HOLDS_S[i], out))
            if _ok(out, inc):
                break
    _, hold, out = min(tried, key=lambda x: x[0])
    return hold, out, _ok(out, inc)


def _ok(out: Outcome, inc: Incident) -> bool:
    obs = inc.observed
    return _within(out.peak_attempts, obs.peak_attempts) and (
        obs.rejections is None or _within(out.rejections, obs.rejections))


def recommended(recs: tuple[Recommendation, ...], inc: Incident) -> list[tuple[str, Policy, float | None]]:
    """The settings of the report's own snippets, cumulatively: the retry, then + the pool cap, then +
    the maxclients proposal (app-level retries stay as observed: no snippet changes them)."""
    code = "\n".join(sn.code for r in recs for sn in r.snippets)
    out: list[tuple[str, Policy, float | None]] = []
    policy = inc.policy
    m = re.search(r"Retry\(\s*(\w+)\(([^)]*)\)\s*,\s*(\d+)\s*\)", code)
    if m:
        policy = replace(from_backoff(policy, m.group(1), m.group(2)), retries=int(m.group(3)))
        policy = replace(policy, label=f"snippet retry: {m.group(1)}({m.group(2)}), {m.group(3)} retries")
        out.append((policy.label, policy, None))
    cap = re.search(r"max_connections\s*=\s*(\d+)", code)
    if cap:
        timeout = re.search(r"BlockingConnectionPool\([^)]*?\btimeout\s*=\s*([0-9.]+)", code, flags=re.S)
        policy = replace(policy, pool_cap=int(cap.group(1)), pool_timeout=float(timeout.group(1)) if timeout else 0.0,
                         label=("+ " if out else "") + f"pool cap {cap.group(1)} per pod")
        out.append((policy.label, policy, None))
    limit = re.search(r"^maxclients\s+(\d+)", code, flags=re.M)
    if limit and float(limit.group(1)) != inc.maxclients:  # the limit the server already had changes nothing
        policy = replace(policy, label=("+ " if out else "") + f"maxclients {limit.group(1)}")
        out.append((policy.label, policy, float(limit.group(1))))
    return out


def _row(label: str, policy: str, out, maxclients: float | None) -> WhatIfRow:
    return WhatIfRow(label=label, policy=policy, peak_attempts=out.peak_attempts,
                     peak_connections=out.peak_connections, maxclients=maxclients,
                     rejections=out.rejections, recovery_s=out.recovery_s)


def _series(key: str, out) -> ChartSeries:
    return ChartSeries(key, tuple(s for s, _ in out.per_second), tuple(a for _, a in out.per_second))


def _calibrated(events: pl.DataFrame):
    """The incident measured and its observed policy replayed: (incident, hold time, replay, calibrated,
    the observed and replayed rows, their chart series, the inputs said); None without an outage."""
    inc = measure(events)
    if inc is None:
        return None
    hold, replay, ok = calibrate(inc)
    rows = [_row("observed", inc.policy.describe(), inc.observed, inc.maxclients),
            _row("replay of the observed policy", inc.policy.describe(), replay, inc.maxclients)]
    chart = [_series("observed", inc.observed), _series("replay", replay)]
    inputs = (*inc.notes, f"connection hold time {hold:g} s per request (calibrated: the logs do not show it)")
    return inc, hold, replay, ok, rows, chart, inputs


def build(events: pl.DataFrame, recs: tuple[Recommendation, ...]) -> WhatIf | None:
    """The section, or None when the events show no outage that client logs lived through."""
    base = _calibrated(events)
    if base is None:
        return None
    inc, hold, replay, ok, rows, chart, inputs = base
    obs = inc.observed
    if not ok:
        verdict = f"Not calibrated: {missed(replay, inc)}, so no prediction is shown."
        return WhatIf(False, TOLERANCE, verdict, tuple(rows), tuple(chart), inputs, inc.horizon_s)
    from postmortem.analysis.replay.model import combine, for_limit, seed_runs

    predicted = recommended(recs, inc)
    before: tuple[Policy, dict] | None = None  # the previous row's policy and runs
    for label, policy, limit in predicted:
        # a row that only raises maxclients is the previous row's runs where that limit never bound them
        same = before is not None and replace(before[0], label=policy.label) == policy
        runs = seed_runs(inc, policy, maxclients=limit, hold_s=hold,
                         known=for_limit(before[1], limit if limit is not None else inc.maxclients) if same else None)
        before = (policy, runs)
        out = combine(runs)
        rows.append(_row(label, policy.describe(), out, limit if limit is not None else inc.maxclients))
    if predicted:
        chart.append(_series("predicted: " + predicted[-1][0].removeprefix("+ "), out))
    verdict = (f"Calibrated: the replay of the observed policy gives peak {replay.peak_attempts:.0f} logged attempts/s "
               f"(observed {obs.peak_attempts:.0f}/s) and {replay.rejections:.0f} rejections (observed "
               f"{_num(obs.rejections)}), within the tolerance."
               + ("" if predicted else " The report recommends no client configuration to replay."))
    return WhatIf(True, TOLERANCE, verdict, tuple(rows), tuple(chart), inputs, inc.horizon_s)


def missed(out: Outcome, inc: Incident) -> str:
    """Which observed figure the replay of the observed policy did not reproduce, and by how much."""
    obs = inc.observed
    parts = []
    if not _within(out.peak_attempts, obs.peak_attempts):
        parts.append(f"peak logged attempts/s replayed {out.peak_attempts:.0f} vs {obs.peak_attempts:.0f} observed"
                     + _factor(out.peak_attempts, obs.peak_attempts))
    if obs.rejections is not None and not _within(out.rejections, obs.rejections):
        parts.append(f"rejections replayed {out.rejections:.0f} vs {obs.rejections:.0f} observed"
                     + _factor(out.rejections, obs.rejections))
    what = (" and ".join(parts) or "within the tolerance") + f", beyond the factor of {FACTOR:g}"
    if inc.hang:
        what += "; the server hung, and how many new connections the clients queue while it is stopped is not modelled"
    return what


def _factor(pred: float, obs: float) -> str:
    return f" (x{pred / obs:.1f})" if pred > 0 and obs > 0 else ""


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f}"


def whatif_section(events: pl.DataFrame, recs: tuple[Recommendation, ...], warnings: list[str]) -> WhatIf | None:
    """`build`, with a failure turned into a warning (the report is never lost to the replay)."""
    try:
        return build(events, recs)
    except RECOVERABLE as exc:  # noqa: BLE001
        warnings.append(f"what-if replay failed: {type(exc).__name__}: {exc}")
        return None


def try_settings(events: pl.DataFrame, retry: str | None = None, pool: int | None = None, pods: int | None = None,
                 maxclients: float | None = None, breaker: str | None = None) -> WhatIf | None:
    """`postmortem whatif`: the incident calibrated, then replayed with settings given on the command line
    (any left out stay as observed; `pods` is another fleet size, e.g. the one the HPA would reach)."""
    base = _calibrated(events)
    if base is None:
        return None
    inc, hold, replay, ok, rows, chart, inputs = base
    if not ok:
        verdict = f"Not calibrated: {missed(replay, inc)}, so no prediction is made."
        return WhatIf(False, TOLERANCE, verdict, tuple(rows), tuple(chart), inputs, inc.horizon_s)
    policy = parse_retry_spec(retry, inc.policy) if retry else inc.policy
    if pool:
        policy = replace(policy, pool_cap=pool, pool_timeout=policy.pool_timeout or 2.0)
    if breaker:
        policy = parse_breaker_spec(breaker, policy)
    given = [x for x in (f"--retry {retry}" if retry else "", f"--pool {pool}" if pool else "",
                         f"--breaker {breaker}" if breaker else "",
                         f"--pods {pods}" if pods else "", f"--maxclients {maxclients:g}" if maxclients else "") if x]
    from postmortem.analysis.replay.model import ensemble

    out = ensemble(inc, policy, pods=pods, maxclients=maxclients, hold_s=hold)
    rows.append(_row(" ".join(given) or "observed settings", policy.describe(), out,
                     maxclients if maxclients is not None else inc.maxclients))
    chart.append(_series("predicted", out))
    return WhatIf(True, TOLERANCE, "Calibrated within the tolerance; the last row is the prediction.",
                  tuple(rows), tuple(chart), inputs, inc.horizon_s)
