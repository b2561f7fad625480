"""redis-server's own log: startup, readiness, shutdown, limits, accept errors and connection churn.

The envelope framer already splits `pid:role DD Mon [YYYY] HH:MM:SS.mmm <mark> message` (and the
2.x `[pid] ...` layout) into `thread`, `ts`, `level` and the message. This recognizer classifies the
message. It also reads lines whose redis header the framer did not see (syslog or journal noise in
front of it) and message-only text whose wording is unique to redis-server (pasted fragments).
Generic wording (`Accepted 1.2.3.4:5`, `Client closed connection`) is claimed only with a redis header.

Connection churn (`client_accepted` / `client_closed`) can be one line per connection, a million rows
for a verbose incident log, so the framer may summarize it: one record for the churn lines of one
file, host, kind and second, with `n_lines` connections from `line` to `last_line`, carrying the
first line's time and text. Its event keeps that first line as example and evidence, with `value` =
how many connections (1.0 for a single line) so counts sum `postmortem.schema.event_weight()`.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers import redis_client_kinds as ck
from parsers.base import attrs_json, no_claims
from parsers.metrics.rows import SAMPLE_KIND
from parsers.slow_commands import SLOW_COMMAND
from postmortem.model import Kind

REDIS_ENVELOPES = ("redis_server", "redis_server_prefixed", "redis_signal")
ROLE_NAMES = {"X": "sentinel", "C": "child", "S": "replica", "M": "master"}
# level (normalized by the framer) back to the redis marker: . debug, - verbose, * notice, # warning
MARKERS = {"trace": ".", "debug": "-", "info": "*", "warning": "#"}

_HEADER = (
    r"(?:(?P<pid>\d+):(?P<role>[XCSM])|\[(?P<opid>\d+)\]) \d\d? [A-Z][a-z]{2}(?: \d{4})? "
    r"\d\d:\d\d:\d\d(?:\.\d+)? (?P<mark>[.*#-]) (?P<msg>.*)$"
)
_EMBEDDED = r"^.*?(?:^|[\s:])" + _HEADER  # a redis header after syslog / journal / paste noise

_LOGO_VERSION = r"Redis (\d+\.\d+\.\d+) \([0-9a-f]+/\d+\) \d+ bit"
_CONF_DIRECTIVE = (
    r"^(maxclients|tcp-backlog|timeout|tcp-keepalive|maxmemory|maxmemory-policy|maxmemory-clients|"
    r"max-new-connections-per-cycle|max-new-tls-connections-per-cycle|client-output-buffer-limit|port|bind|"
    r"loglevel|protected-mode|appendonly|save)\s+(\S.*?)\s*$"
)

# (kind, attrs["event"], pattern over the message) in priority order. `generic` rows need a redis header.
_RULES: tuple[tuple[str, str, str, bool], ...] = (
    ("redis.server.start", "starting", r"oO0OoO0OoO0Oo Redis is starting", False),
    ("redis.server.start", "started", r"^Server started, Redis version \S+", False),
    ("redis.server.log", "version", r"^Redis version=\S+, bits=", False),
    ("redis.server.ready", "ready", r"^Ready to accept connections", False),
    ("redis.server.ready", "ready", r"^The server is now ready to accept connections", False),
    ("redis.server.shutdown", "requested", r"^(?:User requested shutdown|Received SIG\w+ scheduling shutdown)", False),
    ("redis.server.shutdown", "exit", r"Redis is now ready to exit", False),
    ("redis.server.shutdown", "fatal_load_error", r"^Fatal error loading the DB", False),
    ("redis.server.warning", "maxclients", r"maxclients has been reduced to -?\d+", False),
    ("redis.server.warning", "maxclients", r"^You requested maxclients of \d+", False),
    ("redis.server.warning", "maxclients", r"setting the max clients configuration to -?\d+", False),
    ("redis.server.warning", "maxclients", r"not able to handle the specified number of clients", False),
    ("redis.server.warning", "open_files", r"^Server can't set maximum open files to \d+", False),
    ("redis.server.warning", "accept_error", r"^Error accepting a client connection", False),
    ("redis.server.warning", "accept_error", r"^Accepting client connection: ", False),
    ("redis.server.warning", "accept_error", r"^accept4?\(\d+, .*\) = -1 E[MN]FILE", False),
    ("redis.server.warning", "fd_event_error", r"^Error registering fd event for the new client", False),
    ("redis.server.warning", "tcp_backlog", r"The TCP backlog setting of \d+ cannot be enforced", False),
    ("redis.server.warning", "overcommit_memory", r"overcommit_memory is set to 0", False),
    ("redis.server.warning", "thp", r"WARNING you have Transpar|Transparent Huge Pages \(THP\)", False),
    ("redis.server.warning", "output_buffer_limit", r"for overcoming of output buffer limits", False),
    ("redis.server.warning", "query_buffer_limit", r"^Closing client that reached max query buffer length", False),
    ("redis.server.warning", "client_eviction", r"^Evicting client: ", False),
    ("redis.server.warning", "replication_link_lost", r"^Connection with (?:master|replica \S+) lost", False),
    ("redis.server.warning", "no_config_file", r"^Warning: no config file specified", False),
    (
        "redis.server.warning", "rdb_error",
        r"^(?:Can't handle RDB format version|Short read or OOM loading DB|Wrong RDB checksum|"
        r"Bad file format reading the append only file|Background saving error|Failed opening the RDB file|"
        r"Write error saving DB on disk)",
        False,
    ),
    ("redis.slow_command", "slow_script", r"^(?:Lua )?[Ss]low script detected: still in execution after \d+ milliseconds", False),
    ("redis.server.log", "open_files", r"^Increased maximum number of open files to \d+", False),
    ("redis.server.log", "loaded", r"^DB loaded from (?:disk|append only file): [\d.]+ seconds", False),
    ("redis.server.warning", "other", r"^WARNING\b", True),
    ("redis.server.client_accepted", "accepted", r"^Accepted (?:\S+:\d+|connection to \S+)\s*$", True),
    ("redis.server.client_closed", "closed", r"^Client closed connection", True),
    ("redis.server.client_closed", "idle", r"^Closing idle client", True),
    ("redis.server.client_closed", "read_error", r"^Reading from client: ", True),
    ("metric.sample", "clients", r"^\d+ clients connected \(\d+ (?:slaves|replicas)\), \d+ bytes in use", True),
)


def _num(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Float64, strict=False)


def compact_attrs(**fields: pl.Expr) -> pl.Expr:
    """`attrs_json` without the null fields, so each kind carries only what it has."""
    return (
        attrs_json(**fields)
        .str.replace_all(r'"[\w]+":null,?', "")
        .str.replace(r",\}$", "}")
    )


CHURN_KINDS = ("redis.server.client_accepted", "redis.server.client_closed")


def _churn_lines(df: pl.DataFrame) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(connections, last line, seconds to the last line) of a churn record: `n_lines` (1 when absent),
    `last_line` and `last_span` (may be null).

    A framer summary holds only its first line's text; a churn line that swallowed continuation lines
    (text with a newline, no `last_line`) is still one connection.
    """
    n = pl.col("n_lines").cast(pl.Float64, strict=False) if "n_lines" in df.columns else pl.lit(None, pl.Float64)
    last = pl.col("last_line").cast(pl.UInt32, strict=False) if "last_line" in df.columns else pl.lit(None, pl.UInt32)
    span = pl.col("last_span").cast(pl.Float64, strict=False) if "last_span" in df.columns else pl.lit(None, pl.Float64)
    summary = last.is_not_null() | ~pl.col("text").fill_null("").str.contains("\n", literal=True)
    return pl.when(summary).then(n.fill_null(1.0).clip(lower_bound=1.0)).otherwise(pl.lit(1.0)), last, span


