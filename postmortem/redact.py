"""Secret redaction: passwords and tokens in connection strings never reach a report.

Applied at parse time to `redis.config` text and again to every string a report shows.
"""

from __future__ import annotations

import re

import polars as pl

MASK = "***"

# (pattern, replacement); linear-time patterns only (also valid for polars' Rust regex).
_RULES: tuple[tuple[str, str], ...] = (
    # redis://user:pass@host, rediss://:pass@host, any scheme://user:pass@
    (r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", r"${1}" + MASK + "@"),
    # password=..., pwd=..., secret=..., token=..., access_key=... in connection strings / kwargs / query
    (
        r"(?i)\b((?:password|passwd|pwd|secret|token|access[_-]?key|api[_-]?key|auth[_-]?token|sas[_-]?key|"
        r"client[_-]?secret|credentials?)\s*[=:]\s*)(?:\"[^\"]*\"|'[^']*'|[^,;&\s)\]}]+)",
        r"${1}" + MASK,
    ),
    # .NET property dumps: Password: xyz / "Password": "xyz"
    (r"(?i)(\"(?:password|token|secret)\"\s*:\s*)\"[^\"]*\"", "${1}\"" + MASK + "\""),
    # AUTH arguments: AUTH <pass> / AUTH <user> <pass>
    (r"\b(AUTH)\s+\S+(?:\s+\S+)?", r"${1} " + MASK),
    # Bearer / Basic tokens
    (r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", r"${1} " + MASK),
    # Azure/AWS style keys: AccountKey=..., SharedAccessKey=...
    (r"(?i)\b((?:AccountKey|SharedAccessKey|SharedAccessSignature)=)[^;,\s]+", r"${1}" + MASK),
)

_PY_RULES = tuple((re.compile(p), r.replace("${1}", r"\1")) for p, r in _RULES)


def redact_text(text: str | None) -> str | None:
    """Redact secrets from one string (report rendering path)."""
    if not text:
        return text
    for rx, repl in _PY_RULES:
        text = rx.sub(repl, text)
    return text


def redact_expr(expr: pl.Expr) -> pl.Expr:
    """The same redaction as a polars expression, for parsers (vectorized)."""
    for pattern, repl in _RULES:
        expr = expr.str.replace_all(pattern, repl)
    return expr
