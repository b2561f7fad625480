"""Azure Monitor metric CSVs for Azure Cache for Redis.

Two shapes, read by header name: the Log Analytics `AzureMetrics` export (one row per metric per
minute: `TimeGenerated`, `MetricName`, `Maximum`/`Average`/`Total`…) and the portal's wide
"Download to Excel" table (a time column plus one column per chart line, e.g.
"Connected Clients (Max)"). The wide layout is undocumented, so only the header decides.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.metrics.csvtable import TIME_HEADER, delimiter, number_expr, strip_preamble, time_expr
from parsers.metrics.grafana_csv import parse_csv_table, table_events
from parsers.metrics.names import normalize, squash
from parsers.metrics.rows import KIND, SAMPLE_KIND, SOURCE, head_lines, samples_frame
from postmortem.model import Kind
from postmortem.schema import conform_events

_AZURE_NAMES = {
    squash(n) for n in (
        "connectedclients", "allconnectedclients", "allConnectionsCreatedPerSecond", "allConnectionsClosedPerSecond",
        "serverLoad", "percentProcessorTime", "operationsPerSecond", "totalcommandsprocessed", "cacheLatency",
        "evictedkeys", "expiredkeys", "usedmemory", "usedmemorypercentage", "Connected Clients",
        "Connections Created Per Second", "Server Load", "Operations Per Second", "Used Memory",
    )
}
_AGGS = ("Maximum", "Average", "Total", "Minimum", "Count")


class AzureMetricsCsv:
    """Azure Cache for Redis metrics: Log Analytics `AzureMetrics` CSV and portal wide exports."""

    name: ClassVar[str] = "azure_metrics_csv"
    kinds: ClassVar[tuple[Kind, ...]] = (SAMPLE_KIND,)
    example: ClassVar[str] = "TimeGenerated [UTC],ResourceId,MetricName,Total,Count,Maximum,Minimum,Average,TimeGrain,UnitName"
    samples: ClassVar[tuple[str, ...]] = (
        "TimeGenerated [UTC],ResourceId,MetricName,Total,Count,Maximum,Minimum,Average,TimeGrain,UnitName\n"
        "3/14/2026 2:12:00.000 AM,/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CACHE/REDIS/SHOP-CACHE,"
        "connectedclients,9980,1,9980,9980,9980,PT1M,Count\n",
        "Time,Connected Clients (Max),Server Load (Max),CPU (Max)\n2026-03-14 02:12:00,9980,97,88\n",
    )

    def sniff(self, head: str) -> float:
        lines = head_lines(head, 20)
        start, sep = strip_preamble(lines)
        if start >= len(lines):
            return 0.0
        header = lines[start].lstrip("\ufeff")
        cells = [c.strip().strip('"') for c in header.split(sep or delimiter(header))]
        base = [c.split(" [")[0] for c in cells]
        if "MetricName" in base and any(c.startswith("TimeGenerated") for c in cells):
            return 0.95
        if any(TIME_HEADER.match(c) for c in cells) and any(squash(c) in _AZURE_NAMES for c in cells[1:]):
            return 0.9
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        return parse_csv_table(text, ctx, _events)


def _events(names: list[str], data: pl.DataFrame, idx: list[int], ctx: ParseContext) -> tuple[pl.DataFrame, str | None]:
    """AzureMetrics long rows (MetricName column) or a wide portal export."""
    base = {n.split(" [")[0].strip(): n for n in names}
    if "MetricName" in base:
        return _long(base, data, idx, ctx)
    return table_events(names, data, idx, ctx)


def _long(base: dict[str, str], data: pl.DataFrame, idx: list[int], ctx: ParseContext) -> tuple[pl.DataFrame, str | None]:
    time_col = base.get("TimeGenerated") or base.get("TimeStamp") or base.get("Time")
    if time_col is None:
        return samples_frame([], ctx.path), "AzureMetrics CSV has no TimeGenerated column"
    aggs = [base[a] for a in _AGGS if a in base]
    if not aggs:
        return samples_frame([], ctx.path), "AzureMetrics CSV has no Maximum/Average/Total column"
    df = data.with_columns(line=pl.Series(idx, dtype=pl.UInt32) + 1)
    values = [number_expr(pl.col(a), False) for a in aggs]
    resource = pl.col(base["ResourceId"]) if "ResourceId" in base else pl.lit(None, dtype=pl.String)
    metric_raw = pl.col(base["MetricName"]).str.strip_chars()
    names = df.get_column(base["MetricName"]).str.strip_chars().unique().drop_nulls().to_list()
    mapping = {n: normalize(n) for n in names}
    agg_struct = pl.struct([v.alias(a.split(" [")[0]) for v, a in zip(values, aggs, strict=True)])
    events = df.with_columns(
        ts=time_expr(pl.col(time_col), ctx.tz),
        value=pl.coalesce(values),  # Maximum first: Azure Redis charts aggregate by Max
        metric=metric_raw.replace_strict(mapping, default=None, return_dtype=pl.String),
        entity=pl.lit("redis:") + resource.str.extract(r"([^/]+)/*$", 1).str.to_lowercase(),
        attrs=pl.struct(raw=metric_raw, resource=resource, aggregations=agg_struct).struct.json_encode(),
        message=pl.concat_str([metric_raw, pl.lit(" ")] + [pl.col(a).fill_null("") for a in aggs[:1]]),
        source=pl.lit(SOURCE), kind=pl.lit(KIND), path=pl.lit(ctx.path), level=pl.lit("info"),
    ).filter(pl.col("value").is_not_null())
    return conform_events(events), None
