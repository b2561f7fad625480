"""The StackExchange.Redis records with the `attrs` fields the rules read, decoded once per events table.

`correlate.attr` reads one field with `json_path_match`, which parses the record's whole `attrs` JSON (about
900 bytes for a timeout with every field) again for every field and every rule: on the dense 1 GiB file the
thread-pool, abortConnect, multiplexer and version rules spent 15, 12 and 9 CPU s on 459k records. Here each
record's JSON is parsed once into the fields below (issue #20).

Most records are read without a JSON parser: in a record with no escape, no nested value and each field at most
once as a plain string, a short integer or null, a regex finds what the parser finds, in less than half the CPU
(dense 1 GiB file: 2.3-2.5 s against 5.6-5.9 s), and without `json_decode`'s memory: it held about 9x the bytes it
parsed (+365 MiB for the 39 MiB of `attrs` of the dense 100 MiB file, against +27 for the regexes). The other
records are still decoded.
"""

from __future__ import annotations

import re

import polars as pl

from postmortem.analysis.correlate import attr
from postmortem.analysis.table_memo import per_table
from postmortem.failures import RECOVERABLE
from postmortem.messages_apart import each_restored
from postmortem.se_attrs import derived, derived_fields

SOURCE = "stackexchange_redis"
FIELDS = ("v", "lib_version", "aoc", "lm_created", "mc_attempts", "worker_busy", "worker_min", "iocp_busy",
          "iocp_min")
DECODE_ROWS = 20_000  # records decoded at a time
FIELD_ROWS = 100_000  # records whose fields `_decoded` reads at a time
PREFIX = "attr_"  # the decoded columns: `attr_<field>`, String as `attr(field)` gives it
# a member whose value `json_path_match` prints back as written: a string without escapes, an integer as serde_json
# writes it (no leading zero, no `-0`, short enough to stay an integer), or null; then the member's end
_PLAIN_MEMBER = r'"{key}"\s*:\s*(?:"([^"\\]*)"|(-?[1-9]\d{{0,17}}|0)|(null))\s*[,}}]'


def _other_values(names: tuple[str, ...]) -> pl.Expr:
    """A record holding one of the fields as anything but a string, an integer or null, or as an integer of 19
    digits or more: decoding that into a string is not what `json_path_match` gives (0.0 becomes `0`, an integer
    past i64 is read another way), so such a table is read field by field."""
    keys = "|".join(re.escape(n) for n in names)
    return pl.col("attrs").str.contains(r'"(?:' + keys + r')"\s*:\s*(?:[^"\-\dn\s]|-?\d+[^\d,}\s]|-?\d{19})')


def _repeated(names: tuple[str, ...]) -> pl.Expr:
    """A record naming one of the fields twice: `json_decode` keeps the first, `json_path_match` the last."""
    return pl.max_horizontal([pl.col("attrs").str.count_matches(r'"' + re.escape(n) + r'"\s*:') for n in names]) > 1


def read_plain(rows: pl.DataFrame, names: tuple[str, ...]) -> tuple[pl.Series, pl.DataFrame]:
    """`attr(name)` for each name by regex, as String columns `attr_<name>`, and which rows it is exact for: an
    object with no backslash (so every quote is JSON's own), no `[` and no `{` but the first (nothing nested, so
    each key is the top level's), in which every quoted field name is the key of a `_PLAIN_MEMBER` (so each
    field is there at most once, as a plain value)."""
    at = pl.col("attrs")
    found = rows.select(
        *(at.str.extract_groups(_PLAIN_MEMBER.format(key=re.escape(n))).alias(n) for n in names),
        _quoted=at.str.count_matches('"(?:' + "|".join(re.escape(n) for n in names) + ')"'),
        _flat=(at.str.starts_with("{") & at.str.ends_with("}") & ~at.str.contains("\\", literal=True)
               & ~at.str.contains("[", literal=True) & (at.str.count_matches("{", literal=True) == 1)),
    )
    members = pl.sum_horizontal(pl.any_horizontal(pl.col(n).struct.field(g).is_not_null() for g in "123")
                                for n in names)
    exact = (pl.col("_flat") & (pl.col("_quoted") == members)).fill_null(False)
    values = [pl.coalesce(pl.col(n).struct.field("1"), pl.col(n).struct.field("2")).alias(PREFIX + n) for n in names]
    out = found.select(exact.alias("_exact"), *values)
    return out.get_column("_exact"), out.drop("_exact")


