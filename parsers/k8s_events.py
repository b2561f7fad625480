"""Kubernetes events in every shape people save them: kubectl tables, describe sections, JSON/YAML lists.

Event files are small (the apiserver keeps one hour of events), so this parser walks lines in Python
and loads JSON/YAML documents per item; what matters is tolerating pasted, truncated and re-wrapped
text. Relative ages ("5m", "4m53s (x72 over 20m)") are resolved against `ctx.now`, and the
FileParse says which reference was used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import polars as pl
import yaml

from parsers.base import FileParse, ParseContext
from postmortem.model import Kind, UnrecognizedSample, conform_events

SOURCE = "k8s_events"
# `k8s.<Reason>` with the apiserver reason verbatim; `k8s.HPAStatus` is a `kubectl get hpa` row
REASON = Kind("k8s.", SOURCE, "a Kubernetes event, `k8s.` + its reason verbatim", prefix=True)
MAX_SAMPLES = 5

_TYPES = ("Normal", "Warning")
_AGE_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
_AGE_RX = re.compile(r"^(?:\d+[smhdy])+$")
_AGE_PART = re.compile(r"(\d+)([smhdy])")
# "4m53s (x72 over 20m)", "1h (x3 from 1h)", "1h (x2 starting 1h)"
_AGE_SERIES = re.compile(r"^(\S+) \(x(\d+) (?:over|from|starting) ([^)]*)\)$")
_AGE_TOKEN = r"(?:<unknown>|<invalid>|\d+[smhdy]\w*)(?: \(x\d+ (?:over|from|starting) [^)]*\))?"
# A `kubectl describe` Events row: Type Reason Age From Message (headerless rows too).
_DESCRIBE_ROW = re.compile(
    r"^[\s│|]*(Normal|Warning)\s+([A-Za-z][\w-]*)\s+(" + _AGE_TOKEN + r")\s+([^\s,]+(?:, ?[^\s,]+)?)(?:\s+(.*?))?[\s│|]*$"
)
_DESCRIBE_HEADER = re.compile(r"^[\s│|]*Type\s+Reason\s+(?:Age|Last(?:Seen)?)\s+From\s+Message\b")
_DESCRIBE_OLD_HEADER = re.compile(r"^[\s│|]*FirstSeen\s+LastSeen\s+Count\s+From\b.*\bReason\b.*\bMessage\b")
_RULE_LINE = re.compile(r"^[\s│|+]*-{3,}[\s│|+-]*$")
_GET_HEADER = re.compile(r"^\s*(?:NAMESPACE\s+)?(?:LAST ?SEEN|FIRST ?SEEN)\b.*\bREASON\b.*\bMESSAGE\b")
_HEADER_TOKEN = re.compile(r"LAST ?SEEN|FIRST ?SEEN|[A-Z][A-Z_]+|[A-Z][a-z]+(?:[A-Z][a-z]+)*")
_KV = re.compile(r"^(\s*)([A-Z][A-Za-z ]*?):\s*(.*?)\s*$")
_JSON_EVENT_KEYS = re.compile(r'"(?:involvedObject|regarding)"\s*:')
_YAML_EVENT = re.compile(r"^\s*(?:- )?(?:involvedObject|regarding):\s*$", re.M)
_EXPORTER_LINE = re.compile(r'^\s*\{.*"(?:involvedObject|regarding)"\s*:\s*\{.*\}\s*$')
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


@dataclass
class _Event:
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


@dataclass
class _Acc:
    """Per-line accounting: which lines became events; the rest is blank or unrecognized."""

    lines: list[str]
    used: set[int] = field(default_factory=set)
    events: list[_Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    relative: int = 0


def _age_seconds(text: str) -> int | None:
    text = text.strip()
    if not _AGE_RX.match(text):
        return None
    return sum(int(n) * _AGE_UNIT[u] for n, u in _AGE_PART.findall(text))


def _parse_abs(text: str | None) -> datetime | None:
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


def _resolve_age(text: str, acc: _Acc, now: datetime | None) -> tuple[datetime | None, datetime | None, int | None]:
    """Age cell → (last seen, first seen, count); absolute times pass through."""
    text = (text or "").strip()
    count = None
    first_text = None
    m = _AGE_SERIES.match(text)
    if m:
        text, count, first_text = m.group(1), int(m.group(2)), m.group(3)
    secs = _age_seconds(text)
    if secs is None:
        return _parse_abs(text), None, count
    acc.relative += 1
    if now is None:
        return None, None, count
    last = now - timedelta(seconds=secs)
    first_secs = _age_seconds(first_text or "")
    first = now - timedelta(seconds=first_secs) if first_secs is not None else None
    return last, first, count


def _split_object(obj: str) -> tuple[str | None, str | None]:
    if "/" in obj:
        kind, _, name = obj.partition("/")
        return kind, name
    return None, obj or None


def _header_columns(header: str) -> list[tuple[str, int]]:
    return [(m.group(0).replace(" ", "").upper(), m.start()) for m in _HEADER_TOKEN.finditer(header)]


def _slice(row: str, cols: list[tuple[str, int]]) -> dict[str, str]:
    out = {}
    for i, (name, start) in enumerate(cols):
        end = cols[i + 1][1] if i + 1 < len(cols) else None
        out[name] = row[start:end].strip() if end is not None else row[start:].strip()
    return out


def _valid_cells(cells: dict[str, str]) -> bool:
    if "TYPE" in cells and cells["TYPE"] not in _TYPES:
        return False
    reason = cells.get("REASON", "")
    return bool(re.match(r"^[A-Za-z][\w-]*$", reason))


def _split_cells(row: str, cols: list[tuple[str, int]]) -> dict[str, str] | None:
    """Rows with tabs split on each tab (empty cells kept); others on runs of 2+ spaces; count must match."""
    parts = [c.strip() for c in row.strip("\n").split("\t")] if "\t" in row else re.split(r"\s{2,}", row.strip())
    names = [c[0] for c in cols]
    if len(parts) == len(names):
        return dict(zip(names, parts, strict=True))
    if len(parts) == len(names) - 1 and "SUBOBJECT" in names:  # empty SUBOBJECT collapsed
        names = [n for n in names if n != "SUBOBJECT"]
        return dict(zip(names, parts, strict=True))
    return None


def _get_table(acc: _Acc, start: int, ctx: ParseContext) -> int:
    """`kubectl get events` / `kubectl events` table from header line `start`; returns the next line."""
    header = acc.lines[start].expandtabs(8)
    cols = _header_columns(header)
    acc.used.add(start)
    i = start + 1
    last_event: _Event | None = None
    while i < len(acc.lines):
        raw = acc.lines[i]
        row = raw.expandtabs(8)
        if not row.strip():
            break
        if _GET_HEADER.match(row) or _DESCRIBE_HEADER.match(row):
            break
        cells = _split_cells(raw, cols) if "\t" in raw else _slice(row, cols)
        if not cells or not _valid_cells(cells):
            cells = _split_cells(raw, cols)
        if cells and _valid_cells(cells):
            last_event = _event_from_cells(cells, i + 1, acc, ctx)
            acc.events.append(last_event)
            acc.used.add(i)
        elif last_event is not None:
            last_event.message = (last_event.message + "\n" + row.strip()).strip()
            acc.used.add(i)
        i += 1
    return i


def _event_from_cells(cells: dict[str, str], line: int, acc: _Acc, ctx: ParseContext) -> _Event:
    last_text = cells.get("LASTSEEN", "")
    last, first, count = _resolve_age(last_text, acc, ctx.now)
    if "FIRSTSEEN" in cells:
        f, _, _ = _resolve_age(cells["FIRSTSEEN"], acc, ctx.now)
        first = f or first
    if cells.get("COUNT", "").isdigit():
        count = int(cells["COUNT"])
    kind, name = _split_object(cells.get("OBJECT", ""))
    if "OBJECT" not in cells:
        kind, name = cells.get("KIND") or None, cells.get("NAME") or None
        if name and "." in name and kind:  # old layout NAME is the object name; event names carry a suffix
            name = name
    source = cells.get("SOURCE") or None
    host = None
    if source:
        src = source.strip("{}")
        comp, _, h = src.replace(", ", " ").partition(" ")
        host = h.strip() or None
        source = comp
    return _Event(
        line=line,
        reason=cells["REASON"],
        type=cells.get("TYPE"),
        message=cells.get("MESSAGE", ""),
        kind=kind,
        name=name,
        namespace=cells.get("NAMESPACE") or None,
        subobject=cells.get("SUBOBJECT") or None,
        source=source,
        host=host,
        last=last,
        first=first,
        count=count,
    )


def _describe_context(acc: _Acc, upto: int) -> tuple[str | None, str | None, str | None]:
    """The `Name:`/`Namespace:` of the described object above an Events section, and its kind."""
    name = ns = kind = None
    for raw in acc.lines[:upto]:
        m = _KV.match(raw)
        if not m or m.group(1):
            continue
        key, val = m.group(2), m.group(3)
        if key == "Name" and val:
            name, ns, kind = val, None, kind
        elif key == "Namespace" and val:
            ns = val
        elif key in ("Reference", "Min replicas", "Max replicas"):
            kind = "hpa"
        elif key in ("Node", "Start Time", "Containers", "Controlled By", "IP") and kind is None:
            kind = "pod"
        elif key == "Replicas" and kind is None:
            kind = "deployment"
    return kind, name, ns


def _describe_rows(acc: _Acc, ctx: ParseContext) -> None:
    """Events sections of `kubectl describe` (and headerless pasted rows)."""
    for i, raw in enumerate(acc.lines):
        if i in acc.used:
            continue
        row = raw.expandtabs(8)
        if _DESCRIBE_HEADER.match(row) or _DESCRIBE_OLD_HEADER.match(row) or _RULE_LINE.match(row):
            acc.used.add(i)
            continue
        if row.strip() == "Events:" or row.strip().startswith("Events:  <none>"):
            acc.used.add(i)
            continue
        m = _DESCRIBE_ROW.match(row)
        if not m:
            continue
        typ, reason, age, source, message = m.groups()
        last, first, count = _resolve_age(age, acc, ctx.now)
        kind, name, ns = _describe_context(acc, i)
        comp, _, host = source.replace(", ", ",").partition(",")
        acc.events.append(
            _Event(
                line=i + 1, reason=reason, type=typ, message=(message or "").strip(), kind=kind, name=name,
                namespace=ns, source=comp, host=host or None, last=last, first=first, count=count,
            )
        )
        acc.used.add(i)
    section = [e for e in acc.events if e.kind is None and e.name is None]
    assigned = {m.groups()[:2] for e in section if (m := _ASSIGNED.search(e.message or ""))}
    if len(assigned) == 1:  # a describe-pod section without its header: the Scheduled event names the pod
        ns, name = assigned.pop()
        for e in section:
            e.kind, e.namespace, e.name = "pod", ns, name


_HPA_HEADER = re.compile(r"^\s*(?:NAMESPACE\s+)?NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\b")
_NS_FLAG = re.compile(r"(?:--namespace[= ]|\s-n )(\S+)")


def _hpa_tables(acc: _Acc, ctx: ParseContext) -> None:
    """`kubectl get hpa` rows are a snapshot at capture time: `k8s.HPAStatus` (not an apiserver reason)."""
    for i, raw in enumerate(acc.lines):
        if not _HPA_HEADER.match(raw):
            continue
        cols = _header_columns(raw.expandtabs(8))
        m = _NS_FLAG.search(acc.lines[i - 1]) if i else None
        acc.used.add(i)
        for j in range(i + 1, len(acc.lines)):
            cells = _slice(acc.lines[j].expandtabs(8), cols)
            if not cells.get("REPLICAS", "").isdigit():
                break
            kind, _ = _split_object(cells.get("REFERENCE", ""))
            extra = {k.lower(): cells[k] for k in ("REFERENCE", "TARGETS", "MINPODS", "MAXPODS") if cells.get(k)}
            extra.update(replicas=int(cells["REPLICAS"]), snapshot=True)
            acc.events.append(
                _Event(
                    line=j + 1, reason="HPAStatus", kind="hpa", name=cells.get("NAME"),
                    namespace=cells.get("NAMESPACE") or (m.group(1) if m else None), last=ctx.now,
                    message=acc.lines[j].strip(), extra=extra,
                )
            )
            acc.relative += 1
            acc.used.add(j)


def _kv_block(acc: _Acc) -> None:
    """`kubectl describe event` key/value output, and pod status blocks (Last State / Reason / Exit Code)."""
    kv: dict[str, tuple[int, str]] = {}
    for i, raw in enumerate(acc.lines):
        m = _KV.match(raw)
        if m:
            kv.setdefault(m.group(2).strip(), (i, m.group(3)))
    reason = kv.get("Reason")
    value = reason[1].strip('"') if reason else ""
    if ("Involved Object" in kv or "First Timestamp" in kv) and "Kind" in kv:
        inferred = value or _infer_reason(kv.get("Message", (0, ""))[1])
        if inferred:
            _describe_event(acc, kv, inferred)
            if not value:
                acc.events[-1].extra["reason_inferred"] = True
        return
    if reason and re.match(r"^[A-Z][A-Za-z]+$", value):
        _status_event(acc, kv, value, reason[0])
        return
    _message_only(acc)


# Well-known messages whose reason is certain, for pasted fragments that lost the reason column.
_REASON_BY_MESSAGE = (
    (re.compile(r"\b\d+/\d+ nodes are available|No nodes are available that match"), "FailedScheduling"),
    (re.compile(r"Back-off restarting failed container"), "BackOff"),
    (re.compile(r"\b(?:Liveness|Readiness|Startup) probe failed:"), "Unhealthy"),
)


def _infer_reason(message: str) -> str | None:
    for rx, reason in _REASON_BY_MESSAGE:
        if rx.search(message or ""):
            return reason
    return None


def _message_only(acc: _Acc) -> None:
    """A bare pasted event message: its reason is inferred, it has no object and no time."""
    for i, raw in enumerate(acc.lines):
        msg = raw.strip().strip("`'\"")
        reason = _infer_reason(msg)
        if reason:
            acc.events.append(_Event(line=i + 1, reason=reason, message=msg, extra={"reason_inferred": True}))
            acc.used.add(i)


def _describe_event(acc: _Acc, kv: dict[str, tuple[int, str]], reason: str) -> None:
    involved_kind = involved_name = involved_ns = None
    start = None
    for i, raw in enumerate(acc.lines):
        if raw.startswith("Involved Object:"):
            start = i
            continue
        if start is not None:
            m = _KV.match(raw)
            if not m or not m.group(1):
                start = None
                continue
            key, val = m.group(2), m.group(3)
            involved_kind = val if key == "Kind" else involved_kind
            involved_name = val if key == "Name" else involved_name
            involved_ns = val if key == "Namespace" else involved_ns
    count = kv.get("Count", (0, ""))[1]
    first_line = kv.get("Name", kv["Reason"])[0]
    acc.events.append(
        _Event(
            line=first_line + 1, reason=reason, type=kv.get("Type", (0, None))[1] or None,
            message=kv.get("Message", (0, ""))[1], kind=involved_kind, name=involved_name,
            namespace=involved_ns, last=_parse_abs(kv.get("Last Timestamp", (0, ""))[1]),
            first=_parse_abs(kv.get("First Timestamp", (0, ""))[1]), count=int(count) if count.isdigit() else None,
        )
    )
    acc.used.update(range(len(acc.lines)))


def _status_event(acc: _Acc, kv: dict[str, tuple[int, str]], reason: str, line: int) -> None:
    """A described pod's termination or eviction status: `Reason: OOMKilled`, `Exit Code: 137`."""
    finished = _parse_abs(kv.get("Finished", (0, ""))[1])
    name = kv.get("Name", (0, None))[1] or None
    extra: dict[str, Any] = {}
    if "Exit Code" in kv and kv["Exit Code"][1].lstrip("-").isdigit():
        extra["exit_code"] = int(kv["Exit Code"][1])
    if "Restart Count" in kv and kv["Restart Count"][1].isdigit():
        extra["restart_count"] = int(kv["Restart Count"][1])
    msg = kv.get("Message", (0, ""))[1]
    if not msg:  # a quoted message line just above `Reason:` (pasted event fragments)
        prev = acc.lines[line - 1].strip() if line > 0 else ""
        msg = prev.strip('"') if prev.startswith('"') else ""
        if msg:
            acc.used.add(line - 1)
    acc.events.append(
        _Event(
            line=line + 1, reason=reason, type="Warning" if reason in ("OOMKilled", "Error", "Evicted") else None,
            message=msg, kind="pod" if name else None, name=name,
            namespace=kv.get("Namespace", (0, None))[1] or None, last=finished, extra=extra,
        )
    )
    for key in ("Reason", "Exit Code", "Finished", "Started", "Last State", "Restart Count", "Message", "Status"):
        if key in kv:
            acc.used.add(kv[key][0])


