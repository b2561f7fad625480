"""The recognizers' cheaper paths give what their plain form gives, on generated and hostile records.

Each fast path here replaced a costlier polars expression of the same meaning (issue 20: recognition
of the dense single file); the plain form is kept in the test as the definition.
"""

from __future__ import annotations

from unittest.mock import patch

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import stackexchange_redis as se

# pieces of StackExchange.Redis texts: stack frames in every layout the head cut knows, fields, pools,
# Unicode digits and spaces, CRLF, tabs, and truncated bits
_SE_BITS = st.sampled_from([
    "Timeout performing GET (5000ms), ", "next: GET cart:1", "inst: 9, ", "qs: 41, ", "in: 15157, ", "in=0/0, ",
    "IOCP: (Busy=0,Free=1000,Min=4,Max=1000), ", "WORKER: (Busy=149,Free=32618,Min=4,Max=32767)",
    "WORKER: (Busy=1,Free=2", "POOL: (Threads=153,QueuedItems=130,CompletedItems=279361)",
    "POOL: (Threads=1,QueuedItems=2,CompletedItems=3,Timers=4)", "IOCP:(Busy=٣,Free=1,Min=1,Max=1)",
    "\n   at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message m)", "\n\tat X.Y()",
    "\n   --- End of stack trace ---", "\n  Foo.Bar[0]", "\n  Foo.Bar(x)", "\n  `a<b>.c(", "\nat X", "\n ",
    "\r\n", "\n", " ", "\u2003", "\n\u00a0at X.Y()", "StackExchange.Redis.RedisTimeoutException: ", ", ",
])
_SE_TEXT = st.lists(_SE_BITS | st.text(max_size=6), max_size=14).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SE_TEXT, min_size=1, max_size=5))
def test_head_cut_equals_the_lazy_capture(texts):
    df = pl.DataFrame({"t": texts + [None]}, schema={"t": pl.String})
    plain = df.select(pl.col("t").str.extract(r"(?s)^(.*?)(?:\n[ \t]+(?:at |--- |[\w.`<>]+\.\w+[\[(])|$)", 1))
    fast = df.select(pl.col("t").str.replace(se._FRAME_TAIL, ""))
    assert plain.equals(fast)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SE_TEXT, min_size=1, max_size=5))
def test_pool_groups_equal_one_extract_per_figure(texts):
    df = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    plain_rx = r"\(Busy=(\d+),Free=(\d+),Min=(\d+),Max=(\d+)\)"
    for pool in ("IOCP", "WORKER"):
        groups = pl.col("t").str.extract_groups(pool + r": ?" + se._POOL_STATS)
        plain = df.select([pl.col("t").str.extract(pool + r": ?" + plain_rx, i).alias(str(i)) for i in range(1, 5)])
        fast = df.select([groups.struct.field(s).alias(str(i)) for i, s in enumerate(("busy", "free", "min", "max"), 1)])
        assert plain.equals(fast)
    plain_rx = r"POOL: ?\(Threads=(\d+),QueuedItems=(\d+),CompletedItems=(\d+)(?:,Timers=(\d+))?\)"
    stats = ("threads", "queued_items", "completed_items", "timers")
    groups = pl.col("t").str.extract_groups(se._THREADPOOL)
    plain = df.select([pl.col("t").str.extract(plain_rx, i).alias(str(i)) for i in range(1, 5)])
    fast = df.select([groups.struct.field(s).alias(str(i)) for i, s in enumerate(stats, 1)])
    assert plain.equals(fast)


# pieces of redis-py records: tracebacks, exception lines with and without errno and endpoint, celery's
# retry line, Unicode digits, lines cut short
_PY_BITS = st.sampled_from([
    "Traceback (most recent call last):\n", '  File "/usr/lib/python3/site-packages/redis/connection.py", line 465, in read_response\n',
    '  File "/app/x.py", line 1, in connect\n', "    sock.connect(socket_address)\n",
    "redis.exceptions.TimeoutError: Timeout reading from redis-master:6379", "redis.exceptions.ConnectionError: ",
    "Error 111 connecting to redis:6379. Connection refused.", "Error ١١١ connecting to h:٦٣٧٩.",
    "Error while reading from socket: ('Connection closed by server.',)", "ConnectionRefusedError: [Errno 111] refused",
    "TimeoutError: [Errno 110] Connection timed out", "max number of clients reached", "Too many connections",
    "Cannot connect to redis://h:6379/0: ", "Trying again in 2.00 seconds... (1/100)", "\nTrying again in 4 seconds",
    "A ConnectionError occurred while watching one or more keys", "Error 99 connecting to unix socket: /tmp/r.sock. x",
    "(110, 'Connection timed out')", "\n", " ", "app.cart - cart 784228 lookup failed\n", "Redis(host='h', port=1)",
])
_PY_TEXT = st.lists(_PY_BITS | st.text(max_size=5), min_size=1, max_size=10).map("".join)


