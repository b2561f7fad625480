"""Reading JSON exports with the line each entry starts on.

Two shapes: a whole JSON document (an API response, pretty-printed or on one line), walked by path
with the offsets of each item kept so evidence can cite the entry's line; and NDJSON (one entry per
line), read column-wise with polars so a big export never becomes a Python object per line.
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

_DEC = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


def _ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]  # matches the empty string too


def items(text: str, path: tuple[str, ...], start: int = 0,
          problems: list[str] | None = None) -> list[tuple[int, int, Any]]:
    """(start offset, end offset, value) of every value at `path` ("*" = each array item) in the JSON
    value that begins at `start`. Parts that do not have the path's shape are skipped.

    Where the text stops being JSON (a cut download, not JSON at all), the items read so far are
    returned and the place is added to `problems`."""
    out: list[tuple[int, int, Any]] = []
    try:
        _walk(text, _ws(text, start), path, out)
    except (ValueError, RecursionError, IndexError) as exc:
        if problems is not None:
            problems.append(f"JSON unreadable after {len(out)} entries ({str(exc)[:120]}); the rest is counted unrecognized")
    return out


def _walk(text: str, i: int, path: tuple[str, ...], out: list) -> int:
    """Collect values at `path` from the value at offset i; return the offset after that value."""
    if not path:
        value, end = _DEC.raw_decode(text, i)
        out.append((i, end, value))
        return end
    head, rest = path[0], path[1:]
    opener = "[" if head == "*" else "{"
    if i >= len(text) or text[i] != opener:
        return _DEC.raw_decode(text, i)[1]
    closer = "]" if opener == "[" else "}"
    i = _ws(text, i + 1)
    if i < len(text) and text[i] == closer:
        return i + 1
    while True:
        if opener == "{":
            key, i = _DEC.raw_decode(text, i)
            i = _ws(text, i)
            if i >= len(text) or text[i] != ":":
                raise ValueError(f"':' expected at offset {i}")
            i = _ws(text, i + 1)
            i = _walk(text, i, rest, out) if key == head else _DEC.raw_decode(text, i)[1]
        else:
            i = _walk(text, i, rest, out)
        i = _ws(text, i)
        if i < len(text) and text[i] == ",":
            i = _ws(text, i + 1)
            continue
        if i < len(text) and text[i] == closer:
            return i + 1
        raise ValueError(f"'{closer}' expected at offset {i}")


class LineIndex:
    """Character offset → 1-based line number, for a text counted as ingest counts it."""

    def __init__(self, text: str) -> None:
        import numpy as np  # late: a command that reads no JSON document never loads numpy (start-up)

        self._nl = np.fromiter((m.start() for m in re.finditer("\n", text)), dtype=np.int64)

    def line(self, offset: int) -> int:
        import numpy as np

        return int(np.searchsorted(self._nl, offset, side="left")) + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """(first line, lines covered) of text[start:end]."""
        first = self.line(start)
        return first, self.line(max(end - 1, start)) - first + 1


def get(obj: Any, *names: str) -> Any:
    """The first present value among dotted names, read both nested (`a.b` → obj[a][b]) and as a
    literal dotted key (`obj["a.b"]`, as Elasticsearch and Kibana flatten fields)."""
    for name in names:
        v = _dig(obj, name.split("."))
        if v not in (None, ""):
            return v
    return None


def _dig(obj: Any, parts: list[str]) -> Any:
    if not parts:
        return obj
    if not isinstance(obj, dict):
        return None
    for k in range(len(parts), 0, -1):  # longest literal key first: "kubernetes.pod.name" before nesting
        key = ".".join(parts[:k])
        if key in obj:
            found = _dig(obj[key], parts[k:])
            if found is not None:
                return found
    return None


def text_of(value: Any) -> str | None:
    """A field value as text: strings as they are, other JSON values compactly encoded."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def is_json_document(head: str) -> bool:
    s = head.lstrip("\ufeff \t\r\n")
    return s.startswith(("{", "["))


def ndjson_field(raw: pl.Expr, names: tuple[str, ...], prefix: tuple[str, ...] = ()) -> pl.Expr:
    """The first present of several dotted fields of NDJSON lines (under the object at `prefix`), each
    read nested (`a.b` → `{"a":{"b":…}}`) and as a literal dotted key (`{"a.b":…}`)."""
    head = "$" + "".join(f"['{p}']" for p in prefix)
    exprs = []
    for name in names:
        parts = name.split(".")
        exprs.append(raw.str.json_path_match(head + "".join(f"['{p}']" for p in parts)))
        if len(parts) > 1:
            exprs.append(raw.str.json_path_match(head + f"['{name}']"))
    return pl.coalesce([e.replace("", None) for e in exprs])


def ndjson_entries(text: str, *, body: tuple[str, ...], ts: tuple[str, ...], host: tuple[str, ...],
                   level: tuple[str, ...], container: tuple[str, ...] = (), namespace: tuple[str, ...] = (),
                   prefix: tuple[str, ...] = (), ts_unit: str = "ns") -> tuple[pl.DataFrame, Any]:
    """Entries of an NDJSON export, one per JSON line that has a message; other lines stay uncovered.
    Returns (entries, Lines) for `entries.parse_entries`."""
    from parsers.exports.entries import ENTRY_SCHEMA, Lines
    from parsers.exports.fields import epoch_iso

    lines = Lines.of(text)
    raw = pl.col("raw")
    df = pl.DataFrame({"raw": lines.raw}).with_row_index("line", offset=1).filter(
        raw.str.strip_chars_start().str.starts_with("{"))

    def f(names: tuple[str, ...]) -> pl.Expr:
        return ndjson_field(raw, names, prefix) if names else pl.lit(None, dtype=pl.String)

    h, c, n = f(host), f(container), f(namespace)
    entries = df.select(
        "line", span=pl.lit(1, dtype=pl.UInt32), pts=epoch_iso(f(ts), ts_unit), host=h,
        stream=pl.concat_str(n.fill_null(""), h.fill_null(""), c.fill_null(""), separator="/"),
        level_word=f(level), body=f(body),
    ).filter(pl.col("body").is_not_null()).cast(ENTRY_SCHEMA)  # type: ignore[arg-type]
    lines.cover(entries.get_column("line").to_numpy(), entries.get_column("span").to_numpy())
    return entries, lines
