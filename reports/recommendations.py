"""Config fixes per rule that fired, filled in with what the logs showed (formats.md §6).

Only rules that were found get a recommendation. Figures come from `Finding.stats` of every finding
(so a maxclients line can use the pod count a storm finding measured); the keys read are listed in
`ALIASES`. Log-derived values only reach a snippet as numbers or through `_safe` (an allow-list), so
no log text can break a code block.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from postmortem.model import Finding, Report

SE = "stackexchange_redis"
PY = "redis_py"


@dataclass(frozen=True)
class Snippet:
    lang: str  # code-fence language: csharp, text, python, yaml, conf, sh
    label: str
    code: str


@dataclass(frozen=True)
class Recommendation:
    rule_id: str
    title: str
    advice: str
    snippets: tuple[Snippet, ...] = ()
    same_as: tuple[tuple[str, str], ...] = ()  # (snippet label, rule ID) already shown above


@dataclass(frozen=True)
class ActionItem:
    kind: str  # prevent, mitigate, process
    text: str
    rule_ids: tuple[str, ...]


# Stats keys detectors may use for the same figure (first found wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "pods": ("pods", "pod_count", "n_pods", "hosts", "n_hosts", "clients_hosts"),
    "pool_cap": ("pool_max", "max_connections", "pool_cap", "pool_size"),
    "maxclients": ("maxclients", "max_clients"),
    "peak_clients": ("peak_clients", "connected_clients_max", "max_connected_clients", "peak"),
    "busy": ("peak_worker_busy", "worker_busy", "worker_busy_max", "busy_max", "busy"),
    "min_threads": ("worker_min", "min_threads", "min"),
    "replicas_to": ("replicas_to", "new_size", "to_replicas", "max_replicas"),
    "replicas_from": ("replicas_from", "from_replicas", "old_size"),
    "sync_timeout": ("sync_timeout_ms", "synctimeout", "timeout_ms"),
}


def _num(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,12}(\.\d+)?\s*", value):
        return float(value)
    return None


def _safe(text: object, limit: int = 80) -> str:
    """Keep only characters that are inert in code blocks, YAML scalars and connection strings."""
    return re.sub(r"[^A-Za-z0-9._:/-]", "", str(text or ""))[:limit]


def parse_version(text: object) -> tuple[int, ...] | None:
    m = re.search(r"(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?", str(text or ""))
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def _vstr(v: tuple[int, ...] | None) -> str:
    return ".".join(map(str, v)) if v else ""


@dataclass
class Facts:
    """What the findings measured, merged across findings of the report."""

    clients: set[str] = field(default_factory=set)
    versions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    endpoint: str = ""
    hpa: str = ""
    deployment: str = ""

    def n(self, name: str) -> int | None:
        return self.numbers.get(name)

    def wants(self, client: str) -> bool:
        """Show snippets for this client: it was seen, or no client was identified at all."""
        return client in self.clients or not self.clients


def gather(report: Report) -> Facts:
    facts = Facts()
    for src in report.event_counts:
        if src in (SE, PY):
            facts.clients.add(src)
    for f in report.findings:
        st = {str(k).lower(): v for k, v in f.stats.items()}
        client = st.get("client")
        if client in (SE, PY):
            facts.clients.add(client)
            v = parse_version(st.get("client_version"))
            if v and client not in facts.versions:
                facts.versions[client] = v
        for name, keys in ALIASES.items():
            if name in facts.numbers:
                continue
            for k in keys:
                val = _num(st.get(k))
                if val is not None:
                    facts.numbers[name] = int(math.ceil(val))
                    break
        for e in f.entities:
            kind, _, rest = str(e).partition(":")
            if kind == "redis" and not facts.endpoint:
                facts.endpoint = _safe(rest)
            elif kind == "hpa" and not facts.hpa:
                facts.hpa = _safe(rest.rpartition("/")[2]).lower()
            elif kind == "deployment" and not facts.deployment:
                facts.deployment = _safe(rest.rpartition("/")[2]).lower()
        if "pods" not in facts.numbers:
            pods = {e for e in f.entities if str(e).startswith("pod:")}
            if len(pods) > 1:
                facts.numbers["pods"] = len(pods)
    return facts


# ---- snippet builders -------------------------------------------------------------------------------

def _endpoint(facts: Facts) -> tuple[str, int]:
    host, _, port = (facts.endpoint or "redis:6379").rpartition(":")
    if not host or not port.isdigit():
        return (facts.endpoint or "redis"), 6379
    return host, int(port)


def se_connection_string(facts: Facts) -> Snippet:
    host, port = _endpoint(facts)
    return Snippet("text", "StackExchange.Redis connection string",
                   f"{host}:{port},abortConnect=false,connectRetry=5,connectTimeout=10000,"
                   "syncTimeout=5000,asyncTimeout=5000")


def se_options(facts: Facts, *, backlog: bool = True, single: bool = True) -> Snippet:
    host, port = _endpoint(facts)
    v = facts.versions.get(SE)
    lines = [
        f'var options = ConfigurationOptions.Parse("{host}:{port}");',
        "options.AbortOnConnectFail = false;   // a Redis blip must not crash the pod; the multiplexer reconnects",
        "options.ConnectRetry = 5;",
        "options.ConnectTimeout = 10000;       // room for TLS handshakes while every pod reconnects",
        "options.ReconnectRetryPolicy = new ExponentialRetry(5000, 30000); // jittered; LinearRetry is not",
    ]
    if v and v < (2, 2, 88):
        lines.append(f"// {_vstr(v)} defaults to LinearRetry (no jitter): set the policy explicitly as above")
    if backlog:
        if v and v < (2, 5):
            lines.append(f"// BacklogPolicy needs 2.5+; {_vstr(v)} fails fast already while disconnected")
        else:
            lines.append("options.BacklogPolicy = BacklogPolicy.FailFast; // no queued burst flushed at reconnect")
    if single:
        lines += [
            "",
            "// One multiplexer per process (register as a DI singleton); never one per request.",
            "public static class RedisConnection",
            "{",
            "    static readonly Lazy<ConnectionMultiplexer> Mux = new(() => ConnectionMultiplexer.Connect(options));",
            "    public static IDatabase Db => Mux.Value.GetDatabase();",
            "}",
        ]
    return Snippet("csharp", "C# ConfigurationOptions", "\n".join(lines))


def _py_backoff(facts: Facts) -> tuple[str, str, str]:
    """(import name, expression, note) for a jittered backoff this redis-py version has."""
    v = facts.versions.get(PY)
    if v and v < (5, 3):
        return ("EqualJitterBackoff", "EqualJitterBackoff(cap=10, base=0.1)",
                f"# redis-py {_vstr(v)}: ExponentialWithJitterBackoff exists since 5.3.0; "
                "EqualJitterBackoff also spreads retries")
    note = ""
    if v and (6,) <= v < (8,):
        note = (f"# redis-py {_vstr(v)}: Redis() already retries 3x (base=1, cap=10) and connect retries nest "
                "inside command retries; keep this one layer and no outer loop")
    return "ExponentialWithJitterBackoff", "ExponentialWithJitterBackoff(base=0.1, cap=10)", note


def pool_cap(facts: Facts) -> int:
    """Per-pod connection cap: 80 % of maxclients shared by the pods seen, else what was set, else 20."""
    pods, maxc = facts.n("pods"), facts.n("maxclients")
    if pods and maxc:
        return max(1, min(50, int(maxc * 0.8) // pods))
    return facts.n("pool_cap") or 20


def py_pool(facts: Facts, *, retry: bool = True) -> Snippet:
    host, port = _endpoint(facts)
    name, backoff, note = _py_backoff(facts)
    cap = pool_cap(facts)
    lines = ["import redis"]
    if retry:
        lines += [f"from redis.backoff import {name}", "from redis.retry import Retry"]
    lines += ["", "# Module level: one pool per process, never a client per request."]
    if note and retry:
        lines.append(note)
    lines += [
        "POOL = redis.BlockingConnectionPool(",
        f'    host="{host}", port={port},',
        f"    max_connections={cap},  # per process; pods x processes x cap <= 80 % of maxclients",
        "    timeout=2,  # wait this long for a free connection, then raise (no unbounded growth)",
        "    socket_timeout=2, socket_connect_timeout=2,  # <= 7.x defaults are None: hung sockets hold slots",
        "    health_check_interval=30, socket_keepalive=True,",
    ]
    if retry:
        lines.append(f"    retry=Retry({backoff}, 3),")
    lines += [")", "r = redis.Redis(connection_pool=POOL)"]
    return Snippet("python", "redis-py", "\n".join(lines))


def py_retry(facts: Facts) -> Snippet:
    name, backoff, note = _py_backoff(facts)
    lines = [f"from redis.backoff import {name}", "from redis.retry import Retry", ""]
    if note:
        lines.append(note)
    lines.append(f"r = redis.Redis(connection_pool=POOL, retry=Retry({backoff}, 3))")
    return Snippet("python", "redis-py retry with jitter", "\n".join(lines))


def maxclients_conf(facts: Facts) -> Snippet:
    pods, cap, maxc = facts.n("pods"), facts.n("pool_cap") or pool_cap(facts), facts.n("maxclients")
    lines = []
    if pods:
        need = pods * cap
        size = max(int(math.ceil(need * 1.25 / 100.0)) * 100, maxc or 0)
        lines += [f"# {pods} pods x {cap} connections per pod = {need}; +25 % headroom for rollouts and admin",
                  f"maxclients {size}"]
    else:
        lines += ["# size as pods x per-pod pool cap + 25 % headroom (rollouts, HPA max, admin clients)",
                  f"maxclients {max(20000, (maxc or 0) * 2)}"]
    if maxc:
        lines.insert(0, f"# the server was at maxclients {maxc}")
    lines += ["# the container's open-file limit must exceed maxclients + 32 (ulimit -n / LimitNOFILE)",
              "tcp-backlog 1024  # truncated to net.core.somaxconn: raise both"]
    return Snippet("conf", "redis.conf", "\n".join(lines))


def somaxconn() -> tuple[Snippet, ...]:
    return (
        Snippet("sh", "Node (or init container)", "sysctl -w net.core.somaxconn=1024 net.ipv4.tcp_max_syn_backlog=1024"),
        Snippet("yaml", "Redis pod securityContext (unsafe sysctl: allow it on the kubelet)",
                "securityContext:\n  sysctls:\n    - name: net.core.somaxconn\n      value: \"1024\""),
    )


def hpa_yaml(facts: Facts) -> Snippet:
    name = facts.hpa or facts.deployment or "app"
    lines = ["apiVersion: autoscaling/v2", "kind: HorizontalPodAutoscaler", f"metadata:\n  name: {name}",
             "spec:", "  behavior:", "    scaleUp:",
             "      stabilizationWindowSeconds: 120  # do not chase CPU burnt by retries",
             "      policies:", "        - type: Pods", "          value: 4", "          periodSeconds: 60"]
    frm, to = facts.n("replicas_from"), facts.n("replicas_to")
    if to:
        lines.insert(0, f"# scaled {frm or '?'} -> {to} replicas during the storm; each new pod opened its own pool")
    return Snippet("yaml", "Kubernetes HPA", "\n".join(lines))


def probes_yaml() -> Snippet:
    return Snippet("yaml", "Kubernetes probes", "\n".join([
        "livenessProbe:            # process health only: /livez must NOT call Redis",
        "  httpGet: {path: /livez, port: 8080}",
        "  periodSeconds: 10",
        "  failureThreshold: 6",
        "readinessProbe:           # dependency checks (Redis) go here: failing removes the pod from the Service",
        "  httpGet: {path: /readyz, port: 8080}",
        "  periodSeconds: 5",
        "  failureThreshold: 3",
    ]))


def rollout_yaml() -> Snippet:
    return Snippet("yaml", "Kubernetes Deployment",
                   "spec:\n  strategy:\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0")


def breaker(facts: Facts) -> tuple[Snippet, ...]:
    out = []
    if facts.wants(SE):
        out.append(Snippet("csharp", "C# circuit breaker (Polly)", "\n".join([
            "// After 5 consecutive Redis failures stop calling it for 30 s and serve from the source of truth.",
            "var breaker = Policy",
            "    .Handle<RedisConnectionException>()",
            "    .Or<RedisTimeoutException>()",
            "    .CircuitBreakerAsync(exceptionsAllowedBeforeBreaking: 5, durationOfBreak: TimeSpan.FromSeconds(30));",
            "var value = await breaker.ExecuteAsync(() => db.StringGetAsync(key));",
        ])))
    if facts.wants(PY):
        out.append(Snippet("python", "Python circuit breaker", "\n".join([
            "import time",
            "",
            "import redis",
            "",
            "",
            "class RedisBreaker:",
            '    """Open after `threshold` consecutive failures; fail fast for `cooldown` s, then try once."""',
            "",
            "    def __init__(self, threshold=5, cooldown=30.0):",
            "        self.threshold, self.cooldown = threshold, cooldown",
            "        self.failures, self.opened_at = 0, None",
            "",
            "    def call(self, fn, *args, **kwargs):",
            "        if self.opened_at is not None:",
            "            if time.monotonic() - self.opened_at < self.cooldown:",
            '                raise redis.ConnectionError("circuit open: Redis marked down")',
            "            self.opened_at = None  # half-open: one call goes through",
            "        try:",
            "            result = fn(*args, **kwargs)",
            "        except (redis.ConnectionError, redis.TimeoutError):",
            "            self.failures += 1",
            "            if self.failures >= self.threshold:",
            "                self.opened_at = time.monotonic()",
            "            raise",
            "        self.failures = 0",
            "        return result",
        ])))
    return tuple(out)


def min_threads(facts: Facts) -> Snippet:
    busy, mn = facts.n("busy"), facts.n("min_threads")
    n = max(200, int(math.ceil((busy or 0) * 1.5 / 50.0)) * 50)
    lines = []
    if busy and mn:
        lines.append(f"// observed WORKER Busy={busy} > Min={mn}: threads were added ~2 per second while requests waited")
    lines += [f"ThreadPool.SetMinThreads(workerThreads: {n}, completionPortThreads: {n}); // at startup",
              "// the real fix: async end-to-end (await db.StringGetAsync), no .Result / .Wait() on the request path"]
    return Snippet("csharp", "C# thread pool", "\n".join(lines))


def alerts() -> Snippet:
    return Snippet("yaml", "Prometheus alerts (redis_exporter)", "\n".join([
        "groups:",
        "  - name: redis-connections",
        "    rules:",
        "      - alert: RedisRejectingConnections",
        "        expr: increase(redis_rejected_connections_total[1m]) > 0",
        "        labels: {severity: critical}",
        "      - alert: RedisClientsNearMaxclients",
        "        expr: redis_connected_clients / redis_max_clients > 0.9",
        "        for: 1m",
        "        labels: {severity: warning}",
    ]))


def _clients(facts: Facts, se: Callable[[], list[Snippet]], py: Callable[[], list[Snippet]]) -> tuple[Snippet, ...]:
    out: list[Snippet] = []
    if facts.wants(SE):
        out += se()
    if facts.wants(PY):
        out += py()
    return tuple(out)


# ---- per rule ---------------------------------------------------------------------------------------

def _rec(rule_id: str, facts: Facts) -> tuple[str, str, tuple[Snippet, ...]] | None:
    """(title, advice, snippets) for one rule, or None for rules without a config fix."""
    se_full = lambda: [se_connection_string(facts), se_options(facts)]  # noqa: E731
    if rule_id == "PM001":
        return ("Make every input readable", "Force a parser with `--source-type NAME=GLOB` where a format was "
                "mis-detected, or attach the unrecognized samples below to a parser issue.", ())
    if rule_id == "PM002":
        return ("Fix clock skew", "Run chrony/NTP on every node; until then read cross-source ordering with care.", ())
    if rule_id == "PM100":
        return ("Survive a Redis outage without a storm",
                "Clients must keep running while Redis is away and come back spread out in time, not at once; "
                "a circuit breaker stops hammering an endpoint that is down.",
                _clients(facts, se_full, lambda: [py_pool(facts)]) + breaker(facts))
    if rule_id in ("PM101", "PM402"):
        return ("Reconnect with exponential backoff and jitter",
                "Pods disconnected by one event must not reconnect at the same instants.",
                _clients(facts, lambda: [se_options(facts, single=False)], lambda: [py_retry(facts)])
                + ((maxclients_conf(facts),) if rule_id == "PM101" else ()))
    if rule_id == "PM102":
        return ("One retry layer with a budget, plus a circuit breaker",
                "Retries kept a failing Redis down: keep a single retry layer (3 tries, jittered) and no outer "
                "loop (Polly/tenacity) around it; open a breaker when Redis is down.",
                _clients(facts, lambda: [se_options(facts, single=False)], lambda: [py_retry(facts)])
                + breaker(facts))
    if rule_id in ("PM103", "PM302", "PM404"):
        return ("Cap connections per pod and size maxclients for all pods",
                "Size maxclients as pods x per-pod pool cap + headroom, and cap every pool so the sum cannot "
                "exceed it.",
                _clients(facts, lambda: [se_options(facts, backlog=False)], lambda: [py_pool(facts)])
                + (maxclients_conf(facts),) + somaxconn() + ((alerts(),) if rule_id != "PM404" else ()))
    if rule_id == "PM104":
        return ("Bound the pool and time out waits",
                "A blocking pool with a cap and a wait timeout turns exhaustion into fast, visible errors.",
                _clients(facts, lambda: [se_options(facts, backlog=False)], lambda: [py_pool(facts)]))
    if rule_id in ("PM105", "PM405"):
        return ("Raise the .NET thread-pool minimum", "Busy threads above Min mean continuations waited for "
                "thread injection; timeouts followed.", (min_threads(facts),))
    if rule_id in ("PM106", "PM406"):
        return ("Set timeouts that fit the workload",
                "Too short gives false timeouts that feed retries; missing lets hung sockets hold pool slots.",
                _clients(facts, lambda: [se_connection_string(facts)], lambda: [py_pool(facts, retry=False)]))
    if rule_id == "PM107":
        return ("Treat LOADING as retryable after a restart",
                "Retry BusyLoadingError with backoff and keep the pod out of the Service until Redis answers.",
                _clients(facts, lambda: [se_options(facts, single=False)], lambda: [Snippet(
                    "python", "redis-py", "from redis.exceptions import BusyLoadingError\n\n"
                    f"r = redis.Redis(connection_pool=POOL, retry=Retry({_py_backoff(facts)[1]}, 5),\n"
                    "                retry_on_error=[BusyLoadingError])")]) + (probes_yaml(),))
    if rule_id in ("PM201", "PM203"):
        return ("Keep Redis out of the liveness probe",
                "A Redis blip must not restart pods: each restart reconnects and adds to the storm.",
                (probes_yaml(),) + _clients(facts, lambda: [se_connection_string(facts)], lambda: []))
    if rule_id == "PM202":
        return ("Slow the autoscaler down during a storm",
                "Retries burn CPU, the HPA adds pods, each new pod opens its pool: limit scale-up speed and "
                "roll out one pod at a time.", (hpa_yaml(facts), rollout_yaml()))
    if rule_id in ("PM301", "PM303"):
        return ("Reuse connections", "One multiplexer / pool per process; connection churn and client spikes "
                "come from clients created per request or reconnecting together.",
                _clients(facts, lambda: [se_options(facts, backlog=False)], lambda: [py_pool(facts)])
                + (alerts(),))
    if rule_id == "PM304":
        return ("Size memory for the working set", "Evictions under pressure turn cache hits into source "
                "reads during the storm.",
                (Snippet("conf", "redis.conf", "maxmemory-policy allkeys-lru  # or volatile-lru if only TTL keys "
                         "may go\n# and raise maxmemory above used_memory at peak"),))
    if rule_id == "PM401":
        return ("abortConnect=false", "With abortConnect=true a Redis blip at startup crashes the pod, and "
                "every restart reconnects.", tuple(se_full()))
    if rule_id == "PM403":
        return ("One client per process", "A multiplexer or client per request multiplies connections by the "
                "request rate.", _clients(facts, lambda: [se_options(facts)], lambda: [py_pool(facts)]))
    return None


def recommendations(report: Report) -> list[Recommendation]:
    """One recommendation per rule found, in rule-ID order; the finding's own text leads the advice."""
    facts = gather(report)
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    out = []
    shown: dict[Snippet, str] = {}  # the same snippet twice is shown once and referenced after
    for rule_id in sorted(by_rule):
        rec = _rec(rule_id, facts)
        own = next((f.recommendation for f in by_rule[rule_id] if f.recommendation), "")
        if rec is None:
            if own:
                out.append(Recommendation(rule_id, by_rule[rule_id][0].name, own))
            continue
        title, advice, snippets = rec
        fresh = tuple(sn for sn in snippets if sn not in shown)
        same = tuple((sn.label, shown[sn]) for sn in snippets if sn in shown)
        for sn in fresh:
            shown[sn] = rule_id
        out.append(Recommendation(rule_id, title, own or advice, fresh, same))
    return out


_ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "PM001": (("process", "Extend parser coverage for the unrecognized inputs listed below."),),
    "PM002": (("process", "Enforce NTP/chrony on every node and alert on clock offset."),),
    "PM100": (("mitigate", "Put a circuit breaker in front of Redis and a fallback to the source of truth."),
              ("process", "Alert when clients cannot reach Redis for more than 30 s.")),
    "PM101": (("prevent", "Use jittered exponential reconnects in every client."),
              ("process", "Load-test a Redis restart with production pod counts before the next release.")),
    "PM102": (("prevent", "Keep one retry layer with a budget (3 tries, jittered); remove outer retry loops."),
              ("mitigate", "Open a circuit breaker while Redis is down instead of retrying.")),
    "PM103": (("prevent", "Cap per-pod pools and size maxclients as pods x cap + headroom."),
              ("process", "Alert on rejected_connections > 0 and connected_clients above 90 % of maxclients.")),
    "PM104": (("prevent", "Use a bounded, blocking pool with a wait timeout."),),
    "PM105": (("prevent", "Make the Redis call path async end-to-end."),
              ("mitigate", "Raise ThreadPool minimum threads at startup.")),
    "PM106": (("process", "Check SLOWLOG and server CPU during the window; alert on p99 latency."),),
    "PM107": (("mitigate", "Retry LOADING with backoff and gate readiness on Redis answering."),),
    "PM201": (("prevent", "Stop restarting pods on Redis errors (liveness must not depend on Redis)."),),
    "PM202": (("prevent", "Limit HPA scale-up speed (stabilization window, pods per minute)."),),
    "PM203": (("prevent", "Move the Redis check from the liveness to the readiness probe."),),
    "PM301": (("process", "Alert on connected_clients near maxclients."),),
    "PM302": (("mitigate", "Raise maxclients (and ulimit) to pods x pool cap + headroom."),
              ("process", "Alert on any rise of rejected_connections.")),
    "PM303": (("prevent", "Reuse one multiplexer / pool per process."),),
    "PM304": (("mitigate", "Raise maxmemory or set an eviction policy suited to the cache."),),
    "PM401": (("prevent", "Set abortConnect=false in every StackExchange.Redis connection string."),),
    "PM402": (("prevent", "Replace constant/linear retry policies with jittered exponential backoff."),),
    "PM403": (("prevent", "Create one client per process (static Lazy<ConnectionMultiplexer> / module-level pool)."),),
    "PM404": (("prevent", "Cap the redis-py pool (BlockingConnectionPool max_connections, timeout)."),),
    "PM405": (("mitigate", "Raise ThreadPool.SetMinThreads to the observed burst."),),
    "PM406": (("prevent", "Set connect and command timeouts explicitly (5 s / 2 s) in every client."),),
}
_KIND_ORDER = {"prevent": 0, "mitigate": 1, "process": 2}


def action_items(report: Report) -> list[ActionItem]:
    """Prevent / mitigate / process items for the rules found; the same item from two rules is merged."""
    merged: dict[tuple[str, str], list[str]] = {}
    for rule_id in sorted({f.rule_id for f in report.findings}):
        for kind, text in _ACTIONS.get(rule_id, ()):
            merged.setdefault((kind, text), []).append(rule_id)
    items = [ActionItem(kind, text, tuple(rules)) for (kind, text), rules in merged.items()]
    return sorted(items, key=lambda a: (_KIND_ORDER[a.kind], a.rule_ids, a.text))
