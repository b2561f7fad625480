"""Record a real Redis incident: a local redis-server, a fleet of redis-py "pods", and a mid-run outage.

Why: parsers and detectors need logs that real software wrote, with the measured truth beside them.
The recorder starts its own redis-server on 127.0.0.1 (verbose log), runs bounded client processes that
log the way applications do, takes Redis down mid-run (SIGTERM and restart, or SIGSTOP/SIGCONT) or fails the
network between the pods and Redis (`reset`, `blackhole`: the pods reach Redis through tools/netrelay.py), polls
INFO every 200 ms, and writes the log folder plus `<folder>.facts.json` next to it (outside the folder,
so the analyzer never reads it as a log). Every child runs in its own process group and is killed by
its PID at the end; a watchdog ends the run after `--timeout` seconds.

    python tools/record_incident.py --scenario storm --out /tmp/incident/storm --seconds 12

The same file is the pod program (`--pod NAME --pod-config JSON`), started with this interpreter.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

HOST = "127.0.0.1"
RELAY = Path(__file__).with_name("netrelay.py")
NETWORK_OUTAGES = ("reset", "blackhole")  # the path fails, not the server: tools/netrelay.py's modes
POLL_INTERVAL = 0.2
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"


@dataclass(frozen=True)
class Scenario:
    """One client fleet and server configuration; every field ends up in the facts file."""

    name: str
    maxclients: int
    pods: int
    workers: int  # handler threads per pod (a ThreadPoolExecutor, like a threaded web worker)
    rate: float  # requests per second per pod
    backoff: str  # redis.backoff class name
    backoff_base: float
    backoff_cap: float
    retries: int  # redis-py Retry count (-1 = forever)
    pool: str  # ConnectionPool or BlockingConnectionPool
    max_connections: int | None
    pool_timeout: float | None  # BlockingConnectionPool wait
    socket_timeout: float | None
    socket_connect_timeout: float | None
    app_retry_interval: float  # the app's own retry loop around a request (0 = no app retry)
    request_timeout: float  # the app gives up a request after this many seconds
    pod_prefix: str
    job_share: float = 0.5  # share of requests that are jobs (logged with a traceback on failure)
    job_work: float = 0.1  # seconds a job holds its connection (WATCH, compute, MULTI/EXEC)
    outage: str = "restart"  # restart (SIGTERM, start again), pause (SIGSTOP/SIGCONT), reset, blackhole or none
    maxclients_per_pod: int = 0  # > 0: maxclients scales with the fleet (a limit sized for the old fleet)
    write_bytes: int = 0  # > 0: cache requests SET a value of this size instead of GET (fills memory)
    maxmemory: str | None = None  # redis maxmemory (e.g. "2mb"), with maxmemory_policy
    maxmemory_policy: str | None = None
    seed_keys: int = 0  # keys created before traffic (DEBUG POPULATE) for the slow command to walk
    slow_pattern: str = ""  # a CronJob runs KEYS with this pattern mid-run (slow scenario)
    scaleout_to: int = 0  # > pods: an HPA scales the deployment to this many pods during the outage
    client_per_request: bool = False  # each request builds its own client and disconnects it (the anti-pattern)
    warmup_seconds: float = 0.0  # > 0: traffic before the outage (default: a quarter of --seconds, at least 2)
    outage_seconds: float = 0.0  # > 0: how long Redis is down (default: a quarter of --seconds, at least 2)
    log_config: bool = True  # the pod logs its client configuration at start-up (most apps do not)


SCENARIOS = {
    # No backoff, app-level hammering, an effectively unbounded pool, a low maxclients.
    "storm": Scenario(
        name="storm",
        maxclients=16,
        pods=4,
        workers=8,
        rate=4.0,
        backoff="NoBackoff",
        backoff_base=0.0,
        backoff_cap=0.0,
        retries=3,
        pool="ConnectionPool",
        max_connections=None,
        pool_timeout=None,
        socket_timeout=None,
        socket_connect_timeout=None,
        app_retry_interval=0.25,
        request_timeout=2.0,
        pod_prefix="worker-5c8f7b",
    ),
    # Jittered exponential backoff, a capped blocking pool, timeouts, a normal maxclients.
    "healthy": Scenario(
        name="healthy",
        maxclients=10000,
        pods=4,
        workers=8,
        rate=4.0,
        backoff="ExponentialWithJitterBackoff",
        backoff_base=0.05,
        backoff_cap=1.0,
        retries=3,
        pool="BlockingConnectionPool",
        max_connections=4,
        pool_timeout=2.0,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        app_retry_interval=0.0,
        request_timeout=2.0,
        pod_prefix="api-6d4b9f",
    ),
}
SCENARIOS["storm"] = replace(SCENARIOS["storm"], maxclients_per_pod=4)
# Redis stops answering (SIGSTOP): a healthy fleet with short socket timeouts times out everywhere at once.
SCENARIOS["hang"] = replace(
    SCENARIOS["healthy"], name="hang", pods=8,
    outage="pause",
    retries=1,
    socket_timeout=0.5,
    socket_connect_timeout=0.5,
    pod_prefix="api-7f6c2d",
)
# A CronJob runs KEYS over millions of keys; the healthy fleet's 0.5 s socket timeouts fire meanwhile.
SCENARIOS["slow"] = replace(
    SCENARIOS["healthy"],
    name="slow",
    pods=8,
    outage="none",
    retries=1,
    socket_timeout=0.5,
    socket_connect_timeout=0.5,
    pod_prefix="api-58b7c4",
    seed_keys=2_500_000,
    slow_pattern="user:session:*:expired",
)
# The storm fleet, and an HPA that doubles it while Redis is down (retry loops burn CPU).
SCENARIOS["scaleout"] = replace(SCENARIOS["storm"], name="scaleout", scaleout_to=8, pod_prefix="worker-5c8f7b")
# A client per request (connect, one command, close) in a healthy-looking fleet, with 34 s of steady traffic
# before a short restart: the server accepts and closes a connection per request while holding few.
SCENARIOS["per-request"] = replace(
    SCENARIOS["healthy"], name="per-request", pods=8, client_per_request=True,
    warmup_seconds=34.0, outage_seconds=2.0, pod_prefix="web-8d5f6c",
)
# Writes under a low maxmemory with allkeys-lru: no errors, but keys are evicted.
SCENARIOS["eviction"] = replace(
    SCENARIOS["healthy"],
    name="eviction",
    outage="none",
    rate=8.0,
    job_share=0.2,
    write_bytes=16_384,
    maxmemory="2mb",
    maxmemory_policy="allkeys-lru",
    pod_prefix="cache-warmer-7b9d",
)
MAX_PODS = 64
CRONJOB = "session-cleanup-29471040"


def configure(
    name: str,
    clients: int | None = None,
    workers: int | None = None,
    pool_max: int | None = None,
    maxclients: int | None = None,
    rate: float | None = None,
    job_share: float | None = None,
    client: dict[str, str] | None = None,
) -> Scenario:
    """A named scenario with the CLI's knobs applied; maxclients follows the fleet unless given. `client` sets
    the redis-py client as a report's snippet would (`parse_client`): a what-if is checked by recording it.

    Why: a storm needs a limit the reconnecting fleet exceeds (4 per pod, as if sized for calm traffic),
    while a healthy fleet must stay comfortably below its limit at any size, or it would not be healthy.
    """
    sc = SCENARIOS[name]
    if clients is not None:
        if not 1 <= clients <= MAX_PODS:
            raise ValueError(f"--clients must be in 1..{MAX_PODS}")
        sc = replace(sc, pods=clients, scaleout_to=max(sc.scaleout_to and 2 * clients, 0))
    if workers is not None:
        if not 1 <= workers <= 32:
            raise ValueError("--workers must be in 1..32")
        sc = replace(sc, workers=workers)
    if pool_max is not None:
        if not 1 <= pool_max <= 64:
            raise ValueError("--pool-max must be in 1..64")
        sc = replace(sc, max_connections=pool_max)
    if rate is not None:
        if not 0 < rate <= 50:
            raise ValueError("--rate must be in (0, 50]")
        sc = replace(sc, rate=rate)
    if job_share is not None:
        if not 0 <= job_share <= 1:
            raise ValueError("--job-share must be in [0, 1]")
        sc = replace(sc, job_share=job_share)
    if client:
        sc = replace(sc, **parse_client(client))
    fleet = max(sc.pods, sc.scaleout_to)
    if maxclients is not None:
        sc = replace(sc, maxclients=maxclients, maxclients_per_pod=0)
    elif sc.maxclients_per_pod:
        sc = replace(sc, maxclients=sc.maxclients_per_pod * sc.pods)
    if sc.pool == "BlockingConnectionPool":  # a capped fleet: its limit must hold every pool at once
        demand = fleet * (sc.max_connections or sc.workers)
        if maxclients is None and sc.maxclients < 2 * demand + 32:
            raise ValueError(f"maxclients {sc.maxclients} is not comfortably above pods x pool ({demand})")
        if sc.maxclients <= demand:
            raise ValueError(f"maxclients {sc.maxclients} does not hold pods x pool ({demand}) and the poller")
    return sc


# --client keys: the redis-py settings of a report's snippet, and the Scenario fields they set
CLIENT_KEYS = {"backoff": "backoff", "retries": "retries", "pool": "pool", "pool_timeout": "pool_timeout",
               "socket_timeout": "socket_timeout", "socket_connect_timeout": "socket_connect_timeout"}
BACKOFFS = ("NoBackoff", "ConstantBackoff", "ExponentialBackoff", "ExponentialWithJitterBackoff",
            "FullJitterBackoff", "EqualJitterBackoff", "DecorrelatedJitterBackoff")


def parse_client(items: dict[str, str]) -> dict:
    """`--client` settings as Scenario fields: `backoff=ExponentialWithJitterBackoff(base=0.1,cap=10)`,
    `retries=3`, `pool=BlockingConnectionPool`, `pool_timeout=2`, `socket_timeout=2`, `socket_connect_timeout=2`."""
    out: dict = {}
    for key, value in items.items():
        if key not in CLIENT_KEYS:
            raise ValueError(f"--client {key}: not one of {', '.join(CLIENT_KEYS)}")
        if key == "backoff":
            m = re.fullmatch(r"(\w+)(?:\(base=([0-9.]+),\s*cap=([0-9.]+)\))?", value)
            if not m or m.group(1) not in BACKOFFS or (m.group(1) != "NoBackoff" and m.group(2) is None):
                raise ValueError(f"--client backoff={value}: say e.g. ExponentialWithJitterBackoff(base=0.1,cap=10)")
            out.update(backoff=m.group(1), backoff_base=float(m.group(2) or 0), backoff_cap=float(m.group(3) or 0))
        elif key == "pool":
            if value not in ("ConnectionPool", "BlockingConnectionPool"):
                raise ValueError("--client pool= must be ConnectionPool or BlockingConnectionPool")
            out["pool"] = value
        elif key == "retries":
            out["retries"] = int(value)
        else:
            out[CLIENT_KEYS[key]] = float(value) if value.lower() != "none" else None
    return out


@dataclass(frozen=True)
class Clocks:
    """How the pods write their times: UTC (default) or a local zone without offset, and per-pod skew.

    Why: incident folders mix clocks (#16); the server log and the exporter always stay UTC here.
    """

    app_tz: str | None = None
    pod_skew: dict[int, float] = field(default_factory=dict)  # pod index -> seconds ahead (+) or behind


def parse_skew(items: list[str]) -> dict[int, float]:
    """`POD_INDEX=SECONDS` (repeatable) into {index: seconds}."""
    out: dict[int, float] = {}
    for item in items:
        index, sep, seconds = item.partition("=")
        if not sep or not index.strip().isdigit():
            raise ValueError(f"--pod-skew wants POD_INDEX=SECONDS, got {item!r}")
        out[int(index)] = float(seconds)
    return out


class PodClockFormatter(logging.Formatter):
    """asctime in the pod's zone (naive, as `logging` writes local time) shifted by its clock skew."""

    def __init__(self, fmt: str, zone: str | None, skew: float):
        super().__init__(fmt)
        from zoneinfo import ZoneInfo

        self.zone = ZoneInfo(zone) if zone else UTC
        self.skew = skew

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        dt = datetime.fromtimestamp(record.created + self.skew, tz=self.zone)
        return dt.strftime("%Y-%m-%d %H:%M:%S") + f",{dt.microsecond // 1000:03d}"


def iso(ts: float | None) -> str | None:
    """Epoch seconds as UTC ISO 8601 with milliseconds (the facts file's only time format)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def pod_names(scenario: Scenario) -> list[str]:
    """Kubernetes-looking pod names, stable per scenario so recordings are comparable.

    The first `pods` start with the run; any beyond them are the ones an HPA scale-out adds.
    """
    rng = random.Random(scenario.name)
    alphabet = string.ascii_lowercase + string.digits
    count = max(scenario.pods, scenario.scaleout_to)
    return [f"{scenario.pod_prefix}-{''.join(rng.choices(alphabet, k=5))}" for _ in range(count)]


# ----------------------------------------------------------------------------------------- pod side


def error_kind(exc: BaseException) -> str:
    """Classify a client-visible failure by its redis-py message (formats.md §2.2)."""
    text = str(exc)
    if "Connection refused" in text:
        return "connection_refused"
    if "max number of clients reached" in text:
        return "max_clients"
    if "No connection available" in text or "Too many connections" in text:
        return "pool_exhausted"
    if "Timeout" in text or "timed out" in text:
        return "timeout"
    if "Connection closed by server" in text or "Error while reading" in text or "reset by peer" in text:
        return "connection_lost"
    # redis-py's WatchError for a connection that died while watching (client.py `_disconnect_raise_on_watching`):
    # a lost connection; the optimistic-lock conflict ("Watched variable changed.") stays other:WatchError
    if re.search(r"\bA \w*Error occurr?ed (?:on )?while watching", text):
        return "connection_lost"
    return f"other:{type(exc).__name__}"


def build_client(sc: Scenario, port: int, name: str):
    """The redis-py client exactly as the scenario says, and the config line an app would log for it."""
    import redis
    from redis import backoff as backoffs
    from redis.retry import Retry

    cls = getattr(backoffs, sc.backoff, None) or backoffs.EqualJitterBackoff
    if cls.__name__ == "NoBackoff":
        backoff, backoff_repr = cls(), "NoBackoff()"
    else:
        backoff = cls(cap=sc.backoff_cap, base=sc.backoff_base)
        backoff_repr = f"{cls.__name__}(base={sc.backoff_base}, cap={sc.backoff_cap})"
    retry = Retry(backoff, sc.retries)
    kwargs = dict(
        host=HOST,
        port=port,
        retry=retry,
        socket_timeout=sc.socket_timeout,
        socket_connect_timeout=sc.socket_connect_timeout,
        client_name=name,
    )
    if sc.pool == "BlockingConnectionPool":
        pool = redis.BlockingConnectionPool(
            max_connections=sc.max_connections, timeout=sc.pool_timeout, **kwargs
        )
        client = redis.Redis(connection_pool=pool, retry=retry)
        pool_repr = f"connection_pool=BlockingConnectionPool(max_connections={sc.max_connections}, timeout={sc.pool_timeout})"
    else:
        client = redis.Redis(max_connections=sc.max_connections, **kwargs)
        pool_repr = f"max_connections={sc.max_connections}"
    line = (
        f"redis client: Redis(host='{HOST}', port={port}, retry=Retry({backoff_repr}, {sc.retries}), {pool_repr}, "
        f"socket_timeout={sc.socket_timeout}, socket_connect_timeout={sc.socket_connect_timeout}) "
        f"redis-py {redis.__version__}"
    )
    return client, line


def run_job(client, key: str, work: float) -> None:
    """Optimistic read-modify-write: WATCH pins a pooled connection for the whole job, as apps do."""
    with client.pipeline() as pipe:
        pipe.watch(key)
        current = int(pipe.get(key) or 0)
        time.sleep(work)
        pipe.multi()
        pipe.set(key, current + 1)
        pipe.execute()


@dataclass
class PodStats:
    ok: int = 0
    failed_requests: int = 0
    errors: dict = field(default_factory=dict)  # kind -> count of client-visible failures
    first_error: dict = field(default_factory=dict)  # kind -> epoch seconds
    last_error: dict = field(default_factory=dict)

    def error(self, kind: str, now: float) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.first_error.setdefault(kind, now)
        self.last_error[kind] = now


def run_pod(name: str, cfg: dict) -> int:
    """One application process: requests arrive at a fixed rate and are handled by a thread pool."""
    from redis.exceptions import RedisError

    sc = Scenario(**cfg["scenario"])
    port, start_at, stop_at = cfg["port"], cfg["start_at"], cfg["stop_at"]
    handler = pod_log_handler(Path(cfg["out"]) / f"{name}.log", cfg.get("app_tz"), cfg.get("skew", 0.0))
    log_start, log_jobs, log_cache = (logging.getLogger(n) for n in ("app.startup", "app.jobs", "app.cache"))
    payload = os.urandom(sc.write_bytes // 2).hex() if sc.write_bytes else ""

    client, config_line = build_client(sc, port, name)
    if sc.log_config:
        log_start.info(config_line)
    stats, lock = PodStats(), threading.Lock()
    rng = random.Random(name)

    def handle(req: int, is_job: bool) -> None:
        deadline = time.time() + sc.request_timeout
        attempts = 0
        own = build_client(sc, port, name)[0] if sc.client_per_request else None
        try:
            serve(req, is_job, own or client, deadline, attempts)
        finally:
            if own is not None:  # `with Redis(...)` style: the request's connections end with it
                own.close()
                own.connection_pool.disconnect()

    def serve(req: int, is_job: bool, client, deadline: float, attempts: int) -> None:
        while True:
            try:
                if is_job:
                    run_job(client, f"job:{name}:{req % 50}", sc.job_work)
                    log_jobs.info("processed job %d", req)
                elif payload:
                    client.set(f"cache:{name}:{req}", payload)
                else:
                    client.get(f"session:{req % 200}")
                with lock:
                    stats.ok += 1
                return
            except RedisError as exc:
                now = time.time()
                attempts += 1
                with lock:
                    stats.error(error_kind(exc), now)
                if sc.app_retry_interval <= 0 or now + sc.app_retry_interval >= deadline:
                    with lock:
                        stats.failed_requests += 1
                    if is_job:
                        log_jobs.exception("job %d failed after %d attempts", req, attempts)
                    else:
                        log_cache.error("cache read failed after %d attempts: %s", attempts, exc)
                    return
                (log_jobs if is_job else log_cache).warning(
                    "redis call failed (attempt %d), retrying in %.2fs: %s",
                    attempts,
                    sc.app_retry_interval,
                    exc,
                )
                time.sleep(sc.app_retry_interval)

    time.sleep(max(0.0, start_at - time.time()))
    pool = ThreadPoolExecutor(max_workers=sc.workers, thread_name_prefix=name)
    req, interval = 0, 1.0 / sc.rate
    next_at = time.time() + rng.random() * interval
    while next_at < stop_at:
        time.sleep(max(0.0, next_at - time.time()))
        req += 1
        pool.submit(handle, req, rng.random() < sc.job_share)
        next_at += interval
    pool.shutdown(wait=True, cancel_futures=True)
    with lock:
        out = asdict(stats) | {"requests": req}
    print(json.dumps(out), flush=True)
    handler.flush()
    return 0


def pod_log_handler(path: Path, zone: str | None, skew: float) -> logging.Handler:
    """Python `logging` to one file, the way the app would: UTC unless a zone (or skew) is configured."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(PodClockFormatter(LOG_FORMAT, zone, skew))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def run_cronjob(name: str, cfg: dict) -> int:
    """The CronJob: at its start time it runs KEYS over the whole keyspace and logs what it ran and how long."""
    import redis

    sc = Scenario(**cfg["scenario"])
    handler = pod_log_handler(Path(cfg["out"]) / f"{name}.log", cfg.get("app_tz"), 0.0)
    log = logging.getLogger("app.cron")
    client = redis.Redis(host=HOST, port=cfg["port"], socket_timeout=30.0, client_name=name)
    time.sleep(max(0.0, cfg["start_at"] - time.time()))
    log.info("session cleanup started")
    log.info("running KEYS pattern=%s", sc.slow_pattern)
    started = time.time()
    keys = client.keys(sc.slow_pattern)
    ended = time.time()
    log.warning("KEYS took %.2f s (%d keys matched)", ended - started, len(keys))
    log.info("session cleanup finished: %d sessions removed", len(keys))
    print(json.dumps({"command": f"KEYS {sc.slow_pattern}", "start": started, "end": ended}), flush=True)
    handler.flush()
    return 0


# -------------------------------------------------------------------------------------- server side


class RedisServer:
    """A redis-server child on 127.0.0.1 in its own process group, restartable on the same port."""

    def __init__(self, binary: str, port: int, logfile: Path, sc: Scenario, workdir: str):
        self.port = port
        maxclients = sc.maxclients
        self.args = [
            binary,
            "--port",
            str(port),
            "--bind",
            HOST,
            "--loglevel",
            "verbose",
            "--logfile",
            str(logfile),
            "--maxclients",
            str(maxclients),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--slowlog-log-slower-than",
            "10000",
        ]
        if sc.maxmemory:
            self.args += ["--maxmemory", sc.maxmemory, "--maxmemory-policy", sc.maxmemory_policy or "noeviction"]
        if sc.seed_keys:
            self.args += ["--enable-debug-command", "local"]  # DEBUG POPULATE seeds the keyspace fast
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, TZ="UTC")
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 5.0) -> float:
        """SIGTERM (redis shuts down cleanly and logs it); returns when the process has exited."""
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            self.proc.wait(2)
        return time.time()


