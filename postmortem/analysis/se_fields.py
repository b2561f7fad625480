"""The StackExchange.Redis records with the `attrs` fields the rules read, decoded once per events table.

`correlate.attr` reads one field with `json_path_match`, which parses the record's whole `attrs` JSON (about
900 bytes for a timeout with every field) again for every field and every rule: on the dense 1 GiB file the
thread-pool, abortConnect, multiplexer and version rules spent 15, 12 and 9 CPU s on 459k records. Here each
record's JSON is parsed once into the fields below (issue #20).
"""

from __future__ import annotations

import re

import polars as pl

from postmortem.analysis.correlate import attr
from postmortem.analysis.table_memo import per_table
from postmortem.failures import RECOVERABLE

SOURCE = "stackexchange_redis"
FIELDS = ("v", "lib_version", "aoc", "lm_created", "mc_attempts", "worker_busy", "worker_min", "iocp_busy",
          "iocp_min")
DECODE_ROWS = 20_000  # records decoded at a time
PREFIX = "attr_"  # the decoded columns: `attr_<field>`, String as `attr(field)` gives it


def _other_values(names: tuple[str, ...]) -> pl.Expr:
    """A record holding one of the fields as anything but a string, an integer or null: decoding that into a
    string is not what `json_path_match` gives (0.0 becomes `0`), so such a table is read field by field."""
    keys = "|".join(re.escape(n) for n in names)
    return pl.col("attrs").str.contains(r'"(?:' + keys + r')"\s*:\s*(?:[^"\-\dn\s]|-?\d+[^\d,}\s])')


def decode_fields(rows: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """`attr(name)` for each name, as String columns `attr_<name>`, with one JSON parse per row. The recognizers
    write string and integer fields (`attrs_json`); a table with anything else in them, or whose `attrs` are not
    all JSON objects, is read field by field with `attr`, which gives null for what it cannot read."""
    out = [PREFIX + n for n in names]
    by_field = [attr(n).alias(o) for n, o in zip(names, out, strict=True)]
    if rows.select(_other_values(names).any()).item():
        return rows.select(*by_field)
    dtype = pl.Struct({n: pl.String for n in names})
    try:  # in slices: polars holds a whole slice's parsed JSON at once (1.5 GB for 459k records in one)
        parts = [rows.slice(i, DECODE_ROWS).select(pl.col("attrs").str.json_decode(dtype).alias("_a")).unnest("_a")
                 for i in range(0, rows.height, DECODE_ROWS)]
    except RECOVERABLE:
        return rows.select(*by_field)
    decoded = pl.concat(parts) if parts else pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    return decoded.rename(dict(zip(names, out, strict=True)))


@per_table
def _decoded(events: pl.DataFrame) -> pl.DataFrame:
    """The fields alone, in the order of the StackExchange.Redis rows (kept for the table's life: small, unlike
    the rows' messages, which each caller selects again and lets go)."""
    return decode_fields(events.filter(pl.col("source") == SOURCE), FIELDS)


def se_records(events: pl.DataFrame) -> pl.DataFrame:
    """The StackExchange.Redis rows of `events` with `attr_<field>` for every field in FIELDS."""
    return events.filter(pl.col("source") == SOURCE).hstack(_decoded(events))


def field(name: str, dtype: pl.DataType = pl.String) -> pl.Expr:
    """A decoded field of `se_records`, cast as `attr(name, dtype)` casts it."""
    return pl.col(PREFIX + name).cast(dtype, strict=False)


def drop_fields(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop([c for c in df.columns if c.startswith(PREFIX)])
