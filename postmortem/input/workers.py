"""Spread a big input over spawned worker processes, files balanced by size and a big log cut into
spans (file_split.py); a lost worker's files are read again in this process.

A worker hands its events back through Arrow IPC files, not through the result pipe: a pickled frame is a
second copy of it in the worker and a third in this process until it is unpickled. Each frame is written as
soon as it is made, so a worker holds one batch, never its share's events."""

from __future__ import annotations

import contextlib
import os
import tempfile

import polars as pl

from postmortem.failures import RECOVERABLE
from postmortem.input.discover import Discovered
from postmortem.input.file_group import Part, ingest_files
from postmortem.input.file_split import join_spans, split_file
from postmortem.input.options import PARALLEL_MIN_BYTES, IngestOptions


def ingest_parts(found: list[tuple[int, Discovered]], opts: IngestOptions) -> list[Part]:
    """Ingest in this process, or in `opts.jobs` spawned workers, each given files of about equal total
    size, when the input is big enough to repay their start-up (each imports polars and the parsers).
    A log bigger than one worker's share is cut into spans, one per worker (file_split.py)."""
    big = sum(f.size or 0 for _, f in found) >= PARALLEL_MIN_BYTES
    if opts.jobs <= 1 or not big:
        return [ingest_files(found, opts)]
    groups, split = _shares(found, opts)
    if len(groups) <= 1:
        return [ingest_files(found, opts)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: polars' thread pool does not survive a fork
    with tempfile.TemporaryDirectory(prefix="postmortem-", ignore_cleanup_errors=True) as spill:
        # every worker has ended before any frame is read back: a finished worker keeps the memory it peaked at
        # (300-400 MiB on a dense log) until the pool shuts down, beside the frames this process reads in
        with ProcessPoolExecutor(max_workers=len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(ingest_to_files, g, opts, os.path.join(spill, str(k)))
                       for k, g in enumerate(groups)]
            done = [_outcome(fut) for fut in futures]
        parts = []
        for group, out in zip(groups, done, strict=True):
            if isinstance(out, Part):
                parts.append(load_frames(out))
                continue
            part = ingest_files(group, opts)  # a lost worker (killed, crashed): do its files here
            part.warnings.append(f"a worker process failed ({type(out).__name__}: {str(out)[:200]}); "
                                 f"its {len(group)} files were read again in the main process")
            parts.append(part)
    if split:
        join_spans(list(zip(groups, parts, strict=True)), lambda path: opts.zone_for(path)[0])
    return parts


def _outcome(fut) -> Part | BaseException:
    """A worker's Part, or what it failed with."""
    try:
        return fut.result()
    except RECOVERABLE as exc:  # noqa: BLE001 - a lost worker's files are read again in this process
        return exc


def ingest_to_files(found: list[tuple[int, Discovered]], opts: IngestOptions, stem: str) -> Part:
    """`ingest_files` in a worker, each events frame written to `stem`.N.arrow as soon as it is made and
    let go (a worker that kept them until its last file held its whole share's events at once)."""
    part = ingest_files(found, opts, spill=stem)
    part.spill = None  # the parent keeps what it reads back in memory
    return part


def load_frames(part: Part) -> Part:
    """The worker's frames read back from their files into this process's memory, each file then removed."""
    for path in part.frame_files:
        part.frames.append(pl.read_ipc(path))
        with contextlib.suppress(OSError):  # where an open file cannot be removed, the directory goes at the end
            os.remove(path)
    part.frame_files = []
    return part


def _shares(found: list[tuple[int, Discovered]], opts: IngestOptions) -> tuple[list[list], bool]:
    """The workers' shares, each in discovery order: a log bigger than an even share is split into one
    span per worker; the other files go largest first to the least loaded worker."""
    jobs = opts.jobs
    total = sum(f.size or 0 for _, f in found)
    groups: list[list] = [[] for _ in range(jobs)]
    loads = [0] * jobs
    whole = []
    split = False
    for index, f in found:
        spans = split_file(f, jobs, opts) if (f.size or 0) * jobs > total else None
        if not spans:
            whole.append((index, f))
            continue
        split = True
        for k, span in enumerate(spans):
            groups[k].append((index, span))
            loads[k] += span.stop - span.start
    for item in sorted(whole, key=lambda item: -(item[1].size or 0)):  # largest first, to the least loaded
        k = loads.index(min(loads))
        groups[k].append(item)
        loads[k] += item[1].size or 0
    order = [sorted(g, key=lambda item: (item[0], getattr(item[1], "start", 0))) for g in groups if g]
    return order, split
