"""Application Insights / Log Analytics CSV exports (traces and exceptions tables).

Why a file parser: a CSV row can span many physical lines (quoted stack traces), so the line framer
would cut rows apart. Rows become the same records the framer produces and go through the shared
recognizers (`parsers.recognize`), so StackExchange.Redis text in `message`, `outerMessage` or
`details` is classified exactly as in a plain log; unclaimed rows become `app.log` events.
Exports are small (the portal caps them), so rows are read with the csv module per file.
"""

from __future__ import annotations

import csv
import io
import json
from typing import ClassVar

import polars as pl

from parsers.base import RECORD_COLUMNS, FileParse, ParseContext
from parsers.envelopes import normalize_level
from parsers.recognize import APP_LOG, recognize
from postmortem.input.timeparse import with_parsed_ts
from postmortem.model import Kind, UnrecognizedSample
from postmortem.schema import conform_events

_TS_COLS = ("timestamp [UTC]", "TimeGenerated [UTC]", "timestamp", "TimeGenerated", "timestamp [Local Time]")
_MSG_COLS = ("message", "Message")
_HOST_COLS = ("cloud_RoleInstance", "AppRoleInstance", "cloud_RoleName", "AppRoleName")
_LEVEL_COLS = ("severityLevel", "SeverityLevel")
_MARKERS = ("message", "Message", "outerMessage", "severityLevel", "SeverityLevel", "itemType", "ItemType",
            "cloud_RoleInstance", "AppRoleInstance", "problemId", "details", "ProblemId", "OuterMessage", "Details")
_SEVERITY = {"0": "Verbose", "1": "Information", "2": "Warning", "3": "Error", "4": "Critical"}
MAX_SAMPLES = 5


