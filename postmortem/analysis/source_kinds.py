"""Which kinds of source an incident's inputs held, and what each missing kind leaves unknown.

Users often have only part of the logs. A finding built without a kind of source must not claim what only that kind
shows (no client log: nobody can say the clients logged no failure), and a report that found nothing must say what
it could not have seen. This is the one place that decides which kinds were present, from the events' `source`.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from postmortem.schema import CLIENT_SOURCES


class SourceKind(NamedTuple):
    name: str  # as the report says it
    sources: tuple[str, ...]  # the events' `source` values of this kind
    unknown: str  # what this kind shows and a report without it cannot tell


# an application's log counts as a client log even when it holds no Redis line (its records are `app` activity)
SOURCE_KINDS = (
    SourceKind("server log", ("redis_server", "redis_slowlog"),
               "whether the server restarted, stalled or refused connections, by its own account"),
    SourceKind("metrics export", ("metrics",), "connected clients, refused connections and memory over time"),
    SourceKind("client logs", (*CLIENT_SOURCES, "app"), "what the clients saw (timeouts, refused or lost connections)"),
    SourceKind("Kubernetes events", ("k8s_events", "k8s_controller"), "pod restarts, evictions and scaling"),
)
CLIENT_LOGS = SOURCE_KINDS[2]


def present(events: pl.DataFrame) -> frozenset[str]:
    """The names of the source kinds the events came from."""
    seen = set(events.get_column("source").unique().to_list()) if events.height else set()
    return frozenset(k.name for k in SOURCE_KINDS if seen.intersection(k.sources))


def has_client_logs(events: pl.DataFrame) -> bool:
    return CLIENT_LOGS.name in present(events)


def missing_sentence(events: pl.DataFrame) -> str | None:
    """What the inputs lacked and what that leaves unknown, as a sentence (None: every kind was there)."""
    have = present(events)
    absent = [k for k in SOURCE_KINDS if k.name not in have]
    if not absent:
        return None
    return "Not among the inputs: " + "; ".join(f"{k.name}, which would show {k.unknown}" for k in absent) + "."
