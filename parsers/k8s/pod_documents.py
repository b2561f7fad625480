"""Pod objects as `kubectl get pod -o json` / `-o yaml` print them (one Pod, a List, an array): each container
status's `state` and `lastState` (`terminated` with `reason`, `exitCode`, `startedAt`, `finishedAt`; `waiting`
with `reason: CrashLoopBackOff`) and its `restartCount`, read item by item with `documents.py` so a truncated
list still yields its complete pods.

Field names from the core/v1 API (ContainerStatus, ContainerState, ContainerStateTerminated); the event's line is
the container status's own line (its `"name"` inside `containerStatuses`), else the pod's first line.
"""

from __future__ import annotations

import re
from typing import Any

from parsers.k8s.documents import json_doc, yaml_doc
from parsers.k8s.event import Acc, Event, parse_abs
from parsers.k8s.pod_state import HEALTHY_STATUS, POD_STATUS, container_event
from postmortem import safe_regex

JSON_POD = safe_regex.compile(r'"(?:containerStatuses|initContainerStatuses)"\s*:')
YAML_POD = safe_regex.compile(r"^\s*(?:- )?(?:containerStatuses|initContainerStatuses):\s*$", re.M)


def _status_line(text: str, first: int, container: str | None) -> int:
    """The line of this container's status entry inside the object text (its `name` after `containerStatuses`)."""
    at = text.find("ontainerStatuses")
    if at < 0 or not container:
        return first
    m = re.search(r'(?m)^[ \t]*(?:- )?"?name"?[ \t]*:[ \t]*"?' + re.escape(container) + r'"?,?[ \t]*$', text[at:])
    return first + text[: at + m.start()].count("\n") if m else first


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _state_fields(state: dict) -> tuple[str, dict[str, Any]] | None:
    for name in ("terminated", "waiting"):
        s = state.get(name)
        if isinstance(s, dict):
            code = s.get("exitCode")
            return name, {
                "reason": s.get("reason") if isinstance(s.get("reason"), str) else None,
                "exit_code": code if isinstance(code, int) else None,
                "started_ts": s.get("startedAt") if isinstance(s.get("startedAt"), str) else None,
                "finished_ts": s.get("finishedAt") if isinstance(s.get("finishedAt"), str) else None,
                "signal": s.get("signal") if isinstance(s.get("signal"), int) else None,
            }
    return None


def pod_events(item: Any, line: int, text: str) -> list[Event]:
    """A Pod object → one event per terminated / crash-looping container state, else one `pod.status`."""
    if not isinstance(item, dict) or (item.get("kind") not in (None, "Pod")):
        return []
    status, meta = _dict(item.get("status")), _dict(item.get("metadata"))
    statuses = [s for key in ("initContainerStatuses", "containerStatuses")
                for s in (status.get(key) if isinstance(status.get(key), list) else []) if isinstance(s, dict)]
    if not statuses:
        return []
    pod = meta.get("name") if isinstance(meta.get("name"), str) else None
    ns = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
    out: list[Event] = []
    last_finish = None
    for cs in statuses:
        container = cs.get("name") if isinstance(cs.get("name"), str) else None
        restarts = cs.get("restartCount") if isinstance(cs.get("restartCount"), int) else None
        at = _status_line(text, line, container)
        for which in ("lastState", "state"):
            parsed = _state_fields(_dict(cs.get(which)))
            if parsed is None:
                continue
            state, fields = parsed
            finished = parse_abs(fields["finished_ts"]) if state == "terminated" else last_finish
            last_finish = finished if state == "terminated" else last_finish
            msg = f"{container}: {which} {state}" + (f" ({fields['reason']})" if fields["reason"] else "")
            if fields["exit_code"] is not None:
                msg += f", exit code {fields['exit_code']}"
            ev = container_event(at, pod, ns, container, state, fields, restarts, msg, finished)
            if ev:
                out.append(ev)
    if not out:
        phase = status.get("phase") if isinstance(status.get("phase"), str) else "Unknown"
        restarts = sum(s.get("restartCount", 0) for s in statuses if isinstance(s.get("restartCount"), int))
        out.append(Event(
            line=line, reason=phase, kind="pod", name=pod, namespace=ns, host=pod,
            last=parse_abs(status.get("startTime")), message=f"{pod}: {phase}", event_kind=POD_STATUS.name,
            type=None if phase in HEALTHY_STATUS else "Warning",
            extra={"status": phase, "restarts": restarts, "snapshot": True, "value": restarts},
        ))
    return out


def pod_json(acc: Acc, text: str) -> bool:
    return json_doc(acc, text, pod_events)


def pod_yaml(acc: Acc) -> bool:
    return yaml_doc(acc, pod_events, what="pod")