def _churn_message(m: pl.Expr, n: pl.Expr, last: pl.Expr) -> pl.Expr:
    """The line itself; for a summary `57 × Accepted 10.1.201.171:54030 … (lines 1200–1290)`."""
    lines = pl.when(last.is_not_null()).then(
        pl.format(" (lines {}–{})", pl.col("line"), last)
    ).otherwise(pl.lit(""))
    return pl.when(n > 1).then(
        pl.format("{} × {} …", n.cast(pl.Int64), m.str.slice(0, 200)) + lines
    ).otherwise(m.str.slice(0, 2000))


FAMILY = "redis_server"
START = Kind("redis.server.start", FAMILY, "`Redis is starting` / `Server started, Redis version …`",
             routine=True)
READY = Kind("redis.server.ready", FAMILY, "`Ready to accept connections`", routine=True)
SHUTDOWN = Kind("redis.server.shutdown", FAMILY, "the server shuts down or cannot load its data")
WARNING = Kind("redis.server.warning", FAMILY, "warnings that matter to a storm (limits, accept errors, …)")
LOG = Kind("redis.server.log", FAMILY, "any other redis-server line worth keeping")
CLIENT_ACCEPTED = Kind("redis.server.client_accepted", FAMILY, "verbose `Accepted host:port`",
                       attempt=True, weighted=True)
