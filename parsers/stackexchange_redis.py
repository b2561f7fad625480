"""StackExchange.Redis (.NET): exceptions, per-endpoint failure texts, ILogger/TextWriter connect
logs and logged configuration, as typed `redis.*` events.

Why one module: every SE.Redis text shares the same `key: value` field vocabulary (formats.md §1),
so one field table serves timeouts (1.0 `qu=0`, 1.x, 2.x, 3.x), failures and connect logs. Fields
are extracted by NAME, never by position, because their order and presence change per version.
Text stays as logged; postmortem/redaction.py redacts every output once (unless --no-redact).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import ClassVar

import polars as pl

from parsers import expr_patterns
from parsers import redis_client_kinds as ck
from parsers.base import no_claims
from parsers.breakers import CLAIMS as BREAKER_TEXT
from parsers.json_members import without_nulls
from parsers.retries import CLAIMS as RETRY_TEXT
from postmortem.model import Kind

# Set while `analyze` ingests (postmortem/se_attrs.py): a timeout whose `message` alone gives its fields gets
# null `attrs`. Decided here, where both forms are structs: no JSON is built for those rows (issue #20).
MESSAGE_FORM: ContextVar[bool] = ContextVar("se_message_form", default=False)

_EP = r"[\w.\-\[\]*]+:\d+"  # host:port (hosts may be [REDACTED] or masked)

# Words that tie a record to this library (other .NET/Java clients reuse RedisTimeoutException etc.).
_SE_CONTEXT = (
    r"StackExchange\.Redis|SE\.Redis-v|ConnectionMultiplexer|IConnectionMultiplexer|"
    r"(?:^|[^.\w])Redis(?:Timeout|Connection|Server|Command)Exception"
)
_FAILURE_TYPES = (
    "UnableToResolvePhysicalConnection|SocketFailure|AuthenticationFailure|ProtocolFailure|InternalFailure|"
    "SocketClosed|ConnectionDisposed|Loading|UnableToConnect|ResponseIntegrityFailure|CircuitBreaker"
)
# Per-endpoint failure text (2.x RecordConnectionFailed): "SocketFailure (...) on host:port/Interactive, ..."
_ENDPOINT_FAILURE = r"\b(" + _FAILURE_TYPES + r")(?: \([^)]*\))? on ([^\s/,]+)/(?:Interactive|Subscription)\b"
# 2.7.4+ ILogger: "Connection failed: {EndPoint} ({ConnectionType}, {FailureType}): {ErrorMessage}"
_ILOGGER_FAILED = r"Connection failed: (\S+) \((?:Interactive|Subscription), (" + _FAILURE_TYPES + r"|None)\)"

# Connect-log (ConnectionMultiplexer.Connect(..., log) / LoggerFactory) steps.
_CONNECT_LOG_STRONG = (
    r"Connecting \((?:sync|async)\) on |unique nodes specified|OnConnectedAsync |"
    r"Awaiting (?:\d+ available )?task completion|tasks? completed cleanly|Requesting tie-break|__Booksleeve_TieBreak|"
    r"Sending critical tracer|Endpoint is \(Interactive: |/(?:Interactive|Subscription)(?:: )?Connect(?:ing|ed)|"
    r"Connected (?:Interactive|Subscription)/|Allowing (?:\d+ )?endpoint|OnEstablishingAsync complete|"
    r"Sync timeouts: \d+; async timeouts|Did not respond \(Task\.Status|\(SE\.Redis-v"
)
_CONNECT_LOG_WEAK = (
    r"BeginConnect|EndConnect|Server handshake|Authenticating (?:\(|via )|Setting client (?:name|lib)|Auto-configur|"
    r"Flushing outbound buffer|Starting (?:poll|read|heartbeat)|Connect complete|Endpoint summary:|Task summary:|"
    r"Total connect time: |Configuring TLS|TLS connection established|Returned with success|Election|"
    r"Cluster: \d+ of \d+ slots|Broadcasting reconfigure|Writing(?: to \w+/|: )|faulted: |Faulted: |Connect failed: |"
    r"Connect task canceled|Checking \S+ is available"
)
_LOG_TIME = r"^\s*\d\d:\d\d:\d\d\.\d{3,7}: "  # TextWriter connect log prefix (time of day only)
_EP_PREFIX = r"^\s*(?:\d\d:\d\d:\d\d\.\d{3,7}: )?\s*_?" + _EP + r"(?:/(?:Interactive|Subscription))?:? "
_CONNECT_FAULT = (
    r"faulted: |: Faulted: |OnConnectedAsync completed \((?:Disconnected|Faulted)|"
    r"Endpoint is \(Interactive: (?:Disconnected|Connecting)|Did not respond \(Task|Connect task canceled|Connect failed: "
)

# Connection strings ("host:6380,password=...,abortConnect=False") and ConfigurationOptions code.
_CS_KEYS = (
    "abortConnect|allowAdmin|asyncTimeout|channelPrefix|checkCertificateRevocation|configCheckSeconds|"
    "configChannel|connectRetry|connectTimeout|defaultDatabase|keepAlive|name|password|proxy|resolveDns|"
    "responseTimeout|serviceName|ssl|sslHost|sslProtocols|syncTimeout|tiebreaker|user|version|setlib|"
    "protocol|highIntegrity|tunnel|writeBuffer|highPriorityThreads|preserveAsyncOrder"
)
_CONN_STRING = r"(?i)((?:" + _EP + r"|[\w.\-\[\]]+),(?:[^\s\"';,]+,)*(?:" + _CS_KEYS + r")=[^\s\"';]*)"
_BARE_ENDPOINTS = _LOG_TIME + r"(" + _EP + r"(?:," + _EP + r")*)\s*$"
_PROPS_STRONG = (
    r"\b(?:AbortOnConnectFail|ReconnectRetryPolicy|BacklogPolicy|ConnectRetry|SyncTimeout|AsyncTimeout|"
    r"ConfigCheckSeconds|IncludeDetailInExceptions)\s*\"?\s*[=:]|\bnew (?:Exponential|Linear)Retry\s*\(|"
    r"BacklogPolicy\.(?:Default|FailFast)"
)
_PROP_ASSIGN = (
    r"^\s*(?:[\w]+\.)*(?:ConnectTimeout|KeepAlive|Ssl|SslProtocols|AllowAdmin|ClientName|DefaultDatabase|"
    r"HeartbeatInterval|ResolveDns|Password|User|EndPoints|EndPoints\.Add)\s*(?:=\s*[^;=]+;?|\([^;]*\);?)\s*$"
)

_SE_RESTORED = r"\bConnectionRestored\b|(?i:redis connection (?:was )?restored|reconnected to redis)"
# The server's OOM reply (server.c `shared.oomerr`): SE.Redis raises it verbatim as the message of a
# RedisServerException (ResultProcessor.ServerFail, 2.x and 3.x), with no endpoint or command in it. Other
# clients quote the same reply (Jedis, Lettuce, FreeRedis, redis-py), so it needs this library's context.
_OOM = r"\bOOM command not allowed when used memory > 'maxmemory'"
_SE_RECONNECT = r"Resurrecting \S+ \(retry: \d+\)|Resetting failing connections to retry|Retrying - attempts left: \d+|" \
    r"Subscriptions attempting reconnect: \d+"

# (kind, pattern, needs SE context). First match wins.
_RULES: tuple[tuple[str, str, bool], ...] = (
    ("redis.backlog_timeout", r"The message timed out in the backlog|The timeout was reached before the message "
     r"could be written|The message was in the backlog when connection was disposed", False),
    ("redis.timeout", r"Timeout performing \S|Timeout awaiting response \(|StackExchange\.Redis\.RedisTimeoutException|"
     r"(?:^|[^.\w])RedisTimeoutException\b", False),
    ("redis.no_connection", r"No connection (?:is (?:active/)?available|\(requires writable)|"
     r"Connection to Redis never succeeded", False),
    ("redis.auth_failed", r"There was an authentication failure|AuthenticationFailure (?:on |\()|"
     r"Redis(?:Server|Connection)Exception: (?:NOAUTH|WRONGPASS)", False),
    ("redis.loading", r"RedisServerException: LOADING|LOADING Redis is loading the dataset|Loading on " + _EP, False),
    ("redis.busy", r"RedisServerException: BUSY Redis is busy running a (?:script|module command)", False),
    ("redis.oom", _OOM, True),
    ("redis.connect_failed", r"It was not possible to connect to the redis server", False),
    ("_ilogger_failed", _ILOGGER_FAILED, False),
    ("_endpoint_failure", _ENDPOINT_FAILURE, False),
    ("redis.connection_lost", r"Dead socket detected, no reads in \d+ seconds", False),
    ("redis.reconnect_attempt", _SE_RECONNECT, False),
    ("redis.reconnect_attempt", r"\bReconnecting\b", True),
    ("redis.connection_restored", _SE_RESTORED, False),
    ("redis.connect_failed", _CONNECT_FAULT + r"|ConnectionFailed\b", True),
    ("redis.config", _PROPS_STRONG, False),
    ("redis.config", _PROP_ASSIGN, False),
    ("redis.config", _CONN_STRING, False),
    ("redis.config", _BARE_ENDPOINTS, False),
    ("_connect_log", _CONNECT_LOG_STRONG, False),
    ("_connect_log", r"(?:" + _LOG_TIME + r"|" + _EP_PREFIX + r").*(?:" + _CONNECT_LOG_WEAK + ")", False),
)


def _failure_kind(failure_type: pl.Expr, text: pl.Expr) -> pl.Expr:
    """Map a ConnectionFailureType (and the previous physical state) onto the events vocabulary."""
    connecting = text.str.contains(r"state: (?:Connecting|ConnectedEstablishing)\b|origin: (?:BeginConnect|ConnectedAsync)")
    return (
        pl.when(failure_type.is_in(["UnableToConnect", "UnableToResolvePhysicalConnection"]))
        .then(pl.lit("redis.connect_failed"))
        .when(failure_type == "AuthenticationFailure").then(pl.lit("redis.auth_failed"))
        .when(failure_type == "Loading").then(pl.lit("redis.loading"))
        .when(failure_type == "CircuitBreaker").then(pl.lit("redis.no_connection"))
        .when(connecting).then(pl.lit("redis.connect_failed"))
        .otherwise(pl.lit("redis.connection_lost"))
    )


def _kv(text: pl.Expr, key: str, value: str) -> pl.Expr:
    """`key: value` or `key=value` (1.0 layout) by name; keys are bounded so `in` never matches `last-in`."""
    return text.str.extract(r"(?:^|[\s,(\[])" + re.escape(key) + r"(?:: ?|=)(" + value + r")", 1)


_INT = r"-?\d+"
# (attr name, key in the text, value pattern, dtype). Order here is the order in attrs.
_FIELDS: tuple[tuple[str, str, str, pl.DataType], ...] = (
    ("inst", "inst", _INT, pl.Int64()),
    ("queue", "queue", _INT, pl.Int64()),
    ("qu", "qu", _INT, pl.Int64()),
    ("qs", "qs", _INT, pl.Int64()),
    ("qc", "qc", _INT, pl.Int64()),
    ("wr", "wr", r"\d+(?:/\d+)?", pl.String()),
    ("wq", "wq", _INT, pl.Int64()),
    ("aw", "aw", r"True|False|true|false", pl.Boolean()),
    ("bw", "bw", r"\w+", pl.String()),
    ("rs", "rs", r"\w+", pl.String()),
    ("ws", "ws", r"\w+", pl.String()),
    ("in", "in", r"\d+(?:/\d+)?", pl.Int64()),
    ("in_pair", "in", r"\d+/\d+", pl.String()),  # 1.0 layout "in=0/0"
    ("in-pipe", "in-pipe", _INT, pl.Int64()),
    ("out-pipe", "out-pipe", _INT, pl.Int64()),
    ("ar", "ar", _INT, pl.Int64()),
    ("last-in", "last-in", _INT, pl.Int64()),
    ("cur-in", "cur-in", _INT, pl.Int64()),
    ("lm", "lm", r"\d+/\d+/\d+/\d+", pl.String()),
    ("sync-ops", "sync-ops", _INT, pl.Int64()),
    ("async-ops", "async-ops", _INT, pl.Int64()),
    ("serverEndpoint", "serverEndpoint", r"[^\s,]+", pl.String()),
    ("conn-sec", "conn-sec", r"[\d.]+|n/a", pl.String()),
    ("aoc", "aoc", r"[01]", pl.Int64()),
    ("mc", "mc", r"\d+/\d+/\d+", pl.String()),
    ("mgr", "mgr", r"\d+ of \d+ available|[A-Za-z]+", pl.String()),
    ("err", "err", r"[^,]*", pl.String()),
    ("clientName", "clientName", r"[^,]*", pl.String()),
    ("keyHashSlot", "keyHashSlot", _INT, pl.Int64()),
    ("Local-CPU", "Local-CPU", r"[\d.]+%|n/a|[A-Za-z]+", pl.String()),
    ("v", "v", r"\d+(?:\.\d+)+", pl.String()),
    # per-endpoint failure text (RecordConnectionFailed)
    ("last", "last", r"[A-Z]+", pl.String()),
    ("origin", "origin", r"\w+", pl.String()),
    ("outstanding", "outstanding", _INT, pl.Int64()),
    ("last-read", "last-read", r"\d+s ago", pl.String()),
    ("last-write", "last-write", r"\d+s ago", pl.String()),
    ("unanswered-write", "unanswered-write", r"\d+s ago", pl.String()),
    ("keep-alive", "keep-alive", r"\d+s", pl.String()),
    ("state", "state", r"\w+", pl.String()),
    ("last-heartbeat", "last-heartbeat", r"never|\d+s ago", pl.String()),
    ("global", "global", r"\d+s ago", pl.String()),
)
_POOL_STATS = r"\(Busy=(?P<busy>\d+),Free=(?P<free>\d+),Min=(?P<min>\d+),Max=(?P<max>\d+)\)"
_THREADPOOL = (r"POOL: ?\(Threads=(?P<threads>\d+),QueuedItems=(?P<queued_items>\d+),"
               r"CompletedItems=(?P<completed_items>\d+)(?:,Timers=(?P<timers>\d+))?\)")
# the first stack-frame line and everything after it (the head of a record is the text before it)
_FRAME_TAIL = r"\n[ \t]+(?:at |--- |[\w.`<>]+\.\w+[\[(])(?s:.*)"


_MESSAGE = pl.col("_line").str.strip_chars().str.slice(0, 2000)  # a record's `message`


def _int(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Int64, strict=False)


def _flag(e: pl.Expr) -> pl.Expr:
    return e.str.to_lowercase().replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)


def _encode(fields: list[pl.Expr]) -> pl.Expr:
    """JSON object of the fields without null members (first field is never null: `client`)."""
    return without_nulls(pl.struct(fields))


def _first_choices() -> dict[str, pl.Expr]:
    """The first alternative of the fields a timeout always carries (endpoint, version, command, timeout)."""
    h = pl.col("_head")
    return {
        "_ep1": _kv(h, "serverEndpoint", r"[^\s,]+"),
        "_v1": _kv(h, "v", r"\d+(?:\.\d+)+"),
        "_cmd1": h.str.extract(r"Timeout performing ([A-Z][A-Z.]*)\b", 1),
        "_to1": h.str.extract(r"Timeout performing \S+ \((\d+)ms\)", 1),
    }


# Fewest first-alternative records (every timeout) worth a select of their own when other records are in
# the batch: 2,213 timeouts and 31 other records took 19 ms less CPU in one select; the 45,024 records of
# the dense file 0.33 s less split (issue 20).
SPLIT_MIN_RECORDS = 5_000


def _first_or(full: bool, first: pl.Expr, *rest: pl.Expr) -> pl.Expr:
    """`coalesce(first, *rest)`, or `first` alone where every record's first alternative is known to hit."""
    return pl.coalesce(first, *rest) if full else first


