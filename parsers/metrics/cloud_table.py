"""Cloud metric tables printed as ASCII boxes (steampipe/psql `| a | b |`, `aws … --output table`).

CloudWatch rows carry a metric name column (`metric_name`, `MetricName`, or an aws-cli `Label` row)
and statistics columns; the value is Maximum, else Average, Sum, Minimum.
"""

from __future__ import annotations

import re
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.metrics.csvtable import time_expr
from parsers.metrics.names import normalize
from parsers.metrics.rows import KIND, SAMPLE_KIND, SOURCE, account, head_lines, samples_frame, split_text
from postmortem.model import Kind
from postmortem.schema import conform_events

_ROW = re.compile(r"^\s*\|+.*\|")
_BORDER = re.compile(r"^\s*[|+]*[-+=]{3,}[-+|=]*\s*$")
_STATS = ("maximum", "average", "sum", "minimum", "samplecount", "sample_count", "value")
_TIME = ("timestamp", "time", "datetime")
_NAME = ("metric_name", "metricname", "label", "metric")
_ENTITY = ("cache_cluster_id", "cacheclusterid", "cache_node_id", "replication_group_id", "instance")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


class CloudMetricTable:
    """CloudWatch-style metric statistics in an ASCII table."""

    name: ClassVar[str] = "cloud_metric_table"
    kinds: ClassVar[tuple[Kind, ...]] = (SAMPLE_KIND,)
    example: ClassVar[str] = "| test-002 | CurrConnections | AWS/ElastiCache | 0 | 0 | 0 | 60 | 0 | Count | 2021-11-10 21:25:00 |"
    samples: ClassVar[tuple[str, ...]] = (
        "+------------------+---------------+-----------------+---------+---------+---------------------+\n"
        "| cache_cluster_id | metric_name   | namespace       | average | maximum | timestamp           |\n"
        "+------------------+---------------+-----------------+---------+---------+---------------------+\n"
        "| test-002         | ListBasedCmds | AWS/ElastiCache | 0       | 0       | 2021-11-10 21:25:00 |\n",
    )

    def sniff(self, head: str) -> float:
        for line in head_lines(head, 40):
            if _ROW.match(line):
                cells = {c.lower().replace(" ", "_") for c in _cells(line)}
                if cells & set(_TIME) and cells & set(_STATS) and (cells & set(_NAME) or "unit" in cells):
                    return 0.9
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = split_text(text)
        header_at = None
        used: set[int] = set()
        rows: list[tuple[int, list[str]]] = []
        label = None
        for i, line in enumerate(lines):
            if _BORDER.match(line):
                used.add(i)
                continue
            if not _ROW.match(line):
                continue
            cells = _cells(line)
            low = [c.lower().replace(" ", "_") for c in cells]
            if header_at is None and set(low) & set(_TIME) and set(low) & set(_STATS):
                header_at, header = i, low
                used.add(i)
            elif len(cells) == 2 and cells[0].lower() == "label":
                label = cells[1]
                used.add(i)
            elif header_at is not None:
                rows.append((i, cells))
        if header_at is None:
            return account(lines, set(), samples_frame([], ctx.path), problems=["table has no timestamp/statistics header"])
        width = len(header)
        data = pl.DataFrame(
            {h: [(c + [""] * width)[k] for _, c in rows] for k, h in enumerate(header)}, schema=dict.fromkeys(header, pl.String)
        ).with_columns(line=pl.Series([i + 1 for i, _ in rows], dtype=pl.UInt32))
        tcol = next(h for h in header if h in _TIME)
        stat = next(h for h in _STATS if h in header)
        ncol = next((h for h in header if h in _NAME), None)
        ecol = next((h for h in header if h in _ENTITY), None)
        names = data.get_column(ncol).unique().to_list() if ncol else []
        raw = pl.col(ncol) if ncol else pl.lit(label or "value")
        mapping = {n: normalize(n) for n in names + [label or "value"] if n is not None}
        stats = [h for h in header if h in _STATS or h in ("unit", "namespace")]
        events = data.with_columns(
            ts=time_expr(pl.col(tcol), ctx.tz),
            value=pl.col(stat).cast(pl.Float64, strict=False),
            metric=raw.replace_strict(mapping, default=None, return_dtype=pl.String),
            entity=(pl.lit("redis:") + pl.col(ecol)) if ecol else pl.lit(None, dtype=pl.String),
            attrs=pl.struct(raw=raw, **{s: pl.col(s) for s in stats}).struct.json_encode(),
            message=pl.lit(None, dtype=pl.String),
            source=pl.lit(SOURCE), kind=pl.lit(KIND), path=pl.lit(ctx.path), level=pl.lit("info"),
        ).filter(pl.col("value").is_not_null() & pl.col("ts").is_not_null())
        text_of = pl.DataFrame({"line": pl.Series([i + 1 for i, _ in rows], dtype=pl.UInt32),
                                "message_text": [lines[i].strip()[:2000] for i, _ in rows]})
        events = events.join(text_of, on="line", how="left").with_columns(message=pl.col("message_text"))
        used |= set((events.get_column("line") - 1).to_list())
        return account(lines, used, conform_events(events))
