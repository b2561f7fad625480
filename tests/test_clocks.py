"""One clock (issue #16): per-file --tz, zones and clock offsets inferred from shared edges, corrected
before correlation; checked against recordings whose true clocks are in their facts."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from postmortem.analysis.clocks import match, split_zone
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.cli import main
from postmortem.input.ingest import IngestOptions

RECORDED = Path(__file__).parent / "data" / "recorded"
SKEWED = RECORDED / "skewed"


def _facts(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.facts.json").read_text())


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _by_rule(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report.findings:
        out.setdefault(f.rule_id, []).append(f)
    return out


@pytest.fixture(scope="module")
def skewed():
    report, _ = analyze([str(SKEWED)])
    return report


def test_skewed_outage_at_its_true_utc_start(skewed):
    facts = _facts("skewed")
    (outage,) = _by_rule(skewed)["PM100"]  # one window: no second outage from the skewed pod's copy
    assert abs((outage.start - _utc(facts["outage"]["start"])).total_seconds()) <= 2
    assert abs((outage.end - _utc(facts["outage"]["end"])).total_seconds()) <= 2
    assert outage.stats["hosts"] == len(facts["parameters"]["pod_names"])
    assert not {"PM101", "PM102"} & set(_by_rule(skewed))  # no retry storm from shifted copies


def test_skewed_pod_named_with_its_offset(skewed):
    facts = _facts("skewed")["clocks"]
    (pod, skew), = facts["pod_skew_seconds"].items()
    own = [f for f in _by_rule(skewed)["PM002"] if f.stats["skew_s"]]
    assert [f.entities for f in own] == [(pod,)]
    assert abs(own[0].stats["skew_s"] - skew) <= 2
    assert abs(own[0].stats["offset_s"] - facts["written_minus_true_seconds"][pod]) <= 2
    assert own[0].evidence and all(e.path for e in own[0].evidence)


def test_skewed_zone_inferred_for_every_pod(skewed):
    facts = _facts("skewed")["clocks"]
    clocks = {c.path: c for c in skewed.clocks}
    for pod, written in facts["written_minus_true_seconds"].items():
        c = clocks[f"{pod}.log"]
        assert c.how == "inferred" and c.zone == "UTC+01:00" and c.corrected
        assert abs(c.offset_s - written) <= 2
    assert clocks["redis-server.log"].offset_s == 0 and "agrees" in clocks["redis-server.log"].note
    assert clocks["redis-exporter.prom"].offset_s == 0


def test_no_align_keeps_raw_times():
    report, _ = analyze([str(SKEWED)], AnalyzeOptions(align=False))
    starts = sorted(f.start for f in _by_rule(report)["PM100"])
    true_start = _utc(_facts("skewed")["outage"]["start"])
    # the server's own edges and `redis_up 0` give the true window; the pods' raw local times two more
    assert len([s for s in starts if s - true_start > timedelta(minutes=59)]) == 2
    assert any(abs((s - true_start).total_seconds()) <= 2 for s in starts)
    assert any(f.stats["skew_s"] for f in _by_rule(report)["PM002"])  # offsets still reported
    assert not any(c.corrected for c in report.clocks)


def test_tz_glob_given_zone_leaves_only_the_skew():
    opts = AnalyzeOptions(ingest=IngestOptions(tz_globs=(("Europe/Berlin", "api-*.log"),)))
    report, _ = analyze([str(SKEWED)], opts)
    clocks = {c.path: c for c in report.clocks}
    assert clocks["api-6d4b9f-joegg.log"].how == "given" and clocks["api-6d4b9f-joegg.log"].zone == "Europe/Berlin"
    assert clocks["redis-server.log"].zone == "UTC"
    (pm002,) = _by_rule(report)["PM002"]
    assert pm002.entities == ("api-6d4b9f-grol4",) and pm002.stats["zone_s"] == 0
    assert abs(pm002.stats["skew_s"] - 40) <= 2
    (outage,) = _by_rule(report)["PM100"]
    assert abs((outage.start - _utc(_facts("skewed")["outage"]["start"])).total_seconds()) <= 2


def test_cli_tz_options(tmp_path):
    runner = CliRunner()
    out = tmp_path / "r.json"
    res = runner.invoke(main, ["analyze", str(SKEWED), "-o", str(out), "--exit-zero",
                               "--tz", "UTC", "--tz", "Europe/Berlin=api-*.log"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert {c["how"] for c in doc["clocks"] if c["path"].startswith("api-")} == {"given"}
    for bad in (["--tz", "Mars/Olympus"], ["--tz", "UTC", "--tz", "Europe/Berlin"], ["--tz", "UTC="]):
        res = runner.invoke(main, ["analyze", str(SKEWED), *bad])
        assert res.exit_code == 2, (bad, res.output)
    res = runner.invoke(main, ["analyze", str(SKEWED), "--no-align", "-f", "json", "--exit-zero"])
    assert res.exit_code == 0 and not any(c["corrected"] for c in json.loads(res.stdout)["clocks"])


def test_split_zone_and_match():
    assert split_zone(3640.0, zoneless=True) == (3600.0, 40.0)
    assert split_zone(3640.0, zoneless=False) == (0.0, 3640.0)  # a source that carried its zone is just off
    assert split_zone(1234.5, zoneless=True) == (0.0, 1234.5)  # not near a quarter hour: all skew
    assert split_zone(-1790.0, zoneless=True) == (-1800.0, 10.0)
    offset, pairs = match([100.5, 400.2], [0.0, 300.0])
    assert offset == pytest.approx(100.35) and pairs == [(0, 0), (1, 1)]
    assert match([], [1.0]) is None


def test_a_source_without_shared_edges_is_kept_as_read():
    report, _ = analyze([str(SKEWED / "api-6d4b9f-joegg.log")])
    (clock,) = report.clocks
    assert clock.offset_s == 0 and clock.how == "default" and "kept as read" in clock.note


# Property: shifting one source by any offset and analysing again gives the same findings and windows.

_POD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", re.M)
_SERVER = re.compile(r"^(\d+:[A-Z] )(\d\d \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3})", re.M)
_EPOCH_MS = re.compile(r" (\d{13})$", re.M)
_SIGNAL = re.compile(r"^(\d+:signal-handler \()(\d{9,10})(\))", re.M)


def shift_file(path: Path, seconds: float) -> None:
    """Rewrite one recorded file's timestamps `seconds` later, in its own layout: a clock that is off
    (the redis-server signal handler's epoch seconds move with the log's times)."""
    text = path.read_text(encoding="utf-8")
    delta = timedelta(seconds=seconds)
    if path.suffix == ".prom":
        text = _EPOCH_MS.sub(lambda m: f" {int(m.group(1)) + round(seconds * 1000)}", text)
    elif path.name == "redis-server.log":
        def server(m):
            t = datetime.strptime(m.group(2), "%d %b %Y %H:%M:%S.%f") + delta
            return m.group(1) + t.strftime("%d %b %Y %H:%M:%S.%f")[:-3]
        text = _SERVER.sub(server, text)
        text = _SIGNAL.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + round(seconds)}{m.group(3)}", text)
    else:
        def pod(m):
            t = datetime.strptime(f"{m.group(1)}.{m.group(2)}", "%Y-%m-%d %H:%M:%S.%f") + delta
            return t.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        text = _POD.sub(pod, text)
    path.write_text(text, encoding="utf-8")


def _signature(report) -> tuple[list[str], list]:
    rules = sorted(f.rule_id for f in report.findings if f.rule_id != "PM002")
    windows = sorted((f.rule_id, f.start, f.end) for f in report.findings if f.rule_id != "PM002")
    return rules, windows


_BASELINES: dict[str, tuple] = {}


@pytest.mark.slow
@settings(max_examples=12, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(fixture="storm", pick=0, sign=-1, seconds=10.0)  # the metrics export (the first anchor) off
@example(fixture="healthy-4", pick=4, sign=1, seconds=3600.0)  # the metrics export a whole hour off
@example(fixture="healthy-4", pick=1, sign=1, seconds=1234.5)  # one pod off by no whole zone
@given(fixture=st.sampled_from(["storm", "healthy-4"]), pick=st.integers(min_value=0, max_value=20),
       sign=st.sampled_from([-1, 1]), seconds=st.floats(min_value=10, max_value=6 * 3600))
def test_shifting_one_source_changes_nothing(tmp_path_factory, fixture, pick, sign, seconds):
    if fixture not in _BASELINES:
        _BASELINES[fixture] = _signature(analyze([str(RECORDED / fixture)])[0])
    rules, windows = _BASELINES[fixture]
    folder = tmp_path_factory.mktemp("shifted") / fixture
    shutil.copytree(RECORDED / fixture, folder)
    # Not yet: a shifted server log is only corrected when another anchor (a `redis_up` drop in the metrics)
    # shares its edges; against the client fleet alone it stays the reference (issue #16 left open for it).
    files = sorted(p for p in folder.iterdir() if p.name != "redis-server.log")
    shift_file(files[pick % len(files)], sign * seconds)
    got_rules, got_windows = _signature(analyze([str(folder)])[0])
    assert got_rules == rules, files[pick % len(files)].name
    for (rule, start, end), (_, s2, e2) in zip(windows, got_windows, strict=True):
        assert start is None or abs((s2 - start).total_seconds()) <= 2, (rule, files[pick % len(files)].name)
        assert end is None or abs((e2 - end).total_seconds()) <= 2, (rule, files[pick % len(files)].name)


def test_shift_file_moves_every_time(tmp_path):
    """The property test's shifter really moves the times (so the property can fail)."""
    folder = tmp_path / "s"
    shutil.copytree(RECORDED / "healthy-4", folder)
    for f in sorted(folder.iterdir()):
        before = f.read_text()
        shift_file(f, 3600)
        assert f.read_text() != before, f.name
    report, _ = analyze([str(folder)], AnalyzeOptions(align=False))
    base, _ = analyze([str(RECORDED / "healthy-4")], AnalyzeOptions(align=False))
    assert report.window_start - base.window_start == timedelta(hours=1)
    assert datetime.now(tz=UTC) > report.window_start
