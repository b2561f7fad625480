"""PM1xx and PM4xx detectors: one positive and one negative fixture per rule, plus the story."""

from __future__ import annotations

from postmortem.analysis.detectors import DETECTORS
from postmortem.analysis.detectors.client_health import RedisLoading, SlowResponses, ThreadpoolStarvation
from postmortem.analysis.detectors.configs import (
    AbortConnectTrue,
    ConnectionPerRequest,
    LowMinThreads,
    RetryWithoutBackoff,
    TimeoutsMisconfigured,
    UnboundedPool,
)
from postmortem.analysis.detectors.storm import (
    MaxclientsSaturation,
    PoolExhaustion,
    ReconnectStorm,
    RedisUnreachable,
    RetryStorm,
)
from postmortem.analysis.story import build_story

from .events_factory import ev, run

EP = "redis:redis:6379"


def outage(pods=("pod-a", "pod-b"), start=28.0, end=40.0, step=0.05):
    """No-backoff clients hammering a dead endpoint, plus the server's own shutdown/ready lines."""
    rows = [ev(start - 0.5, "redis_server", "redis.server.shutdown", host="redis", level="warning", path="redis.log"),
            ev(end, "redis_server", "redis.server.ready", host="redis", level="info", path="redis.log")]
    for p in pods:
        t = start
        while t < end:
            rows.append(ev(t, "redis_py", "redis.connect_failed", host=p, entity=EP, path=f"{p}.log",
                           message="Error 111 connecting to redis:6379. Connection refused."))
            t += step
    return rows


def herd(start=40.0, n=400, rejected=100, pods=("pod-a", "pod-b")):
    rows = []
    for i in range(n):
        rows.append(ev(start + i * 0.004, "redis_server", "redis.server.client_accepted", host="redis",
                       level="debug", path="redis.log", message=f"Accepted 10.0.0.1:{40000 + i}"))
    for i in range(rejected):
        p = pods[i % len(pods)]
        rows.append(ev(start + 0.01 + i * 0.01, "redis_py", "redis.max_clients", host=p, entity=EP, path=f"{p}.log",
                       message="max number of clients reached"))
    return rows


def baseline(until=27.0):
    return [ev(s, "redis_server", "redis.server.client_accepted", host="redis", level="debug", path="redis.log")
            for s in range(0, int(until), 1)]


def ids(findings):
    return [f.rule_id for f in findings]


def test_every_rule_has_docs_and_unique_ids():
    rule_ids = [d.rule.rule_id for d in DETECTORS]
    assert len(rule_ids) == len(set(rule_ids))
    for d in DETECTORS:
        for part in ("What it detects", "Why it matters", "Recommendation"):
            assert part in d.rule.doc, (d.rule.rule_id, part)


def test_pm100_outage_bounded_by_server_edges():
    (f,) = run(RedisUnreachable(), outage())
    assert f.start.second == 27 and abs(f.stats["seconds"] - 12.5) < 0.01
    assert f.stats["hosts"] == 2 and f.evidence and f.evidence[0].line > 0


def test_pm100_negative_without_failures():
    assert run(RedisUnreachable(), baseline()) == []


def test_pm101_storm_after_outage():
    (f,) = run(ReconnectStorm(), baseline() + outage() + herd())
    assert f.stats["peak_new_connections_per_s"] >= 200 and f.stats["rejected"] == 100
    assert f.stats["peak_vs_baseline"] >= 100
    assert f.start.second == 40


def test_pm101_negative_for_a_trickle_of_reconnects():
    assert run(ReconnectStorm(), baseline() + outage() + herd(n=10, rejected=0)) == []


def test_pm102_errors_persist_after_recovery():
    rows = outage() + [ev(40 + i * 0.5, "redis_py", "redis.max_clients", host="pod-a", entity=EP)
                       for i in range(40)]
    (f,) = run(RetryStorm(), rows)
    assert f.stats["persistence_s"] >= 19


def test_pm102_negative_when_errors_stop_with_the_outage():
    assert run(RetryStorm(), outage()) == []


def test_pm103_maxclients():
    (f,) = run(MaxclientsSaturation(), herd())
    assert f.stats["rejections_logged"] == 100 and f.stats["hosts"] == 2


