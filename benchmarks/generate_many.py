"""Seeded generator of a fleet export of many small files (issue #21): one short log per pod, in the
layouts pods really write, plus a few Kubernetes event lists and Prometheus scrapes.

Pod logs (one to `--lines` lines each, default 1) rotate through: Python `logging` lines of a
redis-py app (`%(asctime)s LEVEL logger - message`, redis-py's ConnectionError text from
redis/connection.py), StackExchange.Redis timeouts in the Serilog console layout (`[ERR]`), the same
lines behind a containerd CRI prefix (`<RFC3339Nano> stdout F `, as `kubectl logs`' source files under
/var/log/pods hold them), docker json-file lines (`{"log":...,"stream":...,"time":...}`) and a bare
redis-py exception line with no time. About one pod in five logs a Redis error; the rest is noise.
Every 1,000th file is a `kubectl get events` table or a Prometheus text exposition (redis_exporter
metric names). Same seed and count → same bytes.

    python benchmarks/generate_many.py --files 10000 --out /tmp/pm-many/10k
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 3, 14, 2, 0, 0, tzinfo=UTC)

NOISE = (
    "INFO app.jobs - processed job {n} in {ms} ms",
    'INFO uvicorn.access - 10.1.{a}.{b}:5{n4} - "GET /api/items/{n} HTTP/1.1" 200',
    "DEBUG app.cache - cache hit key=user:{n}",
)
PY_ERR = "ERROR app.cache - cache read failed: Error 111 connecting to redis:6379. Connection refused."
SE_ERR = ("[ERR] Cache failure StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), "
          "next: GET cart:{n}, inst: 0, qu: 0, qs: {qs}, aw: False, bw: SpinningDown, rs: ReadAsync, ws: Idle, "
          "in: 0, serverEndpoint: redis:6379, mc: 1/1/0, mgr: 10 of 10 available, clientName: {pod}, "
          "IOCP: (Busy=0,Free=1000,Min=4,Max=1000), WORKER: (Busy={busy},Free=32719,Min=4,Max=32767), "
          "v: 2.6.122.38350")
SE_INFO = "[INF] Request finished HTTP/1.1 GET /api/cart/{n} - 200 - application/json {ms}.{n4}ms"
BARE = "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused."
EVENTS = ("LAST SEEN   TYPE      REASON              OBJECT                       MESSAGE\n"
          "2m          Warning   BackOff             pod/{pod}                    Back-off restarting failed container\n")
PROM = ('# HELP redis_connected_clients Number of client connections (excluding connections from replicas)\n'
        '# TYPE redis_connected_clients gauge\n'
        'redis_connected_clients{{instance="redis:9121"}} {clients} {ms}\n')


def _pod_line(rng: random.Random, layout: int, pod: str, t: datetime, error: bool) -> str:
    vals = {"n": rng.randint(1000, 999999), "ms": rng.randint(1, 900), "a": rng.randint(0, 255),
            "b": rng.randint(0, 255), "n4": rng.randint(1000, 9999), "qs": rng.randint(1, 90),
            "busy": rng.randint(1, 80), "pod": pod}
    py = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
    se = t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} +00:00"
    if layout == 0:  # Python logging, redis-py
        return f"{py} " + (PY_ERR if error else rng.choice(NOISE)).format(**vals)
    if layout == 1:  # Serilog console, StackExchange.Redis
        return f"{se} " + (SE_ERR if error else SE_INFO).format(**vals)
    if layout == 2:  # containerd CRI file under /var/log/pods
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z stdout F " + f"{py} " + (
            PY_ERR if error else rng.choice(NOISE)).format(**vals)
    if layout == 3:  # docker json-file
        body = f"{se} " + (SE_ERR if error else SE_INFO).format(**vals)
        return json.dumps({"log": body + "\n", "stream": "stdout", "time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
    return BARE if error else f"{py} " + rng.choice(NOISE).format(**vals)  # a bare exception line, no time


def generate(out: Path, files: int, lines: int = 1, seed: int = 42) -> dict:
    """Write `files` files into `out`; return facts (files, lines, bytes, error files)."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    written = total_lines = errors = 0
    for i in range(files):
        pod = f"api-{rng.randrange(16**6):06x}-{i:06d}"
        t = T0 + timedelta(milliseconds=rng.randint(0, 600_000))
        if i % 1000 == 500:
            text, name = EVENTS.format(pod=pod), f"k8s-events-{i:06d}.txt"
        elif i % 1000 == 999:
            text, name = PROM.format(clients=rng.randint(100, 10000), ms=int(t.timestamp() * 1000)), f"metrics-{i:06d}.prom"
        else:
            layout = i % 5
            error = rng.random() < 0.2
            errors += error
            body = []
            for _ in range(rng.randint(1, lines)):
                body.append(_pod_line(rng, layout, pod, t, error))
                t += timedelta(milliseconds=rng.randint(1, 500))
            text, name = "\n".join(body) + "\n", f"{pod}.log"
        (out / name).write_text(text, encoding="utf-8")
        written += len(text.encode())
        total_lines += text.count("\n")
    return {"files": files, "lines": total_lines, "bytes": written, "error_files": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, required=True)
    ap.add_argument("--lines", type=int, default=1, help="lines per pod log: 1 to this many")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    facts = generate(args.out, args.files, args.lines, args.seed)
    print(f"wrote {facts['files']} files, {facts['lines']} lines, {facts['bytes'] / 2**20:.1f} MiB to {args.out}")


if __name__ == "__main__":
    main()
