"""The timeouts' messages kept apart from the analysis' table come back exactly (issue #20): any text, any rows,
and the report of an incident with StackExchange.Redis timeouts is the report the whole table gave."""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import postmortem.analysis.pipeline as pipeline
import postmortem.messages_apart as apart
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.messages_apart import UnkeyedRows, messages_apart, restored, select_on_text
from postmortem.model import Evidence
from tests.events_factory import ev, table

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SE, TIMEOUT = "stackexchange_redis", "redis.timeout"


def _rows(texts: list[str | None], kinds: list[int]) -> pl.DataFrame:
    """A table of timeouts kept in their message (null `attrs`), timeouts with `attrs`, and app lines."""
    shapes = [(SE, TIMEOUT, None), (SE, TIMEOUT, {"qs": "1"}), ("app", "app.log", None)]
    rows = []
    for i, (text, k) in enumerate(zip(texts, kinds, strict=True)):
        source, kind, attrs = shapes[k]
        rows.append(ev(i, source, kind, message=text or "", attrs=attrs))
    out = table(rows)
    # `ev` gives an empty message the kind's name: put each text (null too) back as drawn
    by_line = pl.Series("message", [texts[line - 1] for line in out.get_column("line").to_list()], dtype=pl.String)
    return out.with_columns(by_line)


texts = st.one_of(st.none(), st.text(max_size=60), st.text(alphabet="\x00\n\r\u202e é😀 ", max_size=20))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(texts, st.integers(0, 2)), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_any_text_comes_back_exactly(monkeypatch_segments, drawn, rnd):
    events = _rows([t for t, _ in drawn], [k for _, k in drawn])
    with messages_apart(events) as held:
        kept = held.select(apart.kept_apart()).to_series()
        assert not kept.any()  # every kept row's message is out of the table
        assert held.drop("message").equals(events.drop("message"))
        assert restored(held).equals(events)
        picked = rnd.sample(range(events.height), rnd.randint(0, events.height))
        assert restored(held[picked]).equals(events[picked])  # any rows, any order
        hit = pl.col("message").str.contains("a|\x00") & pl.col("message").str.len_chars().gt(2)
        assert select_on_text(held, hit=hit).equals(events.select(hit=hit))
    assert restored(held).equals(held)  # outside the block nothing is kept apart


@pytest.fixture
def monkeypatch_segments(monkeypatch):
    """Segments and text slices of a few rows: a table of 30 spans several of each."""
    monkeypatch.setattr(apart, "SEGMENT_ROWS", 3)
    monkeypatch.setattr(apart, "TEXT_ROWS", 4)


def test_rows_without_their_key_are_refused():
    events = _rows(["Timeout performing GET (5000ms), next: GET k"], [0])
    with messages_apart(events) as held:
        with pytest.raises(UnkeyedRows):
            restored(held.drop("event_id"))


@contextmanager
def _whole(events):
    yield events


def _dense(folder: Path) -> Path:
    """1 MiB of the seeded dense storm log (benchmarks/generate_dense.py): 30 % Redis failures, SE.Redis timeouts
    with every field, the file the memory figures are measured on."""
    spec = importlib.util.spec_from_file_location("generate_dense", ROOT / "benchmarks" / "generate_dense.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(folder / "dense.log", 1)
    return folder / "dense.log"


@pytest.mark.parametrize("incident", ["stackexchange", "example-incident", "dense"])
def test_the_report_is_the_whole_tables(monkeypatch, tmp_path, incident):
    """Findings, evidence quotes, timeline, sections: every text the report quotes is the one the whole table gave."""
    opts = AnalyzeOptions(return_events=True)
    path = str(_dense(tmp_path) if incident == "dense" else DATA / incident)
    apart_report, apart_result = analyze([path], opts)
    monkeypatch.setattr(pipeline, "messages_apart", _whole)
    whole_report, whole_result = analyze([path], opts)
    assert apart_report == whole_report
    assert apart_result.events.equals(whole_result.events)
    quoted = [e.text for f in apart_report.findings for e in f.evidence if isinstance(e, Evidence)]
    assert any("Timeout performing" in t for t in quoted)  # the kept-apart timeouts are quoted
