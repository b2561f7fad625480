"""The shared advice library: the incident's facts, config snippet builders, and the assembly of
recommendations and action items from the rules that fired.

Each rule says in its own module what it recommends (`advise(facts)`) and which action items it
brings (`rule.actions`); this module only holds what several rules share. Figures come from the
findings' typed figures (`Figures.facts()`: a rule names which of its fields tell the pod count,
maxclients, ...), the first finding in report order that knows a fact wins. Log-derived values only
reach a snippet as numbers or through `_safe` (an allow-list), so no log text can break a code block.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from postmortem.model import ACTION_KINDS, ActionItem, Finding, Recommendation, Snippet

SE = "stackexchange_redis"
PY = "redis_py"


@dataclass(frozen=True)
class Advice:
    """A rule's recommendation for this incident: a title, one paragraph, and config snippets."""

    title: str
    advice: str
    snippets: tuple[Snippet, ...] = ()


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
    """What the findings measured, merged across the findings of the report."""

    clients: set[str] = field(default_factory=set)
    versions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    pods: int | None = None  # client pods (hosts) that talked to Redis
    pool_cap: int | None = None  # the largest per-pod pool cap a config set
    maxclients: int | None = None  # the server's maxclients
    busy: int | None = None  # peak busy .NET worker threads
    min_threads: int | None = None  # the .NET ThreadPool worker minimum
    endpoint: str = ""
    hpa: str = ""
    deployment: str = ""

    def wants(self, client: str) -> bool:
        """Show snippets for this client: it was seen, or no client was identified at all."""
        return client in self.clients or not self.clients


NUMBER_FACTS = ("pods", "pool_cap", "maxclients", "busy", "min_threads")


def gather(findings: Sequence[Finding], sources: Iterable[str]) -> Facts:
    """The facts of one incident: client families from the event sources, figures from the findings."""
    facts = Facts()
    for src in sources:
        if src in (SE, PY):
            facts.clients.add(src)
    for f in findings:
        told = f.figures.facts() if f.figures is not None else {}
        client = told.get("client")
        if client in (SE, PY):
            facts.clients.add(client)
            v = parse_version(told.get("client_version"))
            if v and client not in facts.versions:
                facts.versions[client] = v
        for name in NUMBER_FACTS:
            val = _num(told.get(name))
            if getattr(facts, name) is None and val is not None:
                setattr(facts, name, int(math.ceil(val)))
        for e in f.entities:
            kind, _, rest = str(e).partition(":")
            if kind == "redis" and not facts.endpoint:
                facts.endpoint = _safe(rest)
            elif kind == "hpa" and not facts.hpa:
                facts.hpa = _safe(rest.rpartition("/")[2]).lower()
            elif kind == "deployment" and not facts.deployment:
                facts.deployment = _safe(rest.rpartition("/")[2]).lower()
        if facts.pods is None:
            pods = {e for e in f.entities if str(e).startswith("pod:")}
            if len(pods) > 1:
                facts.pods = len(pods)
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


