"""The data model every stage shares: the events table schema and the report's frozen values.

The column names, `source`/`kind` values, rule IDs and report keys are contracts (design.md §4, §6):
add to them, never rename.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import datetime

import polars as pl

LEVELS = ("trace", "debug", "info", "warning", "error", "critical")
LEVEL_DTYPE = pl.Enum(list(LEVELS))
TS_DTYPE = pl.Datetime("us", "UTC")

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.UInt32(),
    "ts": TS_DTYPE,
    "source": pl.String(),
    "kind": pl.String(),
    "path": pl.String(),
    "line": pl.UInt32(),
    "level": LEVEL_DTYPE,
    "host": pl.String(),
    "entity": pl.String(),
    "message": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "attrs": pl.String(),
}
EVENT_COLUMNS = tuple(EVENT_SCHEMA)

SOURCES = ("stackexchange_redis", "redis_py", "redis_server", "k8s_events", "metrics", "app")

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


# Kinds whose row may stand for many log lines (summarized noise, summarized connection churn): their
# `value` is how many. Anything that counts these kinds must sum `event_weight()`, not count rows.
WEIGHTED_KINDS = ("app.activity", "redis.server.client_accepted", "redis.server.client_closed")


def event_weight() -> pl.Expr:
    """How many log records an event stands for: `value` for `WEIGHTED_KINDS` (1 when null), else 1."""
    return (
        pl.when(pl.col("kind").is_in(WEIGHTED_KINDS))
        .then(pl.col("value").fill_null(1.0))
        .otherwise(pl.lit(1.0))
    )


def weighted_count(events: pl.DataFrame) -> int:
    """How many log records `events` stands for: the sum of `event_weight()` (0 for no rows)."""
    return int(round(events.select(event_weight().sum()).item() or 0)) if events.height else 0


def empty_events() -> pl.DataFrame:
    """An events table with no rows but the full schema, so concat and joins never guess types."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def conform_events(df: pl.DataFrame) -> pl.DataFrame:
    """Give a parser's output exactly the events schema: missing columns become null, order fixed."""
    cols = []
    for name, dtype in EVENT_SCHEMA.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype, strict=False))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)


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
    (the batch index ranks those first as an incident's root cause, see `cause_rank`).
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
    """Base of the per-rule figure dataclasses: typed, documented numbers a finding measured.

    `as_stats()` is the serialized form (`Finding.stats`, the JSON report's `stats`, keys in field
    order); fields named in `OMIT_NONE` are left out while None (JSON keys stay what they always were).
    """

    OMIT_NONE: tuple[str, ...] = ()

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

    def accounted(self) -> bool:
        """True when parsed + unrecognized + blank lines add up to the file's lines."""
        return self.event_lines + self.unrecognized_lines + self.blank_lines == self.lines


@dataclass(frozen=True)
class TimelineEntry:
    ts: datetime
    end: datetime | None
    source: str
    title: str
    count: int
    evidence: tuple[Evidence, ...]
    rule_id: str = ""


@dataclass(frozen=True)
class Report:
    """Everything a renderer may show; renderers see nothing else."""

    tool_version: str
    inputs: tuple[InputFile, ...]
    window_start: datetime | None
    window_end: datetime | None
    summary: str
    findings: tuple[Finding, ...]
    timeline: tuple[TimelineEntry, ...]
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    event_counts: dict = field(default_factory=dict)
    templates: tuple[dict, ...] = ()
    redacted: bool = True
    generated_at: str | None = None
    extras: dict = field(default_factory=dict)
    # The causal chain (story.py): {"trigger": [...], "amplifiers": [...], "impact": [...]}, each a list of
    # rule IDs in registry order; empty when no finding has a role in the story.
    story: dict = field(default_factory=dict)
    # Root causes: (group, indices into `findings`) for the groups trigger, amplifiers, impact, from rule roles.
    causes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    action_items: tuple[ActionItem, ...] = ()
    shaded_windows: tuple[ShadedWindow, ...] = ()
