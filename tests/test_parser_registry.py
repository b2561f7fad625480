"""Meta-tests over the parser registries: names unique, docs present, and each declared sample is
recognized by its own parser and by no other (so parsers added later are covered automatically)."""

from __future__ import annotations

import sys

import polars as pl
import pytest

from parsers import FILE_PARSERS, RECOGNIZERS
from parsers.envelopes import frame
from postmortem.input.log_text import host_from_path
from postmortem.schema import EVENT_SCHEMA

SNIFF_BAR = 0.5  # a file parser must beat the line framer's score (postmortem.input.parser_choice)
REC_SAMPLES = [(r, i) for r in RECOGNIZERS for i in range(len(r.samples))]
FILE_SAMPLES = [(p, i) for p in FILE_PARSERS for i in range(len(p.samples))]


def _records(text: str, summarize: bool = True) -> pl.DataFrame:
    """The records ingest hands recognizers for a log file holding `text`: framed with noise folding on
    (as ingest does by default), the folded `activity` records left out as ingest leaves them out."""
    records, _, _, _ = frame(text, summarize=summarize)
    records = records.filter((pl.col("envelope") != "activity").fill_null(True))
    return records.with_row_index("rec").with_columns(
        path=pl.lit("sample.log"), host=pl.coalesce("host", pl.lit(host_from_path("sample.log")))
    )


def test_names_unique_and_documented():
    names = [p.name for p in (*RECOGNIZERS, *FILE_PARSERS)]
    assert len(names) == len(set(names)), names
    for p in (*RECOGNIZERS, *FILE_PARSERS):
        assert p.samples, f"{p.name} declares no samples"
        assert p.example.strip(), f"{p.name} has no example"
        doc = type(p).__doc__ or sys.modules[type(p).__module__].__doc__ or ""
        assert doc.strip(), f"{p.name} has no docstring"


@pytest.mark.parametrize("recognizer,i", REC_SAMPLES, ids=[f"{r.name}-{i}" for r, i in REC_SAMPLES])
def test_recognizer_sample_is_its_own(recognizer, i):
    text = recognizer.samples[i]
    records = _records(text)
    hits = recognizer.recognize(records)
    assert hits.height >= 1, f"{recognizer.name} does not claim its own sample {i}"
    unfolded = recognizer.recognize(_records(text, summarize=False))
    assert hits.height == unfolded.height, f"noise folding hides part of sample {i} from {recognizer.name}"
    assert hits.get_column("rec").is_unique().all()
    assert set(hits.columns) - {"rec"} <= set(EVENT_SCHEMA), hits.columns
    for other in RECOGNIZERS:
        if other is not recognizer:
            assert other.recognize(records).height == 0, f"{other.name} claims a sample of {recognizer.name}"
    for fp in FILE_PARSERS:
        assert fp.sniff(text) <= SNIFF_BAR, f"file parser {fp.name} would take a sample of {recognizer.name}"


@pytest.mark.parametrize("parser,i", FILE_SAMPLES, ids=[f"{p.name}-{i}" for p, i in FILE_SAMPLES])
def test_file_parser_sample_is_its_own(parser, i):
    from parsers import ParseContext

    text = parser.samples[i]
    score = parser.sniff(text)
    assert score > SNIFF_BAR, f"{parser.name} does not sniff its own sample {i}"
    for other in FILE_PARSERS:
        if other is not parser:
            assert other.sniff(text) < score, f"{other.name} competes for a sample of {parser.name}"
    result = parser.parse(text, ParseContext(path="sample"))
    assert result.records >= 1 or result.events.height >= 1 or result.problems, f"{parser.name} ignored sample {i}"
    assert result.event_lines + result.unrecognized_lines + result.blank_lines == result.lines
