"""Log-platform entries → records → recognizers → events, with the export file's line accounting.

Every export parser in this package reads its platform's layout into one table of *entries* (one row
per log entry the platform stored) and hands it here:

| column | meaning |
|---|---|
| `line`, `span` | where the entry sits in the export file (1-based first line, physical lines it covers) |
| `pts` | the platform's time of the entry, as ISO 8601 text (UTC offset included) |
| `host` | the pod (or host) label: it becomes the event host, so per-pod figures work on exports |
| `stream` | what keeps one source's lines together (pod + container, log stream, label set) |
| `level_word` | the platform's severity, used when the message itself names no level |
| `body` | the log line as the application wrote it; multi-line entries (tracebacks) keep their `\\n` |

Why the entries go through the envelope's inner layer (`envelopes.frame_bodies`) instead of straight
to the recognizers: the message is the application's own line (`2024-01-15 10:02:00,164 ERROR app -
…`), and reading its header, continuation lines and noise exactly as in a pod file is what makes an
export give the findings its pod files give. Each stream is framed on its own, in time order, so
interleaved pods never join each other's tracebacks. A platform entry always starts a record unless it
looks like the continuation of the previous one (a platform that stored a traceback line by line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from parsers import churn
from parsers.base import RECORD_COLUMNS, FileParse, ParseContext
from parsers.envelopes import MAX_LINE_CHARS, frame_bodies, normalize_level, split_lines

if TYPE_CHECKING:
    import numpy as np
from parsers.exports.fields import epoch_iso
from parsers.noise import ACTIVITY
from parsers.recognize import APP_LOG, recognize
from postmortem.input.timeparse import with_parsed_ts
from postmortem.model import UnrecognizedSample
from postmortem.schema import conform_events, empty_events

MAX_SAMPLES = 5
ENTRY_SCHEMA = {
    "line": pl.UInt32, "span": pl.UInt32, "pts": pl.String, "host": pl.String, "stream": pl.String,
    "level_word": pl.String, "body": pl.String,
}

# An export parser's own kinds: entries no recognizer claims (its other events are the recognizers').
EXPORT_KINDS = (APP_LOG, ACTIVITY)


def entries_frame(rows: list[dict] | dict[str, list]) -> pl.DataFrame:
    """Entries from Python rows (small documents) with the schema above; missing keys are null."""
    if isinstance(rows, dict):
        return pl.DataFrame({k: rows.get(k) for k in ENTRY_SCHEMA} if rows else {}, schema=ENTRY_SCHEMA)
    return pl.DataFrame(rows, schema=ENTRY_SCHEMA, orient="row") if rows else pl.DataFrame(schema=ENTRY_SCHEMA)


def host_from_path(path: str) -> str:
    """The file name without its export suffixes: the host of entries that name none."""
    name = Path(path).name
    for suffix in (".gz", ".log", ".txt", ".json", ".jsonl", ".ndjson", ".csv", ".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name


def _no_lines(n: int) -> np.ndarray:
    """`n` lines none of which is covered yet."""
    import numpy as np  # late: see Lines.cover

    return np.zeros(n, dtype=bool)


@dataclass
class Lines:
    """The export's physical lines and which of them an entry (or the document around them) covers."""

    raw: pl.Series  # one string per physical line, as ingest counts them
    covered: np.ndarray = field(default_factory=lambda: _no_lines(0))

    @classmethod
    def of(cls, text: str) -> Lines:
        raw = split_lines(text).get_column("raw") if text else pl.Series("raw", [], dtype=pl.String)
        return cls(raw, _no_lines(raw.len()))

    def cover(self, starts: pl.Series | np.ndarray, spans: pl.Series | np.ndarray) -> None:
        """Mark lines [start, start + span) (1-based) as read into entries."""
        import numpy as np  # late: a command that reads no export never loads numpy (start-up)

        n = len(self.covered)
        s = np.asarray(starts, dtype=np.int64) - 1
        e = np.minimum(s + np.asarray(spans, dtype=np.int64), n)
        s = np.clip(s, 0, n)
        diff = np.zeros(n + 1, dtype=np.int64)
        np.add.at(diff, s, 1)
        np.add.at(diff, e, -1)
        self.covered |= np.cumsum(diff)[:n] > 0

    def cover_all(self) -> None:
        self.covered[:] = True


def parse_entries(entries: pl.DataFrame, lines: Lines, ctx: ParseContext, label: str, *,
                  problems: list[str] | None = None) -> FileParse:
    """Frame, recognize and account the entries of one export file (see the module docstring).

    Lines covered by entries (and by the document structure around them) are event lines; other
    non-blank lines are unrecognized, blank ones blank. Every entry becomes an event: unclaimed ones
    are `app.log`, as the platform already said they are log records."""
    import numpy as np  # late: see Lines.cover

    problems = list(problems or [])
    events = empty_events()
    n_records = 0
    if entries.height:
        records = _records(entries, ctx, label, ctx.summarize)
        n_records = records.height
        events = _events(records)
    nonblank = ~lines.raw.str.contains(r"^\s*$").to_numpy() if lines.raw.len() else np.zeros(0, dtype=bool)
    covered = lines.covered
    unrec_idx = np.flatnonzero(~covered & nonblank)
    samples = [UnrecognizedSample(int(i) + 1, (lines.raw[int(i)] or "")[:300]) for i in unrec_idx[:MAX_SAMPLES]]
    return FileParse(
        events=events,
        lines=int(lines.raw.len()),
        event_lines=int(covered.sum()),
        unrecognized_lines=int(unrec_idx.size),
        blank_lines=int((~covered & ~nonblank).sum()),
        records=n_records,
        problems=problems,
        unrecognized_samples=samples,
        label=label,
    )


