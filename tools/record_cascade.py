"""Record a real cascade: a Redis outage that backs up a RabbitMQ queue and exhausts a PostgreSQL pool.

Why: the cascade rule (PM601) needs logs that real software wrote. This starts its own redis-server,
PostgreSQL (initdb in a temporary folder) and rabbitmq-server (own node name, ports and epmd), then runs
bounded client processes that log the way applications do:

* web pods: cache-aside reads (redis-py GET; on a miss or a Redis error `cache miss …, loading from db`
  through a small SQLAlchemy QueuePool to PostgreSQL, then SET); a pool timeout is SQLAlchemy's own
  `QueuePool limit of size N overflow M reached` and the request is answered 500;
* worker pods: kombu consumers of the `tasks` queue whose every task needs Redis (an INCR); on a Redis
  error the task is requeued after a pause, so the queue backs up while Redis is down;
* a producer publishing at a steady rate, and a monitor polling the management API (`/api/queues`) every
  second with a `date` line before each answer (plus `rabbitmqctl list_queues` tables before and during
  the outage).

With `--scenario blocked` the producer is a pika publisher of larger messages and RabbitMQ's memory watermark is
set, once the run is steady, a margin above the node's memory in use (`rabbitmqctl set_vm_memory_high_watermark
absolute`, a small broker): the backlog the outage builds raises the memory alarm and RabbitMQ blocks the
publisher, which pika logs (`Received <METHOD(... Connection.Blocked ...)> from broker`).

Mid-run Redis is shut down (SIGTERM, no save) and restarted empty, so the cache is cold after it. The log
folder gets each pod's log, redis-server's and RabbitMQ's logs and the queue snapshots; `<folder>.facts.json`
beside it holds the measured truth. Every child runs in its own process group and is ended by its PID; a
watchdog ends the run after `--timeout` seconds.

Needs redis-server, PostgreSQL's initdb/pg_ctl, rabbitmq-server (Debian's package) and the Python packages
redis, sqlalchemy, pg8000, kombu and (for `--scenario blocked`) pika importable (PYTHONPATH may point at a
`pip install --target` folder).

    python tools/record_cascade.py --out /tmp/incident/cascade
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from base64 import b64encode
from datetime import UTC, datetime
from pathlib import Path

HOST = "127.0.0.1"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
QUEUE = "tasks"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def start(cmd: list[str], log: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """A child in its own process group (ended by its PID with the group)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_port(port: int, limit: float) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        with socket.socket() as s:
            s.settimeout(0.3)
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port} after {limit} s")


# ------------------------------------------------------------------------------------------ pods


