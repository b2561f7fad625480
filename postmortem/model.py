"""The data model every stage shares: the kinds, rules, findings and the report's frozen values (the
events table's polars schema is `postmortem/schema.py`, so that drawing charts in the side process does
not load polars).

The column names, `source`/`kind` values, rule IDs and report keys are contracts (design.md §4, §6):
add to them, never rename.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType


@dataclass(frozen=True)
class Kind:
    """One value of the events' `kind` column, declared once by the parser that emits it.

    The flags are what the analysis and the charts read instead of keeping their own lists
    (`postmortem/kinds.py` assembles every parser's declarations into one table).
    """

    name: str  # e.g. "redis.timeout"; with `prefix`, the start of a family of kinds ("k8s.")
    family: str  # the source family that emits it: redis_client, redis_server, k8s_events, metrics, app
    meaning: str  # one sentence, the same as in docs/ARCHITECTURE.md
    problem: bool = False  # a sign of trouble whatever its level (timeline, incident window)
    unreachable: bool = False  # a client could not reach the endpoint (outage windows)
    attempt: bool = False  # one record of a connection attempt (attempts per second, storm window)
    connection_error: bool = False  # a command or connection did not get through (attempts chart)
    reconnecting: bool = False  # a client-side sign of a pod (re)connecting (per-host chart)
    weighted: bool = False  # a row may stand for many log lines: `value` says how many
    routine: bool = False  # never a problem, whatever level its line carries (`Redis is starting` is `#`)
    prefix: bool = False  # `name` is a prefix: `k8s.` + the apiserver reason verbatim

    def matches(self, kind: str) -> bool:
        return kind.startswith(self.name) if self.prefix else kind == self.name

# Normalized metric names (design.md §4).
METRIC_NAMES = (
    "connected_clients",
    "rejected_connections",
    "connections_received",
    "evicted_keys",
    "ops_per_sec",
    "blocked_clients",
    "used_memory",
    "maxclients",
    "server_load",
    "cpu",
)


class Severity(enum.IntEnum):
    """How bad a finding is; ordering matters for the exit code threshold."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def label(self) -> str:
        return self.name.lower()


class Confidence(enum.IntEnum):
    """How sure the detector is that its evidence means what it says."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2

    def label(self) -> str:
        return self.name.lower()


class Role(enum.StrEnum):
    """A rule's place in the metastable-failure story (trigger → amplifier → consequences)."""

    TRIGGER = "trigger"  # what knocked the system over (a Redis blip, a restart)
    AMPLIFIER = "amplifier"  # what kept it down after the trigger was gone (storms, retries, configs)
    CONSEQUENCE = "consequence"  # what users and the server suffered as a result
    DATA_QUALITY = "data_quality"  # about the inputs, not the incident


ACTION_KINDS = ("prevent", "mitigate", "process")


@dataclass(frozen=True)
class Rule:
    """Everything about a rule that is not its detection logic: identity, doc, role, words, actions.

    `what`, `why` and `recommendation` are the doc's three parts; `doc` joins them for `explain`.
    `phrase` is what the summary sentence calls a finding of this rule. `actions` are (kind, text)
    with kind in ACTION_KINDS. A rule whose window is shaded on charts sets `chart_colour` and
    `chart_label`. `config_cause` marks a rule that names a client or server configuration a team fixes
    (the batch index ranks those first as an incident's root cause, see `cause_rank`);
    `impact_duration` puts a finding's span among the Impact section's durations.
    """

    rule_id: str
    name: str
    severity: Severity
    summary: str
    what: str
    why: str
    recommendation: str
    role: Role
    phrase: str = ""
    actions: tuple[tuple[str, str], ...] = ()
    chart_colour: str | None = None
    chart_label: str | None = None
    config_cause: bool = False
    impact_duration: bool = False  # the Impact section lists how long a finding of this rule lasted
    bleeding: tuple[str, ...] = ()  # the playbook steps a finding calls for (keys of analysis/playbook.STEPS)
    lucky_if_absent: bool = False  # a consequence whose absence is luck worth writing in the lessons

    @property
    def cause_rank(self) -> int | None:
        """How directly a finding of this rule explains an incident, 0 first: a configuration to fix, a
        trigger, another amplifier, a consequence; None for data quality, which explains nothing."""
        if self.role == Role.DATA_QUALITY:
            return None
        if self.config_cause:
            return 0
        return {Role.TRIGGER: 1, Role.AMPLIFIER: 2}.get(self.role, 3)

    @property
    def doc(self) -> str:
        return f"What it detects: {self.what}\n\nWhy it matters: {self.why}\n\nRecommendation: {self.recommendation}"


class Figures:
    """Base of the per-rule figure dataclasses (`@dataclass(frozen=True, eq=False, repr=False)`, see `__repr__`):
    typed, documented numbers a finding measured.

    `as_stats()` is the serialized form (`Finding.stats`, the JSON report's `stats`, keys in field
    order); fields named in `OMIT_NONE` are left out while None (JSON keys stay what they always were).
    """

    OMIT_NONE: tuple[str, ...] = ()
    TABLES: tuple[str, ...] = ()  # fields holding rows (a list of dicts with the same keys): laid out as tables

    def as_stats(self) -> dict:
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is not None or f.name not in self.OMIT_NONE:
                out[f.name] = value
        return out

    def facts(self) -> dict[str, object]:
        """Figures other rules' recommendations may use, by fact name (see analysis/advice.py Facts)."""
        return {}

    def __repr__(self) -> str:
        """The dataclass repr, written once here for every subclass: they are declared `eq=False, repr=False`,
        so that importing the analysis does not compile a repr, an __eq__ and a __hash__ for each of ~30 classes
        (issue 20: ~0.3 ms a class) that nothing compares (a Finding leaves its figures out of its own
        comparison; two figures objects are equal only when they are the same one)."""
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({shown})"


@dataclass(frozen=True)
class Evidence:
    """One input line that proves a finding."""

    path: str
    line: int
    ts: datetime | None
    text: str


@dataclass(frozen=True)
class Finding:
    """A detector's conclusion with the evidence and the figures behind it."""

    rule_id: str
    name: str
    severity: Severity
    confidence: Confidence
    title: str
    start: datetime | None
    end: datetime | None
    entities: tuple[str, ...]
    stats: dict
    evidence: tuple[Evidence, ...]
    evidence_more: int = 0
    recommendation: str = ""
    # The typed figures `stats` was serialized from (None for findings read back from JSON); not compared.
    figures: Figures | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Snippet:
    lang: str  # code-fence language: csharp, text, python, yaml, conf, sh
    label: str
    code: str


@dataclass(frozen=True)
class Recommendation:
    rule_id: str
    title: str
    advice: str
    snippets: tuple[Snippet, ...] = ()
    same_as: tuple[tuple[str, str], ...] = ()  # (snippet label, rule ID) already shown above
    also: tuple[str, ...] = ()  # other rules whose advice is the same change (merged into this one)


@dataclass(frozen=True)
class ActionItem:
    kind: str  # one of ACTION_KINDS
    text: str
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class ShadedWindow:
    """A finding's window that charts shade, with its rule's colour and legend label."""

    rule_id: str
    start: datetime
    end: datetime
    colour: str
    label: str


@dataclass(frozen=True)
class UnrecognizedSample:
    line: int
    text: str


@dataclass
class InputFile:
    """Per-file accounting: every line is in an event, unrecognized, or blank; problems are said."""

    path: str
    parser: str = ""
    size_bytes: int = 0
    encoding: str = ""
    lines: int = 0
    records: int = 0
    events: int = 0
    event_lines: int = 0
    unrecognized_lines: int = 0
    blank_lines: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    problems: list[str] = field(default_factory=list)
    unrecognized_samples: list[UnrecognizedSample] = field(default_factory=list)
    skipped: bool = False
    # every time of a line log carried its own zone/offset (timeparse `ts_zoned`); False when some were read
    # in a zone; None when not known (file parsers state their own times)
    zoned: bool | None = None

    def accounted(self) -> bool:
        """True when parsed + unrecognized + blank lines add up to the file's lines."""
        return self.event_lines + self.unrecognized_lines + self.blank_lines == self.lines


@dataclass(frozen=True)
class InputSummary:
    """`InputFile` frozen for the Report: the same accounting, with tuples instead of lists."""

    path: str
    parser: str = ""
    size_bytes: int = 0
    encoding: str = ""
    lines: int = 0
    records: int = 0
    events: int = 0
    event_lines: int = 0
    unrecognized_lines: int = 0
    blank_lines: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    problems: tuple[str, ...] = ()
    unrecognized_samples: tuple[UnrecognizedSample, ...] = ()
    skipped: bool = False

    @classmethod
    def of(cls, info: InputFile) -> InputSummary:
        """The frozen copy of one file's accounting, taken when the analysis is done with it."""
        return cls(
            path=info.path, parser=info.parser, size_bytes=info.size_bytes, encoding=info.encoding,
            lines=info.lines, records=info.records, events=info.events, event_lines=info.event_lines,
            unrecognized_lines=info.unrecognized_lines, blank_lines=info.blank_lines, first_ts=info.first_ts,
            last_ts=info.last_ts, problems=tuple(info.problems),
            unrecognized_samples=tuple(info.unrecognized_samples), skipped=info.skipped,
        )

    def accounted(self) -> bool:
        return self.event_lines + self.unrecognized_lines + self.blank_lines == self.lines


@dataclass(frozen=True)
class SourceClock:
    """How one source's times were read (analysis/clocks.py): the zone and why — `carried` by the
    timestamps, `given` (--tz), `inferred` from shared edges, `default` — and the offset found for it."""

    path: str
    host: str | None  # a host inside the file with its own clock; None: the whole file
    source: str
    zone: str
    how: str  # carried, given, inferred, default
    offset_s: float  # its times minus true times, as estimated (0: none found)
    corrected: bool  # the offset was subtracted before correlation (not with --no-align)
    note: str  # why, and the evidence in words


@dataclass(frozen=True)
class TimelineEntry:
    ts: datetime
    end: datetime | None
    source: str
    title: str
    count: int
    evidence: tuple[Evidence, ...]
    rule_id: str = ""


def duration(start: datetime | None, end: datetime | None) -> str:
    """A span as people read it (`4.2 s`, `3 min 5 s`, `1 h 2 min`); `—` when an end is unknown."""
    if start is None or end is None:
        return "—"
    secs = max(0.0, (end - start).total_seconds())
    if secs < 60:
        return f"{secs:.1f} s"
    if secs < 3600:
        return f"{int(secs // 60)} min {int(secs % 60)} s"
    return f"{int(secs // 3600)} h {int(secs % 3600 // 60)} min"


# Sections the analysis derives from the events and findings (postmortem/analysis/sections.py), so every
# format shows the same figures.


@dataclass(frozen=True)
class KindRow:
    kind: str
    count: int
    hosts: int
    first: datetime | None
    last: datetime | None
    unit: str = "events"  # what `count` counts: log lines, or the facts they tell (`shutdowns`)


@dataclass(frozen=True)
class Impact:
    errors: tuple[KindRow, ...] = ()
    hosts: tuple[tuple[str, int], ...] = ()  # (host, problem events), most affected first
    endpoints: tuple[str, ...] = ()
    pods: tuple[str, ...] = ()
    durations: tuple[tuple[str, str], ...] = ()  # (what, how long)
    total_errors: int = 0


@dataclass(frozen=True)
class FirstSign:
    """When one source first showed the problem, and how long after the very first sign (`lag`)."""

    source: str
    ts: datetime
    lag: str
    kind: str
    evidence: Evidence


@dataclass(frozen=True)
class TimelineRow:
    """One row of the merged timeline: a finding window or an event burst, pointing at its evidence."""

    ts: datetime
    end: datetime | None
    source: str
    title: str
    rule_id: str
    anchor: str  # the finding / evidence this row links to (HTML id)
    evidence: tuple[Evidence, ...]
    row_id: str


# Chart data (postmortem/analysis/chart_data.py): what reports/charts.py plots, nothing else.


@dataclass(frozen=True)
class ResolutionStep:
    """Something in the evidence that ended or eased the incident: a restart, a CONFIG SET, a scale-up, a rollout."""

    ts: datetime
    what: str  # restart, config, scale, deploy, recovered
    text: str  # one sentence a person reads
    evidence: Evidence


@dataclass(frozen=True)
class ChartSeries:
    """One plotted line: `key` is the metric, event kind or host it counts."""

    key: str
    xs: tuple[datetime, ...]
    ys: tuple[float, ...]


@dataclass(frozen=True)
class ChartData:
    connections: tuple[ChartSeries, ...] = ()  # connected_clients, max per timestamp
    maxclients: float | None = None  # the limit line on the connections chart (its highest value)
    # maxclients as it was at each moment (from the metric series): the chart draws it as a step
    maxclients_steps: ChartSeries | None = None
    attempts: tuple[ChartSeries, ...] = ()  # per bucket and attempt/error kind, empty buckets as 0
    attempts_unit: str = "s"  # bucket: "s" up to an hour, "min" beyond
    pods: tuple[ChartSeries, ...] = ()  # per bucket for the top hosts (at least two hosts)
    pods_unit: str = "s"
    windows: tuple[ShadedWindow, ...] = ()


@dataclass(frozen=True)
class WhatIfRow:
    """One line of the what-if table: the observed incident, its replay, or a predicted configuration."""

    label: str
    policy: str  # the reconnect policy in words
    peak_attempts: float  # attempts per second, counted as the logs count them
    peak_connections: float | None
    maxclients: float | None
    rejections: float | None
    recovery_s: float | None  # None: not calm again within the compared horizon


@dataclass(frozen=True)
class WhatIf:
    """The incident replayed through a reconnect model (postmortem/analysis/replay/): calibration first,
    then the recommended configurations, only when the replay reproduced what was observed."""

    calibrated: bool
    tolerance: str
    verdict: str  # what the calibration showed, or why no prediction is shown
    rows: tuple[WhatIfRow, ...]  # observed, replay, then the predictions (only when calibrated)
    chart: tuple[ChartSeries, ...] = ()  # attempts per second: observed, replay, predicted
    inputs: tuple[str, ...] = ()  # how each input was measured
    horizon_s: float = 0.0


def frozen_mapping(value: Mapping | None = None) -> Mapping:
    """A read-only view of a copy of `value`, for the Report's mapping fields."""
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class Report:
    """Everything a renderer may show; renderers see nothing else. Every part is immutable."""

    tool_version: str
    inputs: tuple[InputSummary, ...]
    window_start: datetime | None
    window_end: datetime | None
    summary: str
    findings: tuple[Finding, ...]
    timeline: tuple[TimelineEntry, ...]
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    event_counts: Mapping = field(default_factory=frozen_mapping)
    templates: tuple[Mapping, ...] = ()
    redacted: bool = True
    generated_at: str | None = None
    extras: Mapping = field(default_factory=frozen_mapping)
    # The causal chain (story.py): (group, indices into `findings`) for the groups trigger, amplifiers,
    # impact, from rule roles, in the order the summary tells them (the leading trigger first).
    causes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    action_items: tuple[ActionItem, ...] = ()
    shaded_windows: tuple[ShadedWindow, ...] = ()
    clocks: tuple[SourceClock, ...] = ()  # every source's zone and clock offset (analysis/clocks.py)
    # Derived by postmortem/analysis/sections.py and chart_data.py (`with_sections`).
    impact: Impact = Impact()
    detection: tuple[FirstSign, ...] = ()
    merged_timeline: tuple[TimelineRow, ...] = ()
    charts: ChartData = ChartData()
    whatif: WhatIf | None = None  # the replay section (postmortem/analysis/replay/section.py)
    # What was read ("Read N files … into M events …"): for the appendix, not the Summary.
    accounting: str = ""
    resolution: tuple[ResolutionStep, ...] = ()  # what ended it, from the evidence (sections.resolution)
    stop_the_bleeding: tuple[str, ...] = ()  # playbook steps for these findings, in order (playbook.py)
    lessons: tuple[tuple[str, str], ...] = ()  # (went well | went badly | lucky, sentence) (playbook.py)

    def chain(self, group: str) -> tuple[str, ...]:
        """The rule IDs of one group of `causes` ("trigger", "amplifiers", "impact"), each once, in order."""
        ids = [self.findings[i].rule_id for g, idx in self.causes if g == group for i in idx]
        return tuple(dict.fromkeys(ids))

    def __post_init__(self) -> None:
        """Whoever builds a Report (pipeline, redaction, tests), its mappings end up read-only."""
        object.__setattr__(self, "event_counts", frozen_mapping(self.event_counts))
        object.__setattr__(self, "extras", frozen_mapping(self.extras))
        object.__setattr__(self, "templates", tuple(frozen_mapping(t) for t in self.templates))
