""".NET fleets whose writes Redis refused at maxmemory (tests/data/dotnet-oom-4, dotnet-oom-16): every refusal is
one StackExchange.Redis `redis.oom` event, and PM305 leads the report at both sizes as it does for the redis-py
recording eviction-16, with the writes and pods the facts hold and evidence that cites the refusal's lines."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from functools import cache
from pathlib import Path

import polars as pl
import pytest

from postmortem.analysis.pipeline import analyze
from postmortem.input.ingest import ingest
from postmortem.redaction import redact_events

from .conftest import DATA

FLEETS = ["dotnet-oom-4", "dotnet-oom-16"]
PASSWORD = "C4che-Pr0d-9z!k"  # the generator's invented password: must never reach an output
OOM_REPLY = "OOM command not allowed when used memory > 'maxmemory'"


def facts(name: str) -> dict:
    return json.loads((DATA / f"{name}.facts.json").read_text(encoding="utf-8"))


@cache
def ingested(name: str):
    return ingest([str(DATA / name)])


@cache
def report_of(name: str):
    report, _ = analyze([str(DATA / name)])
    return report


def _ts(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.mark.parametrize("name", FLEETS)
def test_every_file_is_read_by_its_parser_with_nothing_unrecognized(name):
    truth = facts(name)
    parsers = {Path(f.path).name: f.parser for f in ingested(name).inputs}
    expected = {f"{pod}.log": "log:serilog" if info["layout"] == "serilog text" else "log:kubectl_ts+mel_console"
                for pod, info in truth["pods"]["per_pod"].items()}
    expected |= {"redis-cache-0.log": "log:redis_server",
                 "redis-cache-memory-data-as-joinbyfield-2026-06-03 10_25_02.csv": "grafana_csv"}
    assert parsers == expected
    for f in ingested(name).inputs:
        assert f.unrecognized_lines == 0 and not f.problems, (f.path, f.problems)


@pytest.mark.parametrize("name", FLEETS)
def test_each_refused_write_is_one_oom_event_on_its_pod(name):
    truth = facts(name)
    se = ingested(name).events.filter(pl.col("source") == "stackexchange_redis")
    assert set(se.get_column("kind")) == {"redis.oom", "redis.config"}
    oom = se.filter(pl.col("kind") == "redis.oom")
    per_pod = dict(oom.group_by("host").len().iter_rows())
    assert per_pod == {p: v["refused"] for p, v in truth["pods"]["per_pod"].items() if v["refused"]}
    assert oom.height == truth["writes_refused"]["total"]
    assert oom.get_column("ts").min() == _ts(truth["writes_refused"]["first"])
    assert oom.get_column("ts").max() == _ts(truth["writes_refused"]["last"])
    assert oom.get_column("entity").null_count() == oom.height  # the reply names no endpoint; keys are not one
    attrs = oom.get_column("attrs").str.json_decode()
    assert set(attrs.struct.field("error").to_list()) == {OOM_REPLY + "."}
    # every pod logged its connection string (read-only pods too): the fleet the pod count is measured against
    assert set(se.filter(pl.col("kind") == "redis.config").get_column("host")) == set(truth["pods"]["names"])
    shown = redact_events(se)
    assert PASSWORD not in "".join(shown.get_column("message").to_list() + shown.get_column("attrs").to_list())


@pytest.mark.parametrize("name", FLEETS)
def test_writes_refused_at_maxmemory_lead_the_report_at_every_size(name):
    truth = facts(name)
    report = report_of(name)
    refused, pods, fleet = truth["writes_refused"]["total"], truth["writes_refused"]["pods"], truth["pods"]["count"]
    (f,) = [f for f in report.findings if f.rule_id == "PM305"]
    assert (f.stats["refused"], f.stats["pods"], f.stats["pods_with_clients"]) == (refused, pods, fleet)
    assert f.stats["client_problems"] == refused and f.stats["error_share"] == 1.0
    assert report.chain("trigger")[0] == "PM305"
    assert report.summary.startswith("Redis at its memory limit") and f"{refused:,} writes" in report.summary
    # all of a fleet when every pod wrote; the writers alone when read-only pods saw nothing
    assert (f"from all {pods} pods" in report.summary) == (pods == fleet)
    assert f"from {pods} pods" in report.summary or pods == fleet
    # no outage and no storm: reads kept working and no connection failed
    assert not {"PM100", "PM101", "PM103"} & {x.rule_id for x in report.findings}
    (evicted,) = [x for x in report.findings if x.rule_id == "PM304"]
    assert evicted.stats["evicted"] == truth["evicted_keys"]["evicted_keys_total"]


@pytest.mark.parametrize("name", FLEETS)
def test_the_finding_cites_the_lines_of_the_refusals(name):
    (f,) = [f for f in report_of(name).findings if f.rule_id == "PM305"]
    assert f.evidence and f.evidence_more == facts(name)["writes_refused"]["total"] - len(f.evidence)
    for ev in f.evidence:
        lines = (DATA / name / ev.path).read_text(encoding="utf-8").splitlines()
        record = lines[ev.line - 1:ev.line + 2]  # the record's header, its message and the exception line
        assert any(OOM_REPLY in x for x in record), (ev.path, ev.line)
        assert OOM_REPLY in ev.text


def test_generator_is_deterministic(tmp_path):
    subprocess.run([sys.executable, str(DATA.parent.parent / "tools" / "make_dotnet_oom_fixture.py"), "--out-dir",
                    str(tmp_path)], check=True, capture_output=True)
    for name in FLEETS:
        made = sorted(p.name for p in (tmp_path / name).iterdir())
        assert made == sorted(p.name for p in (DATA / name).iterdir()), name
        for f in made:
            assert (tmp_path / name / f).read_bytes() == (DATA / name / f).read_bytes(), f
        assert (tmp_path / f"{name}.facts.json").read_bytes() == (DATA / f"{name}.facts.json").read_bytes()
