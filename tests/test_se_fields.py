"""The StackExchange.Redis fields decoded once per table read what `attr` reads, field by field (issue #20)."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.correlate import attr
from postmortem.analysis.se_fields import FIELDS, decode_fields, field, se_records

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.lists(st.integers(), max_size=2), st.dictionaries(st.sampled_from(FIELDS), st.integers(),
                                                                               max_size=2),
)
records = st.dictionaries(st.sampled_from(FIELDS + ("qs", "in-pipe", "v\u212a")), values, max_size=6)


def _table(attrs: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"source": ["stackexchange_redis"] * len(attrs), "attrs": attrs},
                        schema={"source": pl.String, "attrs": pl.String})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(records.map(json.dumps), st.none(), st.just("{}")), min_size=1, max_size=8))
def test_decoded_fields_are_what_attr_reads(attrs):
    table = _table(attrs)
    decoded = decode_fields(table, FIELDS)
    for name in FIELDS:
        for dtype in (pl.String, pl.Int64):
            mine = decoded.select(pl.col(f"attr_{name}").cast(dtype, strict=False)).to_series()
            theirs = table.select(attr(name, dtype)).to_series()
            assert mine.to_list() == theirs.to_list(), (name, dtype, attrs)


def test_a_table_with_broken_attrs_is_read_field_by_field():
    table = _table(['{"worker_busy": 7}', "not json", '["a list"]', None])
    got = se_records(table).select(field("worker_busy", pl.Int64)).to_series().to_list()
    assert got == table.select(attr("worker_busy", pl.Int64)).to_series().to_list() == [7, None, None, None]


def test_no_records_and_records_in_many_slices(monkeypatch):
    from postmortem.analysis import se_fields

    assert decode_fields(_table([]), FIELDS).shape == (0, len(FIELDS))
    monkeypatch.setattr(se_fields, "DECODE_ROWS", 3)  # slices of 3: 10 rows in 4 slices, in order
    table = _table([json.dumps({"worker_busy": i}) for i in range(10)])
    assert decode_fields(table, FIELDS).get_column("attr_worker_busy").to_list() == [str(i) for i in range(10)]
