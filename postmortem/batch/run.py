"""Batch analysis of past incidents: one sub-folder or archive of DIR per incident, analyzed in parallel.

`run_batch` finds the incidents, skips those whose inputs did not change (content-hash cache), runs
`batch_worker.run_incident` on the rest in worker processes (spawn context: polars is not fork-safe)
or on a Dask cluster, writes one report set per incident, and then the index, chart and findings
tables over all incidents. It prints nothing: progress goes to the `progress` callback.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from postmortem.analysis.pipeline import AnalyzeOptions
from postmortem.batch.archive import ArchiveLimits, archive_stem
from postmortem.batch.cache import incident_key, load_cache, options_fingerprint, save_cache
from postmortem.batch.index import (
    CHART_NAME,
    findings_frame,
    incidents_chart_svg,
    index_context,
    render_index,
)
from postmortem.batch.safe_write import write_new, write_via_temp
from postmortem.batch.summary import IncidentSummary, summary_from_json
from postmortem.batch.worker import FORMATS, IncidentJob, IncidentOutcome, run_incident
from postmortem.quoting import MAX_MESSAGE, shorten

DASK_SCHEME = "dask://"
DASK_CONNECT_TIMEOUT = "10s"  # reaching the scheduler
DASK_WORKER_WAIT_S = 30.0  # a scheduler with no worker would hold the jobs forever
# First characters that make a spreadsheet evaluate a CSV cell as a formula.
_FORMULA_START = r"^[=+\-@\t\r]"


class BatchUsageError(ValueError):
    """Bad batch input (not a folder, bad executor address): the CLI exits 2."""


@dataclass
class BatchResult:
    incidents: list[IncidentSummary] = field(default_factory=list)
    analyzed: int = 0
    skipped: int = 0
    not_incidents: list[str] = field(default_factory=list)  # entries of DIR not analyzed, each with why

    @property
    def failed(self) -> list[IncidentSummary]:
        return [i for i in self.incidents if not i.ok]


def find_incidents(root: Path, exclude: Path | None = None,
                   notes: list[str] | None = None) -> list[tuple[str, Path, bool]]:
    """(name, path, is_archive) per incident: sub-folders and archives of root, hidden ones skipped.

    A symlinked folder is followed unless it leads back to root or above it (a loop), to the output
    folder, or to a folder already taken; each entry not taken is said in `notes`. An archive whose stem
    collides with a folder (or another archive) keeps its full file name.
    """
    notes = notes if notes is not None else []
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    excluded = exclude.resolve() if exclude is not None else None
    real_root = root.resolve()
    seen: set[Path] = set()
    folders = []
    for p in entries:
        if not p.is_dir():
            continue
        target = p.resolve()
        why = None
        if target == excluded:
            why = "it is the output folder" if not p.is_symlink() else "the link leads to the output folder"
        elif p.is_symlink() and (target == real_root or target in real_root.parents):
            why = f"the link leads to {target}, which contains the batch folder (a loop)"
        elif target in seen:
            why = f"the link leads to {target}, already analyzed under another name"
        if why:
            notes.append(f"{shorten(p.name)}: not analyzed: {why}")
            continue
        seen.add(target)
        folders.append(p)
    taken = {p.name for p in folders}
    out = [(p.name, p, False) for p in folders]
    for p in entries:
        stem = archive_stem(p.name)
        if stem is None or p.is_dir():
            continue
        if not p.is_file():
            notes.append(f"{shorten(p.name)}: not analyzed: a broken link or not a regular file")
            continue
        name = stem if stem not in taken else p.name
        taken.add(name)
        out.append((name, p, True))
    return sorted(out)


def _executor_address(executor: str | None) -> str | None:
    if executor is None:
        return None
    if not executor.startswith(DASK_SCHEME) or len(executor) <= len(DASK_SCHEME):
        raise BatchUsageError(f"--executor must look like dask://HOST:PORT, not {executor!r}")
    return "tcp://" + executor[len(DASK_SCHEME):]


def _run_pool(jobs: list[IncidentJob], workers: int) -> Iterator[IncidentOutcome]:
    """Run jobs in a spawn-context process pool; a crashed worker process fails only its incident.

    A worker that dies (segfault, OOM kill) breaks the whole pool, so the jobs that had not come back
    are re-run one by one, each in a fresh single-process pool, to pin the crash on its incident.
    """
    ctx = multiprocessing.get_context("spawn")
    pending = {j.name: j for j in jobs}
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(run_incident, j): j.name for j in jobs}
        try:
            for fut in cf.as_completed(futures):
                outcome = fut.result()
                pending.pop(outcome.name, None)
                yield outcome
        except cf.process.BrokenProcessPool:
            for fut, name in futures.items():
                if name in pending and fut.done() and fut.exception() is None:
                    pending.pop(name)
                    yield fut.result()
    for job in pending.values():
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            try:
                yield pool.submit(run_incident, job).result()
            except cf.process.BrokenProcessPool:
                yield IncidentOutcome(job.name, error="the worker process crashed while analyzing this incident")


def _run_dask(jobs: list[IncidentJob], address: str) -> Iterator[IncidentOutcome]:
    """Run the same per-incident function on an existing Dask cluster."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise BatchUsageError("--executor dask:// needs dask.distributed: pip install 'postmortem[dask]'") from exc
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except OSError as exc:
        raise BatchUsageError(f"cannot reach the Dask scheduler at {address}: {shorten(exc)}") from exc
    with client:
        try:
            client.wait_for_workers(1, timeout=DASK_WORKER_WAIT_S)
        except (TimeoutError, OSError) as exc:
            raise BatchUsageError(f"the Dask scheduler at {address} has no worker after {DASK_WORKER_WAIT_S:.0f} s; "
                                  "start one with `dask worker " + address + "`") from exc
        futures = client.map(run_incident, jobs, pure=False, key=[f"postmortem-{j.name}" for j in jobs])
        names = {f.key: j.name for f, j in zip(futures, jobs, strict=True)}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails that incident only
                yield IncidentOutcome(names[fut.key], error=f"dask: {type(exc).__name__}: {exc}")


