"""Parser registry. A new source family is one module plus one line here.

RECOGNIZERS classify framed log records, in order (the first to claim a record wins).
FILE_PARSERS own whole files (event lists, metric exports) when their `sniff` scores highest.
"""

from __future__ import annotations

from parsers.appinsights_csv import AppInsightsCsv
from parsers.base import FileParse, FileParser, ParseContext, Recognizer
from parsers.breakers import BreakerRecognizer
from parsers.db_pools import DbPoolRecognizer
from parsers.exports import (
    AzureCliQueryJson,
    AzureContainerLogCsv,
    AzureLogAnalyticsApiJson,
    CloudWatchEventsJson,
    CloudWatchInsightsCsv,
    CloudWatchInsightsJson,
    DatadogApiJson,
    DatadogCsv,
    ElasticdumpNdjson,
    ElasticSearchJson,
    GcpLoggingJson,
    GcpLoggingYaml,
    GrafanaLogsJson,
    GrafanaLogsTxt,
    KibanaCsv,
    LokiApiJson,
    LokiJsonl,
    LokiText,
    SplunkCsv,
    SplunkExportJson,
    SplunkResultsJson,
)
from parsers.k8s import K8sEvents
from parsers.k8s.controller_log import HpaControllerLog
from parsers.metrics import (
    AzureMetricsCsv,
    CloudMetricTable,
    GrafanaCsv,
    PromApiJson,
    PromExposition,
    RabbitQueues,
    RedisInfo,
)
from parsers.queues import QueueRecognizer
from parsers.redis_py import RedisPyRecognizer
from parsers.redis_server import RedisServerRecognizer
from parsers.retries import RetryRecognizer
from parsers.slow_commands import SlowCommandRecognizer, SlowlogFile
from parsers.stackexchange_redis import StackExchangeRedis

RECOGNIZERS: tuple[Recognizer, ...] = (
    # breakers and retries first: their lines quote Redis errors they are not (one retry is not one more timeout)
    BreakerRecognizer(),
    RetryRecognizer(),
    QueueRecognizer(),  # broker lines: a celery broker that is Redis is left to redis_py (decided by the URL)
    StackExchangeRedis(),
    RedisPyRecognizer(),
    RedisServerRecognizer(),
    SlowCommandRecognizer(),
    DbPoolRecognizer(),  # after the Redis ones: a cache-miss line quoting a Redis error stays a Redis event
    HpaControllerLog(),
)

FILE_PARSERS: tuple[FileParser, ...] = (
    AppInsightsCsv(),
    K8sEvents(),
    PromApiJson(),
    PromExposition(),
    GrafanaCsv(),
    AzureMetricsCsv(),
    CloudMetricTable(),
    RedisInfo(),
    RabbitQueues(),
    LokiJsonl(),
    LokiText(),
    LokiApiJson(),
    GrafanaLogsTxt(),
    GrafanaLogsJson(),
    ElasticSearchJson(),
    ElasticdumpNdjson(),
    KibanaCsv(),
    CloudWatchEventsJson(),
    CloudWatchInsightsJson(),
    CloudWatchInsightsCsv(),
    GcpLoggingJson(),
    GcpLoggingYaml(),
    DatadogCsv(),
    DatadogApiJson(),
    SplunkExportJson(),
    SplunkResultsJson(),
    SplunkCsv(),
    AzureCliQueryJson(),
    AzureLogAnalyticsApiJson(),
    AzureContainerLogCsv(),
    SlowlogFile(),
)

__all__ = ["FILE_PARSERS", "RECOGNIZERS", "FileParse", "FileParser", "ParseContext", "Recognizer"]
