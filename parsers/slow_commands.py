"""Commands that block Redis: what the server's SLOWLOG kept and what applications say about the commands
they run (issue #15, "slow server").

Redis runs commands one at a time, so one `KEYS`, `FLUSHALL`, big `DEL` or long Lua script stalls every
other client for as long as it runs; clients with a shorter socket timeout fail. Two shapes carry it:

* **Application lines** (`SlowCommandRecognizer`, source `redis_commands`): a line that times a Redis
  command (`KEYS took 2.31 s`, `FLUSHALL took 850 ms`, `EVALSHA took 1200ms`) becomes
  `redis.slow_command` when it took at least `SLOW_MS` (redis' own default `slowlog-log-slower-than`:
  shorter ones are ordinary traffic); a line that announces a command known to block
  (`running KEYS pattern=user:*`) becomes `redis.blocking_command` (when it started, no duration).
* **`redis-cli SLOWLOG GET`** (`SlowlogFile`, source `redis_slowlog`): the numbered replies as an
  interactive redis-cli prints them (id, unix time, microseconds, argv, and from Redis 4.0 the client
  address and name), one `redis.slow_command` per entry. The unix time is when the entry was written,
  just after the command finished, to the second: `attrs.at` says what an event's time marks.

`attrs`: `command` (the verb and its first arguments as logged), `verb`, `duration_s`, `figure` (who
measured the duration: `slowlog`, `app`), `at` (`end`, `start`), `client` (address) and `client_name`.
The slow-script lines of redis-server's own log are read by `parsers/redis_server.py` into the same kind.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import ClassVar

import polars as pl

from parsers.base import FileParse, ParseContext, attrs_json, no_claims
from parsers.metrics.rows import account, head_lines, split_text
from postmortem import safe_regex
from postmortem.model import Kind
from postmortem.schema import conform_events, empty_events

FAMILY = "redis_commands"
SLOW_COMMAND = Kind(
    "redis.slow_command", FAMILY,
    "a Redis command that ran long: a SLOWLOG entry, an app line timing a command, redis-server's slow-script "
    "warning (`command`, `duration_s`, `figure`, `at`, `client`, `client_name`)",
)
BLOCKING_COMMAND = Kind(
    "redis.blocking_command", FAMILY,
    "an app line announcing a command that blocks Redis while it runs (`running KEYS pattern=…`): its start",
)

SLOW_MS = 10.0  # redis' default slowlog-log-slower-than (10,000 µs): below it a command is ordinary traffic

# Commands that block the server for a time that grows with the data (O(N) over the keyspace, a key or a
# script): announced, they are evidence on their own; timed, any of them counts.
BLOCKING_VERBS = ("KEYS", "FLUSHALL", "FLUSHDB", "DEBUG SLEEP", "EVALSHA", "EVAL", "FCALL", "SMEMBERS",
                  "HGETALL", "SUNIONSTORE", "SINTERSTORE", "ZUNIONSTORE", "SORT", "UNLINK", "DEL", "SAVE")
# Other Redis commands an app may time (GET is left out: `GET /api took 30 ms` is an HTTP line).
TIMED_VERBS = BLOCKING_VERBS + ("SCAN", "MGET", "MSET", "HSCAN", "SSCAN", "ZSCAN", "LRANGE", "ZRANGE",
                                "ZRANGEBYSCORE", "ZREVRANGE", "SUNION", "SINTER", "SDIFF", "LREM", "LTRIM", "EXEC",
                                "MIGRATE", "RESTORE", "DUMP", "HDEL", "SETEX", "HMGET")
ANNOUNCE_WORDS = ("running", "executing", "issuing", "calling", "sending", "starting")

_VERB = "|".join(v.replace(" ", r"\s+") for v in sorted(TIMED_VERBS, key=len, reverse=True))
_BLOCKING = "|".join(v.replace(" ", r"\s+") for v in sorted(BLOCKING_VERBS, key=len, reverse=True))
_UNIT = r"(?P<unit>ms|msec|milliseconds?|s|sec|secs|seconds?|µs|us|microseconds?)\b"
# `KEYS took 2.36 s`, `KEYS user:* took 2310 ms`, `FLUSHALL took: 1.2s`; arguments never start with `/`
_TOOK = (
    r"(?:^|[^\w/.-])(?P<verb>" + _VERB + r")\b(?P<args>(?:\s+[^\s/][^\s]{0,199}){0,3}?)\s+took:?\s+"
    r"(?P<n>\d+(?:\.\d+)?)\s?" + _UNIT
)
# `running KEYS pattern=user:session:*:expired`, `executing FLUSHDB`
_ANNOUNCE = (
    r"(?i:\b(?:" + "|".join(ANNOUNCE_WORDS) + r"))\s+(?P<verb>" + _BLOCKING + r")\b(?P<args>[^\n]{0,300})"
)
_SECONDS_PER = {"ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3, "µs": 1e-6, "us": 1e-6,
                "microsecond": 1e-6, "microseconds": 1e-6}


def _duration_s(n: pl.Expr, unit: pl.Expr) -> pl.Expr:
    per = unit.str.to_lowercase().replace_strict(_SECONDS_PER, default=1.0, return_dtype=pl.Float64)
    return n.cast(pl.Float64, strict=False) * per


def _first_arg(args: pl.Expr) -> pl.Expr:
    """The first argument as logged: `pattern=user:*` → `user:*`, quotes and trailing punctuation off."""
    token = args.str.strip_chars().str.extract(r"^([^\s,;()]+)", 1)
    return token.str.replace(r"^(?i:pattern|match|key|keys|script|sha)[=:]", "").str.strip_chars("'\"`")


def _command(verb: pl.Expr, args: pl.Expr) -> pl.Expr:
    verb = verb.str.replace_all(r"\s+", " ")
    arg = _first_arg(args)
    return pl.when(arg.is_not_null() & (arg != "")).then(pl.format("{} {}", verb, arg)).otherwise(verb)


class SlowCommandRecognizer:
    """Application lines that time a Redis command (`KEYS took 2.36 s`) or announce a blocking one
    (`running KEYS pattern=…`)."""

    name: ClassVar[str] = FAMILY
    kinds: ClassVar[tuple[Kind, ...]] = (SLOW_COMMAND, BLOCKING_COMMAND)
    # every line claimed has " took " (timed) or an announcing word right before a blocking verb
    keep_words: ClassVar[tuple[str, ...]] = (" took ", " took:") + tuple(
        f"{w} {v.lower()}" for w, v in itertools.product(ANNOUNCE_WORDS, BLOCKING_VERBS)
    )
    example: ClassVar[str] = "2026-12-06 02:51:10,068 WARNING app.cron - KEYS took 2.36 s (0 keys matched)"
    samples: ClassVar[tuple[str, ...]] = (
        "2026-12-06 02:51:07,708 INFO app.cron - session cleanup started\n"
        "2026-12-06 02:51:07,708 INFO app.cron - running KEYS pattern=user:session:*:expired\n"
        "2026-12-06 02:51:10,068 WARNING app.cron - KEYS took 2.36 s (0 keys matched)\n",
        "2024-03-11T09:14:02.118Z INFO  [cache-warmup] FLUSHDB took 850 ms\n",
        "[2024-05-02 17:40:11] WARN worker.tasks: EVALSHA rate_limit:sweep took 1200ms\n",
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        first = text.str.splitn("\n", 2).struct.field("field_0")
        df = records.filter(text.str.contains(r"\btook:?\s|(?i:" + "|".join(ANNOUNCE_WORDS) + ")"))
        if df.height == 0:
            return no_claims()
        took = first.str.extract_groups(_TOOK)
        told = first.str.extract_groups(_ANNOUNCE)
        df = df.with_columns(
            _tverb=took.struct.field("verb"), _targs=took.struct.field("args"),
            _dur=_duration_s(took.struct.field("n"), took.struct.field("unit")),
            _averb=told.struct.field("verb"), _aargs=told.struct.field("args"),
        )
        timed = pl.col("_tverb").is_not_null() & (pl.col("_dur") >= SLOW_MS / 1000)
        announced = pl.col("_tverb").is_null() & pl.col("_averb").is_not_null()
        df = df.filter(timed | announced)
        verb = pl.coalesce("_tverb", pl.col("_averb").str.to_uppercase()).str.replace_all(r"\s+", " ")
        args = pl.coalesce("_targs", "_aargs")
        return df.select(
            "rec",
            kind=pl.when(pl.col("_tverb").is_not_null()).then(pl.lit(SLOW_COMMAND.name))
            .otherwise(pl.lit(BLOCKING_COMMAND.name)),
            message=first.str.slice(0, 2000),
            value=pl.col("_dur"),
            attrs=attrs_json(
                command=_command(verb, args), verb=verb,
                duration_s=pl.col("_dur").round(6),
                figure=pl.when(pl.col("_tverb").is_not_null()).then(pl.lit("app")),
                at=pl.when(pl.col("_tverb").is_not_null()).then(pl.lit("end")).otherwise(pl.lit("start")),
            ),
        )


# --- redis-cli SLOWLOG GET ------------------------------------------------------------------------------------
_PROMPT = safe_regex.compile(r"^\s*(?:\S+:\d+(?:\[\d+\])?>|redis>)\s*(?i:slowlog)\b")
EMPTY_REPLY = 0.6  # a file of empty replies only: above the line framer (0.5), below any other claim
_EMPTY = safe_regex.compile(r"^\s*\((?:empty array|empty list or set)\)\s*$")
_ENTRY = safe_regex.compile(r"^(\s*\d+\)\s+)(\d+)\)\s+\(integer\)\s+(\d+)\s*$")  # `1) 1) (integer) 14`
_MARK = safe_regex.compile(r"(\s*)(\d+)\)\s+")  # one `N) ` marker and its column
_VALUE = safe_regex.compile(r'^(?:\(integer\)\s+(-?\d+)|"((?:[^"\\]|\\.)*)"|(\(empty array\)|\(empty list or set\)))\s*$')


def _unquote(s: str) -> str:
    """redis-cli's quoted string back to text (`\\"` → `"`, `\\\\` → `\\`); other escapes stay as printed."""
    return s.replace('\\"', '"').replace("\\\\", "\\")


