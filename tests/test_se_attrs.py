"""The analysis' events table keeps a StackExchange.Redis timeout's fields once, in its message, and every reader
gets what the `attrs` JSON gave (issue #20: the dense 1 GiB file's `attrs` were 463 MiB, nearly all timeouts')."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.stackexchange_redis import StackExchangeRedis, timeout_attrs, timeout_fields
from postmortem.analysis.correlate import attr
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.analysis.se_fields import FIELDS, with_fields
from postmortem.input.ingest import IngestOptions, ingest
from postmortem.se_attrs import derived, one_form, with_attrs

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from generate_dense import generate as generate_dense  # noqa: E402

DATA = Path(__file__).parent / "data"
# every fixture with StackExchange.Redis timeouts in it
INPUTS = sorted([*(DATA / "stackexchange").iterdir(), DATA / "corpus" / "stackexchange-redis.txt",
                 DATA / "corpus" / "other-clients.txt", DATA / "example-incident", DATA / "dotnet-metrics-storm"])
READ = (*FIELDS, "timeout_ms", "qs", "command", "client_name", "inst", "aw", "mgr", "conn-sec")


def _both(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (ingest([str(path)], IngestOptions()).events,
            ingest([str(path)], IngestOptions(se_fields_in_message=True)).events)


def _fields(rows: pl.DataFrame) -> pl.DataFrame:
    return with_fields(rows, READ).select(pl.col("^attr_.*$"))


def _attr_read(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(*(attr(n).alias("attr_" + n) for n in READ))


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_the_one_form_table_gives_back_every_attrs_and_field(path):
    full, one = _both(path)
    assert with_attrs(one).equals(full)
    assert _fields(one).equals(_attr_read(full))
    timeouts = one.filter((pl.col("source") == "stackexchange_redis") & (pl.col("kind") == "redis.timeout"))
    kept = timeouts.filter(pl.col("attrs").is_not_null())
    if kept.height:  # a timeout keeps its JSON only where its message alone does not give it
        assert not (timeout_attrs(kept) == kept.get_column("attrs")).any()


def _stored(column: pl.DataFrame) -> int:
    """Bytes of a column as written to Arrow (a worker's frames travel so): the values' buffers, dead ones too."""
    out = io.BytesIO()
    column.write_ipc(out, compression="uncompressed")
    return out.tell()


def test_the_fixtures_timeouts_store_their_fields_once():
    """Most fixture timeouts' fields are in their message alone: their `attrs` are not stored a second time."""
    timeouts = derived_rows = 0
    for path in INPUTS:
        full, one = _both(path)
        timeouts += one.filter((pl.col("source") == "stackexchange_redis") & (pl.col("kind") == "redis.timeout")).height
        derived_rows += one.select(derived().sum()).item()
    assert timeouts > 20 and derived_rows >= timeouts // 2, (timeouts, derived_rows)


def test_a_dense_logs_timeouts_attrs_are_not_stored(tmp_path):
    """The dense benchmark's shape (1 MiB of it): every timeout is kept in its message alone, and the bytes of
    their `attrs` are gone from the column's buffers too, not only from its values."""
    generate_dense(tmp_path / "dense.log", 1)
    full, one = _both(tmp_path / "dense.log")
    mine = one.select(derived()).to_series()
    timeouts = full.filter((pl.col("source") == "stackexchange_redis") & (pl.col("kind") == "redis.timeout"))
    assert timeouts.height > 100 and mine.sum() == timeouts.height
    saved = timeouts.get_column("attrs").str.len_bytes().sum()
    assert _stored(one.select("attrs")) <= _stored(full.select("attrs")) - saved * 0.9
    assert with_attrs(one).equals(full)


def test_analyze_returns_the_table_with_every_attrs():
    path = DATA / "example-incident"
    _, result = analyze([str(path)], AnalyzeOptions(redact=False))
    full = ingest([str(path)], IngestOptions()).events
    mine = result.events.filter(pl.col("source") == "stackexchange_redis")
    assert mine.height and mine.get_column("attrs").null_count() == 0
    theirs = full.filter(pl.col("source") == "stackexchange_redis")
    assert sorted(mine.get_column("attrs").to_list()) == sorted(theirs.get_column("attrs").to_list())


_TIMEOUT = ("StackExchange.Redis.RedisTimeoutException: Timeout performing {cmd} ({ms}ms), next: {cmd} key:1, "
            "inst: {inst}, qu: 0, qs: {qs}, aw: {aw}, rs: ReadAsync, ws: Idle, in: 0, serverEndpoint: {ep}, "
            "aoc: {aoc}, mc: {mc}/1/0, mgr: 10 of 10 available, clientName: {pod}(SE.Redis-v{v}), "
            "IOCP: (Busy=0,Free=1000,Min={imin},Max=1000), WORKER: (Busy={busy},Free=1,Min={wmin},Max=32767), v: {v}")
# a line before the exception that carries fields of its own (then the message alone does not give `attrs`)
_BEFORE = st.sampled_from(["", "Cache failure for cart 7\n", "qs: 999, v: 9.9.9 in the line above\n",
                           "12:00:01.123: connecting\n", "lm: 1/2/3/4 aoc: 0\n"])
_AFTER = st.sampled_from(["", "\n   at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message m)",
                          "\n   at X.Y() StackExchange.Redis, Version=2.0.0.0"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_BEFORE, st.fixed_dictionaries({
    "cmd": st.sampled_from(["GET", "SET", "HGETALL"]), "ms": st.integers(1, 20000), "inst": st.integers(0, 99),
    "qs": st.integers(0, 10**6), "aw": st.sampled_from(["True", "False"]), "ep": st.sampled_from(["r:6379", "10.0.0.1:6380"]),
    "aoc": st.integers(0, 1), "mc": st.integers(1, 9), "pod": st.sampled_from(["api-1", "cart-api-7f9c-x2k8p"]),
    "v": st.sampled_from(["2.6.122.38350", "2.0.601"]), "imin": st.integers(1, 64), "busy": st.integers(0, 500),
    "wmin": st.integers(1, 64)}), _AFTER), min_size=1, max_size=6))