def _from_object(d: dict[str, Any], line: int) -> _Event | None:
    """core/v1 or events.k8s.io/v1 Event dict → _Event (printer rules for first/last/count)."""
    if not isinstance(d, dict) or not isinstance(d.get("reason"), str):
        return None
    obj = d.get("involvedObject") or d.get("regarding") or {}
    if not isinstance(obj, dict):
        obj = {}
    series = d.get("series") if isinstance(d.get("series"), dict) else None
    event_time = _parse_abs(d.get("eventTime"))
    first = _parse_abs(d.get("firstTimestamp") or d.get("deprecatedFirstTimestamp")) or event_time
    last = None
    if series:
        last = _parse_abs(series.get("lastObservedTime"))
    last = last or _parse_abs(d.get("lastTimestamp") or d.get("deprecatedLastTimestamp")) or first
    count = None
    if series and isinstance(series.get("count"), int):
        count = series["count"]
    else:
        raw = d.get("count") or d.get("deprecatedCount")
        count = raw if isinstance(raw, int) and raw > 0 else 1
    src = d.get("source") or d.get("deprecatedSource") or {}
    src = src if isinstance(src, dict) else {}
    meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
    return _Event(
        line=line,
        reason=d["reason"],
        type=d.get("type") if isinstance(d.get("type"), str) else None,
        message=str(d.get("message") or d.get("note") or ""),
        kind=obj.get("kind"),
        name=obj.get("name"),
        namespace=obj.get("namespace") or meta.get("namespace"),
        subobject=obj.get("fieldPath"),
        source=src.get("component") or d.get("reportingComponent") or d.get("reportingController"),
        host=src.get("host") or d.get("reportingInstance") or None,
        last=last,
        first=first,
        count=count,
    )