def pod_logger(name: str, path: Path) -> logging.Logger:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("amqp", "kombu", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(name)


def run_web(cfg: dict) -> None:
    """Cache-aside reads: Redis first, the database on a miss or a Redis error; 500 when the pool times out."""
    import redis
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    log = pod_logger("app.cache", Path(cfg["log"]))
    access = logging.getLogger("app.access")
    r = redis.Redis(host=HOST, port=cfg["redis_port"], socket_timeout=0.5, socket_connect_timeout=0.3)
    engine = create_engine(f"postgresql+pg8000://postgres@{HOST}:{cfg['pg_port']}/postgres", pool_size=cfg["pool_size"],
                           max_overflow=cfg["overflow"], pool_timeout=cfg["pool_timeout"])
    rng = random.Random(cfg["name"])
    stop_at = cfg["stop_at"]

    def request(n: int) -> None:
        key = f"user:{rng.randrange(cfg['keys'])}"
        try:
            value = r.get(key)
        except redis.RedisError as exc:
            log.error("redis GET %s failed: %s: %s", key, type(exc).__name__, exc)
            value = None
        if value is None:
            log.info("cache miss for key %s, loading from db", key)
            try:
                with engine.connect() as conn:
                    value = conn.execute(text("SELECT pg_sleep(:s), :k"), {"s": cfg["query_s"], "k": key}).all()[0][1]
            except PoolTimeout as exc:
                log.error("sqlalchemy.exc.TimeoutError: %s", exc)
                access.error('"GET /profile/%s HTTP/1.1" 500', key.split(":")[1])
                return
            try:
                r.set(key, value)
            except redis.RedisError:
                pass

    threads = []
    for i in range(cfg["threads"]):
        def loop(i: int = i) -> None:
            n = 0
            while time.time() < stop_at:
                request(n)
                n += 1
                time.sleep(cfg["think_s"])
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(max(0.0, stop_at - time.time()) + 2)


def run_worker(cfg: dict) -> None:
    """A kombu consumer whose every task needs Redis; a task that cannot reach it is requeued after a pause."""
    import redis
    from kombu import Connection, Queue

    log = pod_logger("app.worker", Path(cfg["log"]))
    r = redis.Redis(host=HOST, port=cfg["redis_port"], socket_timeout=0.5, socket_connect_timeout=0.3)
    stop_at = cfg["stop_at"]

    def handle(body, message) -> None:
        try:
            r.incr(f"task:{body['n'] % 50}")
        except redis.RedisError as exc:
            log.error("task %s failed, requeued: %s: %s", body["n"], type(exc).__name__, exc)
            time.sleep(cfg["requeue_pause_s"])
            message.requeue()
            return
        time.sleep(cfg["work_s"])
        message.ack()

    with Connection(cfg["amqp"]) as conn:
        with conn.Consumer(Queue(QUEUE, durable=False), callbacks=[handle], prefetch_count=1):
            while time.time() < stop_at:
                try:
                    conn.drain_events(timeout=0.5)
                except TimeoutError:  # socket.timeout: nothing to drain in 0.5 s
                    continue


def run_producer(cfg: dict) -> None:
    from kombu import Connection, Queue

    with Connection(cfg["amqp"]) as conn:
        producer = conn.Producer()
        queue = Queue(QUEUE, durable=False)
        n = 0
        while time.time() < cfg["stop_at"]:
            producer.publish({"n": n}, routing_key=QUEUE, declare=[queue])
            n += 1
            time.sleep(1.0 / cfg["rate"])


def run_publisher(cfg: dict) -> None:
    """A pika publisher of `payload_kb` messages: RabbitMQ blocks it while a resource alarm is set (pika logs it)."""
    import pika

    pod_logger("app.publisher", Path(cfg["log"]))
    seen = Path(cfg["facts"])  # each block and unblock as pika reported it, written at once (a blocked publish may never return)

    def note(what: str) -> None:
        with seen.open("a") as out:
            out.write(json.dumps([what, time.time()]) + "\n")

    # kombu's `host//` is the vhost `/`; pika reads the path as the vhost name, so `/` is spelled `%2F`. pika logs
    # the broker's Connection.Blocked only with a blocked_connection_timeout (its docs' advice; 60 s here)
    conn = pika.BlockingConnection(pika.URLParameters(cfg["amqp"].rstrip("/") + "/%2F?blocked_connection_timeout=60"))
    # the truth at the frame's arrival: the connection's own callbacks (the blocking adapter's wait for a publish
    # the broker no longer reads)
    conn._impl.add_on_connection_blocked_callback(lambda *_: note("blocked"))
    conn._impl.add_on_connection_unblocked_callback(lambda *_: note("unblocked"))
    channel = conn.channel()
    channel.queue_declare(QUEUE, durable=False)
    pad = "x" * (cfg["payload_kb"] * 1024)
    props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8")
    n = 0
    while time.time() < cfg["stop_at"]:
        channel.basic_publish("", QUEUE, json.dumps({"n": n, "pad": pad}), props)
        n += 1
        conn.process_data_events(time_limit=max(0.0, 1.0 / cfg["rate"]))
    conn.close()


# ------------------------------------------------------------------------------------------ servers


class Servers:
    """redis-server, PostgreSQL and RabbitMQ of one run, and every other child, ended by PID."""

    def __init__(self, work: Path, out: Path) -> None:
        self.work, self.out = work, out
        self.procs: list[subprocess.Popen] = []
        self.redis_port, self.pg_port = free_port(), free_port()
        self.amqp_port, self.mgmt_port, self.dist_port, self.epmd_port = (free_port() for _ in range(4))
        self.redis: subprocess.Popen | None = None
        self.node = f"pmcascade{os.getpid()}@localhost"

    def track(self, proc: subprocess.Popen) -> subprocess.Popen:
        self.procs.append(proc)
        return proc

    def start_redis(self) -> None:
        self.redis = self.track(start(["redis-server", "--port", str(self.redis_port), "--bind", HOST, "--save", "",
                                       "--appendonly", "no", "--logfile", str(self.out / "redis-server.log"),
                                       "--loglevel", "notice"]))
        wait_port(self.redis_port, 10)

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.send_signal(signal.SIGTERM)
        self.redis.wait(10)

    def start_postgres(self) -> None:
        root = self.work / "pgroot"
        root.mkdir()
        as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(root, "postgres")
            self.work.chmod(0o755)
            as_user = ["runuser", "-u", "postgres", "--"]
        data = root / "data"
        subprocess.run([*as_user, "initdb", "-D", str(data), "-U", "postgres", "--auth=trust"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        self.track(start([*as_user, "postgres", "-D", str(data), "-p", str(self.pg_port), "-k", str(root),
                          "-c", f"listen_addresses={HOST}", "-c", "max_connections=50"], log=self.work / "pg.log"))
        wait_port(self.pg_port, 30)

    def rabbit_env(self) -> dict:
        base = self.work / "rabbit"
        base.mkdir(exist_ok=True)
        (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {self.amqp_port}\nmanagement.tcp.port = {self.mgmt_port}\n"
            f"management.tcp.ip = {HOST}\ncollect_statistics_interval = 1000\nloopback_users = none\n")
        env = dict(os.environ, HOME=str(base), RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.amqp_port),
                   RABBITMQ_DIST_PORT=str(self.dist_port), ERL_EPMD_PORT=str(self.epmd_port),
                   RABBITMQ_MNESIA_BASE=str(base / "mnesia"), RABBITMQ_LOG_BASE=str(base / "log"),
                   RABBITMQ_CONFIG_FILE=str(base / "rabbitmq"), RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
                   RABBITMQ_PID_FILE=str(base / "pid"))
        return env

    def start_rabbit(self) -> dict:
        env = self.rabbit_env()
        # our own epmd on our own port, in the foreground, so it ends with the run
        self.track(start(["epmd", "-port", str(self.epmd_port)], env=env))
        self.track(start([str(RABBIT_BIN / "rabbitmq-server")], log=self.work / "rabbit.stdout", env=env))
        wait_port(self.amqp_port, 120)
        wait_port(self.mgmt_port, 60)
        return env

    def rabbit_log(self) -> Path:
        return self.work / "rabbit" / "log" / f"{self.node}.log"

    def end(self) -> None:
        for proc in reversed(self.procs):
            kill_group(proc, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                proc.wait(5)


def poll_queues(servers: Servers, path: Path, stop: threading.Event, samples: list) -> None:
    """`date -u` then `/api/queues` every second: the management API's own JSON, as an operator's loop saves it."""
    auth = "Basic " + b64encode(b"guest:guest").decode()
    url = f"http://{HOST}:{servers.mgmt_port}/api/queues?columns=name,vhost,node,state,messages,messages_ready," \
          "messages_unacknowledged,consumers,message_stats.publish_details,message_stats.deliver_get_details," \
          "message_stats.ack_details"
    with path.open("w") as out:
        while not stop.is_set():
            now = time.time()
            try:
                body = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth}), timeout=2).read()
            except OSError:
                stop.wait(1.0)
                continue
            queues = json.loads(body)
            out.write(datetime.fromtimestamp(now, tz=UTC).strftime("%a %b %e %H:%M:%S UTC %Y") + "\n")
            out.write(body.decode() + "\n")
            out.flush()
            for q in queues:
                if q.get("name") == QUEUE:
                    samples.append((now, q.get("messages"), q.get("consumers")))
            stop.wait(max(0.0, 1.0 - (time.time() - now)))


