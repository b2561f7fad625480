"""Secret redaction: the one pass that keeps passwords, keys and tokens out of every output.

Recognizers keep log text raw; redaction runs once, at the output boundary: at the end of
`analysis.pipeline.analyze` (`redact_report` over the whole Report, `redact_events` over the events
the renderers still read) and in `postmortem parse` before the table is written. `--no-redact` is
the only way around it. Every rule is idempotent (redacting twice changes nothing more).

The same patterns run in polars (Rust regex) and in Python (postmortem/safe_regex.py, with a time
limit); they stay in the linear-time subset: no look-around, no backreferences, and every repetition
that precedes a literal is bounded so Python's backtracking stays linear too. A string the Python
side cannot finish in time is withheld, not shown unredacted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

import polars as pl

from postmortem import safe_regex

MASK = "***"

# Key names whose value is a secret (matched as the end of a word: REDIS_PASSWORD, aws_secret_access_key,
# REDIS_AUTH, primaryKey from `az redis list-keys`).
_KEYS = (
    r"(?:password|passwd|pwd|pass|secret|token|access[_-]?key|api[_-]?key|auth[_-]?token|sas[_-]?key|"
    r"client[_-]?secret|credentials?|requirepass|masterauth|sig|_auth|primary[_-]?key|secondary[_-]?key)"
)
# A double-quoted value in which \" does not end the string (JSON, MONITOR output).
_DQ = r"\"(?:[^\"\\\n]|\\.)*\"?"

# (pattern, replacement); `${1}` is the kept prefix. Order matters: URLs first, then quoted keys.
_RULES: tuple[tuple[str, str], ...] = (
    # redis://user:pass@host, rediss://:ab/cd+KEY=@host (base64 keys hold '/' and '+'), a password holding '@'
    (r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^:/@\s]{0,200}:)(?:[^\s@]{0,400}@){1,4}", r"${1}" + MASK + "@"),
    # JSON / Python dict: "password": "x", 'pwd': 'x', "primaryKey": "a\"b"
    (r"(?i)([\"']\w{0,40}" + _KEYS + r"[\"']\s*:\s*)(?:" + _DQ + r"|'[^'\n]*'?)", '${1}"' + MASK + '"'),
    # JSON inside a JSON string: \"password\": \"x\"
    (r"(?i)(\\\"\w{0,40}" + _KEYS + r"\\\"\s*:\s*)\\\"(?:[^\"\\\n]|\\[^\"\n])*(?:\\\")?", r"${1}\"" + MASK + r"\""),
    # password=..., Password: ..., REDIS_PASSWORD=..., REDIS_AUTH=... in connection strings, kwargs, queries
    (
        r"(?i)\b(\w{0,40}" + _KEYS + r"\s*[=:]\s*)(?:" + _DQ + r"|\\\"(?:[^\"\\\n]|\\[^\"\n])*(?:\\\")?|'[^']*'?|[^,;&\s)\]}\"']+)",
        r"${1}" + MASK,
    ),
    # URL-encoded connection strings: password%3Dsecret%2Cssl%3DTrue (the value ends at %2C, %26, %3B)
    (
        r"(?i)\b(\w{0,40}" + _KEYS + r"%3D)(?:[^%&\s,;\"']|%[013-9a-f][0-9a-f]|%2[0-57-9abd-f]|%3[0-9ac-f])+",
        r"${1}" + MASK,
    ),
    # redis.conf / CONFIG SET: requirepass x, masterauth "x"; sentinel auth-pass <master> <pass>
    (r"(?i)\b((?:requirepass|masterauth)\s+)(?:\"[^\"]*\"|\S+)", r"${1}" + MASK),
    (r"(?i)\b(auth-pass\s+\S+\s+)(?:\"[^\"]*\"|\S+)", r"${1}" + MASK),
    # MONITOR output "AUTH" "user" "pass" (with \" inside), SLOWLOG / redis-cli replies 1) "AUTH" 2) "pass"
    (r"(?i)(\"AUTH\")(?:\s+(?:\d{1,3}\)\s+)?" + _DQ + r"){1,2}", r"${1} " + MASK),
    # AUTH arguments: AUTH <pass> / AUTH <user> <pass> (an already masked value is left alone)
    (r"\b(AUTH)\s+(?:\*\*\*|[^\s\"]+(?:\s+[^\s\"]+)?)", r"${1} " + MASK),
    # lowercase auth typed at redis-cli: `127.0.0.1:6379> auth pass`, `redis-cli auth pass`, a line `auth pass`
    (r"(?im)((?:^|>|\bredis-cli\s(?:[^\n]{0,200}\s)?)\s*auth)\s+(?:\*\*\*|[^\s\"]+(?:\s+[^\s\"]+)?)",
     r"${1} " + MASK),
    # ACL SETUSER u on >pass ~* +@all, `user x on >pass` in users.acl, MONITOR "ACL" "SETUSER" ...: all
    # of the line after the first '>' (a user may have several passwords)
    (r"(?i)(\b(?:setuser|user)\"?\s+[^\s>]{1,200}\s[^\n>]{0,300}>)[^\n\"]*", r"${1}" + MASK),
    # redis-cli -a <pass>, --pass <pass>, --pass=<pass>, ["redis-cli", "-a", "pass"]
    (
        r"(redis-cli\b(?:[^\n]{0,200}[\s\"',])?(?:-a|--pass)(?:\s+|=|[\"']\s*,\s*[\"']))"
        r"(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',\]]+)",
        r"${1}" + MASK,
    ),
    # Bearer / Basic tokens, and any Authorization header value (`Authorization: token ghp_…`)
    (r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", r"${1} " + MASK),
    (r"(?i)\b(Authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z-]{1,20}\s+)?)[^\s,;\"']+", r"${1}" + MASK),
    # Azure style keys: AccountKey=..., SharedAccessKey=..., SharedAccessSignature=...
    (r"(?i)\b((?:AccountKey|SharedAccessKey|SharedAccessSignature)=)[^;,\s]+", r"${1}" + MASK),
    # AWS access key ids (the four-letter prefix says which kind and stays)
    (r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA))[0-9A-Z]{16}\b", r"${1}" + MASK),
)

_PY_RULES = tuple((safe_regex.compile(p), r) for p, r in _RULES)


def _withheld(text: str) -> str:
    return f"[{len(text)} characters withheld: redaction timed out]"

# Event columns that carry log-derived text (kind, source, level and metric are vocabularies).
EVENT_TEXT_COLUMNS = ("path", "host", "entity", "message", "attrs")


def redact_text(text: str | None) -> str | None:
    """Redact secrets from one string; a rule whose words the text lacks is skipped (`_NEEDED_WORDS`,
    the same test `_redact_series` makes: a report's strings rarely hold any, and 16 regex passes over
    each of its ~1,000 strings were most of `redact_report`)."""
    if not text:
        return text
    present = _words_in(text)
    if not present and present is not None:
        return text
    for (rx, repl), groups in zip(_PY_RULES, _NEEDED_WORDS, strict=True):
        if present is not None and any(present.isdisjoint(words) for words in groups):
            continue
        new = rx.sub(lambda m, r=repl: r.replace("${1}", m.group(1)), text, on_timeout=_withheld)
        if new != text:
            text, present = new, _words_in(new)
    return text


def _words_in(text: str) -> frozenset[str] | None:
    """The rules' words `text` holds (ASCII, any case); None when it has a non-ASCII character: under (?i)
    a few ASCII letters match non-ASCII ones, so every rule must run."""
    if not text.isascii():
        return None
    lower = text.lower()
    return frozenset(w for w in _ALL_WORDS if w in lower)


def redact_expr(expr: pl.Expr) -> pl.Expr:
    """The same redaction as a polars expression over a String column (vectorized)."""
    for pattern, repl in _RULES:
        expr = expr.str.replace_all(pattern, repl)
    return expr


# For each rule, groups of words (ASCII, any case): its pattern cannot match without one word of every
# group: `://` and the `@` of a URL's credentials, key names, AUTH, user, redis-cli, Bearer/Basic, the AWS
# prefixes. Under `(?i)` a few ASCII letters also match non-ASCII ones (`k` the Kelvin sign, `s` the long
# s), so a text with any non-ASCII character is a candidate for every rule.
_KEY_WORDS = (("pass", "pwd", "secret", "token", "key", "credential", "auth", "sig"),)
_NEEDED_WORDS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("://",), ("@",)), _KEY_WORDS, _KEY_WORDS, _KEY_WORDS, _KEY_WORDS, (("requirepass", "masterauth"),),
    (("auth-pass",),), (("auth",),), (("auth",),), (("auth",),), (("user",),), (("redis-cli",),),
    (("bearer", "basic"),), (("authorization",),), (("accountkey", "sharedaccesskey", "sharedaccesssignature"),),
    (("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),),
)
assert len(_NEEDED_WORDS) == len(_RULES)
_ALL_WORDS = tuple(sorted({w for groups in _NEEDED_WORDS for words in groups for w in words}))


def _could_match(values: pl.Series, groups: tuple[tuple[str, ...], ...], non_ascii: pl.Series) -> pl.Series:
    """False only where a rule needing a word of each group cannot match (Aho-Corasick passes, no regex)."""
    hit = non_ascii
    has_all = values.str.contains_any(list(groups[0]), ascii_case_insensitive=True)
    for words in groups[1:]:
        has_all = has_all & values.str.contains_any(list(words), ascii_case_insensitive=True)
    return hit | has_all


def _redact_series(values: pl.Series) -> pl.Series:
    """`redact_expr` over a column, each rule run only on the distinct values it could match (issue 20:
    the events of a storm repeat the same hosts, entities and messages, and most texts hold no key word).
    A rule that cannot match leaves a value as it is, so skipping it changes nothing."""
    raw = values.drop_nulls().unique()
    red = raw.clone()  # scatter writes in place
    non_ascii = raw.str.contains(r"[^\x00-\x7F]")  # a superset later too: replacements only remove text or add ASCII
    for (pattern, repl), groups in zip(_RULES, _NEEDED_WORDS, strict=True):
        idx = _could_match(red, groups, non_ascii).arg_true()
        if len(idx):
            red = red.scatter(idx, red.gather(idx).str.replace_all(pattern, repl))
    changed = raw != red
    if not changed.any():
        return values
    return values.replace(raw.filter(changed), red.filter(changed))


def redact_events(events: pl.DataFrame) -> pl.DataFrame:
    """The events table with every log-derived String column redacted (`EVENT_TEXT_COLUMNS`); the same
    table as `redact_expr` over every row (tests/test_redaction_property.py)."""
    cols = [c for c in EVENT_TEXT_COLUMNS if events.schema.get(c) == pl.String]
    return events.with_columns(_redact_series(events[c]).alias(c) for c in cols)


def redact_value(value):
    """Any Report value with every string inside redacted, keeping its shape and types.

    Walks dataclasses, tuples, lists, dicts and read-only mappings (keys too) generically, so a field added to the Report
    tomorrow is covered without new code. Strings of a str subclass (enums) are vocabulary, left alone.
    """
    if type(value) is str:
        return redact_text(value)
    if isinstance(value, tuple):
        return type(value)(*map(redact_value, value)) if hasattr(value, "_fields") else tuple(map(redact_value, value))
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, Mapping):  # the Report's read-only mappings: same shape back
        return MappingProxyType({redact_value(k): redact_value(v) for k, v in value.items()})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            old = getattr(value, f.name)
            new = redact_value(old)
            if new is not old and new != old:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


def redact_report(report):
    """The Report with every string in it redacted (the Report itself says `redacted`)."""
    return dataclasses.replace(redact_value(report), redacted=True)