def _line_of(offsets: list[int], pos: int) -> int:
    """0-based line index of character offset `pos`."""
    lo, hi = 0, len(offsets)
    while lo < hi:
        mid = (lo + hi) // 2
        if offsets[mid] <= pos:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _json_doc(acc: _Acc, text: str) -> bool:
    """A JSON Event, List or array, item by item: a prelude line or a truncated tail costs only its lines."""
    m = re.search(r"(?m)^[ \t]*[\[{]", text)
    if not m:
        return False
    offsets = [0] + [x.end() for x in re.finditer("\n", text)]
    dec = json.JSONDecoder()
    begin = m.end() - 1
    items = re.compile(r'"items"\s*:\s*\[').search(text, begin)
    if items:
        pos = items.end()
    elif text[begin] == "[":
        pos = begin + 1
    else:
        pos = begin
    got = False
    done_to = begin
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] != "{":
            break
        try:
            item, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            acc.problems.append(f"JSON event list is truncated or malformed at line {_line_of(offsets, pos) + 1}")
            item, end = _repair_truncated(text, pos)
            ev = _from_object(item, _line_of(offsets, pos) + 1) if item else None
            if ev:
                ev.extra["truncated"] = True
                acc.events.append(ev)
                acc.used.update(range(_line_of(offsets, begin), _line_of(offsets, end - 1) + 1))
            break
        if isinstance(item, dict) and item.get("status") == "Failure":
            acc.problems.append(f"Kubernetes API error body: {str(item.get('message', ''))[:200]}")
        ev = _from_object(item, _line_of(offsets, pos) + 1)
        if ev:
            acc.events.append(ev)
            got = True
            done_to = end
        pos = end
    if got:
        last = _line_of(offsets, done_to - 1)
        try:  # the whole document parsed: its closing lines belong to it too
            _, end = dec.raw_decode(text, begin)
            last = _line_of(offsets, end - 1)
        except json.JSONDecodeError:
            pass
        acc.used.update(range(_line_of(offsets, begin), last + 1))
    return got


