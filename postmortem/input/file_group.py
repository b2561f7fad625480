"""Ingest a group of files (all of them, or one worker's share): read each, run the recognizers over
batches of framed files, and add every result to its file's accounting (with the per-file time checks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from parsers import FileParse
from postmortem.failures import RECOVERABLE
from postmortem.input.discover import Discovered
from postmortem.input.file_split import FileSpan
from postmortem.input.log_text import MAX_SAMPLES, FramedLog, classify_framed, classify_guarded
from postmortem.input.options import IngestOptions
from postmortem.input.parser_choice import LOG_PARSER
from postmortem.input.read_file import ParsedPiece, read_file
from postmortem.input.timecheck import dst_notes, local_time_counts, out_of_order
from postmortem.model import InputFile

CLASSIFY_BATCH_ROWS = 100_000  # framed records kept before the recognizers run over them


@dataclass
class Part:
    """What ingesting some of the files gave, before the events of all parts are merged and sorted."""

    inputs: list[tuple[int, InputFile]] = field(default_factory=list)  # (discovery index, file)
    frames: list[pl.DataFrame] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    # per log file: (its accounting, local times in a repeated DST hour, in a skipped one), summed over pieces
    local_times: dict[int, tuple[InputFile, int, int]] = field(default_factory=dict)


def ingest_files(found: list[tuple[int, Discovered]], opts: IngestOptions) -> Part:
    """Read, frame and recognize these (index, file)s: the recognizers run over batches of framed files."""
    part = Part()
    pending: list[tuple[InputFile, FramedLog]] = []
    pending_rows = 0
    spans: set[int] = set()  # a span's DST notes are said once its file's spans are joined (file_split.py)
    for index, f in found:
        read = read_file(f, opts)
        info = read.info
        part.inputs.append((index, info))
        if isinstance(f, FileSpan):
            spans.add(id(info))
        part.warnings.extend(read.warnings)
        for piece in read.pieces:
            if isinstance(piece, ParsedPiece):
                _finish(info, piece.result, piece.parser, opts, part)
                continue
            # recognizers run over many files at once: keep the framed records until the batch is full
            pending.append((info, piece))
            pending_rows += piece.records.height
            if pending_rows >= CLASSIFY_BATCH_ROWS:
                _classify_pending(pending, opts, part)
                pending, pending_rows = [], 0
        if not info.skipped:  # a streamed file says what it repaired once its last piece is read
            part.warnings.extend(w for w in (f"{info.path}: {p}" for p in info.problems) if w not in part.warnings)
    _classify_pending(pending, opts, part)
    for info, repeated, skipped in part.local_times.values():  # once per file, after its last piece
        if id(info) in spans:
            continue
        for note in dst_notes(repeated, skipped, opts.zone_for(info.path)[0]):
            info.problems.append(note)
            part.warnings.append(f"{info.path}: {note}")
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
    part.frames.append(result.events)
    for p in info.problems:
        line = f"{info.path}: {p}"
        if line not in part.warnings:
            part.warnings.append(line)


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