def _incident_folder(out: Path, name: str) -> Path:
    """out/name as a real folder: a symlink planted there is refused, not followed."""
    folder = out / name
    if folder.is_symlink():
        raise OSError(f"{folder} is a symlink; refusing to write through it")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_reports(out: Path, outcome: IncidentOutcome) -> None:
    folder = _incident_folder(out, outcome.name)
    for fmt in FORMATS:
        write_new(folder / f"report.{fmt}", outcome.texts[fmt])


def _remove_reports(out: Path, name: str) -> None:
    """A failed incident must not keep the reports of an earlier successful run."""
    if (out / name).is_symlink():
        return
    for fmt in FORMATS:
        (out / name / f"report.{fmt}").unlink(missing_ok=True)


def _cached_summary(out: Path, name: str) -> IncidentSummary | None:
    try:
        if not all((out / name / f"report.{fmt}").is_file() for fmt in FORMATS):
            return None
        return summary_from_json(name, (out / name / "report.json").read_text(encoding="utf-8"), cached=True)
    except (OSError, ValueError):
        return None


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix `'` to String cells a spreadsheet would run as a formula (OWASP CSV injection advice).

    Log text (titles, incident names) is untrusted: a cell starting with = + - @ tab or CR is
    evaluated by Excel, LibreOffice and Sheets. Only String columns are touched, so numbers and
    timestamps keep their values and types.
    """
    return frame.with_columns(
        pl.col(name).str.replace(_FORMULA_START, "'$0")
        for name, dtype in frame.schema.items() if dtype == pl.String
    )


def write_index(out: Path, incidents: list[IncidentSummary], generated_at: str | None = None) -> None:
    """index.md, index.html (chart inline), the chart beside them, findings.csv and findings.parquet."""
    ctx = index_context(incidents, generated_at)
    svg = incidents_chart_svg(ctx["rows"])
    write_new(out / CHART_NAME, svg)
    write_new(out / "index.md", render_index(ctx, "md"))
    write_new(out / "index.html", render_index(ctx, "html", svg))
    frame = findings_frame(incidents)
    # Parquet keeps the raw values: it is read by programs, not opened by spreadsheets.
    write_via_temp(out / "findings.parquet", frame.write_parquet)
    # Guard before formatting the timestamps, so they (not log text) stay unprefixed.
    safe = spreadsheet_safe(frame)
    write_new(out / "findings.csv", safe.with_columns(safe["start"].dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
                                                      safe["end"].dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_csv())



def run_batch(
    root: str | Path,
    out: str | Path,
    options: AnalyzeOptions | None = None,
    jobs: int = 1,
    executor: str | None = None,
    force: bool = False,
    limits: ArchiveLimits | None = None,
    progress: Callable[[int, IncidentOutcome | None], None] | None = None,
) -> BatchResult:
    """Analyze every incident under root into out; see the module docstring.

    `progress(total, outcome)` is called once with outcome None when the work is known, then once per
    analyzed incident.
    """
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise BatchUsageError(f"{root} is not a folder")
    if jobs < 1:
        raise BatchUsageError("--jobs must be at least 1")
    address = _executor_address(executor)
    options = options or AnalyzeOptions()
    limits = limits or ArchiveLimits()
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = options_fingerprint(options)
    cache = {} if force else load_cache(out)
    new_cache: dict[str, str] = {}
    summaries: dict[str, IncidentSummary] = {}
    todo: list[IncidentJob] = []
    keys: dict[str, str] = {}
    not_incidents: list[str] = []
    for name, path, is_archive in find_incidents(root, exclude=out, notes=not_incidents):
        try:
            key = incident_key(path, fingerprint)
        except OSError:
            key = ""  # unreadable input: never cached; the worker reports the error
        keys[name] = key
        cached = _cached_summary(out, name) if key and cache.get(name) == key else None
        if cached is not None:
            summaries[name] = cached
            new_cache[name] = key
            continue
        todo.append(IncidentJob(name, str(path.resolve()), is_archive, options, limits))
    result = BatchResult(skipped=len(summaries), not_incidents=not_incidents)
    if progress:
        progress(len(todo), None)
    outcomes: Iterable[IncidentOutcome]
    if not todo:
        outcomes = ()
    elif address:
        outcomes = _run_dask(todo, address)
    else:
        outcomes = _run_pool(todo, min(jobs, len(todo)))
    for outcome in outcomes:
        if not outcome.error:
            try:
                _write_reports(out, outcome)
                summaries[outcome.name] = summary_from_json(outcome.name, outcome.texts["json"])
            except (OSError, ValueError, KeyError) as exc:
                outcome.error = shorten(f"cannot write or read back the reports: {type(exc).__name__}: {exc}",
                                        MAX_MESSAGE)
        if outcome.error:
            _remove_reports(out, outcome.name)
            summaries[outcome.name] = IncidentSummary(outcome.name, error=outcome.error)
            new_cache.pop(outcome.name, None)
        else:
            if keys[outcome.name]:
                new_cache[outcome.name] = keys[outcome.name]
            result.analyzed += 1
        save_cache(out, new_cache)
        if progress:
            progress(len(todo), outcome)
    save_cache(out, new_cache)
    result.incidents = [summaries[n] for n in sorted(summaries)]
    write_index(out, result.incidents, options.generated_at)
    return result

