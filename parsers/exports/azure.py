"""Azure Monitor Log Analytics exports: `az monitor log-analytics query` JSON, the query API's JSON
response, and the portal's CSV export of container log tables (ContainerLogV2, ContainerLog).

Where each layout comes from:
* `az monitor log-analytics query -w … --analytics-query …`: a JSON array of row objects, the query's
  column names as keys (sorted), every value as text, plus `"TableName": "PrimaryResult"`.
* Query API (learn.microsoft.com, azure-monitor/logs/api/response-format): `{"tables":[{"name":
  "PrimaryResult","columns":[{"name","type"}],"rows":[[…]]}]}`.
* Portal "Export to CSV": the query's columns, times as `TimeGenerated [UTC]` with `1/15/2024,
  10:02:00.164 AM` values (the column says UTC, so they are read as UTC whatever --tz says).

Column names from the table references (learn.microsoft.com, azure-monitor/reference/tables/…):
ContainerLogV2 `TimeGenerated`, `Computer` (node), `PodName`, `PodNamespace`, `ContainerName`,
`LogMessage` (dynamic: text, or the JSON object a JSON line was parsed into), `LogSource`, `LogLevel`;
ContainerLog `LogEntry`, `LogEntrySource`, `Computer`, `Name` (`<pod uid>/<container>`: no pod name, so
the node is the host); AppTraces `Message`, `SeverityLevel` (0–4), `AppRoleInstance`; AppExceptions
`OuterType`, `OuterMessage`, `InnermostMessage`, `Details`. The portal's CSV of AppTraces / AppExceptions
is `appinsights_csv`'s (same columns as the classic Application Insights export).
"""

from __future__ import annotations

import re
from typing import ClassVar

import polars as pl

from parsers.appinsights_csv import exception_text
from parsers.base import FileParse, ParseContext
from parsers.exports import csvlog
from parsers.exports.entries import EXPORT_KINDS, entries_frame, parse_document, parse_entries
from parsers.exports.jsondoc import LineIndex, is_json_document, items, text_of
from postmortem.model import Kind

TIME = ("TimeGenerated", "timestamp")
BODY = ("LogMessage", "LogEntry", "Message", "message")
HOST = ("PodName", "AppRoleInstance", "Computer", "cloud_RoleInstance")
LEVEL = ("LogLevel", "SeverityLevel", "severityLevel")
_SEVERITY = {"0": "Verbose", "1": "Information", "2": "Warning", "3": "Error", "4": "Critical"}
_PORTAL_TIME = "%m/%d/%Y, %I:%M:%S%.f %p"


def _pick(row: dict, names: tuple[str, ...]) -> str | None:
    for n in names:
        v = text_of(row.get(n))
        if v not in (None, ""):
            return v
    return None


def row_entry(line: int, span: int, row: dict) -> dict:
    """One entry from a Log Analytics row, keyed by column name (any of the tables above)."""
    body = _pick(row, BODY) or exception_text({k: text_of(v) or "" for k, v in row.items()})
    host = _pick(row, HOST)
    container = _pick(row, ("ContainerName",)) or (_pick(row, ("Name",)) or "").rpartition("/")[2] or None
    level = _pick(row, LEVEL)
    return {"line": line, "span": span, "pts": _pick(row, TIME), "host": host,
            "stream": "/".join(x or "" for x in (_pick(row, ("PodNamespace",)), host, container)),
            "level_word": _SEVERITY.get(level or "", level), "body": body.rstrip("\n") if body else None}


