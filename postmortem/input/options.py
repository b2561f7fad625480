"""The options of ingest, in their own module so every ingest stage can read them without a cycle."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from datetime import datetime

# smaller inputs are read in-process (workers take ~1 s to start); here so the CLI can test it before importing ingest
PARALLEL_MIN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class IngestOptions:
    tz: str = "UTC"  # zone of zone-less times (--tz ZONE)
    tz_globs: tuple[tuple[str, str], ...] = ()  # (zone, glob) from --tz ZONE=GLOB: the first matching glob wins
    year: int | None = None
    now: datetime | None = None
    source_types: tuple[tuple[str, str], ...] = ()  # (parser name, glob); glob "*" = every file
    summarize_noise: bool = True  # low-level app lines as per-second app.activity events (parsers/noise.py)
    jobs: int = 1  # worker processes that read and frame files (postmortem/input/workers.py)
    # (given path, name shown for it): batch shows an incident's name, not the scratch folder it was read from
    display_names: tuple[tuple[str, str], ...] = ()
    # a StackExchange.Redis timeout's `attrs` left null where its `message` alone gives them (se_attrs.py): the
    # analysis' table holds each timeout's fields once; `parse` and `ingest`'s other callers keep both forms
    se_fields_in_message: bool = False

    def zone_for(self, path: str) -> tuple[str, str]:
        """The zone zone-less times of this file are read in, and why: `given` (--tz ZONE=GLOB or
        --tz ZONE) or `default` (UTC)."""
        for zone, glob in self.tz_globs:
            if fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(os.path.basename(path), glob):
                return zone, "given"
        return self.tz, "default" if self.tz == "UTC" else "given"
