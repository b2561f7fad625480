"""Seeded generator of large, realistic incident folders for the performance benchmark.

Writes many pods' redis-py and StackExchange.Redis app logs (with tracebacks and an incident
burst in the middle), a verbose redis-server log, Kubernetes events and a Prometheus scrape
series, until the folder holds about the requested size. Same seed and size → same bytes.

    python benchmarks/generate.py --size-mib 100 --out /tmp/pm-bench/100
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 3, 14, 2, 0, 0, tzinfo=UTC)
BLOCK_LINES = 2000

PY_INFO = (
    "{ts} INFO app.jobs - processed job {n} in {ms} ms",
    "{ts} INFO uvicorn.access - 10.1.{a}.{b}:5{n4} - \"GET /api/items/{n} HTTP/1.1\" 200",
    "{ts} DEBUG app.cache - cache hit key=user:{n}",
)
PY_ERR = (
    "{ts} ERROR app.jobs - job failed\n"
    "Traceback (most recent call last):\n"
    '  File "/app/jobs.py", line 42, in run\n'
    "    value = r.get(key)\n"
    '  File "/usr/local/lib/python3.11/site-packages/redis/connection.py", line 283, in connect\n'
    "    raise ConnectionError(self._error_message(e))\n"
    "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused."
)
PY_MAX = "{ts} WARNING app.cache - cache read failed: max number of clients reached"
SE_INFO = "{ts} +00:00 [INF] Request finished HTTP/1.1 GET /api/cart/{n} - 200 - application/json {ms}.{n4}ms"
SE_ERR = (
    "{ts} +00:00 [ERR] Cache failure\n"
    "StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), next: GET cart:{n}, inst: 0, "
    "qu: 0, qs: {qs}, aw: False, bw: SpinningDown, rs: ReadAsync, ws: Idle, in: 0, serverEndpoint: redis:6379, "
    "mc: 1/1/0, mgr: 10 of 10 available, clientName: {pod}(SE.Redis-v2.6.122.38350), "
    "IOCP: (Busy=0,Free=1000,Min=4,Max=1000), WORKER: (Busy={busy},Free=32719,Min=4,Max=32767), v: 2.6.122.38350\n"
    "   at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message message)"
)


def _py_ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"


def _se_ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _pod_lines(rng: random.Random, pod: str, dotnet: bool, start: datetime, n: int,
               outage: tuple) -> tuple[list[str], datetime]:
    out = []
    t = start
    for _ in range(n):
        t += timedelta(milliseconds=rng.randint(1, 40))
        in_outage = outage[0] <= t <= outage[1]
        vals = {"n": rng.randint(1000, 999999), "ms": rng.randint(1, 900), "a": rng.randint(0, 255),
                "b": rng.randint(0, 255), "n4": rng.randint(1000, 9999), "qs": rng.randint(1, 90),
                "busy": rng.randint(1, 80), "pod": pod}
        if dotnet:
            if in_outage and rng.random() < 0.5:
                out.append(SE_ERR.format(ts=_se_ts(t), **vals))
            else:
                out.append(SE_INFO.format(ts=_se_ts(t), **vals))
        elif in_outage and rng.random() < 0.6:
            out.append((PY_ERR if rng.random() < 0.3 else PY_MAX).format(ts=_py_ts(t), **vals))
        else:
            out.append(rng.choice(PY_INFO).format(ts=_py_ts(t), **vals))
    return out, t


def _server_lines(rng: random.Random, start: datetime, n: int) -> tuple[list[str], datetime]:
    out = []
    t = start
    for i in range(n):
        t += timedelta(milliseconds=rng.randint(1, 30))
        stamp = t.strftime("%d %b %Y %H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        port = rng.randint(30000, 60000)
        verb = "Accepted" if i % 2 == 0 else "Client closed connection id="
        out.append(f"1:M {stamp} - {verb} 10.1.{rng.randint(0, 255)}.{rng.randint(0, 255)}:{port}"
                   if verb == "Accepted" else f"1:M {stamp} - Client closed connection id={i} addr=10.1.0.9:{port}")
    return out, t


def generate(out: Path, size_mib: int, seed: int = 42, pods: int = 40) -> dict:
    """Write the folder; return facts (bytes, lines, files)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    target = size_mib * 1024 * 1024
    names = [(f"api-{rng.randrange(16**6):06x}-{i:03d}", i % 3 == 0) for i in range(pods)]
    handles = {name: open(out / f"{name}.log", "w", encoding="utf-8") for name, _ in names}
    server = open(out / "redis-server.log", "w", encoding="utf-8")
    clocks = {name: T0 for name, _ in names}
    server_clock = T0
    written = lines = 0
    # an outage a third of the way in, measured in simulated time per pod
    span_guess = timedelta(seconds=max(60, target / (pods * BLOCK_LINES * 120) * 40))
    outage = (T0 + span_guess / 3, T0 + span_guess / 3 + timedelta(seconds=12))
    try:
        while written < target:
            for name, dotnet in names:
                block, clocks[name] = _pod_lines(rng, name, dotnet, clocks[name], BLOCK_LINES // 4, outage)
                text = "\n".join(block) + "\n"
                handles[name].write(text)
                written += len(text)
                lines += text.count("\n")
            block, server_clock = _server_lines(rng, server_clock, BLOCK_LINES)
            text = "\n".join(block) + "\n"
            server.write(text)
            written += len(text)
            lines += len(block)
    finally:
        for h in handles.values():
            h.close()
        server.close()
    events = (
        "LAST SEEN   TYPE      REASON              OBJECT                       MESSAGE\n"
        "2m          Normal    SuccessfulRescale   horizontalpodautoscaler/api  New size: 60; reason: cpu resource "
        "utilization (percentage of request) above target\n"
    )
    (out / "k8s-events.txt").write_text(events, encoding="utf-8")
    return {"bytes": written, "lines": lines, "files": len(names) + 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pods", type=int, default=40)
    args = ap.parse_args()
    facts = generate(args.out, args.size_mib, args.seed, args.pods)
    print(f"wrote {facts['bytes'] / 2**20:.1f} MiB, {facts['lines']} lines in {facts['files']} files to {args.out}")


if __name__ == "__main__":
    main()
