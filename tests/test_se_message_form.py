"""The StackExchange.Redis recognizer decides which timeouts keep their fields in their message alone (issue #20),
comparing the two forms' structs where `one_form` compared their JSON texts: it must decide exactly as that check."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.stackexchange_redis import _FIELDS, StackExchangeRedis, message_form, timeout_attrs
from postmortem.input import file_group
from postmortem.input.ingest import IngestOptions, ingest

DATA = Path(__file__).parent / "data"
INPUTS = sorted([*(DATA / "stackexchange").iterdir(), DATA / "corpus" / "stackexchange-redis.txt",
                 DATA / "corpus" / "other-clients.txt", DATA / "example-incident", DATA / "dotnet-metrics-storm"])
TIMEOUT = (pl.col("source") == "stackexchange_redis") & (pl.col("kind") == "redis.timeout")


def _check(events: pl.DataFrame) -> pl.Series:
    """`one_form`'s check as main made it, per row: a timeout whose message alone gives its `attrs` JSON."""
    at = events.select(pl.arg_where(TIMEOUT)).to_series()
    same = pl.Series([False] * events.height, dtype=pl.Boolean)
    rows = events[at]
    return same.scatter(at.filter((timeout_attrs(rows) == rows.get_column("attrs")).fill_null(False)), True)


def _recognized(texts: list[str], on: bool) -> pl.DataFrame:
    with message_form(on):
        got = StackExchangeRedis().recognize(pl.DataFrame({"rec": list(range(len(texts))), "text": texts}))
    return got.with_columns(source=pl.lit("stackexchange_redis"))


def _decides_as_the_check(texts: list[str]) -> None:
    full, mine = _recognized(texts, False), _recognized(texts, True)
    expected = full.with_columns(attrs=pl.when(_check(full)).then(None).otherwise(pl.col("attrs")))
    assert mine.equals(expected)


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_the_recognizer_decides_as_the_check_on_the_fixtures(path, monkeypatch):
    """With `one_form`'s own check switched off, the table holds the recognizer's decision alone."""
    full = ingest([str(path)], IngestOptions()).events
    monkeypatch.setattr(file_group, "one_form", lambda frame: frame)
    mine = ingest([str(path)], IngestOptions(se_fields_in_message=True)).events
    assert mine.equals(full.with_columns(attrs=pl.when(_check(full)).then(None).otherwise(pl.col("attrs"))))


def _value(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True, alphabet=st.characters(codec="ascii", exclude_characters="\r\n"))


# every `key: value` field of the table, with values its own pattern takes (and, sometimes, one it does not)
_PAIR = st.sampled_from(_FIELDS).flatmap(lambda f: st.tuples(
    st.just(f[1]), st.one_of(_value(f[2]), _value(r"[\w ./%-]{0,8}")), st.sampled_from([": ", ":", "="])))
_HEADS = ("StackExchange.Redis.RedisTimeoutException: Timeout performing {cmd} ({ms}ms), next: {cmd} key:1",
          "Timeout awaiting response (outbound=1KiB, inbound=0KiB, {ms}ms elapsed, timeout is 5000ms), command={cmd}",
          "System.TimeoutException: Timeout performing {cmd} key:{ms}")


def _pairs(pairs: list[tuple[str, str, str]]) -> str:
    return ", ".join(key + sep + value for key, value, sep in pairs)


@st.composite
def _record(draw: st.DrawFn) -> str:
    """A timeout in the library's layout (formats.md §1.2-1.4): its fields in any order and subset, a line
    before it that may carry fields of its own, stack frames (or a log line) after it."""
    head = draw(st.sampled_from(_HEADS)).format(cmd=draw(st.sampled_from(["GET", "SET", "HGETALL"])),
                                               ms=draw(st.integers(0, 20000)))
    fields = _pairs(draw(st.lists(_PAIR, max_size=12)))
    pools = draw(st.sampled_from(["", ", IOCP: (Busy=0,Free=1000,Min=4,Max=1000), WORKER: (Busy=9,Free=1,Min=4,Max=9)"]))
    before = draw(st.sampled_from(["", "2026-03-14 02:00:00,010 ERROR Cart.Api.CartStore - Cache failure for cart 7\n",
                                   "12:00:01.123: Connecting (sync) on x\n"]))
    before += draw(st.one_of(st.just(""), st.lists(_PAIR, min_size=1, max_size=3).map(lambda p: _pairs(p) + "\n")))
    after = draw(st.sampled_from(["", " (Please take a look at this article: https://x/Timeouts)",
                                  "\n   at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message m)",
                                  "\n   at X.Y() StackExchange.Redis, Version=2.0.0.0"]))
    return before + head + (", " + fields if fields else "") + pools + after


# other records of the same batch: a failure, and a config record (the recognizer then adds the config options)
_OTHERS = st.sampled_from([
    "SocketFailure on r:6379/Interactive, Idle/Faulted, last: GET, origin: ReadFromPipe, outstanding: 12, "
    "last-read: 22s ago, state: ConnectedEstablished, mgr: 9 of 10 available, in: 0, v: 2.7.33.41805",
    "13:47:45.2678: redisserver:6379,syncTimeout=1000,allowAdmin=True,connectTimeout=1000,abortConnect=False",
])


@settings(max_examples=100, deadline=None)
@given(st.lists(_record(), min_size=1, max_size=6), st.lists(_OTHERS, max_size=2))
def test_the_recognizer_decides_as_the_check_on_generated_timeouts(timeouts, others):
    _decides_as_the_check(timeouts + others)


