"""Shared output side of the metric parsers: sample rows → events table, lines → FileParse accounting."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.metrics.names import entity_of, normalize
from postmortem.model import Kind, UnrecognizedSample
from postmortem.schema import conform_events

SOURCE = "metrics"
KIND = "metric.sample"
# one row per sample (`metric`, `value`, series labels in attrs); redis-server's `N clients connected` too
SAMPLE_KIND = Kind(KIND, SOURCE, "one metric sample: `metric` and `value`, series labels in `attrs`")
MAX_SAMPLES = 5


@dataclass
class Sample:
    line: int  # 1-based line the sample came from
    name: str
    value: float
    ts: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    entity: str | None = None


def to_float(text: object) -> float | None:
    """Go/Prometheus float text (`NaN`, `+Inf`) or a number → float; None when not a number."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(str(text).strip())
    except ValueError:
        return None


def from_epoch(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def samples_frame(samples: list[Sample], path: str) -> pl.DataFrame:
    """One `metric.sample` event per sample: normalized name, raw name and labels in attrs."""
    rows = []
    for s in samples:
        metric = normalize(s.name)
        attrs = {"raw": s.name, "labels": s.labels} if s.labels else {"raw": s.name}
        label_text = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
        rows.append(
            {
                "ts": s.ts, "source": SOURCE, "kind": KIND, "path": path, "line": s.line, "level": "info",
                "entity": s.entity or entity_of(s.labels, s.name), "message": f"{s.name}{{{label_text}}} {s.value:g}"[:2000],
                "metric": metric, "value": s.value, "attrs": json.dumps(attrs, sort_keys=True),
            }
        )
    schema = {
        "ts": pl.Datetime("us", "UTC"), "source": pl.String, "kind": pl.String, "path": pl.String,
        "line": pl.UInt32, "level": pl.String, "entity": pl.String, "message": pl.String,
        "metric": pl.String, "value": pl.Float64, "attrs": pl.String,
    }
    return conform_events(pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema))


def split_text(text: str) -> list[str]:
    """Physical lines as the ingest counts them (trailing newline does not add a line), CR stripped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def head_lines(text: str, n: int) -> list[str]:
    """`split_text(text)[:n]` without splitting the rest: sniffers read a few dozen lines of a 64 KiB head, and
    splitting it all for each of them was most of choosing a parser for a folder of logs (issue 20)."""
    lines = text.split("\n", n)  # the first n pieces are the whole split's; a last one holds the rest
    if len(lines) > n:
        lines = lines[:n]
    elif lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def account(
    lines: list[str],
    used: set[int],
    events: pl.DataFrame,
    *,
    problems: list[str] | None = None,
    assumptions: list[str] | None = None,
    records: int | None = None,
) -> FileParse:
    """FileParse with exact accounting: used line indexes are event lines, other non-blank lines unrecognized."""
    used = {i for i in used if 0 <= i < len(lines)}
    blank = [i for i in range(len(lines)) if i not in used and not lines[i].strip()]
    unrec = [i for i in range(len(lines)) if i not in used and lines[i].strip()]
    return FileParse(
        events=events,
        lines=len(lines),
        event_lines=len(used),
        unrecognized_lines=len(unrec),
        blank_lines=len(blank),
        records=events.height if records is None else records,
        problems=problems or [],
        unrecognized_samples=[UnrecognizedSample(i + 1, lines[i][:300]) for i in unrec[:MAX_SAMPLES]],
        assumptions=assumptions or [],
    )


def now_assumption(ctx: ParseContext, what: str) -> str:
    ref = ctx.now.isoformat().replace("+00:00", "Z") if ctx.now else "no time"
    return f"{ctx.path}: {what} carry no timestamp; they were dated {ref} ({ctx.now_source})."
