"""Grafana Loki exports: logcli `--output=jsonl` and default output, the query_range / push API JSON,
and Grafana Explore's "Download logs" (txt and json).

Where each layout comes from:
* logcli jsonl: grafana/loki `pkg/logcli/output/jsonl.go` marshals `{"labels", "line", "timestamp"}`
  (Go sorts map keys); `timestamp` is RFC 3339 with nanoseconds in the chosen `--timezone`.
* logcli default: `pkg/logcli/output/default.go` prints `<RFC 3339 time> <labels padded to the widest> <line>`;
  query metadata (`Common labels: {…}`) goes to stderr unless redirected with it. `--output=raw` is the
  bare lines: that is a plain log and is read by the line framer like any pod file.
* query_range: Loki HTTP API docs, `{"status":"success","data":{"resultType":"streams","result":
  [{"stream":{labels},"values":[["<unix ns>","<line>"],…]}]}}`; the push body `{"streams":[…]}` too.
* Grafana Explore: grafana/grafana `downloadLogsModelAsTxt` (meta lines `Common labels: {json}`, two
  blank lines, then `<time with ms>\\t<line>` per row; some versions `<epoch ms>\\t<ISO>\\t<line>`) and
  `logRowsToReadableJson` (`[{"line","timestamp":"<unix ns>","date","fields":{labels}}]`).
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from parsers.base import FileParse, ParseContext
from parsers.exports.entries import EXPORT_KINDS, Lines, entries_frame, parse_document, parse_entries
from parsers.exports.fields import (
    CONTAINER_KEYS,
    HOST_KEYS,
    LEVEL_KEYS,
    NAMESPACE_KEYS,
    first_of,
    stream_of,
)
from parsers.exports.jsondoc import LineIndex, is_json_document, items, ndjson_entries, text_of
from postmortem.model import Kind

_LABEL = re.compile(r'([A-Za-z_][\w.]*)="((?:[^"\\]|\\.)*)"')


_FIRST_CHARS = 8192  # the first lines are looked for here before the whole head is split


def _first_lines(head: str, n: int = 5) -> list[str]:
    """The first n non-blank lines (`str.splitlines`), from the head's first 8 KiB when they hold them: the
    lines before the last one there are the whole head's (the last may go on after the cut)."""
    text = head.lstrip("\ufeff")
    if len(text) > _FIRST_CHARS:
        lines = [ln for ln in text[:_FIRST_CHARS].splitlines()[:-1] if ln.strip()]
        if len(lines) >= n:
            return lines[:n]
    return [ln for ln in text.splitlines() if ln.strip()][:n]


def label_dict(text: str) -> dict[str, str]:
    """`{app="x", pod="y"}` → {"app": "x", "pod": "y"} (LogQL label set as logcli prints it)."""
    return {k: bytes(v, "utf-8").decode("unicode_escape") if "\\" in v else v for k, v in _LABEL.findall(text)}


def _row(line: int, span: int, pts: str | None, labels: dict, body: str | None) -> dict:
    return {"line": line, "span": span, "pts": pts, "host": first_of(labels, HOST_KEYS), "stream": stream_of(labels),
            "level_word": first_of(labels, LEVEL_KEYS), "body": body}


class LokiJsonl:
    """logcli `query --output=jsonl`: one `{"labels":{…},"line":"…","timestamp":"…"}` per line."""

    name: ClassVar[str] = "loki_jsonl"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"labels":{"pod":"api-7d9f"},"line":"…","timestamp":"2024-01-15T10:02:00.123456789Z"}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"labels":{"app":"worker","namespace":"shop","pod":"worker-5c8f7b-d15yn"},"line":"2024-01-15 10:02:00,164 '
        'ERROR app.cache - cache read failed: Error 111 connecting to redis:6379. Connection refused.",'
        '"timestamp":"2024-01-15T10:02:00.164000000Z"}\n',
    )

    streams_by: ClassVar[str] = "line"  # every line is one entry: a big export is read in pieces

    def sniff(self, head: str) -> float:
        lines = _first_lines(head)
        if not lines:
            return 0.0
        hits = sum(1 for ln in lines if ln.startswith("{") and '"labels":' in ln and '"line":' in ln
                   and '"timestamp":' in ln)
        return 0.9 if hits >= max(1, len(lines) - 1) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        entries, lines = ndjson_entries(
            text, body=("line",), ts=("timestamp",), host=tuple(f"labels.{k}" for k in HOST_KEYS),
            level=tuple(f"labels.{k}" for k in LEVEL_KEYS), container=tuple(f"labels.{k}" for k in CONTAINER_KEYS),
            namespace=tuple(f"labels.{k}" for k in NAMESPACE_KEYS))
        return parse_entries(entries, lines, ctx, self.name)


