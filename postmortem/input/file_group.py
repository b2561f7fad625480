"""Ingest a group of files (all of them, or one worker's share): read each, run the recognizers over
batches of framed files, frame small plain logs in batches (small_logs.py), and add every result to its
file's accounting (with the per-file time checks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from parsers import FileParse
from parsers.stackexchange_redis import message_form
from postmortem.failures import RECOVERABLE
from postmortem.input.discover import Discovered
from postmortem.input.file_split import FileSpan
from postmortem.input.log_text import MAX_SAMPLES, FramedLog, classify_framed, classify_guarded
from postmortem.input.options import IngestOptions
from postmortem.input.parser_choice import LOG_PARSER
from postmortem.input.read_file import ParsedPiece, frame_log, read_file
from postmortem.input.small_logs import BATCH_CHARS, BATCH_FILES, SmallLog, ingest_small
from postmortem.input.timecheck import dst_notes, local_time_counts, out_of_order
from postmortem.model import InputFile
from postmortem.se_attrs import one_form

CLASSIFY_BATCH_ROWS = 100_000  # framed records kept before the recognizers run over them
# ... or this many bytes of them: a dense log's records are long (a StackExchange.Redis timeout is ~1.7 kB),
# and the recognizers' working copies of a batch are the ingest's peak memory (issue #20)
CLASSIFY_BATCH_BYTES = 16 * 1024 * 1024
# Small logs are framed together only when at least this many wait: one file costs less framed alone than
# as a batch of one (framing CPU, 300 KB: 15 against 20 ms; 1 MB: 24 against 40 ms)
MIN_BATCH_FILES = 2


@dataclass
class Part:
    """What ingesting some of the files gave, before the events of all parts are merged and sorted."""

    inputs: list[tuple[int, InputFile]] = field(default_factory=list)  # (discovery index, file)
    frames: list[pl.DataFrame] = field(default_factory=list)
    frame_files: list[str] = field(default_factory=list)  # a worker's frames on their way back (workers.py)
    # a worker's: each frame goes to `spill`.N.arrow as it is made, so the worker never holds its events
    spill: str | None = None
    warnings: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    # per log file: (its accounting, local times in a repeated DST hour, in a skipped one), summed over pieces
    local_times: dict[int, tuple[InputFile, int, int]] = field(default_factory=dict)
    said: set[str] = field(default_factory=set)  # the warnings above, for `warn` (a list search per line is quadratic)
    one_form: bool = False  # `IngestOptions.se_fields_in_message`

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Keep a finished events frame: in memory, or written to the next spill file and let go."""
        if self.one_form:
            frame = one_form(frame)
        if self.spill is None:
            self.frames.append(frame)
            return
        path = f"{self.spill}.{len(self.frame_files)}.arrow"
        frame.write_ipc(path, compression="uncompressed")
        self.frame_files.append(path)

    def warn(self, line: str) -> None:
        """Add a warning line unless it was said already."""
        if line not in self.said:
            self.said.add(line)
            self.warnings.append(line)


def ingest_files(found: list[tuple[int, Discovered]], opts: IngestOptions, spill: str | None = None) -> Part:
    """Read, frame and recognize these (index, file)s: the recognizers run over batches of framed files.
    With `spill`, each events frame is written to a file as it is made (`Part.add_frame`)."""
    with message_form(opts.se_fields_in_message):  # the recognizer does most of `one_form`'s check
        return _ingest_files(found, opts, spill)


