"""PM204 top offenders: skew against the incident's own fleet, checked on recorded fleets of several sizes
(facts.json: per-pod error counts) and on the pod-storm fixture (pods OOM-killed while the HPA scales out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from postmortem.analysis.detectors.offenders import _per_pod, _skew, deployment_of
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.input.options import IngestOptions
from reports.render import render

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "recorded"


def test_deployment_is_the_pod_name_without_hashes():
    assert deployment_of("worker-5c8f7b-d15yn") == "worker"
    assert deployment_of("tax-tribunals-application-base-74464f6b98-2kj6g") == "tax-tribunals-application-base"
    assert deployment_of("redis-replicas-0") == "redis-replicas"
    assert deployment_of("prometheus") == "prometheus"


def test_skew_is_relative_to_the_fleet():
    assert _skew([10] * 16) is None  # uniform
    assert _skew([12, 9, 11, 10, 8, 10, 9, 11]) is None  # noisy but fair
    assert _skew([5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) is not None  # two of twelve hold everything
    assert _skew([50, 0]) is None  # no fleet to compare with
    assert _skew([1, 1, 0, 0, 0, 0, 0, 0]) is None  # too few to tell from chance
    # the same proportions at ten times the counts stay skewed: a ratio, not an absolute number
    assert _skew([50, 40] + [0] * 10) is not None


def _findings(paths, now=None):
    opts = AnalyzeOptions(ingest=IngestOptions(now=now)) if now else AnalyzeOptions()
    report, _ = analyze([str(p) for p in paths], opts)
    return report


def _facts_errors(name: str) -> dict[str, int]:
    facts = json.loads((RECORDED / f"{name}.facts.json").read_text())
    return {p: sum(v["errors"].values()) for p, v in facts["clients_by_pod"].items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["healthy-4", "healthy-16", "healthy-48", "pair-healthy-8", "pair-healthy-24",
                                  "pair-storm-8", "pair-storm-24", "scaleout"])
def test_silent_on_fair_fleets(name):
    report = _findings([RECORDED / name])
    assert "PM204" not in {f.rule_id for f in report.findings}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["storm", "storm-16"])
def test_names_the_pods_the_facts_show_hit_hardest(name):
    report = _findings([RECORDED / name])
    f = next(f for f in report.findings if f.rule_id == "PM204")
    errors = _facts_errors(name)
    ranked = sorted(errors, key=lambda p: -errors[p])
    assert list(f.entities) == sorted(ranked[: f.stats["top_pods"]])
    assert f.stats["fleet_pods"] == len(errors)
    assert f.stats["top_share"] >= 2 * f.stats["fair_share"]


@pytest.mark.slow
def test_pod_storm_fixture():
    now = datetime(2026, 12, 6, 2, 50, 46, tzinfo=UTC)
    report = _findings([RECORDED / "storm-16", DATA / "pod-storm"], now=now)
    by_rule = {f.rule_id: f for f in report.findings}
    f = by_rule["PM204"]
    assert f.stats["measure"] == "restarts"
    assert [r["pod"] for r in f.stats["ranking"]] == [
        "worker-5c8f7b-m4y34", "worker-5c8f7b-tq5gl", "worker-5c8f7b-d15yn"]
    assert all(r["evidence"].split(":")[0] in ("pods.json", "describe-pod-m4y34.txt") for r in f.stats["ranking"])
    assert f.stats["fleet_pods"] == 24  # 16 recorded pods + 8 the HPA added
    assert {"PM201", "PM202"} <= set(by_rule)
    # the HPA event, the ScalingReplicaSet event and the controller log line are one rescale
    assert by_rule["PM202"].stats["scale_ups"] == 1 and by_rule["PM202"].stats["replicas_added"] == 8
    pod_entries = [e for e in report.timeline if "pod.oom_killed" in e.title or "pod.crash_loop" in e.title]
    assert len(pod_entries) == 2 and all(e.evidence and e.source == "k8s_events" for e in pod_entries)
    md, html = render(report, "md"), render(report, "html")
    assert len(md.split("\n## Appendix\n", 1)[0].splitlines()) <= 120  # the table is in the appendix
    assert "| worker-5c8f7b-m4y34 | worker | 155 | 155 | 5 |" in md
    assert "<td>worker-5c8f7b-m4y34</td>" in html
    doc = json.loads(render(report, "json"))
    pm204 = next(x for x in doc["findings"] if x["rule_id"] == "PM204")
    assert pm204["stats"]["ranking"][0]["restarts"] == 5


def test_per_pod_rows_carry_no_text_and_evidence_cites_the_events():
    """The rows behind each pod's figures are a second table as long as the fleet's errors: they hold where each
    record is, never its message or `attrs` (on a dense log a second copy of ~850 MiB at 1 GiB); the evidence
    is read from the events themselves."""
    _, result = analyze([str(RECORDED / "storm-16")])
    _, rows = _per_pod(result.events)
    assert rows.height > 100
    assert not {"message", "attrs"} & set(rows.columns)
    report, _ = analyze([str(RECORDED / "storm-16")])
    f = next(f for f in report.findings if f.rule_id == "PM204")
    text = {(r["path"], r["line"]): r["message"] for r in result.events.iter_rows(named=True)}
    assert f.evidence and all(e.text == (text[(e.path, e.line)] or "")[:500] for e in f.evidence)


def _top_pods(path: Path, memory_mi: dict[str, int], cpu_m: dict[str, int]) -> None:
    """A `kubectl top pods` capture in kubectl's own layout (NAME CPU(cores) MEMORY(bytes), `m` and `Mi` units)."""
    rows = [f"{'NAME':<28} {'CPU(cores)':<12} MEMORY(bytes)"]
    rows += [f"{pod:<28} {cpu_m[pod]}m{'':<{11 - len(str(cpu_m[pod]))}} {memory_mi[pod]}Mi" for pod in sorted(memory_mi)]
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.slow
def test_top_pods_capture_is_a_column_against_the_fleet_median(tmp_path):
    """`kubectl top pods` during the pod-storm: each ranked pod's peak memory and CPU as a multiple of the fleet's
    median peak; the OOM-killed pods stand out against their own fleet, whatever the absolute sizes."""
    now = datetime(2026, 12, 6, 2, 50, 46, tzinfo=UTC)
    pods = sorted(_facts_errors("storm-16"))
    hit = {"worker-5c8f7b-m4y34", "worker-5c8f7b-tq5gl", "worker-5c8f7b-d15yn"}
    memory = {p: (1900 if p in hit else 400 + 5 * i) for i, p in enumerate(pods)}
    cpu = {p: (300 if p in hit else 100) for p in pods}
    folder = tmp_path / "top"
    folder.mkdir()
    _top_pods(folder / "top-pods.txt", memory, cpu)
    report = _findings([RECORDED / "storm-16", DATA / "pod-storm", folder], now=now)
    f = next(f for f in report.findings if f.rule_id == "PM204")
    median = sorted(memory.values())[len(memory) // 2 - 1: len(memory) // 2 + 1]
    for row in f.stats["ranking"]:
        assert row["memory_vs_median"] == round(memory[row["pod"]] / (sum(median) / 2), 2)
        assert row["cpu_vs_median"] == 3.0
    assert f.stats["measure"] == "restarts"  # usage is a column, never the measure
    assert "memory_vs_median" in render(report, "md")
    # the same fleet at ten times the sizes: the same column (a ratio to the fleet, not an absolute size)
    _top_pods(folder / "top-pods.txt", {p: 10 * v for p, v in memory.items()}, {p: 10 * v for p, v in cpu.items()})
    again = next(f for f in _findings([RECORDED / "storm-16", DATA / "pod-storm", folder], now=now).findings
                 if f.rule_id == "PM204")
    assert again.stats["ranking"] == f.stats["ranking"]


@pytest.mark.slow
def test_top_pods_of_too_few_pods_add_no_column(tmp_path):
    now = datetime(2026, 12, 6, 2, 50, 46, tzinfo=UTC)
    folder = tmp_path / "top"
    folder.mkdir()
    two = {"worker-5c8f7b-m4y34": 1900, "worker-5c8f7b-tq5gl": 1800}
    _top_pods(folder / "top-pods.txt", two, dict.fromkeys(two, 300))
    f = next(f for f in _findings([RECORDED / "storm-16", DATA / "pod-storm", folder], now=now).findings
             if f.rule_id == "PM204")
    assert all("memory_vs_median" not in row and "cpu_vs_median" not in row for row in f.stats["ranking"])
