"""A Kubernetes event as every input shape reads it, with the per-line accounting; kubectl ages and
absolute times; an Event API object (core/v1 or events.k8s.io/v1) → Event, shared by JSON, YAML and
exporter lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from postmortem import safe_regex
from postmortem.model import Kind

SOURCE = "k8s_events"
# `k8s.<Reason>` with the apiserver reason verbatim; `k8s.HPAStatus` is a `kubectl get hpa` row
REASON = Kind("k8s.", SOURCE, "a Kubernetes event, `k8s.` + its reason verbatim", prefix=True)

_AGE_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
_AGE_RX = safe_regex.compile(r"^(?:\d+[smhdy])+$")
_AGE_PART = safe_regex.compile(r"(\d+)([smhdy])")
# "4m53s (x72 over 20m)", "1h (x3 from 1h)", "1h (x2 starting 1h)"
_AGE_SERIES = safe_regex.compile(r"^(\S+) \(x(\d+) (?:over|from|starting) ([^)]*)\)$")


@dataclass
class Event:
    """One Kubernetes event as read from any shape; `line` is where it starts (1-based)."""

    line: int
    reason: str
    type: str | None = None
    message: str = ""
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    subobject: str | None = None
    source: str | None = None
    host: str | None = None
    last: datetime | None = None
    first: datetime | None = None
    count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    event_kind: str | None = None  # a pod-status kind (`pod.oom_killed`, …) instead of `k8s.<reason>`
    metric: str | None = None  # `kubectl top pods` samples: the metric's name (value in `extra["value"]`)


@dataclass
class Acc:
    """Per-line accounting: which lines became events; the rest is blank or unrecognized."""

    lines: list[str]
    used: set[int] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    relative: int = 0


def _age_seconds(text: str) -> int | None:
    text = text.strip()
    if not _AGE_RX.match(text):
        return None
    return sum(int(n) * _AGE_UNIT[u] for n, u in _AGE_PART.findall(text))


def parse_abs(text: str | None) -> datetime | None:
    """RFC3339 (with or without fraction) or RFC1123 time → aware UTC datetime."""
    if not text or not isinstance(text, str):
        return None
    t = text.strip()
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(t)
        except (TypeError, ValueError, IndexError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if dt.year <= 1:  # Go zero time
        return None
    return dt.astimezone(UTC)


def resolve_age(text: str, acc: Acc, now: datetime | None) -> tuple[datetime | None, datetime | None, int | None]:
    """Age cell → (last seen, first seen, count); absolute times pass through."""
    text = (text or "").strip()
    count = None
    first_text = None
    m = _AGE_SERIES.match(text)
    if m:
        text, count, first_text = m.group(1), int(m.group(2)), m.group(3)
    secs = _age_seconds(text)
    if secs is None:
        return parse_abs(text), None, count
    acc.relative += 1
    if now is None:
        return None, None, count
    last = now - timedelta(seconds=secs)
    first_secs = _age_seconds(first_text or "")
    first = now - timedelta(seconds=first_secs) if first_secs is not None else None
    return last, first, count


def split_object(obj: str) -> tuple[str | None, str | None]:
    if "/" in obj:
        kind, _, name = obj.partition("/")
        return kind, name
    return None, obj or None


def _text(value: Any) -> str | None:
    """A field read from an API object: a string, or None when the document put anything else there."""
    return value if isinstance(value, str) and value else None


def from_object(d: dict[str, Any], line: int) -> Event | None:
    """core/v1 or events.k8s.io/v1 Event dict → Event (printer rules for first/last/count)."""
    if not isinstance(d, dict) or not isinstance(d.get("reason"), str):
        return None
    obj = d.get("involvedObject") or d.get("regarding") or {}
    if not isinstance(obj, dict):
        obj = {}
    series = d.get("series") if isinstance(d.get("series"), dict) else None
    event_time = parse_abs(d.get("eventTime"))
    first = parse_abs(d.get("firstTimestamp") or d.get("deprecatedFirstTimestamp")) or event_time
    last = None
    if series:
        last = parse_abs(series.get("lastObservedTime"))
    last = last or parse_abs(d.get("lastTimestamp") or d.get("deprecatedLastTimestamp")) or first
    count = None
    if series and isinstance(series.get("count"), int):
        count = series["count"]
    else:
        raw = d.get("count") or d.get("deprecatedCount")
        count = raw if isinstance(raw, int) and raw > 0 else 1
    src = d.get("source") or d.get("deprecatedSource") or {}
    src = src if isinstance(src, dict) else {}
    meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
    return Event(
        line=line,
        reason=d["reason"],
        type=_text(d.get("type")),
        message=_text(d.get("message")) or _text(d.get("note")) or "",
        kind=_text(obj.get("kind")),
        name=_text(obj.get("name")),
        namespace=_text(obj.get("namespace")) or _text(meta.get("namespace")),
        subobject=_text(obj.get("fieldPath")),
        source=_text(src.get("component")) or _text(d.get("reportingComponent")) or _text(d.get("reportingController")),
        host=_text(src.get("host")) or _text(d.get("reportingInstance")),
        last=last,
        first=first,
        count=count,
    )
