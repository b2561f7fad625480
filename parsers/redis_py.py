"""redis-py (and redis.asyncio, aioredis, django-redis, celery/kombu) errors and client configuration.

redis-py itself logs almost nothing (formats.md §2.5): the evidence is the application logging the
exceptions of §2.2, often as a whole traceback. A record is classified by its *decisive line*: the
last line carrying a redis-py message (the exception that propagated), else the last socket-level
error of a traceback that runs through redis-py frames. Server replies that every client shares
(`max number of clients reached`, `LOADING`, `NOAUTH`, `READONLY`) need Python context, and text of
other clients (ioredis, Redisson, Jedis, StackExchange.Redis) is never claimed.
Configuration (URLs, `Redis(...)` kwargs, `Retry(...)`, versions) becomes `redis.config` with the
options parsed into attrs; text stays as logged (postmortem/redaction.py redacts every output once).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers import redis_client_kinds as ck
from parsers.base import no_claims, whole_line
from parsers.breakers import CLAIMS as BREAKER_TEXT
from parsers.queues import BROKER_LOST_TEXT, redis_broker
from parsers.redis_server import REDIS_ENVELOPES, compact_attrs
from parsers.retries import CLAIMS as RETRY_TEXT
from postmortem.model import Kind

# --- error messages (formats.md §2.2) --------------------------------------------------------------------
# redis-py wording: claimed without further context.
_RECONNECT = r"Cannot connect to (?:rediss?|redis\+socket|redis\+sentinel|sentinel)://"
_RESTORED = r"(?:^|\s)Connected to (?:rediss?|redis\+socket|redis\+sentinel|sentinel)://"  # kombu, after a retry
_CONNECT = (
    r"(?i:error -?\d+ connecting to )|(?i:error connecting to )\S|Timeout connecting to server|"
    r"Connect call failed \("
)
_POOL = r"No connection available\.|(?:MaxConnectionsError|ConnectionError)\b\S{0,3}\s*['\"]?Too many connections"
_TIMEOUT = r"(?i:timeout reading from )|Timeout writing to socket"
_LOST = (
    r"Connection closed by server\.|(?i:error while reading from )|(?i:error -?\d+ while writing to socket)|"
    r"Bad response from PING health check|Connection has data|Connection not ready|"
    r"ConnectionClosedError|Reader at end of file"
)
# A pipeline that had WATCHed keys loses its connection: redis-py raises WatchError with this wording
# (2.x-3.x and aioredis "occured on while", 4.x-7.x "occurred on while", 8.x "A {type(error).__name__}
# occurred while": ConnectionError, TimeoutError, `timeout` for socket.timeout before 3.10).
_WATCH_FAILED = r"\bA (?:[A-Z]\w*Error|timeout) occurr?ed (?:on )?while watching one or more keys"
_WATCH_TIMEOUT = r"\bA (?:TimeoutError|timeout) occurr?ed (?:on )?while watching"
_WATCH_LOST = r"\bA ConnectionError occurr?ed (?:on )?while watching"
_LOADING_STRICT = r"BusyLoadingError"
_AUTH_STRICT = r"AuthenticationError|AuthenticationWrongNumberOfArgsError"
_READONLY_STRICT = r"ReadOnlyError"
# redis-py's class for the server's OOM reply: only a decisive line already found (`_CLASS` needs
# `redis.exceptions.` or no dotted prefix, so `java.lang.OutOfMemoryError` is not one) is classified by it
_OOM_STRICT = r"OutOfMemoryError"
# Server replies every client shows: need Python context (a traceback, a redis-py class, ...).
_MAXCLIENTS = r"max number of clients(?: \+ cluster connections)? reached"
_LOADING = r"Redis is loading the dataset in memory|LOADING Redis is loading"
_AUTH = (
    r"WRONGPASS|NOAUTH|invalid username-password pair|Authentication required\.|ERR invalid password|"
    r"Client sent AUTH, but no password is set|called without any password configured"
)
_READONLY = r"READONLY You can't write|You can't write against a read only (?:replica|slave)"
# the server's own reply (server.c `shared.oomerr`); redis-py keeps its text after dropping the `OOM ` code
_OOM = r"(?:OOM )?command not allowed when used memory > 'maxmemory'"
# redis-py drops the reply's error code (`_parsers/base.py` parse_error: `ERR max number of clients
# reached` -> MaxClientsReachedError / ConnectionError "max number of clients reached"); Jedis, Lettuce,
# ioredis, node-redis, go-redis, redis-rb keep it (`ReplyError: ERR max number ...`). An app logging
# redis-py's str(e) after its own words ends a warning-or-worse line with `: <reply>`: that alone is
# redis-py's, with no traceback in the file (scaled-out pods that never failed otherwise). A sentence
# quoting the reply (in quotes, mid-line, after `ERR `, at info level) is not.
_PY_MAXCLIENTS_TAIL = r"(?m):[ \t]+max number of clients(?: \+ cluster connections)? reached[ \t]*$"
_POOL_SHARED = r"Too many connections"
_BUSY = r"BUSY Redis is busy running a (?:script|module command)"  # a script blocks the server (the blocking-command rule)
# Class-only evidence (7.2+ `%r` is `network:ConnectionError`; bare `redis.exceptions.X` lines).
# An exception line: the class then `: message` or nothing, so source lines (`raise X(...)`,
# `except X:`) are not evidence.
_CLASS = (
    r"(?m:(?:^|[^\w.\n])(?:(?:redis|aioredis|django_redis)\.(?:exceptions|errors)\.\w+|ConnectionInterrupted|"
    r"ResponseError|OutOfMemoryError|ClusterDownError|MasterDownError|MaxConnectionsError|NoScriptError|"
    r"ExecAbortError|PubSubError)(?::[ \t]+\S|$))|\b(?:network|tls|auth|server):[A-Z]\w*Error\b|"
    # optimistic-lock conflict (EXEC answered nil): a redis-py error, not a connectivity one; the
    # bare wording "Watched variable changed" is other software's too, so the class must be there
    # (`WatchError: ...`, or its repr after `: ` / at a line start, unlike `raise WatchError("...")`)
    r"(?:\bWatchError: |(?m:^|: )WatchError\(['\"])Watched variable changed\."
)
# Socket-level builtins: only inside a traceback through redis-py (or its `sock.connect(...)` line).
_SOCK_CONNECT = (
    r"ConnectionRefusedError|\[Errno 111\]|\[WinError 10061\]|gaierror|Name or service not known|"
    r"Temporary failure in name resolution|nodename nor servname|No route to host|Too many open files"
)
_SOCK_LOST = r"ConnectionResetError|BrokenPipeError|\[Errno 104\]|\[Errno 32\]|\[WinError 10054\]|Connection reset by peer"
_SOCK_TIMEOUT = r"(?:socket\.)?timeout: timed out|TimeoutError: (?:\[Errno 110\]|timed out)|Connection timed out"

_STRICT = "|".join((_RECONNECT, _RESTORED, _CONNECT, _POOL, _TIMEOUT, _LOST, _WATCH_FAILED, _LOADING_STRICT, _AUTH_STRICT,
                    _READONLY_STRICT))
_SHARED = "|".join((_MAXCLIENTS, _LOADING, _AUTH, _READONLY, _POOL_SHARED, _BUSY, _OOM))
_SOCKET = "|".join((_SOCK_CONNECT, _SOCK_LOST, _SOCK_TIMEOUT))



# The redis-py wording inside a decisive line (drops envelope debris and pasted tails).
_DETAIL = (
    r"(?i)(?:cannot connect to \S+ )?(?:error -?\d+ connecting to |error connecting to |error -?\d+ while writing to )"
    r"(?:unix socket: )?\S+?\.(?: [^.\n]*\.?|$)|(?i)error while reading from [^\n]*?(?:\)|$)|"
    r"(?i)timeout (?:reading from|writing to|connecting to) [\w.:/\[\]-]*\w|Connection closed by server\.|"
    r"Too many connections|No connection available\.|max number of clients(?: \+ cluster connections)? reached|"
    r"Redis is loading the dataset in memory|" + _WATCH_FAILED
)
_EXC_TOKEN = r"[A-Za-z_][\w.]*(?:Error|Exception|Interrupted)(?::|\(|$| at )"


_PY_CONTEXT = (
    r"Traceback \(most recent call|File \"[^\"]+\", line \d+|(?:redis|aioredis)\.(?:exceptions|errors|asyncio)|"
    r"django_redis|kombu|celery|\b(?:ConnectionError|TimeoutError|ResponseError|BusyLoadingError|ReadOnlyError|"
    r"AuthenticationError|OutOfMemoryError|MaxConnectionsError|MaxClientsReachedError|ConnectionInterrupted|"
    r"RedisError)(?::\s|\(['\"])"
)
_REDIS_FRAMES = r"File \"[^\"]*[/\\](?:redis|aioredis)[/\\][^\"]*\", line \d+|\bsock\.connect\(socket_address\)"
_FOREIGN = (
    r"(?i)\bioredis|redisson|jedis|lettuce|node_modules|StackExchange\.Redis|RedisConnectionException|"
    r"RedisTimeoutException|ECONNREFUSED|\.js:\d+|\.java:\d+|\.cs:line \d+|(?m:^\s+at [\w.$<>]+[ (])"
)
_TAIL = r"(?m)^\s*[A-Za-z_][\w.]*(?:Error|Exception|Interrupted|Exit)(?::|$)"

# --- configuration ------------------------------------------------------------------------------------------
_VERSION = (
    r"(?i)\bredis-py[ /v:=]*(\d+\.\d+(?:\.\d+)?\w*)|(?:^|[\s,;'\"(\[])redis==(\d+\.\d+(?:\.\d+)?\w*)|"
    r"redis\.__version__\W{1,6}(\d+\.\d+(?:\.\d+)?\w*)"
)
_URL = r"(?i)\b((?:rediss?|unix|redis\+sentinel|redis\+socket)://[^\s'\"<>,]+)"
_CONFIG = (
    r"\b(?:Strict)?Redis(?:Cluster)?\(|\b(?:Blocking)?ConnectionPool\(|\bfrom_url\(|\bRetry\(|"
    r"\b(?:No|Constant|Exponential\w*|FullJitter|EqualJitter|DecorrelatedJitter)Backoff\(|"
    r"\b(?:socket_timeout|socket_connect_timeout|max_connections|health_check_interval|retry_on_timeout)['\"]?\s*[=:]|"
    r"(?i:\b(?:transport|results|broker\w*|result_backend|location|\w*redis\w*url|url)\b['\"]?\s*[:=>.]*\s*['\"]?"
    r"(?:rediss?|unix)://)|(?i:rediss?://\S*\?\S*=)|" + _VERSION
)
OPTIONS = (
    "host", "port", "db", "username", "max_connections", "socket_timeout", "socket_connect_timeout",
    "socket_keepalive", "health_check_interval", "retry_on_timeout", "retries", "timeout", "ssl",
    "client_name", "decode_responses",
)
_RETRY = (
    r"Retry\(\s*(?:backoff\s*=\s*)?(?P<backoff>\w+Backoff)\((?P<args>[^()]*)\)\s*,\s*(?:retries\s*=\s*)?"
    r"(?P<retries>-?\d+)"
)


def _option(text: pl.Expr, key: str) -> pl.Expr:
    """`key=value` / `'key': value` / `?key=value`, quotes stripped; None stays "None" (it means unbounded)."""
    return (
        text.str.extract(r"(?:^|[\s,(?&{'\"])" + key + r"['\"]?\s*[=:]\s*('[^']*'|\"[^\"]*\"|[^,\s)}&\]]+)", 1)
        .str.strip_chars("'\"")
    )


def _classify(hit: pl.Expr, phase: pl.Expr) -> pl.Expr:
    """The kind for the decisive line (priority: most specific first)."""
    cls = hit.str.extract(r"(?:^|[\s.:(])(\w+Error)\b", 1)
    return (
        pl.when(hit.str.contains(_RECONNECT)).then(pl.lit("redis.reconnect_attempt"))
        .when(hit.str.contains(_RESTORED)).then(pl.lit("redis.connection_restored"))
        .when(hit.str.contains(_MAXCLIENTS)).then(pl.lit("redis.max_clients"))
        .when(hit.str.contains(_POOL + "|" + _POOL_SHARED + r"|MaxConnectionsError")).then(pl.lit("redis.pool_exhausted"))
        .when(hit.str.contains(_BUSY)).then(pl.lit("redis.busy"))
        .when(hit.str.contains(_LOADING_STRICT + "|" + _LOADING)).then(pl.lit("redis.loading"))
        .when(hit.str.contains(_AUTH_STRICT + "|" + _AUTH)).then(pl.lit("redis.auth_failed"))
        .when(hit.str.contains(_READONLY_STRICT + "|" + _READONLY)).then(pl.lit("redis.readonly"))
        .when(hit.str.contains(_OOM_STRICT + "|" + _OOM)).then(pl.lit("redis.oom"))
        # Lost while watching: WATCH had been answered on that connection (redis-py sets `watching` only
        # then), so it was established and then failed. Like every errno-less ConnectionError wording
        # here ("Connection closed by server.", "Error while reading from"), that is connection_lost;
        # connect_failed needs connect wording or a connect errno. The subclasses named in 8.x
        # wording (BusyLoadingError, AuthenticationError, MaxConnectionsError) matched their kinds above.
        .when(hit.str.contains(_WATCH_TIMEOUT)).then(pl.lit("redis.timeout"))
        .when(hit.str.contains(_WATCH_LOST)).then(pl.lit("redis.connection_lost"))
        .when(hit.str.contains(_CONNECT + "|" + _SOCK_CONNECT)).then(pl.lit("redis.connect_failed"))
        .when(hit.str.contains(_TIMEOUT)).then(pl.lit("redis.timeout"))
        .when(hit.str.contains(_LOST + "|" + _SOCK_LOST)).then(pl.lit("redis.connection_lost"))
        .when(hit.str.contains(_SOCK_TIMEOUT) & (phase == "connect")).then(pl.lit("redis.connect_failed"))
        .when(hit.str.contains(_SOCK_TIMEOUT)).then(pl.lit("redis.timeout"))
        .when(cls == "TimeoutError").then(pl.lit("redis.timeout"))
        .when(hit.str.contains(BROKER_LOST_TEXT)).then(pl.lit("redis.connection_lost"))
        .otherwise(pl.lit("redis.error"))
    )


def _phase(text: pl.Expr, hit: pl.Expr) -> pl.Expr:
    """Where it failed: from the message wording, else the last redis-py frame's function."""
    fn = text.str.extract_all(r"(?m), in (\w+)\s*$").list.last().str.extract(r"in (\w+)", 1)
    return (
        pl.when(hit.str.contains(r"(?i)connecting to|Connect call failed|Cannot connect to")).then(pl.lit("connect"))
        .when(hit.str.contains(r"(?i)reading from")).then(pl.lit("read"))
        .when(hit.str.contains(r"(?i)writing to")).then(pl.lit("write"))
        .when(text.str.contains(r"\bsock\.connect\(")).then(pl.lit("connect"))
        .when(fn.is_in(["connect", "_connect", "on_connect", "create_connection", "connect_check_health"]))
        .then(pl.lit("connect"))
        .when(fn.is_in(["read_response", "_read_response", "_read_from_socket", "readline", "read", "recv",
                        "can_read", "read_from_socket"])).then(pl.lit("read"))
        .when(fn.is_in(["send_packed_command", "sendall", "send_command", "_send_packed_command"])).then(pl.lit("write"))
    )


