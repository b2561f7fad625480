"""Ingest: discover files, decode them, pick a parser per file by content, and build the events table.

Nothing is lost: every line of every file ends up in an event, counted as unrecognized, or counted
as blank, and `InputFile` says which; every problem is one line naming the file.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from parsers import FILE_PARSERS, FileParse, ParseContext
from parsers.envelopes import MAX_LINE_CHARS, frame_counted
from parsers.recognize import recognize
from postmortem.failures import RECOVERABLE
from postmortem.input.decode import GZIP_MAGIC, decode_bytes, max_input_bytes, read_decoded
from postmortem.input.discover import Discovered, discover
from postmortem.input.stream import split_text, utf8_pieces
from postmortem.input.timecheck import dst_notes, out_of_order
from postmortem.input.timeparse import PLACEHOLDER_YEAR
from postmortem.model import (
    EVENT_COLUMNS,
    InputFile,
    UnrecognizedSample,
    conform_events,
    empty_events,
)

SNIFF_BYTES = 65536
CLASSIFY_BATCH_ROWS = 100_000  # framed records kept before the recognizers run over them
CHUNK_CHARS = 16 * 1024 * 1024  # a bigger log is framed piece by piece, so memory stays bounded
MAX_SAMPLES = 5
STREAM_MIN_BYTES = 32 * 1024 * 1024  # plain UTF-8 logs above this are read piece by piece (stream.py)
PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # smaller inputs are read in-process: workers take ~1 s to start
LOG_PARSER = "log"


@dataclass(frozen=True)
class IngestOptions:
    tz: str = "UTC"
    year: int | None = None
    now: datetime | None = None
    source_types: tuple[tuple[str, str], ...] = ()  # (parser name, glob); glob "*" = every file
    summarize_noise: bool = True  # low-level app lines as per-second app.activity events (parsers/noise.py)
    jobs: int = 1  # worker processes that read and frame files (see `_read_all`)


@dataclass
class IngestResult:
    events: pl.DataFrame
    inputs: list[InputFile]
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parser_names() -> list[str]:
    return [LOG_PARSER] + [p.name for p in FILE_PARSERS]


def _forced_parser(path: str, opts: IngestOptions) -> str | None:
    for name, glob in opts.source_types:
        if glob in ("", "*") or fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(os.path.basename(path), glob):
            return name
    return None


def _host_from_path(path: str) -> str:
    name = Path(path).name
    for suffix in (".gz", ".log", ".txt", ".json", ".jsonl", ".ndjson"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _first_line(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars_start().str.extract(r"^([^\n]*)", 1).str.slice(0, 2000)


@dataclass
class FramedLog:
    """A log file framed into records, waiting for the recognizers (run over many files at once)."""

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
        host=pl.coalesce("host", pl.lit(_host_from_path(ctx.path))),
    )
    return FramedLog(records, lines, blank, truncated, plan.label())


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
    ).with_row_index("rec")
    is_activity = (pl.col("envelope") == "activity").fill_null(False)
    hits = recognize(records.filter(~is_activity))
    joined = records.join(hits, on="rec", how="left", suffix="_hit")
    is_app = pl.col("source").is_null() & pl.col("envelope").is_not_null()
    known = pl.col("source").is_not_null() | is_app
    events = joined.filter(known).with_columns(
        source=pl.coalesce("source", pl.lit("app")),
        kind=pl.when(is_activity).then(pl.lit("app.activity")).otherwise(pl.coalesce("kind", pl.lit("app.log"))),
        value=pl.when(is_activity).then(pl.col("n_lines").cast(pl.Float64)).otherwise(
            pl.col("value") if "value" in joined.columns else pl.lit(None, dtype=pl.Float64)),
        host=pl.coalesce(*(["host_hit"] if "host_hit" in joined.columns else []), "host"),
        message=pl.coalesce(*(["message"] if "message" in joined.columns else []), _first_line(pl.col("text"))),
    )
    unrec = joined.filter(~known)
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


@dataclass
class _Part:
    """What ingesting some of the files gave, before the events of all parts are merged and sorted."""

    inputs: list[tuple[int, InputFile]] = field(default_factory=list)  # (discovery index, file)
    frames: list[pl.DataFrame] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)


def ingest(paths: list[str], opts: IngestOptions | None = None) -> IngestResult:
    """Read every input and return the sorted events table with per-file accounting."""
    opts = opts or IngestOptions()
    found, skipped = discover(paths)
    inputs: list[InputFile] = []
    warnings: list[str] = []
    for s in skipped:
        inputs.append(InputFile(path=s.path, skipped=True, problems=[s.reason]))
        warnings.append(f"{s.path}: {s.reason}")
    parts = _ingest_parts(list(enumerate(found)), opts)
    inputs += [info for _, info in sorted((i for p in parts for i in p.inputs), key=lambda i: i[0])]
    order = {f.path: i for i, f in reversed(list(enumerate(found)))}
    # warnings in file order whatever the worker that produced them (sort is stable)
    warnings += sorted((w for p in parts for w in p.warnings),
                       key=lambda w: order.get(w.split(": ", 1)[0], len(order)))
    assumptions = list(dict.fromkeys(a for p in parts for a in p.assumptions))
    frames = [f for p in parts for f in p.frames]
    parts.clear()
    events = pl.concat(frames, how="vertical", rechunk=False) if frames else empty_events()
    frames.clear()  # the per-file tables are in `events` now: let them go before the sort copies it
    events, year_note = _resolve_years(events, opts)
    if year_note:
        assumptions.append(year_note)
    if opts.tz == "UTC":
        assumptions.append("Timestamps without a zone were read as UTC (set --tz to change).")
    else:
        assumptions.append(f"Timestamps without a zone were read in {opts.tz} (--tz).")
    events = (
        events.sort(["ts", "path", "line"], nulls_last=True, maintain_order=True)
        .drop("event_id")
        .with_row_index("event_id")
        .with_columns(pl.col("event_id").cast(pl.UInt32))
        .select(EVENT_COLUMNS)
    )
    _fill_time_ranges(inputs, events)
    return IngestResult(events, inputs, assumptions, warnings)


def _ingest_files(found: list[tuple[int, Discovered]], opts: IngestOptions) -> _Part:
    """Read, frame and recognize these (index, file)s: the recognizers run over batches of framed files."""
    part = _Part()
    pending: list[tuple[InputFile, FramedLog, str | None]] = []
    pending_rows = 0
    for index, f in found:
        info, outcome = _read_one(f, opts)
        part.inputs.append((index, info))
        part.warnings.extend(outcome.warnings)
        if outcome.result is None:
            continue
        if isinstance(outcome.result, FileParse):
            _finish(info, outcome.result, outcome.parser, outcome.text, opts, part.assumptions, part.frames,
                    part.warnings)
            continue
        # recognizers run over many files at once: keep the framed records until the batch is full
        for chunk in outcome.result:
            if isinstance(chunk, FileParse):  # a streamed piece the framer failed on
                _finish(info, chunk, LOG_PARSER, None, opts, part.assumptions, part.frames, part.warnings)
                continue
            pending.append((info, chunk, outcome.text))
            pending_rows += chunk.records.height
            if pending_rows >= CLASSIFY_BATCH_ROWS:
                _classify_pending(pending, opts, part.assumptions, part.frames, part.warnings)
                pending, pending_rows = [], 0
        # a streamed file says what it repaired once its last piece is read
        part.warnings.extend(w for w in (f"{info.path}: {p}" for p in info.problems) if w not in part.warnings)
    _classify_pending(pending, opts, part.assumptions, part.frames, part.warnings)
    return part


def _ingest_parts(found: list[tuple[int, Discovered]], opts: IngestOptions) -> list[_Part]:
    """Ingest in this process, or in `opts.jobs` spawned workers, each given files of about equal total
    size, when the input is big enough to repay their start-up (each imports polars and the parsers)."""
    big = sum(f.size or 0 for _, f in found) >= PARALLEL_MIN_BYTES
    jobs = min(opts.jobs, len(found))
    if jobs <= 1 or not big:
        return [_ingest_files(found, opts)]
    groups: list[list] = [[] for _ in range(jobs)]
    loads = [0] * jobs
    for item in sorted(found, key=lambda item: -(item[1].size or 0)):  # largest first, to the least loaded
        k = loads.index(min(loads))
        groups[k].append(item)
        loads[k] += item[1].size or 0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    groups = [sorted(g, key=lambda item: item[0]) for g in groups if g]
    # spawn, not fork: polars' thread pool does not survive a fork
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_ingest_files, g, opts) for g in groups]
        parts = []
        for group, fut in zip(groups, futures, strict=True):
            try:
                parts.append(fut.result())
            except RECOVERABLE as exc:  # noqa: BLE001 - a lost worker (killed, crashed): do its files here
                part = _ingest_files(group, opts)
                part.warnings.append(f"a worker process failed ({type(exc).__name__}: {str(exc)[:200]}); "
                                     f"its {len(group)} files were read again in the main process")
                parts.append(part)
        return parts


@dataclass
class _Outcome:
    """What reading and parsing one file gave: a file parser's result, framed log pieces, or nothing."""

    result: FileParse | list[FramedLog] | Iterator[FramedLog | FileParse] | None = None
    parser: str = LOG_PARSER
    text: str | None = None  # kept only for the checks that need the whole text (see `_finish`)
    warnings: list[str] = field(default_factory=list)