def decode_fields(rows: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """`attr(name)` for each name, as String columns `attr_<name>`: by regex where `read_plain` is exact, the
    other rows with `decode_json`. No rows, no select: polars compiles its patterns even for none (~10 ms)."""
    if rows.height == 0:
        return pl.DataFrame(schema={PREFIX + n: pl.String for n in names})
    plain, values = read_plain(rows, names)
    if plain.all():
        return values
    if not plain.any():
        return decode_json(rows, names)
    return _merged(plain, values.filter(plain), decode_json(rows.filter(~plain), names))


def _merged(mask: pl.Series, yes: pl.DataFrame, no: pl.DataFrame) -> pl.DataFrame:
    """The rows `yes` (where `mask`) and `no` (the others) back in the order of `mask`."""
    order = pl.concat([mask.arg_true(), (~mask).arg_true()]).arg_sort()
    return pl.concat([yes, no]).select(pl.all().gather(order))


def read_fields(rows: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """`attr(name)` for each name as `attr_<name>`, as it reads `se_attrs.with_attrs(rows)`: the fields of a
    timeout kept in its message alone (`se_attrs.derived`) are derived from it, the other rows' decoded."""
    if not {"source", "kind", "message"} <= set(rows.columns):  # a table without them has every `attrs`
        return decode_fields(rows.select("attrs"), names)
    mine = rows.select(derived()).to_series()
    if not mine.any():
        return decode_fields(rows.select("attrs"), names)
    # their messages read back a slice at a time (`messages_apart`): a dense log's timeouts hold ~830 bytes each
    told = pl.concat([derived_fields(part, names) for part in each_restored(rows.filter(mine))])
    told = told.rename(lambda n: PREFIX + n)
    if mine.all():
        return told
    return _merged(mine, told, decode_fields(rows.filter(~mine).select("attrs"), names))


def decode_json(rows: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """`attr(name)` for each name, as String columns `attr_<name>`, with one JSON parse per row. The recognizers
    write string and integer fields (`attrs_json`); a table with anything else in them, a field named twice in a
    record, or `attrs` that are not all JSON objects, is read field by field with `attr`, which gives null for what it cannot read."""
    out = [PREFIX + n for n in names]
    by_field = [attr(n).alias(o) for n, o in zip(names, out, strict=True)]
    if rows.select(_other_values(names).any() | _repeated(names).any()).item():
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
    the rows' messages, which each caller selects again and lets go), each Categorical: a field takes a few values
    (versions, thread counts), and a String value is a 16-byte view at least (dense 1 GiB: 92 → ~20 MiB kept).
    `field` reads them back as String first, so every reader sees the strings `read_fields` gave."""
    kept = events.select(c for c in ("event_id", "source", "kind", "attrs", "message") if c in events.columns)
    at = events.select(pl.arg_where(pl.col("source") == SOURCE)).to_series()
    # in slices of rows (each row's fields are its own): all at once, the rows and their fields' strings before the
    # cast were +190 MiB on the dense 1 GiB file, the analysis' highest transient
    return pl.concat([read_fields(kept[at.slice(i, FIELD_ROWS)], FIELDS).select(pl.all().cast(pl.Categorical))
                      for i in range(0, max(at.len(), 1), FIELD_ROWS)])


def se_records(events: pl.DataFrame, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """The StackExchange.Redis rows of `events` (only `columns` of them when given: a filter copies every column it
    keeps) with `attr_<field>` for every field in FIELDS."""
    rows = events if columns is None else events.select(columns)
    return rows.filter(events.get_column("source") == SOURCE).hstack(_decoded(events))


def se_figures(events: pl.DataFrame, **figures: pl.Expr) -> pl.DataFrame:
    """`figures` (expressions over `field`s) of the StackExchange.Redis rows, with `_pos`, each row's position in
    `events`, and none of the rows' other columns: small enough to keep for the table's life, where the rows
    themselves (`at_positions`) are selected again by each caller and let go."""
    positions = events.select(pl.arg_where(pl.col("source") == SOURCE).alias("_pos"))
    return positions.hstack(_decoded(events)).select("_pos", **figures)


def at_positions(events: pl.DataFrame, figures: pl.DataFrame, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """The rows of `events` (only `columns` of them when given: a gather copies every column it keeps) at the `_pos`
    of `se_figures`, with the figures after their columns."""
    rows = events if columns is None else events.select(columns)
    return rows[figures.get_column("_pos")].hstack(figures.drop("_pos"))


def with_fields(rows: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """`rows` (any source) with `attr_<name>` for each name, for `field` to read: what `attr` reads of
    `se_attrs.with_attrs(rows)`, with `read_fields` instead of one `json_path_match` (a whole JSON parse) per row
    and field."""
    return rows.hstack(read_fields(rows, names))


def field(name: str, dtype: pl.DataType = pl.String) -> pl.Expr:
    """A decoded field of `se_records`, cast as `attr(name, dtype)` casts it."""
    return pl.col(PREFIX + name).cast(pl.String).cast(dtype, strict=False)


def drop_fields(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop([c for c in df.columns if c.startswith(PREFIX)])
