"""Summarizing noise must never hide what a recognizer would have found.

Every fixture is ingested twice, with and without summarizing low-level app lines into
`app.activity`: the non-app events (everything the recognizers claim) and the line accounting
must be identical, and the activity counts must add up to the app.log records they replace.
"""

from __future__ import annotations

import polars as pl
import pytest

from postmortem.ingest import IngestOptions, ingest

from .conftest import DATA

FIXTURES = sorted(p.name for p in DATA.iterdir() if p.is_dir() and p.name not in ("hostile",))


@pytest.mark.parametrize("name", FIXTURES)
def test_summarizing_keeps_every_recognized_event(name):
    on = ingest([str(DATA / name)], IngestOptions(summarize_noise=True))
    off = ingest([str(DATA / name)], IngestOptions(summarize_noise=False))
    cols = ["ts", "source", "kind", "path", "line", "host", "entity", "message", "attrs"]
    recognized_on = on.events.filter(pl.col("source") != "app").select(cols)
    recognized_off = off.events.filter(pl.col("source") != "app").select(cols)
    assert recognized_on.equals(recognized_off)
    for a, b in zip(on.inputs, off.inputs, strict=True):
        assert (a.path, a.lines, a.unrecognized_lines, a.blank_lines, a.event_lines) == (
            b.path, b.lines, b.unrecognized_lines, b.blank_lines, b.event_lines)
    summarized = on.events.filter(pl.col("kind") == "app.activity").get_column("value").sum() or 0
    app_on = on.events.filter(pl.col("kind") == "app.log").height
    app_off = off.events.filter(pl.col("kind") == "app.log").height
    assert app_on + summarized == app_off