def test_pm103_connected_clients_near_maxclients_from_metrics():
    rows = [ev(0, "metrics", "metric.sample", metric="maxclients", value=100, level="info"),
            ev(1, "metrics", "metric.sample", metric="connected_clients", value=95, level="info")]
    (f,) = run(MaxclientsSaturation(), rows)
    assert f.stats["peak_connected_clients"] == 95
    rows[1]["value"] = 20
    assert run(MaxclientsSaturation(), rows) == []


def test_pm104_pool_exhaustion_and_negative():
    rows = [ev(i, "redis_py", "redis.pool_exhausted", message="Too many connections") for i in range(3)]
    assert ids(run(PoolExhaustion(), rows)) == ["PM104"]
    assert run(PoolExhaustion(), outage()) == []


SE_TIMEOUT = {"worker_busy": 61, "worker_min": 4, "iocp_busy": 0, "iocp_min": 4, "qs": 57, "timeout_ms": 5000}


def test_pm105_pm405_threadpool_busy_above_min():
    rows = [ev(i, "stackexchange_redis", "redis.timeout", attrs=SE_TIMEOUT) for i in range(3)]
    (f,) = run(ThreadpoolStarvation(), rows)
    assert f.stats["busy_minus_min"] == 57 and f.stats["injection_delay_s"] == 28.5
    (g,) = run(LowMinThreads(), rows)
    assert g.stats["suggested_min_threads"] > 61
    fine = [ev(1, "stackexchange_redis", "redis.timeout", attrs={**SE_TIMEOUT, "worker_busy": 2})]
    assert run(ThreadpoolStarvation(), fine) == [] and run(LowMinThreads(), fine) == []


def test_pm106_timeouts_outside_outage_only():
    inside = outage() + [ev(30, "redis_py", "redis.timeout", host="pod-a")]
    assert run(SlowResponses(), inside) == []
    outside = outage() + [ev(100, "redis_py", "redis.timeout", host="pod-a")]
    assert ids(run(SlowResponses(), outside)) == ["PM106"]


def test_pm107_loading():
    rows = [ev(1, "redis_py", "redis.loading", message="Redis is loading the dataset in memory")]
    assert ids(run(RedisLoading(), rows)) == ["PM107"]
    assert run(RedisLoading(), outage()) == []


def cfg(text, source="stackexchange_redis", **kw):
    return ev(0, source, "redis.config", message=text, level="info", **kw)


def test_pm401_abort_connect():
    assert ids(run(AbortConnectTrue(), [cfg("redis:6379,abortConnect=true,ssl=False")])) == ["PM401"]
    assert ids(run(AbortConnectTrue(), [ev(1, "stackexchange_redis", "redis.timeout", message="x, aoc: 1, mc: 1/1/0")])) == ["PM401"]
    assert run(AbortConnectTrue(), [cfg("redis:6379,abortConnect=false")]) == []


def test_pm402_config_and_behaviour():
    (f,) = run(RetryWithoutBackoff(), [cfg("Redis(retry=Retry(NoBackoff(), -1))", source="redis_py")])
    assert "NoBackoff()" in f.title
    (g,) = run(RetryWithoutBackoff(), outage())
    assert g.stats["hosts_without_backoff"] == 2 and g.stats["median_retry_gap_s"] <= 0.06


def test_pm402_negative_for_exponential_backoff():
    rows = [ev(28 - 0.5, "redis_server", "redis.server.shutdown", host="redis", path="redis.log"),
            ev(60, "redis_server", "redis.server.ready", host="redis", path="redis.log")]
    t, gap = 28.0, 0.1
    while t < 60:
        rows.append(ev(t, "redis_py", "redis.connect_failed", host="pod-a", entity=EP))
        t += gap
        gap *= 2
    rows.append(cfg("Redis(retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=10), 3))", source="redis_py"))
    assert run(RetryWithoutBackoff(), rows) == []


def reconnect_loop(gaps, pod="pod-a", start=28.0):
    rows = [ev(start - 0.5, "redis_server", "redis.server.shutdown", host="redis", path="redis.log"),
            ev(start + 5, "redis_server", "redis.server.ready", host="redis", path="redis.log")]
    t = start
    for g in gaps:
        rows.append(ev(t, "stackexchange_redis", "redis.reconnect_attempt", host=pod, entity=EP,
                       message="Reconnecting to Redis with a new ConnectionMultiplexer"))
        t += g
    return rows


