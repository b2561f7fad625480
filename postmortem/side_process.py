"""A second process for work that can run beside the analysis on another CPU (issue 20: small incidents).

Drawing a report's charts is Python holding the GIL (matplotlib), so a thread cannot overlap it with the
analysis; one spawned process can. The CLI starts it with the command, so it imports what it will need
while the logs are read, and hands it tasks (`reports/chart_process.py`). Whoever needs a task's result and
finds it not started takes it back and runs it here (`result_or_run`): nothing waits on a lost process, and
every result is the one running the same pure function here gives.

Tried and not kept: handing it every other run of the what-if replay. Each run is ~20 ms of numpy on a few
dozen requests; with the pool's round trip the recorded storm's replay took as long (0.36–0.40 s against
0.35 s) and cost more CPU.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

WAIT_S = 300.0  # a started task not back by then is run here as well (nothing it runs should take a second)


def _preload(modules: tuple[str, ...]) -> None:
    """The process's first work: import what its tasks need (a failure is left for the task to raise).

    It also makes the process end without the interpreter's teardown (clearing matplotlib's modules object by
    object, ~0.1 s) once its tasks are done: `close` waits for the process to end, so the CLI would wait on it."""
    atexit.register(os._exit, 0)  # exit handlers run last-in first-out: the preload's own (matplotlib's) still run
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            return


def _ready() -> None:
    """A first task, so that the process starts (and preloads) now rather than at the first real task."""


class SideProcess:
    """One spawned process taking tasks in order; `close` ends it."""

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        try:
            self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_preload, initargs=(preload,))
            self._pool.submit(_ready)
        except (OSError, RuntimeError, ValueError):  # no second process here: every task runs in this one
            self._pool = None

    def submit(self, fn: Callable, *args) -> Future | None:
        """`fn(*args)` queued for the process (`fn` importable by name, `args` picklable); None when it is gone."""
        if self._pool is None:
            return None
        try:
            return self._pool.submit(fn, *args)
        except RuntimeError:  # a broken or shut pool refuses work
            return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def submit(side: SideProcess | None, fn: Callable, *args) -> Future | None:
    """`side.submit`, or None without a side process."""
    return side.submit(fn, *args) if side is not None else None


def result_or_run(future: Future | None, fn: Callable, *args):
    """The side's result of `fn(*args)`; run here instead when it was not handed over (None), has not
    started (it is taken back), failed, or the process is gone. A real error raises here as it would have."""
    if future is None or future.cancel():
        return fn(*args)
    try:
        return future.result(timeout=WAIT_S)
    except Exception:  # noqa: BLE001
        return fn(*args)