def _ordered(entries: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Entries with `entry` (file order), `pts_ts`, sorted by stream and time.

    Exports newest-first (logcli's default direction) are turned around, so equal times keep the
    order the application wrote them in."""
    df = with_parsed_ts(entries.with_row_index("entry"), "pts", tz).rename({"ts": "pts_ts"}).drop("ts_yearless")
    steps = df.select(d=pl.col("pts_ts").diff().dt.total_microseconds()).get_column("d").drop_nulls()
    backward = int((steps < 0).sum()) > int((steps > 0).sum())
    tie = -pl.col("entry").cast(pl.Int64) if backward else pl.col("entry").cast(pl.Int64)
    return df.with_columns(_tie=tie, stream=pl.coalesce("stream", "host", pl.lit(""))).sort(
        "stream", "pts_ts", "_tie", nulls_last=True, maintain_order=True
    ).drop("_tie")


def _records(entries: pl.DataFrame, ctx: ParseContext, label: str, summarize: bool) -> pl.DataFrame:
    ordered = _ordered(entries, ctx.tz)
    # one row per physical line of each entry's message; `row` is unique, in stream and time order
    rows = (
        ordered.select("entry", "stream", "pts", "host", body=pl.col("body").fill_null("").str.split("\n"))
        .explode("body")
        .with_columns(
            body=pl.col("body").str.strip_suffix("\r").str.slice(0, MAX_LINE_CHARS),
            entry_start=pl.int_range(pl.len()).over("entry") == 0,
        )
        .with_row_index("row", offset=1)
    )
    framed: list[pl.DataFrame] = []
    for part in rows.partition_by("stream", maintain_order=True):
        lines = part.select(line="row", body="body", pts="pts", ohost="host", entry_start="entry_start")
        recs, _, activity = frame_bodies(lines, "export", ctx.tz, summarize)
        if "last_line" not in recs.columns:
            recs = recs.with_columns(**churn.no_summary())
        recs = with_parsed_ts(recs, "ts_text", ctx.tz).with_columns(
            level=normalize_level(pl.col("level_word"))).drop("ts_text", "level_word")
        if activity is not None and activity.height:
            recs = pl.concat([recs, activity.with_columns(**churn.no_summary()).select(recs.columns)],
                             how="vertical_relaxed")
        framed.append(recs)
    records = pl.concat(framed, how="vertical_relaxed")
    # back from row numbers to the export's own lines and fields
    where = rows.select("row", "entry").join(
        ordered.select("entry", "line", p_level=normalize_level(pl.col("level_word"))), on="entry", how="left")
    default_host = host_from_path(ctx.path)
    records = (
        records.join(where, left_on="line", right_on="row", how="left")
        .drop("line").rename({"line_right": "line"})
        .with_columns(
            level=pl.coalesce("level", "p_level"),
            host=pl.coalesce("host", pl.lit(default_host)),
            envelope=pl.coalesce("envelope", pl.lit(label)),
            path=pl.lit(ctx.path),
        )
        .sort("line", "entry", maintain_order=True)
        .with_row_index("rec")
    )
    return records.select(*RECORD_COLUMNS, "n_lines", *churn.SUMMARY_COLUMNS)


def _events(records: pl.DataFrame) -> pl.DataFrame:
    """Recognizers over the records (summarized activity aside); every record is an event."""
    is_activity = (pl.col("envelope") == "activity").fill_null(False)
    hits = recognize(records.filter(~is_activity))
    joined = records.join(hits, on="rec", how="left", suffix="_hit")

    def hit(col: str) -> list[str]:
        return [col] if col in joined.columns else []

    events = joined.with_columns(
        source=pl.coalesce("source", pl.lit("app")),
        kind=pl.when(is_activity).then(pl.lit("app.activity")).otherwise(pl.coalesce("kind", pl.lit("app.log"))),
        value=pl.when(is_activity).then(pl.col("n_lines").cast(pl.Float64)).otherwise(
            pl.col("value") if "value" in joined.columns else pl.lit(None, dtype=pl.Float64)),
        host=pl.coalesce(*hit("host_hit"), "host"),
        message=pl.coalesce(*hit("message"),
                            pl.col("text").str.strip_chars_start().str.extract(r"^([^\n]*)", 1).str.slice(0, 2000)),
    )
    return conform_events(events)


def parse_document(text: str, rows: list[dict], ctx: ParseContext, label: str, unit: str,
                   problems: list[str] | None = None) -> FileParse:
    """A whole JSON document: its lines are read up to the last entry (all of them when the document
    was read whole); no entry at all is said, not hidden."""
    entries = entries_frame(rows).with_columns(pts=epoch_iso(pl.col("pts"), unit))
    lines = Lines.of(text)
    problems = list(problems or [])
    if entries.height and not problems:
        lines.cover_all()
    elif entries.height:
        last = int((entries.get_column("line") + entries.get_column("span") - 1).max())
        lines.covered[:last] = True
    else:
        problems.append(f"{label}: the document holds no log entries")
    return parse_entries(entries, lines, ctx, label, problems=problems)
