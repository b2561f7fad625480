"""Datadog log exports: the Log Explorer's CSV download and the Logs API JSON (`data[].attributes`).

Layouts: Log Explorer "Download as CSV" writes the visible columns by name, by default `Date,Host,
Service,Message` (plus `Status` and facet columns such as `@pod_name`); the Logs API v2 search
(docs.datadoghq.com/api/latest/logs/) answers `{"data":[{"id","type":"log","attributes":{"timestamp",
"status","host","service","message","tags":["pod_name:…","kube_namespace:…"],"attributes":{…}}}],
"links":{"next"},"meta":{…}}`. Datadog's `host` is the node on Kubernetes, so the pod comes from the
`pod_name` tag or facet when there is one.
"""

from __future__ import annotations

import re
from typing import ClassVar

from parsers.base import FileParse, ParseContext
from parsers.exports import csvlog
from parsers.exports.entries import EXPORT_KINDS, entries_frame, parse_document, parse_entries
from parsers.exports.jsondoc import LineIndex, get, is_json_document, items, text_of
from postmortem.model import Kind


def _tags(tags: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tags if isinstance(tags, list) else []:
        if isinstance(t, str) and ":" in t:
            k, _, v = t.partition(":")
            out.setdefault(k, v)
    return out


def _row(line: int, span: int, ts: object, message: str | None, host: str | None, service: str | None,
         status: str | None, pod: str | None, namespace: str | None) -> dict:
    who = pod or host
    return {"line": line, "span": span, "pts": text_of(ts), "host": who,
            "stream": "/".join(x or "" for x in (namespace, who, service)), "level_word": status, "body": message}


class DatadogCsv:
    """Log Explorer CSV download: `Date,Host,Service,Message` (and `Status`, `@pod_name`, … when shown)."""

    name: ClassVar[str] = "datadog_csv"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = "Date,Host,Service,Message  (Log Explorer, Download as CSV)"
    samples: ClassVar[tuple[str, ...]] = (
        "Date,Host,Service,Message\n2024-01-15T10:02:00.164Z,worker-5c8f7b-d15yn,worker,\"2024-01-15 10:02:00,164 "
        'ERROR app.cache - cache read failed after 8 attempts: max number of clients reached"\n',
    )

    streams_by: ClassVar[str] = "csv"  # rows may span lines (quoted): a big export is cut between rows

    def sniff(self, head: str) -> float:
        return 0.9 if csvlog.has_columns(head, ("Date",), ("Message",), ("Host", "Service")) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        table = csvlog.read(text)
        rows = [_row(line, span, csvlog.pick(c, ("Date",)), csvlog.pick(c, ("Message",)), csvlog.pick(c, ("Host",)),
                     csvlog.pick(c, ("Service",)), csvlog.pick(c, ("Status",)),
                     csvlog.pick(c, ("@pod_name", "pod_name", "@kubernetes.pod.name")),
                     csvlog.pick(c, ("@kube_namespace", "kube_namespace")))
                for line, span, c in table.rows]
        entries = entries_frame([r for r in rows if r["body"] is not None])
        table.lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        return parse_entries(entries, table.lines, ctx, self.name, problems=table.problems)


class DatadogApiJson:
    """Logs API v2 search response: `data[].attributes` (`timestamp`, `status`, `host`, `message`, `tags`)."""

    name: ClassVar[str] = "datadog_api_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"data":[{"type":"log","attributes":{"timestamp":…,"host":…,"message":…,"tags":[…]}}]}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"data":[{"id":"AQAAAY0","type":"log","attributes":{"service":"worker","status":"error","host":"node-1",'
        '"timestamp":"2024-01-15T10:02:00.164Z","tags":["pod_name:worker-5c8f7b-d15yn","kube_namespace:shop"],'
        '"message":"2024-01-15 10:02:00,164 ERROR app.cache - cache read failed after 8 attempts: max number of '
        'clients reached","attributes":{}}}],"links":{},"meta":{"status":"done"}}\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head):
            return 0.0
        compact = re.sub(r"\s+", "", head[:8192])
        return 0.95 if '"data":[{' in compact and '"type":"log"' in compact and '"attributes":{' in compact else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = []
        for s, e, item in items(text, ("data", "*"), 0, problems):
            a = item.get("attributes") if isinstance(item, dict) else None
            if not isinstance(a, dict) or a.get("message") is None:
                continue
            tags = _tags(a.get("tags"))
            inner = a.get("attributes") if isinstance(a.get("attributes"), dict) else {}
            pod = tags.get("pod_name") or text_of(get(inner, "pod_name", "kubernetes.pod.name"))
            rows.append(_row(*index.span(s, e), a.get("timestamp"), text_of(a["message"]), text_of(a.get("host")),
                             text_of(a.get("service")), text_of(a.get("status")), pod, tags.get("kube_namespace")))
        return parse_document(text, rows, ctx, self.name, "ms", problems)
