"""Metric exports (Prometheus, Grafana, Azure Monitor, CloudWatch tables, redis INFO, RabbitMQ queue snapshots),
one FileParser each.

Every parser emits `metric.sample` events with a normalized `metric` name (see `names.py`), a float
`value`, the series labels in `attrs`, and the entity `redis:<addr>` when the labels name the server.
"""

from parsers.metrics.azure_csv import AzureMetricsCsv
from parsers.metrics.cloud_table import CloudMetricTable
from parsers.metrics.exposition import PromExposition
from parsers.metrics.grafana_csv import GrafanaCsv
from parsers.metrics.prometheus_api import PromApiJson
from parsers.metrics.rabbitmq_queues import RabbitQueues
from parsers.metrics.redis_info import RedisInfo

__all__ = [
    "AzureMetricsCsv", "CloudMetricTable", "GrafanaCsv", "PromApiJson", "PromExposition", "RabbitQueues", "RedisInfo",
]
