"""Small logs read in batches (issue #21) give exactly what reading each file alone gives: the same events,
the same per-file accounting (lines, records, events, unrecognized, blank, parser label, zoned, samples,
problems) and the same warnings, on generated fleets, hand-made edge files and the fixtures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import postmortem.input.read_file as read_file_mod
import postmortem.input.small_logs as small_logs_mod
from parsers.envelopes import MAX_LINE_CHARS, frame_counted
from parsers.frame_many import batchable, frame_many
from postmortem.input.ingest import IngestOptions, ingest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_many", ROOT / "benchmarks" / "generate_many.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _both(monkeypatch, paths: list[str], opts: IngestOptions):
    """(each file alone, small files in batches)."""
    with monkeypatch.context() as m:
        m.setattr(read_file_mod, "SMALL_LOG_CHARS", 0)
        alone = ingest(paths, opts)
    return alone, ingest(paths, opts)


def _assert_same(alone, batched) -> None:
    assert_frame_equal(alone.events, batched.events)
    assert [f.path for f in alone.inputs] == [f.path for f in batched.inputs]
    for a, b in zip(alone.inputs, batched.inputs, strict=True):
        assert a == b, a.path
    assert alone.warnings == batched.warnings
    assert alone.assumptions == batched.assumptions


def _edge_files(folder: Path) -> None:
    """Files whose framing depends on per-file decisions a shared table could mix up."""
    folder.mkdir(parents=True, exist_ok=True)
    py = "2026-03-29 01:{m:02d}:{s:02d},{ms:03d} {lvl} app.cache - {msg}"
    files = {
        # noise of several pods in the same second: one activity record per pod, not one for all
        "noise-a.log": "\n".join(py.format(m=10, s=1, ms=i, lvl="INFO", msg=f"job {i} done") for i in range(5)),
        "noise-b.log": "\n".join(py.format(m=10, s=1, ms=i, lvl="INFO", msg=f"job {i} done") for i in range(3)),
        # a file that starts with a continuation and blank lines: never joined to the file before it
        "starts-indented.log": "\n\n    at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl\n"
                               + py.format(m=10, s=2, ms=0, lvl="ERROR", msg="cache read failed"),
        # a traceback record over several lines, then a bare exception line with no time
        "traceback.log": py.format(m=10, s=3, ms=0, lvl="ERROR", msg="job failed") + "\nTraceback (most recent "
                         "call last):\n  File \"/app/jobs.py\", line 42, in run\n    value = r.get(key)\n"
                         "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.\n",
        "bare.log": "redis.exceptions.BusyLoadingError: Redis is loading the dataset in memory\n",
        # out of time order, CRLF line ends, an over-long line
        "late.log": "\r\n".join([py.format(m=10, s=9, ms=0, lvl="WARNING", msg="max number of clients reached"),
                                 py.format(m=10, s=4, ms=0, lvl="ERROR", msg="Timeout reading from socket"),
                                 py.format(m=10, s=5, ms=0, lvl="INFO", msg="x" * (MAX_LINE_CHARS + 10))]),
        # local times in the hour Paris skips and in UTC-stamped lines (zone-less vs zoned)
        "dst.log": "\n".join(py.format(m=0, s=s, ms=0, lvl="ERROR", msg="Connection refused")
                             .replace("01:00", "02:30") for s in range(3)),
        "zoned.log": "2026-03-29T02:30:00.000Z [ERR] StackExchange.Redis.RedisConnectionException: No connection "
                     "is active/available to service this operation: GET k\n",
        # redis-server connection churn of two servers in the same second: counted per file
        "redis-a.log": "\n".join(f"1:M 29 Mar 2026 01:10:0{i % 2}.{i:03d} - Accepted 10.0.0.{i}:5000{i}"
                                 for i in range(6)),
        "redis-b.log": "\n".join(f"1:M 29 Mar 2026 01:10:0{i % 2}.{i:03d} - Accepted 10.0.1.{i}:5000{i}"
                                 for i in range(4)),
        "docker.log": "\n".join(json.dumps({"log": py.format(m=10, s=6, ms=i, lvl="ERROR", msg="Connection refused")
                                            + "\n", "stream": "stderr", "time": f"2026-03-29T01:10:06.{i:03d}Z"})
                                for i in range(3)),
        "cri.log": "2026-03-29T01:10:07.123456789Z stdout F "
                   + py.format(m=10, s=7, ms=0, lvl="ERROR", msg="Connection refused") + "\n",
        "blank.log": "\n\n",
        "serilog.json": '{"@t":"2026-03-29T01:10:08Z","@mt":"Redis timeout","@l":"Error"}\n',
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("tz", ["UTC", pytest.param("Europe/Paris", marks=pytest.mark.slow)])
def test_generated_fleet_and_edges_batched_as_alone(tmp_path, monkeypatch, tz):
    _generator().generate(tmp_path / "fleet", 100, lines=4, seed=7)
    _edge_files(tmp_path / "edges")
    alone, batched = _both(monkeypatch, [str(tmp_path)], IngestOptions(tz=tz))
    assert len(alone.inputs) == 100 + 14
    assert all(f.accounted() for f in batched.inputs)
    assert any(f.parser.startswith("log:docker_json") for f in batched.inputs)
    _assert_same(alone, batched)


def test_batches_are_cut_by_size_and_a_failing_batch_is_read_file_by_file(tmp_path, monkeypatch):
    _generator().generate(tmp_path, 60, lines=3, seed=3)
    alone, _ = _both(monkeypatch, [str(tmp_path)], IngestOptions())
    calls = []
    real = small_logs_mod.frame_many

    def flaky(texts, tz, summarize):
        calls.append(len(texts))
        if len(calls) == 2:
            raise ValueError("framing failed")
        return real(texts, tz, summarize)

    monkeypatch.setattr(small_logs_mod, "frame_many", flaky)
    monkeypatch.setattr("postmortem.input.file_group.BATCH_FILES", 25)
    _assert_same(alone, ingest([str(tmp_path)], IngestOptions()))
    assert calls == [25, 25, 10]


_PY = "2026-03-14 02:00:{s:02d},{ms:03d} {lvl} app.cache - {msg}"
_LINES = st.one_of(
    st.builds(lambda s, ms, lvl, msg: _PY.format(s=s, ms=ms, lvl=lvl, msg=msg), st.integers(0, 3),
              st.integers(0, 999), st.sampled_from(["INFO", "DEBUG", "ERROR", "WARNING"]),
              st.sampled_from(["job done", "Error 111 connecting to redis:6379. Connection refused.",
                               "cache hit key=user:1", "max number of clients reached"])),
    st.builds(lambda s: f"2026-03-14 02:00:0{s}.120 +00:00 [ERR] StackExchange.Redis.RedisTimeoutException: "
                        "Timeout performing GET (5000ms), inst: 0, qs: 3, serverEndpoint: redis:6379", st.integers(0, 3)),
    st.builds(lambda s, i: f"1:M 14 Mar 2026 02:00:0{s}.{i:03d} - Accepted 10.0.0.{i}:6379", st.integers(0, 3),
              st.integers(0, 99)),
    st.builds(lambda s: f"2026-03-14T02:00:0{s}.5Z stdout F 2026-03-14 02:00:0{s},500 INFO app - ok", st.integers(0, 3)),
    st.sampled_from(["", "   ", "Traceback (most recent call last):", '  File "/app/x.py", line 1, in f',
                     "    at StackExchange.Redis.PhysicalBridge.OnHeartbeat()",
                     "redis.exceptions.ConnectionError: Connection refused", "plain words without a time",
                     "During handling of the above exception, another exception occurred:"]),
)
_TEXTS = st.lists(st.lists(_LINES, min_size=1, max_size=12).map("\n".join).filter(str.strip), min_size=1,
                  max_size=6)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=_TEXTS, summarize=st.booleans(), tz=st.sampled_from(["UTC", "America/New_York"]))
def test_frame_many_is_frame_counted_per_text(texts, summarize, tz):
    texts = [t for t in texts if batchable(t)]
    if not texts:
        return
    many = frame_many(texts, tz, summarize)
    for i, text in enumerate(texts):
        records, plan, blank, truncated, lines = frame_counted(text, tz, summarize)
        assert (plan, blank, truncated, lines) == (many.plans[i], many.blank[i], many.truncated[i], many.lines[i])
        mine = many.records.filter(many.records["_file"] == i).drop("_file")
        assert_frame_equal(records, mine, check_dtypes=False)


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["redis_py", "stackexchange", "breakers", "corpus", "hostile", "k8s",
                                    "dotnet-metrics-storm", "dotnet-oom-4", "example-incident"])
def test_fixtures_batched_as_alone(monkeypatch, folder):
    alone, batched = _both(monkeypatch, [str(DATA / folder)], IngestOptions(tz="Europe/Paris"))
    _assert_same(alone, batched)
