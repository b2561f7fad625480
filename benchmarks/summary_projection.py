"""What summarizing repeated problem records (issue 20) would save, and what it would change, measured
before building it: the Redis client records grouped by file, host, source, kind, endpoint and second.

    python benchmarks/summary_projection.py size FILE        # events-table bytes now and summarized
    python benchmarks/summary_projection.py evidence DIR...  # findings whose evidence a summary changes

`size` builds two summaries in polars from the ingested events and measures each table as uncompressed
Arrow IPC bytes (a filtered polars table shares its string buffers, so `estimated_size` overcounts):
"first row" keeps each group's first record whole plus its count, last line and per-record time offset
and the figures PM105/PM106 read; "every message" also keeps every record's line and message, which the
readers that quote or search a record's text need. `evidence` analyses each folder with the current code
and counts the findings whose evidence (first 8 rows by time) cites a record that is not the first of its
group: evidence citing each group's first line would differ there.
"""

from __future__ import annotations

import dataclasses
import io
import sys

import polars as pl

CLIENT = ("stackexchange_redis", "redis_py")
KEY = ["path", "host", "source", "kind", "entity", "_second"]
FIGURES = ["qs", "iocp_busy", "iocp_min", "worker_busy", "worker_min", "timeout_ms"]


def ipc_mb(df: pl.DataFrame) -> float:
    """The table's size as uncompressed Arrow IPC, in MB."""
    buf = io.BytesIO()
    df.write_ipc(buf, compression="uncompressed")
    return buf.tell() / 1e6


def grouped(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the timed Redis client records in time order with their group's `_second`, every other row)."""
    client = pl.col("source").is_in(CLIENT) & pl.col("ts").is_not_null()
    rows = events.filter(client).sort(["ts", "path", "line"]).with_columns(_second=pl.col("ts").dt.truncate("1s"))
    return rows, events.filter(~client)


def size(path: str) -> None:
    from postmortem.input.ingest import ingest
    from postmortem.input.options import IngestOptions

    events = ingest([path], dataclasses.replace(IngestOptions(), jobs=1)).events
    rows, rest = grouped(events)
    figures = rows.with_columns(**{f: pl.col("attrs").str.json_path_match(f"$.{f}").cast(pl.Float32, strict=False)
                                   for f in FIGURES})
    first = [pl.col(c).first() for c in events.columns if c not in KEY[:-1]]
    per_record = [(pl.col("ts") - pl.col("ts").first()).dt.total_microseconds().cast(pl.Int32).alias("offset_us"),
                  *[pl.col(f) for f in FIGURES]]
    count = pl.len().cast(pl.UInt32).alias("weight")
    by_first = figures.group_by(KEY, maintain_order=True).agg(*first, count, pl.col("line").last().alias("last_line"),
                                                              *per_record)
    by_message = figures.group_by(KEY, maintain_order=True).agg(*first, count, pl.col("line").alias("lines"),
                                                                pl.col("message").alias("messages"), *per_record)
    se = rows.filter(pl.col("source") == "stackexchange_redis")
    print(f"events {events.height:,} rows, {ipc_mb(events):.1f} MB; Redis client records {rows.height:,} "
          f"in {by_first.height:,} groups ({rows.height / max(by_first.height, 1):.2f} a group)")
    print(f"  StackExchange.Redis records {se.height:,}: message {se['message'].str.len_bytes().sum() / 1e6:.1f} MB, "
          f"attrs {se['attrs'].str.len_bytes().sum() / 1e6:.1f} MB")
    print(f"summary keeping each group's first row: {rest.height + by_first.height:,} rows, "
          f"{ipc_mb(rest) + ipc_mb(by_first):.1f} MB")
    print(f"summary keeping every record's line and message too: {ipc_mb(rest) + ipc_mb(by_message):.1f} MB")


def evidence(folders: list[str]) -> None:
    from postmortem.analysis.pipeline import AnalyzeOptions, analyze

    findings = changed = 0
    for folder in folders:
        report, result = analyze([folder], AnalyzeOptions(redact=False))
        rows, _ = grouped(result.events)
        later = rows.with_columns(rank=pl.int_range(pl.len()).over(KEY)).filter(pl.col("rank") > 0)
        not_first = set(later.select("path", "line").iter_rows())
        hits = [(f.rule_id, sum((e.path, e.line) in not_first for e in f.evidence), len(f.evidence))
                for f in report.findings]
        hits = [h for h in hits if h[1]]
        findings += len(report.findings)
        changed += len(hits)
        print(f"{folder}: {rows.height} client records, {rows.select(KEY).n_unique()} groups, "
              f"{len(report.findings)} findings, {len(hits)} cite a later record: "
              + " ".join(f"{r}({n}/{m})" for r, n, m in hits))
    print(f"in all: {changed} of {findings} findings cite a record that is not the first of its group")


if __name__ == "__main__":
    {"size": lambda args: size(args[0]), "evidence": evidence}[sys.argv[1]](sys.argv[2:])
