"""Envelope framing: turn the lines of a log file into records (ts, level, logger, host, text).

Two layers, both data-driven and vectorized:

1. The **outer** layer peels what a transport wrapped around each line: a Kubernetes CRI prefix,
   docker-compose's `svc_1  | `, a syslog header, or a docker `{"log": ...}` JSON line. Structured
   JSON logs (Serilog compact, python-json-logger, structlog, MEL JSON) are complete records here.
2. The **inner** layer finds record headers with the `HEADER_VARIANTS` regexes (Python logging,
   Serilog/NLog/log4net, celery, gunicorn, redis-server, klog, ASP.NET console ...) and joins the
   lines that follow a header (stack traces) into its record with `cum_sum` + `group_by`.

A file whose lines match no header variant is framed "bare": every line that does not look like
a continuation (indented frames, `at ...`, `During handling ...`) starts a record.

Add a layout: append a `(name, regex)` to `HEADER_VARIANTS` (named groups: ts, level, logger,
thread, host, rest). Patterns stay in the linear-time regex subset (no look-around).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import polars as pl

from parsers import churn
from parsers.noise import split_noise
from postmortem.input.timeparse import with_parsed_ts

MAX_LINE_CHARS = 65536  # longer lines are cut for parsing (counted as a problem)
HEAD_LINES = 2000

_ISO = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?: ?(?:Z|[+-]\d\d:?\d\d|UTC))?"
_LEVEL_WORDS = (
    r"(?:TRACE|DEBUG|INFO|INFORMATION|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|"
    r"VRB|DBG|INF|WRN|FTL|Trace|Debug|Info|Information|Notice|Warn|Warning|Error|Fatal|Critical|"
    r"Verbose|trace|debug|info|notice|warn|warning|error|fatal|critical)"  # RabbitMQ 3.9+ logs `[notice]`
)

# (name, header regex). Order breaks ties: more specific layouts first.
HEADER_VARIANTS: tuple[tuple[str, str], ...] = (
    (
        "redis_server",
        r"^(?P<thread>\[\d+\]|\d+:[XCSM]) (?P<ts>\d\d? [A-Z][a-z]{2}(?: \d{4})? "
        r"\d\d:\d\d:\d\d(?:\.\d+)?) (?P<level>[.*#-]) (?P<rest>.*)$",
    ),
    (
        "redis_server_prefixed",  # Docker Desktop adds local time before the (UTC) redis header: keep redis'
        r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?\S* (?P<thread>\[\d+\]|\d+:[XCSM]) "
        r"(?P<ts>\d\d? [A-Z][a-z]{2}(?: \d{4})? \d\d:\d\d:\d\d(?:\.\d+)?) (?P<level>[.*#-]) (?P<rest>.*)$",
    ),
    (
        "redis_signal",  # redis >= 5 logs from its signal handler: "6082:signal-handler (1662200702) Received SIGTERM ..."
        r"^(?P<thread>\d+:signal-handler) \((?P<ts>\d{9,10})\) (?P<rest>.*)$",
    ),
    (
        "celery",
        r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d+)?): (?P<level>[A-Z]+)/(?P<logger>[^\]]+)\] ?(?P<rest>.*)$",
    ),
    (
        "gunicorn",
        r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [+-]\d{4})?)\] \[(?P<thread>\d+)\] \[(?P<level>[A-Z]+)\] (?P<rest>.*)$",
    ),
    (
        "serilog",
        r"^\[?(?P<ts>" + _ISO + r")\]? \[(?P<level>" + _LEVEL_WORDS + r")\] (?P<rest>.*)$",
    ),
    (
        "nlog",
        r"^(?P<ts>" + _ISO + r")\|(?P<level>" + _LEVEL_WORDS + r")\|(?P<logger>[^|]*)\|(?P<rest>.*)$",
    ),
    (
        "python_named",  # %(asctime)s - %(name)s - %(levelname)s - %(message)s
        r"^(?P<ts>" + _ISO + r") - (?P<logger>[\w.$<>\[\]-]+) - (?P<level>" + _LEVEL_WORDS + r") - (?P<rest>.*)$",
    ),
    (
        "iso_level",  # ts [thread] LEVEL [logger -] message (python, log4net, MEL with timestamps)
        r"^\[?(?P<ts>" + _ISO + r")\]?[ ,:|-]+(?:\[(?P<thread>[^\]]{1,40})\] )?\[?(?P<level>"
        + _LEVEL_WORDS
        + r")\]?(?:[ :|-]+(?P<rest>.*))?$",
    ),
    (
        "klog",
        r"^(?P<level>[IWEF])(?P<ts>\d{4} \d\d:\d\d:\d\d\.\d+)\s+(?P<thread>\d+) (?P<logger>[\w./-]+:\d+)\] (?P<rest>.*)$",
    ),
    (
        "mel_console",  # ASP.NET Core console: "fail: Category[0]" then indented message lines
        r"^(?P<level>trce|dbug|info|warn|fail|crit): (?P<logger>[^\s\[]+)\[\d+\]\s*(?P<rest>.*)$",
    ),
    (
        "python_basic",  # logging.basicConfig(): "ERROR:root:message"
        r"^(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL):(?P<logger>[\w.]+):(?P<rest>.*)$",
    ),
    (
        "uvicorn",
        r"^(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL):\s+(?P<rest>.*)$",
    ),
    (
        "iso_plain",
        r"^\[?(?P<ts>" + _ISO + r")\]?\s+(?P<rest>.*)$",
    ),
)
_VARIANT_FIELDS = ("ts", "level", "logger", "thread", "host", "rest")


def match_only(rx: str) -> str:
    """A header regex for `str.contains` alone: groups not captured, and no `.*$` after the header,
    which made the engine walk every line to its end (about half the cost of the match)."""
    rx = re.sub(r"\(\?P<\w+>", "(?:", rx)
    if rx.endswith("(?:[ :|-]+(?:.*))?$"):  # iso_level: a separator or the end right after the level
        return rx[: -len("(?:[ :|-]+(?:.*))?$")] + "(?:[ :|-]|$)"
    if rx.endswith("(?:.*)$"):  # `.` takes anything but a line feed, and lines hold none
        return rx[: -len("(?:.*)$")]
    return rx


HEADER_MATCH = {name: match_only(rx) for name, rx in HEADER_VARIANTS}

_REST_TAIL = "(?P<rest>.*)$"
_LEVEL_TAIL = "(?:[ :|-]+(?P<rest>.*))?$"  # iso_level: a separator or the end right after the level


def _header_prefix(rx: str) -> str:
    """The header regex without its message tail, the header itself captured as `_hdr`."""
    if rx.endswith(_LEVEL_TAIL):
        return "^(?P<_hdr>" + rx[1:-len(_LEVEL_TAIL)] + ")(?:[ :|-]|$)"
    return "^(?P<_hdr>" + rx[1:-len(_REST_TAIL)] + ")"


def header_groups(body: pl.Expr, variant: str, one_line: bool) -> dict[str, pl.Expr]:
    """A header variant's fields (`ts`, `level`, `logger`, `thread`, `host`, `rest`; null where a line has
    no such header), as `str.extract_groups` of its regex gives them.

    `one_line` (no body holds a line feed, as after a line split): the header is captured alone and the
    message sliced off after it, so the capture does not walk every message to its end (about half the
    cost). Exact then: `.` takes anything but a line feed, so the `(?P<rest>.*)$` tail matches after any
    header and the header's first choice is the whole regex's; iso_level's tail is the end or a
    separator run, which the prefix asks for (tests/test_envelopes.py compares the two forms)."""
    return header_fields(body, header_capture(body, variant, one_line), variant, one_line)


def _sliced(rx: str, one_line: bool) -> bool:
    return one_line and rx.startswith("^") and (rx.endswith(_REST_TAIL) or rx.endswith(_LEVEL_TAIL))


def header_capture(body: pl.Expr, variant: str, one_line: bool) -> pl.Expr:
    """The one regex capture `header_fields` reads a variant's fields from (a struct): evaluate it once, as
    a column, where several fields are wanted: an eager `with_columns` runs a shared expression at every
    use (each field, the header test), and the capture is most of framing's cost per line."""
    rx = dict(HEADER_VARIANTS)[variant]
    return body.str.extract_groups(_header_prefix(rx) if _sliced(rx, one_line) else rx)