def _closers(fragment: str) -> str | None:
    """The brackets that would close a cut-off JSON fragment (string-aware), or None inside a string."""
    stack: list[str] = []
    in_str = esc = False
    for ch in fragment:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    return None if in_str else "".join(reversed(stack))


def _repair_truncated(text: str, pos: int) -> tuple[Any, int]:
    """Recover a truncated event object: drop cut-off lines from the end, close the open brackets."""
    fragment = text[pos:]
    for _ in range(40):
        cut = fragment.rfind("\n")
        if cut <= 0:
            break
        fragment = fragment[:cut]
        body = fragment.rstrip().rstrip(",")
        closers = _closers(body)
        if closers is None:
            continue
        try:
            return json.loads(body + closers), pos + len(fragment)
        except ValueError:
            continue
    return None, pos


def _json_lines(acc: _Acc) -> bool:
    """kubernetes-event-exporter output: one Event JSON per line (its own zerolog lines are not events)."""
    got = False
    for i, raw in enumerate(acc.lines):
        if not (_EXPORTER_LINE.match(raw) and '"reason"' in raw):
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        ev = _from_object(obj, i + 1)
        if ev:
            acc.events.append(ev)
            acc.used.add(i)
            got = True
    return got


def _yaml_items(lines: list[str]) -> tuple[list[tuple[int, int]], int | None]:
    """(start, end) line ranges of the items under `items:`, or of `---` documents; and the items line."""
    items_at = next((i for i, ln in enumerate(lines) if re.match(r"^\s*items:\s*$", ln)), None)
    if items_at is None:
        cuts = [i for i, ln in enumerate(lines) if ln.strip() == "---"]
        bounds = [0] + [c + 1 for c in cuts] + [len(lines) + 1]
        return [(a, min(b - 1, len(lines))) for a, b in zip(bounds, bounds[1:], strict=False) if a < len(lines)], None
    ranges: list[tuple[int, int]] = []
    indent = None
    for i in range(items_at + 1, len(lines)):
        ln = lines[i]
        if not ln.strip():
            continue
        width = len(ln) - len(ln.lstrip(" "))
        if indent is None and ln.lstrip().startswith("- "):
            indent = width
        if indent is None:
            break
        if width == indent and ln.lstrip().startswith("- "):
            ranges.append((i, i + 1))
        elif width > indent and ranges:
            ranges[-1] = (ranges[-1][0], i + 1)
        else:
            break
    return ranges, items_at