def py_backoff(facts: Facts) -> tuple[str, str, str]:
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
    """Per-pod connection cap: 80 % of maxclients shared by the pods seen (at most 50), never above a cap the clients
    already set (healthy-16's pools capped at 4 under maxclients 10,000 were told 50), else what was set, else 20."""
    pods, maxc = facts.pods, facts.maxclients
    if pods and maxc:
        share = max(1, min(50, int(maxc * 0.8) // pods))
        return min(share, facts.pool_cap) if facts.pool_cap else share
    return facts.pool_cap or 20


def py_pool(facts: Facts, *, retry: bool = True) -> Snippet:
    host, port = _endpoint(facts)
    name, backoff, note = py_backoff(facts)
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
    name, backoff, note = py_backoff(facts)
    lines = [f"from redis.backoff import {name}", "from redis.retry import Retry", ""]
    if note:
        lines.append(note)
    lines.append(f"r = redis.Redis(connection_pool=POOL, retry=Retry({backoff}, 3))")
    return Snippet("python", "redis-py retry with jitter", "\n".join(lines))


def maxclients_conf(facts: Facts) -> Snippet:
    pods, cap, maxc = facts.pods, facts.pool_cap or pool_cap(facts), facts.maxclients
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
    busy, mn = facts.busy, facts.min_threads
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


def for_clients(facts: Facts, se: Callable[[], list[Snippet]], py: Callable[[], list[Snippet]]) -> tuple[Snippet, ...]:
    out: list[Snippet] = []
    if facts.wants(SE):
        out += se()
    if facts.wants(PY):
        out += py()
    return tuple(out)


# ---- assembly ----------------------------------------------------------------------------------------

def recommendations(findings: Sequence[Finding], advise: Callable[[str], Advice | None]) -> tuple[Recommendation, ...]:
    """One recommendation per change, in rule-ID order: rules whose advice has the same title (the same
    change, e.g. cap the pools and size maxclients) are merged into the first one's `also`; the
    finding's own text leads the advice.

    `advise(rule_id)` is the rule's own advice for this incident's facts (None: the doc text alone).
    """
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    out = []
    shown: dict[Snippet, str] = {}  # the same snippet twice is shown once and referenced after
    for rule_id in sorted(by_rule):
        rec = advise(rule_id)
        own = next((f.recommendation for f in by_rule[rule_id] if f.recommendation), "")
        if rec is None:
            if own:
                out.append(Recommendation(rule_id, by_rule[rule_id][0].name, own))
            continue
        first = next((i for i, r in enumerate(out) if r.title == rec.title), None)
        if first is not None:  # the same change advised by another rule: said once, under both rule IDs
            out[first] = dataclasses.replace(out[first], also=(*out[first].also, rule_id))
            continue
        fresh = tuple(sn for sn in rec.snippets if sn not in shown)
        same = tuple((sn.label, shown[sn]) for sn in rec.snippets if sn in shown)
        for sn in fresh:
            shown[sn] = rule_id
        out.append(Recommendation(rule_id, rec.title, own or rec.advice, fresh, same))
    return tuple(out)


def action_items(actions: Iterable[tuple[str, tuple[tuple[str, str], ...]]]) -> tuple[ActionItem, ...]:
    """Prevent / mitigate / process items of the rules found, given as (rule ID, rule.actions); the
    same item from two rules is merged."""
    merged: dict[tuple[str, str], list[str]] = {}
    for rule_id, items in sorted(actions):
        for kind, text in items:
            merged.setdefault((kind, text), []).append(rule_id)
    out = [ActionItem(kind, text, tuple(rules)) for (kind, text), rules in merged.items()]
    return tuple(sorted(out, key=lambda a: (ACTION_KINDS.index(a.kind), a.rule_ids, a.text)))


# ---- advice several rules share -----------------------------------------------------------------------

def reconnect_backoff(facts: Facts, *, with_maxclients: bool = False) -> Advice:
    return Advice("Reconnect with exponential backoff and jitter",
                  "Pods disconnected by one event must not reconnect at the same instants.",
                  for_clients(facts, lambda: [se_options(facts, single=False)], lambda: [py_retry(facts)])
                  + ((maxclients_conf(facts),) if with_maxclients else ()))


def cap_connections(facts: Facts, *, with_alerts: bool = True) -> Advice:
    return Advice("Cap connections per pod and size maxclients for all pods",
                  "Size maxclients as pods x per-pod pool cap + headroom, and cap every pool so the sum cannot "
                  "exceed it.",
                  for_clients(facts, lambda: [se_options(facts, backlog=False)], lambda: [py_pool(facts)])
                  + (maxclients_conf(facts),) + somaxconn() + ((alerts(),) if with_alerts else ()))


def thread_pool_minimum(facts: Facts) -> Advice:
    return Advice("Raise the .NET thread-pool minimum", "Busy threads above Min mean continuations waited for "
                  "thread injection; timeouts followed.", (min_threads(facts),))


def fitting_timeouts(facts: Facts) -> Advice:
    return Advice("Set timeouts that fit the workload",
                  "Too short gives false timeouts that feed retries; missing lets hung sockets hold pool slots.",
                  for_clients(facts, lambda: [se_connection_string(facts)], lambda: [py_pool(facts, retry=False)]))


def redis_free_liveness(facts: Facts) -> Advice:
    return Advice("Keep Redis out of the liveness probe",
                  "A Redis blip must not restart pods: each restart reconnects and adds to the storm.",
                  (probes_yaml(),) + for_clients(facts, lambda: [se_connection_string(facts)], lambda: []))


def reuse_connections(facts: Facts) -> Advice:
    return Advice("Reuse connections", "One multiplexer / pool per process; connection churn and client spikes "
                  "come from clients created per request or reconnecting together.",
                  for_clients(facts, lambda: [se_options(facts, backlog=False)], lambda: [py_pool(facts)])
                  + (alerts(),))


def se_full(facts: Facts) -> list[Snippet]:
    """The StackExchange.Redis connection string and ConfigurationOptions with a single multiplexer."""
    return [se_connection_string(facts), se_options(facts)]
