"""`kubectl get pods` (plain, `-o wide`, `-A`/`--all-namespaces`) and `kubectl top pods` (`-A`, `--containers`)
tables: one event per pod row, `host` = the pod.

Layouts from kubectl's printers (pkg/printers/internalversion/printers.go: NAME READY STATUS RESTARTS AGE,
wide adds IP NODE NOMINATED NODE READINESS GATES; since 1.22 RESTARTS reads `4 (57s ago)`) and
`kubectl top pod` (NAME CPU(cores) MEMORY(bytes), POD NAME … with `--containers`). A listing has no time of
its own: it is dated when it was taken (`--now`, else the file's modification time); a row that says when the
pod last restarted (`(57s ago)`) is dated then.
"""

from __future__ import annotations

import re
from datetime import timedelta

from parsers.base import ParseContext
from parsers.k8s.event import Acc, Event, _age_seconds
from parsers.k8s.pod_state import HEALTHY_STATUS, POD_USAGE, status_kind
from postmortem import safe_regex

GET_PODS_HEADER = safe_regex.compile(r"^\s*(?:NAMESPACE\s+)?NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\b")
TOP_PODS_HEADER = safe_regex.compile(r"^\s*(?:NAMESPACE\s+)?(?:POD\s+)?NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)")
_NS_FLAG = safe_regex.compile(r"(?:--namespace[= ]|\s-n\s*)([a-z0-9][-a-z0-9.]*)")
_RESTARTS = safe_regex.compile(r"^(\d+)(?:\s+\((\S+) ago\))?$")
_READY = safe_regex.compile(r"^\d+/\d+$")
_CPU = safe_regex.compile(r"^(\d+(?:\.\d+)?)(m|n|u)?$")
_MEM = safe_regex.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T|k)?$")
_MEM_UNIT = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "k": 1000, "K": 1000, "M": 1000**2,
             "G": 1000**3, "T": 1000**4}
_CPU_UNIT = {None: 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def _columns(header: str) -> list[tuple[str, int]]:
    """Header cells split on runs of 2+ spaces (`NOMINATED NODE` is one column) with their start offsets."""
    return [(m.group(0), m.start()) for m in re.finditer(r"\S+(?: \S+)*", header)]


def _cells(row: str, cols: list[tuple[str, int]]) -> dict[str, str] | None:
    """A row's cells: split on 2+ spaces when the count matches (pasted text keeps that), else by offsets."""
    parts = re.split(r"\s{2,}|\t+", row.strip())
    if len(parts) == len(cols):
        return dict(zip((c[0] for c in cols), parts, strict=True))
    out = {}
    for i, (name, start) in enumerate(cols):
        end = cols[i + 1][1] if i + 1 < len(cols) else None
        out[name] = row[start:end].strip()
    return out


def _namespace_flag(acc: Acc, header_at: int) -> str | None:
    """`kubectl -n NS get pods` / `--namespace NS` on the command line just above the table."""
    if header_at == 0:
        return None
    prev = acc.lines[header_at - 1]
    m = _NS_FLAG.search(prev) if "kubectl" in prev else None
    return m.group(1) if m else None


def get_pods(acc: Acc, ctx: ParseContext) -> None:
    """Every `kubectl get pods` table in the file: one event per row that reads as a pod."""
    for i, raw in enumerate(acc.lines):
        if GET_PODS_HEADER.match(raw.expandtabs(8)):
            _pods_table(acc, i, ctx)


def _pods_table(acc: Acc, start: int, ctx: ParseContext) -> None:
    cols = _columns(acc.lines[start].expandtabs(8))
    ns_flag = _namespace_flag(acc, start)
    acc.used.add(start)
    for j in range(start + 1, len(acc.lines)):
        raw = acc.lines[j].expandtabs(8)
        cells = _cells(raw, cols) if raw.strip() else None
        if not cells or not _READY.match(cells.get("READY", "")):
            break
        restarts = _RESTARTS.match(cells.get("RESTARTS", ""))
        status = cells.get("STATUS", "")
        if not restarts or not status:
            break
        count = int(restarts.group(1))
        ago = _age_seconds(restarts.group(2) or "")
        when = ctx.now - timedelta(seconds=ago) if ctx.now is not None and ago is not None else ctx.now
        acc.relative += 1
        extra = {"status": status, "ready": cells["READY"], "restarts": count, "snapshot": True, "value": count}
        if when is not None and ago is not None:
            extra["last_restart_ts"] = when.isoformat().replace("+00:00", "Z")
        for key in ("AGE", "IP", "NODE"):
            if cells.get(key) and cells[key] != "<none>":
                extra[key.lower()] = cells[key]
        kind = status_kind(status)
        acc.events.append(
            Event(
                line=j + 1, reason=status, kind="pod", name=cells["NAME"], host=cells["NAME"],
                namespace=cells.get("NAMESPACE") or ns_flag, last=when, message=acc.lines[j].strip(), extra=extra,
                event_kind=kind, type="Warning" if status not in HEALTHY_STATUS else None,
            )
        )
        acc.used.add(j)


def _cpu_cores(text: str) -> float | None:
    m = _CPU.match(text)
    return float(m.group(1)) * _CPU_UNIT[m.group(2)] if m else None


def _memory_bytes(text: str) -> float | None:
    m = _MEM.match(text)
    return float(m.group(1)) * _MEM_UNIT[m.group(2)] if m else None


def top_pods(acc: Acc, ctx: ParseContext) -> None:
    """`kubectl top pods` tables: a CPU and a memory sample per row (`pod.usage`, metric in `metric`)."""
    for i, raw in enumerate(acc.lines):
        if not TOP_PODS_HEADER.match(raw.expandtabs(8)):
            continue
        cols = _columns(raw.expandtabs(8))
        ns_flag = _namespace_flag(acc, i)
        acc.used.add(i)
        for j in range(i + 1, len(acc.lines)):
            row = acc.lines[j].expandtabs(8)
            cells = _cells(row, cols) if row.strip() else None
            cpu = _cpu_cores(cells.get("CPU(cores)", "")) if cells else None
            mem = _memory_bytes(cells.get("MEMORY(bytes)", "")) if cells else None
            if cells is None or cpu is None or mem is None:
                break
            pod = cells.get("POD") or cells["NAME"]
            container = cells["NAME"] if "POD" in cells else None
            acc.relative += 1
            for metric, value in (("pod_cpu_cores", cpu), ("pod_memory_bytes", mem)):
                extra = {"value": value, "snapshot": True} | ({"container": container} if container else {})
                acc.events.append(
                    Event(
                        line=j + 1, reason="Usage", kind="pod", name=pod, host=pod,
                        namespace=cells.get("NAMESPACE") or ns_flag, last=ctx.now, message=acc.lines[j].strip(),
                        extra=extra, event_kind=POD_USAGE.name, metric=metric,
                    )
                )
            acc.used.add(j)
