"""Build small events tables for detector tests, in the real schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl

from postmortem.analysis.correlate import build_context
from postmortem.schema import EVENT_COLUMNS, conform_events

T0 = datetime(2026, 3, 14, 2, 12, 0, tzinfo=UTC)


def ev(seconds: float, source: str, kind: str, *, host="pod-a", entity=None, message="", level="error",
       metric=None, value=None, attrs=None, path="app.log", line=None) -> dict:
    return {
        "ts": T0 + timedelta(seconds=seconds), "source": source, "kind": kind, "path": path, "line": line,
        "level": level, "host": host, "entity": entity, "message": message or kind, "metric": metric,
        "value": value, "attrs": json.dumps(attrs) if attrs else None,
    }


def table(rows: list[dict]) -> pl.DataFrame:
    for i, r in enumerate(rows):
        if r["line"] is None:
            r["line"] = i + 1
    df = conform_events(pl.DataFrame(rows, infer_schema_length=None))
    return (df.sort(["ts", "path", "line"]).drop("event_id").with_row_index("event_id")
            .with_columns(pl.col("event_id").cast(pl.UInt32)).select(EVENT_COLUMNS))


def context(events: pl.DataFrame):
    return build_context(events, [], [])


def run(detector, rows: list[dict]):
    events = table(rows)
    return list(detector.detect(events, context(events)))