def _field_and_value(line: str, column: int) -> tuple[int | None, int, str] | None:
    """(field number at the entry's field column or None, the value's column, the value text) of one line."""
    pos, field = 0, None
    while (m := _MARK.match(line, pos)) is not None:
        col = m.start(2)
        if col == column and field is None:
            field = int(m.group(2))
        pos = m.end()
        if col > column:
            break
    return field, pos, line[pos:]


class SlowlogFile:
    """`redis-cli SLOWLOG GET` as an interactive redis-cli prints it: one `redis.slow_command` per entry."""

    name: ClassVar[str] = "redis_slowlog"
    kinds: ClassVar[tuple[Kind, ...]] = (SLOW_COMMAND,)
    example: ClassVar[str] = '1) 1) (integer) 1\n   2) (integer) 1796525470\n   3) (integer) 2348228\n   4) 1) "KEYS"'
    samples: ClassVar[tuple[str, ...]] = (
        '1) 1) (integer) 1\n   2) (integer) 1796525470\n   3) (integer) 2348228\n   4) 1) "KEYS"\n'
        '      2) "user:session:*:expired"\n   5) "127.0.0.1:44500"\n   6) "session-cleanup-29471040-iqvy9"\n',
        '127.0.0.1:6379> SLOWLOG GET 2\n1) 1) (integer) 4\n   2) (integer) 1700000200\n   3) (integer) 15302\n'
        '   4) 1) "DEL"\n      2) "big:list"\n   5) "10.0.3.7:51234"\n   6) ""\n'
        '2) 1) (integer) 3\n   2) (integer) 1700000100\n   3) (integer) 1204331\n   4) 1) "FLUSHALL"\n'
        '   5) "10.0.3.9:40112"\n   6) "admin"\n',
        # Redis 2.x/3.x: four fields, no client
        '1) 1) (integer) 12\n   2) (integer) 1433332290\n   3) (integer) 30121\n   4) 1) "KEYS"\n      2) "*"\n',
    )

    def sniff(self, head: str) -> float:
        if "(integer)" not in head[:65536]:  # no entry can match (`_ENTRY`): skip the per-line scan (issue 20)
            return self._empty_reply(head[:65536])
        lines = [ln for ln in head_lines(head[:65536], 400) if ln.strip()]
        if not lines:
            return 0.0
        entries = sum(1 for ln in lines if _ENTRY.match(ln))
        marked = sum(1 for ln in lines if _MARK.match(ln) or _PROMPT.match(ln))
        return 0.9 if entries and marked / len(lines) >= 0.9 else 0.0

    @staticmethod
    def _empty_reply(head: str) -> float:
        """A slow log with no entry, as redis-cli prints it (`(empty array)`, after its prompt or alone): a
        complete reply, not an unrecognized line; claimed just above the line framer, so any parser that knows the file wins."""
        if "(empty" not in head:
            return 0.0
        lines = [ln for ln in head_lines(head, 400) if ln.strip()]
        return EMPTY_REPLY if lines and all(_EMPTY.match(ln) or _PROMPT.match(ln) for ln in lines) else 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = split_text(text)
        entries: list[dict] = []
        used: set[int] = set()
        current: dict | None = None
        for i, raw in enumerate(lines):
            if _PROMPT.match(raw) or _EMPTY.match(raw):
                used.add(i)
                current = None
                continue
            if (m := _ENTRY.match(raw)) is not None:
                current = {"line": i, "lines": [i], "column": len(m.group(1)), "fields": {1: int(m.group(3))},
                           "argv": [], "field": 1}
                entries.append(current)
                continue
            if current is None or not raw.strip():
                current = None if not raw.strip() else current
                continue
            field, _, value = _field_and_value(raw, current["column"])
            v = _VALUE.match(value)
            if v is None:
                continue
            current["field"] = field or current["field"]
            literal = v.group(1) if v.group(1) is not None else _unquote(v.group(2) or "")
            if current["field"] == 4:
                if v.group(3) is None:
                    current["argv"].append(literal)
            else:
                current["fields"][current["field"]] = int(literal) if v.group(1) is not None else literal
            current["lines"].append(i)
        rows = []
        for e in entries:
            if (row := _entry_row(e, ctx.path)) is not None:
                rows.append(row)
                used.update(e["lines"])
        schema = {"ts": pl.Datetime("us", "UTC"), "line": pl.UInt32}
        events = conform_events(pl.DataFrame(rows, schema_overrides=schema)) if rows else empty_events()
        problems = [] if rows else ["no SLOWLOG entry found"]
        return account(lines, used, events, problems=problems)