def header_fields(body: pl.Expr, groups: pl.Expr, variant: str, one_line: bool) -> dict[str, pl.Expr]:
    """`header_groups`' fields from `groups`, the variant's `header_capture` of `body`."""
    rx = dict(HEADER_VARIANTS)[variant]
    names = re.findall(r"\?P<(\w+)>", rx)
    if not _sliced(rx, one_line):
        return {n: groups.struct.field(n) for n in names}
    hdr = groups.struct.field("_hdr")
    after = body.str.slice(hdr.str.len_chars())
    if rx.endswith(_LEVEL_TAIL):
        rest = pl.when(hdr.is_not_null() & (after != "")).then(after.str.strip_chars_start(" :|-"))
    else:
        rest = pl.when(hdr.is_not_null()).then(after)
    return {n: rest if n == "rest" else groups.struct.field(n) for n in names}

# Outer prefixes: (name, regex with groups pts/host/rest).
OUTER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("cri", r"^(?P<pts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (?:stdout|stderr) [FP] (?P<rest>.*)$"),
    ("compose", r"^(?P<host>[A-Za-z0-9][\w.-]*)\s*\| (?P<rest>.*)$"),
    ("syslog", r"^(?P<pts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) [^\s:\[]+(?:\[\d+\])?: (?P<rest>.*)$"),
    # Heroku logplex (`heroku logs`): `<ISO time> app[worker.1]: <line>`, every line of a traceback prefixed;
    # the dyno is the host (jacobian/channels-example#9, TwilioDevEd/appointment-reminders-django#1)
    ("heroku", r"^(?P<pts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (?:app|heroku|router|api)"
               r"\[(?P<host>[\w.-]+)\]: ?(?P<rest>.*)$"),
    # Rancher 1.x's container log viewer (rancher/ui container-logs: `date.toLocaleDateString() + ' ' +
    # date.toLocaleTimeString() + ' '` before each line, `Unknown Date` / `Invalid Date Invalid Date` when the line had
    # no docker time): copied from an en-US browser as `7/2/2015 3:38:24 PM  Hello from Docker.` (rancher/rancher#1385);
    # the browser's local time, zone-less. One or two separator spaces are peeled, so a traceback keeps its indent.
    ("rancher", r"^(?:(?P<pts>\d{1,2}/\d{1,2}/\d{4},? \d{1,2}:\d\d:\d\d\s?[AP]M)|Unknown Date|Invalid Date Invalid Date)"
                r"(?: {1,2}|$)(?P<rest>.*)$"),
    ("kubectl_ts", r"^(?P<pts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(?:Z|[+-]\d\d:\d\d)) (?P<rest>.*)$"),
)