def _read_one(f: Discovered, opts: IngestOptions) -> tuple[InputFile, _Outcome]:
    """Decode one discovered file and parse it (file parser) or frame it (logs); runs in a worker too."""
    info = InputFile(path=f.path, size_bytes=f.size)
    out = _Outcome()
    try:
        if f.size > STREAM_MIN_BYTES and opts.tz == "UTC" and (streamed := _stream_log(f, opts, info)):
            out.result = streamed
            return info, out
        decoded = read_decoded(f.real, f.size)
    except OSError as exc:
        info.skipped = True
        info.problems.append(f"unreadable: {exc.strerror or exc}: skipped")
        out.warnings.append(f"{f.path}: unreadable ({exc.strerror or exc}): skipped")
        return info, out
    info.encoding = decoded.encoding
    info.problems.extend(decoded.problems)
    if decoded.binary:
        info.skipped = True
        out.warnings.extend(f"{f.path}: {p}" for p in info.problems)
        return info, out
    if not decoded.text or decoded.text.isspace():
        info.problems.append("empty file" if not decoded.text else "only blank lines")
        info.parser = "none"
        text = decoded.text
        info.lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        info.blank_lines = info.lines
        out.warnings.extend(f"{f.path}: {p}" for p in info.problems)
        return info, out
    ctx = _context(f, opts)
    out.result, out.parser = _parse_one(decoded.text, ctx, opts)
    # the DST check (non-UTC only) needs a log's whole text; file parsers' checks always get it
    if not isinstance(out.result, list) or opts.tz != "UTC":
        out.text = decoded.text
    return info, out