def test_pm402_a_flat_reconnect_loop_at_any_pace_but_not_a_growing_one():
    (f,) = run(RetryWithoutBackoff(), reconnect_loop([1.1, 0.9, 1.0, 1.2, 1.0, 0.95, 1.05, 1.0]))
    assert f.stats["hosts_without_backoff"] == 1 and 0.9 <= f.stats["median_retry_gap_s"] <= 1.1
    assert all(e.text.startswith("Reconnecting") for e in f.evidence)
    assert run(RetryWithoutBackoff(), reconnect_loop([0.1 * 2 ** i for i in range(8)])) == []  # exponential
    assert run(RetryWithoutBackoff(), reconnect_loop([1.0] * 4)) == []  # too few to judge
    # the same pace as failures is the request rate, not a policy
    slow_failures = [ev(28 + i, "redis_py", "redis.connect_failed", host="pod-a", entity=EP) for i in range(10)]
    assert run(RetryWithoutBackoff(), reconnect_loop([])[:2] + slow_failures) == []


def test_pm402_a_burst_of_failures_that_stops_is_not_a_retry_loop():
    """cascade-blocked-8's web pod: 8 requests failed 0.09 s apart in the first second of an 8 s outage, then
    the pod blocked. A loop without backoff keeps failing for most of the outage (outage() spans all of it)."""
    rows = outage(pods=("pod-a",), start=28.0, end=40.0, step=0.05)
    first = min(r["ts"] for r in rows if r["kind"] == "redis.connect_failed")
    burst = [r for r in rows if r["kind"] != "redis.connect_failed" or (r["ts"] - first).total_seconds() < 1.0]
    assert sum(r["kind"] == "redis.connect_failed" for r in burst) >= 6
    assert run(RetryWithoutBackoff(), burst) == []
    assert ids(run(RetryWithoutBackoff(), rows)) == ["PM402"]


def test_pm402_a_retry_delay_logged_constant_per_pod_but_not_a_growing_one():
    """The delay a client logs with each retry is its policy, whatever the spacing of its failures."""
    def lines(host, delays, text="redis call failed (attempt {i}), retrying in {d}s: Connection refused"):
        return [ev(28 + i, "app", "app.log", host=host, message=text.format(i=i + 1, d=d)) for i, d in enumerate(delays)]
    (f,) = run(RetryWithoutBackoff(), lines("pod-a", [0.25] * 4) + lines("pod-b", [0.25] * 3))
    assert f.stats["hosts_with_constant_delay"] == 2 and f.stats["constant_retry_delay_s"] == 0.25
    assert "2 pods logged a constant 0.25 s retry delay" in f.title
    tenacity = "Retrying app.cache.get in {d} seconds as it raised ConnectionError"
    assert run(RetryWithoutBackoff(), lines("pod-a", [0.5] * 3, tenacity))[0].stats["constant_retry_delay_s"] == 0.5
    assert run(RetryWithoutBackoff(), lines("pod-a", [2.0, 4.0, 8.0], "Trying again in {d} seconds... ({i}/100)")) == []
    assert run(RetryWithoutBackoff(), lines("pod-a", [0.25] * 2)) == []  # too few to call constant


def test_pm402_a_retry_loop_is_the_fleets_policy_not_one_pods():
    """Two pods hammering among five that failed at their request rate: chance, not the fleet's policy."""
    slow = [ev(28 + i, "redis_py", "redis.connect_failed", host=f"pod-{c}", entity=EP) for c in "cde" for i in range(12)]
    assert run(RetryWithoutBackoff(), outage() + slow) == []
    assert ids(run(RetryWithoutBackoff(), outage(pods=("pod-a", "pod-b", "pod-c")) + slow[:24])) == ["PM402"]


def test_pm403_multiplexer_per_request():
    rows = [ev(i, "stackexchange_redis", "redis.timeout", message=f"Timeout ..., lm: 3/{40 + i}/0/0, mc: 1/1/0")
            for i in range(3)]
    (f,) = run(ConnectionPerRequest(), rows)
    assert f.stats["max_multiplexers_created"] == 42
    one = [ev(1, "stackexchange_redis", "redis.timeout", message="Timeout ..., mc: 1/1/0")]
    assert run(ConnectionPerRequest(), one) == []


