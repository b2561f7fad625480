"""The client-side kind vocabulary, shared by the Redis client recognizers (StackExchange.Redis, redis-py).

Both libraries report the same failures in their own words; each recognizer lists in its `kinds` the
ones it emits. The flags are read through `postmortem/kinds.py` (never copied into lists elsewhere).
"""

from __future__ import annotations

from postmortem.model import Kind

FAMILY = "redis_client"

TIMEOUT = Kind("redis.timeout", FAMILY, "a command was sent and no reply came in time",
               problem=True, connection_error=True)
BACKLOG_TIMEOUT = Kind("redis.backlog_timeout", FAMILY,
                       "a command never left the backlog: no connection to send it on (StackExchange.Redis)",
                       problem=True, unreachable=True, connection_error=True)
CONNECT_FAILED = Kind("redis.connect_failed", FAMILY,
                      "a connection could not be established (refused, DNS, connect timeout, UnableToConnect)",
                      problem=True, unreachable=True, attempt=True, connection_error=True, reconnecting=True)
CONNECTION_LOST = Kind("redis.connection_lost", FAMILY,
                       "an established connection dropped (closed by server, socket failure, broken pipe)",
                       problem=True, unreachable=True, connection_error=True, reconnecting=True)
CONNECTION_RESTORED = Kind("redis.connection_restored", FAMILY, "a connection came back")
RECONNECT_ATTEMPT = Kind("redis.reconnect_attempt", FAMILY, "the client says it will retry",
                         problem=True, attempt=True, reconnecting=True)
NO_CONNECTION = Kind("redis.no_connection", FAMILY,
                     "`No connection is active/available to service this operation` (StackExchange.Redis)",
                     problem=True, unreachable=True, connection_error=True)
POOL_EXHAUSTED = Kind("redis.pool_exhausted", FAMILY,
                      "`Too many connections` / `No connection available.` (redis-py pools)",
                      problem=True, connection_error=True)
MAX_CLIENTS = Kind("redis.max_clients", FAMILY, "`max number of clients reached`: the server rejected the connection",
                   problem=True, attempt=True, connection_error=True)
BUSY = Kind("redis.busy", FAMILY, "`BUSY Redis is busy running a script`: the server is blocked by a script or module command",
            problem=True, connection_error=True)
LOADING = Kind("redis.loading", FAMILY, "`LOADING Redis is loading the dataset in memory` / BusyLoadingError",
               problem=True)
AUTH_FAILED = Kind("redis.auth_failed", FAMILY, "NOAUTH / WRONGPASS / authentication failures", problem=True)
READONLY = Kind("redis.readonly", FAMILY, "`READONLY You can't write against a read only replica`", problem=True)
OOM = Kind("redis.oom", FAMILY, "`OOM command not allowed when used memory > 'maxmemory'`: the server refused a write "
           "at its memory limit", problem=True)
ERROR = Kind("redis.error", FAMILY, "a redis-py error that fits no other kind", problem=True)
CONFIG = Kind("redis.config", FAMILY, "a logged client or server configuration (secrets redacted; options in attrs)",
              routine=True)  # apps often log their connection string at warning level: evidence, not an error
CONNECT_LOG = Kind("redis.connect_log", FAMILY,
                   "a StackExchange.Redis connect log line that is not a failure", problem=True)
