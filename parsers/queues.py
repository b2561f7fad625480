"""Message brokers: RabbitMQ's server log (resource alarms, closed AMQP connections) and celery / kombu
losing or reaching an AMQP broker, from any log file.

Why a family of its own: a work queue backing up behind a Redis outage is a consequence in the incident's
story (detectors/cascade.py), and a broker's trouble must never be read as Redis trouble. Celery prints
the same words whatever its broker is, so the broker is decided by the URL: the record's own
(`amqp://…`, `redis://…`), else the file's (celery's banner `.> transport:   amqp://…`, `Connected to …`,
`Cannot connect to …`). A broker that is Redis makes `Connection to broker lost` a Redis client error of
celery (parsers/redis_py.py reads it with `redis_broker()` from here); an AMQP or unknown one is
`queue.broker_lost`. Celery's task retries stay with parsers/retries.py.

Layouts (each sample's origin is noted beside it in `samples`):
* RabbitMQ 3.7+ (`2020-11-25 22:03:29.746 [warning] <0.375.0> …`; 3.9+ adds `+00:00`): rabbit_alarm.erl's
  `~s resource limit alarm set on node ~p.` with its `*** Publishers will be blocked until this alarm
  clears ***` banner, `~s resource limit alarm cleared on node ~p`, `… cleared for dead node ~p`,
  `file descriptor limit alarm set` / `cleared`; rabbit_reader's `closing AMQP connection <pid> (a -> b)`.
  3.9+ prints every line of a multi-line message as a record of its own: the banner's lines beside an alarm
  are `queue.alarm_banner` (routine), so they are neither lost nor counted as problems.
  The 3.6 `=WARNING REPORT==== date ===` layout is not framed with a time (its lines still count).
* celery worker (celery/worker/consumer/consumer.py): `consumer: Connection to broker lost. Trying to
  re-establish the connection...`, `consumer: Cannot connect to %s: %s.\\nTrying again in N seconds...
  (n/max)`, `Connected to amqp://…` (celery/worker/consumer/connection.py).
* pika publishers told by RabbitMQ to stop (pika/connection.py `_on_connection_blocked`: `LOGGER.warning('Received
  %s from broker', method_frame)`, `_on_connection_unblocked` the same at info), the frame printed by its repr:
  `Received <METHOD(['channel_number=0', 'frame_type=1', "method=<Connection.Blocked(['reason=low on memory'])>"])>
  from broker`. RabbitMQ sends `connection.blocked` with reason `low on memory` / `low on disk`
  (rabbit_reader.erl `blocked_by_message`) and logs no line of its own per blocked connection (only the alarm
  banner above); py-amqp (kombu's transport) calls its `on_blocked` callback and logs nothing (amqp/connection.py
  5.4). pika logs these lines only when `blocked_connection_timeout` is set (connection.py registers the handler
  then), as pika's docs advise; tests/data/recorded/cascade-blocked* hold real ones.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers.base import no_claims, whole_line
from parsers.redis_server import compact_attrs
from postmortem.model import Kind

FAMILY = "queue"

BROKER_LOST = Kind("queue.broker_lost", FAMILY,
                   "a celery / kombu consumer lost its (AMQP or unnamed) broker connection and is re-establishing it",
                   problem=True)
BROKER_CONNECT_FAILED = Kind("queue.broker_connect_failed", FAMILY,
                             "a celery / kombu consumer could not connect to its AMQP broker and will try again "
                             "(`retry_in_s`, `attempt`, `max_attempts`)",
                             problem=True)
BROKER_CONNECTED = Kind("queue.broker_connected", FAMILY, "a celery worker connected to its AMQP broker (`Connected to amqp://…`)")
ALARM = Kind("queue.alarm", FAMILY,
             "RabbitMQ set a memory, disk or file-descriptor alarm on a node: publishers are blocked until it clears",
             problem=True)
ALARM_CLEARED = Kind("queue.alarm_cleared", FAMILY, "RabbitMQ cleared a resource alarm: publishers may publish again")
ALARM_BANNER = Kind("queue.alarm_banner", FAMILY,
                    "a line RabbitMQ prints beside an alarm that adds nothing to it (3.9+ prints the `*** Publishers will "
                    "be blocked until this alarm clears ***` banner, its star rules and blank lines as records of their "
                    "own; `… alarm cleared across the cluster`)",
                    routine=True)
PUBLISHER_BLOCKED = Kind("queue.publisher_blocked", FAMILY,
                         "RabbitMQ told a publisher's connection to stop publishing (pika `Connection.Blocked`, `reason` "
                         "`low on memory` / `low on disk`): its publishes wait until it is unblocked",
                         problem=True)
PUBLISHER_UNBLOCKED = Kind("queue.publisher_unblocked", FAMILY,
                           "RabbitMQ let a blocked publisher's connection publish again (pika `Connection.Unblocked`)")
CONNECTION_CLOSED = Kind("queue.connection_closed", FAMILY,
                         "RabbitMQ closed an AMQP connection (`closing AMQP connection`, with the reason when logged)")

BROKER_LOST_TEXT = r"Connection to broker lost\. Trying to re-establish the connection"
_CONNECT_FAILED = (r"Cannot connect to (amqps?://\S+?):? ([^\n]*?)\.?\s*Trying again in (\d+(?:\.\d+)?) seconds"
                   r"(?:\.\.\.)?(?: \((\d+)/(\d+)\))?")
_CONNECTED = r"(?:^|\s)Connected to (amqps?://\S+)"
_ALARM_SET = r"\b(memory|disk) resource limit alarm set on node '?([^\s'.]+(?:\.[^\s'.]+)*)'?\.?"
_ALARM_CLEARED = r"\b(memory|disk) resource limit alarm cleared (?:on|for dead) node '?([^\s'.]+(?:\.[^\s'.]+)*)'?"
_FD_SET = r"\bfile descriptor limit alarm set\b"
_FD_CLEARED = r"\bfile descriptor limit alarm cleared\b"
_ACROSS = r"\b(?:memory|disk) resource limit alarm cleared across the cluster"
_BLOCKED = r"\*\*\* Publishers will be blocked until this alarm clears \*\*\*"
# the banner's other lines: star rules and blank lines with only the Erlang pid left (kept only beside an alarm)
_BANNER_REST = r"^(?:<[\d.]+>)?\s*\**\s*$"
# 3.10+ adds `, vhost: '/', user: 'guest'` inside the parentheses
_CLOSING = r"closing AMQP connection <([\d.]+)> \(([^)]*?) -> ([^,)]*)[^)]*\)"
# pika: the method frame's repr between `Received` and `from broker`
_PIKA_BLOCK = (r"Received <METHOD\(\[[^\n]{0,200}?method=<Connection\.(Blocked|Unblocked)(?:\(\['reason=([^'\n]{0,200})'\]\))?>"
               r"[^\n]{0,200}? from broker")
_MINE = "|".join((BROKER_LOST_TEXT, _CONNECT_FAILED, _CONNECTED, _ALARM_SET, _ALARM_CLEARED, _FD_SET, _FD_CLEARED, _CLOSING,
                  _BLOCKED, _ACROSS, _PIKA_BLOCK))
CLAIMS = _MINE  # broker lines: not Redis events

_REDIS_URL = r"(?i)\brediss?(?:\+sentinel|\+socket)?://|\bsentinel://"
_AMQP_URL = r"(?i)\bamqps?://|\bpyamqp://|\blibrabbitmq://"
# a record whose own text shows its broker: a URL, or a traceback through that transport
_REDIS_RECORD = _REDIS_URL + r"|redis\.exceptions\.|[/\\]kombu[/\\]transport[/\\]redis\.py|[/\\]redis[/\\]\w+\.py"
_AMQP_RECORD = _AMQP_URL + r"|\bamqp\.exceptions\.|[/\\]amqp[/\\]\w+\.py|[/\\]kombu[/\\]transport[/\\]pyamqp\.py"
# a line that names the file's broker: celery's banner, its connect lines
_BROKER_DECL = r"(?i)(?:\btransport:\s+|Connected to |Cannot connect to |\bbroker(?:_url)?\s*[=:]\s*['\"]?)"


def _file_any(expr: pl.Expr, records: pl.DataFrame) -> pl.Expr:
    return expr.any().over("path") if "path" in records.columns else expr.any()


def broker_scheme(records: pl.DataFrame) -> pl.Expr:
    """Per record: `redis`, `amqp` or null, the broker a celery line speaks of (the record's own URL or
    transport frames first, else the one the same file's banner or connect lines name)."""
    text = pl.col("text").fill_null("")
    file_redis = _file_any(text.str.contains(_BROKER_DECL + "(?:" + _REDIS_URL + ")"), records)
    file_amqp = _file_any(text.str.contains(_BROKER_DECL + "(?:" + _AMQP_URL + ")"), records)
    return (
        pl.when(text.str.contains(_REDIS_RECORD)).then(pl.lit("redis"))
        .when(text.str.contains(_AMQP_RECORD)).then(pl.lit("amqp"))
        .when(file_redis & ~file_amqp).then(pl.lit("redis"))
        .when(file_amqp).then(pl.lit("amqp"))
    )


def redis_broker(records: pl.DataFrame) -> pl.Expr:
    """Per record: a celery `Connection to broker lost` whose broker is Redis (a Redis client error). The broker
    is worked out (six searches over every record) only when some record is such a line: most batches hold none."""
    lost = pl.col("text").fill_null("").str.contains(BROKER_LOST_TEXT)
    if not records.select(lost.any()).item():
        return pl.lit(False)
    return lost & (broker_scheme(records) == "redis").fill_null(False)



class QueueRecognizer:
    """RabbitMQ server log lines (resource alarms set and cleared, closed AMQP connections) and celery /
    kombu consumers losing, failing to reach or reaching an AMQP broker."""

    name: ClassVar[str] = "queue"
    kinds: ClassVar[tuple[Kind, ...]] = (
        BROKER_LOST, BROKER_CONNECT_FAILED, BROKER_CONNECTED, ALARM, ALARM_CLEARED, ALARM_BANNER, CONNECTION_CLOSED,
        PUBLISHER_BLOCKED, PUBLISHER_UNBLOCKED,
    )
    keep_words: ClassVar[tuple[str, ...]] = (
        "broker", "amqp", "resource limit alarm", "descriptor limit alarm", "publishers will be blocked",
    )
    example: ClassVar[str] = ("[2024-12-12 13:24:50,001: WARNING/MainProcess] consumer: Connection to broker lost. "
                              "Trying to re-establish the connection...")
    samples: ClassVar[tuple[str, ...]] = (
        # RabbitMQ 3.8 disk alarm as a user pasted it (a Chinese RabbitMQ write-up found with the code search;
        # wording of rabbit_alarm.erl handle_set_resource_alarm)
        "2020-11-25 22:03:29.746 [warning] <0.375.0> disk resource limit alarm set on node "
        "rabbit@iZj6c4uljxtos9wjnwczp2Z.\n\n**********************************************************\n"
        "*** Publishers will be blocked until this alarm clears ***\n"
        "**********************************************************",
        # RabbitMQ memory alarm in a Kubernetes StatefulSet (a write-up found with the code search), node quoted
        "2018-05-10 14:33:28.931 [warning] <0.215.0> memory resource limit alarm set on node "
        "'rabbit@rmqlocal-0.rmqlocal.ankorabbitstatefulset0.svc.cluster.local'.",
        # rabbit_alarm.erl handle_clear_alarm: "~s resource limit alarm cleared on node ~p"
        "2019-05-30 19:28:49.120 [warning] <0.215.0> memory resource limit alarm cleared on node rabbit@VM_2_12_centos",
        # RabbitMQ 3.10.8 (Debian 12 package) run here: the banner's middle line is a record of its own
        "2026-12-06 05:35:47.754513+00:00 [warning] <0.287.0> *** Publishers will be blocked until this alarm clears ***",
        # RabbitMQ 3.13 in docker compose (a user's report found with the code search)
        "2024-12-12 13:24:47.983429+00:00 [error] <0.837.0> closing AMQP connection <0.837.0> "
        "(172.18.0.3:60818 -> 172.18.0.2:5672):",
        # celery worker in docker compose, same report: consumer.py's connection-loss warning
        "[2024-12-12 13:24:50,001: WARNING/MainProcess] consumer: Connection to broker lost. Trying to re-establish "
        "the connection...\nTraceback (most recent call last):\n  File \"/usr/local/lib/python3.11/site-packages/"
        "celery/worker/consumer/consumer.py\", line 340, in start\n    blueprint.start(self)",
        # kombu consumer against RabbitMQ (celery issues: "Cannot connect to amqp://guest:**@127.0.0.1:5672//")
        "[2019-03-01 12:00:01,000: ERROR/MainProcess] consumer: Cannot connect to amqp://guest:**@rabbitmq:5672//: "
        "[Errno 111] Connection refused.\nTrying again in 4.00 seconds... (2/100)",
        # celery/worker/consumer/connection.py: info('Connected to %s', c.connection.as_uri()) (a Korean
        # write-up of a RabbitMQ operator incident found with the code search)
        "[2025-12-24 00:03:34,585: INFO/MainProcess] Connected to amqp://admin:**@eco2-rabbitmq.rabbitmq.svc."
        "cluster.local:5672/eco2",
        # pika 1.4.4's own lines (connection.py `_on_connection_blocked` / `_on_connection_unblocked`), recorded here
        # against RabbitMQ 3.10.8 (tests/data/recorded/cascade-blocked/publisher-7f6b5d-z9w2c.log:8 and :9)
        "2026-12-06 08:40:47,649 WARNING pika.connection - Received <METHOD(['channel_number=0', 'frame_type=1', "
        "\"method=<Connection.Blocked(['reason=low on memory'])>\"])> from broker",
        "2026-12-06 08:40:49,656 INFO pika.connection - Received <METHOD(['channel_number=0', 'frame_type=1', "
        "'method=<Connection.Unblocked>'])> from broker",
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        # RabbitMQ 3.9+ prints each line of the alarm banner as a record of its own, at the alarm's time
        keys = [c for c in ("path", "ts") if c in records.columns]
        alarm_here = text.str.contains(_ALARM_SET)
        if records.select(alarm_here.any()).item():
            alarm_here = alarm_here.any().over(keys) if keys else alarm_here.any()
            banner = text.str.contains(_BANNER_REST) & alarm_here
        else:  # no alarm line: no record is its banner, and the pass per (path, time) is spared (most batches)
            banner = pl.lit(False)
        claimed = records.with_columns(_mine=text.str.contains(_MINE) | banner).get_column("_mine")
        if not claimed.any():  # most batches: no queue line, so no broker to work out for every record
            return no_claims()
        df = records.with_columns(_broker=broker_scheme(records), _banner=banner).filter(claimed)
        # a celery broker that is Redis: its connection loss is redis-py's (a Redis client error of celery)
        df = df.filter(~(text.str.contains(BROKER_LOST_TEXT) & (pl.col("_broker") == "redis").fill_null(False)))
        if df.height == 0:
            return no_claims()
        alarm = pl.coalesce(text.str.extract(_ALARM_SET, 1), text.str.extract(_ALARM_CLEARED, 1),
                            pl.when(text.str.contains(_FD_SET + "|" + _FD_CLEARED)).then(pl.lit("file_descriptor")))
        node = pl.coalesce(text.str.extract(_ALARM_SET, 2), text.str.extract(_ALARM_CLEARED, 2))
        kind = (
            pl.when(text.str.contains(_ALARM_SET + "|" + _FD_SET)).then(pl.lit(ALARM.name))
            .when(text.str.contains(_BLOCKED + "|" + _ACROSS) | pl.col("_banner")).then(pl.lit(ALARM_BANNER.name))
            .when(text.str.contains(_ALARM_CLEARED + "|" + _FD_CLEARED)).then(pl.lit(ALARM_CLEARED.name))
            .when(text.str.contains(_CLOSING)).then(pl.lit(CONNECTION_CLOSED.name))
            .when(text.str.extract(_PIKA_BLOCK, 1) == "Blocked").then(pl.lit(PUBLISHER_BLOCKED.name))
            .when(text.str.extract(_PIKA_BLOCK, 1) == "Unblocked").then(pl.lit(PUBLISHER_UNBLOCKED.name))
            .when(text.str.contains(_CONNECT_FAILED)).then(pl.lit(BROKER_CONNECT_FAILED.name))
            .when(text.str.contains(BROKER_LOST_TEXT)).then(pl.lit(BROKER_LOST.name))
            .otherwise(pl.lit(BROKER_CONNECTED.name))
        )
        url = pl.coalesce(text.str.extract(_CONNECT_FAILED, 1), text.str.extract(_CONNECTED, 1))
        broker_host = url.str.extract(r"(?i)^[a-z+]+://(?:[^@/\s]*@)?([^/\s]+)", 1)
        server = text.str.extract(_CLOSING, 3)
        host_node = pl.coalesce(node, pl.col("host"))
        return df.with_columns(kind=kind).select(
            "rec",
            "kind",
            entity=pl.when(pl.col("kind").is_in([ALARM.name, ALARM_CLEARED.name]))
            .then(pl.lit("rabbitmq:") + host_node)
            .when(pl.col("kind") == CONNECTION_CLOSED.name).then(pl.lit("rabbitmq:") + pl.coalesce(pl.col("host"), server))
            .otherwise(pl.lit("rabbitmq:") + broker_host),
            message=pl.coalesce(text.str.extract(whole_line(_MINE), 0), text.str.split("\n").list.first()).str.slice(0, 2000),

            attrs=compact_attrs(
                alarm=alarm,
                node=node,
                publishers_blocked=pl.when(text.str.contains(_BLOCKED)).then(pl.lit(True)),
                broker=pl.when(pl.col("kind").is_in([BROKER_LOST.name, BROKER_CONNECT_FAILED.name,
                                                     BROKER_CONNECTED.name]))
                .then(pl.coalesce(pl.col("_broker"), pl.lit("unknown"))),
                url=url,
                error=text.str.extract(_CONNECT_FAILED, 2).str.slice(0, 500),
                retry_in_s=text.str.extract(_CONNECT_FAILED, 3).cast(pl.Float64, strict=False),
                attempt=text.str.extract(_CONNECT_FAILED, 4).cast(pl.Int64, strict=False),
                max_attempts=text.str.extract(_CONNECT_FAILED, 5).cast(pl.Int64, strict=False),
                connection=text.str.extract(_CLOSING, 1),
                client=text.str.extract(_CLOSING, 2),
                server=server,
                reason=pl.when(pl.col("kind") == CONNECTION_CLOSED.name)
                .then(text.str.extract(_CLOSING + r":?\s*\n(?:[^\n]*\[\w+\] <[\d.]+> )?([^\n]+)", 4))
                .otherwise(text.str.extract(_PIKA_BLOCK, 2)),
            ),
        )
