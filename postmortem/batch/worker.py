"""The per-incident job that runs in a worker process (local pool or Dask): analyze, render, return texts.

It never raises: any failure becomes the outcome's `error`, so one broken incident cannot stop the
others. It writes nothing but its scratch folder; the parent writes the reports. The incident's folder
is shown by the incident's name (`IngestOptions.display_names`, decided when the inputs are found) and
its files relative to it, whether it was a folder or an archive extracted to a temp dir, so reports do
not depend on where the batch ran.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from postmortem.analysis.pipeline import AnalyzeOptions
from postmortem.batch.archive import ArchiveError, ArchiveLimits, extract_archive
from postmortem.failures import RECOVERABLE
from postmortem.quoting import MAX_MESSAGE, shorten
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


def _render(report, fmt: str) -> str:
    """Through `reports.render.render`, the same function the CLI uses (the report holds its charts)."""
    from reports.render import render

    return render(report, fmt)


def _analyze_folder(job: IncidentJob, folder: Path) -> dict[str, str]:
    from postmortem.analysis.pipeline import analyze

    shown = dataclasses.replace(job.options.ingest, display_names=((str(folder), job.name),))
    report, _ = analyze([str(folder)], dataclasses.replace(job.options, ingest=shown, return_events=False))
    read = [i for i in report.inputs if not i.skipped]
    if not read or all(i.lines == 0 for i in read):
        raise ValueError("nothing could be read from this incident")
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
    if job.options.redact:  # an exception's text may quote the logs; it goes to the index, not the Report
        out.error = redact_text(out.error) or ""
    out.error = shorten(out.error, MAX_MESSAGE)  # it is quoted in stderr, index.md and index.html
    out.seconds = time.perf_counter() - started
    return out
