"""Events → the events table: numbers and names pulled from the message by name, the entity
(`pod:ns/name`, `hpa:ns/name`, `node:name`), and the row every input shape shares."""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

from parsers.base import ParseContext
from parsers.k8s.event import REASON, SOURCE, Acc, Event
from postmortem import safe_regex
from postmortem.schema import conform_events

_KIND_ENTITY = {
    "pod": "pod",
    "deployment": "deployment",
    "horizontalpodautoscaler": "hpa",
    "hpa": "hpa",
    "replicaset": "replicaset",
    "node": "node",
    "statefulset": "statefulset",
    "daemonset": "daemonset",
    "job": "job",
    "service": "service",
    "persistentvolumeclaim": "pvc",
}
_HPA_SIZE = safe_regex.compile(r"New size: (\d+); reason: ([^;]*)(?:; error: (.*))?")
_RS_SCALE = safe_regex.compile(r"Scaled (up|down) replica set (\S+) to (\d+)(?: from (\d+))?")
_PROBE = safe_regex.compile(r"\b(Liveness|Readiness|Startup) probe (failed|errored|warning)", re.I)
_KILL = safe_regex.compile(r"(?:Stopping container (\S+)|Container (\S+) failed (liveness|startup) probe|Killing container with id \w+://([^:\s]+))")
_BACKOFF = safe_regex.compile(r"Back-off restarting failed container(?:=| )?(\S+)?(?: in pod ([^_\s]+)_([^(\s]+)\()?(?:.*?pod=([^_\s]+)_)?")
_CREATED = safe_regex.compile(r"^(?:Created|Started) container (\S+)")
ASSIGNED = safe_regex.compile(r"^Successfully assigned ([^/\s]+)/(\S+) to (\S+)")
_FIELD_CTR = safe_regex.compile(r"spec\.(?:init)?[cC]ontainers\{([^}]+)\}")


def _message_attrs(ev: Event) -> tuple[dict[str, Any], float | None]:
    """Numbers and names the detectors need, pulled from the message text by name."""
    a: dict[str, Any] = {}
    value = None
    msg = ev.message or ""
    if m := _HPA_SIZE.search(msg):
        a["new_size"] = int(m.group(1))
        a["scale_reason"] = m.group(2).strip()
        if m.group(3):
            a["error"] = m.group(3).strip()
        value = float(a["new_size"])
    if m := _RS_SCALE.search(msg):
        a.update(direction=m.group(1), replicaset=m.group(2), replicas=int(m.group(3)))
        if m.group(4):
            a["from_replicas"] = int(m.group(4))
        value = float(a["replicas"])
    if m := _PROBE.search(msg):
        a["probe"] = m.group(1).lower()
        a["probe_result"] = m.group(2).lower()
    if ev.reason == "Killing" and (m := _KILL.search(msg)):
        a["container"] = m.group(1) or m.group(2) or m.group(4)
        if m.group(3):
            a["probe"] = m.group(3)
    if ev.reason in ("BackOff", "FailedSync") and (m := _BACKOFF.search(msg)):
        if m.group(1) and not m.group(1).startswith("10s"):
            a["container"] = m.group(1)
        if m.group(2):
            ev.name = ev.name or m.group(2)
            ev.namespace = ev.namespace or m.group(3)
            ev.kind = ev.kind or "pod"
    if m := re.search(r"restarting failed container=(\S+) pod=([^_\s]+)_", msg):
        a["container"] = m.group(1)
    if m := _CREATED.search(msg):
        a["container"] = m.group(1)
    if m := ASSIGNED.search(msg):
        a["node"] = m.group(3)
        if not ev.name:
            ev.kind, ev.namespace, ev.name = "pod", m.group(1), m.group(2)
    if ev.subobject and (m := _FIELD_CTR.search(ev.subobject)):
        a.setdefault("container", m.group(1))
    return a, value


def _entity(ev: Event) -> str | None:
    if not ev.name:
        return None
    kind = (ev.kind or "").lower()
    prefix = _KIND_ENTITY.get(kind, kind or None)
    if prefix is None:
        return None
    if prefix == "node":
        return f"node:{ev.name}"
    return f"{prefix}:{ev.namespace or 'default'}/{ev.name}"


def to_frame(acc: Acc, ctx: ParseContext) -> pl.DataFrame:
    rows = []
    for ev in acc.events:
        attrs, value = _message_attrs(ev)
        attrs.update(ev.extra)
        if isinstance(attrs.get("value"), int | float):
            value = float(attrs.pop("value"))
        if value is None and isinstance(attrs.get("replicas"), int):
            value = float(attrs["replicas"])
        attrs["reason"] = ev.reason
        if ev.type:
            attrs["type"] = ev.type
        if ev.count is not None:
            attrs["count"] = ev.count
        first = ev.first or ev.last
        if first:
            attrs["first_ts"] = first.isoformat().replace("+00:00", "Z")
        if ev.last:
            attrs["last_ts"] = ev.last.isoformat().replace("+00:00", "Z")
        for key in ("kind", "name", "namespace", "subobject", "source"):
            v = getattr(ev, key)
            if v:
                attrs["object_" + key if key in ("kind", "name", "namespace") else key] = v
        msg = " ".join((ev.message or "").split("\n")).strip()
        rows.append(
            {
                "ts": ev.last,
                "source": SOURCE,
                "kind": ev.event_kind or f"{REASON.name}{ev.reason}",
                "path": ctx.path,
                "line": ev.line,
                "level": "warning" if ev.type == "Warning" else "info",
                "host": ev.host,
                "entity": _entity(ev),
                "message": msg[:2000],
                "metric": ev.metric,
                "value": value,
                "attrs": json.dumps(attrs, sort_keys=True, default=str),
            }
        )
    schema = {
        "ts": pl.Datetime("us", "UTC"), "source": pl.String, "kind": pl.String, "path": pl.String,
        "line": pl.UInt32, "level": pl.String, "host": pl.String, "entity": pl.String, "message": pl.String,
        "metric": pl.String, "value": pl.Float64, "attrs": pl.String,
    }
    return conform_events(pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema))
