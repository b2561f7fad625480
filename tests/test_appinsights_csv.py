"""Application Insights / Log Analytics CSV exports: sniffing, multi-line rows, recognizers inside."""

from __future__ import annotations

import json

import polars as pl

from parsers.appinsights_csv import AppInsightsCsv
from postmortem.input.ingest import ingest
from postmortem.redaction import redact_events

from .conftest import DATA

FIXTURES = DATA / "stackexchange"  # synthetic exports, see its README.md
HEADER = "timestamp [UTC],message,severityLevel,itemType,cloud_RoleInstance\n"


def test_sniff_header_only():
    p = AppInsightsCsv()
    assert p.sniff(HEADER) > 0.5
    assert p.sniff('"TimeGenerated [UTC]","Message","SeverityLevel","AppRoleInstance"\n') > 0.5
    assert p.sniff("timestamp,value\n2024-01-15T10:00:00Z,3\n") == 0.0
    assert p.sniff("2024-01-15 10:02:11,532 ERROR app - message, severityLevel\n") == 0.0


def test_rows_become_events_with_time_level_host():
    result = ingest([str(FIXTURES / "appinsights_traces.csv")])
    (info,) = result.inputs
    assert info.parser == "appinsights_csv" and info.accounted() and info.records == 3
    ev = result.events
    assert ev.get_column("source").to_list() == ["stackexchange_redis", "app", "stackexchange_redis"]
    assert str(ev.get_column("ts")[0]) == "2026-03-14 02:12:11.532000+00:00"
    assert ev.get_column("level").cast(pl.String).to_list() == ["error", "info", "info"]
    assert ev.get_column("host").to_list() == ["shop-api-6d9f7b8c5-2xk4q"] * 2 + ["shop-api-6d9f7b8c5-7pq2m"]
    assert "AppInsightsLeak1" in ev.write_csv()  # kept as logged; the one pass redacts outputs
    assert "AppInsightsLeak1" not in redact_events(ev).write_csv()


def test_exceptions_table_uses_outer_message_and_details():
    result = ingest([str(FIXTURES / "appinsights_exceptions.csv")])
    ev = result.events
    row = ev.filter(pl.col("kind") == "redis.no_connection").row(0, named=True)
    attrs = json.loads(row["attrs"])
    assert attrs["inner_kind"] == "redis.connect_failed" and attrs["mc_attempts"] == 1
    assert row["message"].startswith("StackExchange.Redis.RedisConnectionException: No connection")
    assert ev.filter(pl.col("source") == "app").get_column("message").to_list() == [
        "System.InvalidOperationException: Order already placed"]


def test_multiline_quoted_rows_and_truncation_are_accounted(tmp_path):
    body = (HEADER + '2026-03-14T02:12:11Z,"Timeout awaiting response (outbound=0KiB, inbound=0KiB, 1178ms elapsed, '
            'timeout is 1000ms), command=GET, qs: 81\n   at X.Y()\n   at Z.W()",3,trace,api-1\n\n'
            '2026-03-14T02:12:12Z,"ok",1,trace,api-1\n')
    (tmp_path / "multi.csv").write_text(body, encoding="utf-8")
    (tmp_path / "cut.csv").write_text(body[: body.index("at Z")], encoding="utf-8")
    result = ingest([str(tmp_path)])
    by = {f.path.rsplit("/", 1)[-1]: f for f in result.inputs}
    assert all(f.accounted() for f in by.values()), by
    multi = result.events.filter(pl.col("path").str.ends_with("multi.csv"))
    assert multi.get_column("line").to_list() == [2, 6] and multi.get_column("kind")[0] == "redis.timeout"
    cut = result.events.filter(pl.col("path").str.ends_with("cut.csv"))  # the open quote runs to the end
    assert cut.get_column("kind").to_list() == ["redis.timeout"] and by["cut.csv"].event_lines == 4