class StackExchangeRedis:
    """Recognizer for StackExchange.Redis texts in any envelope (see module docstring)."""

    name: ClassVar[str] = "stackexchange_redis"
    kinds: ClassVar[tuple[Kind, ...]] = (
        ck.TIMEOUT, ck.BACKLOG_TIMEOUT, ck.CONNECT_FAILED, ck.CONNECTION_LOST, ck.CONNECTION_RESTORED,
        ck.RECONNECT_ATTEMPT, ck.NO_CONNECTION, ck.BUSY, ck.LOADING, ck.AUTH_FAILED, ck.OOM, ck.CONFIG, ck.CONNECT_LOG,
    )
    # words that keep a one-line INFO record out of noise folding (parsers/noise.py)
    keep_words: ClassVar[tuple[str, ...]] = (
        "redis", "timeout", "timed out", "connect", "socket", "multiplexer", "backlog", "loading", "auth",
        "resurrect", "heartbeat", "endpoint", "retry", "retries", "busy", "unreachable", "maxmemory",
    )
    example: ClassVar[str] = (
        "Timeout awaiting response (outbound=0KiB, inbound=0KiB, 5984ms elapsed, timeout is 5000ms), command=GET, "
        "..., qs: 57, ..., clientName: api-6f7c9d-x2k8p(SE.Redis-v2.6.122.38350), WORKER: (Busy=61,...)"
    )
    samples: ClassVar[tuple[str, ...]] = (
        "fail: Cart.Api.CartService[0]\n      StackExchange.Redis.RedisServerException: BUSY Redis is busy running a "
        "script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\n",
        "StackExchange.Redis.RedisTimeoutException: Timeout performing GET (5000ms), next: GET Identity:Session:***, "
        "inst: 3, qu: 0, qs: 10, aw: False, rs: ReadAsync, ws: Idle, in: 8384, in-pipe: 0, out-pipe: 0, "
        "serverEndpoint: , mgr: 9 of 10 available, clientName: yingkehuiyuan-5db544c847-t9vll, "
        "IOCP: (Busy=0,Free=1000,Min=4,Max=1000), WORKER: (Busy=2963,Free=29804,Min=12402,Max=32767), v: 2.0.601.3402\n",
        "Timeout performing GET {KEY}, inst: 1, mgr: CheckForHeartbeat, err: never, queue: 36147, qu: 0, qs: 36147, "
        "qc: 0, wr: 0, wq: 0, in: 8192, ar: 0, IOCP: (Busy=0,Free=1000,Min=8,Max=1000), "
        "WORKER: (Busy=51,Free=32716,Min=8,Max=32767)\n",
        "SocketFailure on xx.redis.cache.windows.net:6380/Interactive, Idle/Faulted, last: GET, origin: ReadFromPipe, "
        "outstanding: 12, last-read: 22s ago, last-write: 1s ago, unanswered-write: 19s ago, keep-alive: 60s, "
        "state: ConnectedEstablished, mgr: 9 of 10 available, in: 0, last-heartbeat: 1s ago, v: 2.7.33.41805\n",
        "13:47:45.2344: Connecting (sync) on .NET 7.0.16 (StackExchange.Redis: v2.7.17.27058)\n"
        "13:47:45.2678: redisserver:6379,syncTimeout=1000,allowAdmin=True,connectTimeout=1000,ssl=False,abortConnect=False\n",
        "config.AbortOnConnectFail = true;\nconfig.ReconnectRetryPolicy = new ExponentialRetry (5000);\n",
        # a noeviction tester's console (public README, hsa-course 11.Redis redis-eviction-tester)
        "StackExchange.Redis.RedisServerException: OOM command not allowed when used memory > 'maxmemory'.\n"
        "   at Program.<<Main>$>g__TriggerEviction|0_25(IServer server, IDatabase db, String prefix) in "
        "/src/redis-eviction-tester/Program.cs:line 132\n",
    )

    def recognize(self, records: pl.DataFrame, staged: bool = True) -> pl.DataFrame:
        """The records this library wrote, as events. `staged=False` evaluates every alternative of the
        fields' `coalesce`s on every record (the plain form `staged` is tested against)."""
        any_rule = "|".join(f"(?:{rx})" for _, rx, _ in _RULES)
        # a retry or breaker line quoting a Redis exception is theirs (parsers/retries.py, breakers.py)
        cand = records.filter(pl.col("text").str.contains(any_rule)
                              & ~pl.col("text").str.contains(RETRY_TEXT + "|" + BREAKER_TEXT))
        if cand.height == 0:
            return no_claims()
        logger = pl.col("logger").fill_null("") if "logger" in cand.columns else pl.lit("")
        cand = cand.with_columns(
            _t=pl.col("text"),
            _se=pl.col("text").str.contains(_SE_CONTEXT) | logger.str.contains(r"StackExchange\.Redis"),
        )
        t = pl.col("_t")
        rule = pl.lit(None, dtype=pl.String)
        for kind, rx, needs_se in reversed(_RULES):
            cond = t.str.contains(rx) & (pl.col("_se") if needs_se else pl.lit(True))
            rule = pl.when(cond).then(pl.lit(kind)).otherwise(rule)
        match_any = "|".join(f"(?:{rx})" for _, rx, _ in _RULES)
        cand = cand.with_columns(_rule=rule).filter(pl.col("_rule").is_not_null())
        if cand.height == 0:
            return no_claims()
        # The line holding the exception, and the exception text up to the first stack frame. The
        # first line that matches, found line by line: one `(?m)` extraction with this alternation
        # inside a capture group cost ~0.5 ms per record (100x more).
        first_hit = t.str.split("\n").list.eval(pl.element().filter(pl.element().str.contains(match_any)).first())
        cand = cand.with_columns(
            _line=pl.coalesce(first_hit.list.first(), t.str.extract(r"^([^\n]*)", 1)),
            # the text before the first stack-frame line: cutting at the frame's first match is what
            # `(?s)^(.*?)(?:<frame>|$)` captures, without a capture engine walking the whole head (5x the
            # cost); tests/test_recognizer_fast_paths.py checks the two agree
            _head=t.str.replace(_FRAME_TAIL, "").str.replace_all(r"\s*\n\s*", " "),
        )
        cand = cand.with_columns(**_first_choices())
        if MESSAGE_FORM.get():
            cand = cand.with_columns(_as_message=_head_searched_as_message())
        configs = bool((cand.get_column("_rule") == "redis.config").any())
        if not staged:
            return _encoded(cand.select(self._columns(configs, full=True)))
        # A timeout names its endpoint, version, command and timeout where each field's first alternative
        # looks: those records skip the other alternatives (a `coalesce` evaluates them all).
        firsts = pl.all_horizontal([pl.col(c).is_not_null() for c in _first_choices()])
        cand = cand.with_row_index("_pos").with_columns(_firsts=firsts)
        parts = []
        if MESSAGE_FORM.get():
            # timeouts whose message alone gives their fields: their `attrs` are null, so never extracted
            alone = _alone_in_message(cand, configs)
            if alone.any():
                parts.append(self._message_only(cand.filter(alone)))
                cand = cand.filter(~alone)
        if cand.height:
            parts.append(_encoded(self._split(cand, configs)))
        return pl.concat(parts).sort("_pos").drop("_pos")

    def _split(self, cand: pl.DataFrame, configs: bool) -> pl.DataFrame:
        """The candidates' columns (`_pos` kept), the records whose fields' first alternatives all hit selected
        apart when they are many."""
        # Each select costs polars ~25 ms of compiling its ~100 patterns whatever its rows, so a batch is
        # split only when its first-alternative records are enough to pay for the second select.
        n_firsts = int(cand.get_column("_firsts").sum())
        if n_firsts < min(cand.height, SPLIT_MIN_RECORDS):
            return cand.select("_pos", *self._columns(configs, full=True))
        parts = [part.select("_pos", *self._columns(configs, full=full))
                 for full, part in ((False, cand.filter(pl.col("_firsts"))), (True, cand.filter(~pl.col("_firsts"))))
                 if part.height]
        return pl.concat(parts)

    def _message_only(self, cand: pl.DataFrame) -> pl.DataFrame:
        """The columns of timeouts whose `attrs` are null (`_alone_in_message`): a timeout's kind is its rule."""
        full = not cand.get_column("_firsts").all()
        return cand.select("_pos", "rec", pl.col("_rule").alias("kind"), self._entity(full).alias("entity"),
                           self._host().alias("host"), _MESSAGE.alias("message"), pl.lit(None, pl.String).alias("attrs"))

    def _columns(self, configs: bool, full: bool) -> list[pl.Expr]:
        """The claimed rows' columns, `attrs` as a struct (`_encoded` writes it as JSON); `full=False` for
        records whose fields' first alternatives all hit."""
        return [
            pl.col("rec"),
            self._kind().alias("kind"),
            self._entity(full).alias("entity"),
            self._host().alias("host"),
            _MESSAGE.alias("message"),
            pl.struct(self._fields(configs, full)).alias("attrs"),
            *([pl.col("_as_message")] if MESSAGE_FORM.get() else []),
        ]

    @staticmethod
    def _failure_type() -> pl.Expr:
        h, rule = pl.col("_head"), pl.col("_rule")
        loose = rule.is_in(["redis.connect_failed", "redis.no_connection", "redis.backlog_timeout"])
        found = pl.coalesce(
            h.str.extract(_ILOGGER_FAILED, 2),
            h.str.extract(_ENDPOINT_FAILURE, 1),
            h.str.extract(r"\b(" + _FAILURE_TYPES + r") on [A-Z]+\b", 1),
            pl.when(h.str.contains("There was an authentication failure")).then(pl.lit("AuthenticationFailure")),
            pl.when(loose).then(h.str.extract(r"\b(" + _FAILURE_TYPES + r"|ConnectTimeout)\b", 1)),
        )
        return pl.when(rule != "redis.config").then(found)

    def _kind(self) -> pl.Expr:
        rule, h = pl.col("_rule"), pl.col("_head")
        ftype = self._failure_type()
        connect_log = (
            pl.when(pl.col("_t").str.contains(_CONNECT_FAULT)).then(pl.lit("redis.connect_failed"))
            .otherwise(pl.lit("redis.connect_log"))
        )
        return (
            pl.when(rule.is_in(["_ilogger_failed", "_endpoint_failure"])).then(_failure_kind(ftype, h))
            .when(rule == "_connect_log").then(connect_log)
            .otherwise(rule)
        )

    @staticmethod
    def _entity(full: bool = True) -> pl.Expr:
        h = pl.col("_head")
        ep = _first_or(
            full,
            pl.col("_ep1").str.replace(r"^Unspecified/", ""),
            h.str.extract(_ENDPOINT_FAILURE, 2),
            h.str.extract(_ILOGGER_FAILED, 1),
            h.str.extract(r"Resurrecting (" + _EP + r")", 1),
            h.str.extract(_EP_PREFIX.replace(_EP, "(" + _EP + ")", 1), 1),
            h.str.extract(r"(?:BeginConnect|EndConnect|Connect complete|Connected \w+/|_Connecting|Checking) ?:? ?(" + _EP + ")", 1),
            h.str.extract(r"(" + _EP + r") faulted: ", 1),
            # any host:port, but not where the text carries a command key ("GET cart:1234")
            pl.when(~pl.col("_rule").is_in(["redis.timeout", "redis.backlog_timeout", "redis.no_connection", "redis.loading",
                                            "redis.oom"]))
            .then(h.str.extract(r"(?:^|[\s(=@,;\"'])((?:[A-Za-z\[][\w.\-\[\]*]*|\d{1,3}(?:\.\d{1,3}){3}):\d{4,5})\b", 1)),
        )
        ep = pl.when(ep.str.contains(r"^[\w.\-\[\]]+:\d+$")).then(ep)
        return pl.lit("redis:") + ep

    @staticmethod
    def _client_name() -> pl.Expr:
        h = pl.col("_head")
        return pl.coalesce(_kv(h, "clientName", r"[^,]*").str.strip_chars(), h.str.extract(r"Setting client name: (\S+)", 1))

    def _host(self) -> pl.Expr:
        cn = self._client_name()
        pod = pl.coalesce(
            cn.str.extract(r"^([\w.-]+)\(SE\.Redis-v", 1),
            cn.str.extract(r"^([a-z0-9][a-z0-9-]*-[a-z0-9]{5})$", 1),  # Kubernetes pod name without suffix (2.0)
        )
        return pod

    def _attrs(self, configs: bool = True, full: bool = True) -> pl.Expr:
        """The record's fields as JSON; `configs=False` (no config record among them) skips the config options,
        which are null outside config records."""
        return _encode(self._fields(configs, full))

    def _fields(self, configs: bool = True, full: bool = True) -> list[pl.Expr]:
        """The record's fields, each named as in `attrs`, in `attrs`' order."""
        h, t = pl.col("_head"), pl.col("_t")
        out: list[pl.Expr] = [pl.lit("stackexchange_redis").alias("client")]
        out.append(t.str.extract(r"((?:StackExchange\.Redis\.)?Redis\w*Exception|TimeoutException)", 1).alias("exception"))
        out.append(self._failure_type().alias("failure_type"))
        # the server's reply as the exception gave it (redis-py's `error`); the message names no command
        out.append(pl.when(pl.col("_rule") == "redis.oom").then(pl.col("_line").str.extract("(" + _OOM + r"\.?)", 1))
                   .alias("error"))
        command = _first_or(
            full,
            pl.col("_cmd1"),
            h.str.extract(r"command=([A-Z][A-Z.]*)", 1),
            h.str.extract(r"to service this operation: ([A-Z][A-Z.]*)", 1),
        )
        out.append(command.alias("command"))
        out.append(_kv(h, "active", r"[A-Z][A-Z.]*").alias("active"))
        out.append(_kv(h, "next", r"[A-Z][A-Z.]*").alias("next"))
        out.append(_int(_first_or(
            full,
            pl.col("_to1"),
            h.str.extract(r"timeout is (\d+)ms", 1),
            h.str.extract(r"became available \((\d+)ms\)", 1),
            _kv(h, "timeout", r"\d+"),
        )).alias("timeout_ms"))
        out.append(_int(h.str.extract(r"(\d+)ms elapsed", 1)).alias("elapsed_ms"))
        out.append(_int(h.str.extract(r"outbound[=:] ?(\d+)KiB", 1)).alias("outbound_kib"))
        out.append(_int(h.str.extract(r"inbound[=:] ?(\d+)KiB", 1)).alias("inbound_kib"))
        out.append(pl.when(h.str.contains("possible thread-theft indicated")).then(pl.lit(True)).alias("thread_theft"))
        # Each field's value is extracted once: the select evaluates an expression used twice once (the `mc`
        # and `lm` splits below reuse these; their values hold no spaces, so the strip changes nothing),
        # and each thread-pool block is one `extract_groups`, not one extract per figure.
        raw = {attr: _kv(h, key, value).str.strip_chars() for attr, key, value, _ in _FIELDS}
        raw["serverEndpoint"], raw["v"] = pl.col("_ep1").str.strip_chars(), pl.col("_v1").str.strip_chars()
        for attr, _, _, dtype in _FIELDS:
            if dtype == pl.Int64():
                e = _int(raw[attr])
            elif dtype == pl.Boolean():
                e = _flag(raw[attr])
            else:
                e = raw[attr]
            out.append(e.alias(attr))
        out.append(_int(_kv(h, "PerfCounterHelperkeyHashSlot", _INT)).alias("PerfCounterHelperkeyHashSlot"))
        mc = raw["mc"]
        for i, name in enumerate(("mc_attempts", "mc_completed", "mc_closed")):
            out.append(_int(mc.str.split("/").list.get(i, null_on_oob=True)).alias(name))
        mgr = _kv(h, "mgr", r"\d+ of \d+ available")
        out.append(_int(mgr.str.extract(r"^(\d+)", 1)).alias("mgr_available"))
        out.append(_int(mgr.str.extract(r"of (\d+)", 1)).alias("mgr_total"))
        for pool in ("IOCP", "WORKER"):
            stats = h.str.extract_groups(pool + r": ?" + _POOL_STATS)
            for stat in ("busy", "free", "min", "max"):
                out.append(_int(stats.struct.field(stat)).alias(f"{pool.lower()}_{stat}"))
        pool_stats = h.str.extract_groups(_THREADPOOL)
        for stat in ("threads", "queued_items", "completed_items", "timers"):
            out.append(_int(pool_stats.struct.field(stat)).alias(f"pool_{stat}"))
        lm = raw["lm"]
        for i, name in enumerate(("lm_live", "lm_created", "lm_disposed", "lm_finalized")):
            out.append(_int(lm.str.split("/").list.get(i, null_on_oob=True)).alias(name))
        out.append(pl.col("_t").str.extract(r"Resurrecting \S+ \(retry: (\d+)\)", 1).cast(pl.Int64, strict=False)
                   .alias("retry"))
        out.append(h.str.extract(r"Retrying - attempts left: (\d+)", 1).cast(pl.Int64, strict=False).alias("attempts_left"))
        out.append(self._client_name().alias("client_name"))
        out.append(_first_or(
            full,
            pl.col("_v1"),
            t.str.extract(r"SE\.Redis-v(\d+(?:\.\d+)+)", 1),
            t.str.extract(r"StackExchange\.Redis: v(\d+(?:\.\d+)+)", 1),
            t.str.extract(r"StackExchange\.Redis(?:\.StrongName)?, Version=(\d+(?:\.\d+)+)", 1),
        ).alias("lib_version"))
        out.append(self._inner_kind().alias("inner_kind"))
        out.append(h.str.extract(r"faulted: ([^,]+?)(?:\s*$|, )", 1).alias("connect_log_faulted"))
        out.append(pl.when((pl.col("_rule") != "_connect_log")
                           & t.str.contains(r"\n\s+(?:_Connecting |BeginConnect|Requesting tie-break|\S+ faulted: )"))
                   .then(pl.lit(True)).alias("connect_log"))
        out.append(t.str.extract(_LOG_TIME.replace(r"\d\d:\d\d:\d\d\.\d{3,7}", r"(\d\d:\d\d:\d\d\.\d{3,7})"), 1)
                   .alias("log_time"))
        out.extend(self._config_fields() if configs else [])
        return out

    @staticmethod
    def _inner_kind() -> pl.Expr:
        """For no-connection and backlog texts: what the wrapped inner failure says."""
        h = pl.col("_head")
        rule = pl.col("_rule")
        wraps = rule.is_in(["redis.no_connection", "redis.backlog_timeout"])
        return (
            pl.when(wraps & h.str.contains("There was an authentication failure|AuthenticationFailure"))
            .then(pl.lit("redis.auth_failed"))
            .when(wraps & h.str.contains("It was not possible to connect|UnableToConnect"))
            .then(pl.lit("redis.connect_failed"))
            .when(wraps & h.str.contains(_ENDPOINT_FAILURE))
            .then(_failure_kind(h.str.extract(_ENDPOINT_FAILURE, 1), h))
        )

    @staticmethod
    def _config_fields() -> list[pl.Expr]:
        """Parsed options of a logged connection string or ConfigurationOptions code (config events only)."""
        is_cfg = pl.col("_rule") == "redis.config"
        h = pl.col("_head")
        cs = pl.coalesce(h.str.extract(_CONN_STRING, 1), h.str.extract(_BARE_ENDPOINTS, 1))

        def opt(names: str, value: str) -> pl.Expr:
            rx = r"(?i)(?:^|[\s,.{(])(?:" + names + r")\"?\s*[=:]\s*\"?(" + value + ")"
            return pl.when(is_cfg).then(h.str.extract(rx, 1))

        ints = {
            "connectTimeout": "connectTimeout", "syncTimeout": "syncTimeout", "asyncTimeout": "asyncTimeout",
            "connectRetry": "connectRetry", "keepAlive": "keepAlive", "configCheckSeconds": "configCheckSeconds",
            "defaultDatabase": "defaultDatabase",
        }
        out = [_flag(opt("abortConnect|AbortOnConnectFail", "true|false")).alias("abortConnect")]
        out += [_int(opt(k, r"-?\d+")).alias(name) for name, k in ints.items()]
        out.append(_flag(opt("ssl", "true|false")).alias("ssl"))
        out.append(_flag(opt("allowAdmin", "true|false")).alias("allowAdmin"))
        out.append(opt("sslProtocols", r"[\w|]+").alias("sslProtocols"))
        policy = h.str.extract_groups(r"(?P<p>ExponentialRetry|LinearRetry)\s*\(\s*(?P<a>[\d_]+)?(?:\s*,\s*(?P<b>[\d_]+))?")
        name = policy.struct.field("p")
        arg = policy.struct.field("a").str.replace_all("_", "")
        out.append(pl.when(is_cfg & name.is_not_null()).then(
            name + pl.lit("(") + pl.coalesce(arg, pl.lit("")) + pl.lit(")")).alias("reconnect_retry_policy"))
        out.append(pl.when(is_cfg).then(_int(arg)).alias("reconnect_retry_ms"))
        out.append(pl.when(is_cfg).then(_int(policy.struct.field("b").str.replace_all("_", ""))).alias("reconnect_retry_max_ms"))
        out.append(pl.when(is_cfg).then(pl.coalesce(
            h.str.extract(r"BacklogPolicy\.(Default|FailFast)", 1),
            pl.when(h.str.contains(r"BacklogPolicy\s*=\s*new\b")).then(pl.lit("custom")),
        )).alias("backlog_policy"))
        endpoints = cs.str.split(",").list.eval(pl.element().filter(~pl.element().str.contains("="))).list.join(",")
        out.append(pl.when(is_cfg).then(pl.coalesce(
            pl.when(endpoints != "").then(endpoints),
            h.str.extract(r"EndPoints(?:\.Add\(|\s*=\s*\{)\s*\"([^\"]+)\"", 1),
        )).alias("endpoints"))
        out.append(pl.when(is_cfg & cs.is_not_null()).then(pl.lit(True)).alias("connection_string"))
        out.append(pl.when(is_cfg).then(opt("name|ClientName", r"[^,\s\";]+")).alias("config_client_name"))
        out.append(pl.when(is_cfg & h.str.contains(r"(?i)\bpassword\s*[=:]")).then(pl.lit(True)).alias("has_password"))
        return out