def _yaml_doc(acc: _Acc) -> bool:
    """`-o yaml` lists (or single Events), parsed item by item so a bad item costs only its lines."""
    lines = acc.lines
    ranges, items_at = _yaml_items(lines)
    got = False
    for s, e in ranges:
        chunk = lines[s:e]
        if items_at is not None:
            first = chunk[0].replace("- ", "  ", 1)
            chunk = [first] + chunk[1:]
        try:
            doc = yaml.safe_load(_dedent("\n".join(chunk)))
        except yaml.YAMLError:
            acc.problems.append(f"YAML event item at line {s + 1} could not be read")
            continue
        ev = _from_object(doc, s + 1) if isinstance(doc, dict) else None
        if ev:
            acc.events.append(ev)
            acc.used.update(range(s, e))
            got = True
    if got and items_at is not None:  # the List envelope: top-level keys and their nested lines
        covered = {i for s, e in ranges for i in range(s, e)}
        acc.used.update(i for i in range(len(lines)) if i not in covered and lines[i].strip())
    elif not got:
        acc.problems.append("YAML is not a Kubernetes event list (no item with reason and involvedObject/regarding)")
    return got


def _dedent(text: str) -> str:
    rows = text.split("\n")
    widths = [len(r) - len(r.lstrip(" ")) for r in rows if r.strip()]
    cut = min(widths) if widths else 0
    return "\n".join(r[cut:] for r in rows)


