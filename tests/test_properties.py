"""Property tests: every registered parser survives arbitrary text and bytes and accounts for every line.

The registries are iterated generically, so a parser registered tomorrow is covered without edits.
Inputs mix each parser's own sample lines with junk, so the parser's real code paths run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import FILE_PARSERS, RECOGNIZERS, ParseContext
from parsers.envelopes import frame
from postmortem.input.decode import decode_bytes
from postmortem.input.log_text import parse_log_text
from postmortem.schema import EVENT_COLUMNS

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CTX = ParseContext(path="fuzz/api-1.log", tz="UTC", now=datetime(2024, 3, 14, 2, 20, tzinfo=UTC), year=2024)
JUNK = st.text(alphabet=st.characters(codec="utf-8"), max_size=120)
NASTY = st.sampled_from(
    ["", " ", "\t", "\r", "\x00", "\ufeff", "{", "}", '{"log":', "[", "]", "at ", "   at X.Y()", "---", "|",
     "2024-02-30 25:61:61 ERROR x", "9999-12-31T23:59:59Z", "0", "-1", "1e309", "NaN", "\\", '"', "\u202e"]
)


def _sample_lines(parsers) -> list[str]:
    lines = [ln for p in parsers for s in p.samples for ln in s.splitlines()]
    return lines or ["2024-01-15 10:02:11,532 ERROR app - boom"]


def _text_for(lines: list[str]) -> st.SearchStrategy[str]:
    """Text built from real sample lines, junk, and nasty fragments, with mixed line endings."""
    piece = st.one_of(st.sampled_from(lines), JUNK, NASTY,
                      st.tuples(st.sampled_from(lines), st.integers(0, 200)).map(lambda t: t[0][: t[1]]))
    return st.tuples(st.lists(piece, max_size=30), st.sampled_from(["\n", "\r\n", "\n\n"])).map(
        lambda t: t[1].join(t[0])
    )


def _records(text: str) -> pl.DataFrame:
    """Records exactly as ingest hands them to recognizers."""
    records, _, _, _ = frame(text, "UTC")
    return records.with_row_index("rec").with_columns(
        path=pl.lit(CTX.path), host=pl.coalesce("host", pl.lit("api-1"))
    )


def _check_recognizer(recognizer, text: str) -> None:
    records = _records(text)
    hits = recognizer.recognize(records)
    assert isinstance(hits, pl.DataFrame)
    if hits.height == 0:
        return
    assert {"rec", "kind"} <= set(hits.columns), hits.columns
    assert hits.get_column("kind").null_count() == 0
    assert set(hits.get_column("rec").to_list()) <= set(records.get_column("rec").to_list())


def _check_file_parser(parser, text: str) -> None:
    score = parser.sniff(text[:65536])
    assert 0.0 <= float(score) <= 1.0
    fp = parser.parse(text, CTX)
    assert fp.event_lines + fp.unrecognized_lines + fp.blank_lines == fp.lines, (
        fp.lines, fp.event_lines, fp.unrecognized_lines, fp.blank_lines)
    assert fp.lines == text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    assert set(EVENT_COLUMNS) - {"event_id"} <= set(fp.events.columns) | {"event_id"}


def _ids(objs) -> list[str]:
    return [o.name for o in objs]


@pytest.mark.slow
@pytest.mark.parametrize("recognizer", RECOGNIZERS, ids=_ids(RECOGNIZERS))
def test_recognizer_survives_text(recognizer):
    @SETTINGS
    @given(text=_text_for(_sample_lines([recognizer])))
    def run(text):
        _check_recognizer(recognizer, text)

    run()


@pytest.mark.parametrize("recognizer", RECOGNIZERS, ids=_ids(RECOGNIZERS))
def test_recognizer_survives_bytes(recognizer):
    @SETTINGS
    @given(data=st.binary(max_size=2000))
    def run(data):
        decoded = decode_bytes(data)
        if not decoded.binary:
            _check_recognizer(recognizer, decoded.text)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("parser", FILE_PARSERS, ids=_ids(FILE_PARSERS))
def test_file_parser_survives_text_and_accounts_lines(parser):
    @SETTINGS
    @given(text=_text_for(_sample_lines([parser])))
    def run(text):
        _check_file_parser(parser, text)

    run()


@pytest.mark.parametrize("parser", FILE_PARSERS, ids=_ids(FILE_PARSERS))
def test_file_parser_survives_bytes(parser):
    @SETTINGS
    @given(data=st.binary(max_size=2000))
    def run(data):
        decoded = decode_bytes(data)
        if not decoded.binary:
            _check_file_parser(parser, decoded.text)

    run()


@pytest.mark.slow
@SETTINGS
@given(text=_text_for(_sample_lines(RECOGNIZERS + FILE_PARSERS)))
def test_log_framing_with_all_recognizers_accounts_lines(text):
    fp = parse_log_text(text, CTX)
    assert fp.event_lines + fp.unrecognized_lines + fp.blank_lines == fp.lines
    assert fp.events.height <= fp.records


@SETTINGS
@given(data=st.binary(max_size=4000))
def test_decode_bytes_never_raises(data):
    d = decode_bytes(data, limit=2048)
    assert isinstance(d.text, str) and "\x00" not in d.text
    assert d.binary or len(d.text) <= 2048
