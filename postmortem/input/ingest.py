"""Ingest: discover files, read each with the parser its content calls for, and build the events table.

Nothing is lost: every line of every file ends up in an event, counted as unrecognized, or counted
as blank, and `InputFile` says which; every problem is one line naming the file. The stages live in
their own modules: parser_choice (which parser), read_file (one file into pieces), log_text (framing
and recognizers), file_group (a group of files and their accounting), workers (the process pool),
events_table (concat, years, sort, `event_id`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from postmortem.input.discover import discover
from postmortem.input.events_table import build_events, fill_time_ranges
from postmortem.input.options import IngestOptions
from postmortem.input.parser_choice import parser_names
from postmortem.input.workers import ingest_parts
from postmortem.model import InputFile

__all__ = ["IngestOptions", "IngestResult", "ingest", "parser_names"]


@dataclass
class IngestResult:
    events: pl.DataFrame
    inputs: list[InputFile]
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def ingest(paths: list[str], opts: IngestOptions | None = None) -> IngestResult:
    """Read every input and return the sorted events table with per-file accounting."""
    opts = opts or IngestOptions()
    found, skipped = discover(paths, dict(opts.display_names))
    inputs: list[InputFile] = []
    warnings: list[str] = []
    for s in skipped:
        inputs.append(InputFile(path=s.path, skipped=True, problems=[s.reason]))
        warnings.append(f"{s.path}: {s.reason}")
    parts = ingest_parts(list(enumerate(found)), opts)
    inputs += [info for _, info in sorted((i for p in parts for i in p.inputs), key=lambda i: i[0])]
    order = {f.path: i for i, f in reversed(list(enumerate(found)))}
    # warnings in file order whatever the worker that produced them (sort is stable)
    warnings += sorted((w for p in parts for w in p.warnings),
                       key=lambda w: order.get(w.split(": ", 1)[0], len(order)))
    assumptions = list(dict.fromkeys(a for p in parts for a in p.assumptions))
    frames = [f for p in parts for f in p.frames]
    parts.clear()
    events, year_note = build_events(frames, opts, warnings)
    if year_note:
        assumptions.append(year_note)
    if opts.tz == "UTC":
        assumptions.append("Timestamps without a zone were read as UTC (set --tz to change).")
    else:
        assumptions.append(f"Timestamps without a zone were read in {opts.tz} (--tz).")
    for zone, glob in opts.tz_globs:
        assumptions.append(f"Timestamps without a zone in files matching {glob} were read in {zone} (--tz {zone}={glob}).")
    fill_time_ranges(inputs, events)
    return IngestResult(events, inputs, assumptions, warnings)
