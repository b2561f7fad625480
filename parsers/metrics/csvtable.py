"""Delimited metric tables (Grafana and Azure CSV): dialect sniffing, time columns, formatted numbers.

Values may be "formatted" (`1.2 K`, `35 %`, `1,234.5`, `1.234,5`); the number is scaled by its SI or
byte unit and the unit is dropped. Times go through postmortem.input.timeparse (epoch ms, ISO, local).
"""

from __future__ import annotations

import csv
import io
import re

import polars as pl

from postmortem.input.timeparse import parse_ts

TIME_HEADER = re.compile(r"^(?:time|timestamp|date|datetime|timegenerated|time \(utc\)|time\s*\(.*\)|date time)$", re.I)
_UNIT_SCALE = {
    "k": 1e3, "K": 1e3, "Mil": 1e6, "M": 1e6, "Bil": 1e9, "G": 1e9, "T": 1e12, "Tri": 1e12,
    "KiB": 1024.0, "MiB": 1024.0**2, "GiB": 1024.0**3, "TiB": 1024.0**4,
    "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}


def strip_preamble(lines: list[str]) -> tuple[int, str | None]:
    """Index of the header line (after a BOM and an Excel `sep=X` line) and the declared separator."""
    i = 0
    while i < len(lines) and not lines[i].strip().lstrip("\ufeff"):
        i += 1
    if i < len(lines) and lines[i].lstrip("\ufeff").startswith("sep=") and len(lines[i].strip()) <= 6:
        sep = lines[i].strip().lstrip("\ufeff")[4:] or None
        return i + 1, "\t" if sep is None else sep
    return i, None


def delimiter(header: str) -> str:
    counts = {d: len(csv_row(header, d)) - 1 for d in (";", ",", "\t", "|")}  # separators outside quotes
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_rows(lines: list[str], start: int, sep: str) -> tuple[list[str], pl.DataFrame, list[int]]:
    """Header names, all-string cells, and the 0-based line index of each data row (blank lines skipped)."""
    header = csv_row(lines[start].lstrip("\ufeff"), sep)
    header = [h.strip() or f"column_{k}" for k, h in enumerate(header)]
    seen: dict[str, int] = {}
    names = []
    for h in header:
        seen[h] = seen.get(h, 0) + 1
        names.append(h if seen[h] == 1 else f"{h}_{seen[h]}")
    idx = [i for i in range(start + 1, len(lines)) if lines[i].strip()]
    body = "\n".join(lines[i].replace("\r", " ") for i in idx)
    rows = list(csv.reader(io.StringIO(body), delimiter=sep)) if body else []
    if len(rows) != len(idx):  # quoted newlines: keep rows, lines are approximate
        idx = (idx + [idx[-1] if idx else start] * len(rows))[: len(rows)]
    width = len(names)
    rows = [(r + [""] * width)[:width] for r in rows]
    data = pl.DataFrame({n: [r[k] for r in rows] for k, n in enumerate(names)}, schema=dict.fromkeys(names, pl.String))
    return names, data, idx


def csv_row(line: str, sep: str) -> list[str]:
    """One CSV record from one line (stray CRs are blanked; the csv module rejects them)."""
    return next(csv.reader([line.replace("\r", " ")], delimiter=sep), [])


def decimal_comma(values: pl.Series) -> bool:
    """True when numbers are written the German/French way (`1.234,5`, `0,8`)."""
    v = values.drop_nulls()
    return bool(v.str.contains(r"^\s*[-+]?\d{1,3}(?:[.\s\u00a0]\d{3})*,\d+\b").any()) and not bool(
        v.str.contains(r"^\s*[-+]?\d{1,3}(?:,\d{3})+\.\d+").any()
    )


def number_expr(text: pl.Expr, comma_decimal: bool) -> pl.Expr:
    """Formatted cell → float: strip grouping, apply the unit's scale; `null`/empty → null."""
    t = text.str.strip_chars().str.strip_chars('"')
    num = t.str.extract(r"^([-+]?(?:\d[\d.,'\s\u00a0]*\d|\d)(?:[eE][-+]?\d+)?)", 1)
    unit = t.str.extract(r"^[-+]?[\d.,'\s\u00a0eE+-]*\d\s*([A-Za-z]+)", 1)
    if comma_decimal:
        num = num.str.replace_all(r"[.'\s\u00a0]", "").str.replace(",", ".")
    else:
        num = num.str.replace_all(r"[,'\s\u00a0]", "")
    scale = unit.replace_strict(_UNIT_SCALE, default=1.0, return_dtype=pl.Float64).fill_null(1.0)
    special = t.str.to_lowercase().replace_strict({"nan": float("nan"), "+inf": float("inf"), "inf": float("inf"), "-inf": float("-inf")}, default=None, return_dtype=pl.Float64)
    return pl.coalesce(num.cast(pl.Float64, strict=False) * scale, special)


def time_expr(text: pl.Expr, tz: str) -> pl.Expr:
    ts = parse_ts(text.str.strip_chars().str.strip_chars('"'), tz).ts
    return ts
