"""Generate tests/data/dotnet-metrics-storm/ (issue #15): a .NET fleet whose reconnect storm shows only in
metrics and client logs.

Why generated: no real .NET fleet can be recorded here, so the fixture is written from the library's own
message templates (formats.md §1, §3, §5.3) by a seeded script. Same seed → same bytes, so the fixture can
be re-made and reviewed. The truth the files encode is written beside the folder as
`dotnet-metrics-storm.facts.json` (never read by the analyzer).

Story: 8 ASP.NET Core pods (StackExchange.Redis 2.6.122) talk to a self-hosted redis-server 7.2
(`redis-master-0`, loglevel notice). A 5 s network interruption resets the clients' connections; Redis runs
throughout and its notice-level log only shows RDB saves. After the network returns, a legacy code path that
opens a ConnectionMultiplexer per request (and retries without backoff) opens ~410 connections/s for 25 s:
connected_clients 803 -> 2,173 in the redis_exporter metrics, ConnectionRestored / Reconnecting lines in the
pod logs. Idle leaked connections are closed by the server's `timeout 60` afterwards (not logged at notice).

Usage: python tools/make_dotnet_fixture.py [--out tests/data/dotnet-metrics-storm]
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 15
START = datetime(2026, 5, 12, 9, 40, 0, tzinfo=UTC)  # metrics and logs begin (2 min baseline)
OUTAGE_START = START + timedelta(minutes=2)  # network interruption: connections reset
OUTAGE_END = OUTAGE_START + timedelta(seconds=5)  # network back, first ConnectionRestored
STORM_END = OUTAGE_END + timedelta(seconds=25)  # last reconnect attempt; peak connected clients
END = STORM_END + timedelta(minutes=2)  # 2 min after the storm
STEP_S = 5  # Prometheus scrape interval of redis_exporter

ENDPOINT = "redis-master.data.svc.cluster.local:6379"
LIB = "2.6.122.38350"
PASSWORD = "Rd1s-Pr0d-7x!q"
SHARED_CS = f"{ENDPOINT},password={PASSWORD},abortConnect=false,connectTimeout=5000,syncTimeout=5000,connectRetry=3"
LEGACY_CS = f"{ENDPOINT},password={PASSWORD},abortConnect=true,connectTimeout=5000,syncTimeout=5000,connectRetry=1"

BASE_CLIENTS = 803
PEAK_CLIENTS = 2173
BASE_RATE = 14  # new connections per second, baseline (legacy path: 2 connections per multiplexer)
STORM_RATE = 410
COUNTER_START = 1_284_566

SERILOG_PODS = ("api-7c9d8-x2k8p", "api-7c9d8-m4q7z", "api-7c9d8-t9wbn", "api-7c9d8-h2rvc", "api-7c9d8-p6jds")
MEL_PODS = ("orders-5b6f4-kx8nd", "orders-5b6f4-w3zfq", "orders-5b6f4-c7vlm")
LEGACY_PODS = ("api-7c9d8-x2k8p", "api-7c9d8-t9wbn", "orders-5b6f4-kx8nd")  # log the abortConnect=true string


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def serilog_ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} +00:00"


def kubectl_ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}" + "000Z"


def redis_ts(t: datetime) -> str:
    return t.strftime("%d %b %Y %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def pools(rng: random.Random) -> str:
    busy = rng.randint(1, 4)  # at or below Min: no thread-pool starvation in this incident
    return (f"IOCP: (Busy=0,Free=1000,Min=4,Max=1000), WORKER: (Busy={busy},Free={32767 - busy},Min=4,Max=32767), "
            f"POOL: (Threads={busy + 8},QueuedItems={rng.randint(0, 3)},CompletedItems={rng.randint(300000, 900000)},"
            f"Timers={rng.randint(8, 30)})")


def endpoint_failure(rng: random.Random, kind: str) -> str:
    """RecordConnectionFailed text (formats.md §1.6, 2.x)."""
    if kind == "reset":
        return (f"SocketFailure (ReadSocketError/ConnectionReset, last-recv: {rng.randint(4, 64)}) on {ENDPOINT}/Interactive, "
                f"Idle/ReadAsync, last: GET, origin: ReadFromPipe, outstanding: {rng.randint(1, 6)}, last-read: 0s ago, "
                "last-write: 0s ago, keep-alive: 60s, state: ConnectedEstablished, mgr: 10 of 10 available, in: 0, "
                f"in-pipe: 0, out-pipe: 0, last-heartbeat: 0s ago, global: 0s ago, v: {LIB}")
    return (f"UnableToConnect on {ENDPOINT}/Interactive, Initializing/NotStarted, last: NONE, origin: BeginConnectAsync, "
            f"outstanding: 0, last-read: {rng.randint(1, 5)}s ago, last-write: {rng.randint(1, 5)}s ago, keep-alive: 60s, "
            f"state: Connecting, mgr: 10 of 10 available, last-heartbeat: never, global: 0s ago, v: {LIB}")


def no_connection(rng: random.Random, pod: str, key: str, inner: str, mc: str) -> str:
    """NoConnectionAvailable with the common fields (formats.md §1.4, 2.6)."""
    return (f"StackExchange.Redis.RedisConnectionException: No connection is active/available to service this operation: "
            f"GET {key}; {inner}, inst: 0, qu: 0, qs: 0, aw: False, bw: Inactive, rs: NotStarted, ws: Initializing, in: 0, "
            f"last-in: 0, cur-in: 0, sync-ops: {rng.randint(0, 40)}, async-ops: {rng.randint(50000, 150000)}, "
            f"serverEndpoint: {ENDPOINT}, conn-sec: n/a, aoc: 0, mc: {mc}, mgr: 10 of 10 available, "
            f"clientName: {pod}(SE.Redis-v{LIB}), {pools(rng)}, v: {LIB}")


def not_possible(rng: random.Random) -> str:
    """UnableToConnect from Connect() with abortConnect=true (formats.md §1.5, 2.6.96+)."""
    return ("StackExchange.Redis.RedisConnectionException: It was not possible to connect to the redis server(s). "
            "Error connecting right now. To allow this multiplexer to continue retrying until it's able to connect, use "
            "abortConnect=false in your connection string or AbortOnConnectFail=false; in your code. "
            + endpoint_failure(rng, "connect"))


FRAMES_GET = (
    "   at StackExchange.Redis.ConnectionMultiplexer.ThrowFailed[T](TaskCompletionSource`1 source, Exception unthrownException)",
    "   at StackExchange.Redis.ConnectionMultiplexer.ExecuteAsyncImpl[T](Message message, ResultProcessor`1 processor, "
    "Object state, ServerEndPoint server)",
    "   at Shop.Api.Cache.{svc}.GetAsync(String key) in /src/Shop.Api/Cache/{svc}.cs:line 48",
)
FRAMES_CONNECT = (
    "   at StackExchange.Redis.ConnectionMultiplexer.ConnectImpl(ConfigurationOptions configuration, TextWriter log)",
    "   at Shop.Api.Cache.RedisConnectionFactory.Create() in /src/Shop.Api/Cache/RedisConnectionFactory.cs:line 31",
)


class PodLog:
    """One pod's console output in its layout: Serilog text, or ASP.NET Core console under `kubectl logs --timestamps`."""

    def __init__(self, pod: str, layout: str) -> None:
        self.pod, self.layout, self.records = pod, layout, []

    def add(self, t: datetime, level: str, category: str, text: str, extra: tuple[str, ...] = ()) -> None:
        self.records.append((t, level, category, text, extra))

    def render(self) -> str:
        out: list[str] = []
        for t, level, category, text, extra in sorted(self.records, key=lambda r: r[0]):
            if self.layout == "serilog":
                out.append(f"{serilog_ts(t)} [{ {'info': 'INF', 'warn': 'WRN', 'fail': 'ERR'}[level] }] {text}")
                out.extend(extra)
            else:
                prefix = kubectl_ts(t) + " "
                event_id = 2 if category.endswith("Hosting.Diagnostics") else 0
                out.append(f"{prefix}{level}: {category}[{event_id}]")
                out.append(f"{prefix}      {text}")
                out.extend(prefix + line for line in extra)
        return "\n".join(out) + "\n"


