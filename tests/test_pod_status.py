"""Pod status (#17): `kubectl get pods`, `kubectl top pods`, describe-pod container blocks, pod JSON/YAML —
kinds and fields per sample (tests/data/k8s/pods/README.md says where each layout came from), line accounting
under fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.base import ParseContext
from parsers.k8s import K8sEvents
from parsers.k8s.controller_log import HpaControllerLog

PODS = Path(__file__).parent / "data" / "k8s" / "pods"
PARSER = K8sEvents()
NOW = datetime(2026, 3, 14, 2, 15, tzinfo=UTC)
CTX = ParseContext(path="pods.txt", now=NOW)


def parse(name: str):
    r = PARSER.parse((PODS / name).read_text(encoding="utf-8"), CTX)
    assert r.event_lines + r.unrecognized_lines + r.blank_lines == r.lines
    return r, [dict(row, attrs=json.loads(row["attrs"])) for row in r.events.iter_rows(named=True)]


def test_every_sample_is_sniffed_as_kubernetes():
    for path in PODS.iterdir():
        if path.suffix != ".md":
            assert PARSER.sniff(path.read_text(encoding="utf-8")) > 0.5, path.name


def test_get_pods_restarts_with_ago_date_the_row_and_pick_the_kind():
    _, rows = parse("get-pods-oomkilled.txt")
    assert [r["kind"] for r in rows] == ["pod.oom_killed", "pod.crash_loop", "pod.status"]
    oom = rows[0]
    assert oom["host"] == "tax-tribunals-application-base-74464f6b98-2kj6g"
    assert oom["entity"] == "pod:default/tax-tribunals-application-base-74464f6b98-2kj6g"
    assert oom["attrs"]["restarts"] == 4 and oom["value"] == 4.0 and oom["level"] == "warning"
    assert str(oom["ts"]) == "2026-03-14 02:14:03+00:00"  # 57 s before --now
    assert rows[2]["level"] == "info" and str(rows[2]["ts"]) == "2026-03-14 02:15:00+00:00"


def test_get_pods_wide_all_namespaces_and_old_layout():
    _, rows = parse("get-pods-wide-all-ns.txt")
    assert [(r["entity"], r["kind"]) for r in rows] == [
        ("pod:shop/api-6d9f7c5b8d-2xkqz", "pod.status"), ("pod:shop/api-6d9f7c5b8d-9hmtw", "pod.crash_loop"),
        ("pod:shop/worker-5b6c9d7f4-qrt8n", "pod.oom_killed"), ("pod:kube-system/coredns-787d4945fb-lh5zv", "pod.status"),
    ]
    assert rows[1]["attrs"]["node"] == "node-2" and rows[1]["attrs"]["restarts"] == 7
    _, old = parse("get-pods-old.txt")
    assert old[0]["attrs"]["restarts"] == 30 and old[0]["host"] == "prometheus-0"


def test_describe_pod_blocks():
    r, rows = parse("describe-pod-crashloop.txt")
    assert [r["kind"] for r in rows] == ["pod.crash_loop", "pod.terminated"]
    loop, last = rows
    assert loop["host"] == "centos-new-6846f658db-w4qhj" and loop["attrs"]["restarts"] == 6
    assert loop["attrs"]["container"] == "centos-new"
    assert str(loop["ts"]) == "2021-07-14 19:52:22+00:00"  # dated by the termination that began its back-off
    assert last["attrs"]["exit_code"] == 0 and last["level"] == "info"
    _, rows = parse("describe-pod-oom-crashloop.txt")
    oom = next(r for r in rows if r["kind"] == "pod.oom_killed")
    assert oom["attrs"]["exit_code"] == 1 and str(oom["ts"]) == "2024-01-04 09:52:49+00:00"


def test_pod_json_truncated_list_keeps_its_complete_pods():
    r, rows = parse("pod-list-truncated.json")
    assert any("truncated" in p for p in r.problems)
    complete = [x for x in rows if not x["attrs"].get("truncated")]
    assert [(x["host"], x["kind"]) for x in complete] == [
        ("worker-5b6c9d7f4-qrt8n", "pod.oom_killed"), ("worker-5b6c9d7f4-zl2mc", "pod.status"),
    ]
    oom = complete[0]
    assert oom["attrs"]["exit_code"] == 137 and oom["attrs"]["restarts"] == 3
    text = (PODS / "pod-list-truncated.json").read_text().splitlines()
    assert '"name": "worker"' in text[oom["line"] - 1]  # the container status's own line


def test_pod_yaml():
    _, rows = parse("pod.yaml")
    assert [(x["kind"], x["line"], str(x["ts"])) for x in rows] == [("pod.oom_killed", 21, "2026-03-14 02:11:48+00:00")]


def test_top_pods_samples():
    _, rows = parse("top-pods.txt")
    by = {(r["host"], r["attrs"].get("container"), r["metric"]): r["value"] for r in rows}
    assert by[("worker-5b6c9d7f4-qrt8n", None, "pod_cpu_cores")] == 0.998
    assert by[("worker-5b6c9d7f4-qrt8n", None, "pod_memory_bytes")] == 1021 * 1024**2
    assert by[("api-6d9f7c5b8d-2xkqz", "envoy", "pod_memory_bytes")] == 4 * 1024**2
    assert all(r["kind"] == "pod.usage" and r["entity"] == f"pod:shop/{r['host']}" for r in rows)


FRAGMENTS = [
    "NAME   READY   STATUS             RESTARTS      AGE", "api-1   0/1   CrashLoopBackOff   7 (2m ago)   41m",
    "NAMESPACE  NAME  READY  STATUS  RESTARTS  AGE  IP  NODE  NOMINATED NODE  READINESS GATES",
    "NAME  CPU(cores)  MEMORY(bytes)", "api-1  12m  143Mi", "POD  NAME  CPU(cores)  MEMORY(bytes)",
    "    State:          Waiting", "      Reason:       CrashLoopBackOff", "    Last State:     Terminated",
    "      Reason:       OOMKilled", "      Exit Code:    137", "      Finished:     Thu, 04 Jan 2024 17:52:49 +0800",
    "    Restart Count:  3", "Name: p-1", "Containers:", "  worker:", "", "garbage", "\t",
    '{"kind": "Pod", "metadata": {"name": "p"}, "status": {"containerStatuses": [{"name": "c", "restartCount": 2,',
    '"lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}', "status:", "  containerStatuses:",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14))
def test_pod_fragments_never_crash_and_every_line_is_accounted(lines):
    r = PARSER.parse("\n".join(lines), CTX)
    assert r.event_lines + r.unrecognized_lines + r.blank_lines == r.lines
    assert r.events.height == 0 or set(r.events.get_column("source")) == {"k8s_events"}


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300), st.sampled_from(FRAGMENTS[:6]))
def test_pod_header_with_arbitrary_rows(text, header):
    r = PARSER.parse(header + "\n" + text, CTX)
    assert r.event_lines + r.unrecognized_lines + r.blank_lines == r.lines


K8S = PODS.parent


def test_old_describe_events_2015_and_2016():
    r = PARSER.parse((K8S / "describe-events-2015.txt").read_text(), CTX)
    assert r.unrecognized_lines == 0
    rows = [dict(x, attrs=json.loads(x["attrs"])) for x in r.events.iter_rows(named=True)]
    assert [x["kind"] for x in rows] == ["k8s.created", "k8s.pulled", "k8s.scheduled"]
    assert rows[1]["host"] == "kubernetes-minion-y3vk" and rows[1]["attrs"]["container"] == "nginx"
    assert rows[0]["attrs"]["subobject"] == "implicitly required container POD"
    assert str(rows[0]["ts"]) == "2015-07-09 22:32:58+00:00"
    r = PARSER.parse((K8S / "describe-events-2016.txt").read_text(), CTX)
    assert r.unrecognized_lines == 0 and r.events.get_column("kind").to_list() == ["k8s.Scheduled", "k8s.Pulling"]


def test_headerless_old_event_rows():
    text = (K8S / "get-events-2016-headerless.txt").read_text()
    assert PARSER.sniff(text) > 0.5
    r = PARSER.parse(text, CTX)
    assert r.unrecognized_lines == 0
    first = r.events.row(0, named=True)
    assert (first["kind"], first["entity"], first["host"]) == ("k8s.Unhealthy", "pod:default/redis-0", "node-1")
    assert json.loads(first["attrs"])["count"] == 12


def test_hpa_controller_log_lines(tmp_path):
    from postmortem.input.ingest import ingest
    from postmortem.input.options import IngestOptions

    log = tmp_path / "kube-controller-manager.log"
    log.write_text("\n".join(s.strip("\n") for s in HpaControllerLog.samples) + "\n"
                   'I0401 09:45:00.070000       1 replica_set.go:676] "Finished syncing" logger="replicaset-controller"\n')
    res = ingest([str(log)], IngestOptions(year=2025))
    rows = res.events.filter(res.events["kind"] == "hpa.rescale").sort("line")
    got = [(r["entity"], json.loads(r["attrs"])["from_replicas"], r["value"]) for r in rows.iter_rows(named=True)]
    assert got == [("hpa:default/worker", 16, 24.0), ("hpa:default/gohttpserver", 1, 2.0)]
    assert res.inputs[0].unrecognized_lines == 0


def test_describe_hpa_current_and_desired():
    r = PARSER.parse((K8S / "describe-hpa.txt").read_text(), CTX)
    assert r.event_lines + r.unrecognized_lines + r.blank_lines == r.lines
    status = next(x for x in r.events.iter_rows(named=True) if x["kind"] == "k8s.HPAStatus")
    a = json.loads(status["attrs"])
    assert (status["entity"], status["value"], a["desired"], a["max_replicas"]) == (
        "hpa:istio-system/istio-telemetry", 3.0, 5, "5")
    assert a["targets"] == ["resource cpu on pods  (as a percentage of request): 308% (13278m) / 80%"]
    assert "k8s.SuccessfulRescale" in r.events.get_column("kind").to_list()
