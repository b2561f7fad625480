"""Headlines that were wrong on real recordings (redis-server 7.0.15 + redis-py 8.2.0, tests/data/recorded), each at
two fleet sizes, with a control that stays right:

- a scaled-out pod that logged only redis-py's bare `max number of clients reached` (no traceback in its file);
- an outage and writes refused at maxmemory in one incident: the summary tells both, in the order they happened;
- PM108's pods against the fleet the incident shows ("21 of 24 pods", never "all 21");
- PM100's client failures: WatchErrors redis-py raises because the connection died while watching are failures
  to reach Redis, optimistic-lock conflicts (`Watched variable changed.`) are not.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import polars as pl
import pytest

from parsers.base import ParseContext
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.input.ingest import ingest
from postmortem.input.log_text import parse_log_text

from .conftest import DATA

RECORDED = DATA / "recorded"


def facts_of(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


@cache
def report_of(name: str):
    report, _ = analyze([str(RECORDED / name)])
    return report


def finding(report, rule_id: str):
    return next(f for f in report.findings if f.rule_id == rule_id)


# --- 1. redis-py's maxclients reply on a line of its own ----------------------------------------------------------
# scaleout-nocfg-16: 4 pods logged 82 of the 1,379 rejections with no traceback anywhere in their file (the old code
# read them as app lines: 1,297 on 22 pods); scaleout-nocfg-8: 1 of 1,272 (1,271 on 12 pods). scaleout-8 logs its
# client configuration in every pod's file: the control.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["scaleout-nocfg-8", "scaleout-nocfg-16", "scaleout-8"])
def test_every_maxclients_rejection_a_pod_logged_is_counted(name):
    facts = facts_of(name)
    events = ingest([str(RECORDED / name)]).events
    rejected = events.filter(pl.col("kind") == "redis.max_clients")
    assert rejected.height == facts["clients"]["errors_by_kind"]["max_clients"]
    pods = {p for p, c in facts["clients_by_pod"].items() if c["errors"].get("max_clients")}
    assert set(rejected.get_column("host").unique().to_list()) == pods
    assert events.filter((pl.col("kind") == "app.log")
                         & pl.col("message").str.contains("max number of clients")).height == 0
    if not facts["parameters"]["log_config"]:  # the case itself: a pod file with the reply and no Python context
        bare = [p for p in (RECORDED / name).glob("worker-*.log")
                if "max number of clients" in (t := p.read_text()) and "Traceback" not in t]
        assert bare


# The headline's figures: every rejection a pod logged, and the fleet after the scale-out (the old headline of
# scaleout-nocfg-16: "1,297 rejected at maxclients", "from 29 of 31 pods": a pod that logged nothing else was missing).
@pytest.mark.slow
@pytest.mark.parametrize("name", ["scaleout-nocfg-8", "scaleout-nocfg-16"])
def test_the_storm_headline_counts_every_rejection_and_the_whole_fleet(name):
    facts = facts_of(name)
    report = report_of(name)
    storm = finding(report, "PM101")
    assert storm.stats["rejected"] == facts["clients"]["errors_by_kind"]["max_clients"]
    assert storm.stats["fleet_pods"] == len(facts["clients_by_pod"]) == facts["scaleout"]["to"]
    # the server's count is the rejected connections; the clients' errors are a quarter of it (tests/test_rejections_named.py)
    assert storm.stats["rejected_server"] == facts["rejected_connections"]["total"] > storm.stats["rejected"]
    assert f"{storm.stats['rejected_server']:,} connections rejected at maxclients" in report.summary
    assert f"of {facts['scaleout']['to']} pods" in report.summary


def parse(text: str):
    return parse_log_text(text, ParseContext(path="app.log")).events


# The recorded pods' line (scaleout-nocfg-16/worker-5c8f7b-pl53f.log:1), and how other software writes the reply:
# redis-server sends `-ERR max number of clients reached`; redis-py drops the code (redis/_parsers/base.py
# parse_error), Jedis (JedisDataException), ioredis (ReplyError), node-redis, go-redis keep it.
PY_LINE = ("2026-12-06 14:38:50,251 WARNING app.cache - redis call failed (attempt 1), retrying in 0.25s: "
           "max number of clients reached")
NOT_REDIS_PY = (
    "2026-12-06 14:38:50,251 ERROR c.e.CacheService - get failed: redis.clients.jedis.exceptions.JedisDataException: "
    "ERR max number of clients reached",
    "2026-12-06 14:38:50,251 ERROR app - [ioredis] Unhandled error event: ReplyError: ERR max number of clients reached",
    "2026-12-06 14:38:50,251 ERROR app - cache get failed: ERR max number of clients reached",
    '2026-12-06 14:38:50,251 WARNING ops - alert "max number of clients reached" fired on cache-1, paging on-call',
    "2026-12-06 14:38:50,251 INFO ops - runbook step 3 covers: max number of clients reached",
)


def test_redis_py_maxclients_reply_is_claimed_without_a_traceback_and_foreign_text_is_not():
    mine = parse(PY_LINE)
    assert mine.filter(pl.col("source") == "redis_py").get_column("kind").to_list() == ["redis.max_clients"]
    for line in NOT_REDIS_PY:
        assert parse(line).filter(pl.col("source") == "redis_py").height == 0, line


# --- 2. two triggers: told both, in the order they happened, each with its finding's figure ------------------------
# eviction-restart-8: the restart (08.6-10.6), then 48 writes refused at maxmemory (10.7-11.5); the old summary told the
# outage only. eviction-restart-16: 832 writes refused from 16:03:56 to 16:04:06 around a restart at 16:03:58 (the
# refusals lead: most of the clients' errors); the old summary told the refusals only.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["eviction-restart-8", "eviction-restart-16", "eviction-restart-24"])
def test_an_outage_and_writes_refused_at_maxmemory_are_both_told_in_order(name):
    facts = facts_of(name)
    report = report_of(name)
    outage, oom = finding(report, "PM100"), finding(report, "PM305")
    assert oom.stats["refused"] == facts["clients"]["errors_by_kind"]["other:OutOfMemoryError"]
    assert abs(outage.stats["seconds"] - facts["outage"]["seconds"]) < 0.3
    told_oom = report.summary.find(f"refused {oom.stats['refused']:,} writes from all {oom.stats['pods']} pods")
    told_outage = report.summary.find(f"A {outage.stats['seconds']:.1f} s Redis outage")
    assert f"caused {outage.stats['client_failures']:,} client failures on {outage.stats['hosts']} pods" in report.summary
    assert told_oom >= 0 and told_outage >= 0, report.summary
    assert (told_outage < told_oom) == (outage.start < oom.start), report.summary
    # each figure once, as its finding has it
    assert report.summary.count("writes from") == 1 and report.summary.count("Redis outage") == 1
    assert dict(report.causes)["trigger"] and {report.findings[i].rule_id for i in dict(report.causes)["trigger"]} \
        == {"PM100", "PM305"}


# Controls: one trigger (eviction-16: no restart) is told as before; a KEYS run and the hang it caused are one
# episode (slow-8: the same timeouts prove both), told once.
@pytest.mark.slow
def test_one_trigger_or_one_episode_is_told_once():
    assert report_of("eviction-16").summary == ("Redis at its memory limit at 11:32:25 UTC refused 351 writes from all "
                                                "16 pods (OOM at maxmemory). Impact also included evictions.")
    slow = report_of("slow-8")
    assert {"PM100", "PM108"} <= {f.rule_id for f in slow.findings}
    assert "stopped answering" not in slow.summary and slow.summary.count("KEYS") == 1


# --- 3. PM108: the pods that timed out against the fleet ------------------------------------------------------------
# slow-nocfg-20 and slow-nocfg-24: 3 of 20 and 21 of 24 pods timed out inside the KEYS run; the others logged only
# their own lines (no client configuration either). The old summary said "on 3 pods", "on 21 pods" (and before that
# "all 21"). slow-8 (every pod timed out) stays "all 8 pods".
@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-nocfg-20", "slow-nocfg-24", "slow-8"])
def test_pm108_says_how_many_of_the_fleet_timed_out(name):
    facts = facts_of(name)
    report = report_of(name)
    f = finding(report, "PM108")
    pods = facts["parameters"]["pods"]
    failed = sum(1 for p in facts["clients_by_pod"].values() if p["errors"].get("timeout"))
    assert f.stats["pods_explained"] == failed
    said = f"all {pods} pods" if failed == pods else f"{failed} of {pods} pods"
    assert f" on {said} fell inside it" in report.summary, report.summary


# --- 4. PM100 and WatchError ----------------------------------------------------------------------------------------
# These recordings' facts file every WatchError under `other:WatchError` (the recorder now files a lost connection
# under `connection_lost`). redis-py 8 raises it for two things: a transaction
# whose WATCHed key changed (`Watched variable changed.`, client.py _execute_transaction: Redis answered, no failure
# to reach it) and a connection that died while watching (`A ConnectionError occurred while watching one or more
# keys`, _disconnect_raise_on_watching: the outage itself). PM100 counts the second, never the first: busy-16 has 1
# conflict and 15 losses (493 refused + 15 = 508), eviction-restart-8 0 and 1 (100 + 1 = 101), scaleout-nocfg-16 0
# and 2 (565 + 2 = 567).
def _watch_lines(name: str, wording: str) -> int:
    return sum(len(re.findall(re.escape(wording), p.read_text())) for p in (RECORDED / name).glob("*.log")
               if p.name != "redis-server.log")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["busy-16", "eviction-restart-8", "scaleout-nocfg-16"])
def test_pm100_counts_connections_lost_while_watching_not_lock_conflicts(name):
    facts = facts_of(name)
    outage = finding(report_of(name), "PM100")
    lost = _watch_lines(name, "WatchError: A ConnectionError occurred while watching one or more keys") \
        + _watch_lines(name, "retrying in 0.25s: A ConnectionError occurred while watching one or more keys")
    conflicts = _watch_lines(name, "WatchError: Watched variable changed.")
    assert facts["clients"]["errors_by_kind"].get("other:WatchError", 0) == lost + conflicts
    assert outage.stats["client_failures"] == facts["clients"]["errors_by_kind"]["connection_refused"] + lost


def test_a_lock_conflict_inside_an_outage_is_no_client_failure(tmp_path: Path):
    """redis-py's conflict traceback (redis/client.py 8.2 `_execute_transaction`) logged by a pod while the server was
    down: the outage's failures are the refused connects alone."""
    refused = ("2026-12-06 14:28:0{s},{ms:03d} WARNING app.cache - redis call failed (attempt 1), retrying in 0.25s: "
               "Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    conflict = ("2026-12-06 14:28:09,500 ERROR app.jobs - job 3 failed after 1 attempts\nTraceback (most recent call "
                "last):\n  File \"/venv/lib/python3.11/site-packages/redis/client.py\", line 2224, in "
                "_execute_transaction\n    raise WatchError(\"Watched variable changed.\")\n"
                "redis.exceptions.WatchError: Watched variable changed.")
    for pod in ("api-a", "api-b"):
        lines = [refused.format(s=s, ms=ms) for s in (8, 9) for ms in (100, 600)]
        (tmp_path / f"{pod}.log").write_text("\n".join([*lines[:3], conflict, lines[3]]) + "\n")
    report, _ = analyze([str(tmp_path)], AnalyzeOptions())
    outage = finding(report, "PM100")
    assert outage.stats["client_failures"] == 8 and outage.stats["hosts"] == 2


# The order they happened when neither trigger explains most of the clients' errors (registry order put the outage
# first whatever came first), each trigger with its own evidence.
@pytest.mark.parametrize("oom_first", [True, False])
def test_triggers_that_do_not_lead_are_told_in_the_order_they_happened(oom_first):
    from datetime import UTC, datetime, timedelta

    from postmortem.analysis.detectors import DETECTORS
    from postmortem.analysis.detectors.memory import OomFigures
    from postmortem.analysis.detectors.storm import OutageFigures
    from postmortem.analysis.story import build_story, causes
    from postmortem.model import Confidence, Evidence, Finding, Severity

    t0 = datetime(2026, 12, 6, 14, 28, 0, tzinfo=UTC)
    t_oom, t_out = (t0, t0 + timedelta(seconds=5)) if oom_first else (t0 + timedelta(seconds=5), t0)
    oom = OomFigures(refused=30, pods=4, pods_with_clients=4, first_ts=t_oom.isoformat(), last_ts=t_oom.isoformat(),
                     client_problems=100, error_share=0.3)
    out = OutageFigures(endpoint="redis:r:6379", seconds=2.0, client_failures=70, hosts=4, server_down=None,
                        server_up=None)
    findings = [
        Finding("PM100", "redis-unreachable", Severity.HIGH, Confidence.HIGH, "t", t_out, t_out + timedelta(seconds=2),
                (), out.as_stats(), (Evidence("a.log", 1, t_out, "refused"),), figures=out),
        Finding("PM305", "oom", Severity.HIGH, Confidence.HIGH, "t", t_oom, t_oom + timedelta(seconds=1), (),
                oom.as_stats(), (Evidence("a.log", 9, t_oom, "OOM"),), figures=oom),
    ]
    summary = build_story(findings, DETECTORS).summary
    oom_at = summary.index("refused 30 writes from all 4 pods")
    out_at = summary.index("A 2.0 s Redis outage (redis:r:6379) at 14:28:0")
    assert "caused 70 client failures on 4 pods" in summary
    assert (oom_at < out_at) is oom_first, summary
    trigger = dict(causes(findings, DETECTORS))["trigger"]
    assert [findings[i].rule_id for i in trigger] == (["PM305", "PM100"] if oom_first else ["PM100", "PM305"])
