"""The events table of a whole input: the per-file tables concatenated, year-less times given a year,
sorted by time, numbered (`event_id`); and each file's first and last time read back from it."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from postmortem.input.options import IngestOptions
from postmortem.input.timeparse import PLACEHOLDER_YEAR
from postmortem.model import EVENT_COLUMNS, InputFile, empty_events


def build_events(frames: list[pl.DataFrame], opts: IngestOptions) -> tuple[pl.DataFrame, str | None]:
    """The sorted, numbered events table, and the note saying which year year-less times were given.

    Empties `frames`: the per-file tables are let go before the sort copies the whole table."""
    events = pl.concat(frames, how="vertical", rechunk=False) if frames else empty_events()
    frames.clear()
    events, year_note = _resolve_years(events, opts)
    events = (
        events.sort(["ts", "path", "line"], nulls_last=True, maintain_order=True)
        .drop("event_id")
        .with_row_index("event_id")
        .with_columns(pl.col("event_id").cast(pl.UInt32))
        .select(EVENT_COLUMNS)
    )
    return events, year_note


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


def fill_time_ranges(inputs: list[InputFile], events: pl.DataFrame) -> None:
    """Set each file's first and last event time from the final (year-resolved) table."""
    if events.height == 0:
        return
    ranges = events.group_by("path").agg(first=pl.col("ts").min(), last=pl.col("ts").max())
    by_path = {r["path"]: (r["first"], r["last"]) for r in ranges.iter_rows(named=True)}
    for info in inputs:
        if info.path in by_path:
            info.first_ts, info.last_ts = by_path[info.path]
