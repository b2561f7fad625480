"""Ingest in worker processes gives exactly what ingest in one process gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

import postmortem.input.file_group as file_group_mod
import postmortem.input.read_file as read_file_mod
import postmortem.input.workers as workers_mod
from postmortem.input.discover import Discovered
from postmortem.input.file_group import Part, ingest_files
from postmortem.input.ingest import IngestOptions, ingest

DATA = Path(__file__).parent / "data"


def test_workers_give_the_same_events_accounting_and_warnings(tmp_path, monkeypatch):
    for folder in ("recorded/storm", "example-incident"):
        for f in (DATA / folder).iterdir():
            shutil.copy(f, tmp_path / f"{Path(folder).name}-{f.name}")
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "binary.log").write_bytes(b"\x00\x01\x02" * 100)
    serial = ingest([str(tmp_path)], IngestOptions(jobs=1))
    monkeypatch.setattr(workers_mod, "PARALLEL_MIN_BYTES", 0)  # the parent decides: workers for any size
    parallel = ingest([str(tmp_path)], IngestOptions(jobs=2))
    assert serial.events.height > 500
    assert_frame_equal(serial.events, parallel.events)
    assert serial.inputs == parallel.inputs
    assert serial.warnings == parallel.warnings
    assert sorted(serial.assumptions) == sorted(parallel.assumptions)


def test_files_are_spread_by_size(monkeypatch):
    """The largest files go to different workers, so two workers finish at about the same time."""
    seen = []

    class FakePool:
        def __init__(self, max_workers, mp_context):
            self.n = max_workers

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, group, *args):
            from concurrent.futures import Future

            seen.append(group)
            fut = Future()
            fut.set_result(Part())
            return fut

    import concurrent.futures

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", FakePool)
    monkeypatch.setattr(workers_mod, "PARALLEL_MIN_BYTES", 0)
    found = [(i, Discovered(f"f{i}", f"/x/f{i}", size)) for i, size in enumerate([10, 90, 50, 45, 5])]
    workers_mod.ingest_parts(found, IngestOptions(jobs=2))
    sizes = [sorted(f.size for _, f in g) for g in seen]
    assert sorted(sizes) == [[5, 45, 50], [10, 90]]  # greedy: 90|50, 45→50 side, 10→90 side, 5
    assert all([i for i, _ in g] == sorted(i for i, _ in g) for g in seen)  # each in discovery order


def test_a_lost_worker_has_its_files_read_in_the_main_process(tmp_path, monkeypatch):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    for f in (DATA / "recorded/storm").iterdir():
        shutil.copy(f, tmp_path / f.name)

    class LosingPool:
        def __init__(self, max_workers, mp_context):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, *args):
            fut = Future()
            fut.set_exception(BrokenProcessPool("killed"))
            return fut

    import concurrent.futures

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", LosingPool)
    monkeypatch.setattr(workers_mod, "PARALLEL_MIN_BYTES", 0)
    serial = ingest([str(tmp_path)], IngestOptions(jobs=1))
    rescued = ingest([str(tmp_path)], IngestOptions(jobs=2))
    assert_frame_equal(serial.events, rescued.events)
    assert sum("a worker process failed (BrokenProcessPool: killed)" in w for w in rescued.warnings) == 2


def test_a_polars_panic_in_a_recognizer_is_a_problem_not_a_crash(tmp_path, monkeypatch):
    """PanicException derives from BaseException: the guards must still catch it (postmortem/failures.py)."""
    from polars.exceptions import PanicException

    from parsers.redis_server import RedisServerRecognizer

    shutil.copy(DATA / "recorded/storm/redis-server.log", tmp_path / "redis-server.log")
    shutil.copy(DATA / "recorded/storm/worker-5c8f7b-d15yn.log", tmp_path / "worker.log")

    def panic(self, records):
        raise PanicException("assertion failed: i < self.len()")

    monkeypatch.setattr(RedisServerRecognizer, "recognize", panic)
    result = ingest([str(tmp_path)], IngestOptions(jobs=1))
    server = next(i for i in result.inputs if i.path == "redis-server.log")
    assert server.unrecognized_lines + server.blank_lines == server.lines > 0
    assert any("PanicException" in p for p in server.problems)


def _busy_log(path: Path) -> None:
    """Several pods in one exported file across the hour a DST change skips in America/New_York: noise
    folded per second, redis-py tracebacks, SE.Redis timeouts, lines nothing recognizes, blank lines."""
    out = []
    for i in range(3000):
        pod = f"api-{i % 7}"
        stamp = f"2024-03-10 01:59:{50 + i // 300:02d},{i % 1000:03d}" if i < 3000 // 2 else \
            f"2024-03-10 03:00:{i // 300:02d},{i % 1000:03d}"
        if i % 50 == 0:
            stamp = f"2024-03-10 02:{i % 60:02d}:00,000"  # in the skipped hour: no instant
        if i % 11 == 0:
            out += [f"{pod} | {stamp} ERROR app.jobs - job {i} failed", f"{pod} | Traceback (most recent call last):",
                    f'{pod} |   File "/app/jobs.py", line 42, in run',
                    f"{pod} | redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused."]
        elif i % 13 == 0:
            out.append(f"{pod} | {stamp} ERROR Cart.Store - StackExchange.Redis.RedisTimeoutException: Timeout "
                       f"performing GET (5000ms), next: GET cart:{i}, inst: 3, qu: 0, qs: {i % 90}, aw: False, "
                       f"serverEndpoint: redis:6379, mgr: 10 of 10 available, clientName: {pod}(SE.Redis-v2.6.122.38350)")
        elif i % 17 == 0:
            out.append(f"@@ {i} a line without a header continues the record above it")
        elif i % 19 == 0:
            out.append("")
        else:
            out.append(f"{pod} | {stamp} INFO app.jobs - processed job {i} in {i % 900} ms")
    path.write_text("@@ a line before any record: unrecognized\n" + "\n".join(out) + "\n")


def test_one_big_log_read_by_two_workers_gives_what_one_process_gives(tmp_path, monkeypatch):
    """A big log is cut into spans at the cuts its streamed reading makes: the events (line numbers,
    folded seconds), accounting, samples, DST notes and warnings equal one process reading it whole."""

    _busy_log(tmp_path / "export.log")
    (tmp_path / "small.log").write_text("2024-03-10 03:00:01,000 ERROR app - redis.exceptions.TimeoutError: "
                                        "Timeout reading from socket\n")
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", 20_000)
    opts = {"tz": "America/New_York"}
    serial = ingest([str(tmp_path)], IngestOptions(jobs=1, **opts))
    monkeypatch.setattr(workers_mod, "PARALLEL_MIN_BYTES", 0)
    groups, split = workers_mod._shares(list(enumerate([Discovered(f.name, str(f), f.stat().st_size)
                                                         for f in sorted(tmp_path.iterdir())])),
                                        IngestOptions(jobs=2, **opts))
    assert split and [type(item[1]).__name__ for g in groups for item in g].count("FileSpan") == 2
    parallel = ingest([str(tmp_path)], IngestOptions(jobs=2, **opts))
    export = next(i for i in serial.inputs if i.path.endswith("export.log"))
    assert export.lines > 3000 and export.unrecognized_lines and export.blank_lines
    assert any("skipped by a DST change" in p for p in export.problems)
    assert serial.events.filter(pl.col("kind") == "app.activity").height > 50
    assert_frame_equal(serial.events, parallel.events)
    assert serial.inputs == parallel.inputs
    assert serial.warnings == parallel.warnings


def test_a_workers_frames_come_back_through_files_that_are_then_removed(tmp_path):
    """The worker writes its frames to Arrow files (a pickled frame would be two more copies of it); the
    parent reads back the same frames and removes every file."""
    _busy_log(tmp_path / "export.log")
    found = [(0, Discovered("export.log", str(tmp_path / "export.log"), (tmp_path / "export.log").stat().st_size))]
    direct = ingest_files(found, IngestOptions())
    spill = tmp_path / "spill"
    spill.mkdir()
    sent = workers_mod.ingest_to_files(found, IngestOptions(), str(spill / "0"))
    assert not sent.frames and len(sent.frame_files) == len(direct.frames) > 0
    assert all(Path(f).is_file() for f in sent.frame_files)
    back = workers_mod.load_frames(sent)
    assert not back.frame_files and not list(spill.iterdir())
    for a, b in zip(direct.frames, back.frames, strict=True):
        assert_frame_equal(a, b)


def test_a_worker_writes_each_frame_as_it_is_made(tmp_path, monkeypatch):
    """A worker streaming a log piece by piece writes each piece's events out before the next is read (it
    never holds its share's events), and what it writes, read back, is what one process keeps in memory."""
    _busy_log(tmp_path / "export.log")
    monkeypatch.setattr(read_file_mod, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(read_file_mod, "CHUNK_CHARS", 20_000)
    monkeypatch.setattr(file_group_mod, "CLASSIFY_BATCH_ROWS", 1)  # every piece recognized on its own
    found = [(0, Discovered("export.log", str(tmp_path / "export.log"), (tmp_path / "export.log").stat().st_size))]
    direct = ingest_files(found, IngestOptions())
    held = []
    add_frame = Part.add_frame

    def counting(self, frame):
        add_frame(self, frame)
        held.append(len(self.frames))

    monkeypatch.setattr(Part, "add_frame", counting)
    spill = tmp_path / "spill"
    spill.mkdir()
    sent = workers_mod.ingest_to_files(found, IngestOptions(), str(spill / "0"))
    assert len(held) == len(direct.frames) > 3 and set(held) == {0}
    back = workers_mod.load_frames(sent)
    assert len(back.frames) == len(direct.frames)
    for a, b in zip(direct.frames, back.frames, strict=True):
        assert_frame_equal(a, b)
    assert back.inputs == direct.inputs and back.warnings == direct.warnings


def test_frames_are_read_back_after_every_worker_has_ended(tmp_path, monkeypatch):
    """A finished worker holds the memory it peaked at until the pool shuts down: the parent reads no frame back
    while one is alive (on the dense 1 GiB log the two idle workers held ~300 MiB beside the frames read in)."""
    import multiprocessing

    for f in (DATA / "recorded/storm").iterdir():
        shutil.copy(f, tmp_path / f.name)
    alive = []
    load = workers_mod.load_frames

    def watched(part):
        alive.append(len(multiprocessing.active_children()))
        return load(part)

    monkeypatch.setattr(workers_mod, "load_frames", watched)
    monkeypatch.setattr(workers_mod, "PARALLEL_MIN_BYTES", 0)
    ingest([str(tmp_path)], IngestOptions(jobs=2))
    assert alive == [0, 0]
