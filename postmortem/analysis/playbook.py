"""Stop the bleeding and lessons: the first moves for this incident's findings, in the playbook's order,
and what went well, badly and luckily, from the findings, the resolution and the detection.

The playbook order is the one on-call follows during a connection storm: shed load at the edge first,
then stop clients from making it worse, then add capacity, then stop automation from fighting back.
"""

from __future__ import annotations

from postmortem.analysis.detectors import find_rule, rules
from postmortem.model import Report, Role, duration

# (key, step) in the order to apply them; each rule names the keys its findings call for (`Rule.bleeding`).
STEPS: tuple[tuple[str, str], ...] = (
    ("ingress", "Rate-limit at ingress: shed or queue requests at the load balancer / API gateway so the fleet "
     "stops multiplying Redis connections."),
    ("retries", "Disable aggressive retries: set retries to a few with exponential backoff (feature flag or config "
     "reload), not a redeploy under load."),
    ("breaker", "Open the circuit breaker: serve a fallback (cache miss path, degraded response) instead of "
     "waiting on Redis."),
    ("scale_redis", "Scale Redis: raise maxclients (`CONFIG SET maxclients N`, within `ulimit -n`) or add a "
     "replica / shard for reads."),
    ("noisy_clients", "Scale down the noisiest clients: restart or remove the pods that reconnect most (named in "
     "the appendix's per-host chart)."),
    ("hpa", "Pause the HPA: keep the replica count fixed until Redis recovers, so new pods do not add connections."),
)


def stop_the_bleeding(report: Report) -> tuple[str, ...]:
    """The playbook steps this incident's findings call for, in the playbook's order."""
    wanted = {key for f in report.findings if (r := find_rule(f.rule_id)) is not None for key in r.bleeding}
    return tuple(step for key, step in STEPS if key in wanted)


def _phrase(rule_id: str) -> str:
    rule = find_rule(rule_id)
    return (rule.phrase or rule.name) if rule is not None else rule_id


def lessons(report: Report) -> tuple[tuple[str, str], ...]:
    """(went well | went badly | lucky, sentence) from the findings, the resolution and detection."""
    out: list[tuple[str, str]] = []
    restarts = [s for s in report.resolution if s.what in ("restart", "config", "scale")]
    if restarts and report.window_start is not None:
        out.append(("went well", f"{restarts[0].text} {duration(report.window_start, restarts[0].ts)} after "
                    "the first sign."))
    if len(report.detection) > 1:
        last = report.detection[-1]
        out.append(("went well", f"{len(report.detection)} log sources showed the problem, the last "
                    f"{last.lag.lstrip('+')} after the first."))
    fired = {f.rule_id for f in report.findings}
    for group, indices in report.causes:
        if group == "trigger":
            continue
        for i in indices:
            f = report.findings[i]
            phrase = _phrase(f.rule_id)
            out.append(("went badly", f"{phrase[:1].upper()}{phrase[1:]} ({f.rule_id})."))
    quality = [f for f in report.findings if (r := find_rule(f.rule_id)) is not None and r.role == Role.DATA_QUALITY]
    for f in quality:
        out.append(("went badly", f"The evidence was incomplete: {f.title.rstrip('.')}."))
    if report.findings:
        absent = [r.phrase or r.name for r in rules() if r.lucky_if_absent and r.rule_id not in fired]
        if absent:
            out.append(("lucky", f"Not seen in the inputs: {', '.join(absent)}."))
    return tuple(out)
