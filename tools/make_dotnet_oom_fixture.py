"""Generate tests/data/dotnet-oom-4/ and tests/data/dotnet-oom-16/: .NET fleets whose writes Redis refused at
maxmemory (`StackExchange.Redis.RedisServerException: OOM command not allowed when used memory > 'maxmemory'.`).

Why generated: no .NET fleet can run here, so the pods' logs are written from the library's own source (the
server's reply becomes the RedisServerException message verbatim: `ResultProcessor.ServerFail`, 2.7.33) and the
loggers' layouts (Serilog text, ASP.NET Core console under `kubectl logs --timestamps`) by a seeded script:
same seed, same bytes. The truth each folder encodes is written beside it as `<folder>.facts.json` (never read
by the analyzer); `<folder>.README.md` says where each layout came from.

Story (2026-06-03, UTC): ASP.NET Core pods (StackExchange.Redis 2.7.33) share one redis-server 7.2
(`redis-cache-0`, `maxmemory 2gb`, `maxmemory-policy volatile-lru`, loglevel notice). A catalog import fills
memory with keys that have no TTL; once volatile-lru has evicted every key with a TTL, Redis refuses every
write with OOM while reads keep working, until an operator switches the policy to allkeys-lru (`CONFIG SET`,
not logged at notice level). The writer pods log each refused page-cache write (awaited `StringSetAsync`) and
each refused session touch (sync `HashSet`); read-only pods log only their connection string. redis-server
logs nothing about the refusals (it never does); redis_exporter's memory and eviction series show it.

Usage: python tools/make_dotnet_oom_fixture.py [--out-dir tests/data]
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

# run as a script: its folder is on the path; the .NET storm fixture's stamps are the same layouts
from make_dotnet_fixture import kubectl_ts, redis_ts, serilog_ts

START = datetime(2026, 6, 3, 10, 12, 0, tzinfo=UTC)  # logs and metrics begin (2 min before memory is full)
FULL = START + timedelta(minutes=2, seconds=10)  # used_memory reaches maxmemory; volatile-lru evicts TTL keys
OOM_START = FULL + timedelta(seconds=10)  # no key with a TTL left: every write is refused
POLICY_FIX = OOM_START + timedelta(minutes=3, seconds=30)  # CONFIG SET maxmemory-policy allkeys-lru
END = POLICY_FIX + timedelta(minutes=1, seconds=40)
STEP_S = 10  # Prometheus scrape interval of redis_exporter

ENDPOINT = "redis-cache.shop.svc.cluster.local:6379"
LIB = "2.7.33.41805"
PASSWORD = "C4che-Pr0d-9z!k"
MAXMEMORY = 2 * 1024**3

# (fixture, seed, writer pods in Serilog text, writer pods in ASP.NET Core console, read-only pods)
FLEETS = (
    ("dotnet-oom-4", 305, ("catalog-api-6b7f9-k2x8d", "catalog-api-6b7f9-q9w4m"),
     ("cart-api-5d8c4-h7n2v", "cart-api-5d8c4-t3r6p"), ()),
    ("dotnet-oom-16", 316,
     ("catalog-api-6b7f9-k2x8d", "catalog-api-6b7f9-q9w4m", "catalog-api-6b7f9-b5v7c", "catalog-api-6b7f9-f8j2n",
      "catalog-api-6b7f9-m4p9s", "catalog-api-6b7f9-r7t3w", "catalog-api-6b7f9-w2z6h", "catalog-api-6b7f9-x6c8q"),
     ("cart-api-5d8c4-h7n2v", "cart-api-5d8c4-t3r6p", "cart-api-5d8c4-c9d4f", "cart-api-5d8c4-g6k8m",
      "cart-api-5d8c4-n3q7x", "cart-api-5d8c4-v5h2b"),
     ("search-api-7c6d2-j4l9r", "search-api-7c6d2-p8s3y")),
)

OOM = "StackExchange.Redis.RedisServerException: OOM command not allowed when used memory > 'maxmemory'."
# awaited StringSetAsync: the exception was set on the task, never thrown inside the library, so the trace
# starts at the app's await (as in the public noeviction tester log cited in the README)
FRAMES_ASYNC = (
    "   at {ns}.Cache.PageCache.SetAsync(String key, Byte[] value, TimeSpan ttl) in /src/{ns}/Cache/PageCache.cs:line 73",
    "   at {ns}.Controllers.ProductsController.GetAsync(Int32 id, CancellationToken ct) in "
    "/src/{ns}/Controllers/ProductsController.cs:line 41",
)
# sync HashSet: ExecuteSyncImpl throws (ConnectionMultiplexer.cs line 2109, RedisBase.cs 62, RedisDatabase.cs 556
# in 2.7.33; /_/src is the library's deterministic source path)
FRAMES_SYNC = (
    "   at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message message, ResultProcessor`1 processor, "
    "ServerEndPoint server, T defaultValue) in /_/src/StackExchange.Redis/ConnectionMultiplexer.cs:line 2109",
    "   at StackExchange.Redis.RedisBase.ExecuteSync[T](Message message, ResultProcessor`1 processor, ServerEndPoint server, "
    "T defaultValue) in /_/src/StackExchange.Redis/RedisBase.cs:line 62",
    "   at StackExchange.Redis.RedisDatabase.HashSet(RedisKey key, RedisValue hashField, RedisValue value, When when, "
    "CommandFlags flags) in /_/src/StackExchange.Redis/RedisDatabase.cs:line 556",
    "   at {ns}.Sessions.SessionStore.Touch(String sessionId) in /src/{ns}/Sessions/SessionStore.cs:line 44",
)


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PodLog:
    """One pod's console output: Serilog text (`{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {Message:lj}
    {NewLine}{Exception}`), or ASP.NET Core's simple console formatter (`level: Category[EventId]`, message and
    exception lines indented by 6) under `kubectl logs --timestamps`."""

    def __init__(self, layout: str) -> None:
        self.layout, self.records = layout, []

    def add(self, t: datetime, level: str, category: str, text: str, extra: tuple[str, ...] = (), event_id: int = 0) -> None:
        self.records.append((t, level, category, text, extra, event_id))

    def render(self) -> str:
        out: list[str] = []
        for t, level, category, text, extra, event_id in sorted(self.records, key=lambda r: r[0]):
            if self.layout == "serilog":
                out.append(f"{serilog_ts(t)} [{ {'info': 'INF', 'warn': 'WRN', 'fail': 'ERR'}[level] }] {text}")
                out.extend(extra)
            else:
                prefix = kubectl_ts(t) + " "
                out.append(f"{prefix}{level}: {category}[{event_id}]")
                out.extend(prefix + "      " + line for line in (text,) + extra)
        return "\n".join(out) + "\n"


def connection_string(pod: str) -> str:
    return (f"{ENDPOINT},password={PASSWORD},abortConnect=false,connectTimeout=5000,syncTimeout=5000,"
            f"connectRetry=3,name={pod}")


def pod_log(rng: random.Random, pod: str, layout: str, writer: bool) -> tuple[PodLog, dict]:
    log = PodLog(layout)
    mel = layout == "mel"
    ns = "Cart.Api" if pod.startswith("cart") else "Search.Api" if pod.startswith("search") else "Catalog.Api"
    counts = {"page_cache_writes_refused": 0, "session_touches_refused": 0, "first_refusal": None, "last_refusal": None}
    t0 = START + timedelta(milliseconds=rng.randint(100, 900))
    log.add(t0, "info", f"{ns}.Cache.RedisConnectionFactory", f"Redis connection: {connection_string(pod)}")
    route = "/api/cart" if ns == "Cart.Api" else "/api/search" if ns == "Search.Api" else "/api/products"
    t = t0 + timedelta(milliseconds=rng.randint(500, 2500))
    while t < END:  # reads keep working throughout
        dur = rng.uniform(2, 30)
        if mel:
            log.add(t, "info", "Microsoft.AspNetCore.Hosting.Diagnostics",
                    f"Request finished HTTP/1.1 GET http://{pod.split('-')[0]}{route}/{rng.randint(1000, 99999)} - 200 - "
                    f"application/json;+charset=utf-8 {dur:.4f}ms", event_id=2)
        else:
            log.add(t, "info", "", f"HTTP GET {route}/{rng.randint(1000, 99999)} responded 200 in {dur:.4f} ms")
        t += timedelta(milliseconds=rng.randint(2000, 4000))
    if not writer:
        return log, counts
    refusals: list[datetime] = []
    # page-cache writes (awaited StringSetAsync): the app logs a warning and serves the page uncached
    t = OOM_START + timedelta(milliseconds=rng.randint(20, 3000))
    while t < POLICY_FIX:
        key = f"{'cart' if ns == 'Cart.Api' else 'product'}:{rng.randint(10000, 99999)}"
        frames = tuple(f.replace("{ns}", ns) for f in FRAMES_ASYNC)
        log.add(t, "warn", f"{ns}.Cache.PageCache", f"Page cache write failed for {key}", (OOM,) + frames)
        counts["page_cache_writes_refused"] += 1
        refusals.append(t)
        t += timedelta(milliseconds=rng.randint(2500, 5500))
    # session touches (sync HashSet): the request fails
    t = OOM_START + timedelta(milliseconds=rng.randint(500, 9000))
    while t < POLICY_FIX:
        sid = f"{rng.getrandbits(64):016x}"
        frames = tuple(f.replace("{ns}", ns) for f in FRAMES_SYNC)
        if mel:  # unhandled: ASP.NET Core's exception handler logs it (ExceptionHandlerMiddleware, event 1)
            log.add(t, "fail", "Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware",
                    "An unhandled exception has occurred while executing the request.", (OOM,) + frames, event_id=1)
        else:  # wrapped by the app: Exception.ToString() prints the inner exception after ` ---> `
            outer = f"{ns}.Sessions.SessionStoreException: Could not touch session {sid}"
            log.add(t, "fail", "", f"Session touch failed for {sid}",
                    (f"{outer} ---> {OOM}",) + frames + ("   --- End of inner exception stack trace ---",
                    f"   at {ns}.Sessions.SessionStore.Touch(String sessionId) in /src/{ns}/Sessions/SessionStore.cs:line 49",
                    f"   at {ns}.Sessions.SessionMiddleware.InvokeAsync(HttpContext context) in "
                    f"/src/{ns}/Sessions/SessionMiddleware.cs:line 27"))
        counts["session_touches_refused"] += 1
        refusals.append(t)
        t += timedelta(milliseconds=rng.randint(8000, 15000))
    counts["first_refusal"], counts["last_refusal"] = iso(min(refusals)), iso(max(refusals))
    return log, counts


def server_log(rng: random.Random) -> str:
    """redis-server 7.2 at loglevel notice (formats.md §3.1): RDB saves every minute; it logs no OOM refusal."""
    out: list[str] = []
    t = START - timedelta(seconds=35)
    pid = 4102
    while t < END:
        child = t + timedelta(milliseconds=rng.randint(2, 9))
        done = child + timedelta(milliseconds=rng.randint(900, 1600))
        out.append(f"1:M {redis_ts(t)} * 10000 changes in 60 seconds. Saving...")
        out.append(f"1:M {redis_ts(child)} * Background saving started by pid {pid}")
        out.append(f"{pid}:C {redis_ts(done)} * DB saved on disk")
        cow = rng.randint(8, 40)
        out.append(f"{pid}:C {redis_ts(done + timedelta(milliseconds=1))} * Fork CoW for RDB: current {cow} MB, "
                   f"peak {cow} MB, average {max(1, cow // 2)} MB")
        out.append(f"1:M {redis_ts(done + timedelta(milliseconds=rng.randint(90, 110)))} * Background saving terminated "
                   "with success")
        pid += rng.randint(1, 3)
        t += timedelta(seconds=60, milliseconds=rng.randint(3, 40))
    return "\n".join(out) + "\n"


def metrics(rng: random.Random, writers: int) -> tuple[str, dict]:
    """Grafana "Download CSV" (series joined by time, formatted data off: epoch ms, BOM, CRLF, no final newline)."""
    labels = 'instance="10.244.5.21:9121", job="redis-cache-metrics", namespace="shop", pod="redis-cache-0"'
    names = ("redis_memory_used_bytes", "redis_memory_max_bytes", "redis_evicted_keys_total")
    rows = [",".join(['"Time"'] + ['"' + f"{m}{{{labels}}}".replace('"', '""') + '"' for m in names])]
    evicted, used = 48_211, MAXMEMORY - 380 * 1024**2
    first_increase = None
    t = START
    while t <= END:
        if t < FULL:  # the import fills memory
            used = min(MAXMEMORY - 4 * 1024**2, used + 30 * 1024**2 + rng.randint(0, 4 * 1024**2))
        else:  # at the limit: volatile-lru drains the TTL keys, then nothing is evictable until the policy change
            used = MAXMEMORY - rng.randint(0, 512 * 1024)
        if t > START:
            if FULL < t <= OOM_START:
                inc = 900 * writers + rng.randint(0, 200)
            elif t > POLICY_FIX:
                inc = 150 * writers + rng.randint(0, 100)
            else:
                inc = 0
            if inc and first_increase is None:
                first_increase = t
            evicted += inc
        rows.append(f"{int(t.timestamp() * 1000)},{used},{MAXMEMORY},{evicted}")
        t += timedelta(seconds=STEP_S)
    return "\ufeff" + "\r\n".join(rows), {"evicted_keys_total": evicted - 48_211, "first_increase": iso(first_increase)}


def build(out: Path, seed: int, serilog: tuple[str, ...], mel: tuple[str, ...], readers: tuple[str, ...]) -> dict:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    pods: dict[str, dict] = {}
    for pod in serilog + mel + readers:
        layout = "mel" if pod in mel else "serilog"
        log, counts = pod_log(rng, pod, layout, pod not in readers)
        (out / f"{pod}.log").write_text(log.render(), encoding="utf-8", newline="\n")
        pods[pod] = {"layout": "ASP.NET Core console + kubectl --timestamps" if layout == "mel" else "serilog text",
                     "writer": pod not in readers, **counts,
                     "refused": counts["page_cache_writes_refused"] + counts["session_touches_refused"]}
    (out / "redis-cache-0.log").write_text(server_log(rng), encoding="utf-8", newline="\n")
    text, mfacts = metrics(rng, len(serilog) + len(mel))
    (out / "redis-cache-memory-data-as-joinbyfield-2026-06-03 10_25_02.csv").write_bytes(text.encode("utf-8"))
    return {"pods": pods, "metrics": mfacts}


def facts(name: str, seed: int, built: dict) -> dict:
    pods = built["pods"]
    refused = {p: v for p, v in pods.items() if v["refused"]}
    return {
        "fixture": f"tests/data/{name}",
        "synthetic": True,
        "generator": "tools/make_dotnet_oom_fixture.py",
        "seed": seed,
        "redis": {"endpoint": ENDPOINT, "pod": "redis-cache-0", "maxmemory": MAXMEMORY,
                  "server": "redis-server 7.2 (loglevel notice, maxmemory 2gb, maxmemory-policy volatile-lru)"},
        "client": {"library": "StackExchange.Redis", "version": LIB},
        "memory_full": iso(FULL),
        "writes_refused": {
            "total": sum(v["refused"] for v in pods.values()),
            "page_cache_writes": sum(v["page_cache_writes_refused"] for v in pods.values()),
            "session_touches": sum(v["session_touches_refused"] for v in pods.values()),
            "pods": len(refused),
            "first": min(v["first_refusal"] for v in refused.values()),
            "last": max(v["last_refusal"] for v in refused.values()),
            "ended_by": f"CONFIG SET maxmemory-policy allkeys-lru at {iso(POLICY_FIX)} (not in any log)",
        },
        "evicted_keys": built["metrics"],
        "pods": {"count": len(pods), "names": sorted(pods), "per_pod": pods},
        "server_log": "redis-cache-0.log: notice level, RDB saves only; redis-server logs no OOM refusal",
        "a_correct_analysis_says": [
            f"Redis at maxmemory refused {sum(v['refused'] for v in pods.values())} writes from {len(refused)} of "
            f"{len(pods)} pods; that is every client-side problem, so it opens the summary",
            "no outage and no storm: reads kept working and no connection failed",
            "keys were evicted (redis_evicted_keys_total) before the refusals and after the policy change",
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=Path("tests/data"))
    args = ap.parse_args()
    for name, seed, serilog, mel, readers in FLEETS:
        built = build(args.out_dir / name, seed, serilog, mel, readers)
        path = args.out_dir / f"{name}.facts.json"
        path.write_text(json.dumps(facts(name, seed, built), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out_dir / name} and {path}")


if __name__ == "__main__":
    main()