def _as_timeouts(rows: pl.DataFrame, reads: frozenset[str] | None = None) -> pl.DataFrame:
    """The recognizer's working columns for timeouts whose whole text is their `message`; with `reads`, only the
    first choices (`_first_choices`, a search over every message each) among those columns."""
    m = pl.col("message")
    firsts = {k: v for k, v in _first_choices().items() if reads is None or k in reads}
    return rows.select(_t=m, _head=m, _line=m, _rule=pl.lit("redis.timeout")).with_columns(**firsts)


def timeout_attrs(rows: pl.DataFrame) -> pl.Series:
    """The `attrs` the recognizer writes for a timeout whose text is `message` alone (`rows`' column)."""
    return _as_timeouts(rows).select(StackExchangeRedis()._attrs(configs=False).alias("attrs")).get_column("attrs")


def timeout_fields(rows: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """The fields `names` of `timeout_attrs`, as Strings as `json_path_match` prints them (null where absent):
    the same expressions, so equal to reading them from `timeout_attrs`, without building the JSON."""
    exprs = {e.meta.output_name(): e for e in StackExchangeRedis()._fields(configs=False)}
    # the first choices these fields read, not all four: a reader asking for one field pays its searches alone
    reads = frozenset(c for n in names if n in exprs for c in exprs[n].meta.root_names())
    # with_columns, not select: a constant field (`client`) asked alone is one value per row, not one row
    return _as_timeouts(rows, reads).with_columns(*(exprs[n].cast(pl.String).alias(n) if n in exprs
                                                    else pl.lit(None, pl.String).alias(n) for n in names)).select(names)


@contextmanager
def message_form(on: bool) -> Iterator[None]:
    """Within: the recognizer leaves `attrs` null on the timeouts whose message alone gives them (`MESSAGE_FORM`)."""
    token = MESSAGE_FORM.set(on)
    try:
        yield
    finally:
        MESSAGE_FORM.reset(token)


def _encoded(out: pl.DataFrame) -> pl.DataFrame:
    """The recognizer's rows with their `attrs` struct written as JSON; under `message_form`, null (and never
    encoded) on the timeouts whose message alone gives the same fields."""
    fields = out.get_column("attrs")
    if MESSAGE_FORM.get():
        fields = pl.select(pl.when(~_same_in_message(out)).then(fields)).to_series()
        out = out.drop("_as_message")
    return out.with_columns(fields.alias("attrs")).with_columns(without_nulls(pl.col("attrs")))


# The recognizer's columns a field may read besides its `_head` searches; a field reading any other column (the
# whole text `_t`, the line `_line`) is computed again from the message to be compared
_FROM_HEAD = frozenset({"_head", "_rule", *_first_choices()})


@cache
def _head_search() -> str | None:
    """One regex whose leftmost match starts where the first of every search the fields (message form) make in
    `_head` starts; None where a field uses `_head` in a way `expr_patterns` cannot read (then no row is
    proved, and every timeout's fields are computed from its message)."""
    exprs = StackExchangeRedis()._fields(configs=False) + list(_first_choices().values())
    try:
        return expr_patterns.any_of(expr_patterns.patterns(exprs, "_head"))
    except expr_patterns.UnknownUse:
        return None


def _head_searched_as_message() -> pl.Expr:
    """A timeout whose `_head` gives every `_head` search the result its `message` gives: the head is the
    message, or ends with a space and the message, and no search matches before the message starts, nor at the
    message's first byte (there `^` holds in the message and not in the head; elsewhere the message's text and
    the byte before it, a space or none, read the same to every regex: no look-behind in polars' regex)."""
    rx = _head_search()
    if rx is None:
        return pl.lit(False)
    h, m = pl.col("_head"), _MESSAGE
    start = h.str.len_bytes() - m.str.len_bytes()
    found_h, found_m = h.str.find(rx), m.str.find(rx)
    after = (h.str.ends_with(pl.lit(" ") + m) & (found_h.is_null() | (found_h >= start))
             & (found_m.is_null() | (found_m >= 1)))
    return (pl.col("_rule") == "redis.timeout") & ((h == m) | after).fill_null(False)


@cache
def _other_names() -> frozenset[str]:
    """The fields (message form) reading a column other than `_head`'s searches: the whole text, the line."""
    return frozenset(e.meta.output_name() for e in StackExchangeRedis()._fields(configs=False)
                     if not set(e.meta.root_names()) <= _FROM_HEAD)


def _alone_in_message(cand: pl.DataFrame, configs: bool) -> pl.Series:
    """Per candidate: a timeout `_same_in_message` would find equal to its message's fields, decided before its
    fields are extracted: its `_head` searches proved (`_as_message`), its other fields equal the message's and
    its config options (when the batch has them) null."""
    alone = pl.repeat(False, cand.height, dtype=pl.Boolean, eager=True)
    at = cand.select(pl.arg_where(pl.col("_as_message"))).to_series()
    if at.len() == 0:
        return alone
    rows = cand[at]
    # proved rows' `_first_choices` are the message's: where all hit, the other alternatives are left out in both
    full = not rows.get_column("_firsts").all()
    fields = [e for e in StackExchangeRedis()._fields(configs=False, full=full) if e.meta.output_name() in _other_names()]
    head, mine = rows.select(fields), _as_timeouts(rows.select(message=_MESSAGE)).select(fields)
    equal = [head.get_column(c).eq_missing(mine.get_column(c)) for c in mine.columns]
    if configs:
        equal += [c.is_null() for c in rows.select(StackExchangeRedis._config_fields())]
    return alone.scatter(at.filter(pl.select(pl.all_horizontal(equal)).to_series()), True)


def _same_in_message(out: pl.DataFrame) -> pl.Series:
    """Per row of `out`: a timeout whose `timeout_attrs` (its message alone) equal its `attrs`. Compared as the
    structs the two JSON texts encode (one to one for these fields' dtypes), member by member, null equal to
    null; fields the message form does not have (the config options) must be null. Where `_as_message` proved
    the `_head` searches equal, only the fields reading other columns are computed from the message."""
    same = pl.repeat(False, out.height, dtype=pl.Boolean, eager=True).alias("same")
    fields = StackExchangeRedis()._fields(configs=False)
    others = [e for e in fields if not set(e.meta.root_names()) <= _FROM_HEAD]
    proved = pl.col("_as_message")
    for rows, exprs in ((proved, others), (~proved, fields)):
        at = out.select(pl.arg_where((pl.col("kind") == "redis.timeout") & rows)).to_series()
        if at.len() == 0:
            continue
        head = out.get_column("attrs").gather(at).struct.unnest()
        mine = _as_timeouts(out[at]).select(exprs)
        equal = [head.get_column(c).eq_missing(mine.get_column(c)) for c in mine.columns]
        equal += [head.get_column(c).is_null() for c in head.columns if c not in {e.meta.output_name() for e in fields}]
        same = same.scatter(at.filter(pl.select(pl.all_horizontal(equal)).to_series()), True)
    return same
