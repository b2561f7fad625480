"""One clock (issue #16): per-file --tz, zones and clock offsets inferred from shared edges, corrected
before correlation; checked against recordings whose true clocks are in their facts."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from postmortem.analysis.clocks import (
    AGREE_S,
    HOST_MARGIN_S,
    STALL_LOWER,
    STALL_UPPER,
    STARTED_BEFORE,
    ZONE_SLACK_S,
    ZONE_STEP_S,
    ClockOffset,
    _host_spans,
    _loss_bursts,
    _stall,
    apply_offsets,
    file_sources,
    match,
    metric_cycles,
    server_against_fleet,
    server_against_stall,
    split_zone,
)
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.cli import main
from postmortem.input.ingest import IngestOptions, ingest
from postmortem.schema import EVENT_SCHEMA

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


SKEWED_RECORDINGS = ["skewed", "skewed-16"]  # 6 and 16 pods: Berlin and New York local time, one pod +40 / -25 s
_SKEWED: dict[str, object] = {}


@pytest.fixture(params=SKEWED_RECORDINGS)
def skewed(request):
    """(name, report) of each skewed recording, analysed once with no option."""
    if request.param not in _SKEWED:
        _SKEWED[request.param] = analyze([str(RECORDED / request.param)])[0]
    return request.param, _SKEWED[request.param]


def test_skewed_outage_at_its_true_utc_start(skewed):
    name, report = skewed
    facts = _facts(name)
    (outage,) = _by_rule(report)["PM100"]  # one window: no second outage from the skewed pod's copy
    assert abs((outage.start - _utc(facts["outage"]["start"])).total_seconds()) <= 2
    assert abs((outage.end - _utc(facts["outage"]["end"])).total_seconds()) <= 2
    assert outage.stats["hosts"] == len(facts["parameters"]["pod_names"])
    assert not {"PM101", "PM102"} & set(_by_rule(report))  # no retry storm from shifted copies


def test_skewed_pod_named_with_its_offset(skewed):
    name, report = skewed
    facts = _facts(name)["clocks"]
    (pod, skew), = facts["pod_skew_seconds"].items()
    own = [f for f in _by_rule(report)["PM002"] if f.stats["skew_s"]]
    assert [f.entities for f in own] == [(pod,)]
    assert abs(own[0].stats["skew_s"] - skew) <= 2
    assert abs(own[0].stats["offset_s"] - facts["written_minus_true_seconds"][pod]) <= 2
    assert own[0].evidence and all(e.path for e in own[0].evidence)


def test_skewed_zone_inferred_for_every_pod(skewed):
    name, report = skewed
    facts = _facts(name)["clocks"]
    hours = facts["app_utc_offset_seconds"] / 3600
    clocks = {c.path: c for c in report.clocks}
    for pod, written in facts["written_minus_true_seconds"].items():
        c = clocks[f"{pod}.log"]
        assert c.how == "inferred" and c.zone == f"UTC{'+' if hours >= 0 else '-'}{abs(hours):02.0f}:00" and c.corrected
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


def test_a_files_source_is_the_same_every_run():
    """A pod log with as many redis-py lines as app lines (healthy-4, healthy-48, slow-8) got either
    source at random from `mode()`; now the most rows, then the first name, every time."""
    events = pl.DataFrame({"path": ["a.log"] * 4 + ["b.log"] * 5 + ["c.log"] * 2,
                           "source": ["redis_py", "app", "redis_py", "app", "x", "y", "y", "x", "y", "z", "z"]})
    for _ in range(50):
        for order in (events, events.reverse(), events.sample(fraction=1.0, shuffle=True, seed=_)):
            assert file_sources(order) == {"a.log": "app", "b.log": "y", "c.log": "z"}


def test_an_aggregated_events_span_moves_with_its_time():
    """A Kubernetes event seen 3 times carries its first and last sighting in attrs: a correction of its
    file moves them with `ts` (the Kubernetes rules read the span), and leaves other files alone."""
    t = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    span = json.dumps({"first_ts": "2026-01-01T00:00:10Z", "last_ts": "2026-01-01T00:00:30Z", "count": 3})
    events = pl.DataFrame([{"event_id": 0, "ts": t, "source": "k8s_events", "kind": "k8s.BackOff", "path": "ev.txt",
                            "line": 2, "attrs": span},
                           {"event_id": 1, "ts": t, "source": "k8s_events", "kind": "k8s.BackOff", "path": "other.txt",
                            "line": 2, "attrs": span}],
                          schema_overrides={"ts": pl.Datetime("us", "UTC"), "line": pl.UInt32, "event_id": pl.UInt32})
    events = events.with_columns([pl.lit(None, dtype).alias(c) for c, dtype in EVENT_SCHEMA.items()
                                  if c not in events.columns]).select(list(EVENT_SCHEMA))
    moved = apply_offsets(events, [ClockOffset("ev.txt", None, "k8s_events", 20.0, 0.0, 20.0, "fleet", ())])
    by_path = {r["path"]: r for r in moved.iter_rows(named=True)}
    assert by_path["ev.txt"]["ts"] == t - timedelta(seconds=20)
    assert json.loads(by_path["ev.txt"]["attrs"]) == {"first_ts": "2025-12-31T23:59:50.000000Z",
                                                     "last_ts": "2026-01-01T00:00:10.000000Z", "count": 3}
    assert by_path["other.txt"]["attrs"] == span and by_path["other.txt"]["ts"] == t


def test_a_source_without_shared_edges_is_kept_as_read():
    report, _ = analyze([str(SKEWED / "api-6d4b9f-joegg.log")])
    (clock,) = report.clocks
    assert clock.offset_s == 0 and clock.how == "default" and "kept as read" in clock.note


# Property: shifting one source by any offset and analysing again gives the same findings and windows.

_POD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", re.M)
_SERVER = re.compile(r"^(\d+:[A-Z] )(\d\d \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3})", re.M)
_EPOCH_MS = re.compile(r" (\d{13})$", re.M)
_SIGNAL = re.compile(r"^(\d+:signal-handler \()(\d{9,10})(\))", re.M)
_K8S = re.compile(r"\b(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z")


def shift_file(path: Path, seconds: float) -> None:
    """Rewrite one recorded file's timestamps `seconds` later, in its own layout: a clock that is off
    (the redis-server signal handler's epoch seconds move with the log's times)."""
    text = path.read_text(encoding="utf-8")
    delta = timedelta(seconds=seconds)
    if path.suffix == ".prom":
        text = _EPOCH_MS.sub(lambda m: f" {int(m.group(1)) + round(seconds * 1000)}", text)
    elif path.name.startswith("k8s-events"):  # kubectl's whole-second UTC times: the fraction is lost
        def k8s(m):
            return (datetime.fromisoformat(m.group(1)) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = _K8S.sub(k8s, text)
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


def _provable(fixture: str, name: str, seconds: float) -> bool:
    """Whether the fixture holds the evidence for this shift. Kubernetes events behind look like pods
    that were slow to start (only events ahead are proven: pods logging before they were started); a
    whole zone between a server log no metrics edge places and a zone-less fleet is, by the UTC
    convention for server logs, the fleet's (`test_a_whole_zone_between_a_lone_server_and_the_fleet_is_the_fleets`)."""
    if name.startswith("k8s-events"):
        return seconds > 2 * AGREE_S
    if fixture == "hang-8" and name == "redis-server.log":
        return _not_a_zone(seconds)
    if fixture == "hang-8" and name == "redis-exporter.prom":
        # every scrape of the 1.9 s hang was answered (no `redis_up` 0): no edge places the export, so it is kept
        # as read, and moved hours later its counters' resume burst stands alone (PM303; found by hypothesis in
        # session 14 at +700 s to +21,000 s, on main as well)
        return False
    return True


