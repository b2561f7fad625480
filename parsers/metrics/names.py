"""Metric name normalization: exporter, Azure, CloudWatch and INFO spellings → design.md §4 names.

Names are compared "squashed" (lowercase, parentheticals and punctuation removed), so
`redis_connected_clients`, `connected_clients`, `connectedclients` and the Azure display name
"Connected Clients (Max)" all meet. Unknown names are kept verbatim. Azure's
`allConnectionsCreatedPerSecond` is a rate, not a counter, so it gets its own name
`connections_created_per_sec` instead of being folded into `connections_received`.
"""

from __future__ import annotations

import re

import polars as pl

_ALIASES = {
    "connected_clients": (
        "redis_connected_clients", "connected_clients", "connectedclients", "allconnectedclients", "CurrConnections",
    ),
    "rejected_connections": ("redis_rejected_connections_total", "rejected_connections", "redis_rejected_connections"),
    "connections_received": (
        "redis_connections_received_total", "total_connections_received", "redis_connections_received",
    ),
    "evicted_keys": ("redis_evicted_keys_total", "evicted_keys", "evictedkeys", "Evictions"),
    "ops_per_sec": (
        "redis_instantaneous_ops_per_sec", "instantaneous_ops_per_sec", "operationsPerSecond", "alloperationsPerSecond",
    ),
    "blocked_clients": ("redis_blocked_clients", "blocked_clients"),
    "used_memory": ("redis_memory_used_bytes", "used_memory", "usedmemory", "BytesUsedForCache"),
    "maxclients": ("redis_config_maxclients", "redis_max_clients", "maxclients", "config_maxclients"),
    "server_load": ("serverLoad", "allserverLoad"),
    "cpu": ("CPU", "percentProcessorTime", "allpercentProcessorTime", "CPUUtilization", "EngineCPUUtilization"),
    "connections_created_per_sec": ("allConnectionsCreatedPerSecond", "connectionsCreatedPerSecond"),
}


def squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"\([^)]*\)", "", name.lower()))


SQUASHED = {squash(a): norm for norm, aliases in _ALIASES.items() for a in aliases}


def normalize(name: str) -> str:
    """Normalized metric name, or the raw name when unknown; Azure shard suffixes (`connectedclients3`) drop."""
    key = squash(name)
    if key in SQUASHED:
        return SQUASHED[key]
    stripped = key.rstrip("0123456789")
    return SQUASHED.get(stripped, name.strip())


def normalize_expr(name: pl.Expr) -> pl.Expr:
    """The same mapping as a polars expression, for large scrapes."""
    key = name.str.to_lowercase().str.replace_all(r"\([^)]*\)", "").str.replace_all(r"[^a-z0-9]", "")
    return pl.coalesce(
        key.replace_strict(SQUASHED, default=None, return_dtype=pl.String),
        key.str.replace(r"[0-9]+$", "").replace_strict(SQUASHED, default=None, return_dtype=pl.String),
        name.str.strip_chars(),
    )


# RabbitMQ's own series (rabbitmq_prometheus `rabbitmq_*`, the management exporter's `rabbitmq_queue_*`) and
# series scraped from a RabbitMQ node: their entity is the broker's, never a Redis one.
_RABBIT_NAME = re.compile(r"^rabbitmq_", re.IGNORECASE)
_RABBIT_LABEL = re.compile(r"rabbit", re.IGNORECASE)


def _rabbit_entity(labels: dict[str, str], metric: str | None) -> str | None:
    """`rabbitmq:<queue>` (with its vhost when not `/`), else `rabbitmq:<node or instance>`, for RabbitMQ series."""
    named = bool(metric and _RABBIT_NAME.match(metric)) or bool(_RABBIT_NAME.match(labels.get("__name__", "")))
    scraped = any(_RABBIT_LABEL.search(str(labels.get(k, ""))) for k in ("job", "instance", "rabbitmq_node", "node"))
    if not (named or scraped):
        return None
    queue, vhost = labels.get("queue"), labels.get("vhost")
    if queue:
        return f"rabbitmq:{queue}" if vhost in (None, "", "/") else f"rabbitmq:{vhost}/{queue}"
    node = labels.get("rabbitmq_node") or labels.get("node") or labels.get("instance") or labels.get("job")
    return f"rabbitmq:{node}" if node else "rabbitmq:unknown"


def entity_of(labels: dict[str, str], metric: str | None = None) -> str | None:
    """`redis:<addr>` from the labels that name a server (addr, instance, cluster id, resource); RabbitMQ
    series (by their `metric` name or a rabbit job / instance) are `rabbitmq:<queue or node>` instead."""
    rabbit = _rabbit_entity(labels, metric)
    if rabbit:
        return rabbit
    for key in ("addr", "instance", "cache_cluster_id", "CacheClusterId", "resource", "Resource", "ResourceId"):
        v = labels.get(key)
        if v:
            v = re.sub(r"^rediss?://", "", str(v)).rstrip("/")
            if "/" in v and key.lower().startswith("resource"):
                v = v.rsplit("/", 1)[-1]
            return f"redis:{v}"
    return None
