"""Benchmark (not a test): parse a generated 5 MB verbose redis-server log and print MB/s.

Run: python benchmarks/bench_redis_server.py [MB]. Times the whole log path (framing + every
registered recognizer, as ingest runs it) and the redis-server recognizer alone.
"""

from __future__ import annotations

import os
import random
import sys
import time

import polars as pl

from parsers.base import ParseContext
from parsers.envelopes import frame
from parsers.redis_server import RedisServerRecognizer
from postmortem.input.log_text import parse_log_text


def generate(megabytes: float, seed: int = 7) -> str:
    """A verbose (loglevel verbose) log: connection churn with startup lines and warnings mixed in."""
    rng = random.Random(seed)
    head = [
        "1:C 14 Mar 2026 02:02:00.000 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
        "1:C 14 Mar 2026 02:02:00.000 # Redis version=7.2.4, bits=64, commit=00000000, modified=0, pid=1, just started",
        "1:M 14 Mar 2026 02:02:00.001 # WARNING: The TCP backlog setting of 511 cannot be enforced because "
        "/proc/sys/net/core/somaxconn is set to the lower value of 128.",
        "1:M 14 Mar 2026 02:02:00.003 * Ready to accept connections tcp",
    ]
    out, size, ms = list(head), sum(len(x) + 1 for x in head), 0
    target = int(megabytes * 1_000_000)
    while size < target:
        ms += rng.randint(1, 40)
        s, frac = divmod(ms, 1000)
        ts = f"14 Mar 2026 {2 + s // 3600 % 20:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{frac:03d}"
        ip, port = f"10.1.{rng.randint(0, 9)}.{rng.randint(1, 250)}", rng.randint(30000, 65000)
        r = rng.random()
        if r < 0.45:
            line = f"1:M {ts} - Accepted {ip}:{port}"
        elif r < 0.9:
            line = (f"1:M {ts} - Client closed connection id={rng.randint(1, 10**6)} addr={ip}:{port} "
                    f"laddr=10.1.0.5:6379 fd={rng.randint(8, 9000)} name= age=0 idle=0 flags=N db=0")
        elif r < 0.97:
            line = f"1:M {ts} - {rng.randint(0, 9000)} clients connected (0 replicas), 4379184 bytes in use"
        else:
            line = (f"1:M {ts} # Error accepting a client connection: Connection reset by peer "
                    f"(addr={ip}:{port} laddr=10.1.0.5:6379)")
        out.append(line)
        size += len(line) + 1
    return "\n".join(out) + "\n"


def timed(fn):
    """(result, wall seconds, CPU seconds of all threads): CPU time is less skewed by a busy machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    text = generate(mb)
    size_mb = len(text.encode()) / 1e6
    ctx = ParseContext(path="redis-server.log")
    parse_log_text(generate(0.05, seed=1), ctx)  # warm-up: polars compiles and caches the regexes once
    result, wall, cpu = timed(lambda: parse_log_text(text, ctx))
    records, _, _, _ = frame(text)
    records = records.with_row_index("rec").with_columns(path=pl.lit("redis-server.log"),
                                                         host=pl.coalesce("host", pl.lit("redis")))
    hits, r_wall, r_cpu = timed(lambda: RedisServerRecognizer().recognize(records))
    print(f"{size_mb:.1f} MB, {result.lines} lines, {result.events.height} events, {hits.height} redis_server rows; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"parse_log_text (frame + all recognizers): {wall:.3f} s wall = {size_mb / wall:.1f} MB/s ({cpu:.2f} s CPU)")
    print(f"redis_server recognizer alone:            {r_wall:.3f} s wall = {size_mb / r_wall:.1f} MB/s ({r_cpu:.2f} s CPU)")


if __name__ == "__main__":
    main()
