"""Big logs are framed in pieces: the result must not depend on where the pieces were cut."""

from __future__ import annotations

import polars as pl
import pytest

import postmortem.ingest as ingest_mod
from postmortem.ingest import ingest, split_text

from .conftest import DATA


def test_split_text_never_cuts_inside_a_record():
    text = "2024-01-01 00:00:00,000 ERROR a - x\nTraceback (most recent call last):\n  File \"a\"\nValueError: y\n" * 40
    for size in (1, 30, 100, 1000):
        parts = list(split_text(text, size))
        assert "".join(parts) == text
        assert all(p.startswith("2024-") for p in parts)


@pytest.mark.parametrize("name", ["recorded/storm", "example-incident", "redis_py"])
def test_chunked_ingest_equals_whole_file_ingest(monkeypatch, name):
    whole = ingest([str(DATA / name)])
    monkeypatch.setattr(ingest_mod, "CHUNK_CHARS", 2000)
    # pieces of one file are recognized in one batch here: the redis-py file context (a bare
    # "max number of clients reached" in a file that shows redis-py elsewhere) is per batch
    chunked = ingest([str(DATA / name)])
    cols = ["ts", "source", "kind", "path", "line", "host", "entity", "message", "attrs"]
    # per-second summaries (app activity, connection churn) may be split where a piece ends
    summaries = ("app.activity", "redis.server.client_accepted", "redis.server.client_closed")
    keep = ~pl.col("kind").is_in(summaries)
    assert chunked.events.filter(keep).select(cols).equals(whole.events.filter(keep).select(cols))
    per_second = (pl.col("kind").is_in(summaries), ["path", "kind", pl.col("ts").dt.truncate("1s")])

    def weights(events: pl.DataFrame) -> pl.DataFrame:
        return events.filter(per_second[0]).group_by(per_second[1]).agg(pl.col("value").sum()).sort(pl.all())

    assert weights(chunked.events).equals(weights(whole.events))
    for a, b in zip(chunked.inputs, whole.inputs, strict=True):
        assert (a.path, a.parser, a.lines, a.event_lines, a.unrecognized_lines, a.blank_lines) == (
            b.path, b.parser, b.lines, b.event_lines, b.unrecognized_lines, b.blank_lines)