def _ingest_files(found: list[tuple[int, Discovered]], opts: IngestOptions, spill: str | None) -> Part:
    part = Part(spill=spill, one_form=opts.se_fields_in_message)
    pending: list[tuple[InputFile, FramedLog]] = []
    pending_rows = pending_bytes = 0
    spans: set[int] = set()  # a span's DST notes are said once its file's spans are joined (file_split.py)
    small: dict[str, list[tuple[InputFile, SmallLog]]] = {}  # per zone of zone-less times
    small_chars = 0
    for index, f in found:
        read = read_file(f, opts)
        info = read.info
        part.inputs.append((index, info))
        if isinstance(f, FileSpan):
            spans.add(id(info))
        part.warnings.extend(read.warnings)
        part.said.update(read.warnings)
        for piece in read.pieces:
            if isinstance(piece, SmallLog):  # framed with other small logs: its fixed cost is paid once
                small.setdefault(piece.ctx.tz, []).append((info, piece))
                small_chars += len(piece.text)
                if small_chars >= BATCH_CHARS or sum(map(len, small.values())) >= BATCH_FILES:
                    _ingest_small(small, opts, part)
                    small, small_chars = {}, 0
                continue
            if isinstance(piece, ParsedPiece):
                _finish(info, piece.result, piece.parser, opts, part)
                continue
            # recognizers run over many files at once: keep the framed records until the batch is full
            pending.append((info, piece))
            pending_rows += piece.records.height
            pending_bytes += piece.records.estimated_size()
            if pending_rows >= CLASSIFY_BATCH_ROWS or pending_bytes >= CLASSIFY_BATCH_BYTES:
                _classify_pending(pending, opts, part)
                pending, pending_rows, pending_bytes = [], 0, 0
        if not info.skipped:  # a streamed file says what it repaired once its last piece is read
            for p in info.problems:
                part.warn(f"{info.path}: {p}")
    _classify_pending(pending, opts, part)
    _ingest_small(small, opts, part)
    for info, repeated, skipped in part.local_times.values():  # once per file, after its last piece
        if id(info) in spans:
            continue
        for note in dst_notes(repeated, skipped, opts.zone_for(info.path)[0]):
            info.problems.append(note)
            part.warn(f"{info.path}: {note}")
    return part


def _finish(info: InputFile, result: FileParse, parser_name: str, opts: IngestOptions, part: Part) -> None:
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
    if is_log and result.ts_zoned is not None:
        zoned = result.ts_zoned.drop_nulls()
        if zoned.len():  # False once any time of the file was read in a zone (summed over its pieces)
            info.zoned = bool(zoned.all()) and info.zoned is not False
        repeated, skipped = local_time_counts(result.events.get_column("ts"), result.ts_zoned,
                                              opts.zone_for(info.path)[0])
        if repeated or skipped:
            _, r0, s0 = part.local_times.get(id(info), (info, 0, 0))
            part.local_times[id(info)] = (info, r0 + repeated, s0 + skipped)
    info.unrecognized_samples = (info.unrecognized_samples + result.unrecognized_samples)[:MAX_SAMPLES]
    for a in result.assumptions:
        if a not in part.assumptions:
            part.assumptions.append(a)
    part.add_frame(result.events)
    for p in info.problems:
        part.warn(f"{info.path}: {p}")


def _classify_pending(pending: list[tuple[InputFile, FramedLog]], opts: IngestOptions, part: Part) -> None:
    """Recognize a batch of framed log files together; if the batch fails, file by file."""
    if not pending:
        return
    try:
        results = classify_framed([framed for _, framed in pending])
    except RECOVERABLE:  # noqa: BLE001 - find the file that breaks it, keep the others
        results = [classify_guarded(framed) for _, framed in pending]
    for (info, _), result in zip(pending, results, strict=True):
        _finish(info, result, LOG_PARSER, opts, part)


def _ingest_small(small: dict[str, list[tuple[InputFile, SmallLog]]], opts: IngestOptions, part: Part) -> None:
    """Frame and account the waiting small logs, a batch per zone; if a batch fails, file by file. A batch
    of fewer than MIN_BATCH_FILES is framed file by file."""
    for tz, batch in small.items():
        if len(batch) >= MIN_BATCH_FILES:
            try:
                ingest_small(batch, tz, opts.summarize_noise, part)
                continue
            except RECOVERABLE:  # noqa: BLE001 - read each file alone: the guards of that path find the culprit
                pass
        for info, log in batch:
            for piece in frame_log(log.text, log.ctx, opts):
                if isinstance(piece, ParsedPiece):
                    _finish(info, piece.result, piece.parser, opts, part)
                else:
                    _finish(info, classify_guarded(piece), LOG_PARSER, opts, part)