# time, a LogQL label set (`{}` or `{k="v", …}`: never JSON, whose keys are quoted), padding, the line
_DEFAULT_ROW = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) '
                          r'(\{(?:[A-Za-z_][\w.]*="(?:[^"\\]|\\.)*"(?:, )?)*\})( +)(.*)$')


# Blank as `Lines` counts it (the regex `\s`: Unicode White_Space). Python's str.strip() also strips the
# separators \x1c-\x1f, so a last line of "\x1f" was neither joined to its entry nor counted blank.
_WHITE_SPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
               "\u2028\u2029\u202f\u205f\u3000"


class LokiText:
    """logcli default output: `<RFC 3339 time> {labels} <line>`; lines without that prefix continue
    the entry above (multi-line messages)."""

    name: ClassVar[str] = "loki_logcli"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '2024-01-15T10:02:00.164Z {pod="api-7d9f"} <line>  (logcli query, default output)'
    samples: ClassVar[tuple[str, ...]] = (
        '2024-01-15T10:02:00.164000000Z {namespace="shop", pod="worker-5c8f7b-d15yn"} 2024-01-15 10:02:00,164 ERROR '
        "app.jobs - job 10 failed after 8 attempts\nTraceback (most recent call last):\n"
        '  File "/app/worker.py", line 10, in run\nredis.exceptions.ConnectionError: Error 111 connecting to '
        "redis:6379. Connection refused.\n",
    )

    def sniff(self, head: str) -> float:
        lines = [ln for ln in _first_lines(head, 40) if not ln.startswith(("Common labels:", "http", "Query"))]
        return 0.85 if lines and _DEFAULT_ROW.match(lines[0]) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = Lines.of(text)
        raw = lines.raw.to_list()
        common: dict[str, str] = {}
        parsed = [(i, _DEFAULT_ROW.match(ln)) for i, ln in enumerate(raw)]
        widest = max((len(m.group(2)) for _, m in parsed if m), default=0)
        rows: list[dict] = []
        for i, m in parsed:
            ln = raw[i]
            if ln.startswith("Common labels: ") and not rows:
                common = label_dict(ln)
                lines.covered[i] = True
            elif m:
                labels = {**common, **label_dict(m.group(2))}
                pad = widest - len(m.group(2)) + 1
                body = m.group(4) if len(m.group(3)) != pad else m.group(3)[pad:] + m.group(4)
                rows.append(_row(i + 1, 1, m.group(1), labels, body))
            elif rows and (ln.strip(_WHITE_SPACE) or i + 1 < len(raw)):
                rows[-1]["body"] += "\n" + ln
                rows[-1]["span"] += 1
        for r in rows:  # a trailing blank line belongs to no entry
            while r["body"].endswith("\n"):
                r["body"] = r["body"][:-1]
                r["span"] -= 1
        entries = entries_frame(rows)
        lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        return parse_entries(entries, lines, ctx, self.name)


class LokiApiJson:
    """Loki query_range / query API response (`data.result[].stream` + `values`), or a push body
    (`streams[]`): one entry per `[ns, line]` value, labels from its stream."""

    name: ClassVar[str] = "loki_api_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"data":{"resultType":"streams","result":[{"stream":{…},"values":[["<ns>","<line>"]]}]}}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"status":"success","data":{"resultType":"streams","result":[{"stream":{"namespace":"shop",'
        '"pod":"worker-5c8f7b-d15yn"},"values":[["1705312920164000000","2024-01-15 10:02:00,164 WARNING app.cache - '
        'redis call failed (attempt 1), retrying in 0.25s: Error 111 connecting to redis:6379. Connection refused."]]}],'
        '"stats":{}}}\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head):
            return 0.0
        compact = re.sub(r"\s+", "", head[:4096])
        if '"resultType":"streams"' in compact or ('"streams":[{"stream":' in compact and '"values":' in compact):
            return 0.95
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        streams = items(text, ("data", "result", "*"), 0, problems) + items(text, ("streams", "*"), 0, problems)
        rows = []
        for s_start, _, stream in streams:
            labels = stream.get("stream") if isinstance(stream, dict) else None
            labels = labels if isinstance(labels, dict) else {}
            for v_start, v_end, value in items(text, ("values", "*"), s_start, problems):
                if isinstance(value, list) and len(value) >= 2:
                    line, span = index.span(v_start, v_end)
                    rows.append(_row(line, span, text_of(value[0]), labels, text_of(value[1])))
        return parse_document(text, rows, ctx, self.name, "ns", problems)


