"""Small plain logs read together (issue #21): a fleet export is thousands of pod logs of a few lines, and
framing, recognizing and accounting them one by one cost about 10 ms a file whatever its size. A batch of
them is framed in one table (parsers/frame_many.py), recognized in one pass, and accounted per file by
group-bys; each file's accounting, problems and events are the ones reading it alone gives
(tests/test_small_logs.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from parsers import ParseContext
from parsers.envelopes import MAX_LINE_CHARS
from parsers.frame_many import frame_many
from postmortem.input.log_text import MAX_SAMPLES, host_from_path, recognize_records
from postmortem.input.timecheck import local_time_counts_by_file, out_of_order_by_file
from postmortem.model import InputFile, UnrecognizedSample
from postmortem.schema import conform_events

if TYPE_CHECKING:
    from postmortem.input.file_group import Part

# A plain log up to this size waits for a batch; a bigger one is framed alone. Framing alone costs about
# 20 ms a file before its lines, framing in a batch more per line: below about a MiB the batch is cheaper
# (a folder of 300 KB pod logs: half the framing CPU, issue 20).
# A batch is framed when it holds this many characters or files.
SMALL_LOG_CHARS = 1024 * 1024
BATCH_CHARS = 16 * 1024 * 1024
BATCH_FILES = 20_000


@dataclass
class SmallLog:
    """A decoded small plain log waiting for its batch."""

    text: str
    ctx: ParseContext


@dataclass
class _Counts:
    """Per-file figures of a batch, by position in the batch."""

    records: dict[int, int]
    events: dict[int, tuple[int, int, int, bool]]  # events, event lines, times with a zone flag, all zoned
    unrecognized: dict[int, int]
    samples: dict[int, list[UnrecognizedSample]]


def _counts(records: pl.DataFrame, events: pl.DataFrame, unrec: pl.DataFrame) -> _Counts:
    recs = {f: n for f, n in records.group_by("_file").len().iter_rows()}
    ev = {r[0]: (r[1], int(r[2] or 0), r[3], bool(r[4])) for r in events.group_by("_file").agg(
        pl.len(), pl.col("n_lines").sum(), pl.col("ts_zoned").count().alias("_zoned_n"),
        pl.col("ts_zoned").all()).iter_rows()}
    un = {f: int(n or 0) for f, n in unrec.group_by("_file").agg(pl.col("n_lines").sum()).iter_rows()}
    samples: dict[int, list[UnrecognizedSample]] = {}
    for f, line, text in unrec.group_by("_file", maintain_order=True).head(MAX_SAMPLES).select(
            "_file", "line", "text").iter_rows():
        samples.setdefault(f, []).append(UnrecognizedSample(int(line), (text or "")[:300]))
    return _Counts(recs, ev, un, samples)


def ingest_small(batch: list[tuple[InputFile, SmallLog]], tz: str, summarize: bool, part: Part) -> None:
    """Frame, recognize and account a batch of small logs whose zone-less times are read in `tz`.

    Raises what framing or the recognizers raise before any file's accounting is touched, so the caller
    can read the batch file by file instead."""
    framed = frame_many([small.text for _, small in batch], tz, summarize)
    paths = [small.ctx.path for _, small in batch]
    files = pl.DataFrame({"_file": pl.Series(range(len(batch)), dtype=pl.UInt32), "path": paths,
                          "_host": [host_from_path(p) for p in paths]})
    records = framed.records.join(files, on="_file", how="left").with_columns(
        host=pl.coalesce("host", "_host")).drop("_host")
    events, unrec = recognize_records(records)
    counts = _counts(records, events, unrec)
    late = out_of_order_by_file(events)
    dst = local_time_counts_by_file(events, tz)
    table = conform_events(events)
    for i, (info, _) in enumerate(batch):  # the file-by-file accounting of `file_group._finish`
        n_events, event_lines, n_zoned, all_zoned = counts.events.get(i, (0, 0, 0, True))
        info.parser = info.parser or framed.plans[i].label()
        info.lines += framed.lines[i]
        info.records += counts.records.get(i, 0)
        info.event_lines += event_lines
        info.unrecognized_lines += counts.unrecognized.get(i, 0)
        info.blank_lines += framed.blank[i]
        info.events += n_events
        if framed.truncated[i]:
            cut = f"{framed.truncated[i]} lines longer than {MAX_LINE_CHARS} characters were cut for parsing"
            if cut not in info.problems:
                info.problems.append(cut)
        info.problems.extend(late.get(i, []))
        if n_zoned:
            info.zoned = all_zoned and info.zoned is not False
        if i in dst:
            repeated, skipped = dst[i]
            _, r0, s0 = part.local_times.get(id(info), (info, 0, 0))
            part.local_times[id(info)] = (info, r0 + repeated, s0 + skipped)
        info.unrecognized_samples = (info.unrecognized_samples + counts.samples.get(i, []))[:MAX_SAMPLES]
        for p in info.problems:
            part.warn(f"{info.path}: {p}")
    part.add_frame(table)
