"""A folder of pod logs of a few hundred KB (the benchmark's 42-file case, issue 20) is framed in one batch, and
a lone small log alone: each way gives exactly what the other gives (events, per-file accounting, warnings).
The noise's timestamps are captured with the header alone (`noise.header_timestamps`): the same activity
records as with the whole regex's capture."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import parsers.noise as noise
import postmortem.input.file_group as file_group
import postmortem.input.read_file as read_file_mod
import postmortem.input.small_logs as small_logs_mod
from parsers.envelopes import HEADER_MATCH, HEADER_VARIANTS, frame_counted
from parsers.frame_many import frame_many
from postmortem.input.ingest import IngestOptions, ingest

ROOT = Path(__file__).resolve().parents[1]


def _generate(out: Path, size_mib: int, pods: int) -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "benchmarks" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.generate(out, size_mib, seed=5, pods=pods)


def _assert_same(a, b) -> None:
    assert_frame_equal(a.events, b.events)
    assert a.inputs == b.inputs
    assert a.warnings == b.warnings
    assert a.assumptions == b.assumptions


def _batch_sizes(monkeypatch) -> list[int]:
    sizes: list[int] = []
    real = small_logs_mod.frame_many

    def counted(texts, tz, summarize):
        sizes.append(len(texts))
        return real(texts, tz, summarize)

    monkeypatch.setattr(small_logs_mod, "frame_many", counted)
    return sizes


def test_pod_logs_of_a_few_hundred_kb_are_one_batch_and_read_as_alone(tmp_path, monkeypatch):
    _generate(tmp_path, 1, pods=4)  # 4 pod logs of 300-600 KB, a redis-server log and an events table
    logs = [p for p in tmp_path.iterdir() if p.suffix == ".log"]
    assert max(p.stat().st_size for p in logs) > 256 * 1024
    with monkeypatch.context() as m:
        m.setattr(read_file_mod, "SMALL_LOG_CHARS", 0)  # every log framed alone
        alone = ingest([str(tmp_path)], IngestOptions())
    sizes = _batch_sizes(monkeypatch)
    batched = ingest([str(tmp_path)], IngestOptions())
    assert sizes == [len(logs)]  # framed in one batch (fails when the size limit keeps them out)
    assert all(f.accounted() for f in batched.inputs)
    _assert_same(alone, batched)


def test_a_lone_small_log_is_framed_alone_as_a_batch_of_one_frames_it(tmp_path, monkeypatch):
    _generate(tmp_path, 1, pods=4)
    one = next(p for p in sorted(tmp_path.iterdir()) if p.name.startswith("api-"))
    with monkeypatch.context() as m:
        m.setattr(file_group, "MIN_BATCH_FILES", 1)  # the plain form: a batch of one
        sizes = _batch_sizes(m)
        as_batch = ingest([str(one)], IngestOptions(tz="Europe/Paris"))
        assert sizes == [1]
    sizes = _batch_sizes(monkeypatch)
    alone = ingest([str(one)], IngestOptions(tz="Europe/Paris"))
    assert sizes == []
    _assert_same(as_batch, alone)


_ISO = st.builds(lambda s, ms, sep: f"2026-03-14 02:00:{s:02d}{sep}{ms:03d}", st.integers(0, 4), st.integers(0, 999),
                 st.sampled_from([",", "."]))
_LINE = st.one_of(
    st.builds(lambda t, lvl, msg: f"{t} {lvl} app.jobs - {msg}", _ISO, st.sampled_from(["INFO", "DEBUG", "ERROR"]),
              st.sampled_from(["processed job 1 in 5 ms", "cache hit key=user:1", "Connection refused", ""])),
    st.builds(lambda t, msg: f"{t} +00:00 [INF] {msg}", _ISO, st.sampled_from(["Request finished 200", "ok"])),
    st.builds(lambda t, msg: f"[{t}] INFO {msg}", _ISO, st.sampled_from(["x", "job done"])),
    st.builds(lambda t: f"{t}Z INFO ok", _ISO.map(lambda t: t.replace(" ", "T"))),
    st.sampled_from(["  File \"/app/x.py\", line 1, in f", "redis.exceptions.ConnectionError: refused", "",
                     "2026-03-14 02:00:01 INFO no fraction", "2026-03-14 02:00:01,5 INFO short fraction"]),
)
_TEXTS = st.lists(st.lists(_LINE, min_size=1, max_size=15).map("\n".join).filter(str.strip), min_size=1, max_size=4)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts=_TEXTS, tz=st.sampled_from(["UTC", "America/New_York"]))
def test_noise_timestamps_captured_with_the_header_alone_as_with_the_whole_regex(monkeypatch, texts, tz):
    fast_many = frame_many(texts, tz, True).records
    fast_one = [frame_counted(t, tz, True)[0] for t in texts]
    with monkeypatch.context() as m:  # the plain form: the whole regex's capture
        m.setattr(noise, "header_timestamps", lambda lines, ts_rx, variant: noise.header_timestamps_plain(ts_rx))
        plain_many = frame_many(texts, tz, True).records
        plain_one = [frame_counted(t, tz, True)[0] for t in texts]
    assert_frame_equal(fast_many, plain_many)
    for fast, plain in zip(fast_one, plain_one, strict=True):
        assert_frame_equal(fast, plain)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(st.tuples(_LINE, st.sampled_from(["", "\n", "\nmore words"])), min_size=1, max_size=20),
       variant=st.sampled_from(["iso_level", "serilog", "iso_plain"]), by_file=st.booleans())
def test_noise_timestamps_of_bodies_with_line_feeds_as_with_the_whole_regex(monkeypatch, bodies, variant, by_file):
    """Bodies a log platform hands over may hold line feeds; there the header-alone capture must not be used."""
    lines = pl.DataFrame({"line": range(1, len(bodies) + 1), "body": [b + tail for b, tail in bodies]},
                         schema_overrides={"line": pl.UInt32}).with_columns(
        pts=pl.lit(None, dtype=pl.String), ohost=pl.lit("pod-1"))
    if by_file:
        lines = lines.with_columns(_file=(pl.col("line") % 2).cast(pl.UInt32)).sort("_file", "line")
    rx = dict(HEADER_VARIANTS)[variant]
    fast = noise.split_noise(lines, [HEADER_MATCH[variant]], rx, (variant,))
    with monkeypatch.context() as m:
        m.setattr(noise, "header_timestamps", lambda lines, ts_rx, variant: noise.header_timestamps_plain(ts_rx))
        plain = noise.split_noise(lines, [HEADER_MATCH[variant]], rx, (variant,))
    assert_frame_equal(fast[0], plain[0])
    assert (fast[1] is None) == (plain[1] is None)
    if fast[1] is not None:
        assert_frame_equal(fast[1], plain[1])


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_times_parsed_per_plan_as_each_file_alone(tz):
    """A batch of two layouts (Python logging's comma, Serilog's offset): each file's times as alone."""
    py = "\n".join(f"2026-03-14 02:00:{s:02d},{s:03d} ERROR app - Connection refused" for s in range(5))
    se = "\n".join(f"2026-03-14 02:00:{s:02d}.{s:03d} +01:00 [ERR] Redis timeout" for s in range(5))
    many = frame_many([py, se, py], tz, True)
    for i, text in enumerate([py, se, py]):
        mine = many.records.filter(many.records["_file"] == i).drop("_file")
        assert_frame_equal(frame_counted(text, tz, True)[0], mine, check_dtypes=False)
