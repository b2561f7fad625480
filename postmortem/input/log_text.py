"""Log text → events: frame it into records, run the recognizers over the records of many files at once,
and the last resort when framing or recognizing crashes (every line counted, none an event)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from parsers import FileParse, ParseContext
from parsers.envelopes import MAX_LINE_CHARS, frame_counted
from parsers.noise import ACTIVITY
from parsers.recognize import APP_LOG, recognize
from postmortem.failures import RECOVERABLE
from postmortem.model import UnrecognizedSample
from postmortem.schema import conform_events, empty_events

MAX_SAMPLES = 5  # unrecognized lines kept per file, to show what was not read


def host_from_path(path: str) -> str:
    """The default host of a log: its file name stem (`kubectl logs` dumps are one file per pod)."""
    name = Path(path).name
    for suffix in (".gz", ".log", ".txt", ".json", ".jsonl", ".ndjson"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _first_line(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars_start().str.extract(r"^([^\n]*)", 1).str.slice(0, 2000)


@dataclass
class FramedLog:
    """A log file (or a piece of one) framed into records, waiting for the recognizers (run over many
    files at once)."""

    records: pl.DataFrame
    lines: int
    blank: int
    truncated: int
    label: str


def frame_log_text(text: str, ctx: ParseContext, summarize: bool = True) -> FramedLog:
    """Frame a text/JSON log into records with `path` and `host` set.

    Noise (single-line info/debug records with nothing Redis-related, parsers/noise.py) becomes
    `app.activity` records, one per host and second, with `n_lines` = the number of records.
    """
    records, plan, blank, truncated, lines = frame_counted(text, ctx.tz, summarize=summarize)
    records = records.with_columns(
        path=pl.lit(ctx.path),
        host=pl.coalesce("host", pl.lit(host_from_path(ctx.path))),
    )
    return FramedLog(records, lines, blank, truncated, plan.label())


def recognize_records(records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The recognizers over framed records of any number of files (a `_file` column keeps them apart):
    (events, unrecognized records), both in record order; unclaimed framed records become `app.log`."""
    records = records.with_row_index("rec")
    is_activity = (pl.col("envelope") == "activity").fill_null(False)
    hits = recognize(records.filter(~is_activity))
    joined = records.join(hits, on="rec", how="left", suffix="_hit")
    is_app = pl.col("source").is_null() & pl.col("envelope").is_not_null()
    known = pl.col("source").is_not_null() | is_app
    events = joined.filter(known).with_columns(
        source=pl.coalesce("source", pl.lit(APP_LOG.family)),
        kind=pl.when(is_activity).then(pl.lit(ACTIVITY.name)).otherwise(pl.coalesce("kind", pl.lit(APP_LOG.name))),
        value=pl.when(is_activity).then(pl.col("n_lines").cast(pl.Float64)).otherwise(
            pl.col("value") if "value" in joined.columns else pl.lit(None, dtype=pl.Float64)),
        host=pl.coalesce(*(["host_hit"] if "host_hit" in joined.columns else []), "host"),
        message=pl.coalesce(*(["message"] if "message" in joined.columns else []), _first_line(pl.col("text"))),
    )
    return events, joined.filter(~known)


def classify_framed(framed: list[FramedLog]) -> list[FileParse]:
    """Run the recognizers once over the records of many files; unclaimed framed records become `app.log`.

    One pass over all files instead of one per file: each recognizer's fixed cost (regex compilation,
    plan building) is paid once per batch, which matters for folders of many small pod logs.
    """
    if not framed:
        return []
    records = pl.concat(
        [f.records.with_columns(_file=pl.lit(i, dtype=pl.UInt32)) for i, f in enumerate(framed)],
        how="vertical_relaxed",
    )
    events, unrec = recognize_records(records)
    events_by_file = events.partition_by("_file", as_dict=True, maintain_order=True)
    unrec_by_file = unrec.partition_by("_file", as_dict=True, maintain_order=True)
    out = []
    for i, f in enumerate(framed):
        ev = events_by_file.get((i,), events.head(0))
        un = unrec_by_file.get((i,), unrec.head(0))
        problems = []
        if f.truncated:
            problems.append(f"{f.truncated} lines longer than {MAX_LINE_CHARS} characters were cut for parsing")
        samples = [
            UnrecognizedSample(int(r["line"]), (r["text"] or "")[:300])
            for r in un.head(MAX_SAMPLES).select("line", "text").iter_rows(named=True)
        ]
        out.append(FileParse(
            events=conform_events(ev),
            ts_zoned=ev.get_column("ts_zoned") if "ts_zoned" in ev.columns else None,
            lines=f.lines,
            event_lines=int(ev.get_column("n_lines").sum() or 0),
            unrecognized_lines=int(un.get_column("n_lines").sum() or 0),
            blank_lines=f.blank,
            records=f.records.height,
            problems=problems,
            unrecognized_samples=samples,
            label=f.label,
        ))
    return out


def parse_log_text(text: str, ctx: ParseContext, summarize: bool = True) -> FileParse:
    """Frame and classify one log file (batch ingest frames files first and classifies them together)."""
    return classify_framed([frame_log_text(text, ctx, summarize)])[0]


def parse_log_guarded(text: str, ctx: ParseContext, summarize: bool = True) -> FileParse:
    """Line framing, with a last resort: if it crashes, every line is counted, none is an event."""
    try:
        return parse_log_text(text, ctx, summarize)
    except RECOVERABLE as exc:  # noqa: BLE001 - one hostile file must not stop the analysis
        return all_unrecognized(text, exc)


def classify_guarded(framed: FramedLog) -> FileParse:
    """Recognize one framed file alone; if the recognizers crash on it, its lines are counted unrecognized."""
    try:
        return classify_framed([framed])[0]
    except RECOVERABLE as exc:  # noqa: BLE001
        samples = [UnrecognizedSample(int(r["line"]), (r["text"] or "")[:300])
                   for r in framed.records.head(MAX_SAMPLES).select("line", "text").iter_rows(named=True)]
        return _unrecognized_result(framed.lines, framed.blank, samples, exc)


def all_unrecognized(text: str, exc: BaseException) -> FileParse:
    """The last resort for a file the log parser crashed on: every line counted, none an event."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    blank = sum(1 for ln in lines if not ln.strip())
    samples = [UnrecognizedSample(i, ln[:300]) for i, ln in enumerate(lines, 1) if ln.strip()][:MAX_SAMPLES]
    return _unrecognized_result(len(lines), blank, samples, exc)


def _unrecognized_result(lines: int, blank: int, samples: list[UnrecognizedSample],
                         exc: BaseException) -> FileParse:
    return FileParse(
        events=empty_events(), lines=lines, event_lines=0, unrecognized_lines=lines - blank,
        blank_lines=blank, unrecognized_samples=samples, label="none",
        problems=[f"log parser failed ({type(exc).__name__}: {str(exc)[:200]}); all lines counted as unrecognized"],
    )
