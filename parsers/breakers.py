"""Circuit breakers: state changes and calls they rejected, from any library that logs them.

Why a family of its own: whether a breaker opened (and protected Redis), flapped, or never existed
while a retry storm ran is a finding (detectors/breaker.py), and a breaker's own words must never be
read as one more Redis failure. This recognizer runs before the Redis ones, so a Polly line whose
`Result:` quotes a RedisTimeoutException is a breaker event, not an extra `redis.timeout`.

Layouts (each sample's origin is noted beside it in `samples`):
* Polly v8 / Microsoft.Extensions.Resilience telemetry (`Polly[0]` events): `Resilience event occurred.
  EventName: 'OnCircuitOpened' | 'OnCircuitHalfOpened' | 'OnCircuitClosed', Source: '<pipeline>/<instance>/<strategy>'`;
  Polly v7 and v8 `BrokenCircuitException` / `IsolatedCircuitException` ("The circuit is now open and is
  not allowing calls.").
* resilience4j: `CircuitBreaker 'name' changed state from CLOSED to OPEN` (state transition events),
  `CallNotPermittedException: CircuitBreaker 'name' is OPEN and does not permit further calls`.
* pybreaker: `CircuitBreakerError: Failures threshold reached, circuit breaker opened`, `Timeout not
  elapsed yet, circuit breaker still open`.
* Hystrix: `HystrixRuntimeException: cmd short-circuited and fallback failed`, `Hystrix circuit
  short-circuited and is OPEN`.
* Envoy / Istio: outlier-detection event log JSON (`"action":"EJECT"` / `"UNEJECT"`), overflow
  (`reset reason: overflow`, response flag `UO`), `no healthy upstream`.
* Application wording around Polly v7 `onBreak` / `onReset` / `onHalfOpen` handlers (`Circuit broken for
  00:00:30`, `Circuit breaker reset`, `Circuit breaker half-open`).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers.base import no_claims, whole_line
from parsers.redis_server import compact_attrs
from postmortem.model import Kind

FAMILY = "circuit_breaker"

OPENED = Kind("breaker.opened", FAMILY,
              "a circuit breaker opened (tripped, or Envoy ejected a host): calls to its dependency now fail fast",
              problem=True)
HALF_OPEN = Kind("breaker.half_open", FAMILY, "a breaker let trial calls through after its break")
CLOSED = Kind("breaker.closed", FAMILY, "a breaker closed again (Envoy un-ejected the host): the dependency answered")
REJECTED = Kind("breaker.rejected", FAMILY,
                "a call failed fast because a breaker was open (BrokenCircuitException, CallNotPermittedException, "
                "CircuitBreakerError, Hystrix short-circuit, Envoy overflow / no healthy upstream)",
                problem=True)

_POLLY_EVENT = r"Resilience event occurred\. EventName: '(OnCircuitOpened|OnCircuitHalfOpened|OnCircuitClosed)'"
_R4J_CHANGE = r"CircuitBreaker '([^']*)' changed state from (\w+) to (\w+)"
_POLLY_REJECT = (r"The circuit is (?:now|manually held) open and is not allowing calls|BrokenCircuitException|"
                 r"IsolatedCircuitException")
_R4J_REJECT = (r"CircuitBreaker '[^']*' is (?:FORCED_)?OPEN and does not permit further calls|CallNotPermittedException|"
               r"CircuitBreaker '[^']*' recorded a call which was not permitted")
_PYBREAKER_OPEN = r"Failures threshold reached, circuit breaker opened"
_PYBREAKER_REJECT = r"Timeout not elapsed yet, circuit breaker still open|CircuitBreakerError"
_HYSTRIX_REJECT = r"short-circuited and (?:fallback failed|no fallback available)|Hystrix circuit short-circuited"
_ENVOY_EJECT = r"\"action\"\s*:\s*\"EJECT\""
_ENVOY_UNEJECT = r"\"action\"\s*:\s*\"UNEJECT\""
_ENVOY_REJECT = r"reset reason: overflow|\" 503 UO |\bno healthy upstream\b|upstream_reset_before_response_started\{overflow\}"
# Application wording (Polly v7 handlers and home-grown breakers); StackExchange.Redis' own
# `CircuitBreaker on host:port/Interactive` failure type is not a breaker state and is left to it.
_APP = r"(?i)\bcircuit(?:[ -]?breaker)?\b(?:\s+'[^']*'|\s+\"[^\"]*\"|\s+\[[^\]]*\]|\s+for\s+\S+)?"
_APP_OPEN = _APP + r"\s+(?:(?:has |was |is now |is )?(?:opened|tripped|broken)|(?:is )?now open)\b"
_APP_HALF = _APP + r"\s+(?:is |moved to |entered |now )?half[- _]?open"
_APP_CLOSED = _APP + r"\s+(?:(?:has |was |is now |is )?(?:closed|reset))\b"
_SE_FAILURE = r"CircuitBreaker(?: \([^)]*\))? on \S+/(?:Interactive|Subscription)"

_ANY = "|".join((_POLLY_EVENT, _R4J_CHANGE, _POLLY_REJECT, _R4J_REJECT, _PYBREAKER_OPEN, _PYBREAKER_REJECT,
                 _HYSTRIX_REJECT, _ENVOY_EJECT, _ENVOY_UNEJECT, _ENVOY_REJECT, _APP_OPEN, _APP_HALF, _APP_CLOSED))
# what the Redis recognizers leave alone: a breaker's telemetry (its application wording aside, which may
# sit in a Redis client's own message)
CLAIMS = "|".join((_POLLY_EVENT, _R4J_CHANGE, _POLLY_REJECT, _R4J_REJECT, _PYBREAKER_OPEN, _PYBREAKER_REJECT,
                   _HYSTRIX_REJECT, _ENVOY_EJECT, _ENVOY_UNEJECT, _ENVOY_REJECT))

_R4J_STATE = {"OPEN": OPENED.name, "FORCED_OPEN": OPENED.name, "HALF_OPEN": HALF_OPEN.name, "CLOSED": CLOSED.name,
              "DISABLED": CLOSED.name, "METRICS_ONLY": CLOSED.name}
_POLLY_STATE = {"OnCircuitOpened": OPENED.name, "OnCircuitHalfOpened": HALF_OPEN.name, "OnCircuitClosed": CLOSED.name}
# A dependency that is Redis, by name or port (attrs.target), so a rule can say the breaker guarded Redis.
_REDIS_TARGET = r"(?i)redis|:6379\b|:6380\b|:26379\b|\bWatchError\b|BusyLoadingError"

# Polly's quoted result may itself hold quotes: it ends at the next field or the line's end
_RESULT = r"(?m)Result: '(.*?)'(?:, (?:Handled|Attempt|Execution|Operation)\b|\s*$)"



class BreakerRecognizer:
    """Circuit breaker state changes and rejected calls (Polly, Microsoft.Extensions.Resilience,
    resilience4j, pybreaker, Hystrix, Envoy/Istio), with the breaker's name and whether it guards Redis."""

    name: ClassVar[str] = "circuit_breaker"
    kinds: ClassVar[tuple[Kind, ...]] = (OPENED, HALF_OPEN, CLOSED, REJECTED)
    keep_words: ClassVar[tuple[str, ...]] = (
        "circuit", "breaker", "short-circuited", "eject\"", "overflow", "no healthy upstream", "not permit", "503 uo",
    )
    example: ClassVar[str] = ("Resilience event occurred. EventName: 'OnCircuitOpened', Source: "
                              "'redis-cache//CircuitBreaker', Operation Key: '', Result: 'RedisTimeoutException'")
    samples: ClassVar[tuple[str, ...]] = (
        # Polly v8 telemetry behind Serilog text (a .NET 8 Microsoft.Extensions.Http.Resilience exercise
        # write-up found with the code search, "ExternalService-default//CircuitBreaker")
        "[21:02:46 ERR] Resilience event occurred. EventName: 'OnCircuitOpened', Source: "
        "'ExternalService-default//CircuitBreaker', Operation Key: 'null', Result: 'An error occurred while sending "
        "the request.'",
        # the same write-up: the call after the break, rejected by the open breaker (Polly v8)
        "[21:02:47 INF] Execution attempt. Source: 'ExternalService-default//Retry', Operation Key: 'null', Result: "
        "'The circuit is now open and is not allowing calls.', Handled: 'False', Attempt: '1'",
        # resilience4j CircuitBreakerOnStateTransitionEvent.toString() (resilience4j README / issue #994 logs)
        "2020-05-14T10:15:30.123+02:00 INFO 1 --- [ctor-http-nio-3] c.e.Gateway : 2020-05-14T10:15:30.122+02:00: "
        "CircuitBreaker 'backendA' changed state from CLOSED to OPEN",
        # resilience4j CallNotPermittedException message (its own unit test and issue #1109's splunk paste)
        "io.github.resilience4j.circuitbreaker.CallNotPermittedException: CircuitBreaker 'backendService' is OPEN and "
        "does not permit further calls",
        # pybreaker CircuitBreakerError raised by CircuitClosedState.on_failure (danielfm/pybreaker source), as
        # the traceback's last line in a pipe-separated Python log a user pasted (the tenacity paste in retries.py)
        "2025-12-26 08:40:05,434 | ERROR | root | pybreaker.CircuitBreakerError: Failures threshold reached, "
        "circuit breaker opened",
        # Hystrix short-circuit (Netflix/Hystrix AbstractCommand "short-circuited and fallback failed.")
        "com.netflix.hystrix.exception.HystrixRuntimeException: getCachedProfile short-circuited and fallback failed.",
        # Envoy outlier detection event log (envoy docs: outlier_detection event_log_path, JSON per line)
        '{"type":"CONSECUTIVE_5XX","cluster_name":"outbound|6379||redis-master.cache.svc.cluster.local",'
        '"upstream_url":"10.8.3.12:6379","action":"EJECT","num_ejections":1,"enforced":true,'
        '"eject_consecutive_event":{},"timestamp":"2024-01-15T10:02:14.310Z"}',
        # Envoy / Istio response body on circuit-breaker overflow (istio/istio issues)
        "upstream connect error or disconnect/reset before headers. reset reason: overflow",
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        df = records.filter(text.str.contains(_ANY))
        if df.height == 0:
            return no_claims()
        polly = text.str.extract(_POLLY_EVENT, 1)
        r4j_to = text.str.extract(_R4J_CHANGE, 3)
        app_ok = ~text.str.contains(_SE_FAILURE)
        kind = (
            pl.when(polly.is_not_null()).then(polly.replace_strict(_POLLY_STATE, default=None))
            .when(r4j_to.is_not_null()).then(r4j_to.replace_strict(_R4J_STATE, default=REJECTED.name))
            .when(text.str.contains(_PYBREAKER_OPEN)).then(pl.lit(OPENED.name))
            .when(text.str.contains(_ENVOY_EJECT)).then(pl.lit(OPENED.name))
            .when(text.str.contains(_ENVOY_UNEJECT)).then(pl.lit(CLOSED.name))
            .when(text.str.contains("|".join((_POLLY_REJECT, _R4J_REJECT, _PYBREAKER_REJECT, _HYSTRIX_REJECT,
                                              _ENVOY_REJECT)))).then(pl.lit(REJECTED.name))
            .when(app_ok & text.str.contains(_APP_HALF)).then(pl.lit(HALF_OPEN.name))
            .when(app_ok & text.str.contains(_APP_OPEN)).then(pl.lit(OPENED.name))
            .when(app_ok & text.str.contains(_APP_CLOSED)).then(pl.lit(CLOSED.name))
        )
        library = (
            pl.when(polly.is_not_null() | text.str.contains(_POLLY_REJECT)).then(pl.lit("polly"))
            .when(text.str.contains(_R4J_CHANGE + "|" + _R4J_REJECT)).then(pl.lit("resilience4j"))
            .when(text.str.contains(_PYBREAKER_OPEN + "|" + _PYBREAKER_REJECT)).then(pl.lit("pybreaker"))
            .when(text.str.contains(_HYSTRIX_REJECT + "|(?i)hystrix")).then(pl.lit("hystrix"))
            .when(text.str.contains(_ENVOY_EJECT + "|" + _ENVOY_UNEJECT + "|" + _ENVOY_REJECT)).then(pl.lit("envoy"))
            .otherwise(pl.lit("app"))
        )
        breaker = pl.coalesce(
            # Polly: the pipeline ('<pipeline>/<instance>/<strategy>'), which its breaker and retry share
            text.str.extract(r"Source: '([^'/]*)", 1),
            text.str.extract(r"CircuitBreaker '([^']*)'", 1),
            text.str.extract(r"\"cluster_name\"\s*:\s*\"([^\"]*)\"", 1),
            text.str.extract(r"HystrixRuntimeException: (\w+) short-circuited", 1),
            text.str.extract(r"(?i)\bcircuit(?:[ -]?breaker)?\s+['\"\[]([^'\"\]]+)['\"\]]", 1),
        )
        upstream = text.str.extract(r"\"upstream_url\"\s*:\s*\"([^\"]*)\"", 1)
        df = df.with_columns(kind=kind, _breaker=breaker).filter(pl.col("kind").is_not_null())
        return df.select(
            "rec",
            "kind",
            entity=pl.when(pl.col("_breaker").is_not_null() & (pl.col("_breaker") != ""))
            .then(pl.lit("breaker:") + pl.col("_breaker")),
            message=pl.coalesce(text.str.extract(whole_line(_ANY), 0), text.str.split("\n").list.first()).str.slice(0, 2000),
            attrs=compact_attrs(
                library=library,
                breaker=pl.col("_breaker"),
                from_state=text.str.extract(_R4J_CHANGE, 2),
                to_state=r4j_to,
                duration=text.str.extract(r"(?i)(?:broken|opened|open) for '?([\d:.]+(?:\s?m?s)?)'?", 1),
                result=text.str.extract(_RESULT, 1),
                upstream=upstream,
                outlier_type=text.str.extract(r"\"type\"\s*:\s*\"(\w+)\"", 1),
                target=pl.when(text.str.contains(_REDIS_TARGET)).then(pl.lit("redis")),
            ),
        )
