"""AWS CloudWatch Logs exports: `aws logs filter-log-events` / `get-log-events` JSON and Logs Insights
results (`aws logs get-query-results` JSON, the console's CSV download).

Where each layout comes from: the CloudWatch Logs API reference (FilteredLogEvent: `logStreamName`,
`timestamp` and `ingestionTime` in epoch ms, `message`, `eventId`; OutputLogEvent without the stream)
and GetQueryResults (`results` = rows of `{"field","value"}`, `@timestamp` as `2024-01-15 10:02:00.164`
UTC, `@message`, `@logStream`, `@log`). On EKS the stream is named after the container's log file
(`…containers.<pod>_<namespace>_<container>-<id>.log`), so the pod is read from it; a Fluent Bit
message that is a JSON record (`{"log": …, "kubernetes": {"pod_name": …}}`) gives its `log` and pod.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.exports import csvlog
from parsers.exports.entries import EXPORT_KINDS, entries_frame, parse_document, parse_entries
from parsers.exports.jsondoc import LineIndex, get, is_json_document, items, text_of
from postmortem.model import Kind

_K8S_FILE = re.compile(r"^([a-z0-9][-a-z0-9.]*)_([a-z0-9][-a-z0-9]*)_([a-z0-9][-a-z0-9]*?)-[0-9a-f]{64}(?:\.log)?$")


def stream_host(stream: str | None) -> tuple[str | None, str | None]:
    """(pod, stream key) from a log stream name; the whole name when it names no pod."""
    if not stream:
        return None, None
    m = _K8S_FILE.match(re.split(r"containers[./]|/", stream)[-1])
    if m:
        return m.group(1), f"{m.group(2)}/{m.group(1)}/{m.group(3)}"
    return stream, stream


def event_row(line: int, span: int, ts: object, message: str | None, stream: str | None) -> dict:
    host, key = stream_host(stream)
    body, level = message, None
    if message and message.startswith("{") and '"log"' in message:  # Fluent Bit record as the message
        try:
            rec = json.loads(message)
        except ValueError:
            rec = None
        if isinstance(rec, dict) and isinstance(rec.get("log"), str):
            body = rec["log"].rstrip("\n")
            host = text_of(get(rec, "kubernetes.pod_name", "kubernetes.pod.name")) or host
            level = text_of(get(rec, "level", "log.level"))
    return {"line": line, "span": span, "pts": text_of(ts), "host": host, "stream": key or host,
            "level_word": level, "body": body}


class CloudWatchEventsJson:
    """`aws logs filter-log-events` / `get-log-events` output: `events[]` with epoch-ms `timestamp`."""

    name: ClassVar[str] = "cloudwatch_events_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"events":[{"logStreamName":…,"timestamp":1705312920164,"message":…}]}'
    samples: ClassVar[tuple[str, ...]] = (
        '{\n    "events": [\n        {\n            "logStreamName": "kube.var.log.containers.worker-5c8f7b-d15yn_shop_'
        'worker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log",\n            "timestamp": '
        '1705312920164,\n            "message": "2024-01-15 10:02:00,164 ERROR app.cache - cache read failed after 8 '
        'attempts: max number of clients reached",\n            "ingestionTime": 1705312921002,\n            '
        '"eventId": "37990453581473498862938123480238423984723984723984720"\n        }\n    ],\n    '
        '"searchedLogStreams": []\n}\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head):
            return 0.0
        compact = "".join(head[:8192].split())  # whitespace removed: `str.split` and `\s` know the same characters
        return 0.95 if '"events":[{' in compact and '"timestamp":' in compact and '"message":' in compact else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = [event_row(*index.span(s, e), ev.get("timestamp"), text_of(ev.get("message")), ev.get("logStreamName"))
                for s, e, ev in items(text, ("events", "*"), 0, problems) if isinstance(ev, dict) and ev.get("message") is not None]
        return parse_document(text, rows, ctx, self.name, "ms", problems)


class CloudWatchInsightsJson:
    """`aws logs get-query-results`: `results` rows of `{"field","value"}` (`@timestamp`, `@message`, `@logStream`)."""

    name: ClassVar[str] = "cloudwatch_insights_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"results":[[{"field":"@timestamp","value":"2024-01-15 10:02:00.164"},{"field":"@message",…}]]}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"results":[[{"field":"@timestamp","value":"2024-01-15 10:02:00.164"},{"field":"@message","value":'
        '"2024-01-15 10:02:00,164 ERROR app.cache - cache read failed: Error 111 connecting to redis:6379. '
        'Connection refused."},{"field":"@logStream","value":"worker-5c8f7b-d15yn"}]],"statistics":'
        '{"recordsMatched":1.0,"recordsScanned":10.0,"bytesScanned":900.0},"status":"Complete"}\n',
    )

    def sniff(self, head: str) -> float:
        compact = "".join(head[:8192].split())  # whitespace removed: `str.split` and `\s` know the same characters
        return 0.95 if compact.startswith('{"results":[[{"field":') or ('"results":[[{"field":"@' in compact) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = []
        for s, e, row in items(text, ("results", "*"), 0, problems):
            cells = {c.get("field"): c.get("value") for c in row if isinstance(c, dict)} if isinstance(row, list) else {}
            if cells.get("@message") is not None:
                rows.append(event_row(*index.span(s, e), cells.get("@timestamp"), text_of(cells["@message"]),
                                      cells.get("@logStream")))
        return parse_document(text, rows, ctx, self.name, "ms", problems)


class CloudWatchInsightsCsv:
    """Logs Insights "Export results → Download table (CSV)": `@timestamp,@message,@logStream,…`."""

    name: ClassVar[str] = "cloudwatch_insights_csv"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = "@timestamp,@message,@logStream  (Logs Insights, Download table CSV)"
    samples: ClassVar[tuple[str, ...]] = (
        "@timestamp,@message,@logStream\n2024-01-15 10:02:00.164,\"2024-01-15 10:02:00,164 ERROR app.cache - cache "
        'read failed after 8 attempts: max number of clients reached",worker-5c8f7b-d15yn\n',
    )

    streams_by: ClassVar[str] = "csv"  # rows may span lines (quoted): a big export is cut between rows

    def sniff(self, head: str) -> float:
        return 0.9 if csvlog.has_columns(head, ("@timestamp",), ("@message",)) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        table = csvlog.read(text)
        rows = [event_row(line, span, csvlog.pick(c, ("@timestamp",)), csvlog.pick(c, ("@message",)),
                          csvlog.pick(c, ("@logStream",))) for line, span, c in table.rows]
        entries = entries_frame([r for r in rows if r["body"] is not None])
        entries = entries.with_columns(pts=pl.col("pts") + pl.lit("Z"))  # Insights shows UTC
        table.lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        return parse_entries(entries, table.lines, ctx, self.name, problems=table.problems)
