"""The options of ingest, in their own module so every ingest stage can read them without a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IngestOptions:
    tz: str = "UTC"
    year: int | None = None
    now: datetime | None = None
    source_types: tuple[tuple[str, str], ...] = ()  # (parser name, glob); glob "*" = every file
    summarize_noise: bool = True  # low-level app lines as per-second app.activity events (parsers/noise.py)
    jobs: int = 1  # worker processes that read and frame files (postmortem/input/workers.py)
    # (given path, name shown for it): batch shows an incident's name, not the scratch folder it was read from
    display_names: tuple[tuple[str, str], ...] = ()
