"""`kubectl describe` output: Events sections (and headerless pasted rows), `kubectl describe event`
key/value blocks, pod status blocks (`Reason: OOMKilled`), and bare pasted messages of well-known reasons."""

from __future__ import annotations

import re
from typing import Any

from parsers.base import ParseContext
from parsers.k8s.event import Acc, Event, parse_abs, resolve_age
from parsers.k8s.rows import ASSIGNED
from postmortem import safe_regex

_AGE_TOKEN = r"(?:<unknown>|<invalid>|\d+[smhdy]\w*)(?: \(x\d+ (?:over|from|starting) [^)]*\))?"
# A `kubectl describe` Events row: Type Reason Age From Message (headerless rows too).
DESCRIBE_ROW = safe_regex.compile(
    r"^[\s│|]*(Normal|Warning)\s+([A-Za-z][\w-]*)\s+(" + _AGE_TOKEN + r")\s+([^\s,]+(?:, ?[^\s,]+)?)(?:\s+(.*?))?[\s│|]*$"
)
DESCRIBE_HEADER = safe_regex.compile(r"^[\s│|]*Type\s+Reason\s+(?:Age|Last(?:Seen)?)\s+From\s+Message\b")
DESCRIBE_OLD_HEADER = safe_regex.compile(r"^[\s│|]*FirstSeen\s+LastSeen\s+Count\s+From\b.*\bReason\b.*\bMessage\b")
_RULE_LINE = safe_regex.compile(r"^[\s│|+]*-{3,}[\s│|+-]*$")
_KV = safe_regex.compile(r"^(\s*)([A-Z][A-Za-z ]*?):\s*(.*?)\s*$")


def _describe_context(acc: Acc, upto: int) -> tuple[str | None, str | None, str | None]:
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


def describe_rows(acc: Acc, ctx: ParseContext) -> None:
    """Events sections of `kubectl describe` (and headerless pasted rows)."""
    for i, raw in enumerate(acc.lines):
        if i in acc.used:
            continue
        row = raw.expandtabs(8)
        if DESCRIBE_HEADER.match(row) or DESCRIBE_OLD_HEADER.match(row) or _RULE_LINE.match(row):
            acc.used.add(i)
            continue
        if row.strip() == "Events:" or row.strip().startswith("Events:  <none>"):
            acc.used.add(i)
            continue
        m = DESCRIBE_ROW.match(row)
        if not m:
            continue
        typ, reason, age, source, message = m.groups()
        last, first, count = resolve_age(age, acc, ctx.now)
        kind, name, ns = _describe_context(acc, i)
        comp, _, host = source.replace(", ", ",").partition(",")
        acc.events.append(
            Event(
                line=i + 1, reason=reason, type=typ, message=(message or "").strip(), kind=kind, name=name,
                namespace=ns, source=comp, host=host or None, last=last, first=first, count=count,
            )
        )
        acc.used.add(i)
    section = [e for e in acc.events if e.kind is None and e.name is None]
    assigned = {m.groups()[:2] for e in section if (m := ASSIGNED.search(e.message or ""))}
    if len(assigned) == 1:  # a describe-pod section without its header: the Scheduled event names the pod
        ns, name = assigned.pop()
        for e in section:
            e.kind, e.namespace, e.name = "pod", ns, name


def kv_block(acc: Acc) -> None:
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
    (safe_regex.compile(r"\b\d+/\d+ nodes are available|No nodes are available that match"), "FailedScheduling"),
    (safe_regex.compile(r"Back-off restarting failed container"), "BackOff"),
    (safe_regex.compile(r"\b(?:Liveness|Readiness|Startup) probe failed:"), "Unhealthy"),
)


def _infer_reason(message: str) -> str | None:
    for rx, reason in _REASON_BY_MESSAGE:
        if rx.search(message or ""):
            return reason
    return None


def _message_only(acc: Acc) -> None:
    """A bare pasted event message: its reason is inferred, it has no object and no time."""
    for i, raw in enumerate(acc.lines):
        msg = raw.strip().strip("`'\"")
        reason = _infer_reason(msg)
        if reason:
            acc.events.append(Event(line=i + 1, reason=reason, message=msg, extra={"reason_inferred": True}))
            acc.used.add(i)