_HPA_SIZE = re.compile(r"New size: (\d+); reason: ([^;]*)(?:; error: (.*))?")
_RS_SCALE = re.compile(r"Scaled (up|down) replica set (\S+) to (\d+)(?: from (\d+))?")
_PROBE = re.compile(r"\b(Liveness|Readiness|Startup) probe (failed|errored|warning)", re.I)
_KILL = re.compile(r"(?:Stopping container (\S+)|Container (\S+) failed (liveness|startup) probe|Killing container with id \w+://([^:\s]+))")
_BACKOFF = re.compile(r"Back-off restarting failed container(?:=| )?(\S+)?(?: in pod ([^_\s]+)_([^(\s]+)\()?(?:.*?pod=([^_\s]+)_)?")
_CREATED = re.compile(r"^(?:Created|Started) container (\S+)")
_ASSIGNED = re.compile(r"^Successfully assigned ([^/\s]+)/(\S+) to (\S+)")
_FIELD_CTR = re.compile(r"spec\.(?:init)?[cC]ontainers\{([^}]+)\}")


def _message_attrs(ev: _Event) -> tuple[dict[str, Any], float | None]:
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
    if m := _ASSIGNED.search(msg):
        a["node"] = m.group(3)
        if not ev.name:
            ev.kind, ev.namespace, ev.name = "pod", m.group(1), m.group(2)
    if ev.subobject and (m := _FIELD_CTR.search(ev.subobject)):
        a.setdefault("container", m.group(1))
    return a, value