def _endpoint(s: pl.Expr) -> pl.Expr:
    """`host:port` from the places redis-py names an endpoint (message wording, redis URLs)."""
    host = r"([\w.-]*[\w]|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f]*:[0-9A-Fa-f:]*[0-9A-Fa-f])"
    return pl.coalesce(
        s.str.extract(r"(?i)(?:connecting to|reading from|timeout reading from)\s+(?:unix socket: )?" + host + r":(\d{1,5})\b", 0)
        .str.replace(r"(?i)^(?:connecting to|reading from|timeout reading from)\s+(?:unix socket: )?", ""),
        s.str.extract(r"(?i)(?:rediss?|redis\+socket)://(?:[^@\s/]*@)?" + host + r":(\d{1,5})\b", 0)
        .str.replace(r"(?i)^[a-z+]+://(?:[^@\s/]*@)?", ""),
        s.str.extract(r"on node " + host + r":(\d{1,5})\b", 0).str.replace(r"^on node ", ""),
    )


def _first_found(df: pl.DataFrame, name: str, first: pl.Expr, *rest: pl.Expr) -> pl.DataFrame:
    """`df` with column `name` = `coalesce(first, *rest)`, the `rest` searched only on the rows `first` left null:
    polars' coalesce evaluates every input on every row, and in a storm the first search finds most rows' line."""
    df = df.with_columns(first.alias(name))
    missing = df.get_column(name).is_null()
    if not missing.any():
        return df
    if missing.all():
        return df.with_columns(pl.coalesce(*rest).alias(name))
    at = missing.arg_true()
    found = df[at].select(pl.coalesce(*rest).alias(name)).get_column(name)
    return df.with_columns(df.get_column(name).scatter(at, found))


