"""`kubectl describe pod` container status blocks: `State:` / `Last State:` with their `Reason`, `Exit Code`,
`Started`, `Finished`, and the container's `Restart Count`, one event per terminated or crash-looping state.

Layout from kubectl's describer (pkg/describe/describe.go describeContainerState: `State: Waiting` +
`Reason: CrashLoopBackOff`, `Last State: Terminated` + `Reason: OOMKilled`, `Exit Code: 137`, `Started:`,
`Finished:` in RFC1123Z; then `Ready:`, `Restart Count:`), as pasted into bug reports: indented (gimlet-io/gimlet#649,
portainer/portainer#5314), indentation lost (kubernetes/kubernetes#93826), tab-aligned 2015 (kubernetes#10861).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers.k8s.event import Acc, Event, parse_abs
from parsers.k8s.pod_state import container_event
from postmortem import safe_regex

_KV = safe_regex.compile(r"^([ \t]*)([A-Z][A-Za-z ]*?):[ \t]*(.*?)\s*$")
_CONTAINER = safe_regex.compile(r"^[ \t]+([a-z0-9][-a-z0-9.]*):\s*$")
_FLAT_CONTAINER = safe_regex.compile(r"^([a-z0-9][-a-z0-9.]*):\s*$")
_STATE_FIELDS = {"Reason": "reason", "Exit Code": "exit_code", "Signal": "signal", "Started": "started",
                 "Finished": "finished", "Message": "message"}
_STATES = {"Waiting": "waiting", "Terminated": "terminated", "Running": "running"}


@dataclass
class _Block:
    """One `State:` or `Last State:` block of a container, with the lines it used."""

    line: int
    which: str  # "State" or "Last State"
    state: str
    container: str | None
    pod: str | None
    namespace: str | None
    fields: dict[str, tuple[int, str]] = field(default_factory=dict)


def pod_status_blocks(acc: Acc) -> None:
    """Every container State / Last State block of the described pods in the file."""
    pod = namespace = container = None
    blocks: list[_Block] = []
    restarts: dict[tuple[str | None, str | None], tuple[int, int]] = {}
    open_block: _Block | None = None
    for i, raw in enumerate(acc.lines):
        m = _KV.match(raw)
        if m is None:
            open_block = None
            c = _CONTAINER.match(raw) or (_FLAT_CONTAINER.match(raw) if pod else None)
            if c:
                container = c.group(1)
            continue
        indent, key, value = m.groups()
        if key == "Name" and not indent and value:
            pod, namespace, container = value, None, None
        elif key == "Namespace" and not indent and value:
            namespace = value
        if key in ("State", "Last State") and value in _STATES:
            open_block = _Block(i, key, _STATES[value], container, pod, namespace)
            blocks.append(open_block)
        elif open_block is not None and key in _STATE_FIELDS and key not in open_block.fields:
            open_block.fields[key] = (i, value)
        else:
            open_block = None
            if key == "Restart Count" and value.isdigit():
                restarts[(pod, container)] = (i, int(value))
    for block in blocks:
        _emit(acc, block, restarts.get((block.pod, block.container)))


def _emit(acc: Acc, block: _Block, restart: tuple[int, int] | None) -> None:
    f = {k: v for k, (_, v) in block.fields.items()}
    code = f.get("Exit Code", "")
    fields = {
        "reason": f.get("Reason") or None,
        "exit_code": int(code) if re.match(r"^-?\d+$", code) else None,
        "started_ts": _iso(f.get("Started")),
        "finished_ts": _iso(f.get("Finished")),
        "signal": f.get("Signal") or None,
    }
    finished = parse_abs(f.get("Finished"))
    if block.state == "waiting":  # a crash loop is dated by the termination that started its back-off
        finished = None
    msg = f"{block.which}: {block.state.title()}" + (f" ({fields['reason']})" if fields["reason"] else "")
    if fields["exit_code"] is not None:
        msg += f", exit code {fields['exit_code']}"
    ev = container_event(
        block.line + 1, block.pod, block.namespace, block.container, block.state, fields,
        restart[1] if restart else None, msg, finished,
    )
    if ev is None:
        return
    acc.events.append(ev)
    acc.used.add(block.line)
    acc.used.update(i for i, _ in block.fields.values())
    if restart:
        acc.used.add(restart[0])


def date_crash_loops(events: list[Event]) -> None:
    """A crash loop without a time takes the finish time of the same container's last termination."""
    finished = {(e.name, e.extra.get("container")): e.last for e in events
                if e.event_kind and e.extra.get("state") == "terminated" and e.last}
    for e in events:
        if e.event_kind == "pod.crash_loop" and e.last is None:
            e.last = finished.get((e.name, e.extra.get("container")))


def _iso(text: str | None) -> str | None:
    dt = parse_abs(text)
    return dt.isoformat().replace("+00:00", "Z") if dt else None