def pod_log(rng: random.Random, pod: str, layout: str) -> tuple[PodLog, dict]:
    log = PodLog(pod, layout)
    counts = {"no_connection": 0, "unable_to_connect": 0, "connection_failed": 0, "restored": 0, "reconnecting": 0}
    svc = "CartCache" if pod.startswith("api") else "OrderCache"
    path = "/api/cart" if pod.startswith("api") else "/api/orders"
    mel = layout == "mel"
    # baseline and after: normal request lines every ~4 s
    t = START + timedelta(milliseconds=rng.randint(0, 2500))
    while t < END:
        if not (OUTAGE_START <= t < STORM_END):
            dur = rng.uniform(3, 40)
            if mel:
                log.add(t, "info", "Microsoft.AspNetCore.Hosting.Diagnostics",
                        f"Request finished HTTP/1.1 GET http://{pod.split('-')[0]}{path}/{rng.randint(1000, 99999)} - 200 - "
                        f"application/json;+charset=utf-8 {dur:.4f}ms")
            else:
                log.add(t, "info", "", f"HTTP GET {path}/{rng.randint(1000, 99999)} responded 200 in {dur:.4f} ms")
        t += timedelta(milliseconds=rng.randint(3000, 5000))
    # outage: the shared multiplexer's ConnectionFailed handler, then failing requests
    t0 = OUTAGE_START + timedelta(milliseconds=rng.randint(5, 250))
    log.add(t0, "warn", "Shop.Api.Cache.RedisEvents",
            f"Redis ConnectionFailed on {ENDPOINT} (Interactive): SocketFailure",
            (f"StackExchange.Redis.RedisConnectionException: {endpoint_failure(rng, 'reset')}",)
            if not mel else (f"      StackExchange.Redis.RedisConnectionException: {endpoint_failure(rng, 'reset')}",))
    counts["connection_failed"] += 1
    t = t0 + timedelta(milliseconds=rng.randint(150, 400))
    n = 0
    while t < OUTAGE_END:
        key = f"{'cart' if pod.startswith('api') else 'order'}:{rng.randint(10000, 99999)}"
        inner = endpoint_failure(rng, "reset" if n == 0 else "connect")
        exc = no_connection(rng, pod, key, inner, f"{n + 2}/1/1")
        frames = tuple(f.replace("{svc}", svc) for f in FRAMES_GET)
        if mel:
            log.add(t, "fail", f"Shop.Api.Cache.{svc}", f"Cache read failed for {key}",
                    tuple("      " + x for x in (exc,) + frames))
        else:
            log.add(t, "fail", "", f"Cache read failed for {key}", (exc,) + frames)
        counts["no_connection"] += 1
        n += 1
        t += timedelta(milliseconds=rng.randint(450, 900))
    # network back: ConnectionRestored on the shared multiplexer
    tr = OUTAGE_END + timedelta(milliseconds=rng.randint(20, 600))
    log.add(tr, "info", "Shop.Api.Cache.RedisEvents", f"Redis ConnectionRestored on {ENDPOINT} (Interactive)")
    counts["restored"] += 1
    # storm: the per-request factory reconnects without backoff; some connects still time out
    t = OUTAGE_END + timedelta(milliseconds=rng.randint(100, 700))
    attempt = 0
    logged_cs = False
    while t < STORM_END:
        attempt += 1
        log.add(t, "info", "Shop.Api.Cache.RedisConnectionFactory",
                f"Reconnecting to Redis {ENDPOINT} with a new ConnectionMultiplexer (attempt {attempt}, clientName {pod}(SE.Redis-v{LIB}))")
        counts["reconnecting"] += 1
        if pod in LEGACY_PODS and not logged_cs:
            log.add(t + timedelta(milliseconds=1), "warn", "Shop.Api.Cache.RedisConnectionFactory",
                    f"Redis connection string for the report cache: {LEGACY_CS}")
            logged_cs = True
        if rng.random() < 0.3 and t < OUTAGE_END + timedelta(seconds=15):
            tf = t + timedelta(milliseconds=rng.randint(900, 1600))
            frames = FRAMES_CONNECT
            body = (not_possible(rng),) + frames
            log.add(tf, "fail", "Shop.Api.Cache.RedisConnectionFactory",
                    f"Redis connect failed (attempt {attempt})", tuple(("      " if mel else "") + x for x in body))
            counts["unable_to_connect"] += 1
        elif rng.random() < 0.25:
            log.add(t + timedelta(milliseconds=rng.randint(5, 60)), "info", "Shop.Api.Cache.RedisConnectionFactory",
                    f"Reconnected to Redis at {ENDPOINT} after {attempt} attempts")
            counts["restored"] += 1
        t += timedelta(milliseconds=rng.randint(700, 1400))
    return log, counts


