"""Seeded generator of the dense single-file case: one log exported from a log platform during a storm.

One file, many pods interleaved in time (a `pod | ` prefix names each line's pod, as `docker compose
logs` and most exports do), where 30 % of the records are Redis failures: StackExchange.Redis
timeouts with every field (`qu`, `qs`, `in`, `mgr`, `IOCP`, `WORKER`, …) and redis-py tracebacks
(connection refused, timeouts, max clients); the rest is application noise. Real storm exports look
like this; the 42-file benchmark (generate.py) is mostly noise that folds into per-second counts.
Same seed and size → same bytes.

    python benchmarks/generate_dense.py --size-mib 1024 --out /tmp/pm-bench/dense-1024.log
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 3, 14, 2, 0, 0, tzinfo=UTC)
REDIS_SHARE = 0.30
BLOCK = 5000  # records written at a time

NOISE = (
    "{ts} INFO app.jobs - processed job {n} in {ms} ms",
    "{ts} INFO uvicorn.access - 10.1.{a}.{b}:5{n4} - \"GET /api/items/{n} HTTP/1.1\" 200",
    "{ts} DEBUG app.cache - cache hit key=user:{n}",
    "{ts} INFO app.orders - order {n} placed by customer {n4} total {ms}.{b}",
)
PY_TRACEBACK = (
    "{ts} ERROR app.jobs - job {n} failed\n"
    "Traceback (most recent call last):\n"
    '  File "/app/jobs.py", line 42, in run\n'
    "    value = r.get(key)\n"
    '  File "/usr/local/lib/python3.11/site-packages/redis/commands/core.py", line 1829, in get\n'
    '    return self.execute_command("GET", name)\n'
    '  File "/usr/local/lib/python3.11/site-packages/redis/connection.py", line 283, in connect\n'
    "    raise ConnectionError(self._error_message(e))\n"
    "redis.exceptions.ConnectionError: Error 111 connecting to redis-master.cache.svc:6379. Connection refused."
)
PY_TIMEOUT = (
    "{ts} ERROR app.cart - cart {n} lookup failed\n"
    "Traceback (most recent call last):\n"
    '  File "/app/cart.py", line 88, in load\n'
    "    return r.hgetall(key)\n"
    '  File "/usr/local/lib/python3.11/site-packages/redis/connection.py", line 465, in read_response\n'
    "    raise TimeoutError(f\"Timeout reading from {{self.host}}:{{self.port}}\")\n"
    "redis.exceptions.TimeoutError: Timeout reading from redis-master.cache.svc:6379"
)
PY_MAX = "{ts} WARNING app.cache - cache read failed: max number of clients reached"
SE_TIMEOUT = (
    "{ts} ERROR Cart.Api.CartStore - Cache failure for cart {n}\n"
    "StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), next: GET cart:{n}, inst: {inst}, "
    "qu: {qu}, qs: {qs}, aw: False, bw: SpinningDown, rs: ReadAsync, ws: Idle, in: {inb}, in-pipe: 0, "
    "out-pipe: 0, last-in: 2, cur-in: 0, sync-ops: {sync}, async-ops: {n4}, serverEndpoint: redis-master:6379, "
    "conn-sec: {conn}, aoc: 1, mc: 1/1/0, mgr: 10 of 10 available, clientName: {pod}(SE.Redis-v2.6.122.38350), "
    "PerfCounterHelperkeyHashSlot: {slot}, IOCP: (Busy=0,Free=1000,Min=4,Max=1000), "
    "WORKER: (Busy={busy},Free={free},Min=4,Max=32767), POOL: (Threads={threads},QueuedItems={queued},"
    "CompletedItems={n}), v: 2.6.122.38350 (Please take a look at this article for some common client-side "
    "issues that can cause timeouts: https://stackexchange.github.io/StackExchange.Redis/Timeouts)\n"
    "   at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message message, ResultProcessor`1 "
    "processor, ServerEndPoint server, T defaultValue)\n"
    "   at StackExchange.Redis.RedisDatabase.StringGet(RedisKey key, CommandFlags flags)\n"
    "   at Cart.Api.CartStore.Load(String id) in /src/Cart.Api/CartStore.cs:line 57"
)
REDIS_SHAPES = ((SE_TIMEOUT, 0.5), (PY_TRACEBACK, 0.25), (PY_TIMEOUT, 0.15), (PY_MAX, 0.10))


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"


def _values(rng: random.Random, pod: str) -> dict:
    busy = rng.randint(1, 200)
    return {"n": rng.randint(1000, 999999), "ms": rng.randint(1, 900), "a": rng.randint(0, 255),
            "b": rng.randint(0, 255), "n4": rng.randint(1000, 9999), "qs": rng.randint(1, 90),
            "qu": rng.randint(0, 40), "inst": rng.randint(0, 9), "inb": rng.randint(0, 65536),
            "sync": rng.randint(1, 99999), "conn": f"{rng.uniform(0, 900):.1f}", "slot": rng.randint(0, 16383),
            "busy": busy, "free": 32767 - busy, "threads": busy + 4, "queued": rng.randint(0, 500), "pod": pod}


def generate(out: Path, size_mib: int, seed: int = 42, pods: int = 60) -> dict:
    """Write the file; return facts (bytes, lines, records, redis records)."""
    rng = random.Random(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    target = size_mib * 1024 * 1024
    names = [f"cart-api-{rng.randrange(16**6):06x}-{i:03d}" for i in range(pods)]
    shapes, weights = zip(*REDIS_SHAPES, strict=True)
    t = T0
    written = lines = records = redis = 0
    with open(out, "w", encoding="utf-8") as fh:
        while written < target:
            block = []
            for _ in range(BLOCK):
                t += timedelta(microseconds=rng.randint(100, 900))
                pod = rng.choice(names)
                vals = _values(rng, pod)
                if rng.random() < REDIS_SHARE:
                    template = rng.choices(shapes, weights)[0]
                    redis += 1
                else:
                    template = rng.choice(NOISE)
                record = template.format(ts=_ts(t), **vals)
                block.append("\n".join(f"{pod} | {line}" for line in record.split("\n")))
            text = "\n".join(block) + "\n"
            fh.write(text)
            written += len(text.encode("utf-8"))
            lines += text.count("\n")
            records += BLOCK
    return {"bytes": written, "lines": lines, "records": records, "redis_records": redis}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pods", type=int, default=60)
    args = ap.parse_args()
    f = generate(args.out, args.size_mib, args.seed, args.pods)
    print(f"wrote {f['bytes'] / 2**20:.1f} MiB, {f['lines']} lines, {f['records']} records "
          f"({f['redis_records']} Redis) to {args.out}")


if __name__ == "__main__":
    main()