def kill_group(proc: subprocess.Popen | None) -> None:
    """Kill a child's own process group (its pgid is its pid, from start_new_session)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class RelayProcess:
    """tools/netrelay.py as a child in its own process group: the pods' only path to Redis, failed on command.

    Each command line is answered by one JSON line holding the time the relay measured (the facts' outage times).
    """

    def __init__(self, target_port: int, lifetime: float):
        if not RELAY.is_file():
            raise FileNotFoundError(f"network outages need {RELAY}, which is missing")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(RELAY), "--listen-port", str(self.port), "--target-port", str(target_port),
             "--lifetime", f"{lifetime:.0f}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, name="relay-reader", daemon=True).start()
        self.reply("start")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def reply(self, what: str, timeout: float = 5.0) -> dict:
        try:
            answer = json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise RuntimeError(f"the network relay did not answer {what!r} within {timeout:g} s") from None
        if "error" in answer:
            raise RuntimeError(f"the network relay refused {what!r}: {answer['error']}")
        return answer

    def command(self, text: str) -> dict:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.reply(text)

    def stop(self) -> dict | None:
        """`quit`, and its summary (connections accepted); killed by its PID if it does not exit."""
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            summary = self.reply("quit")
            self.proc.wait(5)
            return summary
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            kill_group(self.proc)
            return None


class Poller:
    """INFO every 200 ms over one dedicated connection; also the readiness probe after a restart."""

    FIELDS = (
        "connected_clients",
        "rejected_connections",
        "total_connections_received",
        "maxclients",
        "instantaneous_ops_per_sec",
        "uptime_in_seconds",
        "used_memory",
        "blocked_clients",
        "evicted_keys",
        "maxmemory",
    )

    def __init__(self, port: int):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        pool = redis.ConnectionPool(
            host=HOST,
            port=port,
            max_connections=1,
            socket_timeout=2.0,  # like an exporter's scrape timeout: a 2 s KEYS is late, not down
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
            client_name="postmortem-recorder",
        )
        self.client = redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
        self.lock = threading.Lock()
        self.snapshots: list[dict] = []
        self.failures: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="info-poller", daemon=True)

    def poll(self) -> dict | None:
        from redis.exceptions import RedisError

        now = time.time()
        try:
            with self.lock:
                info = self.client.info()
        except RedisError as exc:
            self.failures.append((now, str(exc)))
            return None
        snap = {"ts": now} | {k: info.get(k) for k in self.FIELDS}
        self.snapshots.append(snap)
        return snap

    def wait_ready(self, limit: float) -> float | None:
        """Ping in a tight loop so this connection is among the first ones the new server accepts."""
        from redis.exceptions import RedisError

        end = time.time() + limit
        while time.time() < end:
            try:
                with self.lock:
                    if self.client.ping():
                        return time.time()
            except RedisError:
                time.sleep(0.002)
        return None

    def _run(self) -> None:
        while not self._stop.wait(POLL_INTERVAL):
            self.poll()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


# ------------------------------------------------------------------------------------------ recorder


@dataclass
class Run:
    """Everything started, so the finally block and the watchdog can end it by PID."""

    server: RedisServer | None = None
    relay: RelayProcess | None = None
    pods: dict[str, subprocess.Popen] = field(default_factory=dict)
    timeout: float = 30.0
    expired: threading.Event = field(default_factory=threading.Event)

    def expire(self) -> None:
        """The watchdog: mark the run as over and kill every child at once."""
        self.expired.set()
        self.kill_all()

    def check(self) -> None:
        if self.expired.is_set():
            raise TimeoutError(f"recording exceeded --timeout {self.timeout} s")

    def sleep_until(self, t: float) -> None:
        self.expired.wait(max(0.0, t - time.time()))
        self.check()

    def kill_all(self) -> None:
        relay = self.relay.proc if self.relay else None
        for proc in [*self.pods.values(), relay]:
            kill_group(proc)
        if self.server is not None:
            kill_group(self.server.proc)
        for proc in [*self.pods.values(), relay, self.server.proc if self.server else None]:
            if proc is not None:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass


def lifetime_totals(snapshots: list[dict], key: str) -> list[int]:
    """A counter's final value per server lifetime (a restart resets INFO counters; uptime drops)."""
    totals: list[int] = []
    last_uptime = None
    for snap in snapshots:
        value, uptime = snap.get(key), snap.get("uptime_in_seconds")
        if value is None:
            continue
        if not totals or (last_uptime is not None and uptime is not None and uptime < last_uptime):
            totals.append(value)
        totals[-1] = value
        last_uptime = uptime
    return totals


def first_increase(snapshots: list[dict], key: str) -> float | None:
    """When a counter first went above zero, from the polls (upper bound: the poll that saw it)."""
    for snap in snapshots:
        if (snap.get(key) or 0) > 0:
            return snap["ts"]
    return None


def write_prometheus(path: Path, port: int, snapshots: list[dict], failures: list[tuple[float, str]]) -> None:
    """The polls as redis_exporter scrapes appended to one file (samples with ms timestamps).

    One answered poll per second (a 1 s scrape interval), and every second's first failed poll too: redis_exporter
    answers a scrape whose INFO failed with `redis_up 0` alone (exporter.go `Collect`), stamped like every scraped
    sample with the time the scrape began, so a server that stops answering right after a good scrape shows in that
    second (keeping only the first poll of a second dropped that failure: storm-pause-8's first `redis_up 0` was 2.3 s
    after the pause began)."""
    addr = f'addr="redis://{HOST}:{port}"'
    families = [
        ("redis_up", "gauge", "Information about the Redis instance", None),
        ("redis_connected_clients", "gauge", "connected_clients metric", "connected_clients"),
        (
            "redis_rejected_connections_total",
            "counter",
            "rejected_connections metric",
            "rejected_connections",
        ),
        (
            "redis_connections_received_total",
            "counter",
            "total_connections_received metric",
            "total_connections_received",
        ),
        ("redis_config_maxclients", "gauge", "config_maxclients metric", "maxclients"),
        ("redis_evicted_keys_total", "counter", "evicted_keys metric", "evicted_keys"),
        ("redis_memory_used_bytes", "gauge", "used_memory metric", "used_memory"),
        ("redis_memory_max_bytes", "gauge", "maxmemory metric", "maxmemory"),
    ]
    polls = sorted([(s["ts"], s) for s in snapshots] + [(ts, None) for ts, _ in failures], key=lambda x: x[0])
    out: list[str] = []
    seen: set[tuple[int, bool]] = set()
    for ts, snap in polls:
        if (int(ts), snap is None) in seen:
            continue
        seen.add((int(ts), snap is None))
        ms = int(ts * 1000)
        for name, kind, help_text, key in families:
            if key is None:
                value = 0 if snap is None else 1
            elif snap is None or snap.get(key) is None:
                continue
            else:
                value = snap[key]
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{{{addr}}} {value} {ms}"]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def count_lines(path: Path, pattern: str) -> int:
    rx = re.compile(pattern)
    with open(path, encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if rx.search(line))


def merge_pod_stats(stats: dict[str, dict]) -> dict:
    errors: dict[str, int] = {}
    first: dict[str, float] = {}
    for s in stats.values():
        for kind, n in s["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
        for kind, ts in s["first_error"].items():
            first[kind] = min(ts, first.get(kind, ts))
    return {
        "requests": sum(s["requests"] for s in stats.values()),
        "ok": sum(s["ok"] for s in stats.values()),
        "failed_requests": sum(s["failed_requests"] for s in stats.values()),
        "cancelled_at_stop": sum(s["requests"] - s["ok"] - s["failed_requests"] for s in stats.values()),
        "errors_by_kind": dict(sorted(errors.items())),
        "first_error_by_kind": {k: iso(v) for k, v in sorted(first.items())},
    }


def redis_server_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"v=(\S+)", out)
    return m.group(1) if m else out.strip()


def k8s_events_table(events: list[dict]) -> str:
    """Events as `kubectl get events -o custom-columns=LASTSEEN:.lastTimestamp,TYPE:.type,REASON:.reason,
    KIND:.involvedObject.kind,NAME:.involvedObject.name,MESSAGE:.message` prints them (3-space padding)."""
    cols = ("LASTSEEN", "TYPE", "REASON", "KIND", "NAME", "MESSAGE")
    rows = [
        (
            datetime.fromtimestamp(e["ts"], tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            e["type"],
            e["reason"],
            e["kind"],
            e["name"],
            e["message"],
        )
        for e in sorted(events, key=lambda e: e["ts"])
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) + 3 for i, c in enumerate(cols[:-1])]
    lines = ["".join(c.ljust(w) for c, w in zip(cols[:-1], widths, strict=True)) + cols[-1]]
    lines += ["".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + r[-1] for r in rows]
    return "\n".join(lines) + "\n"


def scaleout_events(sc: Scenario, names: list[str], scaled_at: float, started: dict[str, float]) -> list[dict]:
    """What the HPA, the deployment and replica set controllers and the kubelets report for the scale-out."""
    deployment = sc.pod_prefix.rsplit("-", 1)[0]
    events = [
        {
            "ts": scaled_at,
            "type": "Normal",
            "reason": "SuccessfulRescale",
            "kind": "HorizontalPodAutoscaler",
            "name": deployment,
            "message": f"New size: {sc.scaleout_to}; reason: cpu resource utilization (percentage of request) "
            "above target",
        },
        {
            "ts": scaled_at,
            "type": "Normal",
            "reason": "ScalingReplicaSet",
            "kind": "Deployment",
            "name": deployment,
            "message": f"Scaled up replica set {sc.pod_prefix} to {sc.scaleout_to} from {sc.pods}",
        },
    ]
    for name in names[sc.pods :]:
        events.append(
            {
                "ts": scaled_at,
                "type": "Normal",
                "reason": "SuccessfulCreate",
                "kind": "ReplicaSet",
                "name": sc.pod_prefix,
                "message": f"Created pod: {name}",
            }
        )
        events.append(
            {
                "ts": started[name],
                "type": "Normal",
                "reason": "Started",
                "kind": "Pod",
                "name": name,
                "message": f"Started container {deployment}",
            }
        )
    return events


def dump_slowlog(port: int, path: Path) -> int:
    """`SLOWLOG GET 128` exactly as an interactive redis-cli prints it; returns the number of entries."""
    cli = shutil.which("redis-cli")
    if not cli:
        raise FileNotFoundError("redis-cli is not on PATH")
    out = subprocess.run(
        [cli, "-h", HOST, "-p", str(port), "--no-raw", "SLOWLOG", "GET", "128"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    path.write_text(out, encoding="utf-8")
    return len(re.findall(r"^\d+\) 1\) \(integer\)", out, re.M))


def pod_clock_facts(names: list[str], clocks: Clocks, at: float, k8s_events: bool) -> dict:
    """What was shifted, so tests can compare written times with the true UTC ones."""
    offset = 0.0
    if clocks.app_tz:
        from zoneinfo import ZoneInfo

        offset = datetime.fromtimestamp(at, tz=ZoneInfo(clocks.app_tz)).utcoffset().total_seconds()
    return {
        "server_log": "UTC",
        "exporter": "UTC (epoch milliseconds)",
        "k8s_events": "UTC" if k8s_events else None,
        "app_tz": clocks.app_tz or "UTC",
        "app_written_with_offset": False,
        "app_utc_offset_seconds": offset,
        "pod_skew_seconds": {names[i]: s for i, s in sorted(clocks.pod_skew.items()) if i < len(names)},
        # written time = true UTC + app_utc_offset_seconds + that pod's skew
        "written_minus_true_seconds": {
            name: offset + clocks.pod_skew.get(i, 0.0) for i, name in enumerate(names)
        },
    }


def start_child(run: Run, role: str, name: str, cfg: dict) -> subprocess.Popen:
    """This file as a pod or CronJob process, in its own session (process group) so it is killed by PID."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), role, name, "--pod-config", json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    run.pods[name] = proc
    return proc


def collect(proc: subprocess.Popen, deadline: float) -> tuple[dict | None, str]:
    """A child's last JSON line (its stats), or why there is none; kills it by PID past the deadline."""
    try:
        stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        kill_group(proc)
        stdout, stderr = proc.communicate()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1]), ""
    return None, f"exit {proc.returncode}: {stderr.strip()[-500:]}"


def record(
    scenario: Scenario,
    out: Path,
    seconds: float,
    port: int | None = None,
    outage: str | None = None,
    timeout: float = 30.0,
    binary: str | None = None,
    clocks: Clocks | None = None,
) -> dict:
    """Run the scenario into `out` and return the measured facts (also written beside `out`)."""
    import redis

    binary = binary or shutil.which("redis-server")
    if not binary:
        raise FileNotFoundError("redis-server is not on PATH")
    outage = outage or scenario.outage
    if outage == "blackhole" and not sys.platform.startswith("linux"):
        raise ValueError("--outage blackhole relies on Linux dropping SYNs past a full listen backlog")
    clocks = clocks or Clocks()
    warmup = scenario.warmup_seconds or max(2.0, seconds * 0.25)
    down = scenario.outage_seconds or max(2.0, seconds * 0.25)
    over = warmup + (down if outage != "none" else 0.0)
    if over >= seconds:  # per-request at --seconds 12: its pods stopped at 12 s, the restart came at 34 s (session 14)
        raise ValueError(f"--seconds {seconds:g} ends the traffic before the {scenario.name} scenario's "
                         f"{'outage is over' if outage != 'none' else 'incident begins'} (at {over:g} s): give more")
    out = out.resolve()  # redis-server runs in its own --dir, so relative paths would move
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: logs would be appended to an older recording")
    out.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="record-incident-")
    run = Run(timeout=timeout)
    watchdog = threading.Timer(timeout, run.expire)
    watchdog.daemon = True
    names = pod_names(scenario)
    first_names, late_names = names[: scenario.pods], names[scenario.pods :]
    facts: dict = {}
    try:
        watchdog.start()
        run.server = RedisServer(binary, port, out / "redis-server.log", scenario, workdir)
        run.server.start()
        poller = Poller(port)
        if poller.wait_ready(5.0) is None:
            raise RuntimeError(f"redis-server did not become ready on {HOST}:{port}")
        if scenario.seed_keys:
            seeder = redis.Redis(host=HOST, port=port, socket_timeout=60.0, client_name="seed")
            seeder.execute_command("DEBUG", "POPULATE", scenario.seed_keys, "user:session", 64)
            seeder.slowlog_reset()  # the seeding is the recorder's, not part of the incident
            seeder.close()
        poller.start()
        if outage in NETWORK_OUTAGES:  # the pods go through the relay; the poller (the exporter) does not
            run.relay = RelayProcess(port, timeout + 10.0)
        pods_port = run.relay.port if run.relay else port
        start_at = time.time() + 1.5 + 0.12 * scenario.pods  # the pods import redis-py meanwhile
        stop_at = start_at + seconds
        base_cfg = {"scenario": asdict(scenario), "port": pods_port, "out": str(out), "app_tz": clocks.app_tz}

        def pod_cfg(index: int, begin: float) -> dict:
            return base_cfg | {"start_at": begin, "stop_at": stop_at, "skew": clocks.pod_skew.get(index, 0.0)}

        for i, name in enumerate(first_names):
            start_child(run, "--pod", name, pod_cfg(i, start_at))
        cron_at = start_at + warmup
        if scenario.slow_pattern:
            start_child(run, "--cronjob", f"{CRONJOB}-{pod_names(replace(scenario, name=CRONJOB, pods=1))[0][-5:]}",
                        base_cfg | {"start_at": cron_at, "stop_at": stop_at})
        run.sleep_until(start_at + warmup)
        poller.poll()
        outage_start = time.time()
        server_down = resumed = poller_back = None
        network: dict = {}
        scaled_at, late_started = None, {}

        def scale_out() -> None:
            nonlocal scaled_at
            scaled_at = time.time()
            for j, name in enumerate(late_names, start=scenario.pods):
                late_started[name] = scaled_at + 1.0 + 0.1 * (j - scenario.pods)  # image pulled, container up
                start_child(run, "--pod", name, pod_cfg(j, late_started[name]))

        if outage == "pause":
            run.server.signal(signal.SIGSTOP)
            server_down = outage_start
            if late_names:
                run.sleep_until(outage_start + down / 2)
                scale_out()
            run.sleep_until(outage_start + down)
            run.server.signal(signal.SIGCONT)
            resumed = time.time()
        elif outage in NETWORK_OUTAGES:
            went_down = run.relay.command(f"down {outage}")
            outage_start = went_down["ts"]  # the relay's own time of the fault
            if late_names:
                run.sleep_until(outage_start + down / 2)
                scale_out()
            run.sleep_until(outage_start + down)
            came_up = run.relay.command("up")
            resumed = came_up["ts"]
            network = {"relay_port": pods_port, "server_port": port,
                       "connections_at_start": went_down["connections"], "connections_held_at_end": (
                           came_up["connections"] if outage == "blackhole" else 0)}
        elif outage == "restart":
            server_down = run.server.stop()
            if late_names:
                run.sleep_until(outage_start + down / 2)
                scale_out()
            run.sleep_until(outage_start + down)
            run.server.start()
        elif late_names:
            scale_out()
        if outage not in ("none", *NETWORK_OUTAGES):
            poller_back = poller.wait_ready(8.0)
            if poller_back is None:
                run.check()
                raise RuntimeError("redis-server did not come back after the outage")
        outage_end = resumed or poller_back  # a restarted server is back when it answers PING
        pod_stats: dict[str, dict] = {}
        pod_problems: dict[str, str] = {}
        cron: dict | None = None
        deadline = stop_at + scenario.request_timeout + 5.0 + 0.1 * len(names)
        for name, proc in list(run.pods.items()):
            stats, problem = collect(proc, deadline)
            if problem:
                pod_problems[name] = problem
            elif name.startswith(CRONJOB):
                cron = stats
            else:
                pod_stats[name] = stats
        poller.stop()
        poller.poll()
        if run.relay:
            network["relay_accepted_total"] = (run.relay.stop() or {}).get("accepted")
        slowlog_entries = dump_slowlog(port, out / "slowlog.txt") if scenario.slow_pattern else None
        run_end = run.server.stop()
        run.check()
        snaps = poller.snapshots
        rejected = lifetime_totals(snaps, "rejected_connections")
        received = lifetime_totals(snaps, "total_connections_received")
        evicted = lifetime_totals(snaps, "evicted_keys")
        write_prometheus(out / "redis-exporter.prom", port, snaps, poller.failures)
        if late_names:
            events = scaleout_events(scenario, names, scaled_at, late_started)
            (out / "k8s-events.txt").write_text(k8s_events_table(events), encoding="utf-8")
        server_log = out / "redis-server.log"
        facts = {
            "scenario": scenario.name,
            "parameters": asdict(scenario)
            | {
                "seconds": seconds,
                "outage": outage,
                "outage_seconds": down if outage != "none" else 0.0,
                "warmup_seconds": warmup,
                "port": port,
                "pod_names": names,
                "fleet": {
                    "pods_at_start": scenario.pods,
                    "pods_at_end": len(names),
                    "workers_per_pod": scenario.workers,
                    "pool_max_connections": scenario.max_connections,
                    "pool_demand": len(names) * (scenario.max_connections or scenario.workers),
                },
            },
            "versions": {
                "redis_server": redis_server_version(binary),
                "redis_py": redis.__version__,
                "python": sys.version.split()[0],
            },
            "recorded_at": iso(start_at),
            "run": {"start": iso(start_at), "end": iso(run_end)},
            "clocks": pod_clock_facts(names, clocks, start_at, bool(late_names)),
            "outage": {
                "kind": outage,
                "start": iso(outage_start) if outage != "none" else None,
                "server_down": iso(server_down),
                "end": iso(outage_end),
                "seconds": round(outage_end - outage_start, 3) if outage_end else 0.0,
                "first_ping_after": iso(poller_back),
                # reset / blackhole: start and end as the relay measured them; the server ran throughout
                **({"network": network} if network else {}),
            },
            "first_rejected_connection": {
                "info_poll": iso(first_increase(snaps, "rejected_connections")),
                "client_error": None,
            },
            "rejected_connections": {"total": sum(rejected), "per_server_lifetime": rejected},
            "connections_accepted": {
                "total_connections_received": sum(received),
                "per_server_lifetime": received,
                # redis logs "Accepted" before the maxclients check, so rejected connections are in it too
                "server_log_accepted_lines": count_lines(server_log, r" - Accepted "),
            },
            "max_connected_clients": max((s["connected_clients"] or 0 for s in snaps), default=0),
            "evicted_keys": {
                "total": sum(evicted),
                "first_increase": iso(first_increase(snaps, "evicted_keys")),
                "maxmemory": scenario.maxmemory,
                "policy": scenario.maxmemory_policy,
            },
            "polls": {
                "interval_ms": int(POLL_INTERVAL * 1000),
                "ok": len(snaps),
                "failed": len(poller.failures),
            },
            "clients": merge_pod_stats(pod_stats) if pod_stats else {},
            "clients_by_pod": pod_stats,
            "pod_problems": pod_problems,
        }
        if scenario.slow_pattern:
            facts["slow_command"] = {
                "command": cron and cron["command"],
                "start": iso(cron and cron["start"]),
                "end": iso(cron and cron["end"]),
                "seconds": cron and round(cron["end"] - cron["start"], 3),
                "keys_in_db": scenario.seed_keys,
                "slowlog_entries": slowlog_entries,
            }
        if late_names:
            facts["scaleout"] = {
                "rescaled_at": iso(scaled_at),
                "from": scenario.pods,
                "to": len(names),
                "new_pods": {n: iso(late_started[n]) for n in late_names},
            }
        if facts["clients"]:
            facts["first_rejected_connection"]["client_error"] = facts["clients"]["first_error_by_kind"].get(
                "max_clients"
            )
        facts["files"] = {
            p.name: {"bytes": p.stat().st_size, "lines": count_lines(p, r"")}
            for p in sorted(out.iterdir())
            if p.is_file()
        }
        facts_path = out.parent / f"{out.name}.facts.json"
        facts_path.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
        return facts
    finally:
        watchdog.cancel()
        run.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="storm")
    ap.add_argument("--out", type=Path, help="log folder to write (facts go to <out>.facts.json beside it)")
    ap.add_argument("--seconds", type=float, default=10.0, help="traffic duration (outage included)")
    ap.add_argument("--clients", type=int, help=f"number of pod processes, 1..{MAX_PODS} (default: the scenario's)")
    ap.add_argument("--workers", type=int, help="handler threads per pod (default: the scenario's)")
    ap.add_argument("--pool-max", type=int, help="max_connections of each pod's pool (default: the scenario's)")
    ap.add_argument("--rate", type=float, help="requests per second per pod (default: the scenario's)")
    ap.add_argument(
        "--job-share", type=float, help="share of requests that are jobs (tracebacks on failure; default 0.5)"
    )
    ap.add_argument("--maxclients", type=int, help="redis maxclients (default: follows the scenario and fleet)")
    ap.add_argument("--client", action="append", default=[], metavar="KEY=VALUE",
                    help="a redis-py client setting, as a report's snippet sets it (repeatable): backoff="
                         "ExponentialWithJitterBackoff(base=0.1,cap=10), retries=3, pool=BlockingConnectionPool, "
                         "pool_timeout=2, socket_timeout=2, socket_connect_timeout=2 (with --pool-max for its cap)")
    ap.add_argument("--port", type=int, help="port for redis-server (default: a free one)")
    ap.add_argument(
        "--outage",
        choices=("restart", "pause", *NETWORK_OUTAGES, "none"),
        help="restart: SIGTERM then start again; pause: SIGSTOP then SIGCONT (a hang); reset: the network between "
        "pods and Redis resets every connection and refuses new ones; blackhole: it forwards and accepts nothing "
        "(tools/netrelay.py); none (default: the scenario's)",
    )
    ap.add_argument("--app-tz", help="pods write asctime in this zone, without offset (e.g. Europe/Berlin)")
    ap.add_argument(
        "--pod-skew",
        action="append",
        default=[],
        metavar="POD_INDEX=SECONDS",
        help="shift one pod's clock (repeatable), e.g. 1=40",
    )
    ap.add_argument("--timeout", type=float, help="hard limit for the whole run, seconds (default: scaled)")
    ap.add_argument("--no-config-log", action="store_true",
                    help="pods do not log their redis client configuration (the policy must be read from behaviour)")
    ap.add_argument("--pod", help=argparse.SUPPRESS)
    ap.add_argument("--cronjob", help=argparse.SUPPRESS)
    ap.add_argument("--pod-config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pod:
        return run_pod(args.pod, json.loads(args.pod_config))
    if args.cronjob:
        return run_cronjob(args.cronjob, json.loads(args.pod_config))
    if args.out is None:
        ap.error("--out is required")
    if args.seconds <= 0 or args.seconds > 60:
        ap.error("--seconds must be in (0, 60]")
    try:
        client = dict(item.split("=", 1) for item in args.client if "=" in item)
        if len(client) != len(args.client):
            raise ValueError("--client takes KEY=VALUE")
        sc = configure(args.scenario, args.clients, args.workers, args.pool_max, args.maxclients, args.rate,
                       args.job_share, client)
        sc = replace(sc, log_config=not args.no_config_log)
        clocks = Clocks(app_tz=args.app_tz, pod_skew=parse_skew(args.pod_skew))
        if args.app_tz:
            from zoneinfo import ZoneInfo

            ZoneInfo(args.app_tz)
    except (ValueError, KeyError) as exc:
        ap.error(str(exc))
    timeout = args.timeout or 30.0 + args.seconds + 0.5 * max(sc.pods, sc.scaleout_to)
    try:
        facts = record(sc, args.out, args.seconds, args.port, args.outage, timeout, clocks=clocks)
    except ValueError as exc:
        ap.error(str(exc))
    except (FileNotFoundError, RuntimeError) as exc:  # a missing binary or relay, a child that did not answer
        ap.exit(1, f"record_incident: {exc}\n")
    summary = ("outage", "first_rejected_connection", "rejected_connections", "connections_accepted", "clients")
    print(json.dumps({k: facts[k] for k in summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
