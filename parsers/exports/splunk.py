"""Splunk search exports: the streaming export's JSON lines, the results JSON document, and CSV.

Where each layout comes from:
* JSON lines: `GET /services/search/jobs/export?output_mode=json` (and Splunk Web's "Export" as JSON,
  which streams the same) writes one `{"preview":false,"offset":N,["lastrow":true,]"result":{…}}` per
  line; a set's last row carries `"lastrow":true`, a search may end with a bare `{"preview":false,
  "lastrow":true}` (Splunk SDK for Python docs, "How to display search results", export section).
* results JSON: `GET /services/search/jobs/{sid}/results?output_mode=json` answers one document
  `{"preview":false,"init_offset":0,"messages":[…],"results":[{…}]}` (same page, sample output).
* CSV (`output_mode=csv`, Splunk Web "Export" as CSV, `splunk search … -output csv`): a header of field
  names, `"_raw"`, `"_time"` quoted like every value that is not plain letters and digits; `_time` is
  ISO 8601 with the search's UTC offset (`2013-09-11T16:03:33.463-07:00`).

Every event has `_time`, `_raw` (the line as indexed; multi-line events keep their `\\n`), `host`,
`source`, `sourcetype`. On Kubernetes `host` is the node: Splunk Connect for Kubernetes adds indexed
fields `pod`, `namespace`, `container_name` (helm chart splunk-kubernetes-logging, configMap.yaml) and
sets `source` to the container's log file `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`;
the Splunk OpenTelemetry collector adds `k8s.pod.name`, `k8s.namespace.name`, `k8s.container.name`.
The pod wins over the node, so per-pod figures work as on pod files.
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

POD = ("pod", "k8s.pod.name", "kubernetes.pod_name", "pod_name")
NAMESPACE = ("namespace", "k8s.namespace.name", "kubernetes.namespace_name")
CONTAINER = ("container_name", "k8s.container.name", "kubernetes.container_name")
LEVEL = ("level", "log_level", "severity", "loglevel")
# /var/log/containers/<pod>_<ns>_<container>-<64 hex>.log, or /var/log/pods/<ns>_<pod>_<uid>/<container>/N.log
_CONTAINERS = r"/containers/([a-z0-9][-a-z0-9.]*)_([a-z0-9][-a-z0-9]*)_([a-z0-9][-a-z0-9]*?)-[0-9a-f]{64}\.log$"
_PODS = r"/pods/([a-z0-9][-a-z0-9]*)_([a-z0-9][-a-z0-9.]*)_[0-9a-f-]{36}/([a-z0-9][-a-z0-9]*)/\d+\.log$"


def _source_parts(source: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(pod, namespace, container) read from a Kubernetes log file path in `source`."""
    pod = pl.coalesce(source.str.extract(_CONTAINERS, 1), source.str.extract(_PODS, 2))
    ns = pl.coalesce(source.str.extract(_CONTAINERS, 2), source.str.extract(_PODS, 1))
    container = pl.coalesce(source.str.extract(_CONTAINERS, 3), source.str.extract(_PODS, 3))
    return pod, ns, container


def with_kubernetes(entries: pl.DataFrame) -> pl.DataFrame:
    """Entries whose host is the pod: the pod field, else the pod in `source`, else Splunk's `host`.

    Expects the raw columns `_pod`, `_ns`, `_container`, `_host`, `_source` and fills `host` and `stream`."""
    pod, ns, container = _source_parts(pl.col("_source").fill_null(""))
    who = pl.coalesce("_pod", pod, "_host")
    return entries.with_columns(
        host=who,
        stream=pl.concat_str(pl.coalesce("_ns", ns).fill_null(""), who.fill_null(""),
                             pl.coalesce("_container", container).fill_null(""), separator="/"),
    ).drop("_pod", "_ns", "_container", "_host", "_source")


def _row(line: int, span: int, r: dict) -> dict:
    return {"line": line, "span": span, "pts": text_of(r.get("_time")), "level_word": text_of(get(r, *LEVEL)),
            "body": text_of(r.get("_raw")), "_pod": text_of(get(r, *POD)), "_ns": text_of(get(r, *NAMESPACE)),
            "_container": text_of(get(r, *CONTAINER)), "_host": text_of(r.get("host")),
            "_source": text_of(r.get("source"))}


_PREVIEW = re.compile(r'^\{\s*"preview"\s*:\s*(?:true|false)\b')
_RESULT = re.compile(r'"result"\s*:\s*\{')
_RAW_COLUMNS = {"_pod": pl.String, "_ns": pl.String, "_container": pl.String, "_host": pl.String, "_source": pl.String}


def _entries(rows: list[dict]) -> pl.DataFrame:
    """Entries (entries.ENTRY_SCHEMA) from `_row` dicts."""
    kept = [r for r in rows if r["body"] is not None]
    raw = pl.DataFrame([{k: r[k] for k in _RAW_COLUMNS} for r in kept], schema=_RAW_COLUMNS, orient="row") \
        if kept else pl.DataFrame(schema=_RAW_COLUMNS)
    frame = entries_frame([{k: v for k, v in r.items() if not k.startswith("_")} for r in kept])
    return with_kubernetes(pl.concat([frame, raw], how="horizontal")).select(frame.columns)