class RedisPyRecognizer:
    name: ClassVar[str] = "redis_py"
    kinds: ClassVar[tuple[Kind, ...]] = (
        ck.TIMEOUT, ck.CONNECT_FAILED, ck.CONNECTION_LOST, ck.CONNECTION_RESTORED, ck.RECONNECT_ATTEMPT,
        ck.POOL_EXHAUSTED, ck.MAX_CLIENTS, ck.BUSY, ck.LOADING, ck.AUTH_FAILED, ck.READONLY, ck.OOM, ck.ERROR, ck.CONFIG,
    )
    # words that keep a one-line INFO record out of noise folding (parsers/noise.py)
    keep_words: ClassVar[tuple[str, ...]] = (
        "redis", "timeout", "connect", "pool", "clients", "readonly", "read only", "wrongpass", "noauth",
        "econn", "errno", "refused", "reset", "broken pipe", "kombu", "celery", "sentinel", "cluster",
        "master", "replica", "slave", "loading", "retry", "@", "://", "busy", "maxmemory",
    )
    example: ClassVar[str] = "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused."
    samples: ClassVar[tuple[str, ...]] = (
        "ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
        "` server - Error trying to receive messages: Error 10061 connecting to localhost:6379. No connection could be "
        "made because the target machine actively refused it.`",
        "[2016-02-08 19:12:36,069: ERROR/MainProcess] Unrecoverable error: TimeoutError('Timeout reading from socket',)",
        "controller_1  | [2020-03-09 17:31:21,787: ERROR/MainProcess] consumer: Cannot connect to redis://localhost:6379/1: "
        "Error 99 connecting to localhost:6379. Cannot assign requested address..\n"
        "controller_1  | Trying again in 6.00 seconds... (3/100)",
        "ERROR Handled exception: BusyLoadingError: Redis is loading the dataset in memory",
        "redis.exceptions.ResponseError: BUSY Redis is busy running a script. You can only call SCRIPT KILL or "
        "SHUTDOWN NOSAVE.",
        "redis.exceptions.ConnectionError: Error while reading from socket: ('Connection closed by server.',)",
        "Error while reading from bytedeck-redis.ilwwmc.0001.cac1.cache.amazonaws.com:6379 : (110, 'Connection timed out')",
        "redis.exceptions.ConnectionError: Error 97 connecting to localhost:6379. Address family not supported by protocol.",
        "worker_1    |     sock.connect(socket_address)\nworker_1    | TimeoutError: [Errno 110] Connection timed out",
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        candidate = (
            text.str.contains(_STRICT + "|" + _SHARED + "|" + _SOCKET + "|" + _CLASS + "|" + _REDIS_FRAMES + "|" + _CONFIG)
            & ~pl.col("envelope").is_in(REDIS_ENVELOPES).fill_null(False)
            # a retry or breaker line quoting a Redis error is theirs (parsers/retries.py, breakers.py)
            & ~text.str.contains(RETRY_TEXT + "|" + BREAKER_TEXT)
        )
        # celery prints "Trying again in ..." on the next line; pasted text may frame it apart
        # the next record of the same file (recognition may run over many files at once)
        nxt = text.shift(-1).over("path") if "path" in records.columns else text.shift(-1)
        # A file whose other records show redis-py (a redis.exceptions traceback, a logged client
        # config) is a redis-py app log: its bare server replies ("max number of clients reached")
        # are redis-py's too, even on lines with no Python context of their own. "File" means the
        # records of that file in this recognition batch (a file over 16 MiB may span batches).
        # the searches read again below are columns, made once (an eager frame runs an expression at every use)
        records = records.with_columns(_py_context=text.str.contains(_PY_CONTEXT), _config=text.str.contains(_CONFIG))
        py_record = pl.col("_py_context") & text.str.contains(r"redis|Redis")
        py_file = (py_record | pl.col("_config")).any()
        py_file = py_file.over("path") if "path" in records.columns else py_file
        # celery's `Connection to broker lost` when its broker is Redis (by the URL: parsers/queues.py)
        lost_broker = redis_broker(records)
        df = records.with_columns(_next=nxt, _py_file=py_file, _redis_broker=lost_broker).filter(candidate | lost_broker)
        if df.height == 0:
            return no_claims()
        level = pl.col("level") if "level" in records.columns else pl.lit(None, pl.String)
        py_reply = text.str.contains(_PY_MAXCLIENTS_TAIL) & level.is_in(["warning", "error", "critical"]).fill_null(False)
        py = pl.col("_py_context") | pl.col("_py_file") | py_reply
        df = df.with_columns(_frames=text.str.contains(_REDIS_FRAMES))
        frames = pl.col("_frames")
        foreign = text.str.contains(_FOREIGN) & ~text.str.contains(r"redis\.exceptions\.|" + _REDIS_FRAMES)
        strict = text.str.extract_all(whole_line(_STRICT)).list.last()
        shared = pl.when(py).then(text.str.extract_all(whole_line(_STRICT + "|" + _SHARED)).list.last())
        sock = pl.when(frames).then(text.str.extract_all(whole_line(_SOCKET)).list.last())
        cls = text.str.extract_all(whole_line(_CLASS)).list.last()
        broker = pl.when(pl.col("_redis_broker")).then(text.str.extract(whole_line(BROKER_LOST_TEXT), 0))
        df = _first_found(df, "_hit", shared, strict, sock, cls, broker)
        df = df.with_columns(
            _foreign=foreign,
            # a traceback through redis-py whose exception line was cut off (pasted fragments)
            _cut=frames & ~text.str.contains(_TAIL) & (text.str.count_matches(r'File "') >= 2),
        ).filter(~pl.col("_foreign"))
        hit = pl.col("_hit")
        df = df.with_columns(_phase=_phase(text, hit.fill_null("")))
        error_kind = _classify(hit, pl.col("_phase"))
        df = df.with_columns(
            kind=pl.when(hit.is_not_null()).then(error_kind)
            .when(pl.col("_cut")).then(pl.lit("redis.error"))
            .when(pl.col("_config")).then(pl.lit("redis.config"))
        ).filter(pl.col("kind").is_not_null())
        if df.height == 0:
            return no_claims()
        errors = self._errors(df.filter(pl.col("kind") != "redis.config"))
        configs = self._configs(df.filter(pl.col("kind") == "redis.config"))
        return pl.concat([errors, configs], how="diagonal_relaxed").sort("rec")

    @staticmethod
    def _errors(df: pl.DataFrame) -> pl.DataFrame:
        """Error events. What they say depends on the decisive line, the kind, the phase and a few things
        taken from the whole text (fallbacks when the line lacks them); those are taken per record, and
        the rest is worked out once per distinct combination: a storm repeats the same few lines."""
        text = pl.col("text").fill_null("")
        df = df.with_columns(
            _text_errno=pl.coalesce(
                text.str.extract(r"(?i)error (-?\d+) (?:connecting|while)", 1),
                text.str.extract(r"\[(?:Errno|WinError) (-?\d+)\]", 1),
            ),
            _text_endpoint=_endpoint(text),
            _retry_line=pl.coalesce(
                text.str.extract(r"(Trying again in [^\n]*)", 1),
                pl.when(pl.col("kind") == "redis.reconnect_attempt").then(
                    pl.col("_next").str.extract(r"^\W*(Trying again in [^\n]*)", 1)),
            ),
            _last_fn=pl.when(pl.col("_hit").is_null()).then(
                text.str.extract_all(r"(?m), in (\w+)\s*$").list.last().str.extract(r"in (\w+)", 1)),
            _first_line=pl.when(pl.col("_hit").is_null()).then(text.str.extract(r"^\s*([^\n]*)", 1)),
        )
        keys = ["kind", "_hit", "_phase", "_text_errno", "_text_endpoint", "_retry_line", "_last_fn", "_first_line"]
        distinct = df.select(keys).unique(maintain_order=True)
        hit = pl.col("_hit").str.strip_chars()
        classes = hit.str.extract_all(_EXC_TOKEN).list.eval(pl.element().str.extract(r"^([\w.]+)", 1))
        errno = pl.coalesce(
            hit.str.extract(r"(?i)error (-?\d+) (?:connecting|while)", 1),
            hit.str.extract(r"\[(?:Errno|WinError) (-?\d+)\]", 1),
            hit.str.extract(r"\((-?\d+), '", 1),
            pl.col("_text_errno"),
        ).cast(pl.Int64, strict=False)
        endpoint = pl.coalesce(_endpoint(hit), pl.col("_text_endpoint"))
        ep = endpoint.str.extract_groups(r"^(?P<host>.+):(?P<port>\d+)$")
        socket_path = hit.str.extract(r"connecting to (?:unix socket: )?(/\S+?)\.(?:\s|$)", 1)
        detail = pl.coalesce(
            hit.str.extract("(" + _DETAIL + ")", 1),
            hit.str.extract(r"^(?:.*\b[A-Za-z_][\w.]*(?:Error|Exception|Interrupted)(?::\s+|\(['\"]))?(.*)$", 1)
            .str.replace(r"['\"],?\)$", ""),
        )
        retry_rx = r"Trying again in (?P<s>[\d.]+) seconds\.*(?: \((?P<n>\d+)/(?P<max>\d+)\))?"
        retry = pl.col("_retry_line").str.extract_groups(retry_rx)
        timeout = pl.col("_hit").str.contains(r"(?i)timeout|timed out|\b110\b|WinError 10060") | (errno == 110)
        said = distinct.with_columns(
            entity=pl.coalesce(
                pl.lit("redis:") + endpoint,
                pl.lit("redis:") + socket_path,
            ),
            message=pl.coalesce(hit, pl.col("_first_line")).str.slice(0, 2000),
            value=retry.struct.field("s").cast(pl.Float64, strict=False),
            attrs=compact_attrs(
                # an app logging only str(e) of the WatchError: the wording names what redis-py raised
                exception=pl.coalesce(classes.list.last().str.extract(r"(\w+)$", 1),
                                      pl.when(hit.str.contains(_WATCH_FAILED)).then(pl.lit("WatchError"))),
                cause=hit.str.extract(r"\bA ([A-Z]\w*Error|timeout) occurr?ed (?:on )?while watching", 1),
                wrapper=pl.when(classes.list.len() > 1).then(classes.list.first()),
                errno=errno,
                host=ep.struct.field("host"),
                port=ep.struct.field("port").cast(pl.Int64, strict=False),
                socket=socket_path,
                error=detail.str.strip_chars().str.slice(0, 500),
                phase=pl.col("_phase"),
                timeout=pl.when(timeout).then(pl.lit(True)),
                retry_in_s=retry.struct.field("s").cast(pl.Float64, strict=False),
                attempt=retry.struct.field("n").cast(pl.Int64, strict=False),
                max_attempts=retry.struct.field("max").cast(pl.Int64, strict=False),
                truncated=pl.when(pl.col("_hit").is_null()).then(pl.lit(True)),
                last_frame=pl.when(pl.col("_hit").is_null()).then(pl.col("_last_fn")),
            ),
        )
        return df.select("rec", *keys).join(said, on=keys, how="left", nulls_equal=True, maintain_order="left").select(
            "rec", "kind", "entity", "message", "value", "attrs")

    @staticmethod
    def _configs(df: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        # the config line once, as a column: an eager select evaluates a shared expression at every use
        df = df.with_columns(_line=pl.coalesce(text.str.extract_all(whole_line(_CONFIG)).list.first(),
                                               text.str.extract(r"^([^\n]*)", 1)))
        line = pl.col("_line")
        url = line.str.extract(_URL, 1)
        url_ep = url.str.extract_groups(
            r"(?i)^[a-z+]+://(?:[^@/\s]*@)?(?P<host>\[[^\]]+\]|[^:/?\s]+)(?::(?P<port>\d+))?(?:/(?P<db>\d+))?"
        )
        retry = line.str.extract_groups(_RETRY)
        version = line.str.extract_groups(_VERSION)
        opts = {k: _option(line, k) for k in OPTIONS}
        host = pl.coalesce(opts["host"], url_ep.struct.field("host"))
        port = pl.coalesce(opts["port"], url_ep.struct.field("port"))
        pool = line.str.extract(r"\b((?:Blocking)?ConnectionPool)\(", 1)
        return df.select(
            "rec",
            "kind",
            entity=pl.when(host.is_not_null()).then(
                pl.lit("redis:") + host + pl.when(port.is_not_null()).then(pl.lit(":") + port).otherwise(pl.lit(""))
            ),
            message=line.str.strip_chars().str.slice(0, 2000),
            attrs=compact_attrs(
                client=pl.lit("redis_py"),
                version=pl.coalesce(*(version.struct.field(str(i)) for i in (1, 2, 3))),
                url=url,
                host=host,
                port=port,
                db=pl.coalesce(opts["db"], url_ep.struct.field("db")),
                password=pl.when(line.str.contains(r"(?i)\bpassword\s*[=:]|://[^:/@\s]*:[^@/\s]+@")).then(pl.lit("***")),
                pool=pool,
                constructor=line.str.extract(r"\b((?:Strict)?Redis(?:Cluster)?(?:\.from_url)?)\(", 1),
                retry=line.str.extract(r"\b(Retry\([^()]*(?:\([^()]*\)[^()]*)*\))", 1),
                backoff=pl.coalesce(retry.struct.field("backoff"),
                                    line.str.extract(r"\b(\w+Backoff)\(", 1)),
                backoff_args=retry.struct.field("args"),
                **{k: v for k, v in opts.items() if k not in ("host", "port", "db", "retries")},
                retries=pl.coalesce(retry.struct.field("retries"), opts["retries"]),
            ),
        )