def _describe_event(acc: Acc, kv: dict[str, tuple[int, str]], reason: str) -> None:
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
        Event(
            line=first_line + 1, reason=reason, type=kv.get("Type", (0, None))[1] or None,
            message=kv.get("Message", (0, ""))[1], kind=involved_kind, name=involved_name,
            namespace=involved_ns, last=parse_abs(kv.get("Last Timestamp", (0, ""))[1]),
            first=parse_abs(kv.get("First Timestamp", (0, ""))[1]), count=int(count) if count.isdigit() else None,
        )
    )
    acc.used.update(range(len(acc.lines)))


def _status_event(acc: Acc, kv: dict[str, tuple[int, str]], reason: str, line: int) -> None:
    """A described pod's termination or eviction status: `Reason: OOMKilled`, `Exit Code: 137`."""
    finished = parse_abs(kv.get("Finished", (0, ""))[1])
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
        Event(
            line=line + 1, reason=reason, type="Warning" if reason in ("OOMKilled", "Error", "Evicted") else None,
            message=msg, kind="pod" if name else None, name=name,
            namespace=kv.get("Namespace", (0, None))[1] or None, last=finished, extra=extra,
        )
    )
    for key in ("Reason", "Exit Code", "Finished", "Started", "Last State", "Restart Count", "Message", "Status"):
        if key in kv:
            acc.used.add(kv[key][0])


_OLD_COLUMN = {"FirstSeen": "first", "LastSeen": "last", "Count": "count", "From": "source",
               "SubobjectPath": "subobject", "Type": "type", "Reason": "reason", "Message": "message"}


def old_describe_rows(acc: Acc, ctx: ParseContext) -> None:
    """2015-2016 `kubectl describe` Events (`FirstSeen LastSeen Count From SubobjectPath [Type] Reason Message`,
    tab-aligned, `{kubelet node}` sources, `spec.containers{x}` or `implicitly required container POD` paths:
    kubernetes/kubernetes#10861, #11083); cells split on runs of tabs (or of 2+ spaces)."""
    for i, raw in enumerate(acc.lines):
        if not DESCRIBE_OLD_HEADER.match(raw.expandtabs(8)):
            continue
        cols = [_OLD_COLUMN.get(c) for c in re.split(r"\t+|\s{2,}", raw.strip(" \t│|"))]
        if None in cols:
            continue
        acc.used.add(i)
        kind, name, ns = _describe_context(acc, i)
        for j in range(i + 1, len(acc.lines)):
            row = acc.lines[j]
            if _RULE_LINE.match(row.expandtabs(8)):
                acc.used.add(j)
                continue
            parts = re.split(r"\t+", row.strip(" \t")) if "\t" in row else re.split(r"\s{2,}", row.strip())
            names = cols
            if len(parts) == len(cols) - 1 and "subobject" in cols:
                names = [c for c in cols if c != "subobject"]
            if len(parts) != len(names) or not row.strip():
                break
            cells = dict(zip(names, parts, strict=True))
            if not re.match(r"^[A-Za-z][\w-]*$", cells.get("reason", "")) or not cells.get("count", "").isdigit():
                break
            last, _, _ = resolve_age(cells["last"], acc, ctx.now)
            first, _, _ = resolve_age(cells["first"], acc, ctx.now)
            comp, _, host = cells.get("source", "").strip("{}").strip().partition(" ")
            acc.events.append(Event(
                line=j + 1, reason=cells["reason"], type=cells.get("type"), message=cells.get("message", ""),
                kind=kind, name=name, namespace=ns, subobject=cells.get("subobject"), source=comp or None,
                host=host.strip() or None, last=last, first=first or last, count=int(cells["count"]),
            ))
            acc.used.add(j)


