"""Reading CSV exports of log tables: rows with the physical lines they span (quoted stack traces run
over many lines), columns picked by name, never by position."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from parsers.exports.entries import Lines


@dataclass
class CsvRows:
    header: list[str]
    rows: list[tuple[int, int, dict[str, str]]]  # (first line, lines spanned, cells by header name)
    lines: Lines
    problems: list[str] = field(default_factory=list)


def header_cells(head: str) -> list[str]:
    """The header row's cell names (BOM and quotes stripped), from the first line of the head."""
    # a bare CR ends a line too (csv refuses one inside an unquoted field: found by tests/test_properties.py)
    first = re.split(r"\r\n|\n|\r", head.lstrip("\ufeff"), maxsplit=1)[0]
    try:
        return [c.strip() for c in next(csv.reader([first]), [])]
    except csv.Error:  # still not a CSV header line
        return []


def read(text: str) -> CsvRows:
    """Every data row with its line span; the header line is covered, blank lines are left blank."""
    lines = Lines.of(text)
    body = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", " ")
    reader = csv.reader(io.StringIO(body, newline=""))
    out: list[tuple[int, int, dict[str, str]]] = []
    problems: list[str] = []
    try:
        header = [h.strip() for h in next(reader, [])]
        if lines.raw.len():
            lines.covered[0] = True
        start = 2
        for cells in reader:
            end = reader.line_num
            if cells and any(c.strip() for c in cells):
                while start < end and not (lines.raw[start - 1] or "").strip():  # blank lines the reader skipped
                    start += 1
                out.append((start, end - start + 1, dict(zip(header, cells, strict=False))))
            start = end + 1
    except csv.Error as exc:  # e.g. an oversized field: keep the rows read so far, the rest stays unrecognized
        problems.append(f"CSV unreadable after line {start - 1} ({exc}); the rest is counted unrecognized")
        header = header if "header" in locals() else []
    return CsvRows(header, out, lines, problems)


def pick(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    """The first non-empty cell among column names (compared case-insensitively, `[UTC]` suffix ignored)."""
    low = {_key(k): v for k, v in row.items() if k is not None}
    for n in names:
        v = low.get(_key(n))
        if v not in (None, "", "-"):
            return v
    return None


def has_columns(head: str, *groups: tuple[str, ...]) -> bool:
    """True when the header has at least one column of every group."""
    cols = {_key(c) for c in header_cells(head)}
    return all(any(_key(n) in cols for n in g) for g in groups)


def column(name: str) -> str:
    """A header cell as the column's name: quotes and the portal's ` [UTC]` / ` [Local Time]` suffix dropped."""
    return re.sub(r"\s*\[(?:utc|local time)\]$", "", name.strip().strip('"'), flags=re.IGNORECASE)


def _key(name: str) -> str:
    return re.sub(r"\s*\[(?:utc|local time)\]$", "", name.strip().strip('"').lower())
