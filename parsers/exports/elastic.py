"""Elasticsearch / OpenSearch exports: `_search` and scroll responses, elasticdump NDJSON, and Kibana
Discover's CSV report.

Where each layout comes from:
* `_search` / scroll: the Elasticsearch search API reference (`{"took", "timed_out", "_shards",
  "hits": {"total", "max_score", "hits": [{"_index", "_id", "_score", "_source": {…}}]}}`, scroll adds
  `_scroll_id`); OpenSearch answers the same.
* elasticdump: its README, `--type=data` writes one `{"_index","_id","_score","_source"}` per line.
* Kibana: Discover "Generate CSV" (reporting) writes the chosen columns by field name
  (`"@timestamp","kubernetes.pod.name",message`) and dates in the advanced setting's `dateFormat`
  (`MMM D, YYYY @ HH:mm:ss.SSS`, e.g. `"Jan 15, 2024 @ 10:02:00.000"`) in the browser's zone (read with `--tz`).

Field names in `_source` may be nested (`{"kubernetes":{"pod":{"name":…}}}`) or dotted keys
(`{"kubernetes.pod.name":…}`): both are read (jsondoc.get / ndjson_field). Filebeat keeps the
application's line in `message`, fluentd/fluent-bit in `log`.
"""

from __future__ import annotations

import re
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.exports import csvlog
from parsers.exports.entries import EXPORT_KINDS, entries_frame, parse_document, parse_entries
from parsers.exports.jsondoc import LineIndex, get, is_json_document, items, ndjson_entries, text_of
from postmortem.model import Kind

MSG = ("message", "log", "msg", "event.original", "@message")
TS = ("@timestamp", "timestamp", "time", "@t")
HOST = ("kubernetes.pod.name", "kubernetes.pod_name", "k8s.pod.name", "pod", "host.name", "host.hostname",
        "agent.hostname", "hostname", "host")
CONTAINER = ("kubernetes.container.name", "kubernetes.container_name", "k8s.container.name", "container.name")
NAMESPACE = ("kubernetes.namespace", "kubernetes.namespace_name", "k8s.namespace.name")
LEVEL = ("log.level", "level", "severity", "levelname")


def source_row(line: int, span: int, src: dict) -> dict:
    """One entry from a document's `_source` (or a Kibana row keyed by field name)."""
    host = text_of(get(src, *HOST))
    parts = (text_of(get(src, *NAMESPACE)), host, text_of(get(src, *CONTAINER)))
    return {"line": line, "span": span, "pts": text_of(get(src, *TS)), "host": host,
            "stream": "/".join(p or "" for p in parts), "level_word": text_of(get(src, *LEVEL)),
            "body": text_of(get(src, *MSG))}


class ElasticSearchJson:
    """An Elasticsearch/OpenSearch `_search` or scroll response: one entry per `hits.hits[]._source`."""

    name: ClassVar[str] = "elasticsearch_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"took":5,"hits":{"hits":[{"_index":"logs","_source":{"@timestamp":…,"message":…}}]}}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"took":12,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":'
        '{"value":1,"relation":"eq"},"max_score":null,"hits":[{"_index":"logs-2024.01.15","_id":"a1","_score":null,'
        '"_source":{"@timestamp":"2024-01-15T10:02:00.164Z","kubernetes":{"pod":{"name":"worker-5c8f7b-d15yn"},'
        '"namespace":"shop"},"message":"2024-01-15 10:02:00,164 ERROR app.cache - cache read failed after 8 '
        'attempts: Error 111 connecting to redis:6379. Connection refused."}}]}}\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head):
            return 0.0
        compact = re.sub(r"\s+", "", head[:8192])
        return 0.95 if '"hits":{' in compact and '"_source":' in compact else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = []
        for start, end, hit in items(text, ("hits", "hits", "*"), 0, problems):
            src = hit.get("_source") if isinstance(hit, dict) else None
            if isinstance(src, dict):
                row = source_row(*index.span(start, end), src)
                if row["body"] is not None:
                    rows.append(row)
        return parse_document(text, rows, ctx, self.name, "ms", problems)


class ElasticdumpNdjson:
    """elasticdump `--type=data` output: one search hit (`_index`, `_id`, `_source`) per line."""

    name: ClassVar[str] = "elasticdump_ndjson"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"_index":"logs","_id":"a1","_score":1,"_source":{"@timestamp":…,"message":…}}  (one per line)'
    samples: ClassVar[tuple[str, ...]] = (
        '{"_index":"logs-2024.01.15","_type":"_doc","_id":"a1","_score":1,"_source":{"@timestamp":'
        '"2024-01-15T10:02:00.164Z","kubernetes.pod.name":"worker-5c8f7b-d15yn","log":"2024-01-15 10:02:00,164 '
        'WARNING app.cache - redis call failed (attempt 1), retrying in 0.25s: Error 111 connecting to redis:6379. '
        'Connection refused."}}\n',
    )

    streams_by: ClassVar[str] = "line"  # every line is one entry: a big export is read in pieces

    def sniff(self, head: str) -> float:
        lines = [ln for ln in head.splitlines()[:5] if ln.strip()]
        ok = sum(1 for ln in lines if ln.startswith('{"_index":') and '"_source":' in ln)
        return 0.9 if lines and ok >= max(1, len(lines) - 1) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        entries, lines = ndjson_entries(text, body=MSG, ts=TS, host=HOST, level=LEVEL, container=CONTAINER,
                                        namespace=NAMESPACE, prefix=("_source",), ts_unit="ms")
        return parse_entries(entries, lines, ctx, self.name)


_KIBANA_DATE = "%b %d, %Y @ %H:%M:%S%.f"


class KibanaCsv:
    """Kibana Discover CSV report: columns named by field (`@timestamp`, `kubernetes.pod.name`, `message`)."""

    name: ClassVar[str] = "kibana_csv"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '"@timestamp","kubernetes.pod.name",message  with "Jan 15, 2024 @ 10:02:00.000"'
    samples: ClassVar[tuple[str, ...]] = (
        '"@timestamp","kubernetes.pod.name","kubernetes.namespace",message\n'
        '"Jan 15, 2024 @ 10:02:00.164","worker-5c8f7b-d15yn",shop,"2024-01-15 10:02:00,164 ERROR app.cache - '
        'cache read failed after 8 attempts: max number of clients reached"\n',
    )

    streams_by: ClassVar[str] = "csv"  # rows may span lines (quoted): a big export is cut between rows

    def sniff(self, head: str) -> float:
        return 0.9 if csvlog.has_columns(head, ("@timestamp",), ("message", "log", "msg")) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        table = csvlog.read(text)
        rows = []
        for line, span, cells in table.rows:
            row = source_row(line, span, {k: v for k, v in cells.items() if k is not None and v not in ("", "-")})
            if row["body"] is not None:
                rows.append(row)
        entries = entries_frame(rows)
        kibana = pl.col("pts").str.strptime(pl.Datetime("us"), _KIBANA_DATE, strict=False)
        entries = entries.with_columns(  # zone-less: the browser's zone, read with --tz like any local time
            pts=pl.coalesce(kibana.dt.strftime("%Y-%m-%d %H:%M:%S%.f"), pl.col("pts")))
        table.lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        return parse_entries(entries, table.lines, ctx, self.name, problems=table.problems)