class SplunkExportJson:
    """`search/jobs/export?output_mode=json` (and Splunk Web's JSON export): one `{"preview","offset",
    "result":{…}}` per line."""

    name: ClassVar[str] = "splunk_export_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"preview":false,"offset":0,"result":{"_time":…,"_raw":…,"host":…,"pod":…}}  (one per line)'
    samples: ClassVar[tuple[str, ...]] = (
        '{"preview":false,"offset":0,"result":{"_time":"2024-01-15T10:02:00.164+00:00","_raw":"2024-01-15 '
        '10:02:00,164 ERROR app.cache - cache read failed after 8 attempts: max number of clients reached",'
        '"host":"ip-10-0-1-12","source":"/var/log/containers/worker-5c8f7b-d15yn_shop_worker-0123456789abcdef'
        '0123456789abcdef0123456789abcdef0123456789abcdef.log","sourcetype":"kube:container:worker",'
        '"pod":"worker-5c8f7b-d15yn","namespace":"shop","container_name":"worker","index":"main"}}\n'
        '{"preview":false,"lastrow":true}\n',
    )
    streams_by: ClassVar[str] = "line"  # every line is one entry: a big export is read in pieces (input/read_file.py)

    def sniff(self, head: str) -> float:
        lines = [ln for ln in head.lstrip("\ufeff").splitlines()[:5] if ln.strip()]
        ok = sum(1 for ln in lines if _PREVIEW.match(ln) and (_RESULT.search(ln) or '"lastrow"' in ln))
        return 0.9 if lines and ok >= max(1, len(lines) - 1) and any(_RESULT.search(ln) for ln in lines) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        entries, lines = ndjson_entries(
            text, body=("_raw",), ts=("_time",), host=POD, level=LEVEL, container=CONTAINER, namespace=NAMESPACE,
            prefix=("result",), ts_unit="s")
        # the node host and the source path, for entries whose pod is named nowhere else
        raw = lines.raw
        extra = pl.DataFrame({"raw": raw}).with_row_index("line", offset=1).join(
            entries.select("line"), on="line", how="semi").select(
            "line",
            _host=pl.col("raw").str.json_path_match("$['result']['host']"),
            _source=pl.col("raw").str.json_path_match("$['result']['source']"))
        entries = entries.join(extra, on="line", how="left")
        pod, ns, container = _source_parts(pl.col("_source").fill_null(""))
        stream_parts = pl.col("stream").str.split("/")
        entries = entries.with_columns(
            host=pl.coalesce("host", pod, "_host"),
            stream=pl.concat_str(
                pl.coalesce(stream_parts.list.get(0, null_on_oob=True).replace("", None), ns).fill_null(""),
                pl.coalesce("host", pod, "_host").fill_null(""),
                pl.coalesce(stream_parts.list.get(2, null_on_oob=True).replace("", None), container).fill_null(""),
                separator="/"),
        ).drop("_host", "_source")
        # search metadata lines (`{"preview":false,"lastrow":true}`, messages) are the export's own
        meta = raw.str.contains(_PREVIEW.pattern) & ~raw.str.contains(_RESULT.pattern)
        lines.covered |= meta.fill_null(False).to_numpy()
        return parse_entries(entries, lines, ctx, self.name)


class SplunkResultsJson:
    """`search/jobs/{sid}/results?output_mode=json`: one document with `results[]` of events."""

    name: ClassVar[str] = "splunk_results_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"preview":false,"init_offset":0,"messages":[],"results":[{"_time":…,"_raw":…,"host":…}]}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"preview":false,"init_offset":0,"messages":[],"results":[{"_raw":"2024-01-15 10:02:00,164 ERROR '
        'app.cache - cache read failed: Error 111 connecting to redis:6379. Connection refused.","_time":'
        '"2024-01-15T10:02:00.164+00:00","host":"ip-10-0-1-12","index":"main","linecount":"1","pod":'
        '"worker-5c8f7b-d15yn","source":"/var/log/containers/worker-5c8f7b-d15yn_shop_worker-0123456789abcdef'
        '0123456789abcdef0123456789abcdef0123456789abcdef.log","sourcetype":"kube:container:worker"}]}\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head):
            return 0.0
        compact = re.sub(r"\s+", "", head[:8192])
        return 0.95 if '"results":[{' in compact and '"_raw":' in compact and '"preview":' in compact else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = [_row(*index.span(s, e), r) for s, e, r in items(text, ("results", "*"), 0, problems)
                if isinstance(r, dict)]
        return parse_document(text, _entries(rows).to_dicts(), ctx, self.name, "s", problems)


class SplunkCsv:
    """Splunk's CSV export (`output_mode=csv`, Splunk Web "Export", `splunk search -output csv`)."""

    name: ClassVar[str] = "splunk_csv"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '"_time",host,source,sourcetype,pod,"_raw"  (Splunk CSV export)'
    samples: ClassVar[tuple[str, ...]] = (
        '"_raw","_time",host,index,linecount,source,sourcetype,pod\n"2024-01-15 10:02:00,164 ERROR app.cache - '
        'cache read failed after 8 attempts: max number of clients reached","2024-01-15T10:02:00.164+00:00",'
        '"ip-10-0-1-12",main,1,"/var/log/containers/worker-5c8f7b-d15yn_shop_worker-0123456789abcdef0123456789abcdef'
        '0123456789abcdef0123456789abcdef.log","kube:container:worker","worker-5c8f7b-d15yn"\n',
    )
    streams_by: ClassVar[str] = "csv"  # rows may span lines (quoted): a big export is cut between rows

    def sniff(self, head: str) -> float:
        return 0.9 if csvlog.has_columns(head, ("_raw",), ("_time",)) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        table = csvlog.read(text)
        rows = [_row(line, span, {k: v for k, v in c.items() if k is not None and v != ""}) for line, span, c in table.rows]
        entries = _entries(rows)
        table.lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        return parse_entries(entries, table.lines, ctx, self.name, problems=table.problems)