def node_memory(servers: Servers) -> int:
    """The node's memory in use, as the management API reports it (`/api/nodes` `mem_used`)."""
    auth = "Basic " + b64encode(b"guest:guest").decode()
    req = urllib.request.Request(f"http://{HOST}:{servers.mgmt_port}/api/nodes", headers={"Authorization": auth})
    return int(json.loads(urllib.request.urlopen(req, timeout=5).read())[0]["mem_used"])


def list_queues(env: dict, servers: Servers, path: Path) -> None:
    """One real `rabbitmqctl list_queues name messages consumers`, after a `date` line (an operator's loop)."""
    now = datetime.now(tz=UTC).strftime("%a %b %e %H:%M:%S UTC %Y")
    res = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", servers.node, "list_queues", "name", "messages",
                          "consumers"], env=env, capture_output=True, text=True, timeout=60)
    with path.open("a") as out:
        out.write(f"{now}\n$ rabbitmqctl list_queues name messages consumers\n{res.stdout}")


def _lines(path: Path) -> int:
    """Lines as the analyzer counts them (the same count tools/record_incident.py writes)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return sum(1 for _ in fh)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="the log folder to write (required unless --pod)")
    ap.add_argument("--seconds", type=float, default=66.0, help="length of the client run")
    ap.add_argument("--outage-at", type=float, default=40.0, help="seconds into the run (a baseline before it)")
    ap.add_argument("--outage-s", type=float, default=8.0)
    ap.add_argument("--web-pods", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0, help="watchdog: the whole run ends after this")
    ap.add_argument("--scenario", choices=("cascade", "blocked"), default="cascade",
                    help="blocked: a pika publisher and a memory watermark the outage's backlog crosses")
    ap.add_argument("--payload-kb", type=int, default=256, help="blocked: the publisher's message size")
    ap.add_argument("--watermark-margin-mb", type=float, default=40.0,
                    help="blocked: the memory watermark this far above the node's memory in use before the outage")
    ap.add_argument("--pod", help=argparse.SUPPRESS)
    ap.add_argument("--pod-config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pod:
        cfg = json.loads(args.pod_config)
        {"web": run_web, "worker": run_worker, "producer": run_producer, "publisher": run_publisher}[args.pod](cfg)
        return 0
    if args.out is None:
        ap.error("--out is required")
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="pm-cascade-"))
    servers = Servers(work, out)
    watchdog = threading.Timer(args.timeout, servers.end)
    watchdog.daemon = True
    watchdog.start()
    stop = threading.Event()
    depth: list = []
    facts: dict = {"recorder": "tools/record_cascade.py", "scenario": args.scenario, "queue": QUEUE}
    try:
        servers.start_redis()
        servers.start_postgres()
        env = servers.start_rabbit()
        amqp = f"amqp://guest:guest@{HOST}:{servers.amqp_port}//"
        keys = 400
        import redis

        warm = redis.Redis(host=HOST, port=servers.redis_port)
        warm.mset({f"user:{i}": f"profile-{i}" for i in range(int(keys * 0.97))})  # a warm cache: a few misses
        t0 = time.time() + 3
        stop_at = t0 + args.seconds
        base = {"redis_port": servers.redis_port, "pg_port": servers.pg_port, "amqp": amqp, "stop_at": stop_at}
        web = {"pool_size": 2, "overflow": 1, "pool_timeout": 0.25, "threads": 8, "think_s": 0.1, "query_s": 0.2,
               "keys": keys}
        work_cfg = {"requeue_pause_s": 0.5, "work_s": 0.01}
        pods: list[tuple[str, str, dict]] = []
        for i in range(args.web_pods):
            pods.append(("web", f"web-6c9f7d-{'abcdefgh'[i]}x4q{i}", web))
        for i in range(args.workers):
            pods.append(("worker", f"worker-5b8d9c-{'mnpqrstu'[i]}7k2{i}", work_cfg))
        if args.scenario == "blocked":
            pods.append(("publisher", "publisher-7f6b5d-z9w2c", {"rate": 40.0, "payload_kb": args.payload_kb,
                                                                  "facts": str(work / "publisher.facts.json")}))
        else:
            pods.append(("producer", "producer-7f6b5d-z9w2c", {"rate": 40.0}))
        for role, name, extra in pods:
            cfg = {**base, **extra, "name": name, "log": str(out / f"{name}.log")}
            servers.track(start([sys.executable, __file__, "--pod", role, "--pod-config", json.dumps(cfg)],
                                log=work / f"{name}.stderr", env=dict(os.environ)))
        poller = threading.Thread(target=poll_queues, args=(servers, out / "rabbitmq-api-queues.txt", stop, depth),
                                  daemon=True)
        poller.start()
        list_queues(env, servers, out / "rabbitmqctl-list-queues.txt")
        outage_at = t0 + args.outage_at
        if args.scenario == "blocked":  # a small broker: the watermark a margin above steady use, set before the outage
            time.sleep(max(0.0, outage_at - 8 - time.time()))
            used = node_memory(servers)
            limit = int(used + args.watermark_margin_mb * 2**20)
            subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", servers.node, "set_vm_memory_high_watermark",
                            "absolute", str(limit)], env=env, capture_output=True, check=True, timeout=60)
            facts.update({"memory_used_before": used, "memory_watermark": limit})
        time.sleep(max(0.0, outage_at - time.time()))
        down = time.time()
        servers.stop_redis()
        time.sleep(args.outage_s)
        up = time.time()
        servers.start_redis()
        time.sleep(max(0.0, stop_at + 1 - time.time()))
        stop.set()
        poller.join(5)
        # rabbitmqctl takes seconds to answer, so its tables are taken only in steady state: before and after
        list_queues(env, servers, out / "rabbitmqctl-list-queues.txt")
        before = [d for t, d, _ in depth if t < down and d is not None]
        after = [(t, d) for t, d, _ in depth if t >= down and d is not None]
        peak = max(after, key=lambda x: x[1]) if after else (None, None)
        facts.update({
            "outage_start": iso(down), "outage_end": iso(up), "outage_s": round(up - down, 3),
            "queue_depth_before_max": max(before) if before else None, "queue_peak": peak[1],
            "queue_peak_at": iso(peak[0]), "db_pool": {"library": "sqlalchemy", "pool_size": web["pool_size"],
                                                         "overflow": web["overflow"], "timeout_s": web["pool_timeout"]},
            "web_pods": args.web_pods, "workers": args.workers, "producer_rate_per_s": 40.0,
        })
    finally:
        stop.set()
        servers.end()
        watchdog.cancel()
        rabbit_log = servers.rabbit_log()
        if rabbit_log.exists():
            shutil.copy(rabbit_log, out / "rabbitmq-server.log")
        seen = work / "publisher.facts.json"
        if seen.exists():
            marks = [json.loads(line) for line in seen.read_text().splitlines()]
            facts.update({f"{what}_at": [iso(t) for w, t in marks if w == what] for what in ("blocked", "unblocked")})
        errors = [p for p in work.glob("*.stderr") if p.stat().st_size]
        if errors:  # a pod that crashed: its stderr beside the facts, never inside the log folder
            (out.parent / f"{out.name}.stderr").write_text("".join(f"== {p.name}\n{p.read_text()}" for p in errors))
        shutil.rmtree(work, ignore_errors=True)
    counts = {}
    for log in out.glob("web-*.log"):
        text = log.read_text()
        counts["pool_timeouts"] = counts.get("pool_timeouts", 0) + text.count("QueuePool limit of size")
        counts["http_500"] = counts.get("http_500", 0) + text.count('" 500')
        counts["cache_miss_loads"] = counts.get("cache_miss_loads", 0) + text.count("cache miss for key")
    facts.update(counts)
    facts["files"] = {f.name: {"bytes": f.stat().st_size, "lines": _lines(f)} for f in sorted(out.iterdir()) if f.is_file()}
    (out.parent / f"{out.name}.facts.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    print(json.dumps(facts, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
