"""Grafana CSV exports: panel "Download CSV" (wide, `"Time","series",…`) and the legacy ≤ 6.x export
(`Series;Time;Value` long or `Time;alias…` wide, `;`, locale digit grouping), with BOM, `sep=`, CRLF.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.metrics.csvtable import (
    TIME_HEADER,
    csv_row,
    decimal_comma,
    delimiter,
    number_expr,
    read_rows,
    strip_preamble,
    time_expr,
)
from parsers.metrics.names import entity_of, normalize
from parsers.metrics.rows import KIND, SAMPLE_KIND, SOURCE, account, head_lines, samples_frame, split_text
from postmortem.model import Kind
from postmortem.schema import conform_events

_SERIES = re.compile(r'^([^{]*?)\s*\{(.*)\}\s*$')
_LABEL = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def split_series(display: str) -> tuple[str, dict[str, str]]:
    """`redis_connected_clients{addr="redis://a:6379"}` → name and labels; a legend alias stays whole."""
    m = _SERIES.match(display)
    if not m:
        return display, {}
    return (m.group(1) or display), dict(_LABEL.findall(m.group(2)))


def long_or_wide(names: list[str]) -> tuple[str | None, str | None, str | None]:
    """(time column, series column, value column) by header name, not position."""
    low = {n.lower().strip(): n for n in names}
    time_col = next((n for n in names if TIME_HEADER.match(n.strip())), None)
    series = low.get("series") or low.get("metric") or low.get("name")
    value = low.get("value")
    return time_col, (series if series and value else None), (value if series and value else None)


def table_events(
    names: list[str], data: pl.DataFrame, idx: list[int], ctx: ParseContext, *, exclude: tuple[str, ...] = ()
) -> tuple[pl.DataFrame, str | None]:
    """Events from a long or wide table; returns (events, problem)."""
    time_col, series_col, value_col = long_or_wide(names)
    if time_col is None:
        return samples_frame([], ctx.path), f"CSV has no time column (header: {', '.join(names)[:200]})"
    df = data.with_columns(line=pl.Series(idx, dtype=pl.UInt32) + 1)
    if series_col:
        long = df.select("line", pl.col(time_col).alias("t"), pl.col(series_col).alias("series"), pl.col(value_col).alias("v"))
    else:
        cols = [n for n in names if n != time_col and n not in exclude]
        if not cols:
            return samples_frame([], ctx.path), "CSV has a time column but no value columns"
        long = df.unpivot(index=["line", time_col], on=cols, variable_name="series", value_name="v").rename({time_col: "t"})
    comma = decimal_comma(long.get_column("v"))
    long = long.with_columns(value=number_expr(pl.col("v"), comma), ts=time_expr(pl.col("t"), ctx.tz))
    long = long.filter(pl.col("value").is_not_null())
    meta = {}
    for s in long.get_column("series").unique().to_list():
        raw, labels = split_series(s or "")
        meta[s] = (normalize(raw), raw, entity_of(labels, raw), json.dumps({"raw": raw, "labels": labels} if labels else {"raw": raw}, sort_keys=True))
    pick = lambda k: pl.col("series").replace_strict({s: m[k] for s, m in meta.items()}, default=None, return_dtype=pl.String)  # noqa: E731
    events = long.sort("line", maintain_order=True).with_columns(
        source=pl.lit(SOURCE), kind=pl.lit(KIND), path=pl.lit(ctx.path), level=pl.lit("info"),
        metric=pick(0), entity=pick(2), attrs=pick(3),
        message=(pl.col("series") + pl.lit(" ") + pl.col("v").str.strip_chars()).str.slice(0, 2000),
    )
    return conform_events(events), None


class GrafanaCsv:
    """Grafana panel CSV (wide, joined by time) and legacy `Series;Time;Value` exports."""

    name: ClassVar[str] = "grafana_csv"
    kinds: ClassVar[tuple[Kind, ...]] = (SAMPLE_KIND,)
    example: ClassVar[str] = '"Time","redis_connected_clients{addr=\\"redis://redis:6379\\"}"'
    samples: ClassVar[tuple[str, ...]] = (
        "Series;Time;Value\nvalA;2015-06-11T11:50:00.000Z;1.1\nvalA;2015-06-11T11:51:00.000Z;1.2\n"
        "valB;2015-06-11T11:50:00.000Z;2.0\n",
        '\ufeff"Time","redis_connected_clients{addr=""redis://redis:6379""}","rejected"\r\n'
        "1773454320000,412,0\r\n1773454380000,3981,12",
    )

    def sniff(self, head: str) -> float:
        lines = head_lines(head, 50)
        start, sep = strip_preamble(lines)
        if start >= len(lines) - 1:
            return 0.0
        header = lines[start].lstrip("\ufeff")
        sep = sep or delimiter(header)
        cells = [c.strip() for c in csv_row(header, sep)]
        if len(cells) < 2 or not any(TIME_HEADER.match(c) for c in cells):
            return 0.0
        if any(c in ("MetricName", "TimeGenerated") for c in cells):
            return 0.0
        body = [ln for ln in lines[start + 1 :] if ln.strip()][:20]
        widths = [len(csv_row(ln, sep)) for ln in body]
        if not body or sum(1 for w in widths if w == len(cells)) < 0.8 * len(body):
            return 0.0
        values = [c for ln in body for k, c in enumerate(csv_row(ln, sep)) if not TIME_HEADER.match(cells[k] if k < len(cells) else "")]
        if values and not any(re.match(r"^\s*[-+]?(?:\d|\.\d|nan|inf|\+inf)", c, re.I) for c in values):
            return 0.0  # no number at all: a table of text (a log export), not metrics
        return 0.85

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        return parse_csv_table(text, ctx, table_events)


def parse_csv_table(text: str, ctx: ParseContext, events_of) -> FileParse:
    """Read a metric CSV (preamble, delimiter, rows) and account its lines; `events_of(names, data,
    idx, ctx)` turns the rows into (events, problem). Shared by the Grafana and Azure exports."""
    lines = split_text(text)
    start, sep = strip_preamble(lines)
    if start >= len(lines):
        return account(lines, set(), samples_frame([], ctx.path), problems=["CSV has no header line"])
    sep = sep or delimiter(lines[start].lstrip("\ufeff"))
    names, data, idx = read_rows(lines, start, sep)
    events, problem = events_of(names, data, idx, ctx)
    if problem:
        return account(lines, set(), events, problems=[problem])
    if idx and events.height == 0:  # e.g. a log export (`Date,Host,Service,Message`): never swallowed
        return account(lines, set(range(start + 1)), events,
                       problems=[f"no numeric sample in {len(idx)} CSV rows: not a metric table; rows counted unrecognized"])
    return account(lines, set(range(start + 1)) | set(idx), events)