def server_log(rng: random.Random) -> str:
    """redis-server 7.2 at loglevel notice: RDB saves every minute, nothing about connections (formats.md §3.1)."""
    out = [f"1:M {redis_ts(START - timedelta(seconds=40))} * 10000 changes in 60 seconds. Saving..."]
    t = START - timedelta(seconds=40)
    pid = 2811
    while t < END:
        child = t + timedelta(milliseconds=rng.randint(2, 9))
        done = child + timedelta(milliseconds=rng.randint(350, 700))
        if t > START - timedelta(seconds=40):
            out.append(f"1:M {redis_ts(t)} * 10000 changes in 60 seconds. Saving...")
        out.append(f"1:M {redis_ts(child)} * Background saving started by pid {pid}")
        out.append(f"{pid}:C {redis_ts(done)} * DB saved on disk")
        cow = rng.randint(2, 6)
        out.append(f"{pid}:C {redis_ts(done + timedelta(milliseconds=1))} * Fork CoW for RDB: current {cow} MB, peak {cow} MB, "
                   f"average {max(1, cow - 2)} MB")
        out.append(f"1:M {redis_ts(done + timedelta(milliseconds=rng.randint(90, 110)))} * Background saving terminated with success")
        pid += rng.randint(1, 3)
        t += timedelta(seconds=60, milliseconds=rng.randint(3, 40))
    return "\n".join(out) + "\n"


