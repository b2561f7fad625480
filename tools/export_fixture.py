"""Turn a folder of pod log files into a log platform's export, for the export fixtures and tests.

Each `*.log` file is one pod (its name stem is the pod name). Its records (framed by
parsers/envelopes.py, so a traceback stays with its header line) become the platform's entries, one
entry per record with the message's lines intact, dated by the record's own time, as a collector with a
multi-line rule (Fluent Bit, promtail `multiline`, the CloudWatch agent) ships them. Entries of all pods
are merged in time order, as the platforms return them.

    python tools/export_fixture.py tests/data/recorded/storm /tmp/exports   # every layout (tests generate them the same way)
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from parsers.envelopes import frame  # noqa: E402

NAMESPACE = "shop"


@dataclass(frozen=True)
class Entry:
    ts: datetime
    pod: str
    container: str
    level: str
    body: str


def entries_of(folder: Path) -> list[Entry]:
    """One entry per framed record of every pod log in `folder`, in time order (stable by pod, line)."""
    out: list[tuple[datetime, str, int, Entry]] = []
    for path in sorted(folder.glob("*.log")):
        text = path.read_text(encoding="utf-8")
        raw = text.split("\n")
        if raw and raw[-1] == "":
            raw.pop()
        records, _, _, _ = frame(text)
        starts = records.get_column("line").to_list()
        times = records.get_column("ts").to_list()
        levels = records.get_column("level").cast(str).to_list()
        pod = path.stem
        container = "redis" if pod.startswith("redis") else pod.rsplit("-", 2)[0]
        last = None
        for k, start in enumerate(starts):
            end = starts[k + 1] - 1 if k + 1 < len(starts) else len(raw)
            body = "\n".join(raw[start - 1 : end]).rstrip("\n")
            ts = times[k] or last
            last = ts
            if ts is None or not body.strip():
                continue
            out.append((ts, pod, start, Entry(ts, pod, container, levels[k] or "info", body)))
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return [e for *_, e in out]


def _ns(ts: datetime) -> str:
    return str(int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000)


def _ms(ts: datetime) -> int:
    return int(ts.timestamp()) * 1000 + ts.microsecond // 1000


def _iso(ts: datetime, digits: int = 9) -> str:
    frac = f"{ts.microsecond:06d}{'0' * 3}"[:digits]
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if digits else "") + "Z"


def _labels(e: Entry) -> dict[str, str]:
    return {"container": e.container, "namespace": NAMESPACE, "pod": e.pod}


def loki_jsonl(entries: list[Entry]) -> str:
    return "".join(json.dumps({"labels": _labels(e), "line": e.body, "timestamp": _iso(e.ts)},
                              ensure_ascii=False) + "\n" for e in reversed(entries))  # logcli: newest first


def loki_logcli(entries: list[Entry]) -> str:
    def lbl(e: Entry) -> str:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in _labels(e).items()) + "}"

    width = max(len(lbl(e)) for e in entries)
    return "".join(f"{_iso(e.ts)} {lbl(e).ljust(width)} {e.body}\n" for e in reversed(entries))


def loki_api_json(entries: list[Entry]) -> str:
    streams: dict[str, dict] = {}
    for e in reversed(entries):  # direction=backward: each stream newest first
        streams.setdefault(e.pod, {"stream": _labels(e), "values": []})["values"].append([_ns(e.ts), e.body])
    doc = {"status": "success", "data": {"resultType": "streams", "result": list(streams.values()),
                                         "stats": {"summary": {"totalEntriesReturned": len(entries)}}}}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def grafana_logs_txt(entries: list[Entry]) -> dict[str, str]:
    """One download per pod: Grafana's txt rows carry no labels, so a per-pod figure needs the pod's
    own query, whose `Common labels` name it."""
    out = {}
    for pod in sorted({e.pod for e in entries}):
        mine = [e for e in reversed(entries) if e.pod == pod]
        labels = json.dumps(_labels(mine[0]), separators=(",", ":"))
        head = f'Common labels: {labels}\nLine limit: "5000 ({len(mine)} returned)"\n\n\n'
        out[f"{pod}.txt"] = head + "".join(
            f"{e.ts.strftime('%Y-%m-%d %H:%M:%S')}.{e.ts.microsecond // 1000:03d}\t{e.body}\n" for e in mine)
    return out


def grafana_logs_json(entries: list[Entry]) -> str:
    rows = [{"line": e.body, "timestamp": _ns(e.ts), "date": _iso(e.ts, 3), "fields": _labels(e)}
            for e in reversed(entries)]
    return json.dumps(rows, ensure_ascii=False)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _es_source(e: Entry, dotted: bool) -> dict:
    if dotted:  # fluent-bit / flattened mappings: dotted keys, the line in `log`
        return {"@timestamp": _iso(e.ts, 3), "kubernetes.namespace_name": NAMESPACE, "kubernetes.pod_name": e.pod,
                "kubernetes.container_name": e.container, "stream": "stdout", "log": e.body}
    return {"@timestamp": _iso(e.ts, 3), "kubernetes": {"namespace": NAMESPACE, "pod": {"name": e.pod},
            "container": {"name": e.container}}, "log": {"level": e.level}, "message": e.body}


def elasticsearch_json(entries: list[Entry]) -> str:
    hits = [{"_index": "logs-2026.11.23", "_id": f"e{k}", "_score": None, "_source": _es_source(e, False),
             "sort": [_ms(e.ts)]} for k, e in enumerate(entries)]
    doc = {"took": 31, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
           "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": None, "hits": hits}}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"  # curl '...?pretty'


def elasticdump_ndjson(entries: list[Entry]) -> str:
    return "".join(json.dumps({"_index": "logs-2026.11.23", "_type": "_doc", "_id": f"e{k}", "_score": 1,
                               "_source": _es_source(e, True)}, ensure_ascii=False) + "\n"
                   for k, e in enumerate(entries))


def kibana_csv(entries: list[Entry]) -> str:
    def when(ts: datetime) -> str:
        return ts.strftime("%b %-d, %Y @ %H:%M:%S.") + f"{ts.microsecond // 1000:03d}"

    return _csv(["@timestamp", "kubernetes.namespace", "kubernetes.pod.name", "log.level", "message"],
                [[when(e.ts), NAMESPACE, e.pod, e.level, e.body] for e in reversed(entries)])


def _stream_name(e: Entry) -> str:  # Fluent Bit on EKS: the container's log file as the stream
    return f"kube.var.log.containers.{e.pod}_{NAMESPACE}_{e.container}-{'0123456789abcdef' * 4}.log"


def cloudwatch_events_json(entries: list[Entry]) -> str:
    events = [{"logStreamName": _stream_name(e), "timestamp": _ms(e.ts), "message": e.body,
               "ingestionTime": _ms(e.ts) + 800, "eventId": f"{_ms(e.ts)}{k:020d}"} for k, e in enumerate(entries)]
    return json.dumps({"events": events, "searchedLogStreams": []}, indent=4, ensure_ascii=False) + "\n"


def _insights_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts.microsecond // 1000:03d}"


def cloudwatch_insights_json(entries: list[Entry]) -> str:
    rows = [[{"field": "@timestamp", "value": _insights_time(e.ts)}, {"field": "@message", "value": e.body},
             {"field": "@logStream", "value": _stream_name(e)}, {"field": "@ptr", "value": f"ptr{k}"}]
            for k, e in enumerate(reversed(entries))]
    doc = {"results": rows, "statistics": {"recordsMatched": float(len(rows)), "recordsScanned": float(len(rows)),
                                           "bytesScanned": 1.0}, "status": "Complete"}
    return json.dumps(doc, indent=4, ensure_ascii=False) + "\n"


def cloudwatch_insights_csv(entries: list[Entry]) -> str:
    return _csv(["@timestamp", "@message", "@logStream"],
                [[_insights_time(e.ts), e.body, _stream_name(e)] for e in reversed(entries)])


def _gcp_entry(k: int, e: Entry) -> dict:
    return {"insertId": f"id{k:06d}", "labels": {"k8s-pod/app": e.container}, "logName": "projects/shop/logs/stdout",
            "receiveTimestamp": _iso(e.ts), "resource": {"labels": {
                "cluster_name": "prod", "container_name": e.container, "location": "europe-west1",
                "namespace_name": NAMESPACE, "pod_name": e.pod, "project_id": "shop"}, "type": "k8s_container"},
            "severity": {"warning": "WARNING", "error": "ERROR", "critical": "CRITICAL"}.get(e.level, "INFO"),
            "textPayload": e.body, "timestamp": _iso(e.ts)}


def gcp_logging_json(entries: list[Entry]) -> str:  # gcloud: newest first
    return json.dumps([_gcp_entry(k, e) for k, e in enumerate(reversed(entries))], indent=2, ensure_ascii=False) + "\n"


def gcp_logging_yaml(entries: list[Entry]) -> str:
    import yaml

    return yaml.safe_dump_all([_gcp_entry(k, e) for k, e in enumerate(reversed(entries))], explicit_start=True,
                              allow_unicode=True, sort_keys=True, width=1 << 20)


def datadog_csv(entries: list[Entry]) -> str:
    return _csv(["Date", "Host", "Service", "Status", "@pod_name", "Message"],
                [[_iso(e.ts, 3), "ip-10-0-1-12.ec2.internal", e.container, e.level, e.pod, e.body]
                 for e in reversed(entries)])


def datadog_api_json(entries: list[Entry]) -> str:
    data = [{"id": f"AQAAAY{k:08d}", "type": "log", "attributes": {
        "service": e.container, "status": e.level, "host": "ip-10-0-1-12.ec2.internal", "timestamp": _iso(e.ts, 3),
        "tags": [f"pod_name:{e.pod}", f"kube_namespace:{NAMESPACE}", f"kube_container_name:{e.container}"],
        "message": e.body, "attributes": {}}} for k, e in enumerate(reversed(entries))]
    return json.dumps({"data": data, "links": {}, "meta": {"status": "done", "page": {}}}, ensure_ascii=False) + "\n"


def _splunk_result(e: Entry) -> dict:
    """An event as Splunk Connect for Kubernetes indexes it: node as `host`, pod fields, the log file as `source`."""
    when = e.ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{e.ts.microsecond // 1000:03d}+00:00"
    return {"_raw": e.body, "_time": when, "container_name": e.container, "host": "ip-10-0-1-12.ec2.internal",
            "index": "main", "linecount": str(e.body.count("\n") + 1), "namespace": NAMESPACE, "pod": e.pod,
            "source": f"/var/log/containers/{e.pod}_{NAMESPACE}_{e.container}-{'0123456789abcdef' * 4}.log",
            "sourcetype": f"kube:container:{e.container}", "splunk_server": "idx-1"}


def splunk_export_json(entries: list[Entry]) -> str:
    """search/jobs/export output_mode=json: newest first (Splunk's event order), the set's last row marked."""
    rows = []
    for k, e in enumerate(reversed(entries)):
        row = {"preview": False, "offset": k, **({"lastrow": True} if k == len(entries) - 1 else {}),
               "result": _splunk_result(e)}
        rows.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(rows)


def splunk_results_json(entries: list[Entry]) -> str:
    doc = {"preview": False, "init_offset": 0, "messages": [],
           "results": [_splunk_result(e) for e in reversed(entries)]}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def _splunk_cell(value: str) -> str:
    """Splunk's CSV writer quotes every value that is not plain letters and digits."""
    return value if value.isalnum() and value.isascii() else '"' + value.replace('"', '""') + '"'


def splunk_csv(entries: list[Entry]) -> str:
    header = ["_raw", "_time", "container_name", "host", "index", "linecount", "namespace", "pod", "source",
              "sourcetype", "splunk_server"]
    lines = [",".join(_splunk_cell(h) for h in header)]
    for e in reversed(entries):
        r = _splunk_result(e)
        lines.append(",".join(_splunk_cell(r[h]) for h in header))
    return "\n".join(lines) + "\n"


_AKS_NODE = "aks-nodepool1-12345678-vmss000000"


def _azure_row(e: Entry) -> dict[str, str]:
    """A ContainerLogV2 row as `az monitor log-analytics query` prints it (values as text)."""
    return {"Computer": _AKS_NODE, "ContainerName": e.container, "LogLevel": e.level, "LogMessage": e.body,
            "LogSource": "stderr" if e.level in ("warning", "error", "critical") else "stdout",
            "PodName": e.pod, "PodNamespace": NAMESPACE, "TimeGenerated": _iso(e.ts, 3)}


def azure_cli_query_json(entries: list[Entry]) -> str:
    """`az monitor log-analytics query` of `ContainerLogV2 | order by TimeGenerated desc`."""
    rows = [{**_azure_row(e), "TableName": "PrimaryResult"} for e in reversed(entries)]
    return json.dumps(rows, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def azure_loganalytics_api_json(entries: list[Entry]) -> str:
    names = ["TimeGenerated", "Computer", "PodName", "PodNamespace", "ContainerName", "LogLevel", "LogMessage",
             "LogSource"]
    types = {"TimeGenerated": "datetime", "LogMessage": "dynamic"}
    rows = [[_azure_row(e)[n] for n in names] for e in reversed(entries)]
    doc = {"tables": [{"name": "PrimaryResult", "columns": [{"name": n, "type": types.get(n, "string")} for n in names],
                       "rows": rows}]}
    return json.dumps(doc, ensure_ascii=False) + "\n"


def _portal_time(ts: datetime) -> str:
    hour = ts.hour % 12 or 12
    return (f"{ts.month}/{ts.day}/{ts.year}, {hour}:{ts.strftime('%M:%S')}.{ts.microsecond // 1000:03d} "
            f"{'AM' if ts.hour < 12 else 'PM'}")


def azure_containerlog_csv(entries: list[Entry]) -> str:
    """The portal's "Export to CSV (all columns)" of a ContainerLogV2 query."""
    names = ["Computer", "ContainerName", "LogLevel", "LogMessage", "LogSource", "PodName", "PodNamespace"]
    return _csv(["TimeGenerated [UTC]", *names],
                [[_portal_time(e.ts), *(_azure_row(e)[n] for n in names)] for e in reversed(entries)])


def apptraces_csv(entries: list[Entry]) -> str:
    """The portal's CSV of an AppTraces query (workspace-based Application Insights): the pod as AppRoleInstance.
    Only the application's traces are in Application Insights: the redis-server's log is not (see SERVER_APART)."""
    severity = {"debug": "0", "info": "1", "warning": "2", "error": "3", "critical": "4"}
    return _csv(["TimeGenerated [UTC]", "Message", "SeverityLevel", "AppRoleName", "AppRoleInstance"],
                [[_portal_time(e.ts), e.body, severity.get(e.level, "1"), e.container, e.pod]
                 for e in reversed(entries) if e.container != "redis"])


LAYOUTS: dict[str, tuple[str, Callable[[list[Entry]], str | dict[str, str]]]] = {
    "loki_jsonl": ("storm.jsonl", loki_jsonl),
    "loki_logcli": ("storm-logcli.txt", loki_logcli),
    "loki_api_json": ("storm-query_range.json", loki_api_json),
    "grafana_logs_txt": ("storm-explore-txt", grafana_logs_txt),
    "grafana_logs_json": ("storm-explore.json", grafana_logs_json),
    "elasticsearch_json": ("storm-search.json", elasticsearch_json),
    "elasticdump_ndjson": ("storm-elasticdump.ndjson", elasticdump_ndjson),
    "kibana_csv": ("storm-discover.csv", kibana_csv),
    "cloudwatch_events_json": ("storm-filter-log-events.json", cloudwatch_events_json),
    "cloudwatch_insights_json": ("storm-insights.json", cloudwatch_insights_json),
    "cloudwatch_insights_csv": ("storm-insights.csv", cloudwatch_insights_csv),
    "gcp_logging_json": ("storm-gcloud.json", gcp_logging_json),
    "gcp_logging_yaml": ("storm-gcloud.yaml", gcp_logging_yaml),
    "datadog_csv": ("storm-datadog.csv", datadog_csv),
    "datadog_api_json": ("storm-datadog-api.json", datadog_api_json),
    "splunk_export_json": ("storm-splunk-export.json", splunk_export_json),
    "splunk_results_json": ("storm-splunk-results.json", splunk_results_json),
    "splunk_csv": ("storm-splunk.csv", splunk_csv),
    "azure_cli_query_json": ("storm-az-query.json", azure_cli_query_json),
    "azure_loganalytics_api_json": ("storm-loganalytics-api.json", azure_loganalytics_api_json),
    "azure_containerlog_csv": ("storm-containerlogv2.csv", azure_containerlog_csv),
    "appinsights_csv": ("storm-apptraces.csv", apptraces_csv),
}


# Layouts that hold the application's logs only: the redis-server's own log is read beside them.
SERVER_APART = frozenset({"appinsights_csv"})


def convert(folder: Path, layout: str) -> dict[str, str]:
    """File name → text of the export (one file, or a folder of files for per-pod downloads)."""
    name, write = LAYOUTS[layout]
    out = write(entries_of(folder))
    return {f"{name}/{k}": v for k, v in out.items()} if isinstance(out, dict) else {name: out}


def write_fixtures(folder: Path, out: Path, layouts: list[str]) -> None:
    for layout in layouts:
        for name, text in convert(folder, layout).items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text, encoding="utf-8", newline="")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any(a not in LAYOUTS for a in argv[2:]):
        print(f"usage: export_fixture.py FOLDER OUT [{'|'.join(LAYOUTS)} ...]  (no layout: all)", file=sys.stderr)
        return 2
    write_fixtures(Path(argv[0]), Path(argv[1]), argv[2:] or list(LAYOUTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
