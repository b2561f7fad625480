"""`-o json` and `-o yaml` Events, Lists and arrays (core/v1 and events.k8s.io/v1), read item by item so a
prelude line, a bad item or a truncated tail costs only its own lines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from parsers import yaml_untrusted
from parsers.k8s.event import Acc, Event, from_object
from postmortem import safe_regex

JSON_EVENT_KEYS = safe_regex.compile(r'"(?:involvedObject|regarding)"\s*:')
YAML_EVENT = safe_regex.compile(r"^\s*(?:- )?(?:involvedObject|regarding):\s*$", re.M)
# An API object → its events (an Event object → one; a Pod → one per container state), given its first line.
Convert = Callable[[Any, int, str], list[Event]]


def event_objects(item: Any, line: int, _text: str) -> list[Event]:
    ev = from_object(item, line)
    return [ev] if ev else []


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


def json_doc(acc: Acc, text: str, convert: Convert = event_objects) -> bool:
    """A JSON Event (or Pod), List or array, item by item: a prelude line or a truncated tail costs only its lines."""
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
            evs = convert(item, _line_of(offsets, pos) + 1, text[pos:end]) if item else []
            for ev in evs:
                ev.extra["truncated"] = True
                acc.events.append(ev)
            if evs:
                acc.used.update(range(_line_of(offsets, begin), _line_of(offsets, end - 1) + 1))
            break
        if isinstance(item, dict) and item.get("status") == "Failure":
            acc.problems.append(f"Kubernetes API error body: {str(item.get('message', ''))[:200]}")
        evs = convert(item, _line_of(offsets, pos) + 1, text[pos:end])
        if evs:
            acc.events.extend(evs)
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


def yaml_doc(acc: Acc, convert: Convert = event_objects, what: str = "event") -> bool:
    """`-o yaml` lists (or single objects), parsed item by item so a bad item costs only its lines."""
    lines = acc.lines
    ranges, items_at = _yaml_items(lines)
    got = False
    for s, e in ranges:
        chunk = lines[s:e]
        if items_at is not None:
            first = chunk[0].replace("- ", "  ", 1)
            chunk = [first] + chunk[1:]
        try:
            doc = yaml_untrusted.load(_dedent("\n".join(chunk)))
        except yaml_untrusted.AliasRefused:
            acc.problems.append(f"YAML {what} item at line {s + 1} uses an alias (*name); not read")
            continue
        except yaml_untrusted.YAMLError:
            acc.problems.append(f"YAML {what} item at line {s + 1} could not be read")
            continue
        evs = convert(doc, s + 1, "\n".join(chunk)) if isinstance(doc, dict) else []
        if evs:
            acc.events.extend(evs)
            acc.used.update(range(s, e))
            got = True
    if got and items_at is not None:  # the List envelope: top-level keys and their nested lines
        covered = {i for s, e in ranges for i in range(s, e)}
        acc.used.update(i for i in range(len(lines)) if i not in covered and lines[i].strip())
    elif not got and what == "event":
        acc.problems.append("YAML is not a Kubernetes event list (no item with reason and involvedObject/regarding)")
    elif not got:
        acc.problems.append(f"YAML holds no {what} with a container status")
    return got


def _dedent(text: str) -> str:
    rows = text.split("\n")
    widths = [len(r) - len(r.lstrip(" ")) for r in rows if r.strip()]
    cut = min(widths) if widths else 0
    return "\n".join(r[cut:] for r in rows)