@pytest.mark.slow
@settings(max_examples=16, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(fixture="storm", pick=0, sign=-1, seconds=10.0)  # the metrics export (the first anchor) off
@example(fixture="healthy-4", pick=4, sign=1, seconds=3600.0)  # the metrics export a whole hour off
@example(fixture="healthy-4", pick=1, sign=1, seconds=1234.5)  # one pod off by no whole zone
@example(fixture="storm", pick=1, sign=1, seconds=3600.0)  # the server log a whole hour off
@example(fixture="pair-storm-8", pick=1, sign=-1, seconds=7.5)  # the server log seconds behind
@example(fixture="hang-8", pick=9, sign=1, seconds=30.0)  # a hang's server log: no shutdown or ready line
@example(fixture="hang-8", pick=9, sign=-1, seconds=1234.5)
@example(fixture="hang-8", pick=1, sign=1, seconds=10.0)  # one pod of a hang ahead of the others
@example(fixture="hang-8", pick=3, sign=-1, seconds=3600.0)  # ... written in a local zone
@example(fixture="scaleout", pick=0, sign=1, seconds=40.0)  # Kubernetes events ahead
@example(fixture="scaleout", pick=0, sign=1, seconds=3600.0)
@given(fixture=st.sampled_from(["storm", "healthy-4", "pair-storm-8", "hang-8", "scaleout"]),
       pick=st.integers(min_value=0, max_value=20), sign=st.sampled_from([-1, 1]),
       seconds=st.floats(min_value=10, max_value=6 * 3600))
def test_shifting_one_source_changes_nothing(tmp_path_factory, fixture, pick, sign, seconds):
    files = sorted((RECORDED / fixture).iterdir())
    name = files[pick % len(files)].name
    assume(_provable(fixture, name, sign * seconds))
    if fixture not in _BASELINES:
        _BASELINES[fixture] = _signature(analyze([str(RECORDED / fixture)])[0])
    folder = tmp_path_factory.mktemp("shifted") / fixture
    shutil.copytree(RECORDED / fixture, folder)
    shift_file(folder / name, sign * seconds)
    _assert_same(_BASELINES[fixture], _signature(analyze([str(folder)])[0]), f"{name} {sign * seconds:+} s")


def _assert_same(baseline, got, shifted: str, slack_s: float = 2.0) -> None:
    (rules, windows), (got_rules, got_windows) = baseline, got
    assert got_rules == rules, shifted
    for (rule, start, end), (_, s2, e2) in zip(windows, got_windows, strict=True):
        assert start is None or abs((s2 - start).total_seconds()) <= slack_s, (rule, shifted)
        assert end is None or abs((e2 - end).total_seconds()) <= slack_s, (rule, shifted)


def _without_metrics(tmp_path_factory, fixture: str) -> Path:
    """A copy of a recorded fixture without its metrics export: the server log and the clients only."""
    folder = tmp_path_factory.mktemp("no-metrics") / Path(fixture).name
    shutil.copytree(RECORDED / fixture, folder, ignore=shutil.ignore_patterns("*.prom"))
    return folder


def _not_a_zone(seconds: float) -> bool:
    return round(seconds / ZONE_STEP_S) == 0 or abs(seconds - round(seconds / ZONE_STEP_S) * ZONE_STEP_S) > ZONE_SLACK_S


_LONE: dict[str, tuple] = {}


def _not_at_the_margin(seconds: float) -> bool:
    """Outside the band where a lone server log is neither promised corrected nor harmless: about AGREE_S off, the
    measured offset may fall either side of the margin, and an uncorrected server log moves windows anchored on its
    lines by more than the shift (pair-storm-24 +2.00001 s, uncorrected: PM402's end 3.1 s earlier)."""
    return not AGREE_S - 0.5 <= abs(seconds) <= 2 * AGREE_S


@pytest.mark.slow
@settings(max_examples=10, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(fixture="storm", seconds=-4.0)  # inside the old skew margins: a retry storm lost before
@example(fixture="storm-16", seconds=30.0)
@example(fixture="healthy-4", seconds=1234.5)
@example(fixture="pair-storm-24", seconds=-5000.0)
@example(fixture="pair-storm-24", seconds=-1.1)  # behind, uncorrected: its shutdown must not start the window (CI)
@example(fixture="storm", seconds=-1.1)  # ... nor its ready line end it: refusals "after Redis was back" (PM102)
@example(fixture="storm-16", seconds=-1.45)
@given(fixture=st.sampled_from(["storm", "storm-16", "pair-storm-8", "pair-storm-24", "healthy-4", "pair-healthy-8"]),
       seconds=st.floats(min_value=-6 * 3600, max_value=6 * 3600).filter(_not_a_zone).filter(_not_at_the_margin))
def test_a_server_log_shifted_against_the_client_fleet_alone(tmp_path_factory, fixture, seconds):
    """No metrics export to anchor it: the server's own shutdown and ready lines against the fleet's first
    failures and last refusals find its offset, and the findings and windows stay those of the recording."""
    if fixture not in _LONE:
        _LONE[fixture] = _signature(analyze([str(_without_metrics(tmp_path_factory, fixture))])[0])
    folder = _without_metrics(tmp_path_factory, fixture)
    shift_file(folder / "redis-server.log", seconds)
    report, _ = analyze([str(folder)])
    _assert_same(_LONE[fixture], _signature(report), f"redis-server.log {seconds:+} s")
    off = [c for c in report.clocks if c.offset_s]
    if abs(seconds) > 2 * AGREE_S:
        assert [(c.path, c.host) for c in off] == [("redis-server.log", None)], off
        assert abs(off[0].offset_s - seconds) <= 2 and "other client hosts" in off[0].note
        (pm002,) = _by_rule(report)["PM002"]
        assert pm002.stats["source"] == "redis_server" and pm002.evidence
    assert all(c.path == "redis-server.log" for c in off)


def test_a_whole_zone_between_a_lone_server_and_the_fleet_is_the_fleets(tmp_path_factory):
    """Two zone-less clocks a whole hour apart and no third: by convention the server wrote UTC and the
    fleet its local zone (the skewed recording's case); with the metrics export the server is moved."""
    folder = _without_metrics(tmp_path_factory, "storm")
    shift_file(folder / "redis-server.log", 3600)
    report, _ = analyze([str(folder)])
    zones = {c.path: c.zone for c in report.clocks if c.offset_s}
    assert set(zones) == {p.name for p in folder.glob("worker-*.log")} and set(zones.values()) == {"UTC-01:00"}
    with_metrics = tmp_path_factory.mktemp("zone") / "storm"
    shutil.copytree(RECORDED / "storm", with_metrics)
    shift_file(with_metrics / "redis-server.log", 3600)
    report, _ = analyze([str(with_metrics)])
    assert [c.path for c in report.clocks if c.offset_s] == ["redis-server.log"]


_STALL: dict[str, tuple] = {}


@pytest.mark.slow
@settings(max_examples=8, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(fixture="hang-8", seconds=-4.0)
@example(fixture="hang-8", seconds=30.0)
@example(fixture="slow-8", seconds=1234.5)
@example(fixture="hang-8", seconds=-5000.0)
@example(fixture="slow-8", seconds=1.0)  # inside the margin: the KEYS client's accept is no resume (_hang_end)
@example(fixture="slow-8", seconds=1.5)
@example(fixture="hang-8", seconds=1.9)
@example(fixture="slow-8", seconds=2.093)  # found by hypothesis: PM101 counted the resume's queued connects
@given(fixture=st.sampled_from(["hang-8", "slow-8"]),
       seconds=st.floats(min_value=-6 * 3600, max_value=6 * 3600).filter(_not_a_zone))
def test_a_server_log_shifted_on_a_stall(tmp_path_factory, fixture, seconds):
    """A hang (SIGSTOP) and a blocking KEYS log no shutdown or ready line: the server's burst of closes and
    accepts when it runs again, between the fleet's last losses and its next activity, places the log."""
    if fixture not in _STALL:
        _STALL[fixture] = _signature(analyze([str(RECORDED / fixture)])[0])
    folder = tmp_path_factory.mktemp("stall") / fixture
    shutil.copytree(RECORDED / fixture, folder)
    shift_file(folder / "redis-server.log", seconds)
    report, _ = analyze([str(folder)])
    off = [c for c in report.clocks if c.offset_s]
    # a skew left uncorrected (inside the margin, or up to twice it) moves the edges the server's log dates by
    # itself; what is found must not change
    slack = 2.0 if off or abs(seconds) > 2 * AGREE_S else 2.0 + abs(seconds)
    _assert_same(_STALL[fixture], _signature(report), f"redis-server.log {seconds:+} s", slack)
    assert all(c.path == "redis-server.log" for c in off), off
    if abs(seconds) > 2 * AGREE_S:
        assert len(off) == 1 and abs(off[0].offset_s - seconds) <= 2 and "other client hosts" in off[0].note
        (pm002,) = _by_rule(report)["PM002"]
        assert pm002.stats["source"] == "redis_server"
        assert {e["edge"] for e in pm002.stats["edges"]} == {STALL_LOWER, STALL_UPPER}
        assert {"redis-server.log"} < {e.path for e in pm002.evidence}


def _stall_server(truth: float, resume: float, first_line: float) -> pl.DataFrame:
    """A server log `truth` seconds ahead: a client accepted, silence, then closes and accepts at `resume`."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(first_line, "redis.server.ready", None), (first_line + 0.01, "redis.server.client_accepted", 1.0),
            (resume, "redis.server.client_accepted", 5.0), (resume + 0.001, "redis.server.client_closed", 5.0)]
    return pl.DataFrame([{"ts": t0 + timedelta(seconds=truth + at), "path": "redis-server.log", "line": i + 1,
                          "kind": kind, "value": value} for i, (at, kind, value) in enumerate(rows)],
                        schema={"ts": pl.Datetime("us", "UTC"), "path": pl.String, "line": pl.UInt32,
                                "kind": pl.String, "value": pl.Float64})


@settings(max_examples=200, deadline=None)
@given(hosts=st.integers(min_value=3, max_value=30), truth=st.floats(min_value=-6 * 3600, max_value=6 * 3600),
       stall=st.floats(min_value=1, max_value=60), firsts=st.lists(st.floats(0, 1), min_size=30, max_size=30),
       lasts=st.lists(st.floats(0, 1), min_size=30, max_size=30),
       nexts=st.lists(st.floats(0, 3), min_size=30, max_size=30))
def test_a_reaction_lag_is_never_read_as_a_stalled_servers_offset(hosts, truth, stall, firsts, lasts, nexts):
    """The server stalls at 0 and runs again at `stall` (true times); each client loses it somewhere in
    between and works again up to 3 s after: the offset found lies within what those edges allow, and a
    server on time is never moved, however the hosts reacted."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def row(path, line, at):
        return {"path": path, "line": line, "ts": t0 + timedelta(seconds=at)}

    bursts, starts = {}, {}
    for i in range(hosts):
        unit = (f"h{i}.log", f"h{i}", "redis_py")
        first = firsts[i] * stall
        last = first + lasts[i] * (stall - first)
        bursts[unit] = [{"first": row(unit[0], 2, first), "last": row(unit[0], 3, last),
                         "next": row(unit[0], 4, stall + nexts[i])}]
        starts[unit] = (-30.0 + t0.timestamp(), stall + 30.0 + t0.timestamp())
    # the server exits 1 s after the fleet's last work (true times): the exit never refuses a true reading
    found = server_against_stall(_with_exit(_stall_server(truth, stall, -60), 31.0), bursts, starts)
    lasts_at = [b[0]["last"]["ts"].timestamp() - t0.timestamp() for b in bursts.values()]
    latest_next = max(nexts[:hosts])
    if found is not None:  # between (resume - latest next activity) and (resume - earliest last loss)
        slack = AGREE_S if found[0] == 0.0 else 1e-6  # 0.0: on time, zero within the bounds
        assert truth - latest_next - slack <= found[0] <= truth + stall - min(lasts_at) + slack
    if abs(truth) < 1e-9:
        assert found is None or found[0] == 0.0  # on time: no reaction reads as an offset
    elif (_not_a_zone(-truth) and max(lasts_at) - min(lasts_at) <= AGREE_S  # one fleet: every host agrees
          and stall + latest_next - min(lasts_at) <= 2 * 5.0 and abs(truth) > stall + latest_next + AGREE_S):
        assert found is not None and found[0] != 0.0


def test_a_stall_needs_the_server_log_to_reach_back_before_the_fleet():
    """A server log that begins after the fleet's logs cannot tell its own start (a fleet's first
    connections after a silence) from a resume: nothing is moved."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    bursts = {(f"h{i}.log", f"h{i}", "redis_py"): [{
        "first": {"path": f"h{i}.log", "line": 2, "ts": datetime.fromtimestamp(t0 + 0.1 * i, UTC)},
        "last": {"path": f"h{i}.log", "line": 3, "ts": datetime.fromtimestamp(t0 + 1 + 0.1 * i, UTC)},
        "next": {"path": f"h{i}.log", "line": 4, "ts": datetime.fromtimestamp(t0 + 2.5, UTC)}}] for i in range(4)}
    starts = {u: (t0 - 30, t0 + 30) for u in bursts}
    assert server_against_stall(_stall_server(100.0, 2.0, -60), bursts, starts)[0] == pytest.approx(100.3, abs=1)
    assert server_against_stall(_stall_server(100.0, 2.0, -5), bursts, starts) is None


def _with_exit(server: pl.DataFrame, at: float) -> pl.DataFrame:
    """`server` with a `User requested shutdown...` line `at` seconds after its last line."""
    last = server.sort("ts").row(-1, named=True)
    return pl.concat([server, pl.DataFrame([{"ts": last["ts"] + timedelta(seconds=at), "path": last["path"],
                                             "line": last["line"] + 1, "kind": "redis.server.shutdown",
                                             "value": None, "message": "User requested shutdown..."}],
                                           schema=server.schema | {"message": pl.String})], how="diagonal")


def test_a_stall_needs_the_fleets_work_to_end_before_the_servers_exit():
    """A server that logs its own exit answered nobody after it: a resume read at an offset that puts the
    exit before the fleet's last work (the closes of a fleet leaving, slow-nocfg-12) is no evidence; the
    same resume with the exit after that work places the log."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    bursts = {(f"h{i}.log", f"h{i}", "redis_py"): [{
        "first": {"path": f"h{i}.log", "line": 2, "ts": datetime.fromtimestamp(t0 + 0.1 * i, UTC)},
        "last": {"path": f"h{i}.log", "line": 3, "ts": datetime.fromtimestamp(t0 + 1 + 0.1 * i, UTC)},
        "next": {"path": f"h{i}.log", "line": 4, "ts": datetime.fromtimestamp(t0 + 2.5, UTC)}}] for i in range(4)}
    server = _stall_server(100.0, 2.0, -60)  # 100 s ahead: its resume at 102 s on its clock
    worked_until = {u: (t0 - 30, t0 + 20) for u in bursts}  # the fleet works 20 s after its losses
    assert server_against_stall(_with_exit(server, 30.0), bursts, worked_until)[0] == pytest.approx(100.3, abs=1)
    assert server_against_stall(_with_exit(server, 10.0), bursts, worked_until) is None


