"""Batch benchmark (not a test): 50 small seeded incidents, `batch` with --jobs 1 and --jobs 2.

Prints incidents per minute and the parent's peak RSS (getrusage RUSAGE_SELF ru_maxrss: the parent
only holds summaries and rendered texts while workers analyze). The parent's peak is monotonic, so
the figure after the second run is the peak over both.

    python benchmarks/bench_batch.py [--incidents 50] [--seed 7] [--work /tmp/pm-bench-batch]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
RETRY_CONFIGS = (
    "retry=Retry(NoBackoff(), -1), max_connections=None, socket_timeout=None",
    "retry=Retry(ConstantBackoff(0.1), 10), max_connections=None, socket_timeout=5",
    "retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=10), 3), max_connections=50, socket_timeout=2",
)
FAILURES = (
    "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.",
    "redis.exceptions.ConnectionError: max number of clients reached",
    "redis.exceptions.TimeoutError: Timeout reading from redis:6379",
)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"


def write_incident(folder: Path, rng: random.Random, start: datetime) -> None:
    """Two worker pods' redis-py logs and a redis-server log: quiet, then a failure burst."""
    folder.mkdir(parents=True)
    config = rng.choice(RETRY_CONFIGS)
    failure = rng.choice(FAILURES)
    burst_at = start + timedelta(minutes=rng.randint(3, 8))
    burst_s = rng.randint(5, 120)
    for pod in ("worker-5c8f7b-" + rng.choice("abcdefgh") * 5, "worker-5c8f7b-" + rng.choice("klmnpqrs") * 5):
        lines = [f"{_ts(start)} INFO app.startup - redis client: Redis(host='redis', port=6379, {config}) redis-py 5.0.1"]
        t = start
        while t < burst_at + timedelta(seconds=burst_s + 60):
            t += timedelta(milliseconds=rng.randint(200, 3000))
            if burst_at <= t <= burst_at + timedelta(seconds=burst_s):
                lines += [f"{_ts(t)} ERROR app.jobs - job failed", "Traceback (most recent call last):",
                          '  File "/app/jobs.py", line 42, in run', "    value = r.get(key)", failure]
            else:
                lines.append(f"{_ts(t)} INFO app.jobs - processed job {rng.randint(1, 9999)}")
        (folder / f"{pod}.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    server = [
        f"1:M {start:%d %b %Y %H:%M:%S}.000 * Redis version=7.2.4, bits=64, commit=00000000, modified=0, pid=1, just started",
        f"1:M {burst_at:%d %b %Y %H:%M:%S}.000 # User requested shutdown...",
        f"1:M {burst_at + timedelta(seconds=burst_s):%d %b %Y %H:%M:%S}.000 * Ready to accept connections tcp",
    ]
    (folder / "redis-server.log").write_text("\n".join(server) + "\n", encoding="utf-8")


def generate(root: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        start = T0 + timedelta(days=3 * i, hours=rng.randint(0, 20))
        write_incident(root / f"incident-{i:03d}", rng, start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work", type=Path, default=Path("/tmp/pm-bench-batch"))
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from postmortem.batch.run import run_batch

    shutil.rmtree(args.work, ignore_errors=True)
    generate(args.work / "in", args.incidents, args.seed)
    size = sum(p.stat().st_size for p in (args.work / "in").rglob("*") if p.is_file())
    print(f"{args.incidents} incidents, {size / 1024:.0f} KiB in total, seed {args.seed}")
    for jobs in (1, 2):
        t = time.perf_counter()
        res = run_batch(args.work / "in", args.work / f"out-{jobs}", jobs=jobs, force=True)
        secs = time.perf_counter() - t
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(f"--jobs {jobs}: {res.analyzed} analyzed, {len(res.failed)} failed in {secs:.1f} s = "
              f"{60 * res.analyzed / secs:.0f} incidents/min; parent peak RSS {rss_mib:.0f} MiB")
        for inc in res.failed:
            print(f"  failed: {inc.name}: {inc.error}")


if __name__ == "__main__":
    main()