_CONTINUATION = (
    r"^(?:\s|at |--- |-->|\^+\s*$|During handling of|The above exception|Caused by:|Inner Message|"
    r"Exception Details:|Stack ?Trace:|\.\.\. \d+ more)"
)
_EXC_TAIL = r"^[\w.]+(?:Error|Exception|Exit|Interrupt|Interrupted|Warning)\b"  # Interrupted: django-redis
# A StackExchange.Redis timeout message wrapped by hand over lines: "inst: 0, qu: 0, ...", "(Please take a look".
_SE_REDIS_WRAP = (
    r"^(?:(?:next|active|inst|qu|qs|aw|bw|rs|ws|in|in-pipe|out-pipe|last-in|cur-in|sync-ops|async-ops|serverEndpoint|"
    r"conn-sec|aoc|mc|mgr|clientName|IOCP|WORKER|POOL|v): [^\n]*(?:[,;]|\bv: [\d.]+)\s*$|\(Please take a look at this article|"
    r"that can cause timeouts: |see https://stackexchange\.github\.io/StackExchange\.Redis/ThreadTheft)"
)

# Level words to the normalized LEVELS vocabulary.
_LEVEL_MAP = {
    "trace": "trace", "trce": "trace", "vrb": "trace", "verbose": "debug", "-": "debug", ".": "trace",  # redis: . debug < - verbose
    "debug": "debug", "dbug": "debug", "dbg": "debug",
    "info": "info", "information": "info", "inf": "info", "notice": "info", "*": "info", "i": "info",
    "warn": "warning", "warning": "warning", "wrn": "warning", "#": "warning", "w": "warning",
    "error": "error", "err": "error", "fail": "error", "severe": "error", "e": "error",
    "fatal": "critical", "critical": "critical", "crit": "critical", "ftl": "critical", "f": "critical",
}

# JSON field candidates, by meaning.
JSON_TS = ("@t", "timestamp", "@timestamp", "time", "ts", "asctime", "Timestamp", "date", "datetime", "t")
JSON_MSG = ("@m", "message", "msg", "log", "RenderedMessage", "Message", "event", "@mt", "MessageTemplate")
JSON_EXC = ("@x", "exc_info", "exception", "Exception", "stack_trace", "exc_text", "error", "stack")
JSON_LEVEL = ("@l", "level", "levelname", "severity", "Level", "loglevel", "lvl", "log.level")
JSON_LOGGER = ("logger", "name", "logger_name", "SourceContext", "Category", "category")
JSON_HOST = ("pod", "pod_name", "hostname", "host", "cloud_RoleInstance", "MachineName", "machineName", "kubernetes.pod_name")


