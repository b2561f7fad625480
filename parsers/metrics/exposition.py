"""Prometheus text exposition (redis_exporter scrapes), parsed with polars expressions.

`#HELP`/`#TYPE` with or without a space after `#`; samples with optional ms timestamps. Without a
timestamp the sample is dated `ctx.now` (scrape time is unknown) and the FileParse says so. Several
concatenated scrapes are fine: each sample line is one event.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.envelopes import split_lines
from parsers.metrics.names import entity_of, normalize_expr
from parsers.metrics.rows import KIND, SAMPLE_KIND, SOURCE, account, now_assumption, split_text
from postmortem.model import Kind
from postmortem.schema import conform_events

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = r"^(" + _NAME + r")(?:\{(.*)\})?\s+([-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|Inf|[+-]Inf))(?:\s+(-?[0-9]+))?\s*$"
_COMMENT = r"^#\s*(?:HELP|TYPE)\b|^#"
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class PromExposition:
    """Prometheus text exposition format 0.0.4 (redis_exporter, node exporters)."""

    name: ClassVar[str] = "prometheus_text"
    kinds: ClassVar[tuple[Kind, ...]] = (SAMPLE_KIND,)
    example: ClassVar[str] = 'redis_connected_clients{addr="redis://redis:6379"} 9998 1773454362000'
    samples: ClassVar[tuple[str, ...]] = (
        "# HELP process_max_fds Maximum number of open file descriptors.\n# TYPE process_max_fds gauge\n"
        "process_max_fds 1024\n# HELP process_virtual_memory_max_bytes Maximum amount of virtual memory available in bytes.\n"
        "# TYPE process_virtual_memory_max_bytes gauge\nprocess_virtual_memory_max_bytes 1.8446744073709552e+19\n",
        "#HELP kubernetes_events State of kubernetes events\n#TYPE kubernetes_events gauge\n"
        'kubernetes_events{event_kind="Pod",event_name="nginx-pc-534913751-yzev",event_namespace="allen",'
        'event_reason="BackOff",event_type="Normal"} 1\n',
    )

    def sniff(self, head: str) -> float:
        if "TYPE" not in head:  # a `# TYPE` line is required: a cheap test first
            return 0.0
        lines = pl.Series([ln for ln in head.splitlines()[:500] if ln.strip()], dtype=pl.String)
        if lines.len() == 0:
            return 0.0
        typed = lines.str.contains(r"^#\s*TYPE\s+" + _NAME + r"\s+(?:counter|gauge|histogram|summary|untyped)\s*$").any()
        share = float((lines.str.contains(_SAMPLE) | lines.str.contains(r"^#\s*(?:HELP|TYPE)\s")).mean() or 0.0)
        if typed and share >= 0.6:
            return 0.9
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = split_text(text)
        df = split_lines(text).with_columns(pl.col("raw").str.extract_groups(_SAMPLE).alias("m")).unnest("m")
        df = df.rename({"1": "name", "2": "labels", "3": "val", "4": "ms"})
        comment = pl.col("raw").str.contains(r"^#\s*(?:HELP|TYPE)\s") | (pl.col("raw").str.strip_chars() == "#")
        samples = df.filter(pl.col("name").is_not_null())
        has_ts = samples.get_column("ms").is_not_null()
        labels = [_labels(t) for t in samples.get_column("labels").to_list()]
        ents = [entity_of(lb, name) for lb, name in zip(labels, samples.get_column("name").to_list(), strict=True)]
        events = samples.with_columns(
            ts=pl.when(pl.col("ms").is_not_null())
            .then(pl.col("ms").cast(pl.Int64, strict=False).mul(1000).cast(pl.Datetime("us", "UTC"), strict=False))
            .otherwise(pl.lit(ctx.now, dtype=pl.Datetime("us", "UTC"))),
            source=pl.lit(SOURCE),
            kind=pl.lit(KIND),
            path=pl.lit(ctx.path),
            level=pl.lit("info"),
            entity=pl.Series(ents, dtype=pl.String),
            message=pl.col("raw").str.slice(0, 2000),
            metric=normalize_expr(pl.col("name")),
            value=pl.col("val").str.replace(r"^\+", "").cast(pl.Float64, strict=False),
            attrs=pl.Series(
                [json.dumps({"raw": n, "labels": lb} if lb else {"raw": n}, sort_keys=True)
                 for n, lb in zip(samples.get_column("name").to_list(), labels, strict=True)],
                dtype=pl.String,
            ),
        )
        used = set((df.filter(pl.col("name").is_not_null() | comment).get_column("line") - 1).to_list())
        assumptions = []
        if samples.height and not has_ts.all():
            assumptions.append(now_assumption(ctx, f"{int((~has_ts).sum())} Prometheus samples"))
        return account(lines, used, conform_events(events), assumptions=assumptions)


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    return {k: v.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n") for k, v in _LABEL.findall(text)}

