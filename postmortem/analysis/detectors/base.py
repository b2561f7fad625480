"""What a detector is, and the evidence helpers every detector uses.

A detector has a `rule` (everything about the rule: ID, doc, role, phrase, actions, chart colour) and
`detect(events, ctx)` yielding `Finding`s. A detector that cannot cite evidence (file:line) does not
report. `RuleDetector` gives the optional parts of a rule a default: its recommendation with snippets
(`advise`), its own words in the summary (`opening`, `clause`, `sentence`) and how much of the
incident it explains (`explains`, which ranks triggers in the story).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import polars as pl

from postmortem.analysis.correlate import Context
from postmortem.messages_apart import restored
from postmortem.model import Confidence, Evidence, Figures, Finding, Rule, Severity

if TYPE_CHECKING:
    from postmortem.analysis.advice import Advice, Facts

MAX_EVIDENCE = 8
# what a finding reads of its rows (`finding`: the evidence and the times) and the rules of their hosts and ids: a
# filter, gather or sort copies every column it keeps, so rows that are most of a dense log keep these alone
ROW_COLUMNS = ("event_id", "ts", "path", "line", "host", "message")
LEADS_AT = 0.5  # a trigger explaining more than this share of the clients' errors leads the story
# what a finding says where the clients' failures would be: no client log was read, so none can be told (or denied)
NO_CLIENT_LOGS = "no client log was among the inputs"


class Detector(Protocol):
    rule: Rule

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterable[Finding]: ...

    def advise(self, facts: Facts) -> Advice | None: ...

    def opening(self, f: Finding) -> str | None: ...

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None: ...

    def named(self, f: Finding) -> str: ...

    def sentence(self, f: Finding) -> str | None: ...

    def explains(self, f: Finding) -> float | None: ...

    def outcome(self, f: Finding) -> str | None: ...

    def stops_server(self, f: Finding) -> bool: ...

    def silence(self, f: Finding) -> str | None: ...


class RuleDetector:
    """Defaults for the optional parts of a rule; detectors subclass it and override what they say."""

    rule: Rule

    def advise(self, facts: Facts) -> Advice | None:
        """(title, advice, snippets) filled with the incident's facts; None: the rule's doc text alone."""
        return None

    def opening(self, f: Finding) -> str | None:
        """A trigger's subject for the summary's first sentence ("A 4.2 s Redis outage … at 10:00:01 UTC")."""
        return None

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None:
        """What the trigger set off, as a predicate ("triggered a reconnect storm: …"); None: nothing."""
        return None

    def named(self, f: Finding) -> str:
        """What the summary calls this finding among the amplifiers or the impact: the rule's phrase, unless the
        finding's own evidence says something narrower (PM402 when only the app's own loop has no backoff, PM301
        when the count reached maxclients without a spike)."""
        return self.rule.phrase

    def sentence(self, f: Finding) -> str | None:
        """A sentence of its own after the amplifiers ("Errors persisted …"); None: named by phrase only."""
        return None

    def explains(self, f: Finding) -> float | None:
        """The share (0-1) of the clients' errors this finding accounts for, when the rule measures it; a
        trigger that explains most of them leads the story (story.py). None: not measured."""
        return None

    def outcome(self, f: Finding) -> str | None:
        """What a trigger did to the clients, with its finding's own figure, as a predicate ("refused 48 writes
        from all 8 pods (OOM at maxmemory)"): when another trigger opens the summary, this one is told after it in
        a sentence of its own (its `opening` + this). None: nothing to tell."""
        return None

    def stops_server(self, f: Finding) -> bool:
        """Whether the server answered no one for the finding's window (a command that blocked it): any other sign
        of it not answering then is this finding seen from outside (story.py tells them as one episode)."""
        return False

    def silence(self, f: Finding) -> str | None:
        """What the finding's figures say of the server's own log over its window, as a clause ("the server logged
        nothing from 20:17:18 to 20:17:21 UTC"): told when a command ran only in the later part of a stall
        (stall_parts.py). None: nothing."""
        return None


def at_time(ts) -> str:
    """' at HH:MM:SS UTC' for a finding's time, or '' when its evidence carried no time (a pasted
    traceback, a note): wording never assumes a finding is timed."""
    return f" at {ts:%H:%M:%S} UTC" if ts is not None else ""


def evidence_rows(rows: pl.DataFrame, limit: int = MAX_EVIDENCE) -> tuple[tuple[Evidence, ...], int]:
    """Turn event rows into evidence (first `limit` by time), plus how many more there were."""
    if rows.height == 0:
        return (), 0
    # the four columns read, before the sort: a sort copies every column it keeps
    cited = rows.select(c for c in ("event_id", "path", "line", "ts", "message") if c in rows.columns)
    ts = cited.get_column("ts")
    if rows.height - ts.null_count() > limit:  # the first `limit` come at or before the limit-th time: sort those only
        cited = cited.filter(pl.col("ts") <= ts.drop_nulls().bottom_k(limit).max())
    ordered = cited.sort(["ts", "path", "line"], nulls_last=True)
    picked = restored(ordered.head(limit))  # the quoted rows' own text, if kept apart (`messages_apart`)
    ev = tuple(
        Evidence(path=r["path"], line=int(r["line"] or 0), ts=r["ts"], text=(r["message"] or "")[:500])
        for r in picked.iter_rows(named=True)
    )
    return ev, rows.height - len(ev)


def finding(
    rule: Rule,
    title: str,
    rows: pl.DataFrame,
    figures: Figures,
    confidence: Confidence,
    entities: tuple[str, ...] = (),
    severity: Severity | None = None,
    start=None,
    end=None,
) -> Finding | None:
    """Build a Finding from the event rows that prove it; None when there is no evidence to cite."""
    evidence, more = evidence_rows(rows)
    if not evidence:
        return None
    ts = rows.get_column("ts")  # min and max skip nulls (None when every time is missing); no filter's copy
    if start is None:
        start = ts.min()
    if end is None:
        end = ts.max()
    return Finding(
        rule_id=rule.rule_id, name=rule.name, severity=severity or rule.severity, confidence=confidence,
        title=title, start=start, end=end, entities=tuple(sorted(set(entities))), stats=figures.as_stats(),
        evidence=evidence, evidence_more=more, recommendation=rule.recommendation, figures=figures,
    )


def rows_by_ids(events: pl.DataFrame, ids) -> pl.DataFrame:
    return events.filter(pl.col("event_id").is_in(list(ids)))