def normalize_level(expr: pl.Expr) -> pl.Expr:
    """Map any level word (Serilog, MEL, klog, redis markers) onto the six normalized levels."""
    return (
        expr.str.strip_chars().str.to_lowercase()
        .replace_strict(_LEVEL_MAP, default=None, return_dtype=pl.String)
    )


def split_lines(text: str) -> pl.DataFrame:
    """One row per physical line: `line` (1-based) and `raw`, CR stripped, over-long lines cut.

    polars' CSV reader splits lines multi-threaded, ~7x faster than `str.split` + `explode`; it is
    used with a separator byte the text does not contain, so every line is one field, quoting off.
    """
    if not text:
        return pl.DataFrame({"line": pl.Series([], dtype=pl.UInt32), "raw": pl.Series([], dtype=pl.String)})
    data = text.encode("utf-8")
    sep = next((c for c in _FREE_SEPARATORS if c.encode() not in data), None)
    # the CSV reader would drop a leading BOM and strip every CR before a line feed, not just one
    has_cr = b"\r" in data  # memchr: much cheaper than looking for two bytes
    if sep is None or data.startswith(b"\xef\xbb\xbf") or (has_cr and b"\r\r" in data):
        return split_lines_plain(text)
    raw = pl.read_csv(data, has_header=False, separator=sep, quote_char=None, comment_prefix=None,
                      schema={"raw": pl.String}).get_column("raw")
    del data
    # each repair only when needed: they copy every line
    if raw.null_count():
        raw = raw.fill_null("")
    if has_cr:
        raw = raw.str.strip_suffix("\r")
    if (raw.str.len_bytes().max() or 0) > MAX_LINE_CHARS:
        raw = raw.str.slice(0, MAX_LINE_CHARS)
    return pl.DataFrame({"raw": raw}).with_row_index("line", offset=1)


_FREE_SEPARATORS = ("\x1f", "\x1e", "\x1d", "\x1c", "\x01", "\x02", "\x03")


def split_lines_plain(text: str) -> pl.DataFrame:
    """`split_lines` by `str.split` + `explode`: the reference, and the fallback for odd texts."""
    if not text:
        return pl.DataFrame({"line": pl.Series([], dtype=pl.UInt32), "raw": pl.Series([], dtype=pl.String)})
    body = text[:-1] if text.endswith("\n") else text
    s = pl.Series("raw", [body]).str.split("\n").explode()
    return (
        pl.DataFrame(s)
        .with_row_index("line", offset=1)
        .with_columns(pl.col("raw").str.strip_suffix("\r").str.slice(0, MAX_LINE_CHARS))
    )


def _share(head: pl.Series, pattern: str) -> float:
    nonblank = head.filter(head.str.strip_chars() != "")
    if nonblank.len() == 0:
        return 0.0
    return float(nonblank.str.contains(pattern).mean() or 0.0)


def _head(lines: pl.DataFrame, column: str) -> pl.Series:
    return lines.get_column(column).head(HEAD_LINES)


@dataclass(frozen=True)
class FramePlan:
    """What framing decided for a file, recorded as the file's `parser` label."""

    outer: str | None
    variants: tuple[str, ...]
    json_keys: tuple[str, ...] = ()

    def label(self) -> str:
        parts = [self.outer] if self.outer else []
        parts += list(self.variants) or ["bare"]
        return "log:" + "+".join(parts)


def _pick_variants(body: pl.Series) -> tuple[str, ...]:
    """Choose the header variant(s) that explain the most head lines; a second only if it adds lines."""
    nonblank = body.filter(body.str.strip_chars() != "")
    if nonblank.len() == 0:
        return ()
    shares = pl.DataFrame({"b": nonblank}).select(  # one call: polars scores the variants in parallel
        pl.col("b").str.contains(HEADER_MATCH[name]).mean().alias(name) for name, _ in HEADER_VARIANTS
    ).row(0, named=True)
    scores = [(name, float(shares[name] or 0.0)) for name, _ in HEADER_VARIANTS]
    scores = [s for s in scores if s[1] > 0]
    if not scores:
        return ()
    scores.sort(key=lambda s: -s[1])  # stable: ties keep HEADER_VARIANTS order
    best = scores[0][0]
    picked = [best]
    best_rx = HEADER_MATCH[best]
    rest = body.filter(~body.str.contains(best_rx) & (body.str.strip_chars() != ""))
    for name, _ in scores[1:]:
        if name == "iso_plain" and "iso_level" in picked:
            continue
        if rest.len() and _share(rest, HEADER_MATCH[name]) >= 0.2:
            picked.append(name)
            break
    return tuple(picked)