def metrics(rng: random.Random) -> tuple[str, dict]:
    """Grafana "Download CSV" (series joined by time, formatted data off: epoch ms, raw numbers, BOM, CRLF)."""
    labels = 'instance="10.244.3.17:9121", job="redis-master-metrics", namespace="data", pod="redis-master-0"'
    hdr = ['"Time"'] + ['"' + f"{m}{{{labels}}}".replace('"', '""') + '"' for m in (
        "redis_connected_clients", "redis_connections_received_total", "redis_rejected_connections_total")]
    rows = [",".join(hdr)]
    counter = COUNTER_START
    t = START
    series = []
    storm_steps = int((STORM_END - OUTAGE_END).total_seconds() // STEP_S)
    k = 0
    while t <= END:
        if t <= OUTAGE_START:
            clients = BASE_CLIENTS if t == OUTAGE_START else BASE_CLIENTS + rng.randint(-6, 6)
        elif t <= OUTAGE_END:
            clients = BASE_CLIENTS - rng.randint(2, 9)  # server unaware of the reset connections
        elif t <= STORM_END:
            k += 1
            clients = BASE_CLIENTS + round((PEAK_CLIENTS - BASE_CLIENTS) * k / storm_steps)
        else:
            since = (t - STORM_END).total_seconds()
            if since < 30:
                clients = PEAK_CLIENTS - rng.randint(0, 12)
            elif since < 40:  # pre-outage connections idle since the reset: closed by `timeout 60`
                clients = PEAK_CLIENTS - 790 - rng.randint(0, 10)
            elif since < 70:  # leaked storm multiplexers closed by the idle timeout
                clients = round(PEAK_CLIENTS - 790 - (PEAK_CLIENTS - 790 - BASE_CLIENTS - 12) * (since - 35) / 35)
            else:
                clients = BASE_CLIENTS + rng.randint(4, 16)
        if t > START:
            if OUTAGE_START < t <= OUTAGE_END:
                inc = 0
            elif OUTAGE_END < t <= STORM_END:
                inc = STORM_RATE * STEP_S + rng.randint(-60, 60)
            else:
                inc = BASE_RATE * STEP_S + rng.randint(-8, 8)
            counter += inc
        series.append((t, clients, counter))
        rows.append(f"{ms(t)},{clients},{counter},0")
        t += timedelta(seconds=STEP_S)
    text = "\ufeff" + "\r\n".join(rows)  # Grafana writes no final newline
    storm = [(a, b) for a, b in zip(series, series[1:], strict=False) if OUTAGE_END < b[0] <= STORM_END]
    rate = (storm[-1][1][2] - storm[0][0][2]) / (storm[-1][1][0] - storm[0][0][0]).total_seconds()
    base = [(a, b) for a, b in zip(series, series[1:], strict=False) if b[0] <= OUTAGE_START]
    base_rate = (base[-1][1][2] - base[0][0][2]) / (base[-1][1][0] - base[0][0][0]).total_seconds()
    facts = {
        "connected_clients_before": next(c for ts, c, _ in series if ts == OUTAGE_START),
        "connected_clients_peak": max(c for _, c, _ in series),
        "connected_clients_peak_at": max(series, key=lambda s: s[1])[0].isoformat().replace("+00:00", "Z"),
        "new_connections_per_second_storm": round(rate, 1),
        "new_connections_per_second_baseline": round(base_rate, 1),
        "connections_received_in_storm": storm[-1][1][2] - storm[0][0][2],
        "samples": len(series),
        "step_seconds": STEP_S,
    }
    return text, facts


def build(out: Path) -> dict:
    rng = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)
    pods: dict[str, dict] = {}
    for pod in SERILOG_PODS + MEL_PODS:
        log, counts = pod_log(rng, pod, "serilog" if pod in SERILOG_PODS else "mel")
        (out / f"{pod}.log").write_text(log.render(), encoding="utf-8", newline="\n")
        pods[pod] = {"layout": "serilog text" if log.layout == "serilog" else "ASP.NET Core console + kubectl --timestamps",
                     "abortConnect_true_logged": pod in LEGACY_PODS, **counts}
    (out / "redis-master-0.log").write_text(server_log(rng), encoding="utf-8", newline="\n")
    text, mfacts = metrics(rng)
    (out / "redis-connections-data-as-joinbyfield-2026-05-12 09_47_10.csv").write_bytes(text.encode("utf-8"))
    return {"pods": pods, "metrics": mfacts}


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def facts(built: dict) -> dict:
    m = built["metrics"]
    return {
        "fixture": "tests/data/dotnet-metrics-storm",
        "synthetic": True,
        "generator": "tools/make_dotnet_fixture.py",
        "seed": SEED,
        "issue": 15,
        "redis": {"endpoint": ENDPOINT, "server": "redis-server 7.2 (loglevel notice, timeout 60)", "pod": "redis-master-0"},
        "client": {"library": "StackExchange.Redis", "version": LIB, "pattern": "ConnectionMultiplexer per request (legacy "
                   "report cache) next to a shared multiplexer; app-level reconnect without backoff"},
        "outage": {"kind": "network interruption (connections reset, connects time out); redis-server kept running",
                   "start": iso(OUTAGE_START), "end": iso(OUTAGE_END),
                   "seconds": (OUTAGE_END - OUTAGE_START).total_seconds()},
        "storm": {"start": iso(OUTAGE_END), "end": iso(STORM_END), "seconds": (STORM_END - OUTAGE_END).total_seconds(),
                  "new_connections_per_second": m["new_connections_per_second_storm"],
                  "new_connections_per_second_baseline": m["new_connections_per_second_baseline"],
                  "connections_received": m["connections_received_in_storm"],
                  "amplification": round(m["new_connections_per_second_storm"] / m["new_connections_per_second_baseline"], 1)},
        "population_before": {"connected_clients": m["connected_clients_before"], "source": "metrics (redis_connected_clients)"},
        "peak_clients": {"connected_clients": m["connected_clients_peak"], "at": m["connected_clients_peak_at"],
                         "source": "metrics (redis_connected_clients)"},
        "pods": {"count": len(built["pods"]), "names": sorted(built["pods"]), "per_pod": built["pods"]},
        "metrics": {"file": "redis-connections-data-as-joinbyfield-2026-05-12 09_47_10.csv", "layout": "Grafana Download CSV",
                    "step_seconds": m["step_seconds"], "samples": m["samples"], "from": iso(START), "to": iso(END)},
        "server_log": "redis-master-0.log: notice level, only RDB save lines; no Accepted/closed lines, no restart",
        "a_correct_analysis_says": [
            "one outage of ~5 s from 09:42:00Z to 09:42:05Z on the one Redis (redis-master-0 / "
            f"{ENDPOINT}), seen by all {len(built['pods'])} pods",
            "a reconnect storm (PM101) after the outage, from metrics and client logs: redis_connections_received_total "
            f"rises ~{round(m['new_connections_per_second_storm'])}/s for ~25 s against "
            f"~{round(m['new_connections_per_second_baseline'])}/s before; connected clients "
            f"{m['connected_clients_before']} -> {m['connected_clients_peak']}",
            "the server log holds no connection lines, so its silence is not evidence against a storm",
            "amplifier: a ConnectionMultiplexer per request with app-level reconnects and no backoff; abortConnect=true "
            "in the legacy connection string logged on some pods",
            "the Redis server did not restart (no startup lines, RDB saves continue every minute)",
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("tests/data/dotnet-metrics-storm"))
    args = ap.parse_args()
    built = build(args.out)
    path = args.out.parent / (args.out.name + ".facts.json")
    path.write_text(json.dumps(facts(built), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and {path}")


if __name__ == "__main__":
    main()
