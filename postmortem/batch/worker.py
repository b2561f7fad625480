"""The per-incident job that runs in a worker process (local pool or Dask): analyze, render, return texts.

It never raises: any failure becomes the outcome's `error`, so one broken incident cannot stop the
others. It writes nothing but its scratch folder; the parent writes the reports. Paths in the report
are shown relative to the batch folder (`<incident>/api.log`), whether the incident was a folder or
an archive extracted to a temp dir, so reports do not depend on where the batch ran.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from postmortem.analysis.pipeline import AnalyzeOptions
from postmortem.batch.archive import ArchiveError, ArchiveLimits, extract_archive
from postmortem.failures import RECOVERABLE
from postmortem.redaction import redact_text

FORMATS = ("md", "html", "json")


@dataclass(frozen=True)
class IncidentJob:
    """One incident to analyze: a folder, or an archive to extract first."""

    name: str
    path: str  # absolute
    archive: bool
    options: AnalyzeOptions = AnalyzeOptions()
    limits: ArchiveLimits = ArchiveLimits()


@dataclass
class IncidentOutcome:
    """What came back from a worker: the rendered reports, or the error."""

    name: str
    texts: dict[str, str] = field(default_factory=dict)  # format → report text
    error: str = ""
    seconds: float = 0.0


def _relocate(value, old: str, new: str):
    """Replace the scratch/absolute prefix `old` by `new` in every string inside a Report value."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, tuple):
        return tuple(_relocate(v, old, new) for v in value)
    if isinstance(value, list):
        return [_relocate(v, old, new) for v in value]
    if isinstance(value, dict):
        return {_relocate(k, old, new): _relocate(v, old, new) for k, v in value.items()}
    if isinstance(value, MappingProxyType):
        return MappingProxyType({_relocate(k, old, new): _relocate(v, old, new) for k, v in value.items()})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _relocate(getattr(value, f.name), old, new) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def _render(report, fmt: str) -> str:
    """Through `reports.render.render`, the same function the CLI uses (the report holds its charts)."""
    from reports.render import render

    return render(report, fmt)


def _analyze_folder(job: IncidentJob, folder: Path) -> dict[str, str]:
    from postmortem.analysis.pipeline import analyze

    report, _ = analyze([str(folder)], job.options)
    read = [i for i in report.inputs if not i.skipped]
    if not read or all(i.lines == 0 for i in read):
        raise ValueError("nothing could be read from this incident")
    old = str(folder)
    report = _relocate(report, old, job.name)
    return {fmt: _render(report, fmt) for fmt in FORMATS}


def run_incident(job: IncidentJob) -> IncidentOutcome:
    """Analyze one incident and render its reports; a failure is returned, never raised."""
    started = time.perf_counter()
    out = IncidentOutcome(job.name)
    try:
        if job.archive:
            with tempfile.TemporaryDirectory(prefix="postmortem-batch-") as tmp:
                folder = Path(tmp) / "incident"
                folder.mkdir()
                extract_archive(job.path, folder, job.limits)
                out.texts = _analyze_folder(job, folder)
        else:
            out.texts = _analyze_folder(job, Path(job.path))
    except ArchiveError as exc:
        out.error = f"archive rejected: {exc}"
    except RECOVERABLE as exc:  # noqa: BLE001 - the batch must survive any one incident
        out.error = f"{type(exc).__name__}: {exc}"
    out.error = redact_text(out.error) or ""
    out.seconds = time.perf_counter() - started
    return out
