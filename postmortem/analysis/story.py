"""The causal story: trigger → amplifier → impact, following the metastable-failure model.

A metastable failure needs a trigger (a Redis blip, a restart) and an amplifier that keeps the
system in the bad state after the trigger is gone (retries without backoff, connection per request,
abortConnect=true). The report's summary opens with this chain, in two or three sentences with numbers.

Which rule plays which part is the rule's `role`; what a rule is called is its `phrase`; a rule that
needs its own words says them through its detector (`opening`, `clause`, `sentence`). Triggers lead in
registry order, except that one whose finding explains most of the clients' errors (`explains` above
LEADS_AT) comes first, and its own clause is told first; a stall leads a command that ran inside it once it was
under way, and tells the command as its later part (stall_parts.py). No rule is named here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from postmortem.analysis import stall_parts
from postmortem.analysis.clocks import AGREE_S
from postmortem.analysis.detectors.base import LEADS_AT, Detector, at_time
from postmortem.model import Finding, Role

# Report groups of the causal chain, in reading order, and the role each shows. A configuration that is
# known to amplify (a rule with `config_cause`) is an amplifier only when something was amplified: a
# behaviour rule (storm, retry storm) or a consequence fired; otherwise it is a risk the outage exposed.
GROUPS = (("trigger", Role.TRIGGER), ("amplifiers", Role.AMPLIFIER), ("impact", Role.CONSEQUENCE))
RISKS = "risks"


def _amplified(present: Sequence[Detector], findings: Sequence[Finding]) -> bool:
    """A behaviour rule fired (a storm, retries that outlived the outage), or a consequence the trigger may have
    caused: one seen from before the first trigger began (`_before_trigger`) was not its doing."""
    before = _before_trigger(present, findings)
    return any((d.rule.role == Role.AMPLIFIER and not d.rule.config_cause)
               or (d.rule.role == Role.CONSEQUENCE and d.rule.rule_id not in before) for d in present)


def _before_trigger(present: Sequence[Detector], findings: Sequence[Finding]) -> set[str]:
    """The consequence rules whose every finding began before the first trigger did, by more than two clocks may
    disagree (`clocks.AGREE_S`): a fleet refused at maxclients 6 s before a restart (storm-rate50-long-8), connected
    clients at maxclients and rejected connections all along, was no outage's consequence. Untimed findings, or no
    timed trigger: none."""
    triggers = {d.rule.rule_id for d in present if d.rule.role == Role.TRIGGER}
    starts = [f.start for f in findings if f.rule_id in triggers and f.start is not None]
    if not starts:
        return set()
    began = min(starts) - timedelta(seconds=AGREE_S)
    out = set()
    for d in present:
        own = [f.start for f in findings if f.rule_id == d.rule.rule_id]
        if d.rule.role == Role.CONSEQUENCE and own and all(t is not None and t < began for t in own):
            out.add(d.rule.rule_id)
    return out


def _group_of(d: Detector, amplified: bool) -> str | None:
    if d.rule.role == Role.AMPLIFIER and d.rule.config_cause and not amplified:
        return RISKS
    return next((group for group, role in GROUPS if role == d.rule.role), None)


NO_TRIGGER = "No Redis outage or other trigger shows in these logs"


@dataclass(frozen=True)
class Story:
    """The chain's rule IDs by part (the same order as `causes`) and the summary that tells it."""

    trigger: tuple[str, ...]
    amplifiers: tuple[str, ...]
    impact: tuple[str, ...]
    summary: str