class AzureCliQueryJson:
    """`az monitor log-analytics query` output: a JSON array of row objects with `TableName`."""

    name: ClassVar[str] = "azure_cli_query_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '[{"LogMessage":…,"PodName":…,"TableName":"PrimaryResult","TimeGenerated":…}]  (az monitor log-analytics query)'
    samples: ClassVar[tuple[str, ...]] = (
        '[\n  {\n    "Computer": "aks-nodepool1-12345678-vmss000000",\n    "ContainerName": "worker",\n'
        '    "LogLevel": "error",\n    "LogMessage": "2024-01-15 10:02:00,164 ERROR app.cache - cache read failed: '
        'Error 111 connecting to redis:6379. Connection refused.",\n    "LogSource": "stderr",\n    "PodName": '
        '"worker-5c8f7b-d15yn",\n    "PodNamespace": "shop",\n    "TableName": "PrimaryResult",\n    '
        '"TimeGenerated": "2024-01-15T10:02:00.164Z"\n  }\n]\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head) or not head.lstrip("\ufeff \t\r\n").startswith("["):
            return 0.0
        compact = re.sub(r"\s+", "", head[:8192])
        return 0.95 if '"TableName":' in compact and any(f'"{c}":' in compact for c in TIME) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = [r for s, e, v in items(text, ("*",), 0, problems) if isinstance(v, dict)
                and (r := row_entry(*index.span(s, e), v))["body"] is not None]
        return parse_document(text, rows, ctx, self.name, "ms", problems)


class AzureLogAnalyticsApiJson:
    """Log Analytics query API response: `tables[]` with `columns[]` and `rows[]`."""

    name: ClassVar[str] = "azure_loganalytics_api_json"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = '{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated",…}],"rows":[[…]]}]}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"PodName",'
        '"type":"string"},{"name":"PodNamespace","type":"string"},{"name":"ContainerName","type":"string"},'
        '{"name":"LogMessage","type":"dynamic"}],"rows":[["2024-01-15T10:02:00.164Z","worker-5c8f7b-d15yn","shop",'
        '"worker","2024-01-15 10:02:00,164 ERROR app.cache - cache read failed after 8 attempts: max number of '
        'clients reached"]]}]}\n',
    )

    def sniff(self, head: str) -> float:
        if not is_json_document(head):
            return 0.0
        compact = re.sub(r"\s+", "", head[:8192])
        return 0.95 if compact.lstrip("\ufeff").startswith('{"tables":[{') and '"columns":[{"name":' in compact else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        problems: list[str] = []
        index = LineIndex(text)
        rows = []
        for start, _, table in items(text, ("tables", "*"), 0, problems):
            columns = table.get("columns") if isinstance(table, dict) else None
            names = [c.get("name") for c in columns if isinstance(c, dict)] if isinstance(columns, list) else []
            for s, e, values in items(text, ("rows", "*"), start, problems):
                if isinstance(values, list):
                    r = row_entry(*index.span(s, e), dict(zip(names, values, strict=False)))
                    if r["body"] is not None:
                        rows.append(r)
        return parse_document(text, rows, ctx, self.name, "ms", problems)


class AzureContainerLogCsv:
    """Portal CSV export of ContainerLogV2 (`LogMessage`, `PodName`) or ContainerLog (`LogEntry`)."""

    name: ClassVar[str] = "azure_containerlog_csv"
    kinds: ClassVar[tuple[Kind, ...]] = EXPORT_KINDS  # plus what the recognizers claim of its entries
    example: ClassVar[str] = "TimeGenerated [UTC],PodName,PodNamespace,ContainerName,LogMessage,LogSource  (portal Export to CSV)"
    samples: ClassVar[tuple[str, ...]] = (
        "TimeGenerated [UTC],Computer,PodName,PodNamespace,ContainerName,LogLevel,LogMessage,LogSource\n"
        '"1/15/2024, 10:02:00.164 AM",aks-nodepool1-12345678-vmss000000,worker-5c8f7b-d15yn,shop,worker,error,'
        '"2024-01-15 10:02:00,164 ERROR app.cache - cache read failed after 8 attempts: max number of clients '
        'reached",stderr\n',
        "TimeGenerated [UTC],Computer,ContainerID,Name,LogEntry,LogEntrySource\n"
        '"1/15/2024, 10:02:00.164 AM",aks-nodepool1-12345678-vmss000000,0a1b2c3d4e5f,'
        '5f0c2d3e-1111-2222-3333-444455556666/worker,"2024-01-15 10:02:00,164 ERROR app.cache - cache read failed: '
        'Error 111 connecting to redis:6379. Connection refused.",stderr\n',
    )
    streams_by: ClassVar[str] = "csv"  # rows may span lines (quoted): a big export is cut between rows

    def sniff(self, head: str) -> float:
        return 0.9 if csvlog.has_columns(head, ("TimeGenerated",), ("LogMessage", "LogEntry")) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        table = csvlog.read(text)
        utc = any(h.strip().endswith("[UTC]") for h in table.header)
        rows = [row_entry(line, span, {csvlog.column(k): v for k, v in c.items() if k is not None})
                for line, span, c in table.rows]
        entries = entries_frame([r for r in rows if r["body"] is not None])
        portal = pl.col("pts").str.strptime(pl.Datetime("us"), _PORTAL_TIME, strict=False).dt.strftime(
            "%Y-%m-%dT%H:%M:%S%.f" + ("Z" if utc else ""))
        entries = entries.with_columns(pts=pl.coalesce(portal, pl.col("pts")))
        table.lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
        return parse_entries(entries, table.lines, ctx, self.name, problems=table.problems)
