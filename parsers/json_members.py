"""A struct column as JSON objects without their null members, built by concatenation (issue #20).

StackExchange.Redis writes ~80 fields per record, most of them null on any one record, and the recognizer
(every record it claims but the timeouts kept in their message alone) and `se_attrs.one_form` (timeouts the
recognizer did not decide) encode them. Encoding every member and
then deleting the null ones with a regex (`without_nulls_plain`) spent most of its time in the regex, which
tries every member; joining only the present members' `"key":value` pieces gives the same text in about 80 % of
the CPU time (the dense 100 MiB file's 45,021 timeouts: 0.46-0.48 → 0.37-0.38 CPU s).
"""

from __future__ import annotations

import re

import polars as pl

NULL_MEMBER = r",\"[\w-]+\":null"
# polars' (serde_json's) escapes inside a JSON string: quote, backslash, and every control character
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES.update({chr(i): f"\\u{i:04x}" for i in range(32) if chr(i) not in _ESCAPES})
_ESC_FROM, _ESC_TO = list(_ESCAPES), list(_ESCAPES.values())
# Every member is a column of its own until they are joined (a 16-byte view per value): joined all at once, the
# dense file's 45,021 timeouts took 135 MiB more at the peak than the plain form (+28); 4,096 rows at a time, +58,
# and no more than the plain form at the peak of a worker's ingest (419-421 against 421-425 MiB)
CHUNK_ROWS = 4096
# values whose JSON text is their String cast (integers' digits, booleans' true/false)
_CAST = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64, pl.Boolean)


def without_nulls_plain(fields: pl.Expr) -> pl.Expr:
    """The plain form: every member encoded, then each `,"key":null` after the first member removed."""
    return fields.struct.json_encode().str.replace_all(NULL_MEMBER, "")


def without_nulls(fields: pl.Expr) -> pl.Expr:
    """`without_nulls_plain(fields)` for a struct expression, as one concatenation of the present members."""
    return fields.map_batches(_encode_series, return_dtype=pl.String)


def _encode_series(s: pl.Series) -> pl.Series:
    if s.null_count():  # a null struct is a null text: only the others are encoded
        present = s.is_not_null()
        out = pl.Series(s.name, [None] * s.len(), dtype=pl.String)
        return out.scatter(present.arg_true(), _encode_present(s.filter(present)))
    return _encode_present(s)


def _encode_present(s: pl.Series) -> pl.Series:
    members = s.dtype.fields if isinstance(s.dtype, pl.Struct) else []
    # keys the plain form's `[\w-]+` would not remove, or need escaping; values not written as their cast
    if not members or any(not re.fullmatch(r"[A-Za-z0-9_-]+", f.name) for f in members) or any(
            f.dtype != pl.String and f.dtype not in _CAST for f in members):
        return s.to_frame().select(without_nulls_plain(pl.col(s.name))).to_series().alias(s.name)
    pieces: list[pl.Expr] = []
    for i, f in enumerate(members):
        value = pl.col(f.name)
        quoted = [pl.lit('"'), value.str.replace_many(_ESC_FROM, _ESC_TO), pl.lit('"')]
        text = quoted if f.dtype == pl.String else [value.cast(pl.String)]
        if i == 0:  # the plain form keeps the first member, null or not (no comma before it)
            pieces += [pl.lit('{"' + f.name + '":'), pl.coalesce(pl.concat_str(text), pl.lit("null"))]
        else:  # null where the value is (`concat_str` of a null is null): the member is left out
            pieces.append(pl.concat_str([pl.lit(',"' + f.name + '":'), *text]))
    pieces.append(pl.lit("}"))
    frame = s.struct.unnest()
    out = pl.concat([frame.slice(at, CHUNK_ROWS).select(pl.concat_str(pieces, ignore_nulls=True).alias(s.name))
                     .to_series() for at in range(0, max(frame.height, 1), CHUNK_ROWS)])
    return out
