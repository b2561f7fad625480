"""The recognizers' cheaper paths give what their plain form gives, on generated and hostile records.

Each fast path here replaced a costlier polars expression of the same meaning (issue 20: recognition
of the dense single file); the plain form is kept in the test as the definition.
"""

from __future__ import annotations

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
