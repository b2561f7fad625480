"""PM305: Redis at its memory limit refused writes (`OOM command not allowed when used memory > 'maxmemory'`).

With `maxmemory` set, a write that needs memory the server cannot free (policy `noeviction`, or an eviction
policy that finds nothing it may evict fast enough: big values, client buffers) is answered with an OOM error.
Nothing is down and no connection fails, so the outage and storm rules see nothing: the clients' own records
(`redis.oom`) are the evidence. The finding counts them against every client-side problem record, so the story
opens with it when the refusals are most of what the clients saw.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import polars as pl

from postmortem.analysis.advice import Advice, Facts, Snippet
from postmortem.analysis.correlate import Context
from postmortem.analysis.detectors.base import LEADS_AT, RuleDetector, at_time, finding
from postmortem.analysis.population import client_pods
from postmortem.kinds import KINDS
from postmortem.model import Confidence, Figures, Finding, Role, Rule, Severity
from postmortem.schema import event_weight

OOM_KIND = "redis.oom"


@dataclass(frozen=True, eq=False, repr=False)
class OomFigures(Figures):
    refused: int  # client records of a write refused with OOM
    pods: int  # client hosts that logged them
    pods_with_clients: int  # client hosts in the incident
    first_ts: str  # the first refusal (ISO)
    last_ts: str  # the last one (ISO)
    client_problems: int  # every client-side problem record in the incident
    error_share: float  # refused ÷ client_problems: what ranks it in the story


def _client_problems(events: pl.DataFrame) -> pl.DataFrame:
    families = [k.name for k in KINDS if k.family == "redis_client" and k.problem]
    return events.filter(pl.col("kind").is_in(families) & pl.col("ts").is_not_null())


class WritesRefusedAtMaxmemory(RuleDetector):
    rule = Rule(
        "PM305", "oom-refused-writes", Severity.HIGH,
        "Redis refused writes at its memory limit (OOM at maxmemory)",
        what=("client records of the server's `OOM command not allowed when used memory > 'maxmemory'` reply "
              "(redis-py `OutOfMemoryError`, or the reply quoted in an application line of a redis-py app; "
              "StackExchange.Redis `RedisServerException: OOM …`), with how many pods saw it and its share of every "
              "client-side problem record."),
        why=("at maxmemory Redis refuses any write it cannot make room for: with `noeviction`, or when the eviction "
             "policy cannot free enough (values bigger than what it may evict, client output buffers, keys without a "
             "TTL under a volatile-* policy). Reads still work, so health checks stay green while every write fails; "
             "cache writes that fail turn into misses that hit the database."),
        recommendation=("size maxmemory for the working set plus client buffers, pick a policy that can evict what "
                        "the writes need (`allkeys-lru` / `allkeys-lfu` for a cache), cap client buffers "
                        "(`maxmemory-clients`, 7.0+), and alert on used_memory above 90 % of maxmemory."),
        role=Role.TRIGGER,
        phrase="writes refused at maxmemory",
        actions=(
            ("mitigate", "Raise maxmemory or switch a cache to allkeys-lru so writes can evict."),
            ("process", "Alert on used_memory above 90 % of maxmemory and on any OOM reply."),
        ),
        bleeding=("scale_redis",),
        chart_colour="#c0392b",
        chart_label="writes refused (OOM)",
    )

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        rows = events.filter((pl.col("kind") == OOM_KIND) & pl.col("ts").is_not_null()).sort("ts", "path", "line")
        if rows.height == 0:
            return
        refused = int(rows.select(event_weight().sum()).item())
        problems = int(_client_problems(events).select(event_weight().sum()).item())
        first, last = rows.get_column("ts").min(), rows.get_column("ts").max()
        figures = OomFigures(
            refused=refused, pods=rows.get_column("host").drop_nulls().n_unique(),
            pods_with_clients=client_pods(events),
            first_ts=first.isoformat(), last_ts=last.isoformat(), client_problems=problems,
            error_share=round(refused / problems, 3) if problems else 0.0,
        )
        title = (f"Redis refused {refused:,} writes at its memory limit (OOM at maxmemory) on {figures.pods} pods "
                 f"between {first:%H:%M:%S} and {last:%H:%M:%S} UTC")
        f = finding(self.rule, title, rows, figures, Confidence.HIGH,
                    entities=tuple(rows.get_column("entity").drop_nulls().unique().to_list()), start=first, end=last)
        if f:
            yield f

    def explains(self, f: Finding) -> float | None:
        s = f.figures
        return s.error_share if isinstance(s, OomFigures) else None

    def opening(self, f: Finding) -> str | None:
        return f"Redis at its memory limit{at_time(f.start)}" if isinstance(f.figures, OomFigures) else None

    def clause(self, f: Finding, findings: Sequence[Finding]) -> str | None:
        s = f.figures
        if not isinstance(s, OomFigures) or s.error_share <= LEADS_AT:
            return None
        return self.outcome(f)

    def outcome(self, f: Finding) -> str | None:
        s = f.figures
        if not isinstance(s, OomFigures):
            return None
        pods = f"all {s.pods} pods" if s.pods == s.pods_with_clients and s.pods > 1 else f"{s.pods} pods"
        return f"refused {s.refused:,} writes from {pods} (OOM at maxmemory)"

    def advise(self, facts: Facts) -> Advice:
        return Advice(
            "Let writes make room, or give them room",
            "A cache must be able to evict what a write needs: size maxmemory for the working set plus client "
            "buffers and use an all-keys policy; data that must not vanish needs its own instance with headroom.",
            (Snippet("conf", "redis.conf",
                     "maxmemory 4gb                 # working set + client buffers + headroom\n"
                     "maxmemory-policy allkeys-lru  # a cache: any key may go; noeviction refuses writes instead\n"
                     "maxmemory-clients 10%         # 7.0+: client buffers cannot eat the data's memory"),),
        )
