"""redis `INFO` output: one snapshot, or a series of snapshots each preceded by a timestamp line.

Numeric fields become samples (counters stay counters: `total_connections_received` and
`rejected_connections` are emitted raw, rates are computed downstream); text fields
(`redis_version`, `*_human`, `mem_allocator`) belong to the snapshot and are counted as parsed.
Snapshots without a time are dated `ctx.now`, and the FileParse says so.

Pasted through docker-compose (`redis-1  | # Clients`, `redis_1  | connected_clients:4`; redis/redis#14894 shows
the layout, a crash report's `------ INFO OUTPUT ------` through `docker compose up`) the prefix is peeled first
when most lines carry it, so the dump reads as a bare one (a prefix with nothing after it is a blank line).
Azure Cache for Redis adds `server_load:` (0-100, the share of time the server was busy) to its `# CPU` section
(microsoftarchive/redis#385, `info cpu` on Azure); it is the normalized `server_load` metric of the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext
from parsers.envelopes import split_lines
from parsers.metrics.names import normalize_expr
from parsers.metrics.rows import KIND, SAMPLE_KIND, SOURCE, account, now_assumption, split_text
from postmortem.input.timeparse import parse_ts
from postmortem.model import Kind
from postmortem.schema import conform_events

_QUOTE = r"^(?:>\s?)*"
_FIELD = r"^([a-z][a-z0-9_]*):(.*)$"
_SECTION = r"^# ?[A-Z][A-Za-z]*\s*$"
_PROMPT = r"^(\S+:\d+)(?:\[\d+\])?> ?(?i:info)\b"
_TS_LINE = r"^[-=#\s\[]*(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d| ?UTC)?|\d{10}(?:\.\d+)?)[-=#\s\]]*$"
_KNOWN_KEYS = ("redis_version", "connected_clients", "used_memory", "uptime_in_seconds", "total_connections_received",
               "rejected_connections", "maxclients", "loading", "rdb_changes_since_last_save", "aof_enabled",
               "instantaneous_ops_per_sec", "role", "used_cpu_sys", "server_load")
# docker-compose's `svc_1  | ` (v1) / `svc-1  | ` (v2); an editor may have dropped the space after a bare `|`
_COMPOSE = r"^[A-Za-z0-9][\w.-]*\s*\|(?: |$)"
_KNOWN = r"^(?:" + "|".join(_KNOWN_KEYS) + r"):"


class RedisInfo:
    """`redis-cli INFO` snapshots (any section, 2.4 flat or sectioned, `> ` quoting tolerated)."""

    name: ClassVar[str] = "redis_info"
    kinds: ClassVar[tuple[Kind, ...]] = (SAMPLE_KIND,)
    example: ClassVar[str] = "# Clients\nconnected_clients:10\nblocked_clients:0"
    samples: ClassVar[tuple[str, ...]] = (
        "# Clients\nconnected_clients:10\nclient_recent_max_input_buffer:8\nclient_recent_max_output_buffer:0\n"
        "blocked_clients:0\ntracking_clients:0\nclients_in_timeout_table:0\n",
        "redis_version:2.4.16\nredis_git_sha1:00000000\nuptime_in_seconds:599956\nconnected_clients:6\n"
        "blocked_clients:0\nused_memory:10956304\nused_memory_human:10.45M\n",
        # through docker compose v2, as redis/redis#14894 pasted it (redis-stack 7.4.7's crash report, INFO part)
        "redis-1  | # Clients\nredis-1  | connected_clients:4\nredis-1  | cluster_connections:0\n"
        "redis-1  | maxclients:10000\nredis-1  | client_recent_max_input_buffer:16408\nredis-1  | blocked_clients:0\n"
        "redis-1  | \nredis-1  | # Stats\nredis-1  | total_connections_received:5\nredis-1  | rejected_connections:0\n",
        # Azure Cache for Redis `info cpu`, as microsoftarchive/redis#385 pasted it (a blank line after each line)
        "# CPU\n\nused_cpu_sys:45.08\n\nused_cpu_user:16.09\n\nused_cpu_avg_ms_per_sec:37\n\nserver_load:10.36\n\n"
        "event_wait:1566\n\nevent_no_wait:847\n",
    )

    def sniff(self, head: str) -> float:
        plain = head.replace("**", "")  # a known field is required (bold removed, as `_clean` does): a cheap test first
        if not any(f"{key}:" in plain for key in _KNOWN_KEYS):
            return 0.0
        lines = _clean(split_lines(head[:65536]).head(400))
        body = lines.filter(pl.col("t") != "")
        if body.height == 0:
            return 0.0
        t = body.get_column("t")
        share = float((t.str.contains(_FIELD) | t.str.contains(_SECTION) | t.str.contains(_PROMPT)).mean() or 0.0)
        known = int(t.str.contains(_KNOWN).sum())
        return 0.85 if share >= 0.7 and known >= 1 else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        df = _clean(split_lines(text))
        lines = split_text(text)
        if df.get_column("compose").any():  # a prefix alone is a blank line of the dump, as it is without one
            lines = [ln if keep else "" for ln, keep in zip(lines, df.get_column("t").str.len_chars() > 0, strict=True)]
        t = pl.col("t")
        stamp = parse_ts(t.str.extract(_TS_LINE, 1), ctx.tz).ts
        df = df.with_columns(
            stamp=stamp,
            prompt=t.str.extract(_PROMPT, 1),
            key=t.str.extract(_FIELD, 1),
            val=t.str.extract(_FIELD, 2).str.strip_chars(),
            section=t.str.contains(_SECTION),
        ).with_columns(
            snap_ts=pl.col("stamp").forward_fill(),
            addr=pl.col("prompt").forward_fill(),
        )
        num = pl.col("val").str.extract(r"^([-+]?\d+(?:\.\d+)?)$", 1).cast(pl.Float64, strict=False)
        host = Path(ctx.path).name.split(".")[0] or "info"
        fields = df.filter(pl.col("key").is_not_null())
        port = fields.filter(pl.col("key") == "tcp_port").get_column("val").head(1).to_list()
        fallback = f"{host}:{port[0]}" if port else host
        samples = fields.filter(num.is_not_null()).with_columns(
            ts=pl.coalesce("snap_ts", pl.lit(ctx.now, dtype=pl.Datetime("us", "UTC"))),
            value=num,
            metric=normalize_expr(pl.col("key")),
            entity=pl.lit("redis:") + pl.coalesce("addr", pl.lit(fallback)),
            attrs=pl.struct(raw=pl.col("key")).struct.json_encode(),
            message=pl.col("t").str.slice(0, 2000),
            source=pl.lit(SOURCE), kind=pl.lit(KIND), path=pl.lit(ctx.path), level=pl.lit("info"),
        )
        consumed = df.filter(
            pl.col("key").is_not_null() | pl.col("section") | pl.col("prompt").is_not_null() | pl.col("stamp").is_not_null()
        )
        used = set((consumed.get_column("line") - 1).to_list()) if samples.height else set()
        assumptions = []
        undated = samples.filter(pl.col("snap_ts").is_null()).height
        if undated:
            assumptions.append(now_assumption(ctx, f"{undated} INFO fields"))
        problems = [] if samples.height else ["no numeric INFO field found"]
        return account(lines, used, conform_events(samples), assumptions=assumptions, problems=problems)


def _clean(lines: pl.DataFrame) -> pl.DataFrame:
    """Strip a docker-compose prefix (when most non-blank lines carry one), markdown quoting (`> `) and bold (`**`)
    that pasted INFO output carries; `compose` says whether the line's prefix was peeled."""
    raw = pl.col("raw")
    nonblank = lines.filter(raw.str.strip_chars() != "")
    composed = nonblank.height > 0 and float(nonblank.select(raw.str.contains(_COMPOSE).mean()).item() or 0) >= 0.5
    peel = raw.str.contains(_COMPOSE) if composed else pl.lit(False)
    return lines.with_columns(compose=peel).with_columns(
        t=pl.when(pl.col("compose")).then(raw.str.replace(_COMPOSE, "")).otherwise(raw)
        .str.replace(_QUOTE, "").str.replace_all(r"\*\*", "").str.strip_chars()
    )