def is_json_lines(head: str) -> bool:
    """True when most non-blank lines of the head are JSON objects."""
    lines = [ln.strip() for ln in head.splitlines()[:200] if ln.strip()]
    if not lines:
        return False
    objs = sum(1 for ln in lines if ln.startswith("{"))
    return objs >= 0.6 * len(lines)


def _json_keys_present(lines: pl.DataFrame) -> set[str]:
    return json_keys_in(lines.get_column("raw").head(300).to_list())


def json_keys_in(raws: list[str | None]) -> set[str]:
    """The keys (and `key.subkey`s) of the JSON objects among these lines (a file's first 300)."""
    keys: set[str] = set()
    for raw in raws:
        raw = (raw or "").strip()
        if not raw.startswith("{"):
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):  # deeply nested JSON is just not a record
            continue
        if isinstance(obj, dict):
            keys.update(obj)
            for k, v in obj.items():
                if isinstance(v, dict):
                    keys.update(f"{k}.{kk}" for kk in v)
    return keys


def is_docker_json(present: set[str]) -> bool:
    """Docker json-file (`{"log": ..., "stream": ..., "time": ...}`) by the keys of a file's JSON lines."""
    return "log" in present and ("stream" in present or "time" in present) and not ({"@m", "message", "msg"} & present)


def docker_bodies(lines: pl.DataFrame) -> pl.DataFrame:
    """A docker json-file's lines with body (the `log` text), pts (`time`) and ohost: each JSON line is one
    physical line of a text log; a line that is not JSON is its own body."""
    raw = pl.col("raw")
    is_obj = raw.str.strip_chars().str.starts_with("{")
    return lines.with_columns(
        body=pl.when(is_obj).then(raw.str.json_path_match("$.log").str.strip_suffix("\n").str.strip_suffix("\r"))
        .otherwise(raw),
        pts=pl.when(is_obj).then(raw.str.json_path_match("$.time")),
        ohost=pl.lit(None, dtype=pl.String),
    )


def _json_pick(col: pl.Expr, candidates: tuple[str, ...], present: set[str]) -> pl.Expr:
    exprs = []
    for key in candidates:
        if key in present:
            path = "$." + ".".join(f"['{p}']" for p in key.split("."))
            exprs.append(col.str.json_path_match(path.replace("$.[", "$[").replace("].[", "][")))
    if not exprs:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce(exprs)


def _frame_json(lines: pl.DataFrame, tz: str) -> tuple[pl.DataFrame, FramePlan, pl.DataFrame | None]:
    """Structured JSON logs: one record per JSON line. Docker `{"log": ...}` goes back to text framing."""
    present = _json_keys_present(lines)
    raw = pl.col("raw")
    is_obj = raw.str.strip_chars().str.starts_with("{")
    msg = _json_pick(raw, JSON_MSG, present)
    if is_docker_json(present):
        return docker_bodies(lines), FramePlan("docker_json", ()), None
    exc = _json_pick(raw, JSON_EXC, present)
    text = pl.when(exc.is_not_null() & (exc != "") & (exc != "null")).then(msg + pl.lit("\n") + exc).otherwise(msg)
    level = _json_pick(raw, JSON_LEVEL, present)
    if "@t" in present:  # Serilog compact omits @l for Information
        level = pl.coalesce(level, pl.when(raw.str.contains('"@t"')).then(pl.lit("Information")))
    framed = lines.with_columns(
        json_ok=is_obj & msg.is_not_null(),
        ts_text=_json_pick(raw, JSON_TS, present),
        level_word=level,
        logger=_json_pick(raw, JSON_LOGGER, present),
        host=_json_pick(raw, JSON_HOST, present),
        text=text,
    )
    good = framed.filter(pl.col("json_ok"))
    records = good.select(
        "line", "ts_text", "level_word", "logger", "host", "text",
        thread=pl.lit(None, dtype=pl.String), n_lines=pl.lit(1, dtype=pl.UInt32), envelope=pl.lit("json"),
    )
    leftovers = framed.filter(~pl.col("json_ok")).select("line", "raw")
    plan = FramePlan("json", (), tuple(sorted(present & set(JSON_MSG + JSON_TS + JSON_LEVEL))))
    return records, plan, leftovers