SLOW_NOCFG_FALSE_RESUMES = ["slow-nocfg-12", "slow-nocfg-16"]  # both read 4.3 and 6.2 s ahead before


@pytest.mark.parametrize("name", SLOW_NOCFG_FALSE_RESUMES)
def test_a_fleet_leaving_is_not_a_stalled_servers_resume(name):
    """One machine, one clock: the KEYS stalled the server for less than the 2 s silence a resume needs, so the only
    burst of closes after a silence is the fleet leaving at the end of the run (closes, then the recorder's last
    INFO connection). Read as the resume it put the server's exit before the fleet's last work: no correction."""
    facts = _facts(name)
    report, _ = analyze([str(RECORDED / name)])
    events = ingest([str(RECORDED / name)]).events
    server = events.filter(pl.col("path") == "redis-server.log")
    keys_end = _utc(facts["slow_command"]["end"]).timestamp()
    stall = _stall(server, _loss_bursts(events))
    assert stall is not None and all(r["ts"].timestamp() > keys_end + 2 * AGREE_S for r, _ in stall.resumes)
    assert server_against_stall(server, _loss_bursts(events), _host_spans(events), stall) is None
    assert facts["clocks"]["written_minus_true_seconds"] and not any(facts["clocks"]["written_minus_true_seconds"].values())
    assert not [c for c in report.clocks if c.offset_s or c.corrected] and "PM002" not in _by_rule(report)