def _first(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        v = row.get(n)
        if v not in (None, ""):
            return v
    return None


def exception_text(row: dict[str, str]) -> str | None:
    """Exceptions table: outer type and message, then inner messages found in `details`.

    Classic Application Insights names (`outerMessage`, `details`) and the workspace-based AppExceptions
    table's (`OuterMessage`, `Details`, `InnermostMessage`; learn.microsoft.com, tables/appexceptions)."""
    parts: list[str] = []
    outer = _first(row, ("outerMessage", "OuterMessage"))
    if outer:
        outer_type = _first(row, ("outerType", "type", "OuterType", "ExceptionType"))
        parts.append(f"{outer_type}: {outer}" if outer_type else outer)
    details = row.get("details") or row.get("Details") or ""
    try:
        items = json.loads(details) if details.strip().startswith("[") else []
    except ValueError:
        items = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("message"):
            line = f"{item.get('type', '')}: {item['message']}".lstrip(": ")
            if not any(item["message"] in p for p in parts):
                parts.append(line)
    inner = _first(row, ("innermostMessage", "InnermostMessage"))
    if inner and not any(inner in p for p in parts):
        inner_type = _first(row, ("innermostType", "InnermostType"))
        parts.append(f"{inner_type}: {inner}" if inner_type else inner)
    return "\n".join(parts) or None


class AppInsightsCsv:
    """FileParser for portal / Log Analytics CSV exports of traces and exceptions."""

    name: ClassVar[str] = "appinsights_csv"
    kinds: ClassVar[tuple[Kind, ...]] = (APP_LOG,)  # plus whatever the recognizers claim of its rows
    example: ClassVar[str] = 'timestamp [UTC],message,severityLevel,itemType,cloud_RoleInstance  (portal "Export to CSV")'
    samples: ClassVar[tuple[str, ...]] = (
        "timestamp [UTC],message,severityLevel,itemType,cloud_RoleName,cloud_RoleInstance\n"
        '"3/14/2026, 2:12:11.532 AM","Cache read failed: Timeout performing GET (5000ms), inst: 0, qu: 0, qs: 9, '
        'serverEndpoint: cache1:6380, clientName: api-1(SE.Redis-v2.2.88.56325), v: 2.2.88.56325",3,trace,api,api-1\n',
        "timestamp [UTC],problemId,type,outerType,outerMessage,innermostMessage,details,itemType,cloud_RoleInstance\n"
        '2026-03-14T02:12:12.01Z,X at Y,StackExchange.Redis.RedisConnectionException,'
        "StackExchange.Redis.RedisConnectionException,\"No connection is active/available to service this operation: "
        'GET k; UnableToConnect on cache1:6380/Interactive, state: Connecting",,,exception,api-1\n',
    )

    streams_by: ClassVar[str] = "csv"  # rows may span lines (quoted): a big export is cut between rows

    def sniff(self, head: str) -> float:
        first = head.lstrip("\ufeff").split("\n", 1)[0].strip("\r")
        if not any(first.startswith(t) or first.startswith(f'"{t}"') for t in _TS_COLS):
            return 0.0
        cols = {c.strip().strip('"') for c in first.split(",")}
        hits = sum(1 for m in _MARKERS if m in cols)
        return 0.95 if hits >= 2 else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)  # a lone BOM is a line too
        text = text.lstrip("\ufeff")
        # Lines are counted on "\n" (as ingest does); a lone "\r" must not end a row for the reader either.
        body = text.replace("\r\n", "\n").replace("\r", " ")
        reader = csv.DictReader(io.StringIO(body, newline=""))
        physical = body.split("\n")
        rows: list[dict] = []
        problems: list[str] = []
        samples: list[UnrecognizedSample] = []
        unrec = blank = 0
        start = 2  # line 1 is the header
        try:
            for row in reader:
                end = reader.line_num
                while start < end and not physical[start - 1].strip():  # blank lines the reader skipped
                    blank += 1
                    start += 1
                n = end - start + 1
                ts = _first(row, _TS_COLS)
                msg = _first(row, _MSG_COLS) or exception_text(row)
                if msg is None and ts is None:
                    if all(not (v or "").strip() for v in row.values() if isinstance(v, str)):
                        blank += n
                    else:
                        unrec += n
                        if len(samples) < MAX_SAMPLES:
                            samples.append(UnrecognizedSample(start, ",".join(str(v) for v in row.values())[:300]))
                else:
                    level = _first(row, _LEVEL_COLS)
                    rows.append({
                        "line": start, "ts_text": ts, "level_word": _SEVERITY.get(level or "", level),
                        "logger": _first(row, ("operation_Name", "OperationName")),
                        "host": _first(row, _HOST_COLS), "text": msg or "", "n_lines": n,
                    })
                start = end + 1
        except csv.Error as exc:  # e.g. an oversized field: keep the rows read so far
            problems.append(f"CSV unreadable after line {start - 1} ({exc}); the rest is counted unrecognized")
            unrec += max(lines - start + 1, 0)
        else:
            blank += max(lines - start + 1, 0)  # trailing blank lines the reader skipped
        header_lines = 1 if lines else 0
        if not rows:
            events = conform_events(pl.DataFrame())
            return FileParse(events, lines, header_lines, lines - header_lines - blank, blank, 0, problems,
                             samples, label=self.name)
        schema = {"line": pl.UInt32, "ts_text": pl.String, "level_word": pl.String, "logger": pl.String,
                  "host": pl.String, "text": pl.String, "n_lines": pl.UInt32}
        records = pl.DataFrame(rows, schema=schema)
        records = with_parsed_ts(records, "ts_text", ctx.tz).with_columns(
            level=normalize_level(pl.col("level_word")),
            path=pl.lit(ctx.path),
            thread=pl.lit(None, dtype=pl.String),
            envelope=pl.lit(self.name),
        ).with_row_index("rec")
        records = records.select(*RECORD_COLUMNS, "n_lines")
        hits = recognize(records)
        joined = records.join(hits, on="rec", how="left", suffix="_hit")

        def hit(col: str) -> list[str]:
            return [col] if col in joined.columns else []

        events = joined.with_columns(
            source=pl.coalesce("source", pl.lit(APP_LOG.family)),
            kind=pl.coalesce("kind", pl.lit(APP_LOG.name)),
            host=pl.coalesce(*hit("host_hit"), "host"),
            message=pl.coalesce(*hit("message"), pl.col("text").str.extract(r"^([^\n]*)", 1).str.slice(0, 2000)),
        )
        event_lines = int(events.get_column("n_lines").sum() or 0) + header_lines
        return FileParse(
            events=conform_events(events),
            lines=lines,
            event_lines=event_lines,
            unrecognized_lines=unrec,
            blank_lines=blank,
            records=records.height,
            problems=problems,
            unrecognized_samples=samples,
            label=self.name,
        )