def _compose_groups(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The `compose` prefix's (rest, host) without a regex capture over every line (twice as fast on a
    dense export, issue #20): the host holds no `|` and no space, so the prefix ends at the first `|`, and
    the line is the prefix's exactly when the text before it is a host (and spaces) and a space follows
    (tests/test_envelopes.py checks it against the regex)."""
    parts = raw.str.splitn("|", 2)
    before, after = parts.struct.field("field_0"), parts.struct.field("field_1")
    # tested on the line itself (no class of the prefix holds `|`, so its `|` is the first): a third of
    # the cost of testing the split-off part for the host and the rest for its leading space
    ok = raw.str.contains(r"^[A-Za-z0-9][\w.-]*\s*\| ")
    return pl.when(ok).then(after.str.slice(1)), pl.when(ok).then(before.str.strip_chars_end())


def outer_groups(name: str, rx: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(rest, pts, host) of an outer prefix on the `raw` column, null where a line does not carry it."""
    none = pl.lit(None, dtype=pl.String)
    if name == "compose":
        rest, host = _compose_groups(pl.col("raw"))
        return rest, none, host
    g = pl.col("raw").str.extract_groups(rx)
    return (g.struct.field("rest"), g.struct.field("pts") if "pts" in rx else none,
            g.struct.field("host") if "?P<host>" in rx else none)


def _outer_strip(lines: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """Detect and strip one transport prefix; adds body, pts, ohost."""
    head = _head(lines, "raw")
    for name, rx in OUTER_PREFIXES:
        if _share(head, rx) >= 0.5:
            rest, pts, host = outer_groups(name, rx)
            out = lines.with_columns(rest.alias("_rest"), pts.alias("pts"), host.alias("ohost")).with_columns(
                body=pl.coalesce("_rest", "raw")).drop("_rest")
            if name == "kubectl_ts" and not _pick_variants(_head(out, "body")):
                continue  # an ISO timestamp with a plain message: the inner iso_plain variant frames it
            return out, name
    return lines.with_columns(
        body=pl.col("raw"), pts=pl.lit(None, dtype=pl.String), ohost=pl.lit(None, dtype=pl.String)
    ), None


def header_columns(lines: pl.DataFrame, variants: tuple[str, ...]) -> pl.DataFrame:
    """`lines` with each line's header read by the chosen variants: `header` (a variant's header starts
    the line), its fields `h_ts`, `h_level`, `h_logger`, `h_host`, `h_rest`, `h_thread` (the first variant
    that has the field, in order) and `envelope` (the last variant whose message the line has, else the
    first if it is a header, else null).

    Each variant's capture, and its message sliced off after it, is a column made once: an eager
    `with_columns` evaluates a shared expression at every use (each field and the header test read it),
    and the capture is framing's largest cost per line."""
    body = pl.col("body")
    if not variants:
        none = pl.lit(None, dtype=pl.String)
        return lines.with_columns(header=pl.lit(False), h_ts=none, h_level=none, h_logger=none, h_host=none,
                                  h_rest=none, h_thread=none, envelope=none)
    one_line = not lines.select(body.str.contains("\n", literal=True).any()).item()
    captures = [f"_hv{i}" for i in range(len(variants))]
    rests = [f"_hr{i}" for i in range(len(variants))]
    lines = lines.with_columns(**{c: header_capture(body, v, one_line) for c, v in zip(captures, variants, strict=True)})
    fields_of = [header_fields(body, pl.col(c), v, one_line) for c, v in zip(captures, variants, strict=True)]
    lines = lines.with_columns(**{r: f["rest"] for r, f in zip(rests, fields_of, strict=True)})
    structs = [{**f, "rest": pl.col(r)} for f, r in zip(fields_of, rests, strict=True)]
    header = pl.any_horizontal([s["rest"].is_not_null() | s[
        "ts" if "?P<ts>" in dict(HEADER_VARIANTS)[v] else "level"].is_not_null() for s, v in zip(structs, variants, strict=True)])

    def field(name: str) -> pl.Expr:
        exprs = [s[name] for s, v in zip(structs, variants, strict=True) if f"?P<{name}>" in dict(HEADER_VARIANTS)[v]]
        return pl.coalesce(exprs) if exprs else pl.lit(None, dtype=pl.String)

    df = lines.with_columns(
        header=header.fill_null(False),
        h_ts=field("ts"), h_level=field("level"), h_logger=field("logger"),
        h_host=field("host"), h_rest=field("rest"), h_thread=field("thread"),
    )
    envelope = pl.when(pl.col("header")).then(pl.lit(variants[0]))
    for v, s in zip(variants[1:], structs[1:], strict=True):
        envelope = pl.when(s["rest"].is_not_null()).then(pl.lit(v)).otherwise(envelope)
    return df.with_columns(envelope=envelope).drop(captures + rests)


def _frame_text(lines: pl.DataFrame, outer: str | None, tz: str, summarize: bool = False,
                variants: tuple[str, ...] | None = None) -> tuple[pl.DataFrame, FramePlan, pl.DataFrame | None]:
    """Inner header detection and continuation joining over the `body` column.

    With `summarize`, noise lines (parsers/noise.py) become per-second activity records instead.
    `variants` already chosen, and a `_file` column, frame many files at once (parsers/frame_many.py):
    every per-file step (the first line, the lines before a file's first header, neighbouring lines,
    records, noise seconds) is then taken within each file.
    """
    if variants is None:
        variants = _pick_variants(_head(lines, "body"))
    by_file = "_file" in lines.columns
    activity = None
    if summarize and variants and variants[0] == churn.VARIANT:
        lines = churn.split_churn(lines, HEADER_MATCH[churn.VARIANT])
    if summarize and variants:
        rxs = [HEADER_MATCH[v] for v in variants]
        lines, activity = split_noise(lines, rxs, dict(HEADER_VARIANTS)[variants[0]], variants, tz)
    body = pl.col("body")
    blank = body.str.strip_chars() == ""
    df = header_columns(lines, variants)
    prev = body.shift(1).over("_file") if by_file else body.shift(1)
    prev_indented = prev.str.contains(r"^\s").fill_null(False)
    cont_like = (body.str.contains(_CONTINUATION) | (body.str.contains(_EXC_TAIL) & prev_indented)
                 | body.str.contains(_SE_REDIS_WRAP))
    df = df.with_columns(blank=blank)
    # Bare framing (a non-continuation line starts a record) applies only before the first header,
    # or to the whole file without a variant: the continuation regexes run on that prefix only.
    if by_file:  # the bare zone of each file: its lines before its first header
        bare = pl.col("header").cast(pl.UInt32).cum_sum().over("_file") == 0
        df = df.with_columns(starts=pl.when(bare).then(~pl.col("blank") & ~cont_like.fill_null(False))
                             .otherwise(pl.col("header")))
    else:
        has_header = bool(variants) and bool(df.select(pl.col("header").any()).item())
        n_bare = int(df.select(pl.col("header").arg_max()).item()) if has_header else df.height
        parts = []
        if n_bare:
            parts.append(df.slice(0, n_bare).with_columns(starts=~pl.col("blank") & ~cont_like.fill_null(False)))
        if n_bare < df.height:
            parts.append(df.slice(n_bare).with_columns(starts=pl.col("header")))
        df = pl.concat(parts) if len(parts) > 1 else (parts[0] if parts else df.with_columns(starts=pl.lit(False)))
    first = pl.col("line").first().over("_file") if by_file else pl.col("line").first()
    starts = pl.col("starts") | ((pl.col("line") == first) & ~pl.col("blank"))
    if "entry_start" in df.columns:  # a log platform's entry starts a record unless it continues one
        starts = starts | (pl.col("entry_start") & ~pl.col("blank") & ~cont_like.fill_null(False))
    df = df.with_columns(starts=starts).with_columns(rec=pl.col("starts").cast(pl.UInt32).cum_sum())
    nonblank = df.filter(~pl.col("blank") | pl.col("header")).with_columns(
        part=pl.when(pl.col("header")).then(pl.coalesce("h_rest", pl.lit(""))).otherwise(body),
    )
    # Most records are one line: take those as they are, group only the multi-line ones.
    single = pl.col("starts") & pl.col("starts").shift(-1).fill_null(True)
    fields = dict(
        line=pl.col("line"),
        ts_text=pl.coalesce(pl.col("h_ts"), pl.col("pts")),
        level_word=pl.col("h_level"),
        logger=pl.col("h_logger"),
        host=pl.coalesce(pl.col("ohost"), pl.col("h_host")),
        thread=pl.col("h_thread"),
    )
    summarized = "_weight" in nonblank.columns  # connection churn, parsers/churn.py
    singles = nonblank.filter(single).select(
        *(["_file"] if by_file else []), **fields, text=pl.col("part"),
        n_lines=pl.coalesce("_weight", pl.lit(1, dtype=pl.UInt32)) if summarized else pl.lit(1, dtype=pl.UInt32),
        envelope=pl.col("envelope"),
        **({name: pl.col("_" + name) for name in churn.SUMMARY_COLUMNS} if summarized else churn.no_summary()),
    )
    multi = (
        nonblank.filter(~single)
        .group_by(["_file", "rec"] if by_file else "rec", maintain_order=True)
        .agg(
            **{k: v.first() for k, v in fields.items()},
            text=pl.col("part").str.join("\n"),
            n_lines=pl.len().cast(pl.UInt32),
            envelope=pl.col("envelope").first(),
            **churn.no_summary(),
        )
        .select(singles.columns)
    )
    order = ["_file", "line"] if by_file else "line"
    records = pl.concat([singles, multi], how="vertical_relaxed").sort(order) if multi.height else singles
    return records, FramePlan(outer, variants), activity


def body_blanks(stripped: pl.DataFrame) -> int:
    """Lines blank once their transport prefix is peeled (`svc_1  | ` alone, `{"log":"\\n"}`): framing keeps no record
    for them, so they are the file's blank lines, as they are without the prefix."""
    return int(stripped.select(pl.col("body").str.contains(r"^\s*$").sum()).item() or 0) if stripped.height else 0


def frame_bodies(lines: pl.DataFrame, outer: str, tz: str = "UTC",
                 summarize: bool = False) -> tuple[pl.DataFrame, FramePlan, pl.DataFrame | None]:
    """The inner layer alone, for text a log platform already took out of its envelope.

    `lines` has line (unique, in log order), body (one physical line), pts (the platform's time, a
    fallback for the header's), ohost (the platform's host or pod) and optionally entry_start (the
    first line of a platform entry: it starts a record unless it looks like a continuation).
    Returns (records with ts_text and level_word, plan, activity records or None)."""
    return _frame_text(lines, outer, tz, summarize)


def frame(text: str, tz: str = "UTC", summarize: bool = False) -> tuple[pl.DataFrame, FramePlan, int, int]:
    """Frame a decoded log file into records: `frame_counted` without the line count."""
    return frame_counted(text, tz, summarize)[:4]


def frame_counted(text: str, tz: str = "UTC",
                  summarize: bool = False) -> tuple[pl.DataFrame, FramePlan, int, int, int]:
    """Frame a decoded log file into records.

    With `summarize`, single-line info/debug records that mention nothing Redis-related are returned
    as per-host, per-second `envelope == "activity"` records (n_lines = how many), see parsers/noise.py.

    Returns (records, plan, blank_lines, truncated_lines, lines). `records` has: line, ts (UTC),
    ts_yearless, ts_zoned (the time carried its own zone; null when none parsed), level, logger, host, thread, text, n_lines, last_line
    and last_span (of a summarized group, else null; parsers/churn.py), envelope (variant name, "json", or null for bare records).
    """
    lines = split_lines(text)
    raw = pl.col("raw")
    truncated = 0
    if lines.height and (lines.select(raw.str.len_bytes().max()).item() or 0) >= MAX_LINE_CHARS:
        truncated = int(lines.select((raw.str.len_chars() >= MAX_LINE_CHARS).sum()).item())
    blank_lines = int(lines.select(raw.str.contains(r"^\s*$").sum()).item()) if lines.height else 0
    json_records = None
    activity = None
    if is_json_lines(text[:65536]):
        json_records, plan, leftovers = _frame_json(lines, tz)
        if plan.outer == "docker_json":
            blank_lines = body_blanks(json_records)
            text_records, tplan, activity = _frame_text(json_records, "docker_json", tz, summarize)
            records, plan = text_records, FramePlan("docker_json", tplan.variants)
            json_records = None
        else:
            left = leftovers.with_columns(
                body=pl.col("raw"), pts=pl.lit(None, dtype=pl.String), ohost=pl.lit(None, dtype=pl.String)
            )
            left_records = _frame_text(left, None, tz)[0] if left.height else None
            records = json_records if left_records is None else pl.concat(
                [json_records, left_records.select(json_records.columns)], how="vertical_relaxed"
            )
    else:
        stripped, outer = _outer_strip(lines)
        if outer:
            blank_lines = body_blanks(stripped)
        records, plan, activity = _frame_text(stripped, outer, tz, summarize)
    records = with_parsed_ts(records, "ts_text", tz).with_columns(
        level=normalize_level(pl.col("level_word")),
    ).drop("ts_text", "level_word")
    if "last_line" not in records.columns:  # JSON records
        records = records.with_columns(**churn.no_summary())
    if activity is not None and activity.height:
        activity = activity.with_columns(**churn.no_summary())
        records = pl.concat([records, activity.select(records.columns)], how="vertical_relaxed")
    records = records.sort("line")
    return records, plan, blank_lines, truncated, lines.height
