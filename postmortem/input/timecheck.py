"""Per-file time sanity notes: events out of time order, and local times hit by a DST change.

Ingest sorts events by time and reads zone-less times in `--tz` (ambiguous → the earlier instant,
nonexistent → null); these checks say how many events that affected, one problem line each.
"""

from __future__ import annotations

import polars as pl

from parsers.envelopes import frame


def out_of_order(events: pl.DataFrame) -> list[str]:
    """Count events earlier than an event on a line above them in the same file."""
    if events.height < 2:
        return []
    ts = pl.col("ts")
    prior_max = ts.cum_max().shift(1).forward_fill()
    stats = (
        events.sort("line", maintain_order=True)
        .filter(ts.is_not_null())
        .select(n=(ts < prior_max).sum(), lag=(prior_max - ts).max())
        .row(0, named=True)
    )
    if not stats["n"]:
        return []
    lag = stats["lag"].total_seconds()
    return [f"{stats['n']} events out of time order (up to {lag:.3f} s earlier than a line above); sorted by time"]


def _ambiguous(ts: pl.Expr, tz: str) -> pl.Expr:
    local = ts.dt.convert_time_zone(tz).dt.replace_time_zone(None)
    first = local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    last = local.dt.replace_time_zone(tz, ambiguous="latest", non_existent="null")
    return first != last


def dst_notes(text: str, events: pl.DataFrame, tz: str, framed_log: bool) -> list[str]:
    """Say how many zone-less local times were ambiguous (repeated hour) or nonexistent (skipped hour).

    Only line logs are checked; the file is framed a second time in UTC, and only when `tz` is not
    UTC and some event is a candidate, to tell zone-less times (which moved) from zoned ones.
    """
    if tz == "UTC" or not framed_log or events.height == 0:
        return []
    cand = events.select(
        nulls=pl.col("ts").is_null().sum(), amb=_ambiguous(pl.col("ts"), tz).fill_null(False).sum()
    ).row(0, named=True)
    if not cand["nulls"] and not cand["amb"]:
        return []
    utc_records = frame(text, "UTC")[0].select("line", ts_utc="ts")
    both = events.select("line", "ts").join(utc_records, on="line", how="inner")
    zoneless = pl.col("ts") != pl.col("ts_utc")
    counts = both.select(
        skipped=(pl.col("ts").is_null() & pl.col("ts_utc").is_not_null()).sum(),
        repeated=(zoneless & _ambiguous(pl.col("ts"), tz)).fill_null(False).sum(),
    ).row(0, named=True)
    notes = []
    if counts["repeated"]:
        notes.append(
            f"{counts['repeated']} local times fall in the hour repeated by a DST change in {tz}: "
            "read as the first occurrence"
        )
    if counts["skipped"]:
        notes.append(
            f"{counts['skipped']} local times fall in the hour skipped by a DST change in {tz}: "
            "no valid instant, kept without a time (sorted last)"
        )
    return notes