def _entity(ev: _Event) -> str | None:
    if not ev.name:
        return None
    kind = (ev.kind or "").lower()
    prefix = _KIND_ENTITY.get(kind, kind or None)
    if prefix is None:
        return None
    if prefix == "node":
        return f"node:{ev.name}"
    return f"{prefix}:{ev.namespace or 'default'}/{ev.name}"


def _to_frame(acc: _Acc, ctx: ParseContext) -> pl.DataFrame:
    rows = []
    for ev in acc.events:
        attrs, value = _message_attrs(ev)
        attrs.update(ev.extra)
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
                "kind": f"{REASON.name}{ev.reason}",
                "path": ctx.path,
                "line": ev.line,
                "level": "warning" if ev.type == "Warning" else "info",
                "host": ev.host,
                "entity": _entity(ev),
                "message": msg[:2000],
                "metric": None,
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


def _looks_structured(head: str) -> str | None:
    if _JSON_EVENT_KEYS.search(head) and '"reason"' in head:
        lines = [ln for ln in head.splitlines() if ln.strip()]
        exporter = sum(1 for ln in lines if _EXPORTER_LINE.match(ln) and '"reason"' in ln)
        return "jsonl" if exporter and exporter >= len(lines) // 2 else "json"
    if _YAML_EVENT.search(head) and re.search(r"(?m)^\s*(?:- )?reason:\s", head):
        return "yaml"
    return None


