"""Big logs are framed in pieces: the result must not depend on where the pieces were cut."""

from __future__ import annotations

import polars as pl
import pytest

import postmortem.input.read_file as read_file_mod
from postmortem.input.ingest import ingest
from postmortem.input.stream import split_text

from .conftest import DATA


def test_split_text_never_cuts_inside_a_record():
    text = "2024-01-01 00:00:00,000 ERROR a - x\nTraceback (most recent call last):\n  File \"a\"\nValueError: y\n" * 40
    for size in (1, 30, 100, 1000):
        parts = list(split_text(text, size))
        assert "".join(parts) == text
        assert all(p.startswith("2024-") for p in parts)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["recorded/storm", "example-incident", "redis_py"])
def test_chunked_ingest_equals_whole_file_ingest(monkeypatch, name):
    whole = ingest([str(DATA / name)])
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", 2000)
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


@pytest.mark.slow
@pytest.mark.parametrize("name", ["recorded/storm", "example-incident", "redis_py"])
def test_streamed_ingest_equals_whole_file_ingest(monkeypatch, name):
    """A big plain UTF-8 log is read and framed piece by piece (postmortem/input/stream.py): same result."""
    whole = ingest([str(DATA / name)])
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", 3000)
    streamed = ingest([str(DATA / name)])
    cols = ["ts", "source", "kind", "path", "line", "host", "entity", "message", "attrs"]
    summaries = ("app.activity", "redis.server.client_accepted", "redis.server.client_closed")
    keep = ~pl.col("kind").is_in(summaries)
    assert streamed.events.filter(keep).select(cols).equals(whole.events.filter(keep).select(cols))
    for a, b in zip(streamed.inputs, whole.inputs, strict=True):
        assert (a.path, a.parser, a.encoding, a.lines, a.event_lines, a.unrecognized_lines, a.blank_lines,
                a.problems) == (b.path, b.parser, b.encoding, b.lines, b.event_lines, b.unrecognized_lines,
                                b.blank_lines, b.problems)


def test_streamed_pieces_repair_bad_bytes_and_respect_the_cap(tmp_path):
    from postmortem.input.stream import utf8_pieces

    line = "2024-01-15 10:02:11,532 ERROR app.cache - Error 111 connecting to redis:6379. Connection refused.\n"
    data = (line * 50).encode() + b"bad \xff\xfe byte\x00\n" + (line * 50).encode()
    path = tmp_path / "app.log"
    path.write_bytes(data)
    problems: list[str] = []
    pieces = list(utf8_pieces(str(path), len(data), 1000, len(data), problems))
    assert len(pieces) > 5 and all(p.endswith("\n") for p in pieces)
    assert "".join(pieces) == data.decode("utf-8", "replace").replace("\x00", "")
    assert problems == ["2 undecodable byte sequences replaced with U+FFFD", "1 NUL characters removed"]
    problems = []
    capped = "".join(utf8_pieces(str(path), len(data), 1000, 5000, problems))
    assert capped.endswith("\n") and 4000 < len(capped) <= 5000  # cut at the last line break before the cap
    assert problems[-1] == "file larger than 5000 bytes: only the first 4913 bytes were read (POSTMORTEM_MAX_INPUT_MB raises the cap)"


def test_streaming_never_cuts_inside_a_traceback(tmp_path):
    from postmortem.input.stream import utf8_pieces

    record = ("2024-01-01 00:00:00,000 ERROR a - x\nTraceback (most recent call last):\n  File \"a\"\n"
              "ValueError: y\n")
    path = tmp_path / "app.log"
    path.write_text(record * 60)
    for size in (10, 100, 333):
        pieces = list(utf8_pieces(str(path), path.stat().st_size, size, 10**9, []))
        assert "".join(pieces) == record * 60
        assert all(p.startswith("2024-") for p in pieces)


@pytest.mark.slow
def test_a_streamed_log_is_read_whole_past_the_decode_cap(tmp_path, monkeypatch):
    """The per-file cap bounds memory for whole-text reads; a streamed log needs none, so none applies."""
    line = "2024-01-15 10:02:11,532 ERROR app.cache - Error 111 connecting to redis:6379. Connection refused.\n"
    (tmp_path / "app.log").write_text(line * 30000)  # ~2.9 MB
    monkeypatch.setenv("POSTMORTEM_MAX_INPUT_MB", "1")
    capped = ingest([str(tmp_path)]).inputs[0]
    assert capped.lines < 30000 and any("only the first" in p for p in capped.problems)
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 1024**2)
    streamed = ingest([str(tmp_path)]).inputs[0]
    assert streamed.lines == 30000 and streamed.event_lines == 30000 and streamed.problems == []


def test_an_io_error_part_way_through_a_streamed_log_keeps_what_was_read(tmp_path, monkeypatch):
    import postmortem.input.stream as stream_mod

    line = "2024-01-15 10:02:11,532 ERROR app.cache - Error 111 connecting to redis:6379. Connection refused.\n"
    (tmp_path / "app.log").write_text(line * 200)
    real = stream_mod.utf8_pieces

    def failing(*args, **kwargs):
        pieces = real(*args, **kwargs)
        yield next(pieces)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(read_file_mod, "utf8_pieces", failing)
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", 2000)
    info = ingest([str(tmp_path)]).inputs[0]
    assert 0 < info.lines < 200 and info.event_lines == info.lines
    assert any(p.startswith(f"read error after {info.lines} lines (Input/output error)") for p in info.problems)


def _dst_log(tmp_path):
    """Paris local times around both 2024 DST changes, many lines so the file streams in several pieces,
    plus times that carry their own offset (never moved by --tz, never counted)."""
    lines = []
    for i in range(400):
        lines.append(f"2024-03-31 02:{i % 60:02d}:00,000 ERROR app - redis timeout {i} in the skipped hour")
        lines.append(f"2024-10-27 02:{i % 60:02d}:00,000 ERROR app - redis timeout {i} in the repeated hour")
        lines.append(f"2024-10-27T02:{i % 60:02d}:00+01:00 ERROR app - redis timeout {i} with its own offset")
        lines.append(f"2024-06-01 12:{i % 60:02d}:00,000 ERROR app - redis timeout {i} on a summer day")
    (tmp_path / "paris.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(tmp_path)


def test_tz_does_not_turn_streaming_off_and_dst_counts_add_up_over_pieces(tmp_path, monkeypatch):
    """--tz other than UTC: the file is still streamed (memory does not depend on --tz), the events are the
    ones of a whole-file read, and the DST notes count every zone-less local time of all the pieces once."""
    from postmortem.input.ingest import IngestOptions

    folder = _dst_log(tmp_path)
    opts = IngestOptions(tz="Europe/Paris")
    whole = ingest([folder], opts)
    pieces = []
    real = read_file_mod.utf8_pieces

    def counting(*args, **kwargs):
        for piece in real(*args, **kwargs):
            pieces.append(len(piece))
            yield piece

    monkeypatch.setattr(read_file_mod, "utf8_pieces", counting)
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", 20_000)
    streamed = ingest([folder], opts)
    assert len(pieces) > 2, "the log was not streamed"
    cols = ["ts", "source", "kind", "path", "line", "host", "message"]
    assert streamed.events.select(cols).equals(whole.events.select(cols))
    for result in (whole, streamed):
        (info,) = result.inputs
        assert "400 local times fall in the hour repeated by a DST change in Europe/Paris" in " | ".join(info.problems)
        assert "400 local times fall in the hour skipped by a DST change in Europe/Paris" in " | ".join(info.problems)
        assert result.events.get_column("ts").null_count() == 400
