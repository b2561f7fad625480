"""Whether a `connected_clients` sample counted the client fleet, or was taken before the fleet connected.

A gauge sample is the population an incident found only if the fleet was connected when it was taken. A fleet that
starts just before its incident (blind eviction-nocfg-16, session 13: writes hit maxmemory 0.17 s after the
exporter's last sample, which counted its own connection only) was not: the server log (redis-server at loglevel
verbose logs every `Accepted` and `Client closed connection`) shows the fleet's connections opened after that
sample and before the incident, more than the sample counted. The fleet's own level is then the gauge's first sample
after those connections were opened, not the sample before. The clients' records cannot tell: pods that log only
their failures begin their logs at the incident, as the error-only synthetic tests and eviction-nocfg-16 do
(session 13 tried the clients' first records and reverted it).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from postmortem.schema import event_weight, ts_lit

CHURN_KINDS = ("redis.server.client_accepted", "redis.server.client_closed")


def _span() -> pl.Expr:
    """Seconds a row stands for: a summarized row (many accepted lines) spans `span_s` from its time."""
    return pl.col("attrs").str.json_path_match("$.span_s").cast(pl.Float64, strict=False).fill_null(0.0)


def opened_between(events: pl.DataFrame, a: datetime, b: datetime) -> tuple[float, datetime | None]:
    """(connections the server log shows accepted minus closed after `a` up to `b`, the last accepted line counted):
    a summarized row's lines are spread evenly over its span (the fleet's 45 connects in 0.94 s, a sample among
    them)."""
    rows = events.filter(pl.col("kind").is_in(CHURN_KINDS) & pl.col("ts").is_not_null() & (pl.col("ts") <= ts_lit(b)))
    if rows.height == 0:
        return 0.0, None
    lo, hi = (ts_lit(a).cast(rows.schema["ts"]), ts_lit(b).cast(rows.schema["ts"]))
    span = _span()
    end = pl.col("ts") + pl.duration(microseconds=(span * 1e6).round().cast(pl.Int64))
    overlap = (pl.min_horizontal(end, hi) - pl.max_horizontal(pl.col("ts"), lo)).dt.total_microseconds() / 1e6
    share = pl.when(span > 0).then((overlap / span).clip(0.0, 1.0)).otherwise((pl.col("ts") > lo).cast(pl.Float64))
    counted = rows.with_columns(n=share * event_weight(), sign=pl.when(pl.col("kind") == CHURN_KINDS[0]).then(1.0)
                                .otherwise(-1.0), end=pl.min_horizontal(end, hi)).filter(pl.col("n") > 0)
    if counted.height == 0:
        return 0.0, None
    accepted = counted.filter(pl.col("sign") > 0)
    last = accepted.get_column("end").max() if accepted.height else None
    return float((counted.get_column("n") * counted.get_column("sign")).sum()), last


def connected_after(samples: pl.DataFrame, events: pl.DataFrame, last: dict, t0: datetime) -> tuple[dict, str] | None:
    """(the gauge's first sample once the fleet connected, how it was found) when the server log shows more
    connections opened between the sample `last` (a row of `samples`) and `t0` than `last` counted, and the next
    sample still holds them: `last` predates the fleet. None when it counted the fleet, or no log tells, or the
    connections were closed again by the next sample (a fleet opening one per request: per-request-pause-16's 2
    held while it opened and closed more)."""
    opened, until = opened_between(events, last["ts"], t0)
    if until is None or opened <= last["value"]:
        return None
    later = samples.filter(pl.col("ts") > until).sort("ts").head(1)
    if later.height == 0 or later.get_column("value")[0] < last["value"] + opened:
        return None
    row = later.row(0, named=True)
    return row, (f"connected_clients metric at {row['ts']:%H:%M:%S} UTC, the first sample after the fleet connected: "
                 f"the server log's connections opened after the {last['ts']:%H:%M:%S.%f}"[:-3]
                 + f" UTC sample ({last['value']:,.0f}) and before the incident, about {opened:,.0f} (a summarized "
                 "row's lines spread evenly over its span), more than it counted")
