"""`kubectl get events` / `kubectl events` tables (modern, `-A`, `-o wide`, old `FIRSTSEEN LASTSEEN …`,
tab-separated, wrapped messages) and `kubectl get hpa` rows (a `k8s.HPAStatus` snapshot)."""

from __future__ import annotations

import re

from parsers.base import ParseContext
from parsers.k8s.describe import DESCRIBE_HEADER
from parsers.k8s.event import Acc, Event, resolve_age, split_object
from postmortem import safe_regex

_TYPES = ("Normal", "Warning")
GET_HEADER = safe_regex.compile(r"^\s*(?:NAMESPACE\s+)?(?:LAST ?SEEN|FIRST ?SEEN)\b.*\bREASON\b.*\bMESSAGE\b")
_HEADER_TOKEN = safe_regex.compile(r"LAST ?SEEN|FIRST ?SEEN|[A-Z][A-Z_]+|[A-Z][a-z]+(?:[A-Z][a-z]+)*")


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


def get_table(acc: Acc, start: int, ctx: ParseContext) -> int:
    """`kubectl get events` / `kubectl events` table from header line `start`; returns the next line."""
    header = acc.lines[start].expandtabs(8)
    cols = _header_columns(header)
    acc.used.add(start)
    i = start + 1
    last_event: Event | None = None
    while i < len(acc.lines):
        raw = acc.lines[i]
        row = raw.expandtabs(8)
        if not row.strip():
            break
        if GET_HEADER.match(row) or DESCRIBE_HEADER.match(row):
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


def _event_from_cells(cells: dict[str, str], line: int, acc: Acc, ctx: ParseContext) -> Event:
    last_text = cells.get("LASTSEEN", "")
    last, first, count = resolve_age(last_text, acc, ctx.now)
    if "FIRSTSEEN" in cells:
        f, _, _ = resolve_age(cells["FIRSTSEEN"], acc, ctx.now)
        first = f or first
    if cells.get("COUNT", "").isdigit():
        count = int(cells["COUNT"])
    kind, name = split_object(cells.get("OBJECT", ""))
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
    return Event(
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


_HPA_HEADER = safe_regex.compile(r"^\s*(?:NAMESPACE\s+)?NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\b")
_NS_FLAG = safe_regex.compile(r"(?:--namespace[= ]|\s-n )(\S+)")


def hpa_tables(acc: Acc, ctx: ParseContext) -> None:
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
            kind, _ = split_object(cells.get("REFERENCE", ""))
            extra = {k.lower(): cells[k] for k in ("REFERENCE", "TARGETS", "MINPODS", "MAXPODS") if cells.get(k)}
            extra.update(replicas=int(cells["REPLICAS"]), snapshot=True)
            acc.events.append(
                Event(
                    line=j + 1, reason="HPAStatus", kind="hpa", name=cells.get("NAME"),
                    namespace=cells.get("NAMESPACE") or (m.group(1) if m else None), last=ctx.now,
                    message=acc.lines[j].strip(), extra=extra,
                )
            )
            acc.relative += 1
            acc.used.add(j)