def causes(findings: Sequence[Finding], detectors: Sequence[Detector]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Finding indices per group (trigger / amplifiers / impact, and risks: amplifying configurations when
    nothing was amplified), from each rule's role, in the story's order (the trigger that explains most of
    the clients' errors first, as the summary tells it); data-quality findings belong to no group."""
    first: dict[str, Finding] = {}
    for f in findings:
        first.setdefault(f.rule_id, f)
    present = _lead_first([d for d in detectors if d.rule.rule_id in first], first)
    order = {d.rule.rule_id: n for n, d in enumerate(present)}
    amplified = _amplified(present, findings)
    group_of = {d.rule.rule_id: _group_of(d, amplified) for d in detectors}
    out = []
    for group in (*(g for g, _ in GROUPS), RISKS):
        idx = tuple(sorted((i for i, f in enumerate(findings) if group_of.get(f.rule_id) == group),
                           key=lambda i: order[findings[i].rule_id]))
        if group != RISKS or idx:
            out.append((group, idx))
    return tuple(out)


def build_story(findings: Sequence[Finding], detectors: Sequence[Detector]) -> Story | None:
    """Link the findings into one chain; None when no finding has a part in it."""
    first: dict[str, Finding] = {}
    for f in findings:
        first.setdefault(f.rule_id, f)
    present = _lead_first([d for d in detectors if d.rule.rule_id in first], first)  # registry order
    parts = {role: tuple(d.rule.rule_id for d in present if d.rule.role == role) for _, role in GROUPS}
    if not any(parts.values()):
        return None
    triggers = [d for d in present if d.rule.role == Role.TRIGGER]
    head = "Redis clients"
    if triggers:
        lead = first[triggers[0].rule.rule_id]
        head = triggers[0].opening(lead) or f"{triggers[0].rule.phrase.capitalize()}{at_time(lead.start)}"
    clause, told = "", set()
    for d in present:
        if d.rule.role == Role.TRIGGER and d is not triggers[0]:  # a trigger that does not lead sets nothing off
            continue
        said = d.clause(first[d.rule.rule_id], findings)
        if said is not None:
            told.add(d.rule.rule_id)
            clause = clause or said
    sentences = []
    later = _later_triggers(triggers, first, findings)
    # the lead trigger says what it did with its own figure when nothing else was said of it
    lead_outcome = triggers[0].outcome(first[triggers[0].rule.rule_id]) if triggers else None
    if triggers and clause:
        sentences.append(f"{head} {clause}.")
    elif triggers:
        sentences.append(f"{head} {lead_outcome or 'disrupted the Redis clients'}.")
    elif clause:
        sentences.append(f"Redis clients {clause}.")
    own = [(d, d.sentence(first[d.rule.rule_id])) for d in present]
    told |= {d.rule.rule_id for d, s in own if s}
    named = [d for d in present if d.rule.role == Role.AMPLIFIER and d.rule.rule_id not in told and d.rule.phrase]
    amplified = _amplified(present, findings)
    no_trigger_told, opened = False, bool(sentences)
    if named:
        said = _join([d.named(first[d.rule.rule_id]) for d in named]) + " (" + ", ".join(d.rule.rule_id for d in named) + ")"
        if not opened:  # "Nothing amplified it" / "It was amplified" need an "it": say that no trigger shows
            no_trigger_told = True
            sentences.append(f"{NO_TRIGGER}, but the clients run with {said}, a known amplifier of reconnect storms.")
        elif not amplified:
            sentences.append(f"Nothing amplified it, but the clients run with {said}, a known amplifier of "
                             "reconnect storms.")
        else:
            sentences.append(f"It was amplified by {said}.")
    sentences += later
    sentences += [s for _, s in own if s]
    untold = [d for d in present if d.rule.role == Role.CONSEQUENCE and d.rule.rule_id not in told and d.rule.phrase]
    only_risks = not opened and not later and not any(s for _, s in own)
    if untold and only_risks:  # nothing to attach them to: say so, and what each rule measured
        sentences.append(("" if no_trigger_told else NO_TRIGGER + ". ") + "Seen: " + "; ".join(
            f"{first[d.rule.rule_id].title} ({d.rule.rule_id})" for d in untold) + ".")
    elif untold:
        before = _before_trigger(present, findings) if opened and not amplified else set()
        after = [d for d in untold if d.rule.rule_id not in before]
        if after:
            sentences.append("Impact also included " + _join([d.named(first[d.rule.rule_id]) for d in after]) + ".")
        if len(after) < len(untold):  # the trigger's "it": seen before it, not its impact
            seen = _join([d.named(first[d.rule.rule_id]) for d in untold if d.rule.rule_id in before])
            sentences.append(f"{seen[0].upper()}{seen[1:]} began before it.")
    return Story(parts[Role.TRIGGER], parts[Role.AMPLIFIER], parts[Role.CONSEQUENCE], " ".join(sentences))


def _later_triggers(triggers: list[Detector], first: dict[str, Finding], findings: Sequence[Finding]) -> list[str]:
    """A sentence for each trigger after the one that opens the summary, in the order they happened (its opening
    and its `outcome`, the figure of its own finding), unless it is the same episode as one already told, seen
    another way (a KEYS run and the hang it caused: the same client timeouts prove both). eviction-restart-8: an
    outage, then 48 writes refused at maxmemory once Redis was back; eviction-restart-16: writes refused from
    before a restart to after it, the restart's refused connections its own. A command that ran inside the leading
    stall after it began is told as that stall's later part (stall_parts.py)."""
    if not triggers:
        return []
    lead, lead_f = triggers[0], first[triggers[0].rule.rule_id]
    told = [(lead, lead_f)]
    out = []
    for d in triggers[1:]:
        f = first[d.rule.rule_id]
        opening, outcome = d.opening(f), d.outcome(f)
        if opening and outcome and stall_parts.ran_inside(lead, lead_f, d, f):
            told.append((d, f))
            out.append(stall_parts.parts(lead, lead_f, d, f, findings, {t.rule.rule_id: t for t in triggers})
                       or f"{opening} {outcome}.")
            continue
        if not opening or not outcome or any(_same_episode(f, t) or _while_stopped(f, td, t) or
                                             _while_stopped(t, d, f) for td, t in told):
            continue
        told.append((d, f))
        out.append(f"{opening} {outcome}.")
    return out


def _while_stopped(a: Finding, d: Detector, b: Finding) -> bool:
    """Whether `a` happened while `b`, from detector `d`, kept the server from answering anyone: most of `a`'s
    window inside `b`'s (the unanswered scrapes of a KEYS run, told by an export and the server's slowlog with no
    client log to cite in common: slow-32 without its clients told a 9.5 s KEYS and a 9.4 s outage as two)."""
    if not d.stops_server(b) or None in (a.start, b.start):
        return False
    a_end, b_end = a.end or a.start, b.end or b.start
    inside = (min(a_end, b_end) - max(a.start, b.start)).total_seconds()
    return inside >= 0 and inside >= (a_end - a.start).total_seconds() / 2


def _same_episode(a: Finding, b: Finding) -> bool:
    """Two triggers whose windows share a moment and whose evidence cites a line in common (an untimed finding
    cannot be told apart by time: its evidence decides)."""
    timed = a.start is not None and b.start is not None
    if timed and not (a.start <= (b.end or b.start) and b.start <= (a.end or a.start)):
        return False
    return bool({(e.path, e.line) for e in a.evidence} & {(e.path, e.line) for e in b.evidence})


def _lead_first(present: list[Detector], first: dict[str, Finding]) -> list[Detector]:
    """Registry order, with the triggers that explain most of the clients' errors first (largest share
    first): the cause with the strongest evidence opens the summary. The other triggers take their places
    in the order they happened (untimed last), so the summary tells them as they came. A stall leads a command that
    ran inside it once it was under way, whatever their shares (`stall_parts.leader`)."""
    def share(d: Detector) -> float:
        explains = getattr(d, "explains", None)
        value = explains(first[d.rule.rule_id]) if explains else None
        return value if d.rule.role == Role.TRIGGER and value is not None and value > LEADS_AT else 0.0

    ranked = sorted(present, key=lambda d: -share(d))
    leads = [d for d in ranked if share(d) > 0]
    rest = [d for d in ranked if share(d) == 0]
    by_time = iter(sorted((d for d in rest if d.rule.role == Role.TRIGGER),
                          key=lambda d: (first[d.rule.rule_id].start is None,
                                         first[d.rule.rule_id].start or datetime.min.replace(tzinfo=UTC))))
    out = leads + [next(by_time) if d.rule.role == Role.TRIGGER else d for d in rest]
    # a stall that began before the command that ran inside it leads, whatever their shares (stall_parts.py)
    triggers = [d for d in out if d.rule.role == Role.TRIGGER]
    other = stall_parts.leader(triggers, first)
    if other is not None:
        i, j = out.index(triggers[0]), out.index(other)
        out[i], out[j] = other, triggers[0]
    return out


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
