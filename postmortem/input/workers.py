"""Spread a big input over spawned worker processes, files balanced by size; a lost worker's files are
read again in this process."""

from __future__ import annotations

from postmortem.failures import RECOVERABLE
from postmortem.input.discover import Discovered
from postmortem.input.file_group import Part, ingest_files
from postmortem.input.options import IngestOptions

PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # smaller inputs are read in-process: workers take ~1 s to start


def ingest_parts(found: list[tuple[int, Discovered]], opts: IngestOptions) -> list[Part]:
    """Ingest in this process, or in `opts.jobs` spawned workers, each given files of about equal total
    size, when the input is big enough to repay their start-up (each imports polars and the parsers)."""
    big = sum(f.size or 0 for _, f in found) >= PARALLEL_MIN_BYTES
    jobs = min(opts.jobs, len(found))
    if jobs <= 1 or not big:
        return [ingest_files(found, opts)]
    groups: list[list] = [[] for _ in range(jobs)]
    loads = [0] * jobs
    for item in sorted(found, key=lambda item: -(item[1].size or 0)):  # largest first, to the least loaded
        k = loads.index(min(loads))
        groups[k].append(item)
        loads[k] += item[1].size or 0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    groups = [sorted(g, key=lambda item: item[0]) for g in groups if g]
    # spawn, not fork: polars' thread pool does not survive a fork
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(ingest_files, g, opts) for g in groups]
        parts = []
        for group, fut in zip(groups, futures, strict=True):
            try:
                parts.append(fut.result())
            except RECOVERABLE as exc:  # noqa: BLE001 - a lost worker (killed, crashed): do its files here
                part = ingest_files(group, opts)
                part.warnings.append(f"a worker process failed ({type(exc).__name__}: {str(exc)[:200]}); "
                                     f"its {len(group)} files were read again in the main process")
                parts.append(part)
        return parts
