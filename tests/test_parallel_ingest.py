"""Ingest in worker processes gives exactly what ingest in one process gives."""

from __future__ import annotations

import shutil
from pathlib import Path

from polars.testing import assert_frame_equal

import postmortem.input.workers as workers_mod
from postmortem.input.discover import Discovered
from postmortem.input.file_group import Part
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

        def submit(self, fn, group, opts):
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

        def submit(self, fn, group, opts):
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