def _entry_row(e: dict, path: str) -> dict | None:
    """One entry's event row; None without its time and duration (a cut-off paste)."""
    f = e["fields"]
    when, micros = f.get(2), f.get(3)
    if not isinstance(when, int) or not isinstance(micros, int):
        return None
    argv = e["argv"]
    verb = argv[0].upper() if argv else ""
    if verb in ("DEBUG", "SCRIPT", "CLIENT", "CONFIG", "FUNCTION", "OBJECT", "MEMORY") and len(argv) > 1:
        verb = f"{verb} {argv[1].upper()}"
    command = " ".join(argv[:2] if verb.count(" ") == 0 else argv[:3])[:300]
    client = f.get(5) if isinstance(f.get(5), str) else None
    name = f.get(6) if isinstance(f.get(6), str) and f.get(6) else None
    duration = micros / 1e6
    attrs = {"command": command, "verb": verb, "duration_s": round(duration, 6), "figure": "slowlog", "at": "end",
             "slowlog_id": f.get(1), "client": client, "client_name": name, "argc": len(argv)}
    return {
        "ts": datetime.fromtimestamp(when, UTC), "source": SlowlogFile.name, "kind": SLOW_COMMAND.name,
        "path": path, "line": e["line"] + 1, "level": "warning", "host": None,
        "entity": None, "message": f"SLOWLOG #{f.get(1)}: {command} took {duration:.6f} s"
        + (f" from {name or client}" if (name or client) else ""),
        "value": duration, "attrs": json.dumps(attrs, ensure_ascii=False),
    }
