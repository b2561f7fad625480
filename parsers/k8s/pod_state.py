"""Pod status kinds and one container's state → events, shared by every pod-status shape (`kubectl get pods`
rows, `kubectl describe pod` blocks, pod JSON/YAML objects, `kubectl top pods`).

A pod status is a snapshot the apiserver keeps, not an event it records: the last termination of each
container (reason, exit code, when it finished) and whether it is waiting in a crash loop. These are the
rows that say which pods the storm killed and restarted, so each becomes an event of its own kind with
`host` = the pod (the storm's actors are pods) and entity `pod:<ns>/<name>`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parsers.k8s.event import SOURCE, Event
from postmortem.model import Kind

OOM_KILLED = Kind(
    "pod.oom_killed", SOURCE,
    "a container the kernel's OOM killer ended (`OOMKilled`, exit code 137): its finish time, `container`, "
    "`exit_code`, `restarts`",
    problem=True,
)
CRASH_LOOP = Kind(
    "pod.crash_loop", SOURCE,
    "a container waiting in `CrashLoopBackOff`: it keeps failing on start and the kubelet backs off its restarts",
    problem=True,
)
TERMINATED = Kind(
    "pod.terminated", SOURCE,
    "a container's (last) termination for another reason (`Error`, `Completed`, …) with `exit_code`; "
    "level warning when the exit code is not 0",
)
POD_STATUS = Kind(
    "pod.status", SOURCE,
    "a pod's status as listed (`kubectl get pods` row, a pod object without a termination): `status`, "
    "`ready`, `restarts`; level warning when the pod is not Running/Completed",
)
POD_USAGE = Kind(
    "pod.usage", SOURCE,
    "a `kubectl top pods` sample: `metric` `pod_cpu_cores` or `pod_memory_bytes`, the pod (and container) as host",
)
POD_KINDS = (OOM_KILLED, CRASH_LOOP, TERMINATED, POD_STATUS, POD_USAGE)

HEALTHY_STATUS = frozenset({"Running", "Completed", "Succeeded"})


def status_kind(reason: str | None) -> str:
    """The kind a listed status or a waiting/terminated reason stands for."""
    if reason == "OOMKilled":
        return OOM_KILLED.name
    if reason == "CrashLoopBackOff":
        return CRASH_LOOP.name
    return POD_STATUS.name


def container_event(
    line: int, pod: str | None, namespace: str | None, container: str | None, state: str, fields: dict[str, Any],
    restarts: int | None, message: str, finished: datetime | None,
) -> Event | None:
    """One container state (`terminated` or `waiting`, with its reason) → an event; None for other states."""
    reason = fields.get("reason")
    extra: dict[str, Any] = {k: v for k, v in fields.items() if v is not None and k != "reason"}
    if container:
        extra["container"] = container
    if restarts is not None:
        extra["restarts"] = restarts
    extra["state"] = state
    if state == "waiting":
        if reason != "CrashLoopBackOff":
            return None
        kind, typ = CRASH_LOOP.name, "Warning"
    elif state == "terminated":
        code = fields.get("exit_code")
        kind = OOM_KILLED.name if reason == "OOMKilled" else TERMINATED.name
        typ = "Warning" if kind == OOM_KILLED.name or (isinstance(code, int) and code != 0) else None
    else:
        return None
    return Event(
        line=line, reason=reason or state, type=typ, message=message, kind="pod" if pod else None, name=pod,
        namespace=namespace, host=pod, last=finished, extra=extra, event_kind=kind,
    )
