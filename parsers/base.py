"""The two parser shapes and the small helpers they share.

* A **Recognizer** classifies framed log records (one row per record: `rec`, `ts`, `level`,
  `logger`, `host`, `thread`, `text`, `path`, `line`, `envelope`;
  `thread` holds e.g. the redis-server `pid:role`) and returns rows only for the records it
  claims, with `rec`, `kind` and any of `entity`, `host`, `message`, `metric`, `value`, `attrs`.
  It must use polars expressions (no Python loop per record) and key fields by name.
* A **FileParser** owns whole files whose structure is not a line log (Kubernetes event lists,
  metric exports). `sniff(head)` scores the file's first 64 KiB; `parse(text, ctx)` returns a
  `FileParse` with events and line accounting.

Both declare `kinds` (every kind they emit, with its flags) and `samples`: real text each must recognize, and no other parser may claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

import polars as pl

from postmortem.model import Kind, UnrecognizedSample

RECORD_COLUMNS = ("rec", "ts", "level", "logger", "host", "thread", "text", "path", "line", "envelope")


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know besides the text: where it came from and how to read times."""

    path: str
    tz: str = "UTC"
    now: datetime | None = None  # reference for relative ages ("5m ago"); defaults to file mtime
    now_source: str = "file modification time"
    year: int | None = None
    summarize: bool = True  # low-level app lines as app.activity (parsers/noise.py), for record-producing parsers


@dataclass
class FileParse:
    """A whole-file parser's result. event_lines + unrecognized_lines + blank_lines == lines."""

    events: pl.DataFrame
    lines: int
    event_lines: int
    unrecognized_lines: int
    blank_lines: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)
    unrecognized_samples: list[UnrecognizedSample] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    label: str = ""  # what framed the file, e.g. "log:cri+iso_level"; defaults to the parser name
    # per event row: its time carried its own zone (timeparse.py `ts_zoned`); None when not known (file parsers)
    ts_zoned: pl.Series | None = None


class Recognizer(Protocol):
    name: ClassVar[str]  # the `source` value of its events
    kinds: ClassVar[tuple[Kind, ...]]  # every kind it emits (postmortem/kinds.py assembles the table)
    keep_words: ClassVar[tuple[str, ...]]  # words (lowercase, literal) that keep a line out of noise folding
    samples: ClassVar[tuple[str, ...]]
    example: ClassVar[str]  # one line for `postmortem formats`

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame: ...


class FileParser(Protocol):
    """A whole-file format. Optional `streams_by: ClassVar[str]`: "line" (one entry per line, JSON lines)
    or "csv" (a CSV with one header line): a big file is then parsed piece by piece as it is read,
    cut between entries (postmortem/input/read_file.py), so memory does not grow with the file."""

    name: ClassVar[str]
    kinds: ClassVar[tuple[Kind, ...]]
    samples: ClassVar[tuple[str, ...]]
    example: ClassVar[str]

    def sniff(self, head: str) -> float: ...

    def parse(self, text: str, ctx: ParseContext) -> FileParse: ...


def no_claims() -> pl.DataFrame:
    """A recognizer's answer when it claims none of the records (the columns `recognize` always has)."""
    return pl.DataFrame(schema={"rec": pl.UInt32, "kind": pl.String})


def whole_line(pattern: str) -> str:
    """A multiline regex for the whole line that holds `pattern` (recognizers quote that line as detail)."""
    return r"(?m)^[^\n]*(?:" + pattern + r")[^\n]*$"


def attrs_json(**fields: pl.Expr) -> pl.Expr:
    """Build the `attrs` JSON string from named expressions (null fields are kept as JSON null)."""
    return pl.struct([e.alias(k) for k, e in fields.items()]).struct.json_encode()


def kv_extract(text: pl.Expr, key: str, value: str = r"[^,]*") -> pl.Expr:
    """Extract `key: value` from a comma-separated field list (`, qs: 12, ...`), by name not position."""
    import re

    return text.str.extract(r"(?:^|[\s,(])" + re.escape(key) + r": (" + value + r")", 1).str.strip_chars()
