"""RabbitMQ series are metrics of their own entity (`rabbitmq:<queue or node>`), never a Redis one (issue #17).

Layouts: rabbitmq_prometheus' per-object endpoint (`/metrics/per-object`, labels `vhost`, `queue`) and a
Prometheus `query_range` answer for a series scraped from a RabbitMQ pod (`instance="rabbit-0:15692"`,
port 15692 being the plugin's).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from parsers.metrics.names import entity_of
from postmortem.input.ingest import ingest

EXPOSITION = """\
# TYPE rabbitmq_queue_messages_ready gauge
# HELP rabbitmq_queue_messages_ready Messages ready to be delivered to consumers
rabbitmq_queue_messages_ready{vhost="/",queue="orders"} 15234 1705312930000
rabbitmq_queue_messages_ready{vhost="billing",queue="invoices"} 12 1705312930000
# TYPE rabbitmq_queue_consumers gauge
rabbitmq_queue_consumers{vhost="/",queue="orders"} 0 1705312930000
"""

PROM_API = {"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {"__name__": "rabbitmq_connections", "instance": "rabbit-0:15692", "job": "rabbitmq"},
     "values": [[1705312920, "412"], [1705312930, "1630"]]},
    {"metric": {"__name__": "redis_connected_clients", "instance": "redis-exporter:9121", "job": "redis"},
     "values": [[1705312930, "9998"]]},
]}}


def _events(tmp_path: Path, name: str, text: str) -> pl.DataFrame:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = ingest([str(path)])
    assert all(i.accounted() for i in result.inputs)
    return result.events


def test_rabbitmq_exposition_is_its_own_entity(tmp_path):
    ev = _events(tmp_path, "rabbit.prom", EXPOSITION)
    assert ev.get_column("entity").to_list() == ["rabbitmq:orders", "rabbitmq:billing/invoices", "rabbitmq:orders"]
    assert ev.get_column("metric").to_list()[0] == "rabbitmq_queue_messages_ready"  # not a Redis name


def test_rabbit_instance_is_not_a_redis_entity(tmp_path):
    ev = _events(tmp_path, "range.json", json.dumps(PROM_API))
    by_metric = dict(ev.select("metric", "entity").unique().rows())
    assert by_metric["rabbitmq_connections"] == "rabbitmq:rabbit-0:15692"
    assert by_metric["connected_clients"].startswith("redis:")


def test_entity_of_keeps_redis_series_redis():
    assert entity_of({"addr": "redis://redis:6379"}, "redis_connected_clients") == "redis:redis:6379"
    assert entity_of({"instance": "rabbit-0:15692"}) == "rabbitmq:rabbit-0:15692"
    assert entity_of({"queue": "q1", "vhost": "/"}, "rabbitmq_queue_messages_ready") == "rabbitmq:q1"