def test_pm404_unbounded_pool_and_capped_pool():
    rows = [cfg("redis client: Redis(host='redis', max_connections=None) redis-py 5.0.1", source="redis_py")]
    (f,) = run(UnboundedPool(), rows)
    assert f.stats["client_version"] == "5.0.1"
    capped = [cfg("pool = BlockingConnectionPool(host='redis', max_connections=20) redis-py 5.0.1", source="redis_py")]
    assert run(UnboundedPool(), capped) == []


def test_pm406_timeouts():
    (f,) = run(TimeoutsMisconfigured(), [cfg("redis:6379,syncTimeout=500,connectTimeout=1000")])
    assert f.stats["min_sync_timeout_ms"] == 500 and f.stats["min_connect_timeout_ms"] == 1000
    assert run(TimeoutsMisconfigured(), [cfg("redis:6379,syncTimeout=5000,connectTimeout=10000")]) == []


def test_story_names_trigger_amplifier_and_numbers():
    rows = baseline() + outage() + herd() + [cfg("Redis(retry=Retry(NoBackoff(), -1))", source="redis_py")]
    from .events_factory import context, table

    events = table(rows)
    ctx = context(events)
    findings = [f for d in DETECTORS for f in d.detect(events, ctx)]
    story = build_story(findings, DETECTORS)
    assert story.trigger == ("PM100",) and "PM402" in story.amplifiers and "PM103" in story.impact
    assert story.summary.startswith("A 12.5 s Redis outage (redis:redis:6379) at 02:12:27 UTC triggered a reconnect storm")
    assert "retries without backoff" in story.summary
    assert build_story([], DETECTORS) is None


def test_pm406_version_aware_socket_timeout_default():
    old = [cfg("redis client: Redis(host='redis', port=6379) redis-py 5.0.1", source="redis_py")]
    (f,) = run(TimeoutsMisconfigured(), old)
    assert f.stats["socket_timeout_none"] == 1
    new = [cfg("redis client: Redis(host='redis', port=6379) redis-py 8.0.0", source="redis_py")]
    assert run(TimeoutsMisconfigured(), new) == []


def test_pm101_ranks_top_pods():
    (f,) = run(ReconnectStorm(), baseline() + outage() + herd(pods=("pod-a", "pod-a", "pod-b")))
    assert list(f.stats["top_pods"]) == ["pod-a", "pod-b"]


def test_pm402_says_the_apps_loop_has_no_backoff_when_the_clients_retry_has_one():
    """storm-jitter-8 and storm-jitter-pool-8 (session 15): redis-py retried with ExponentialWithJitterBackoff, and
    the only evidence was the app's own `retrying in 0.25s`; the title said "retries without backoff" of the fleet as
    if its client had none. It names the application's loop, and the client's backoff beside it."""
    def lines(host):
        return [ev(28 + i, "app", "app.log", host=host, message=f"redis call failed (attempt {i + 1}), retrying in "
                   "0.25s: Connection refused") for i in range(4)]
    config = "redis client: Redis(retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=10.0), 3)) redis-py 8.2.0"
    cfg = [ev(20, "redis_py", "redis.config", host=h, entity=EP, message=config) for h in ("pod-a", "pod-b")]
    (f,) = run(RetryWithoutBackoff(), lines("pod-a") + lines("pod-b") + cfg)
    assert f.stats["client_backoff"] == "ExponentialWithJitterBackoff"
    assert f.title == ("retries without backoff: the application's own retry loop waits a constant 0.25 s between "
                       "calls (2 pods logged it), while the client's retry backs off (ExponentialWithJitterBackoff)")
    no_backoff = [ev(20, "redis_py", "redis.config", host="pod-a", entity=EP, message=config.replace(
        "ExponentialWithJitterBackoff(base=0.1, cap=10.0)", "NoBackoff()"))]
    (f,) = run(RetryWithoutBackoff(), lines("pod-a") + lines("pod-b") + no_backoff)
    assert "client_backoff" not in f.stats and "application's own" not in f.title