_AGE_OR_DATE = r"(?:\d+[smhd]\w*|\w{3}, \d{2} \w{3} \d{4} \d\d:\d\d:\d\d [-+]\d{4})"
# A headerless 2015-2016 `kubectl get events` row (also `-o wide`): FIRSTSEEN LASTSEEN COUNT NAME KIND
# [SUBOBJECT] [TYPE] REASON SOURCE MESSAGE, the source in braces (`{kubelet node-1}`, `{default-scheduler }`)
OLD_EVENT_ROW = safe_regex.compile(
    r"^\s*(?:(?P<ns>[a-z0-9][-a-z0-9]*)\s+)?(?P<first>" + _AGE_OR_DATE + r")\s+(?P<last>" + _AGE_OR_DATE + r")\s+"
    r"(?P<count>\d+)\s+(?P<name>[a-z0-9][-a-z0-9.]*)\s+(?P<kind>[A-Z][A-Za-z]+)\s+(?:(?P<sub>spec\.\S+)\s+)?"
    r"(?:(?P<type>Normal|Warning)\s+)?(?P<reason>[A-Za-z][\w-]*)\s+\{(?P<source>[^}\n]*)\}\s*(?P<msg>.*)$"
)


def old_event_rows(acc: Acc, ctx: ParseContext) -> None:
    """Headerless 2015-2016 `kubectl get events` rows (pasted without their header, or `-o wide` cut off)."""
    for i, raw in enumerate(acc.lines):
        if i in acc.used:
            continue
        m = OLD_EVENT_ROW.match(raw.expandtabs(8))
        if not m:
            continue
        last, _, _ = resolve_age(m["last"], acc, ctx.now)
        first, _, _ = resolve_age(m["first"], acc, ctx.now)
        comp, _, host = m["source"].strip().partition(" ")
        acc.events.append(Event(
            line=i + 1, reason=m["reason"], type=m["type"], message=m["msg"].strip(), kind=m["kind"], name=m["name"],
            namespace=m["ns"], subobject=m["sub"], source=comp or None, host=host.strip() or None, last=last,
            first=first or last, count=int(m["count"]),
        ))
        acc.used.add(i)


_HPA_PODS = safe_regex.compile(r"^(?P<kind>[A-Z]\w*) pods:\s+(?P<current>\d+) current / (?P<desired>\d+) desired\s*$")
_HPA_METRIC = safe_regex.compile(r"^\s+(?P<metric>[^:]+?):\s+(?P<value>.+? / .+?)\s*$")


def describe_hpa(acc: Acc, ctx: ParseContext) -> None:
    """`kubectl describe hpa` status: `Deployment pods: 7 current / 9 desired` (kubectl's describer), with the
    Metrics lines (`resource cpu on pods (as a percentage of request): 308% (13278m) / 80%`) and min/max replicas
    of the same object: a `k8s.HPAStatus` snapshot dated when it was taken (`--now`)."""
    for i, raw in enumerate(acc.lines):
        m = _HPA_PODS.match(raw)
        if not m:
            continue
        _, name, ns = _describe_context(acc, i)
        extra: dict[str, Any] = {"replicas": int(m["current"]), "desired": int(m["desired"]), "snapshot": True,
                                 "target_kind": m["kind"]}
        used = {i}
        start = max((k for k in range(i) if acc.lines[k].startswith("Name:")), default=0)
        for k in range(start, i):
            kv = _KV.match(acc.lines[k])
            if kv and not kv.group(1) and kv.group(2) in ("Min replicas", "Max replicas", "Reference") and kv.group(3):
                extra[kv.group(2).lower().replace(" ", "_")] = kv.group(3)
                used.add(k)
            elif kv and kv.group(2) == "Metrics":
                used.add(k)
                for n in range(k + 1, i):
                    mm = _HPA_METRIC.match(acc.lines[n])
                    if not mm:
                        break
                    extra.setdefault("targets", []).append(f"{mm['metric'].strip()}: {mm['value']}")
                    used.add(n)
        acc.relative += 1
        acc.events.append(Event(
            line=i + 1, reason="HPAStatus", kind="hpa", name=name, namespace=ns, last=ctx.now,
            message=raw.strip(), extra=extra,
        ))
        acc.used.update(used)
