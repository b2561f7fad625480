"""Secret redaction: passwords and tokens in connection strings never reach a report.

Applied at parse time to `redis.config` text and again to every string a report shows, so every
rule is idempotent (redacting twice changes nothing more). The same patterns run in polars (Rust
regex) and in Python (postmortem/safe_regex.py, with a time limit); they stay in the linear-time subset:
no look-around, no backreferences, and every repetition that precedes a literal is bounded so Python's
backtracking stays linear too. A string the Python side cannot finish in time is withheld, not shown
unredacted.
"""

from __future__ import annotations

import polars as pl

from postmortem import safe_regex

MASK = "***"

# Key names whose value is a secret (matched as the end of a word: REDIS_PASSWORD, aws_secret_access_key).
_KEYS = (
    r"(?:password|passwd|pwd|pass|secret|token|access[_-]?key|api[_-]?key|auth[_-]?token|sas[_-]?key|"
    r"client[_-]?secret|credentials?|requirepass|masterauth|sig)"
)

# (pattern, replacement); `${1}` is the kept prefix. Order matters: URLs first, then quoted keys.
_RULES: tuple[tuple[str, str], ...] = (
    # redis://user:pass@host, rediss://:pass@host, any scheme://user:pass@ (a password may hold '@')
    (r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^:/@\s]{0,200}:)[^/\s]+@", r"${1}" + MASK + "@"),
    # JSON / Python dict: "password": "x", 'pwd': 'x'
    (r"(?i)([\"']\w{0,40}" + _KEYS + r"[\"']\s*:\s*)(?:\"[^\"]*\"?|'[^']*'?)", r"${1}\"" + MASK + "\""),
    # password=..., Password: ..., REDIS_PASSWORD=..., pwd=... in connection strings, kwargs, queries, dumps
    (
        r"(?i)\b(\w{0,40}" + _KEYS + r"\s*[=:]\s*)(?:\"[^\"]*\"?|'[^']*'?|[^,;&\s)\]}\"']+)",
        r"${1}" + MASK,
    ),
    # redis.conf / CONFIG SET: requirepass x, masterauth "x"
    (r"(?i)\b((?:requirepass|masterauth)\s+)(?:\"[^\"]*\"|\S+)", r"${1}" + MASK),
    # MONITOR output: "AUTH" "user" "pass"
    (r"(?i)(\"AUTH\")(?:\s+\"[^\"]*\"){1,2}", r"${1} " + MASK),
    # AUTH arguments: AUTH <pass> / AUTH <user> <pass> (an already masked value is left alone)
    (r"\b(AUTH)\s+(?:\*\*\*|[^\s\"]+(?:\s+[^\s\"]+)?)", r"${1} " + MASK),
    # redis-cli -a <pass>
    (r"(redis-cli\s(?:[^\n]{0,200}\s)?-a\s+)\S+", r"${1}" + MASK),
    # Bearer / Basic tokens
    (r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", r"${1} " + MASK),
    # Azure style keys: AccountKey=..., SharedAccessKey=..., SharedAccessSignature=...
    (r"(?i)\b((?:AccountKey|SharedAccessKey|SharedAccessSignature)=)[^;,\s]+", r"${1}" + MASK),
)

_PY_RULES = tuple((safe_regex.compile(p), r) for p, r in _RULES)


def _withheld(text: str) -> str:
    return f"[{len(text)} characters withheld: redaction timed out]"


def redact_text(text: str | None) -> str | None:
    """Redact secrets from one string (report rendering path)."""
    if not text:
        return text
    for rx, repl in _PY_RULES:
        text = rx.sub(lambda m, r=repl: r.replace("${1}", m.group(1)), text, on_timeout=_withheld)
    return text


def redact_expr(expr: pl.Expr) -> pl.Expr:
    """The same redaction as a polars expression, for parsers (vectorized)."""
    for pattern, repl in _RULES:
        expr = expr.str.replace_all(pattern, repl)
    return expr