def test_fields_read_from_the_message_are_the_recognizers(records):
    texts = [before + _TIMEOUT.format(**fields) + after for before, fields, after in records]
    got = StackExchangeRedis().recognize(pl.DataFrame({"rec": list(range(len(texts))), "text": texts}))
    full = got.with_columns(source=pl.lit("stackexchange_redis"))
    one = one_form(full)
    assert with_attrs(one).equals(full)
    assert _fields(one).equals(_attr_read(full))


def test_a_timeout_field_asked_alone_is_the_field_asked_with_all_the_others(tmp_path):
    """`timeout_fields` computes only the first choices the asked fields read: each field asked alone (and the
    endpoint with the version) equals what it is among every field, on the fixtures' and a dense file's timeouts."""
    generate_dense(tmp_path / "dense.log", 1)
    events = pl.concat([ingest([str(p)], IngestOptions()).events.select("source", "kind", "message")
                        for p in [*INPUTS, tmp_path / "dense.log"]])
    rows = events.filter((pl.col("source") == "stackexchange_redis") & (pl.col("kind") == "redis.timeout"))
    assert rows.height > 100
    names = tuple(e.meta.output_name() for e in StackExchangeRedis()._fields(configs=False))
    every = timeout_fields(rows, names)
    for asked in [(n,) for n in names] + [("serverEndpoint", "lib_version"), ("no_such_field", "timeout_ms")]:
        got = timeout_fields(rows, asked)
        assert got.equals(every.select(asked) if asked[0] != "no_such_field"
                          else every.select(pl.lit(None, pl.String).alias("no_such_field"), "timeout_ms")), asked


# `attr(name)` of a timeout field, read on rows that are never StackExchange.Redis timeouts (file, field)
NOT_TIMEOUT_ROWS = {("slow_commands.py", "command"), ("slow_commands.py", "client_name"),  # SLOW_KINDS rows
                    ("slow_commands.py", "client")}


def test_no_rule_reads_a_timeout_field_past_se_fields():
    """A timeout kept in its message alone has null `attrs`, so `attr` of one of its fields reads null there: every
    reader of those fields goes through `se_fields` (this lists the analysis' `attr`/`json_path_match` reads of a
    field the recognizer writes on a timeout; a new one must use `with_fields` or be listed above with why)."""
    names = {e.meta.output_name() for e in StackExchangeRedis()._fields(configs=False)}
    found = set()
    for path in (Path(__file__).parents[1] / "postmortem").rglob("*.py"):
        for m in re.finditer(r"""(?:\battr\(|json_path_match\(f?["']\$(?:\.|\[')?)["']?([\w-]+)""", path.read_text()):
            if m.group(1) in names:
                found.add((path.name, m.group(1)))
    assert found <= NOT_TIMEOUT_ROWS, found - NOT_TIMEOUT_ROWS