def test_a_skewed_fleet_around_a_stall_gets_its_zone_and_its_pod():
    """Control for the stall's checks: a hang (SIGSTOP) whose pods write Berlin time without offset, one pod 25 s
    ahead of them, against a UTC server log: every pod gets what it wrote, the server keeps its clock."""
    facts = _facts("skewed-hang-8")["clocks"]
    report, _ = analyze([str(RECORDED / "skewed-hang-8")])
    clocks = {c.path: c for c in report.clocks}
    for pod, written in facts["written_minus_true_seconds"].items():
        assert abs(clocks[f"{pod}.log"].offset_s - written) <= 1 and clocks[f"{pod}.log"].corrected, pod
    assert clocks["redis-server.log"].offset_s == 0 and clocks["redis-exporter.prom"].offset_s == 0
    (pod, skew), = facts["pod_skew_seconds"].items()
    own = [f for f in _by_rule(report)["PM002"] if f.stats["skew_s"]]
    assert [f.entities for f in own] == [(pod,)] and abs(own[0].stats["skew_s"] - skew) <= 1


def _one_clock(name: str) -> bool:
    """Whether the recording was written on one clock as far as the clocks promise to tell: every pod in UTC and
    none off by more than `AGREE_S` (its facts' clocks; hang-skew-16's pod 2.0 s off stays in)."""
    clocks = json.loads((RECORDED / f"{name}.facts.json").read_text()).get("clocks") or {}
    return all(abs(v) <= AGREE_S for v in (clocks.get("written_minus_true_seconds") or {}).values())


