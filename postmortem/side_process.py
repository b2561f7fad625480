"""A second process for the work that can run beside the analysis on another CPU (issue 20: small incidents).

Most of a small incident's time is Python holding the GIL: the what-if replay's runs (numpy on arrays of a
few dozen requests) and drawing the report's charts (matplotlib). Threads cannot overlap them; one spawned
process can. The CLI starts it with the command, so it imports what it will need while the logs are read, and
hands it tasks. Whoever needs a task's result and finds it not started takes it back and runs it here
(`result_or_run`): nothing waits on a busy or lost process, and every result is the one running the same
pure function here gives.
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

WAIT_S = 300.0  # a started task not back by then is run here as well (nothing it runs should take a second)


def _preload(modules: tuple[str, ...]) -> None:
    """The process's first work: import what its tasks need (a failure is left for the task to raise)."""
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
        self.handed = 0
        try:
            self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_preload, initargs=(preload,))
            self._futures = [self._pool.submit(_ready)]
        except (OSError, RuntimeError, ValueError):  # no second process here: every task runs in this one
            self._pool = None

    def submit(self, fn: Callable, *args, when_idle: bool = False) -> Future | None:
        """`fn(*args)` queued for the process (`fn` importable by name, `args` picklable); None when it is gone,
        or, `when_idle`, while it still has work (still importing, drawing): a task queued behind that work
        could not be taken back (the pool hands the next task over before the current one ends)."""
        if self._pool is None or when_idle and any(not f.done() for f in self._futures):
            return None
        try:
            future = self._pool.submit(fn, *args)
        except RuntimeError:  # a broken or shut pool refuses work
            return None
        self._futures = [f for f in self._futures if not f.done()] + [future]
        self.handed += 1
        return future

    def wait_idle(self) -> None:
        """Wait until every task handed over so far has ended (tests; the analysis never waits for idleness)."""
        for f in list(self._futures):
            try:
                f.result(timeout=WAIT_S)
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def submit(side: SideProcess | None, fn: Callable, *args, when_idle: bool = False) -> Future | None:
    """`side.submit`, or None without a side process."""
    return side.submit(fn, *args, when_idle=when_idle) if side is not None else None


def result_or_run(future: Future | None, fn: Callable, *args):
    """The side's result of `fn(*args)`; run here instead when it was not handed over (None), has not
    started (it is taken back), failed, or the process is gone. A real error raises here as it would have."""
    if future is None or future.cancel():
        return fn(*args)
    try:
        return future.result(timeout=WAIT_S)
    except Exception:  # noqa: BLE001
        return fn(*args)