CLIENT_CLOSED = Kind("redis.server.client_closed", FAMILY, "verbose `Client closed connection` and kin",
                     weighted=True)


class RedisServerRecognizer:
    name: ClassVar[str] = "redis_server"
    kinds: ClassVar[tuple[Kind, ...]] = (
        START, READY, SHUTDOWN, WARNING, LOG, CLIENT_ACCEPTED, CLIENT_CLOSED, ck.CONFIG, SAMPLE_KIND, SLOW_COMMAND,
    )
    # words that keep a one-line INFO record out of noise folding (parsers/noise.py); redis-server's own
    # envelopes are never folded
    keep_words: ClassVar[tuple[str, ...]] = (
        "accepted", "closed", "clients", "maxclients", "ulimit", "somaxconn", "oom", "memory", "config",
        "version", "signal", "exit", "abort", "master", "replica",
    )
    example: ClassVar[str] = "1:M 15 Jan 2024 10:02:11.532 # WARNING: The TCP backlog setting of 511 cannot be enforced ..."
    samples: ClassVar[tuple[str, ...]] = (
        "18651:C 07 Jun 16:49:09.526 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo\n"
        "18651:C 07 Jun 16:49:09.527 # Redis version=4.0.9, bits=64, commit=00000000, modified=0, pid=18651, just started\n"
        "18651:M 07 Jun 16:49:09.530 * Ready to accept connections\n",
        "1:M 31 Jul 2020 22:35:05.210 # WARNING: The TCP backlog setting of 511 cannot be enforced because "
        "/proc/sys/net/core/somaxconn is set to the lower value of 128.\n",
        "[4252] 08 Oct 21:13:53.518 # Accepting client connection: accept: Unknown error\n"
        "[5820] 08 Oct 21:13:54.888 # Server started, Redis version 2.8.12\n",
        "32316:M 19 Sep 15:15:42.466 # Error registering fd event for the new client: Numerical result out of "
        "range (fd=10128)\n",
        "[1249] 05 May 14:41:13.131 * DB loaded from disk: 56.168 seconds\n"
        "[1249] 05 May 14:41:13.132 * The server is now ready to accept connections on port 6379\n",
        "Sep  3 10:19:40 localhost redis-server: 6082:M 03 Sep 2022 10:19:40.949 # WARNING overcommit_memory is set "
        "to 0! Background save may fail under low memory condition.\n",
        "2023-04-05 11:47:26 1:M 05 Apr 2023 09:47:26.931 # Fatal error loading the DB: Invalid argument. Exiting.\n",
        "cache_1     | 1:M 07 Jan 2023 19:16:34.747 * Ready to accept connections\n",
        "subscribe scheduled to be closed ASAP for overcoming of output buffer limits.\n",
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        env = pl.col("envelope").is_in(REDIS_ENVELOPES).fill_null(False)
        df = records.with_columns(
            _first=text.str.splitn("\n", 2).struct.field("field_0").str.strip_chars_end(), _env=env
        )
        # Records without a redis header: one pass keeps only those that could be redis-server text.
        loose = "|".join([_EMBEDDED, _LOGO_VERSION, _CONF_DIRECTIVE] + [rx for _, _, rx, generic in _RULES if not generic])
        other = df.filter(~pl.col("_env")).filter(
            pl.col("_first").str.strip_chars().str.contains(loose) | text.str.contains(_LOGO_VERSION)
        )
        emb = pl.col("_first").str.extract_groups(_EMBEDDED)
        other = other.with_columns(
            _emb_msg=emb.struct.field("msg"),
            _emb_pid=pl.coalesce(emb.struct.field("pid"), emb.struct.field("opid")),
            _emb_role=emb.struct.field("role"),
            _emb_mark=emb.struct.field("mark"),
        )
        thread = pl.col("thread").fill_null("").str.extract_groups(
            r"^\[?(?P<pid>\d+)\]?(?::(?:(?P<role>[XCSM])|signal-handler))?$"
        )
        headed = pl.concat([df.filter(pl.col("_env")), other], how="diagonal_relaxed").with_columns(
            _thr_pid=thread.struct.field("pid"),
            _thr_role=thread.struct.field("role"),
            _msg=pl.coalesce(pl.col("_emb_msg"), pl.col("_first").str.strip_chars()),
            _headed=pl.col("_env") | pl.col("_emb_msg").is_not_null(),
        )
        # Connection churn dominates verbose logs: classify it with anchored prefixes, fields by name.
        m = pl.col("_msg")
        hot_kind = (
            pl.when(~pl.col("_headed")).then(pl.lit(None, dtype=pl.String))
            .when(m.str.starts_with("Accepted ")).then(pl.lit("redis.server.client_accepted"))
            .when(m.str.starts_with("Client closed connection")).then(pl.lit("redis.server.client_closed"))
        )
        headed = headed.with_columns(_hot=hot_kind)
        hot = headed.filter(pl.col("_hot").is_not_null())
        cold = headed.filter(pl.col("_hot").is_null())
        parts = [self._hot_fields(hot)] if hot.height else []
        cold = self._classify(cold)
        if cold.height:
            parts.append(self._fields(cold))
        if not parts:
            return no_claims()
        return pl.concat(parts, how="diagonal_relaxed").sort("rec")

    @staticmethod
    def _classify(df: pl.DataFrame) -> pl.DataFrame:
        """Kind and event for the rarer lines, by the priority order of `_RULES`."""
        text = pl.col("text").fill_null("")
        m = pl.col("_msg")
        kind = pl.lit(None, dtype=pl.String)
        event = pl.lit(None, dtype=pl.String)
        for k, ev, rx, generic in reversed(_RULES):
            hit = m.str.contains(rx) & (pl.col("_headed") if generic else pl.lit(True))
            kind = pl.when(hit).then(pl.lit(k)).otherwise(kind)
            event = pl.when(hit).then(pl.lit(ev)).otherwise(event)
        logo = text.str.extract(_LOGO_VERSION, 1)
        conf = m.str.extract_groups(_CONF_DIRECTIVE)
        is_conf = conf.struct.field("1").is_not_null() & pl.col("envelope").is_null() & pl.col("_emb_msg").is_null()
        kind = (
            pl.when(kind.is_not_null()).then(kind)
            .when(is_conf).then(pl.lit("redis.config"))
            .when(pl.col("_headed") | logo.is_not_null()).then(pl.lit("redis.server.log"))
        )
        event = pl.when(is_conf & event.is_null()).then(pl.lit("config")).otherwise(event)
        df = df.with_columns(kind=kind, _event=event, _logo=logo,
                             _conf_key=conf.struct.field("1"), _conf_val=conf.struct.field("2"))
        # a pasted ASCII logo (no header): say which line made it a redis-server record
        logo_line = text.str.extract(r"(?m)^[^\n]*?(" + _LOGO_VERSION + r")", 1)
        df = df.with_columns(_msg=pl.when(~pl.col("_headed") & logo.is_not_null() & pl.col("_event").is_null())
                             .then(logo_line).otherwise(pl.col("_msg")))
        return df.filter(pl.col("kind").is_not_null())

    @staticmethod
    def _common(df: pl.DataFrame) -> dict[str, pl.Expr]:
        role = pl.coalesce(pl.col("_emb_role"), pl.when(pl.col("_env")).then(pl.col("_thr_role")))
        host = pl.col("host")
        return {
            "entity": pl.when(host.is_not_null() & (host != "")).then(pl.lit("redis:") + host)
            .otherwise(pl.lit("redis:server")),
            "pid": pl.coalesce(pl.col("_emb_pid"), pl.when(pl.col("_env")).then(pl.col("_thr_pid"))),
            "role": role,
            "role_name": role.replace_strict(ROLE_NAMES, default=None, return_dtype=pl.String),
            "marker": pl.coalesce(
                pl.col("_emb_mark"),
                pl.when(pl.col("_env")).then(
                    pl.col("level").cast(pl.String).replace_strict(MARKERS, default=None, return_dtype=pl.String)
                ),
            ),
        }

    def _hot_fields(self, df: pl.DataFrame) -> pl.DataFrame:
        """Churn rows; a summarized record (`n_lines` > 1) says how many connections and which lines."""
        m = pl.col("_msg")
        c = self._common(df)
        n, last, span = _churn_lines(df)
        many = n > 1
        return df.lazy().select(
            "rec",
            kind=pl.col("_hot"),
            entity=c["entity"],
            message=_churn_message(m, n, last),
            value=n,
            attrs=compact_attrs(
                event=pl.when(pl.col("_hot") == CHURN_KINDS[0]).then(pl.lit("accepted"))
                .otherwise(pl.lit("closed")),
                pid=c["pid"], role=c["role"], role_name=c["role_name"], marker=c["marker"],
                client=pl.coalesce(m.str.extract(r"^Accepted (\S+:\d+)", 1),
                                   m.str.extract(r"^Accepted connection to (\S+)", 1),
                                   m.str.extract(r" addr=(\S+)", 1)),
                summarized=pl.when(many).then(n.cast(pl.Int64)),
                last_line=pl.when(many).then(last),
                span_s=pl.when(many).then(span.round(6)),
            ),
        ).collect()

    def _fields(self, df: pl.DataFrame) -> pl.DataFrame:
        """Per-kind numbers and addresses, read by field name from the classified rows."""
        m = pl.col("_msg")
        version = pl.coalesce(
            m.str.extract(r"^Redis version=([\w.]+)", 1),
            m.str.extract(r"^Server started, Redis version (\S+)", 1),
            pl.col("_logo"),
        )
        # `oO0Oo Redis is starting` (4.0+) is followed by the version line: carry the version over
        def following(e: pl.Expr) -> pl.Expr:  # the next row of the same file
            return e.shift(-1).over("path") if "path" in df.columns else e.shift(-1)

        version = pl.when(pl.col("_event") == "starting").then(
            pl.when(following(pl.col("_event")) == "version").then(following(version))
        ).otherwise(version)
        maxclients = pl.coalesce(
            m.str.extract(r"maxclients has been reduced to (-?\d+)", 1),
            m.str.extract(r"^You requested maxclients of (\d+)", 1),
            m.str.extract(r"setting the max clients configuration to (-?\d+)", 1),
            pl.when(pl.col("_conf_key") == "maxclients").then(pl.col("_conf_val")),
        )
        client = pl.coalesce(
            m.str.extract(r"^Accepted (\S+:\d+)\s*$", 1),
            m.str.extract(r"^Accepted connection to (\S+)", 1),
            m.str.extract(r"\baddr=(\S+?)[\s)]", 1),
            m.str.extract(r"\baddr=(\S+)$", 1),
        )
        error = pl.coalesce(
            m.str.extract(r"^Error accepting a client connection: (.*?)(?: \((?:addr=|conn: ).*)?$", 1),
            m.str.extract(r"^Accepting client connection: (.*)$", 1),
            m.str.extract(r"^accept4?\(.*\) = -1 (E\w+ \(.*\))", 1),
            m.str.extract(r"^Error registering fd event for the new client(?: connection)?: (.*?)(?: \(.*\))?$", 1),
            m.str.extract(r"^Server can't set maximum open files to \d+ because of OS error: (.*?)\.?$", 1),
            m.str.extract(r"^Unable to set the max number of files limit to \d+ \(([^)]*)\)", 1),
            m.str.extract(r"^Fatal error loading the DB: (.*?)\.? Exiting\.?$", 1),
            m.str.extract(r"^Reading from client: (.*)$", 1),
            pl.when(pl.col("_event") == "rdb_error").then(m),
        )
        loading_s = m.str.extract(r"^DB loaded from (?:disk|append only file): ([\d.]+) seconds", 1)
        backlog = m.str.extract_groups(r"TCP backlog setting of (?P<b>\d+) cannot be enforced because (?P<f>\S+) "
                                       r"is set to the lower value of (?P<s>\d+)")
        clients = m.str.extract(r"^(\d+) clients connected", 1)
        port = pl.coalesce(
            m.str.extract(r"accept connections on port (\d+)", 1),
            m.str.extract(r"^Running mode=\w+, port=(\d+)", 1),
            pl.col("text").str.extract(r"\n\s*\|[^\n]*Port: (\d+)", 1),
        )
        # a script past busy-reply-threshold: how long it had run, which kind of script (EVAL / FCALL)
        slow = pl.col("_event") == "slow_script"
        script_verb = pl.when(m.str.contains("FUNCTION KILL")).then(pl.lit("FCALL")).otherwise(pl.lit("EVAL"))
        script = m.str.extract(r"Script (?:name|SHA1) is: ([^\s.]+)", 1)
        c = self._common(df)
        churn = pl.col("kind").is_in(CHURN_KINDS)
        n, last, span = _churn_lines(df)
        value = pl.when(churn).then(n).otherwise(pl.coalesce(
            _num(maxclients), _num(loading_s), _num(backlog.struct.field("s")), _num(clients),
            _num(m.str.extract(r"try with (\d+)", 1)),
        ))
        many = churn & (n > 1)
        return df.lazy().select(
            "rec",
            "kind",
            entity=c["entity"],
            message=pl.when(churn).then(_churn_message(m, n, last)).otherwise(m.str.slice(0, 2000)),
            metric=pl.when(pl.col("kind") == "metric.sample").then(pl.lit("connected_clients")),
            value=value,
            attrs=compact_attrs(
                event=pl.col("_event"),
                pid=c["pid"], role=c["role"], role_name=c["role_name"], marker=c["marker"],
                version=version,
                port=port,
                maxclients=_num(maxclients),
                fds_required=_num(m.str.extract(r"requiring at least (\d+) max file descriptors", 1)),
                maxclients_possible=_num(m.str.extract(r"try with (\d+)", 1)),
                max_open_files=_num(pl.coalesce(
                    m.str.extract(r"maximum number of open files to (\d+)", 1),
                    m.str.extract(r"maximum open files to (\d+)", 1),
                    m.str.extract(r"max number of files limit to (\d+)", 1),
                )),
                original_open_files=_num(m.str.extract(r"it was originally set to (\d+)", 1)),
                tcp_backlog=_num(backlog.struct.field("b")),
                somaxconn=_num(backlog.struct.field("s")),
                somaxconn_source=backlog.struct.field("f"),
                loading_s=_num(loading_s),
                client=client,
                error=error,
                fd=_num(m.str.extract(r"\(fd=(\d+)\)", 1)),
                connected_clients=_num(clients),
                directive=pl.col("_conf_key"),
                setting=pl.col("_conf_val"),
                via=pl.when(m.str.contains(r"^accept4?\(")).then(pl.lit("strace")),
                command=pl.when(slow).then(pl.concat_str([script_verb, script], separator=" ", ignore_nulls=True)),
                verb=pl.when(slow).then(script_verb),
                duration_s=pl.when(slow).then(
                    _num(m.str.extract(r"still in execution after (\d+) milliseconds", 1)) / 1000),
                figure=pl.when(slow).then(pl.lit("server_log")),
                at=pl.when(slow).then(pl.lit("end")),
                summarized=pl.when(many).then(n.cast(pl.Int64)),
                last_line=pl.when(many).then(last),
                span_s=pl.when(many).then(span.round(6)),
            ),
        ).collect()
