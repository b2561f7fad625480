"""One big log over several workers: cut it into spans at the cuts its piece-by-piece reading makes
(stream.piece_cuts), so each worker frames exactly the pieces the whole file's reading gives there, then
join the spans' results back into one file: line numbers counted on from the span before, accounting
summed, problems said once."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from postmortem.input.discover import Discovered
from postmortem.input.stream import piece_cuts
from postmortem.input.timecheck import dst_notes
from postmortem.model import InputFile, UnrecognizedSample


@dataclass(frozen=True)
class FileSpan(Discovered):
    """Bytes [start, stop) of a discovered file: one worker's share (read_file streams just these, in
    pieces of `piece` bytes, the size the cuts were found with)."""

    start: int = 0
    stop: int = 0
    piece: int = 0


def split_file(f: Discovered, n: int, opts) -> list[FileSpan] | None:
    """`n` spans of a big streamable log of about equal size, or None when it is read whole or has one piece."""
    from postmortem.input import read_file as rf  # late: read_file imports FileSpan

    if n < 2 or f.size <= rf.STREAM_MIN_BYTES:
        return None
    try:
        if not rf.streamable(f, opts):
            return None
        cuts = piece_cuts(f.real, f.size, rf.CHUNK_CHARS)
    except OSError:  # the reader reports it
        return None
    inner = cuts[1:-1]
    bounds = [0]
    for i in range(1, n):
        if not inner:
            break
        near = min(inner, key=lambda c: abs(c - f.size * i / n))
        if near > bounds[-1]:
            bounds.append(near)
    bounds.append(f.size)
    if len(bounds) < 3:
        return None
    return [FileSpan(f.path, f.real, f.size, a, b, rf.CHUNK_CHARS) for a, b in zip(bounds, bounds[1:], strict=False)]


def join_spans(shares: list[tuple[list, object]], tz_for) -> None:
    """Join each split file's span results into its first span's accounting, in place.

    `shares` are (the (index, file or span) items a worker read, its Part), at most one span of a file
    per worker; `tz_for(path)` is the zone its zone-less times were read in (for the DST notes)."""
    spans: dict[int, list[tuple[int, InputFile, object]]] = {}
    for items, part in shares:
        for (index, f), (_, info) in zip(items, part.inputs, strict=True):
            if isinstance(f, FileSpan):
                spans.setdefault(index, []).append((f.start, info, part))
    for pieces in spans.values():
        pieces.sort(key=lambda p: p[0])
        _join_file([(info, part) for _, info, part in pieces], tz_for)


def _join_file(pieces: list[tuple[InputFile, object]], tz_for) -> None:
    first, first_part = pieces[0]
    path = first.path
    offset = 0
    repeated = skipped = 0
    problems: list[str] = []
    samples: list[UnrecognizedSample] = []
    for info, part in pieces:
        if offset:
            part.frames = [_shift_lines(fr, path, offset) for fr in part.frames]
        samples += [UnrecognizedSample(s.line + offset, s.text) for s in info.unrecognized_samples]
        problems += [p for p in info.problems if p not in problems]
        # keyed by id() in the worker that counted them: found by the accounting object they hold
        key = next((k for k, (owner, _, _) in part.local_times.items() if owner is info), None)
        _, r, s = part.local_times.pop(key) if key is not None else (info, 0, 0)
        repeated, skipped = repeated + r, skipped + s
        part.warnings = [w for w in part.warnings if not w.startswith(f"{path}: ")]
        if info is not first:
            part.inputs = [(i, x) for i, x in part.inputs if x is not info]
            for name in ("lines", "records", "event_lines", "unrecognized_lines", "blank_lines", "events"):
                setattr(first, name, getattr(first, name) + getattr(info, name))
            # False once any span read a time in a zone-less way, True when some span had only zoned times
            if info.zoned is False or (first.zoned is None and info.zoned is not None):
                first.zoned = info.zoned
        offset += info.lines
    from postmortem.input.log_text import MAX_SAMPLES

    first.unrecognized_samples = samples[:MAX_SAMPLES]
    first.problems = problems + [n for n in dst_notes(repeated, skipped, tz_for(path)) if n not in problems]
    first_part.warnings += [f"{path}: {p}" for p in first.problems]


def _shift_lines(frame: pl.DataFrame, path: str, offset: int) -> pl.DataFrame:
    """Line numbers of a span's events counted on from the spans before it (a frame holds one file)."""
    if frame.height == 0 or frame.get_column("path")[0] != path:
        return frame
    return frame.with_columns(pl.col("line") + offset)