def test_a_long_message_is_cut_before_it_is_compared():
    """A message is the line's first 2,000 characters: fields past them are the head's alone."""
    line = "Timeout performing GET key, inst: 1, clientName: " + "x" * 2000 + ", qs: 5"
    _decides_as_the_check([line, "Timeout performing GET key, inst: 1, qs: 5"])


# Text before a timeout's message line that the `_head` searches may read: fields, a command, figures the
# searches take, delimiters at its end, nothing at all; and messages that start with a field (there `^` holds
# in the message and not in the head), so `_head_searched_as_message` must not prove them.
_BEFORE_BITS = st.sampled_from([
    "Cache failure for cart 7", "5984ms elapsed", "Timeout performing GET (5000ms)", "command=GET", "inst: 3",
    "qs:", "in=0/0", "IOCP: (Busy=1,Free=2,Min=3,Max=4)", "POOL: (Threads=1,QueuedItems=2,CompletedItems=3)",
    "serverEndpoint: r:6379", "v: 2.6.1", "clientName: a-b(SE.Redis-v2.6.1)", "mgr: 9 of 10 available", ",", "(",
    "[", " ", "\t", "faulted: x", "There was an authentication failure", "SocketFailure on r:1/Interactive",
    "Resurrecting r:1 (retry: 2)", "12:00:01.123: ", "é", "\n",
])
_MESSAGE_STARTS = st.sampled_from(["", "qs: 4, ", "inst: 1, ", "in=0/0, ", "5ms elapsed, ", "mgr: 1 of 2 available, ",
                                   "StackExchange.Redis.RedisTimeoutException: ", "err: x, "])


@st.composite
def _prefixed(draw: st.DrawFn) -> str:
    before = "".join(draw(st.lists(_BEFORE_BITS, max_size=6)))
    start = draw(_MESSAGE_STARTS)
    line = start + "Timeout performing GET key, " + _pairs(draw(st.lists(_PAIR, max_size=6)))
    after = draw(st.sampled_from(["", ", qs: 9", "\nnext line, qs: 8", "\n   at X.Y()"]))
    return (before + "\n" if before else "") + line + after


@settings(max_examples=150, deadline=None)
@given(st.lists(_prefixed(), min_size=1, max_size=6))
def test_the_recognizer_decides_as_the_check_on_adversarial_heads(timeouts):
    """Where the head's searches are proved to read as the message's, the decision is still the check's."""
    _decides_as_the_check(timeouts)


def test_the_dense_files_timeouts_are_proved_by_one_search():
    """The storm layout (a log line, then the exception line) takes the proof: none of its fields is extracted
    from the head and the message both (the proof is used at all)."""
    from parsers import stackexchange_redis as se

    text = ("Cache failure for cart 279361\nStackExchange.Redis.RedisTimeoutException: Timeout performing GET "
            "(5000ms), next: GET cart:279361, inst: 9, qu: 27, qs: 41, serverEndpoint: redis-master:6379, "
            "clientName: cart-api-2ff8d2-011(SE.Redis-v2.6.122.38350), v: 2.6.122.38350\n   at X.Y()")
    assert se._head_search() is not None
    with message_form(True):
        cand = StackExchangeRedis().recognize(pl.DataFrame({"rec": [0], "text": [text]}))
    assert cand.get_column("attrs").to_list() == [None]
    records = pl.DataFrame({"_head": [text.split("\n   at")[0].replace("\n", " ")], "_line": [text.split("\n")[1]],
                            "_rule": ["redis.timeout"]})
    assert records.select(se._head_searched_as_message()).item()


def test_a_search_anchored_at_the_start_is_not_proved_by_the_head(monkeypatch):
    """`^` holds at the message's first byte and not where the message starts inside the head: a search matching
    there is never proved by the head (no field of today anchors so; the proof must not rely on that)."""
    from parsers import stackexchange_redis as se

    monkeypatch.setattr(se, "_head_search", lambda: r"^qs: (\d+)")
    rows = pl.DataFrame({"_head": ["x qs: 4", "x y qs: 4", "qs: 4"], "_line": ["qs: 4", "y qs: 4", "qs: 4"],
                         "_rule": ["redis.timeout"] * 3})
    assert rows.select(se._head_searched_as_message()).to_series().to_list() == [False, True, True]


def test_a_timeout_its_message_gives_is_never_extracted_from_its_head(monkeypatch):
    """The storm layout's timeouts (proved, their other fields the message's) skip the ~90 field searches of the
    head: no select of `attrs` runs for them; a record the message does not give (a log time before it) does."""
    from parsers import stackexchange_redis as se

    split, original = [], se.StackExchangeRedis._split

    def spy(self, cand, configs):
        split.append(cand.height)
        return original(self, cand, configs)

    monkeypatch.setattr(se.StackExchangeRedis, "_split", spy)
    text = ("Cache failure for cart 7\nStackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), "
            "inst: 9, qs: 41, serverEndpoint: redis-master:6379, clientName: a-b(SE.Redis-v2.6.1), v: 2.6.1\n   at X.Y()")
    with message_form(True):
        got = StackExchangeRedis().recognize(pl.DataFrame({"rec": [0, 1], "text": [text, "12:00:01.123: " + text]}))
    assert split == [1]
    assert got.get_column("attrs").is_null().to_list() == [True, False]