class GrafanaLogsTxt:
    """Grafana Explore "Download logs" as txt: meta lines, then `<time>\\t<line>` rows."""

    name: ClassVar[str] = "grafana_logs_txt"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = "Common labels: {…}  then  2024-01-15 10:02:00.164<TAB><line>  (Explore, Download logs .txt)"
    samples: ClassVar[tuple[str, ...]] = (
        'Common labels: {"namespace":"shop","pod":"worker-5c8f7b-d15yn"}\n\n\n'
        "2024-01-15 10:02:00.164\t2024-01-15 10:02:00,164 ERROR app.cache - cache read failed after 8 attempts: "
        "max number of clients reached\n",
    )
    _ROW = re.compile(r"^(?:\d{13}\t)?(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\t(.*)$")

    def sniff(self, head: str) -> float:
        lines = [ln for ln in _first_lines(head, 40) if not re.match(r"^[A-Z][\w ]+: ", ln)]
        if not lines or not self._ROW.match(lines[0]):
            return 0.0
        return 0.8 if sum(1 for ln in lines if self._ROW.match(ln)) >= 0.3 * len(lines) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = Lines.of(text)
        raw = lines.raw.to_list()
        meta: dict = {}
        rows: list[dict] = []
        for i, ln in enumerate(raw):
            m = self._ROW.match(ln)
            if not rows and not m and re.match(r"^[A-Z][\w ]+: ", ln):
                key, _, value = ln.partition(": ")
                try:
                    meta[key] = json.loads(value)
                except ValueError:
                    meta[key] = label_dict(value) or value
                lines.covered[i] = True
            elif m:
                labels = meta.get("Common labels") if isinstance(meta.get("Common labels"), dict) else {}
                rows.append(_row(i + 1, 1, m.group(1), labels, m.group(2)))
            elif rows and (ln.strip(_WHITE_SPACE) or i + 1 < len(raw)):
                rows[-1]["body"] += "\n" + ln
                rows[-1]["span"] += 1
        for r in rows:
            while r["body"].endswith("\n"):
                r["body"] = r["body"][:-1]
                r["span"] -= 1
        entries = entries_frame(rows)
        lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        return parse_entries(entries, lines, ctx, self.name)


class GrafanaLogsJson:
    """Grafana Explore "Download logs" as json: `[{"line","timestamp":"<ns>","date","fields":{labels}}]`."""

    name: ClassVar[str] = "grafana_logs_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '[{"line":"…","timestamp":"<unix ns>","fields":{"pod":"…"}}]  (Explore, Download logs .json)'
    samples: ClassVar[tuple[str, ...]] = (
        '[{"line":"2024-01-15 10:02:00,164 ERROR app.cache - cache read failed after 8 attempts: Error 111 '
        'connecting to redis:6379. Connection refused.","timestamp":"1705312920164000000",'
        '"date":"2024-01-15T10:02:00.164Z","fields":{"pod":"worker-5c8f7b-d15yn","namespace":"shop"}}]',
    )

    def sniff(self, head: str) -> float:
        compact = re.sub(r"\s+", "", head[:4096])
        return 0.9 if compact.startswith('[{"line":') and '"fields":' in compact and '"timestamp":' in compact else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = []
        for start, end, row in items(text, ("*",), 0, problems):
            if isinstance(row, dict) and "line" in row:
                fields = row.get("fields") if isinstance(row.get("fields"), dict) else {}
                line, span = index.span(start, end)
                rows.append(_row(line, span, text_of(row.get("timestamp")) or text_of(row.get("date")), fields,
                                 text_of(row["line"])))
        return parse_document(text, rows, ctx, self.name, "ns", problems)
