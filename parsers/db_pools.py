"""Databases behind the cache: connection pools that ran dry, and the app's own "cache miss, loading from
the database" lines.

Why a family of its own: when Redis fails, every cache read becomes a database read; the database pool
running out a few seconds later is a consequence in the story (detectors/cascade.py), never one more
Redis event. Pool size and timeout are kept as attrs, so the advice can name them.

Wordings, each from the library's source (the sample beside each in `samples` says where it was seen):
* Npgsql (PoolingDataSource / ConnectorPool): `The connection pool has been exhausted, either raise 'Max
  Pool Size' (currently {_max}) or 'Timeout' (currently {Settings.Timeout} seconds) in your connection
  string.`; before 6.0 `either raise MaxPoolSize (currently N) or Timeout (currently N seconds)`.
* SQLAlchemy (pool/impl.py QueuePool._do_get): `QueuePool limit of size %d overflow %d reached, connection
  timed out, timeout %0.2f` (1.4+; `%d` before; `sqlalchemy.exc.TimeoutError`, error code 3o7r).
* HikariCP (HikariPool.createTimeoutException): `{poolName} - Connection is not available, request timed
  out after {n}ms.` up to 5.0.1; from 5.1.0 (commit 69394742 "Add pool stats to connection acquisition timeout
  exception", 2022-07) `… after {n}ms (total=N, active=N, idle=N, waiting=N)`, no period, unchanged in 6.x
  (checked in HikariCP's source at the tags HikariCP-4.0.3, -5.0.1, -5.1.0, -6.0.0 and master).
* SqlClient / System.Data (ADP_PooledOpenTimeout, also MySql.Data): `Timeout expired.  The timeout period
  elapsed prior to obtaining a connection from the pool.  This may have occurred because all pooled
  connections were in use and max pool size was reached.`
* Application lines that say a cache miss went to the database (`cache miss … loading from db`): no library
  owns the wording, so it must say both "cache miss" and a database word.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from parsers.base import no_claims, whole_line
from parsers.redis_server import compact_attrs
from postmortem.model import Kind

FAMILY = "database"

POOL_EXHAUSTED = Kind("db.pool_exhausted", FAMILY,
                      "a database connection pool had no connection to lend within its timeout (Npgsql, SQLAlchemy "
                      "QueuePool, HikariCP, SqlClient): `pool_size`, `overflow`, `timeout_s`, HikariCP's `waited_s` in attrs",
                      problem=True)
CACHE_MISS_LOAD = Kind("db.cache_miss_load", FAMILY,
                       "an application line saying a cache miss was served from the database (`cache miss … loading "
                       "from db`)")

_NPGSQL = (r"The connection pool has been exhausted, either raise '?Max ?Pool ?Size'? \(currently (\d+)\) or "
           r"'?Timeout'? \(currently (\d+)(?: seconds)?\)")
_SQLALCHEMY = (r"QueuePool limit of size (\d+) overflow (-?\d+) reached, connection timed out"
               r"(?:, (?:pool_)?timeout (\d+(?:\.\d+)?))?")
_HIKARI = (r"([\w.\-]+) - Connection is not available, request timed out after (\d+)ms"
           r"(?: \(total=(\d+), active=(\d+), idle=(\d+), waiting=(\d+)\))?")
_SQLCLIENT = r"Timeout expired\.\s+The timeout period elapsed prior to obtaining a connection from the pool"
_POOL = "|".join((_NPGSQL, _SQLALCHEMY, _HIKARI, _SQLCLIENT))
_CACHE_MISS = (r"(?i)\bcache[ _-]?miss(?:es)?\b[^\n]{0,200}?\b(?:load(?:ing|ed)?|fetch(?:ing|ed)?|read(?:ing)?|"
               r"query(?:ing)?|fall(?:ing)? back)\b[^\n]{0,80}?\b(?:db|database|postgres(?:ql)?|mysql|sql ?server|sql)\b")
_MINE = _POOL + "|" + _CACHE_MISS

# where a record names its database: a JDBC / SQLAlchemy URL, or an ADO.NET connection-string key
_URL_HOST = r"(?i)\b(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|sqlserver|mssql)(?:\+\w+)?://(?:[^@/\s]*@)?([\w.\-]+)"
_CS_HOST = r"(?i)\b(?:Host|Server|Data Source)\s*=\s*([^;'\"\s]+)"
_CS_DB = r"(?i)\b(?:Database|Initial Catalog)\s*=\s*([^;'\"\s]+)"



class DbPoolRecognizer:
    """Database connection pool exhaustion (Npgsql, SQLAlchemy QueuePool, HikariCP, SqlClient) and the app's
    cache-miss-to-database lines, with the pool's size and timeout as logged."""

    name: ClassVar[str] = "database"
    kinds: ClassVar[tuple[Kind, ...]] = (POOL_EXHAUSTED, CACHE_MISS_LOAD)
    keep_words: ClassVar[tuple[str, ...]] = (
        "connection pool has been exhausted", "queuepool limit", "connection is not available",
        "prior to obtaining a connection", "cache miss", "cache-miss", "cache_miss",
    )
    example: ClassVar[str] = ("Npgsql.NpgsqlException (0x80004005): The connection pool has been exhausted, either "
                              "raise 'Max Pool Size' (currently 100) or 'Timeout' (currently 15 seconds) in your "
                              "connection string.")
    samples: ClassVar[tuple[str, ...]] = (
        # Npgsql 6+ wording (npgsql/npgsql src/Npgsql/PoolingDataSource.cs, found with the code search), in the
        # ASP.NET Core console layout
        "fail: Api.Orders.OrderRepository[0]\n      Npgsql.NpgsqlException (0x80004005): The connection pool has been "
        "exhausted, either raise 'Max Pool Size' (currently 100) or 'Timeout' (currently 15 seconds) in your "
        "connection string.\n       ---> System.TimeoutException: The operation has timed out.",
        # Npgsql 4/5 wording ("either raise MaxPoolSize (currently 100) or Timeout (currently 15 seconds)",
        # ConnectorPool.cs; a billing-sync stack trace found with the code search)
        "Npgsql.NpgsqlException (0x80004005): The connection pool has been exhausted, either raise MaxPoolSize "
        "(currently 100) or Timeout (currently 15 seconds)\n   at Npgsql.ConnectorPool.RentAsync(NpgsqlConnection "
        "conn, NpgsqlTimeout timeout, Boolean async, CancellationToken cancellationToken)",
        # SQLAlchemy 1.4+/2.0 (lib/sqlalchemy/pool/impl.py: "timeout %0.2f", code "3o7r")
        "2024-03-02 10:15:04,221 ERROR app.views sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 "
        "reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)",
        # HikariCP 4 (HikariPool.createTimeoutException) in a Spring Boot log line
        "2024-03-02 10:15:04.221 ERROR 1 --- [nio-8080-exec-7] o.h.engine.jdbc.spi.SqlExceptionHelper   : "
        "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
        # HikariCP 5.1.0+ with the pool counts: the layout of HikariPool.createTimeoutException at tag HikariCP-5.1.0
        # (`poolName + " - Connection is not available, request timed out after " + elapsed + "ms " + "(total=" …`)
        "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out "
        "after 30005ms (total=10, active=10, idle=0, waiting=42)",
        # SqlClient (System.Data ADP_PooledOpenTimeout resource string; pasted in a Chinese EF Core write-up)
        "System.InvalidOperationException: Timeout expired.  The timeout period elapsed prior to obtaining a "
        "connection from the pool.  This may have occurred because all pooled connections were in use and max pool "
        "size was reached.",
        # an application's own cache-aside wording (no library owns it; this is the layout the fixture apps use)
        "2024-03-02 10:15:04,101 INFO app.cache cache miss for key user:42, loading from db",
    )

    def recognize(self, records: pl.DataFrame) -> pl.DataFrame:
        text = pl.col("text").fill_null("")
        df = records.filter(text.str.contains(_MINE))
        if df.height == 0:
            return no_claims()
        pool = text.str.contains(_POOL)
        hikari_pool = text.str.extract(_HIKARI, 1)
        library = (
            pl.when(text.str.contains(_NPGSQL)).then(pl.lit("npgsql"))
            .when(text.str.contains(_SQLALCHEMY)).then(pl.lit("sqlalchemy"))
            .when(text.str.contains(_HIKARI)).then(pl.lit("hikaricp"))
            .when(text.str.contains(_SQLCLIENT)).then(pl.lit("sqlclient"))
        )
        where = pl.coalesce(text.str.extract(_URL_HOST, 1), text.str.extract(_CS_HOST, 1), text.str.extract(_CS_DB, 1))
        timeout_s = pl.coalesce(
            text.str.extract(_NPGSQL, 2).cast(pl.Float64, strict=False),
            text.str.extract(_SQLALCHEMY, 3).cast(pl.Float64, strict=False),
        )
        return df.select(
            "rec",
            kind=pl.when(pool).then(pl.lit(POOL_EXHAUSTED.name)).otherwise(pl.lit(CACHE_MISS_LOAD.name)),
            entity=pl.when(pool).then(pl.lit("db:") + pl.coalesce(where, hikari_pool, library))
            .otherwise(pl.lit("db:") + pl.coalesce(where, pl.lit("unknown"))),
            message=pl.coalesce(text.str.extract(whole_line(_MINE), 0), text.str.split("\n").list.first())
            .str.strip_chars().str.slice(0, 2000),
            attrs=compact_attrs(
                library=library,
                pool=hikari_pool,
                database=where,
                pool_size=pl.coalesce(text.str.extract(_NPGSQL, 1), text.str.extract(_SQLALCHEMY, 1),
                                      text.str.extract(_HIKARI, 3)).cast(pl.Int64, strict=False),
                overflow=text.str.extract(_SQLALCHEMY, 2).cast(pl.Int64, strict=False),
                timeout_s=timeout_s,
                # HikariCP says how long the request waited (its connectionTimeout, give or take a few ms)
                waited_s=text.str.extract(_HIKARI, 2).cast(pl.Float64, strict=False) / 1000.0,
                active=text.str.extract(_HIKARI, 4).cast(pl.Int64, strict=False),
                idle=text.str.extract(_HIKARI, 5).cast(pl.Int64, strict=False),
                waiting=text.str.extract(_HIKARI, 6).cast(pl.Int64, strict=False),
            ),
        )
