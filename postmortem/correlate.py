"""Correlation context: what every detector needs to know about the incident as a whole.

Built once per analysis from the events table and the input accounting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from postmortem.model import InputFile

ERROR_LEVELS = ("warning", "error", "critical")
REDIS_SOURCES = ("stackexchange_redis", "redis_py", "redis_server")


@dataclass
class Context:
    inputs: list[InputFile]
    window_start: datetime | None = None
    window_end: datetime | None = None
    assumptions: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)


def is_problem() -> pl.Expr:
    """Events that signal trouble: warning and above, or any Redis failure kind."""
    return pl.col("level").cast(pl.String).is_in(ERROR_LEVELS) | (
        pl.col("kind").str.starts_with("redis.") & ~pl.col("kind").is_in(["redis.config", "redis.connection_restored"])
        & ~pl.col("kind").str.starts_with("redis.server.")
    )


def incident_window(events: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    """The span of problem events; the whole span of timed events when there are none."""
    timed = events.filter(pl.col("ts").is_not_null())
    if timed.height == 0:
        return None, None
    problems = timed.filter(is_problem())
    base = problems if problems.height else timed
    return base.get_column("ts").min(), base.get_column("ts").max()


def build_context(events: pl.DataFrame, inputs: list[InputFile], assumptions: list[str]) -> Context:
    start, end = incident_window(events)
    return Context(inputs=inputs, window_start=start, window_end=end, assumptions=list(assumptions))
