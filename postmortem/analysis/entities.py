"""One Redis is one entity, whatever the sources call it.

A client names the server `redis:cache:6380`, another client the resolved `redis:10.0.0.5:6380`, the
exporter scrape `redis:cache:6380` or its own address `redis:exporter:9121`, an Azure export
`redis:unknown`, and the server log `redis:<log file stem>`. Left alone, one outage becomes four
endpoints and every server-side rule reports twice. `resolve_redis_entities` maps each spelling to one
canonical name per server, from evidence in the incident only:

* client endpoints (host:port) are the anchors: spellings with the same port and a host that is the
  same name, or an IP beside exactly one host name on that port, are one server;
* with exactly one server among the anchors, every other `redis:` spelling (server log, exporter,
  `unknown`) is that server;
* with several, a server-log or metric spelling joins the anchor whose host it names, and stays its own
  entity otherwise (said in the aliases, never guessed).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass

import polars as pl

from postmortem.schema import CLIENT_SOURCES

EXPORTER_PORTS = frozenset({9121, 9187, 9100, 9090, 15692})  # scrape targets, not Redis ports
UNKNOWN = ("redis:unknown", "redis:server")


@dataclass(frozen=True)
class RedisEntity:
    """One server and every spelling the sources used for it."""

    name: str  # canonical: the spelling clients used most
    aliases: tuple[str, ...]  # other spellings folded into it


def _split(entity: str) -> tuple[str, int | None]:
    body = entity.removeprefix("redis:")
    host, sep, port = body.rpartition(":")
    if sep and port.isdigit():
        return host.strip("[]").lower(), int(port)
    return body.lower(), None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_matches(host: str, other: str) -> bool:
    """`cache` names `cache.default.svc.cluster.local`, `redis-server` names `redis`; not `cache2`."""
    if not host or not other:
        return False
    a, b = host.split(".")[0], other.split(".")[0]
    return a == b or a.startswith(b + "-") or b.startswith(a + "-")


def _anchor_groups(anchors: Counter) -> list[list[str]]:
    """Client endpoint spellings grouped into servers (see the module doc)."""
    by_port: dict[int | None, list[str]] = {}
    for ent in sorted(anchors):
        by_port.setdefault(_split(ent)[1], []).append(ent)
    groups: list[list[str]] = []
    for names in by_port.values():
        hosts = [_split(n)[0] for n in names]
        named = [n for n, h in zip(names, hosts, strict=True) if not _is_ip(h)]
        ips = [n for n, h in zip(names, hosts, strict=True) if _is_ip(h)]
        port_groups: list[list[str]] = []
        for n in named:
            home = next((g for g in port_groups if _host_matches(_split(g[0])[0], _split(n)[0])), None)
            if home is None:
                port_groups.append([n])
            else:
                home.append(n)
        if len(port_groups) <= 1:  # one host name on this port: its IP spellings are it too
            port_groups = [(port_groups[0] if port_groups else []) + ips]
        else:
            port_groups += [[ip] for ip in ips]
        groups += [g for g in port_groups if g]
    return groups


def resolve_redis_entities(events: pl.DataFrame) -> tuple[dict[str, str], tuple[RedisEntity, ...]]:
    """(spelling -> canonical name, the servers) for every `redis:` entity in `events`."""
    red = events.select("source", "entity").filter(pl.col("entity").str.starts_with("redis:"))
    if red.height == 0:
        return {}, ()
    counts = red.group_by("source", "entity").len()
    anchors: Counter = Counter()
    others: set[str] = set()
    for r in counts.iter_rows(named=True):
        host, port = _split(r["entity"])
        if r["source"] in CLIENT_SOURCES and port is not None and r["entity"] not in UNKNOWN:
            anchors[r["entity"]] += r["len"]
        else:
            others.add(r["entity"])
    others -= set(anchors)
    groups = _anchor_groups(anchors)
    if not groups:  # no client named a server: metric spellings with a Redis port are the anchors
        metric = sorted(e for e in others if _split(e)[1] is not None and _split(e)[1] not in EXPORTER_PORTS)
        if metric:
            groups = [[e] for e in metric]
            others -= set(metric)
            anchors.update({e: 1 for e in metric})
    mapping: dict[str, str] = {}
    servers: list[list[str]] = []
    for g in groups:
        canonical = max(g, key=lambda e: (anchors[e], not _is_ip(_split(e)[0]), e))
        servers.append([canonical] + sorted(e for e in g if e != canonical))
    for ent in sorted(others):
        if len(servers) == 1:
            servers[0].append(ent)
            continue
        host = _split(ent)[0]
        home = next((s for s in servers if _host_matches(_split(s[0])[0], host)), None)
        if home is not None:
            home.append(ent)
        else:
            servers.append([ent])
    result = []
    for s in servers:
        for spelling in s:
            mapping[spelling] = s[0]
        result.append(RedisEntity(s[0], tuple(sorted(set(s[1:])))))
    return mapping, tuple(sorted(result, key=lambda r: r.name))


def canonical_events(events: pl.DataFrame) -> tuple[pl.DataFrame, tuple[RedisEntity, ...]]:
    """`events` with every Redis spelling replaced by its server's canonical name."""
    mapping, servers = resolve_redis_entities(events)
    if not any(k != v for k, v in mapping.items()):
        return events, servers
    return events.with_columns(
        entity=pl.col("entity").replace(mapping)
    ), servers