@pytest.mark.slow
@pytest.mark.parametrize("fixture", [*sorted(p.name for p in RECORDED.iterdir() if p.is_dir() and _one_clock(p.name)),
                                     "../example-incident", "../pod-storm"])
def test_no_correction_on_an_unshifted_recording(tmp_path_factory, fixture):
    """Recordings written on one clock: no offset and no PM002, with and without the metrics export."""
    for folder in (RECORDED / fixture, _without_metrics(tmp_path_factory, fixture)):
        report, _ = analyze([str(folder)])
        assert not [c for c in report.clocks if c.offset_s or c.corrected], folder
        assert "PM002" not in _by_rule(report), folder


_SCALEOUT: list = []


@pytest.mark.slow
@settings(max_examples=8, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(pick=0, seconds=40.0)
@example(pick=1, seconds=-90.0)
@example(pick=2, seconds=3600.0)  # a pod written in a local zone
@given(pick=st.integers(min_value=0, max_value=3),
       seconds=st.floats(min_value=-6 * 3600, max_value=6 * 3600).filter(lambda s: abs(s) >= HOST_MARGIN_S + 2))
def test_a_new_pod_shifted_is_placed_by_its_kubernetes_start(tmp_path_factory, pick, seconds):
    """Scale-out pods start after the outage (no outage edge): a pod's first line against the
    Kubernetes `Started` event for it, beside the other new pods', gives its offset."""
    if not _SCALEOUT:
        _SCALEOUT.append(_signature(analyze([str(RECORDED / "scaleout")])[0]))
    pod = sorted(_facts("scaleout")["scaleout"]["new_pods"])[pick]
    folder = tmp_path_factory.mktemp("pods") / "scaleout"
    shutil.copytree(RECORDED / "scaleout", folder)
    shift_file(folder / f"{pod}.log", seconds)
    report, _ = analyze([str(folder)])
    _assert_same(_SCALEOUT[0], _signature(report), f"{pod} {seconds:+} s")
    (off,) = [c for c in report.clocks if c.offset_s]
    assert (off.path, off.host) == (f"{pod}.log", pod) and abs(off.offset_s - seconds) <= 2
    assert "k8s-events.txt" in off.note
    (pm002,) = [f for f in _by_rule(report)["PM002"] if pod in f.entities]
    assert {"k8s-events.txt", f"{pod}.log"} <= {e.path for e in pm002.evidence}
    started, lag = pm002.stats["edges"]  # the pod's own gap minus the started pods' start-up lag
    assert abs(started["offset_s"] - lag["offset_s"] - pm002.stats["offset_s"]) <= 0.01


@pytest.mark.slow
@settings(max_examples=6, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(seconds=30.0)
@example(seconds=3600.0)
@example(seconds=-30.0)
@given(seconds=st.floats(min_value=-6 * 3600, max_value=6 * 3600).filter(lambda s: abs(s) > 2 * AGREE_S))
def test_kubernetes_events_placed_by_the_pods_they_started(tmp_path_factory, seconds):
    """Pods log only after Kubernetes started them: events ahead are moved by the least offset that
    proves (within the pods' start-up lag), their aggregated spans too; events behind read as a slow
    start-up and are kept as read (nothing is moved without evidence)."""
    if not _SCALEOUT:
        _SCALEOUT.append(_signature(analyze([str(RECORDED / "scaleout")])[0]))
    folder = tmp_path_factory.mktemp("k8s") / "scaleout"
    shutil.copytree(RECORDED / "scaleout", folder)
    shift_file(folder / "k8s-events.txt", seconds)
    report, _ = analyze([str(folder)])
    off = [c for c in report.clocks if c.offset_s]
    if seconds < 0:
        assert not off and not [c for c in report.clocks if c.corrected]
        return
    _assert_same(_SCALEOUT[0], _signature(report), f"k8s-events.txt {seconds:+} s")
    (k8s,) = off
    assert k8s.path == "k8s-events.txt" and 0 <= seconds - k8s.offset_s <= 2  # never more than it was off
    (pm002,) = _by_rule(report)["PM002"]
    assert pm002.stats["source"] == "k8s_events" and {e["edge"] for e in pm002.stats["edges"]} == {STARTED_BEFORE}
    assert {"k8s-events.txt"} < {e.path for e in pm002.evidence}


def test_a_whole_zone_between_a_stalled_server_and_the_fleet_is_the_fleets(tmp_path_factory):
    """A hang's server log (UTC by convention) an hour from a zone-less fleet: the fleet wrote local time."""
    folder = tmp_path_factory.mktemp("stall-zone") / "hang-8"
    shutil.copytree(RECORDED / "hang-8", folder)
    shift_file(folder / "redis-server.log", -3600)
    report, _ = analyze([str(folder)])
    zones = {c.path: (c.zone, c.offset_s) for c in report.clocks if c.offset_s}
    assert set(zones) == {p.name for p in folder.glob("api-*.log")}
    assert set(zones.values()) == {("UTC+01:00", 3600.0)}
    (pm002,) = _by_rule(report)["PM002"]
    assert pm002.stats["zone_s"] == 3600 and pm002.stats["reference"] == "redis-server.log"


def test_pod_starts_need_a_fleet_of_started_pods(tmp_path):
    """Two started pods cannot tell a clock from a slow start: nothing is moved."""
    folder = tmp_path / "scaleout"
    shutil.copytree(RECORDED / "scaleout", folder)
    events = folder / "k8s-events.txt"
    pods = sorted(_facts("scaleout")["scaleout"]["new_pods"])
    events.write_text("".join(line for line in events.read_text().splitlines(keepends=True)
                              if not any(p in line for p in pods[2:])))
    shift_file(folder / f"{pods[0]}.log", 60)
    report, _ = analyze([str(folder)])
    assert not [c for c in report.clocks if c.offset_s]


@settings(max_examples=200, deadline=None)
@given(hosts=st.integers(min_value=3, max_value=40), truth=st.floats(min_value=-6 * 3600, max_value=6 * 3600),
       lags=st.lists(st.floats(min_value=0, max_value=1), min_size=40, max_size=40),
       lasts=st.lists(st.floats(min_value=0, max_value=1), min_size=40, max_size=40),
       outage=st.floats(min_value=1, max_value=120), hang=st.floats(min_value=0, max_value=30))
def test_a_reaction_lag_is_never_read_as_a_server_offset(hosts, truth, lags, lasts, outage, hang):
    """Each client loses its connection a lag after the shutdown (up to the whole outage) and is refused last
    somewhere between then and the ready line: the offset found lies within what those edges allow, and a server
    on time is never moved, however long the lags. A server that hung for `hang` seconds before it shut down (a
    blocking command, then the restart queued behind it) made each client time out first, up to that long before
    the shutdown: a timeout is no edge of the shutdown."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def row(path, line, at):
        return {"path": path, "line": line, "ts": t0 + timedelta(seconds=at), "burst": 0}

    server = (1, "redis-server.log", "redis_server",
              [(row("redis-server.log", 1, truth), row("redis-server.log", 2, truth + outage))])
    fail = [lags[i] * outage for i in range(hosts)]  # true times: the server went down at 0
    refused = [f + lasts[i] * (outage - f) for i, f in enumerate(fail)]
    lost = {(f"h{i}.log", f"h{i}", "redis_py"): row(f"h{i}.log", 1, fail[i]) for i in range(hosts)}
    timed_out = {u: row(u[0], 0, -hang * lags[i]) for i, u in enumerate(lost)}  # before the shutdown, in the hang
    units = {u: [timed_out[u] if hang else r] for u, r in lost.items()}  # the first loss of each host's burst
    refusals = {u: [row(u[0], 2, refused[i])] for i, u in enumerate(units)}
    found = server_against_fleet(server, units, refusals, {}, {u: {0: r} for u, r in lost.items()})
    longest_lag, longest_gap = max(fail), max(outage - r for r in refused)
    if found is not None:
        assert truth - longest_lag - 1e-6 <= found[0] <= truth + longest_gap + 1e-6
        assert found[0] <= -AGREE_S or found[0] >= AGREE_S
    if abs(truth) < 1e-9:
        assert found is None  # on time: no lag, however long, reads as an offset
    elif (not hang and _not_a_zone(-truth) and max(fail) - min(fail) <= AGREE_S  # one fleet: every host agrees
          and (truth > longest_lag + AGREE_S or truth < -longest_gap - AGREE_S)):
        assert found is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow-restart-8", "slow-restart-12"])
def test_a_hang_before_a_shutdown_moves_no_clock(tmp_path, name):
    """A KEYS that blocked the server, then the restart queued behind it: the scrapes failed from the hang on, seconds
    before the server logged its shutdown (4.2 s at 12 pods, 6.7 s at 8). The recoveries (the ready line, the first
    answered scrape, no connection refused) agree on time and win over the starts: no clock is moved, and with the
    server's log and the metrics alone the outage runs from the first failed scrape to the ready line."""
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    assert facts["rejected_connections"]["total"] == 0 and facts["slow_command"]["seconds"] > 2 * AGREE_S
    d = tmp_path / name
    d.mkdir()
    for f in ("redis-server.log", "redis-exporter.prom"):
        shutil.copy(RECORDED / name / f, d / f)
    report, _ = analyze([str(d)])
    assert not [c for c in report.clocks if c.offset_s or c.corrected]
    (f,) = _by_rule(report)["PM100"]
    hang = datetime.fromisoformat(facts["slow_command"]["start"].replace("Z", "+00:00"))
    ready = datetime.fromisoformat(facts["outage"]["end"].replace("Z", "+00:00"))
    assert abs((f.start - hang).total_seconds()) <= 1.0 and abs((f.end - ready).total_seconds()) <= 1.0, (f.start, f.end)


@pytest.mark.parametrize(("old", "new", "sharp"), [(0, 0, True), (500, 0, True), (500, 100, False), (0, 40, False)])
def test_a_recovery_is_sharp_only_when_the_restarted_server_refused_nobody(old, new, sharp):
    """The export's rejected_connections counter before the failed scrape (`old`, the server before its restart) and
    with the answered one (`new`, counted from 0 again by the restarted server): a reset is no refusal, and a
    restarted server that refused 100 refused them, whatever the old one's count was."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [("redis_up", 1.0, 0), ("rejected_connections", float(old), 0), ("redis_up", 0.0, 2),
            ("redis_up", 1.0, 4), ("rejected_connections", float(new), 4)]
    events = pl.DataFrame([{"path": "redis-exporter.prom", "line": i + 1, "ts": t0 + timedelta(seconds=at),
                            "metric": metric, "value": value, "entity": "redis:x:6379"}
                           for i, (metric, value, at) in enumerate(rows)])
    ((down, up),) = metric_cycles(events)
    assert up["sharp"] is sharp
