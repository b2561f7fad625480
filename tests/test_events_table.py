"""The events table's sort: the same order and numbering as a whole-table sort, without two tables at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmortem.input.events_table import build_events
from postmortem.input.options import IngestOptions
from postmortem.model import EVENT_COLUMNS, EVENT_SCHEMA

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _frame(rows: list[tuple[int | None, str, int]]) -> pl.DataFrame:
    """Events with the given (second or None, path, line), every other column filled to tell rows apart."""
    n = len(rows)
    return pl.DataFrame({
        "event_id": list(range(n)),
        "ts": [None if s is None else T0.replace(second=s) for s, _, _ in rows],
        "source": ["app"] * n, "kind": ["log"] * n, "path": [p for _, p, _ in rows],
        "line": [ln for _, _, ln in rows], "level": ["info"] * n, "host": [f"pod-{i % 3}" for i in range(n)],
        "entity": [None] * n, "message": [f"message number {i} of the frame" for i in range(n)],
        "metric": [None] * n, "value": [float(i) for i in range(n)], "attrs": [None] * n,
    }, schema=EVENT_SCHEMA)


def _whole_table_sort(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return (pl.concat(frames).sort(["ts", "path", "line"], nulls_last=True, maintain_order=True)
            .drop("event_id").with_row_index("event_id").with_columns(pl.col("event_id").cast(pl.UInt32))
            .select(EVENT_COLUMNS))


rows = st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 5)), st.sampled_from(["a.log", "b.log"]),
                          st.integers(1, 4)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, min_size=1, max_size=4))
def test_build_events_orders_and_numbers_as_a_whole_table_sort(parts):
    frames = [_frame(r) for r in parts]
    events, _ = build_events(list(frames), IngestOptions())
    assert events.equals(_whole_table_sort(frames))
    assert events.schema == pl.Schema(EVENT_SCHEMA)


PEAK_SCRIPT = r"""
import sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import polars as pl
from tests.test_events_table import _frame
from postmortem.input.events_table import build_events
from postmortem.input.options import IngestOptions

def rss():
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096

n = 300_000
frames = [_frame([(i % 60 if i % 97 else None, "b.log" if i % 2 else "a.log", (n - i) % 5000) for i in range(k, n, 4)])
          for k in range(4)]
high = [rss()]
def sample():
    while True:
        high[0] = max(high[0], rss())
        time.sleep(0.001)
base = rss()
threading.Thread(target=sample, daemon=True).start()
if sys.argv[2] == "build_events":
    events, _ = build_events(frames, IngestOptions())
else:  # the whole table sorted at once, as one `sort`
    events = pl.concat(frames, rechunk=False)
    frames.clear()
    events = events.sort(["ts", "path", "line"], nulls_last=True, maintain_order=True)
print(max(high[0], rss()) - base)
"""


def _growth(how: str) -> int:
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, root, how], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.slow
def test_build_events_never_holds_two_tables():
    """The sort's high-water mark, against a whole-table sort of the same frames in a process of its own: about
    the same with `DataFrame.sort` (two tables at once), well under it one column at a time."""
    whole, built = _growth("sort"), _growth("build_events")
    assert built < 0.6 * whole, (built, whole)
