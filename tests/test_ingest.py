"""Ingest: decoding, discovery, and the rule that every line is accounted for."""

from __future__ import annotations

import gzip
import os

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postmortem.input.decode import decode_bytes
from postmortem.input.ingest import ingest
from postmortem.schema import EVENT_COLUMNS, EVENT_SCHEMA

from .conftest import EXAMPLE

LOG = b"2024-01-15 10:02:11,532 ERROR app - boom\n  at frame\n\n2024-01-15 10:02:12,000 INFO app - ok\n"


def test_example_every_line_accounted():
    result = ingest([str(EXAMPLE)])
    assert result.inputs, "example incident has files"
    for f in result.inputs:
        assert f.accounted(), f
        assert f.lines > 0
    assert list(result.events.columns) == list(EVENT_COLUMNS)
    assert dict(result.events.schema) == EVENT_SCHEMA
    ids = result.events.get_column("event_id").to_list()
    assert ids == list(range(len(ids)))


def test_gzip_utf16_and_crlf_read_the_same_events(tmp_path):
    (tmp_path / "plain.log").write_bytes(LOG)
    (tmp_path / "z.log.gz").write_bytes(gzip.compress(LOG))
    (tmp_path / "u16.log").write_bytes(b"\xff\xfe" + LOG.decode().replace("\n", "\r\n").encode("utf-16-le"))
    (tmp_path / "u16nobom.log").write_bytes(LOG.decode().encode("utf-16-le"))
    result = ingest([str(tmp_path)])
    by_file = {f.path: f for f in result.inputs}
    assert set(by_file) == {"plain.log", "z.log.gz", "u16.log", "u16nobom.log"}
    for f in by_file.values():
        assert (f.events, f.lines, f.blank_lines, f.unrecognized_lines) == (2, 4, 1, 0), f
    msgs = result.events.group_by("path").agg(pl.col("message").sort()).sort("path")
    assert len({tuple(m) for m in msgs.get_column("message").to_list()}) == 1
    assert by_file["z.log.gz"].encoding == "gzip+utf-8"


def test_truncated_gzip_keeps_what_was_readable(tmp_path):
    body = b"".join(b"2024-01-15 10:02:%02d,%03d ERROR app - boom %d\n" % (i % 60, i % 1000, i * 7919) for i in range(3000))
    data = gzip.compress(body)
    (tmp_path / "cut.log.gz").write_bytes(data[: len(data) // 2])
    result = ingest([str(tmp_path)])
    (f,) = result.inputs
    assert any("gzip" in p for p in f.problems)
    assert f.events > 0 and f.accounted()


def test_binary_empty_and_missing_files_are_listed(tmp_path):
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "good.log").write_bytes(LOG)
    result = ingest([str(tmp_path), str(tmp_path / "nope.log")])
    by_file = {f.path: f for f in result.inputs}
    assert by_file["blob.bin"].skipped and "binary" in by_file["blob.bin"].problems[0]
    assert "empty file" in by_file["empty.log"].problems
    assert any("does not exist" in p for f in result.inputs for p in f.problems)
    assert by_file["good.log"].events == 2


def test_symlink_loop_and_duplicate_paths(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.log").write_bytes(LOG)
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    result = ingest([str(tmp_path), str(tmp_path / "a" / "x.log")])
    read = [f for f in result.inputs if not f.skipped]
    assert len(read) == 1
    assert any("counted once" in p or "symlink loop" in p for f in result.inputs for p in f.problems)


def test_decode_reports_invalid_utf8():
    d = decode_bytes(b"ok \xff\xfe\xfa line\n")
    assert d.encoding == "utf-8" and d.problems and "\ufffd" in d.text


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=3000), st.text(max_size=3000).map(lambda s: s.encode("utf-8"))))
def test_arbitrary_bytes_never_crash_and_lines_add_up(tmp_path, data):
    p = tmp_path / "fuzz.log"
    p.write_bytes(data)
    result = ingest([str(p)])
    (f,) = result.inputs
    if not f.skipped:
        assert f.accounted(), (f.lines, f.event_lines, f.unrecognized_lines, f.blank_lines)
