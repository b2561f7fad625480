"""The analysis' events table holds each StackExchange.Redis timeout's fields once (issue #20).

A timeout's ~50 fields are in its `message` and, again, in its `attrs` JSON: on a dense log those two columns are
most of the table (1 GiB file: `message` 383 MiB, `attrs` 463 MiB). Where the recognizer, run on the `message`
alone, writes exactly the stored `attrs`, the table of `analyze` keeps `attrs` null (`one_form`; checked per row,
so a timeout whose fields come from other lines of its record keeps its JSON) and the readers derive the fields
they ask for from the message (`se_fields`), the same expressions the recognizer uses. Everything that leaves the
analysis with the events (`parse`, `analyze`'s returned table) has them back first (`with_attrs`).
"""

from __future__ import annotations

import polars as pl

from parsers.stackexchange_redis import timeout_attrs, timeout_fields

SOURCE = "stackexchange_redis"
KIND = "redis.timeout"


def derived() -> pl.Expr:
    """A row whose `attrs` are its message's (null `attrs` on a StackExchange.Redis timeout: the recognizer
    writes `attrs` for every record it claims, so null there means `one_form` left them out)."""
    return (pl.col("source") == SOURCE) & (pl.col("kind") == KIND) & pl.col("attrs").is_null()


def one_form(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `attrs` null on the StackExchange.Redis timeouts whose message gives exactly those `attrs`.
    The recognizer decides that under `message_form` (`ingest_files`), so only rows it did not see are checked
    here, as before: the timeouts whose `attrs` are still written out."""
    at = frame.select(pl.arg_where((pl.col("source") == SOURCE) & (pl.col("kind") == KIND)
                                   & pl.col("attrs").is_not_null())).to_series()
    cleared = frame.get_column("attrs")
    if at.len():
        rows = frame[at]
        same = timeout_attrs(rows) == rows.get_column("attrs")
        cleared = cleared.scatter(at.filter(same.fill_null(False)), None)
    if not frame.with_columns(cleared).select(derived().any()).item():
        return frame
    # a string column's nulled values keep their bytes in its buffers (written to the workers' Arrow files, kept
    # through every gather): the concatenation writes the values left into new ones
    return frame.with_columns(pl.concat_str([cleared, pl.lit("")]).alias("attrs"))


def with_attrs(events: pl.DataFrame) -> pl.DataFrame:
    """`events` with every timeout's `attrs` written out again (the table `ingest` gives without `one_form`)."""
    at = events.select(pl.arg_where(derived())).to_series()
    if at.len() == 0:
        return events
    return events.with_columns(events.get_column("attrs").scatter(at, timeout_attrs(events[at])))


def derived_fields(rows: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """The fields `names` of rows that are all `derived()`, as `attr(name)` reads them from `with_attrs`."""
    return timeout_fields(rows.select("message"), names)
