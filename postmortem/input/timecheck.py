"""Per-file time sanity notes: events out of time order, and local times hit by a DST change.

Ingest sorts events by time and reads zone-less times in `--tz` (ambiguous → the earlier instant,
nonexistent → null); these checks say how many events that affected, one problem line each. Which
times were zone-less comes from the timestamp parser (`ts_zoned`): the file is parsed once, whatever `--tz`.
"""

from __future__ import annotations

import polars as pl

from parsers.noise import ACTIVITY


def _late_rows(events: pl.DataFrame, over: str | None) -> pl.DataFrame:
    """n (events earlier than an event on a line above them) and lag, per `over` column (or in all).

    A summarized activity row (parsers/noise.py) is dated by its second, not by its first line's
    time, so it is out of order only when its whole second lies before a time above it: comparing
    the floored second with the exact time above flagged most pieces of a busy log falsely."""
    ts = pl.col("ts")
    prior_max = ts.cum_max().shift(1).forward_fill()
    if over is not None:
        prior_max = prior_max.over(over)
    per_second = (pl.col("kind") == ACTIVITY.name) if "kind" in events.columns else pl.lit(False)
    above = pl.when(per_second).then(pl.col("_prior").dt.truncate("1s")).otherwise(pl.col("_prior"))
    keys = [over] if over is not None else []
    rows = (events.filter(ts.is_not_null()).sort([*keys, "line"], maintain_order=True)
            .with_columns(_prior=prior_max).with_columns(_above=above))
    late = dict(n=(ts < pl.col("_above")).sum(), lag=(pl.col("_above") - ts).max())
    return rows.group_by(over).agg(**late) if over is not None else rows.select(**late)


def _note(n: int, lag) -> str:
    return f"{n} events out of time order (up to {lag.total_seconds():.3f} s earlier than a line above); sorted by time"


def out_of_order(events: pl.DataFrame) -> list[str]:
    """Count events earlier than an event on a line above them in the same file (see `_late_rows`)."""
    if events.height < 2:
        return []
    stats = _late_rows(events, None).row(0, named=True)
    return [_note(stats["n"], stats["lag"])] if stats["n"] else []


def out_of_order_by_file(events: pl.DataFrame) -> dict[int, list[str]]:
    """`out_of_order` of every file of a table with a `_file` column, in one pass: {file: notes}."""
    stats = _late_rows(events, "_file").filter(pl.col("n") > 0)
    return {r["_file"]: [_note(r["n"], r["lag"])] for r in stats.iter_rows(named=True)}


def _ambiguous(ts: pl.Expr, tz: str) -> pl.Expr:
    local = ts.dt.convert_time_zone(tz).dt.replace_time_zone(None)
    first = local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    last = local.dt.replace_time_zone(tz, ambiguous="latest", non_existent="null")
    return first != last


def local_time_counts(ts: pl.Series, ts_zoned: pl.Series, tz: str) -> tuple[int, int]:
    """(repeated, skipped): zone-less local times in the hour a DST change repeats, or skips (no instant).

    `ts_zoned` is the timestamp parser's per-row flag (timeparse.py): only times without their own zone
    were read in `tz`, so only those can be hit.
    """
    if tz == "UTC" or ts.len() == 0:
        return 0, 0
    local = pl.DataFrame({"ts": ts, "zoneless": ts_zoned.eq_missing(False)}).filter(pl.col("zoneless"))
    counts = local.select(
        skipped=pl.col("ts").is_null().sum(), repeated=_ambiguous(pl.col("ts"), tz).fill_null(False).sum(),
    ).row(0, named=True)
    return int(counts["repeated"]), int(counts["skipped"])


def local_time_counts_by_file(events: pl.DataFrame, tz: str) -> dict[int, tuple[int, int]]:
    """`local_time_counts` of every file of a table with a `_file` column, in one pass: {file: (repeated,
    skipped)}, only files with some."""
    if tz == "UTC" or events.height == 0:
        return {}
    counts = events.filter(pl.col("ts_zoned").eq_missing(False)).group_by("_file").agg(
        skipped=pl.col("ts").is_null().sum(), repeated=_ambiguous(pl.col("ts"), tz).fill_null(False).sum(),
    ).filter((pl.col("skipped") > 0) | (pl.col("repeated") > 0))
    return {r["_file"]: (int(r["repeated"]), int(r["skipped"])) for r in counts.iter_rows(named=True)}


def dst_notes(repeated: int, skipped: int, tz: str) -> list[str]:
    """The problem lines for a file's DST-hit local times (see `local_time_counts`)."""
    notes = []
    if repeated:
        notes.append(
            f"{repeated} local times fall in the hour repeated by a DST change in {tz}: "
            "read as the first occurrence"
        )
    if skipped:
        notes.append(
            f"{skipped} local times fall in the hour skipped by a DST change in {tz}: "
            "no valid instant, kept without a time (sorted last)"
        )
    return notes
