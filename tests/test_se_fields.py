"""The StackExchange.Redis fields decoded once per table read what `attr` reads, field by field (issue #20)."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.analysis.correlate import attr
from postmortem.analysis.se_fields import FIELDS, decode_fields, field, read_plain, se_records, with_fields

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


def test_no_records_runs_no_select(monkeypatch):
    """An empty table gives the columns `read_plain` would, without its select (whose patterns polars compiles
    even for no rows)."""
    from postmortem.analysis import se_fields

    expected = read_plain(_table([]), FIELDS)[1]

    def refuse(*_):
        raise AssertionError("read_plain ran on no rows")

    monkeypatch.setattr(se_fields, "read_plain", refuse)
    assert decode_fields(_table([]), FIELDS).equals(expected)


def test_no_records_and_records_in_many_slices(monkeypatch):
    from postmortem.analysis import se_fields

    assert decode_fields(_table([]), FIELDS).shape == (0, len(FIELDS))
    monkeypatch.setattr(se_fields, "DECODE_ROWS", 3)  # slices of 3: 10 rows in 4 slices, in order
    table = _table([json.dumps({"worker_busy": i}) for i in range(10)])
    assert decode_fields(table, FIELDS).get_column("attr_worker_busy").to_list() == [str(i) for i in range(10)]


# Hand-built JSON objects, so a key can come twice and a member can sit next to anything the regex reading of
# `read_plain` must not be fooled by: escapes, nested objects and lists, floats, long integers, other spacing.
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet='v01 :,{}[]"\\aé', max_size=8), st.sampled_from(FIELDS),
)
member_value = st.one_of(scalar, st.lists(scalar, max_size=2), st.dictionaries(st.sampled_from(FIELDS), scalar,
                                                                               max_size=2))


@st.composite
def hand_built(draw) -> str:
    members = draw(st.lists(st.tuples(st.sampled_from(FIELDS + ("qs", "x")), member_value), max_size=6))
    sep, colon, ascii_only = draw(st.sampled_from([",", ", "])), draw(st.sampled_from([":", ": ", " : "])), draw(st.booleans())
    return "{" + sep.join(json.dumps(k) + colon + json.dumps(v, ensure_ascii=ascii_only) for k, v in members) + "}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(hand_built(), st.none()), min_size=1, max_size=8))
def test_fields_read_by_regex_are_what_attr_reads(attrs):
    table = _table(attrs)
    decoded = decode_fields(table, FIELDS)
    plain, values = read_plain(table, FIELDS)
    for name in FIELDS:
        theirs = table.select(attr(name)).to_series()
        assert decoded.get_column(f"attr_{name}").to_list() == theirs.to_list(), (name, attrs)
        # where the regexes claim to be exact they are, whatever `decode_fields` does with the other rows
        assert values.get_column(f"attr_{name}").filter(plain).to_list() == theirs.filter(plain).to_list(), (name, attrs)


def test_the_recognizers_timeouts_are_read_by_regex():
    """The records of the dense file's kind (every field of a timeout) take the regex reading, not the decode."""
    from parsers.stackexchange_redis import StackExchangeRedis

    texts = list(StackExchangeRedis.samples) + [
        "Timeout performing GET (5000ms), next: GET cart:1, inst: 3, qu: 0, qs: 10, aw: False, bw: SpinningDown, "
        "rs: ReadAsync, ws: Idle, in: 8384, in-pipe: 0, out-pipe: 0, last-in: 2, cur-in: 0, sync-ops: 12, "
        "async-ops: 3, serverEndpoint: cache:6380, conn-sec: 1.5, aoc: 1, mc: 3/3/0, mgr: 9 of 10 available, "
        "clientName: api-6f7c9d-x2k8p(SE.Redis-v2.6.122.38350), IOCP: (Busy=0,Free=1000,Min=4,Max=1000), "
        "WORKER: (Busy=61,Free=32706,Min=8,Max=32767), POOL: (Threads=70,QueuedItems=5,CompletedItems=100), "
        "v: 2.6.122.38350, lm: 1/2/0/0 (Please take a look at this article)"]
    records = pl.DataFrame({"rec": list(range(len(texts))), "text": texts})
    events = StackExchangeRedis().recognize(records).filter(pl.col("kind") == "redis.timeout")
    assert events.height >= 2
    plain, values = read_plain(events, FIELDS)
    assert plain.all()
    assert values.get_column("attr_worker_busy").drop_nulls().len() == events.height
    assert values.to_dicts() == events.select(attr(n).alias(f"attr_{n}") for n in FIELDS).to_dicts()


def test_with_fields_reads_any_source():
    table = pl.DataFrame({"kind": ["redis.timeout"] * 3, "attrs": ['{"timeout_ms":500}', '{"timeout_ms": 2.5}', None]})
    got = with_fields(table, ("timeout_ms",)).select(field("timeout_ms", pl.Int64)).to_series().to_list()
    assert got == table.select(attr("timeout_ms", pl.Int64)).to_series().to_list() == [500, None, None]