class K8sEvents:
    """Kubernetes events: kubectl tables, describe Events sections, JSON/YAML lists, exporter lines."""

    name: ClassVar[str] = SOURCE
    kinds: ClassVar[tuple[Kind, ...]] = (REASON,)
    example: ClassVar[str] = "55m   Warning   Unhealthy   pod/redis-master-0   Readiness probe failed: Timed out"
    samples: ClassVar[tuple[str, ...]] = (
        "LAST SEEN   TYPE      REASON      OBJECT                 MESSAGE\n"
        "55m         Warning   Unhealthy   pod/redis-master-0     Readiness probe failed:\n"
        "15m         Warning   Unhealthy   pod/redis-replicas-0   Readiness probe failed: Timed out\n",
        "Events:\n"
        "  Type     Reason     Age                   From               Message\n"
        "  ----     ------     ----                  ----               -------\n"
        "  Warning  BackOff    4m53s (x72 over 20m)  kubelet            Back-off restarting failed container manager\n",
        "  Normal  SuccessfulRescale  20m (x3 over 5h43m)    horizontal-pod-autoscaler  New size: 2; reason: All metrics below target\n"
        "  Normal  SuccessfulRescale  7m (x3 over 5h36m)     horizontal-pod-autoscaler  New size: 5; reason: cpu above target\n",
        '{\n    "apiVersion": "v1",\n    "items": [\n        {\n            "apiVersion": "v1",\n'
        '            "count": 25,\n            "eventTime": null,\n            "firstTimestamp": "2020-01-17T04:56:28Z",\n'
        '            "involvedObject": {"kind": "Pod", "name": "pvc", "namespace": "k8sdeploy-test"},\n'
        '            "kind": "Event",\n            "lastTimestamp": "2020-01-17T04:56:55Z",\n'
        '            "message": "0/1 nodes are available: 1 node(s) didn\'t find available persistent volumes to bind.",\n'
        '            "reason": "FailedScheduling",\n            "type": "Warning"\n        }\n    ]\n}\n',
    )

    def sniff(self, head: str) -> float:
        if _looks_structured(head):
            return 0.9
        lines = head.splitlines()[:400]
        if any(_GET_HEADER.match(ln) for ln in lines) or any(_DESCRIBE_HEADER.match(ln) for ln in lines):
            return 0.9
        if any(_DESCRIBE_OLD_HEADER.match(ln.expandtabs(8)) for ln in lines):
            return 0.9
        if re.search(r"(?m)^Kind:\s+Event\s*$", head) and re.search(r"(?m)^Involved Object:", head):
            return 0.9
        nonblank = [ln for ln in lines if ln.strip()]
        rows = sum(1 for ln in nonblank if _DESCRIBE_ROW.match(ln))
        if rows >= 2 and rows >= 0.6 * len(nonblank):
            return 0.8
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        acc = _Acc(lines=lines)
        shape = _looks_structured(text[:65536])
        if shape == "jsonl":
            _json_lines(acc)
        elif shape == "json":
            _json_doc(acc, "\n".join(lines)) or _json_lines(acc)
        elif shape == "yaml":
            _yaml_doc(acc)
        else:
            i = 0
            while i < len(lines):
                if _GET_HEADER.match(lines[i].expandtabs(8)):
                    i = _get_table(acc, i, ctx)
                else:
                    i += 1
            _describe_rows(acc, ctx)
            _hpa_tables(acc, ctx)
            if not acc.events:
                _kv_block(acc)
            if not acc.events and re.search(r"(?m)^(?:apiVersion|items|kind):", text):
                acc.problems.append("YAML is not a Kubernetes event list (no item with reason and involvedObject/regarding)")
        return self._result(acc, ctx)

    def _result(self, acc: _Acc, ctx: ParseContext) -> FileParse:
        events = _to_frame(acc, ctx)
        blank = {i for i, ln in enumerate(acc.lines) if not ln.strip()} - acc.used
        used = {i for i in acc.used if i < len(acc.lines)}
        unrec = [i for i in range(len(acc.lines)) if i not in used and i not in blank]
        assumptions = []
        if acc.relative:
            ref = ctx.now.isoformat().replace("+00:00", "Z") if ctx.now else "nothing (no reference time)"
            assumptions.append(
                f"{ctx.path}: {acc.relative} relative kubectl ages were resolved against {ref} ({ctx.now_source})."
            )
        return FileParse(
            events=events,
            lines=len(acc.lines),
            event_lines=len(used),
            unrecognized_lines=len(unrec),
            blank_lines=len(blank),
            records=len(acc.events),
            problems=acc.problems,
            unrecognized_samples=[UnrecognizedSample(i + 1, acc.lines[i][:300]) for i in unrec[:MAX_SAMPLES]],
            assumptions=assumptions,
        )