def _stream_log(f: Discovered, opts: IngestOptions, info: InputFile) -> Iterator[FramedLog | FileParse] | None:
    """Frame a big plain UTF-8 log piece by piece as it is read (postmortem/input/stream.py), or None when
    the file needs the whole-text path (gzip, BOM, UTF-16, binary-looking, a file parser's format).

    Raises OSError when the file cannot be read (the caller reports it)."""
    with open(f.real, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if (head[:2] == GZIP_MAGIC or head[:3] == b"\xef\xbb\xbf" or head[:2] in (b"\xff\xfe", b"\xfe\xff")
            or b"\n" not in head or b"\x00" in head or decode_bytes(head).binary):
        return None
    ctx = _context(f, opts)
    if _choose_parser(head.decode("utf-8", "ignore"), f.path, opts) is not None:
        return None
    info.encoding = "utf-8"

    def pieces() -> Iterator[FramedLog | FileParse]:
        offset = 0
        # memory does not grow with a streamed file: read it all (up to its listed size, if it grows)
        limit = max(max_input_bytes(), f.size)
        stream = utf8_pieces(f.real, f.size, CHUNK_CHARS, limit, info.problems)
        while True:
            try:
                piece = next(stream)
            except StopIteration:
                return
            except OSError as exc:  # an I/O error part way: keep what was read, say where it stopped
                info.problems.append(f"read error after {offset} lines ({exc.strerror or exc}): kept what was read")
                return
            try:
                framed = frame_log_text(piece, ctx, opts.summarize_noise)
            except RECOVERABLE as exc:  # noqa: BLE001 - this piece is counted, the file goes on
                failed = _all_unrecognized(piece, exc)
                failed.unrecognized_samples = [UnrecognizedSample(s.line + offset, s.text)
                                               for s in failed.unrecognized_samples]
                offset += failed.lines
                yield failed
                continue
            framed.records = framed.records.with_columns(pl.col("line") + offset)
            offset += framed.lines
            yield framed

    return pieces()


def _context(f: Discovered, opts: IngestOptions) -> ParseContext:
    """The parse context of a file: relative ages are resolved against --now, else its mtime."""
    now = opts.now
    now_source = "--now"
    if now is None:
        try:
            now = datetime.fromtimestamp(os.path.getmtime(f.real), tz=UTC)
        except OSError:  # removed since it was read: the read time is the best reference left
            now = datetime.now(tz=UTC)
        now_source = "file modification time"
    return ParseContext(path=f.path, tz=opts.tz, now=now, now_source=now_source, year=opts.year,
                        summarize=opts.summarize_noise)


def _finish(info: InputFile, result: FileParse, parser_name: str, text: str | None, opts: IngestOptions,
            assumptions: list[str], frames: list[pl.DataFrame], warnings: list[str]) -> None:
    """Copy a parse result into the file's accounting, with the per-file time checks."""
    # additive: a big log file arrives in several chunks
    info.parser = info.parser or result.label or parser_name
    info.lines += result.lines
    info.records += result.records
    info.event_lines += result.event_lines
    info.unrecognized_lines += result.unrecognized_lines
    info.blank_lines += result.blank_lines
    info.events += result.events.height
    info.problems.extend(p for p in result.problems if p not in info.problems)
    is_log = info.parser.startswith("log")
    if is_log:  # metric exports list series one after another: their order says nothing
        info.problems.extend(out_of_order(result.events))
    if text is not None:
        info.problems.extend(dst_notes(text, result.events, opts.tz, is_log))
    info.unrecognized_samples = (info.unrecognized_samples + result.unrecognized_samples)[:MAX_SAMPLES]
    for a in result.assumptions:
        if a not in assumptions:
            assumptions.append(a)
    frames.append(result.events)
    for p in info.problems:
        line = f"{info.path}: {p}"
        if line not in warnings:
            warnings.append(line)


def _classify_pending(pending: list, opts: IngestOptions, assumptions: list[str], frames: list[pl.DataFrame],
                      warnings: list[str]) -> None:
    """Recognize a batch of framed log files together; if the batch fails, file by file."""
    if not pending:
        return
    try:
        results = classify_framed([framed for _, framed, _ in pending])
    except RECOVERABLE:  # noqa: BLE001 - find the file that breaks it, keep the others
        results = [_classify_guarded(framed) for _, framed, _ in pending]
    for (info, _, text), result in zip(pending, results, strict=True):
        _finish(info, result, LOG_PARSER, text, opts, assumptions, frames, warnings)


def _classify_guarded(framed: FramedLog) -> FileParse:
    try:
        return classify_framed([framed])[0]
    except RECOVERABLE as exc:  # noqa: BLE001
        samples = [UnrecognizedSample(int(r["line"]), (r["text"] or "")[:300])
                   for r in framed.records.head(MAX_SAMPLES).select("line", "text").iter_rows(named=True)]
        return _unrecognized_result(framed.lines, framed.blank, samples, exc)


def _choose_parser(head: str, path: str, opts: IngestOptions):
    """The file parser for this file (--source-type, else the best sniff score above 0.5), or None
    for the line-log framer."""
    forced = _forced_parser(path, opts)
    if forced:
        return next((p for p in FILE_PARSERS if p.name == forced), None)
    best, best_score = None, 0.5  # a file parser must beat the generic log framer
    for p in FILE_PARSERS:
        try:
            score = p.sniff(head)
        except RECOVERABLE:  # noqa: BLE001 - a sniffer bug must not stop ingest
            score = 0.0
        if score > best_score:
            best, best_score = p, score
    return best


def _parse_one(text: str, ctx: ParseContext, opts: IngestOptions) -> tuple[FileParse | list[FramedLog], str]:
    """Choose the parser by content (or --source-type) and run it; a parser crash becomes a problem."""
    chosen = _choose_parser(text[:SNIFF_BYTES], ctx.path, opts)
    if chosen is not None:
        try:
            return chosen.parse(text, ctx), chosen.name
        except RECOVERABLE as exc:  # noqa: BLE001 - report and fall back to line framing
            fallback = _parse_log_guarded(text, ctx, opts.summarize_noise)
            fallback.problems.insert(0, f"{chosen.name} parser failed ({type(exc).__name__}: {exc}); read as a log")
            return fallback, LOG_PARSER
    try:
        if len(text) <= CHUNK_CHARS or opts.tz != "UTC":  # the DST check needs the whole text
            return [frame_log_text(text, ctx, opts.summarize_noise)], LOG_PARSER
        chunks, offset = [], 0
        for piece in split_text(text, CHUNK_CHARS):
            framed = frame_log_text(piece, ctx, opts.summarize_noise)
            framed.records = framed.records.with_columns(pl.col("line") + offset)
            offset += framed.lines
            chunks.append(framed)
        return chunks, LOG_PARSER
    except RECOVERABLE as exc:  # noqa: BLE001 - one hostile file must not stop the analysis
        return _all_unrecognized(text, exc), LOG_PARSER


def _parse_log_guarded(text: str, ctx: ParseContext, summarize: bool = True) -> FileParse:
    """Line framing, with a last resort: if it crashes, every line is counted, none is an event."""
    try:
        return parse_log_text(text, ctx, summarize)
    except RECOVERABLE as exc:  # noqa: BLE001 - one hostile file must not stop the analysis
        return _all_unrecognized(text, exc)


def _all_unrecognized(text: str, exc: Exception) -> FileParse:
    """The last resort for a file the log parser crashed on: every line counted, none an event."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    blank = sum(1 for ln in lines if not ln.strip())
    samples = [UnrecognizedSample(i, ln[:300]) for i, ln in enumerate(lines, 1) if ln.strip()][:MAX_SAMPLES]
    return _unrecognized_result(len(lines), blank, samples, exc)


def _unrecognized_result(lines: int, blank: int, samples: list[UnrecognizedSample], exc: Exception) -> FileParse:
    return FileParse(
        events=empty_events(), lines=lines, event_lines=0, unrecognized_lines=lines - blank,
        blank_lines=blank, unrecognized_samples=samples, label="none",
        problems=[f"log parser failed ({type(exc).__name__}: {str(exc)[:200]}); all lines counted as unrecognized"],
    )


def _resolve_years(events: pl.DataFrame, opts: IngestOptions) -> tuple[pl.DataFrame, str | None]:
    """Give year-less timestamps (placeholder year) the year of --year or of the other sources."""
    if events.height == 0:
        return events, None
    placeholder = pl.col("ts").dt.year() == PLACEHOLDER_YEAR
    n = events.select(placeholder.sum()).item()
    if not n:
        return events, None
    if opts.year:
        year, why = opts.year, "--year"
    else:
        years = events.filter(~placeholder & pl.col("ts").is_not_null()).select(pl.col("ts").dt.year().mode().min())
        year = years.item() if years.height else None
        why = "the other sources"
        if year is None:
            year, why = datetime.now(tz=UTC).year, "the current year (no other source had one)"
    events = events.with_columns(
        ts=pl.when(placeholder).then(pl.col("ts").dt.replace(year=year)).otherwise(pl.col("ts"))
    )
    return events, f"{n} year-less timestamps were given the year {year}, taken from {why}."


def _fill_time_ranges(inputs: list[InputFile], events: pl.DataFrame) -> None:
    if events.height == 0:
        return
    ranges = events.group_by("path").agg(first=pl.col("ts").min(), last=pl.col("ts").max())
    by_path = {r["path"]: (r["first"], r["last"]) for r in ranges.iter_rows(named=True)}
    for info in inputs:
        if info.path in by_path:
            info.first_ts, info.last_ts = by_path[info.path]