def test_thread_stats_are_the_rows_read_whole():
    """`thread_stats` keeps positions and figures only and selects the rows again: the same frame as the plain form,
    which filtered the StackExchange.Redis rows whole, in the columns the rules read of them (`ROW_COLUMNS`)."""
    from parsers.stackexchange_redis import StackExchangeRedis
    from postmortem.analysis.detectors.base import ROW_COLUMNS
    from postmortem.analysis.detectors.client_health import thread_stats
    from postmortem.analysis.se_fields import drop_fields

    texts = [f"Timeout performing GET k{i} (5000ms), inst: 1, qs: {i}, v: 2.6.122.1, IOCP: (Busy={i % 3},Free=1000,"
             f"Min=2,Max=1000), WORKER: (Busy={(i * 7) % 23},Free=32000,Min=8,Max=32767)" for i in range(40)]
    se = StackExchangeRedis().recognize(pl.DataFrame({"rec": list(range(40)), "text": texts}))
    other = pl.DataFrame({"rec": [100, 101], "kind": ["app.log"] * 2, "message": ["a", "b"], "attrs": [None, '{"worker_busy":99}']},
                         schema_overrides={"attrs": pl.String})
    events = pl.concat([se.with_columns(source=pl.lit("stackexchange_redis")), other.with_columns(source=pl.lit("app"))],
                       how="diagonal").sample(fraction=1.0, shuffle=True, seed=3).with_row_index("event_id").with_columns(
        path=pl.lit("app.log"), line=pl.col("rec").cast(pl.UInt32) + 1, ts=pl.lit(None, pl.Datetime("us", "UTC")))
    plain = drop_fields(se_records(events).with_columns(
        worker_busy=field("worker_busy", pl.Int64), worker_min=field("worker_min", pl.Int64),
        iocp_busy=field("iocp_busy", pl.Int64), iocp_min=field("iocp_min", pl.Int64),
    )).filter((pl.col("worker_busy") > pl.col("worker_min")) | (pl.col("iocp_busy") > pl.col("iocp_min"))).with_columns(
        excess=pl.max_horizontal(pl.col("worker_busy") - pl.col("worker_min"), pl.col("iocp_busy") - pl.col("iocp_min"))
    ).select(*ROW_COLUMNS, "worker_busy", "worker_min", "iocp_busy", "iocp_min", "excess")
    got = thread_stats(events)
    assert 0 < got.height < 40
    assert got.equals(plain)
    assert thread_stats(events).equals(plain)  # the second caller, from the figures kept for the table


def test_fields_read_in_slices_are_the_fields_read_at_once(monkeypatch):
    """`_decoded` reads the rows' fields in slices: the same fields, in the rows' order, as one read of every row,
    with slices whose rows take different paths (message form, the regex, the decode, field by field)."""
    from parsers.stackexchange_redis import StackExchangeRedis
    from postmortem.analysis import se_fields
    from postmortem.se_attrs import one_form

    texts = [f"Timeout performing GET k{i} (5000ms), inst: 1, qs: {i}, v: 2.6.{i}.1, IOCP: (Busy={i % 3},Free=1000,"
             f"Min=2,Max=1000), WORKER: (Busy={(i * 7) % 23},Free=32000,Min=8,Max=32767)" for i in range(30)]
    se = StackExchangeRedis().recognize(pl.DataFrame({"rec": list(range(30)), "text": texts}))
    se = one_form(se.with_columns(source=pl.lit("stackexchange_redis"))).with_columns(  # every third keeps its JSON
        attrs=pl.when(pl.col("rec") % 3 == 0).then(pl.col("message").str.slice(0, 0) + '{"worker_busy": 5}')
        .when(pl.col("rec") == 20).then(pl.lit('{"worker_busy": 0.0}')).otherwise("attrs"))
    other = pl.DataFrame({"rec": [100, 101], "kind": ["app.log"] * 2, "message": ["a", "b"], "source": ["app"] * 2,
                          "attrs": [None, '{"worker_busy":99}']})
    events = pl.concat([se, other], how="diagonal_relaxed").sample(fraction=1.0, shuffle=True, seed=5)
    kept = events.filter(pl.col("source") == "stackexchange_redis")
    assert kept.select(se_fields.derived().any()).item() and kept.get_column("attrs").is_not_null().any()
    whole = se_fields.read_fields(kept, FIELDS)
    monkeypatch.setattr(se_fields, "FIELD_ROWS", 4)  # 30 rows in 8 slices
    got = se_fields._decoded.__wrapped__(events)
    assert got.height == 30 and got.dtypes == [pl.Categorical] * len(FIELDS)
    assert got.cast(pl.String).equals(whole)
