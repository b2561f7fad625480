"""The causal story: trigger → amplifier → impact, following the metastable-failure model.

A metastable failure needs a trigger (a Redis blip, a scale-out) and an amplifier that keeps the
system in the bad state after the trigger is gone (retries without backoff, connection per request,
abortConnect=true). The report's summary opens with this chain, in two or three sentences with numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from postmortem.model import Finding

TRIGGER_RULES = ("PM100", "PM107", "PM202")
AMPLIFIER_RULES = ("PM101", "PM102", "PM401", "PM402", "PM403", "PM404", "PM405", "PM406", "PM203")
IMPACT_RULES = ("PM103", "PM104", "PM105", "PM106", "PM201", "PM301", "PM302", "PM303", "PM304")

_AMPLIFIER_PHRASES = {
    "PM401": "abortConnect=true",
    "PM402": "retries without backoff",
    "PM403": "a connection per request",
    "PM404": "uncapped redis-py pools",
    "PM405": "a .NET ThreadPool minimum below the burst",
    "PM406": "misconfigured timeouts",
    "PM203": "liveness probes that depend on Redis",
}
_IMPACT_PHRASES = {
    "PM103": "maxclients saturation",
    "PM104": "exhausted client pools",
    "PM105": ".NET thread-pool starvation",
    "PM106": "timeouts on live connections",
    "PM201": "pod restarts",
    "PM301": "a connected-clients spike",
    "PM302": "rejected connections",
    "PM303": "connection churn",
    "PM304": "evictions",
}


@dataclass(frozen=True)
class Story:
    trigger: tuple[str, ...]
    amplifiers: tuple[str, ...]
    impact: tuple[str, ...]
    summary: str

    def as_dict(self) -> dict:
        return {"trigger": list(self.trigger), "amplifiers": list(self.amplifiers), "impact": list(self.impact)}


def _first(findings: list[Finding], rule_id: str) -> Finding | None:
    return next((f for f in findings if f.rule_id == rule_id), None)


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _trigger_sentence(f: Finding) -> str:
    s = f.stats
    if f.rule_id == "PM100":
        where = s.get("endpoint") or "Redis"
        return f"A {s.get('seconds', 0):.1f} s Redis outage ({where}) at {f.start:%H:%M:%S} UTC"
    if f.rule_id == "PM107":
        return f"Redis loading its dataset after a restart at {f.start:%H:%M:%S} UTC"
    return f"An autoscaler scale-out at {f.start:%H:%M:%S} UTC" if f.start else "An autoscaler scale-out"


def _storm_clause(storm: Finding | None, sat: Finding | None) -> str:
    if storm is None:
        if sat is not None:
            return f"pushed Redis to maxclients ({_n(sat.stats.get('rejections_logged', 0))} rejected connections)"
        return ""
    s = storm.stats
    text = f"triggered a reconnect storm: {_n(s.get('attempts', 0))} connection attempts peaking at {_n(s.get('peak_attempts_per_s', 0))}/s"
    if "peak_vs_baseline" in s:
        text += f" ({s['peak_vs_baseline']}× baseline)"
    if "pods" in s:
        text += f" from {s['pods']} pods"
        if "synchrony" in s:
            text += f", {round(100 * s['synchrony'])} % of them in the same 100 ms"
    rejected = s.get("rejected") or (sat.stats.get("rejections_logged") if sat else 0)
    if rejected:
        text += f", {_n(rejected)} rejected at maxclients"
    return text


def build_story(findings: list[Finding]) -> Story | None:
    """Link the findings into one chain; None when there is no trigger or amplifier to speak of."""
    ids = {f.rule_id for f in findings}
    trigger = tuple(r for r in TRIGGER_RULES if r in ids)
    amplifiers = tuple(r for r in AMPLIFIER_RULES if r in ids)
    impact = tuple(r for r in IMPACT_RULES if r in ids)
    if not trigger and not amplifiers and not impact:
        return None
    sentences = []
    storm, sat = _first(findings, "PM101"), _first(findings, "PM103")
    head = _trigger_sentence(_first(findings, trigger[0])) if trigger else "Redis clients"
    clause = _storm_clause(storm, sat)
    if trigger and clause:
        sentences.append(f"{head} {clause}.")
    elif trigger:
        sentences.append(f"{head} disrupted the Redis clients.")
    elif clause:
        sentences.append(f"Redis clients {clause}.")
    causes = [_AMPLIFIER_PHRASES[r] for r in amplifiers if r in _AMPLIFIER_PHRASES]
    if causes:
        lead = "It was amplified by " if sentences else "The clients were configured with "
        sentences.append(lead + _join(causes) + " (" + ", ".join(r for r in amplifiers if r in _AMPLIFIER_PHRASES) + ").")
    retry = _first(findings, "PM102")
    if retry is not None:
        sentences.append(
            f"Errors persisted {retry.stats.get('persistence_s')} s after Redis was back "
            f"({_n(retry.stats.get('errors_after_trigger', 0))} errors from {retry.stats.get('hosts')} hosts)."
        )
    rest = [_IMPACT_PHRASES[r] for r in impact if r in _IMPACT_PHRASES and r != "PM103"]
    if rest:
        sentences.append("Impact also included " + _join(rest) + ".")
    return Story(trigger, amplifiers, impact, " ".join(sentences))


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
