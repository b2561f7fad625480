"""Retry telemetry: each failed attempt a retry layer logged, the delay it chose and the operation it retried.

Why its own family: a retry layer around a Redis call repeats the Redis error text in its own line
(Polly's `Result: 'StackExchange.Redis.RedisTimeoutException: …'`, tenacity's `as it raised
ConnectionError: Error 111 connecting to redis:6379`). Read by the Redis recognizers, each retry would be
one more Redis failure; this recognizer runs before them so a retry is counted once, as a retry, with
`attrs.target` = `redis` when the failure it retries names Redis.

Layouts (each sample's origin is noted beside it in `samples`):
* Polly v8 / Microsoft.Extensions.Resilience telemetry: `Execution attempt. Source: '<pipeline>/<instance>/<strategy>',
  Operation Key: '…', Result: '…', Handled: 'True', Attempt: 'N', Execution Time: …ms` (a handled, i.e.
  failed, attempt: `retry.attempt`); `Resilience event occurred. EventName: 'OnRetry'` (`retry.scheduled`,
  the announcement beside it, not counted again).
* tenacity `before_sleep_log` (`Retrying mod.fn in 2.0 seconds as it raised Error: …`), `after_log`
  (`Finished call to 'mod.fn' after 1.003(s), this was the 2nd time calling it.`), `RetryError[<Future … raised X>]`.
* backoff (`Backing off fn(...) for 1.2s (exc)`, `Giving up fn(...) after 5 tries (exc)`).
* celery tasks (`Task app.fetch[id] retry: Retry in 5s: ConnectionError(…)`, `MaxRetriesExceededError`).
  A consumer's broker reconnect (`Cannot connect to amqp://…: … Trying again in 2.00 seconds... (1/100)`) is
  the broker's trouble, not a retried operation: parsers/queues.py reads it (the redis:// form is redis-py's
  `redis.reconnect_attempt`).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers.base import no_claims, whole_line
from parsers.redis_server import compact_attrs
from postmortem.model import Kind

FAMILY = "retry"

ATTEMPT = Kind("retry.attempt", FAMILY,
               "a retry layer logged a failed attempt it will retry (Polly `Execution attempt` handled, tenacity "
               "`Retrying … in N seconds`, backoff `Backing off`, celery task retry)",
               problem=True)
SCHEDULED = Kind("retry.scheduled", FAMILY,
                 "Polly's `OnRetry` event: the announcement of a retry whose failed attempt is its own `retry.attempt`")
EXHAUSTED = Kind("retry.exhausted", FAMILY,
                 "a retry layer gave up (tenacity RetryError, backoff `Giving up`, celery MaxRetriesExceededError)",
                 problem=True)

_POLLY_ATTEMPT = r"Execution attempt\. Source: '[^']*'[\s\S]*?Handled: '(?i:true)'"
_POLLY_RETRY = r"Resilience event occurred\. EventName: 'OnRetry'"
_TENACITY_SLEEP = r"Retrying (\S+) in (\d+(?:\.\d+)?) seconds as it (?:raised|returned) ([^\n]*)"
_TENACITY_AFTER = r"Finished call to '([^']+)' after (\d+(?:\.\d+)?)\(s\), this was the (\d+)(?:st|nd|rd|th) time calling it"
_TENACITY_GAVE_UP = r"RetryError\[<Future at 0x[0-9a-fA-F]+ state=finished (?:raised|returned) (\w+)>\]"
_BACKOFF = r"Backing off ([\w.]+)\(\.\.\.\) for (\d+(?:\.\d+)?)s \(([^\n]*)\)"
_BACKOFF_GAVE_UP = r"Giving up ([\w.]+)\(\.\.\.\) after (\d+) tries \(([^\n]*)\)"
_CELERY_RETRY = r"Task ([\w.:]+)\[[\w-]+\] retry: Retry (?:in (\d+(?:\.\d+)?)s|at \S+)(?:: ([^\n]*))?"
_CELERY_GAVE_UP = r"MaxRetriesExceededError"

_ATTEMPTS = (_POLLY_ATTEMPT, _TENACITY_SLEEP, _TENACITY_AFTER, _BACKOFF, _CELERY_RETRY)
_GAVE_UP = (_TENACITY_GAVE_UP, _BACKOFF_GAVE_UP, _CELERY_GAVE_UP)
_ANY = "|".join((*_ATTEMPTS, _POLLY_RETRY, *_GAVE_UP))
CLAIMS = _ANY  # what this recognizer claims: the Redis recognizers leave it alone (a retry is not a Redis event)
_REDIS_TARGET = r"(?i)redis|:6379\b|:6380\b|:26379\b|\bWatchError\b|BusyLoadingError"
# the exception class a retried failure names (first one in the quoted result / exception text)
_EXC_CLASS = r"((?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Exception|Error|Timeout))\b"

# Polly's quoted result may itself hold quotes: it ends at the next field or the line's end
_RESULT = r"(?m)Result: '(.*?)'(?:, (?:Handled|Attempt|Execution|Operation)\b|\s*$)"



class RetryRecognizer:
    """Retry layers' own lines (Polly v8 telemetry, tenacity, backoff, celery task retries): attempt number, delay in seconds, the operation retried and the failure it retried."""

    name: ClassVar[str] = "retry"
    kinds: ClassVar[tuple[Kind, ...]] = (ATTEMPT, SCHEDULED, EXHAUSTED)
    keep_words: ClassVar[tuple[str, ...]] = (
        "handled: 'true'", "onretry", "retrying", "this was the", "backing off", "giving up", "retry:",
        "retryerror", "maxretriesexceeded",
    )
    example: ClassVar[str] = ("Retrying app.cache.get_profile in 2.0 seconds as it raised ConnectionError: Error 111 "
                              "connecting to redis:6379. Connection refused..")
    samples: ClassVar[tuple[str, ...]] = (
        # Polly v8 telemetry, handled attempt (a .NET 8 Microsoft.Extensions.Http.Resilience exercise found
        # with the code search); Execution Time as Polly's docs/advanced/telemetry.md spells it
        "[21:02:44 WRN] Execution attempt. Source: 'ExternalService-default//Retry', Operation Key: 'null', Result: "
        "'An error occurred while sending the request.', Handled: 'True', Attempt: '0', Execution Time: 4106.8595ms",
        # Polly v8 in the ASP.NET Core console layout ("Polly: Warning: …" in the .NET Aspire workshop docs;
        # MEL console puts the category line first), retrying a StackExchange.Redis timeout
        "warn: Polly[3]\n      Execution attempt. Source: 'cache-pipeline//Retry', Operation Key: 'GetProfile', "
        "Result: 'StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), inst: 0, qs: 12, "
        "in: 0, serverEndpoint: redis-master:6379', Handled: 'True', Attempt: '2', Execution Time: 5003.1ms",
        # Polly v8 OnRetry event (same write-up)
        "[21:02:44 WRN] Resilience event occurred. EventName: 'OnRetry', Source: 'ExternalService-default//Retry', "
        "Operation Key: 'null', Result: 'An error occurred while sending the request.'",
        # tenacity before_sleep_log (tenacity/before_sleep.py wording; a user's paste of a pybreaker-wrapped call)
        "2025-12-26 08:40:04,431 | WARNING | app.cache | Retrying app.cache.get_profile in 2.0 seconds as it raised "
        "ConnectionError: Error 111 connecting to redis:6379. Connection refused..",
        # tenacity after_log (tenacity/after.py wording)
        "2024-01-15 10:02:13,002 INFO app.jobs Finished call to 'app.jobs.refresh' after 3.004(s), this was the 3rd "
        "time calling it.",
        # tenacity giving up (the layout of the same paste, "RetryError[<Future at 0x19edffdec40 state=finished
        # raised CircuitBreakerError>]"; here the retried failure is redis-py's, a breaker's is circuit_breaker's)
        "2025-12-26 08:40:06,435 | ERROR | root | [DOWNSTREAM FAILURE] RetryError[<Future at 0x19edffdec40 "
        "state=finished raised ConnectionError>]",
        # backoff's default handlers (backoff/_common.py: "Backing off %s(...) for %.1fs (%s)")
        "INFO:backoff:Backing off fetch_profile(...) for 1.3s (redis.exceptions.TimeoutError: Timeout reading from "
        "socket)",
        "ERROR:backoff:Giving up fetch_profile(...) after 5 tries (redis.exceptions.TimeoutError: Timeout reading "
        "from socket)",
        # celery task retry (celery/app/task.py Retry: "Retry in 5s: …"; worker log "Task x[id] retry: …")
        "[2024-01-15 10:02:14,120: INFO/ForkPoolWorker-3] Task orders.tasks.sync_order[8d1f4c7e-2f0b-4a55-9c1e-"
        "5b2a7d9e0c11] retry: Retry in 10s: OperationalError('connection pool exhausted')",
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        df = records.filter(text.str.contains(_ANY))
        if df.height == 0:
            return no_claims()
        kind = (
            pl.when(text.str.contains("|".join(_GAVE_UP))).then(pl.lit(EXHAUSTED.name))
            .when(text.str.contains("|".join(_ATTEMPTS))).then(pl.lit(ATTEMPT.name))
            .otherwise(pl.lit(SCHEDULED.name))
        )
        source = text.str.extract(r"Source: '([^']*)'", 1)
        op_key = text.str.extract(r"Operation Key: '([^']*)'", 1)
        operation = pl.coalesce(
            pl.when(op_key.is_not_null() & ~op_key.is_in(["", "null", "(null)"])).then(source + pl.lit(" ") + op_key),
            source,
            text.str.extract(_TENACITY_SLEEP, 1), text.str.extract(_TENACITY_AFTER, 1),
            text.str.extract(_BACKOFF, 1), text.str.extract(_BACKOFF_GAVE_UP, 1), text.str.extract(_CELERY_RETRY, 1),
        )
        attempt = pl.coalesce(
            text.str.extract(r"Attempt: '(\d+)'", 1), text.str.extract(_TENACITY_AFTER, 3),
            text.str.extract(_BACKOFF_GAVE_UP, 2),
        ).cast(pl.Int64, strict=False)
        delay = pl.coalesce(
            text.str.extract(_TENACITY_SLEEP, 2), text.str.extract(_BACKOFF, 2), text.str.extract(_CELERY_RETRY, 2),
        ).cast(pl.Float64, strict=False)
        failure = pl.coalesce(
            text.str.extract(_RESULT, 1),
            text.str.extract(_TENACITY_SLEEP, 3), text.str.extract(_BACKOFF, 3), text.str.extract(_BACKOFF_GAVE_UP, 3),
            text.str.extract(_CELERY_RETRY, 3),
            text.str.extract(_TENACITY_GAVE_UP, 1),
        )
        return df.with_columns(kind=kind, _failure=failure).select(
            "rec",
            "kind",
            message=pl.coalesce(text.str.extract(whole_line(_ANY), 0), text.str.split("\n").list.first()).str.slice(0, 2000),
            attrs=compact_attrs(
                library=pl.when(source.is_not_null()).then(pl.lit("polly"))
                .when(text.str.contains(_TENACITY_SLEEP + "|" + _TENACITY_AFTER + "|" + _TENACITY_GAVE_UP))
                .then(pl.lit("tenacity"))
                .when(text.str.contains(_BACKOFF + "|" + _BACKOFF_GAVE_UP)).then(pl.lit("backoff"))
                .otherwise(pl.lit("celery")),
                operation=operation,
                attempt=attempt,
                delay_s=delay,
                execution_ms=text.str.extract(r"Execution Time: '?(\d+(?:\.\d+)?)", 1).cast(pl.Float64, strict=False),
                failure=pl.col("_failure").str.slice(0, 500),
                # the class in the quoted failure, else the one the logger printed with the record
                exception=pl.coalesce(pl.col("_failure").str.extract(_EXC_CLASS, 1), text.str.extract(_EXC_CLASS, 1)),
                target=pl.when(pl.col("_failure").fill_null(text).str.contains(_REDIS_TARGET)).then(pl.lit("redis")),
            ),
        )
