"""Kubernetes events: every corpus layout, golden outputs per layout, sniffing against app logs, fuzzing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import FILE_PARSERS
from parsers.base import ParseContext
from parsers.k8s import K8sEvents
from postmortem.input.ingest import IngestOptions, ingest

from .conftest import DATA

CORPUS = DATA / "corpus" / "k8s-events.txt"
K8S = DATA / "k8s"
NOW = datetime(2026, 3, 14, 2, 15, tzinfo=UTC)
CTX = ParseContext(path="events.txt", now=NOW, now_source="--now")
PARSER = K8sEvents()


def snippets(path: Path) -> dict[int, tuple[str, str]]:
    parts = re.split(r"(?m)^=== SOURCE: (.+) ===\n", path.read_text(encoding="utf-8"))
    return {k // 2 + 1: (parts[k], parts[k + 1]) for k in range(1, len(parts), 2)}


def accounted(r) -> bool:
    return r.event_lines + r.unrecognized_lines + r.blank_lines == r.lines


# snippet number -> (first event's kind, its entity, its ts or None); see tests/data/corpus/INDEX.md.
EXPECTED = {
    1: ("k8s.Scheduled", "pod:xxx/xxx-controller-manager-7c8fcd5fff-4fprb", "2026-03-14 01:57:00+00:00"),
    2: ("k8s.Created", None, "2026-03-14 01:15:00+00:00"),
    3: ("pod.terminated", "pod:default/wordpress-5bbd7fd785-p4s9r", "2020-08-09 06:46:06+00:00"),
    4: ("pod.oom_killed", None, "2023-09-15 07:56:17+00:00"),
    5: ("k8s.Killing", None, None),
    6: ("k8s.Unhealthy", "pod:default/redis-master-0", "2026-03-14 01:20:00+00:00"),
    7: ("k8s.Unhealthy", None, "2026-03-14 01:38:00+00:00"),
    8: ("k8s.FailedScheduling", None, None),
    9: ("k8s.SuccessfulRescale", None, "2026-03-14 01:55:00+00:00"),
    10: ("k8s.HPAStatus", "hpa:istio-system/istio-telemetry", "2026-03-14 02:15:00+00:00"),
    12: ("k8s.FailedScheduling", "pod:default/resource-test-bdfcd9f5-g8jq5", "2019-01-28 14:45:34+00:00"),
    13: ("k8s.Evicted", "pod:proprietary/proprietary-crawler-preemptive-79f7cbc6cf-rzck9", None),
    14: ("k8s.FailedScheduling", None, None),
    16: ("k8s.FailedScheduling", "pod:k8sdeploy-test-pvc-no-pv-f0090cb6f9122249/pvc", "2020-01-17 04:56:55+00:00"),
}


@pytest.mark.parametrize("n", sorted(EXPECTED))
def test_corpus_snippet_first_event(n):
    _, text = snippets(CORPUS)[n]
    r = PARSER.parse(text, CTX)
    assert accounted(r)
    assert r.events.height >= 1
    first = r.events.row(0, named=True)
    kind, entity, ts = EXPECTED[n]
    assert first["source"] == "k8s_events"
    assert first["kind"] == kind
    assert first["entity"] == entity
    assert (str(first["ts"]) if first["ts"] else None) == ts


def test_negative_exporter_self_log_and_klog_stay_logs():
    s = snippets(CORPUS)
    for n in (11, 15):  # zerolog self-log of the exporter; kubelet klog lines (read as a log by the framer)
        r = PARSER.parse(s[n][1], CTX)
        assert r.events.height == 0 and accounted(r)
        assert PARSER.sniff(s[n][1]) <= 0.5


def test_repeated_event_keeps_count_and_first_last():
    r = PARSER.parse(snippets(CORPUS)[1][1], CTX)
    backoff = r.events.filter(r.events["kind"] == "k8s.BackOff").row(0, named=True)
    attrs = json.loads(backoff["attrs"])
    assert attrs["count"] == 72
    assert attrs["first_ts"] == "2026-03-14T01:55:00Z" and attrs["last_ts"] == "2026-03-14T02:10:07Z"
    assert backoff["level"] == "warning"
    assert any("--now" in a and "2026-03-14T02:15:00Z" in a for a in r.assumptions)


def test_old_count_syntax_and_multiline_messages():
    s = snippets(CORPUS)
    r2 = PARSER.parse(s[2][1], CTX)
    counts = [json.loads(a).get("count") for a in r2.events["attrs"]]
    assert counts[3] == 3  # "1h (x3 from 1h)"
    r6 = PARSER.parse(s[6][1], CTX)
    msg = r6.events.row(2, named=True)["message"]
    assert "Timed out" in msg and "dumped core" in msg
    assert json.loads(r6.events.row(2, named=True)["attrs"])["probe"] == "readiness"


def test_hpa_and_replicaset_numbers():
    r = PARSER.parse((K8S / "get-events-wide-all-ns.txt").read_text(), CTX)
    rows = {row["kind"]: row for row in r.events.iter_rows(named=True)}
    assert rows["k8s.SuccessfulRescale"]["value"] == 6.0
    assert rows["k8s.SuccessfulRescale"]["entity"] == "hpa:default/worker"
    assert json.loads(rows["k8s.ScalingReplicaSet"]["attrs"])["replicas"] == 6
    assert rows["k8s.NodeNotReady"]["entity"] == "node:node-3"
    unhealthy = json.loads(rows["k8s.Unhealthy"]["attrs"])
    assert unhealthy["count"] == 14 and unhealthy["container"] == "api" and unhealthy["probe"] == "readiness"
    assert rows["k8s.Unhealthy"]["host"] == "node-2"


def test_yaml_is_not_event_list_is_a_problem():
    r = PARSER.parse("apiVersion: v1\nitems:\n- kind: ConfigMap\n  reason: x\n  data: {}\n", CTX)
    assert r.events.height == 0 and accounted(r)
    assert any("not a Kubernetes event list" in p for p in r.problems)


def _golden_text(r) -> str:
    cols = ["ts", "kind", "line", "level", "host", "entity", "value", "message", "attrs"]
    out = [f"lines={r.lines} event={r.event_lines} unrecognized={r.unrecognized_lines} blank={r.blank_lines}"]
    out += [f"problem: {p}" for p in r.problems]
    out += [json.dumps({c: str(row[c]) if c == "ts" and row[c] else row[c] for c in cols}) for row in r.events.iter_rows(named=True)]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    "name",
    ["get-events-wide-all-ns.txt", "get-events-2015-tabs.txt", "kubectl-events.txt", "events-k8s-io-v1.yaml", "exporter-mixed.jsonl"],
)
def test_golden_layouts(name, golden):
    r = PARSER.parse((K8S / name).read_text(encoding="utf-8"), CTX)
    assert accounted(r)
    golden(f"k8s_{name.rsplit('.', 1)[0].replace('-', '_')}.txt", _golden_text(r))


@pytest.mark.parametrize("n", [1, 2, 6, 8, 9, 16])
def test_golden_corpus(n, golden):
    r = PARSER.parse(snippets(CORPUS)[n][1], CTX)
    golden(f"k8s_corpus_{n:02d}.txt", _golden_text(r))


APP_LOG = (
    "2026-03-14 02:12:28,114 WARNING app.cache - Warning: redis slow, 5m since last success\n"
    "2026-03-14 02:12:29,000 INFO app - Normal operation resumed\n"
    "Warning  Something  happened in the app\n"
)


def test_app_log_with_warning_is_not_a_k8s_table():
    assert PARSER.sniff(APP_LOG) <= 0.5


def test_k8s_table_is_not_framed_as_a_log(tmp_path):
    (tmp_path / "events.txt").write_text(snippets(CORPUS)[6][1])
    (tmp_path / "app.log").write_text(APP_LOG)
    result = ingest([str(tmp_path)], IngestOptions(now=NOW))
    parsers = {f.path: f.parser for f in result.inputs}
    assert parsers == {"events.txt": "k8s_events", "app.log": parsers["app.log"]}
    assert parsers["app.log"].startswith("log:")


def test_samples_recognized_by_own_parser():
    for sample in PARSER.samples:
        scores = {p.name: p.sniff(sample) for p in FILE_PARSERS}
        assert max(scores, key=scores.get) == "k8s_events" and scores["k8s_events"] > 0.5


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_arbitrary_text_never_crashes(text):
    r = PARSER.parse(text, CTX)
    assert accounted(r)
    PARSER.sniff(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    "LAST SEEN   TYPE      REASON      OBJECT                 MESSAGE", "55m         Warning   Unhealthy   pod/r-0   Readiness probe failed:",
    "Events:", "  Type  Reason  Age  From  Message", "  Normal  Created  1h (x2 over 3h)  kubelet  Created container a",
    '{"items": [{"reason": "X", "involvedObject": {"kind": "Pod", "name": "p"}}', "items:", "- reason: Y", "  involvedObject:",
    "Reason: OOMKilled", "Exit Code: 137", "", "garbage │ line", "\t\t", "<unknown>",
]), max_size=12))
def test_mixed_fragments_account(lines):
    r = PARSER.parse("\n".join(lines), CTX)
    assert accounted(r)
