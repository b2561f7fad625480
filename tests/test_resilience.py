"""Circuit breakers and retries (parsers/breakers.py, parsers/retries.py): fields, and the rule that a
retry or breaker line quoting a Redis error is never one more Redis event."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.breakers import BreakerRecognizer
from parsers.retries import RetryRecognizer
from postmortem.input.ingest import ingest

from .test_parser_registry import _records

REDIS_SOURCES = ("stackexchange_redis", "redis_py", "redis_server")

# Polly v8 telemetry in the ASP.NET Core console layout, the handled attempt carrying the exception the
# way Microsoft.Extensions.Logging prints it (Polly passes the exception to the logger).
POLLY_CONSOLE = """\
warn: Polly[3]
      Execution attempt. Source: 'redis-cache//Retry', Operation Key: 'GetProfile', Result: 'Timeout performing GET (5000ms), inst: 0, qs: 12, in: 0, serverEndpoint: redis-master:6379', Handled: 'True', Attempt: '0', Execution Time: 5004.2ms
      StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), inst: 0, qs: 12, in: 0, serverEndpoint: redis-master:6379, mgr: 10 of 10 available
         at StackExchange.Redis.ConnectionMultiplexer.ExecuteSyncImpl[T](Message message, ResultProcessor`1 processor, ServerEndPoint server)
         at Api.ProfileCache.GetAsync(String id)
warn: Polly[0]
      Resilience event occurred. EventName: 'OnRetry', Source: 'redis-cache//Retry', Operation Key: 'GetProfile', Result: 'Timeout performing GET (5000ms), inst: 0, qs: 12, in: 0, serverEndpoint: redis-master:6379'
      StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), inst: 0, qs: 12, in: 0, serverEndpoint: redis-master:6379
fail: Polly[0]
      Resilience event occurred. EventName: 'OnCircuitOpened', Source: 'redis-cache//CircuitBreaker', Operation Key: 'GetProfile', Result: 'Timeout performing GET (5000ms), inst: 0, qs: 12, in: 0, serverEndpoint: redis-master:6379'
fail: Api.ProfileCache[0]
      StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), inst: 0, qs: 12, in: 0, serverEndpoint: redis-master:6379
"""


def _ingest(tmp_path: Path, text: str, name: str = "api-7d9f-x2k8p.log"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = ingest([str(path)])
    (info,) = result.inputs
    assert info.accounted(), info
    return result.events, info


def _attrs(row: dict) -> dict:
    return json.loads(row["attrs"])


def test_polly_attempts_are_retries_not_extra_redis_timeouts(tmp_path):
    events, _ = _ingest(tmp_path, POLLY_CONSOLE)
    kinds = events.get_column("kind").to_list()
    # the application's own log of the exception is the one Redis timeout; Polly's three lines are not
    assert kinds.count("redis.timeout") == 1, events.select("kind", "source", "line").rows()
    assert events.filter(pl.col("kind") == "redis.timeout").get_column("line").to_list() == [11]
    attempt = events.filter(pl.col("kind") == "retry.attempt").row(0, named=True)
    a = _attrs(attempt)
    assert (a["library"], a["operation"], a["attempt"], a["execution_ms"], a["target"]) == (
        "polly", "redis-cache//Retry GetProfile", 0, 5004.2, "redis")
    assert a["exception"] == "StackExchange.Redis.RedisTimeoutException"  # from the exception Polly logged
    assert "retry.scheduled" in kinds
    opened = events.filter(pl.col("kind") == "breaker.opened").row(0, named=True)
    assert opened["entity"] == "breaker:redis-cache" and _attrs(opened)["target"] == "redis"


def test_redis_recognizers_leave_retry_and_breaker_lines_alone():
    from parsers.redis_py import RedisPyRecognizer
    from parsers.stackexchange_redis import StackExchangeRedis

    for sample in (*RetryRecognizer.samples, *BreakerRecognizer.samples):
        records = _records(sample)
        assert StackExchangeRedis().recognize(records).height == 0, sample
        assert RedisPyRecognizer().recognize(records).height == 0, sample


@pytest.mark.parametrize(("line", "kind", "expected"), [
    ("2024-01-15 10:02:14,001 WARNING app.cache Retrying app.cache.get in 0.5 seconds as it raised "
     "TimeoutError: Timeout reading from socket.", "retry.attempt",
     {"library": "tenacity", "operation": "app.cache.get", "delay_s": 0.5, "exception": "TimeoutError"}),
    ("[2024-01-15 10:02:14,120: INFO/ForkPoolWorker-3] Task orders.tasks.sync[8d1f] retry: Retry in 10s: "
     "ConnectionError('Error 111 connecting to redis:6379. Connection refused.')", "retry.attempt",
     {"library": "celery", "operation": "orders.tasks.sync", "delay_s": 10.0, "target": "redis"}),
    ("ERROR:backoff:Giving up fetch(...) after 5 tries (ConnectionError: Error 111 connecting to redis:6379.)",
     "retry.exhausted", {"library": "backoff", "operation": "fetch", "attempt": 5, "target": "redis"}),
    ("[2024-01-15 10:02:14,120: ERROR/MainProcess] celery.exceptions.MaxRetriesExceededError: Can't retry "
     "orders.tasks.sync[8d1f] args:() kwargs:{}", "retry.exhausted", {"library": "celery"}),
])
def test_retry_fields(line, kind, expected):
    out = RetryRecognizer().recognize(_records(line))
    assert out.get_column("kind").to_list() == [kind]
    a = json.loads(out.row(0, named=True)["attrs"])
    assert {k: a.get(k) for k in expected} == expected


@pytest.mark.parametrize(("line", "kind", "breaker"), [
    ("2024-01-15 10:02:40.001 INFO 1 --- [pool-2] c.e.Cache : CircuitBreaker 'redisCache' changed state from "
     "OPEN to HALF_OPEN", "breaker.half_open", "redisCache"),
    ("2024-01-15 10:02:45.001 INFO 1 --- [pool-2] c.e.Cache : CircuitBreaker 'redisCache' changed state from "
     "HALF_OPEN to CLOSED", "breaker.closed", "redisCache"),
    ("[10:02:16 INF] Resilience event occurred. EventName: 'OnCircuitHalfOpened', Source: "
     "'redis-cache//CircuitBreaker', Operation Key: '', Result: ''", "breaker.half_open", "redis-cache"),
    ('{"type":"CONSECUTIVE_5XX","cluster_name":"outbound|6379||redis","upstream_url":"10.8.3.12:6379",'
     '"action":"UNEJECT","timestamp":"2024-01-15T10:03:14.310Z"}', "breaker.closed", "outbound|6379||redis"),
    ("2024-01-15 10:02:14.001 +00:00 [WRN] Circuit broken for 00:00:30 after RedisConnectionException",
     "breaker.opened", None),
    ("2024-01-15 10:02:44.001 +00:00 [INF] Circuit breaker reset", "breaker.closed", None),
    ('[2024-01-15T10:02:14.310Z] "GET /profile/7 HTTP/1.1" 503 UO 0 81 0 - "-" "curl/8.0" "a1" "api" "-"',
     "breaker.rejected", None),
])
def test_breaker_states(line, kind, breaker):
    out = BreakerRecognizer().recognize(_records(line))
    assert out.get_column("kind").to_list() == [kind]
    assert json.loads(out.row(0, named=True)["attrs"]).get("breaker") == breaker


def test_stackexchange_circuit_breaker_failure_type_is_not_a_breaker_state():
    line = ("2024-01-15 10:02:14,001 ERROR app - StackExchange.Redis.RedisConnectionException: CircuitBreaker on "
            "redis-master:6379/Interactive, Idle, last: GET, origin: ReadFromPipe, outstanding: 0, last-read: 0s ago, "
            "last-write: 0s ago, keep-alive: 60s, state: ConnectedEstablished, mgr: 10 of 10 available")
    assert BreakerRecognizer().recognize(_records(line)).height == 0


def test_unclaimed_resilience_lines_are_accounted(tmp_path):
    text = ("2024-01-15 10:02:14,001 WARNING app - Resilience event occurred. EventName: 'OnTimeout', Source: "
            "'p//Timeout', Operation Key: '', Result: ''\n"
            "2024-01-15 10:02:15,001 WARNING app - Retry budget nearly spent\n")
    events, info = _ingest(tmp_path, text)
    assert events.filter(pl.col("source").is_in(["retry", "circuit_breaker"])).height == 0
    assert events.get_column("kind").to_list() == ["app.log", "app.log"] and info.lines == 2


OPERATION = st.from_regex(r"[a-z][a-z0-9_]{0,12}(\.[a-z][a-z0-9_]{0,12}){0,3}", fullmatch=True)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(op=OPERATION, delay=st.floats(0, 3600, allow_nan=False).map(lambda x: round(x, 1)),
       attempt=st.integers(0, 10_000), ms=st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 4)))
def test_attempt_delay_and_operation_survive_any_value(op, delay, attempt, ms):
    """Whatever the numbers and names, each layout gives back the attempt, delay and operation it logged."""
    tenacity = f"2024-01-15 10:02:14,001 WARNING x Retrying {op} in {delay} seconds as it raised KeyError: 'k'"
    backoff = f"INFO:backoff:Backing off {op}(...) for {delay}s (ValueError: x)"
    polly = (f"[10:02:14 WRN] Execution attempt. Source: '{op}//Retry', Operation Key: '', Result: 'boom', "
             f"Handled: 'True', Attempt: '{attempt}', Execution Time: {ms}ms")
    recognizer = RetryRecognizer()
    for line, want in ((tenacity, {"operation": op, "delay_s": delay}), (backoff, {"operation": op, "delay_s": delay}),
                       (polly, {"operation": f"{op}//Retry", "attempt": attempt, "execution_ms": ms})):
        out = recognizer.recognize(_records(line))
        assert out.get_column("kind").to_list() == ["retry.attempt"], line
        a = json.loads(out.row(0, named=True)["attrs"])
        assert {k: a.get(k) for k in want} == want, (line, a)