def _py_records(texts: list[str], paths: list[str]) -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame({
        "rec": pl.Series(range(n), dtype=pl.UInt32), "ts": [None] * n, "level": ["ERROR"] * n, "logger": [None] * n,
        "host": ["h"] * n, "thread": [None] * n, "text": texts, "path": paths,
        "line": pl.Series(range(1, n + 1), dtype=pl.UInt32), "envelope": ["iso_level"] * n,
    }, schema_overrides={"ts": pl.Datetime("us", "UTC"), "logger": pl.String, "thread": pl.String})


@settings(max_examples=150, deadline=None)
@given(st.lists(_PY_TEXT, min_size=1, max_size=8))
def test_redis_py_once_per_distinct_line_equals_each_record_alone(texts):
    """redis-py works out what an error says once per distinct (line, kind, phase, fallbacks); a record
    recognized among others it shares them with says what it says alone. Each record is its own file, so
    the file context (a neighbour's retry line, a redis-py file) is the same in both."""
    from parsers.redis_py import RedisPyRecognizer

    texts = texts + texts  # repeats, so distinct combinations are shared
    paths = [f"f{i}.log" for i in range(len(texts))]
    together = RedisPyRecognizer().recognize(_py_records(texts, paths))
    alone = [RedisPyRecognizer().recognize(_py_records([t], [p])).with_columns(rec=pl.lit(i, dtype=pl.UInt32))
             for i, (t, p) in enumerate(zip(texts, paths, strict=True))]
    alone = pl.concat([a for a in alone if a.height], how="diagonal_relaxed") if any(a.height for a in alone) else None
    if alone is None:
        assert together.height == 0
    else:
        assert together.select(alone.columns).equals(alone)


_SE_RECORD_BITS = _SE_BITS | st.sampled_from([
    "serverEndpoint: redis-master:6379, ", "serverEndpoint: Unspecified/redis:6380, ", "serverEndpoint: , ",
    "v: 2.6.122.38350", "v: 2.0.601.3402, ", "v=1.2", "clientName: api-6f7c9d-x2k8p(SE.Redis-v2.6.122.38350), ",
    "Timeout performing GET", "Timeout performing SET (1000ms)", "Timeout awaiting response (outbound=0KiB, inbound=0KiB, "
    "5984ms elapsed, timeout is 5000ms), command=GET, ", "The message timed out in the backlog attempting to send "
    "because no connection became available (5000ms), command=HGET, ", "No connection is active/available to "
    "service this operation: GET key, ", "SocketFailure on cache:6380/Interactive, Idle/Faulted, ",
    "It was not possible to connect to the redis server(s). ", "timeout: 100, ", "serverEndpoint: 10.0.0.1:٦٣٧٩, ",
    "StackExchange.Redis.RedisServerException: OOM command not allowed when used memory > 'maxmemory'.",
    "Page cache write failed for product:48213 ", "Redis write to cache-1:6379 failed ",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_SE_RECORD_BITS, min_size=1, max_size=12).map("".join), min_size=1, max_size=8))
def test_stackexchange_staged_fields_equal_every_alternative_on_every_record(texts):
    """Records whose endpoint, version, command and timeout sit where the first alternative looks skip the
    other alternatives: the events are the ones every alternative on every record gives."""
    from parsers.stackexchange_redis import StackExchangeRedis

    records = _py_records(texts, ["a.log"] * len(texts))
    plain = StackExchangeRedis().recognize(records, staged=False)
    for split_min in (se.SPLIT_MIN_RECORDS, 1):  # one select for a small batch; split as a big batch is
        with patch.object(se, "SPLIT_MIN_RECORDS", split_min):
            staged = StackExchangeRedis().recognize(records)
        assert staged.equals(plain)


def test_stackexchange_small_mixed_batch_is_one_select(monkeypatch):
    """A batch with a few timeouts among other records is selected once (each select costs polars the compile
    of ~100 patterns, whatever its rows), and split only when its timeouts are many; the events are the same."""
    from parsers.stackexchange_redis import StackExchangeRedis

    texts = ["StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), inst: 1, "
             "serverEndpoint: redis:6379, v: 2.6.122.38350",
             "StackExchange.Redis.RedisConnectionException: SocketFailure on redis:6379/Interactive, Idle/Faulted"]
    records = _py_records(texts, ["a.log"] * len(texts))
    selects = []
    columns = StackExchangeRedis._columns
    monkeypatch.setattr(StackExchangeRedis, "_columns", lambda self, *a, **k: selects.append(a) or columns(self, *a, **k))
    one = StackExchangeRedis().recognize(records)
    assert len(selects) == 1 and one.height == 2
    monkeypatch.setattr(se, "SPLIT_MIN_RECORDS", 1)
    assert StackExchangeRedis().recognize(records).equals(one) and len(selects) == 3
