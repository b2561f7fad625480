"""Google Cloud Logging exports: `gcloud logging read --format=json` (a JSON array of LogEntry) and
`--format=yaml` (one YAML document per entry, `---` between them).

Layout from the LogEntry reference (cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry):
`timestamp` (RFC 3339, Z), `severity` (DEFAULT … EMERGENCY), `textPayload` or `jsonPayload` (its
`message`, with `stack_trace` / `exception` appended when logged apart), `resource.type` `k8s_container`
with `resource.labels.pod_name` / `namespace_name` / `container_name`, `labels`, `insertId`, `logName`.
gcloud prints newest first; entries are put back in time order per container.
"""

from __future__ import annotations

import re
from typing import ClassVar

from parsers import yaml_untrusted
from parsers.base import FileParse, ParseContext
from parsers.exports.entries import EXPORT_KINDS, Lines, entries_frame, parse_document, parse_entries
from parsers.exports.jsondoc import LineIndex, get, is_json_document, items, text_of
from postmortem.model import Kind

_POD = ("resource.labels.pod_name", "labels.k8s-pod/name", "resource.labels.instance_id", "labels.compute.googleapis.com/resource_name")


def entry_row(line: int, span: int, e: dict) -> dict | None:
    payload = e.get("jsonPayload") if isinstance(e.get("jsonPayload"), dict) else {}
    body = text_of(e.get("textPayload")) or text_of(get(payload, "message", "msg", "log"))
    extra = text_of(get(payload, "stack_trace", "exception", "exc_info"))
    if body is None:
        return None
    if extra and extra not in body:
        body = f"{body}\n{extra}"
    pod = text_of(get(e, *_POD))
    ns, container = text_of(get(e, "resource.labels.namespace_name")), text_of(get(e, "resource.labels.container_name"))
    return {"line": line, "span": span, "pts": text_of(e.get("timestamp")), "host": pod,
            "stream": "/".join(x or "" for x in (ns, pod, container)), "level_word": text_of(e.get("severity")),
            "body": body.rstrip("\n")}


class GcpLoggingJson:
    """`gcloud logging read --format=json`: a JSON array of LogEntry objects."""

    name: ClassVar[str] = "gcp_logging_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '[{"insertId":…,"resource":{"labels":{"pod_name":…}},"textPayload":…,"timestamp":…}]'
    samples: ClassVar[tuple[str, ...]] = (
        '[\n  {\n    "insertId": "abc123",\n    "logName": "projects/p/logs/stdout",\n    "receiveTimestamp": '
        '"2024-01-15T10:02:01.0Z",\n    "resource": {\n      "labels": {\n        "container_name": "worker",\n'
        '        "namespace_name": "shop",\n        "pod_name": "worker-5c8f7b-d15yn"\n      },\n      "type": '
        '"k8s_container"\n    },\n    "severity": "ERROR",\n    "textPayload": "2024-01-15 10:02:00,164 ERROR '
        'app.cache - cache read failed after 8 attempts: max number of clients reached",\n    "timestamp": '
        '"2024-01-15T10:02:00.164Z"\n  }\n]\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head) or not head.lstrip("\ufeff \t\r\n").startswith("["):
            return 0.0
        compact = re.sub(r"\s+", "", head[:8192])
        return 0.95 if '"logName":' in compact and ('"textPayload":' in compact or '"jsonPayload":' in compact) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = [r for s, e, v in items(text, ("*",), 0, problems) if isinstance(v, dict) and (r := entry_row(*index.span(s, e), v))]
        return parse_document(text, rows, ctx, self.name, "ns", problems)


class GcpLoggingYaml:
    """`gcloud logging read` default / `--format=yaml`: one YAML document per entry, `---` between."""

    name: ClassVar[str] = "gcp_logging_yaml"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = "insertId: …\\nresource: {labels: {pod_name: …}}\\ntextPayload: …\\n---  (gcloud logging read)"
    samples: ClassVar[tuple[str, ...]] = (
        "---\ninsertId: abc123\nlogName: projects/p/logs/stdout\nreceiveTimestamp: '2024-01-15T10:02:01.0Z'\n"
        "resource:\n  labels:\n    container_name: worker\n    namespace_name: shop\n    pod_name: worker-5c8f7b-d15yn\n"
        "  type: k8s_container\nseverity: ERROR\ntextPayload: '2024-01-15 10:02:00,164 ERROR app.cache - cache read "
        "failed after 8 attempts: max number of clients reached'\ntimestamp: '2024-01-15T10:02:00.164Z'\n",
    )
    _KEYS = re.compile(r"^(?:insertId|logName|receiveTimestamp|textPayload|jsonPayload|resource|severity|timestamp):", re.M)

    def sniff(self, head: str) -> float:
        keys = set(m.group(0) for m in self._KEYS.finditer(head[:8192]))
        return 0.9 if len(keys) >= 3 and {"logName:", "timestamp:"} <= keys else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = Lines.of(text)
        raw = lines.raw.to_list()
        bounds = [i for i, ln in enumerate(raw) if ln.rstrip() == "---"] + [len(raw)]
        starts = [0] + [b + 1 for b in bounds[:-1]]
        rows, problems = [], []
        for start, end in zip(starts, bounds, strict=True):
            chunk = "\n".join(raw[start:end])
            if not chunk.strip():
                continue
            try:
                doc = yaml_untrusted.load(chunk)
            except yaml_untrusted.YAMLError as exc:
                problems.append(f"YAML entry at line {start + 1} unreadable ({str(exc).splitlines()[0]})")
                continue
            row = entry_row(start + 1, end - start, doc) if isinstance(doc, dict) else None
            if row:
                rows.append(row)
        entries = entries_frame(rows)
        lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        lines.covered[[b for b in bounds[:-1]]] = True  # the separators
        return parse_entries(entries, lines, ctx, self.name, problems=problems)
