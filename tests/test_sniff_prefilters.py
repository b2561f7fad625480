"""The Kubernetes, SLOWLOG and RabbitMQ sniffers test for a pattern's required words with `in` before running it (issue 20:
per-line regex calls over every file's head were most of choosing a parser). The plain forms below are the
sniffers as they were; the fast ones must score every head the same. CloudWatch's (both JSON forms) whitespace removal is
`str.split` instead of a whitespace regex."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import FILE_PARSERS
from parsers.exports.cloudwatch import CloudWatchEventsJson, CloudWatchInsightsJson
from parsers.exports.jsondoc import is_json_document
from parsers.k8s import parser as k8s
from parsers.k8s.describe import DESCRIBE_HEADER, DESCRIBE_OLD_HEADER, DESCRIBE_ROW, OLD_EVENT_ROW
from parsers.k8s.documents import JSON_EVENT_KEYS, YAML_EVENT
from parsers.k8s.exporter import EXPORTER_LINE
from parsers.k8s.pod_documents import JSON_POD, YAML_POD
from parsers.k8s.pod_tables import GET_PODS_HEADER, TOP_PODS_HEADER
from parsers.k8s.tables import GET_HEADER
from parsers.metrics import rabbitmq_queues as rabbit
from parsers.metrics.rows import split_text
from parsers.slow_commands import _EMPTY, _ENTRY, _MARK, _PROMPT, EMPTY_REPLY, SlowlogFile

DATA = Path(__file__).parent / "data"


def plain_structured(head: str) -> str | None:
    if JSON_EVENT_KEYS.search(head) and '"reason"' in head:
        lines = [ln for ln in head.splitlines() if ln.strip()]
        exporter = sum(1 for ln in lines if EXPORTER_LINE.match(ln) and '"reason"' in ln)
        return "jsonl" if exporter and exporter >= len(lines) // 2 else "json"
    if YAML_EVENT.search(head) and re.search(r"(?m)^\s*(?:- )?reason:\s", head):
        return "yaml"
    if JSON_POD.search(head) and re.search(r"(?m)^\s*[\[{]", head):
        return "pod_json"
    if YAML_POD.search(head) and re.search(r"(?m)^\s*(?:- )?(?:kind: (?:Pod|List)|apiVersion: v1)\s*$", head):
        return "pod_yaml"
    return None


def plain_k8s(head: str) -> float:
    if plain_structured(head):
        return 0.9
    lines = head.splitlines()[:400]
    if any(GET_HEADER.match(ln) for ln in lines) or any(DESCRIBE_HEADER.match(ln) for ln in lines):
        return 0.9
    if any(DESCRIBE_OLD_HEADER.match(ln.expandtabs(8)) for ln in lines):
        return 0.9
    if any(GET_PODS_HEADER.match(ln.expandtabs(8)) or TOP_PODS_HEADER.match(ln.expandtabs(8)) for ln in lines):
        return 0.9
    if k8s._STATUS_BLOCK.search(head) and k8s._STATUS_DETAIL.search(head):
        return 0.85
    if re.search(r"(?m)^Kind:\s+Event\s*$", head) and re.search(r"(?m)^Involved Object:", head):
        return 0.9
    nonblank = [ln for ln in lines if ln.strip()]
    rows = sum(1 for ln in nonblank if DESCRIBE_ROW.match(ln) or OLD_EVENT_ROW.match(ln.expandtabs(8)))
    if rows >= 2 and rows >= 0.6 * len(nonblank):
        return 0.8
    return 0.0


def plain_slowlog(head: str) -> float:
    lines = [ln for ln in split_text(head[:65536])[:400] if ln.strip()]
    if not lines:
        return 0.0
    if all(_EMPTY.match(ln) or _PROMPT.match(ln) for ln in lines) and any(_EMPTY.match(ln) for ln in lines):
        return EMPTY_REPLY  # redis-cli's reply for a slow log with no entry (slow-restart-8's slowlog.txt)
    entries = sum(1 for ln in lines if _ENTRY.match(ln))
    marked = sum(1 for ln in lines if _MARK.match(ln) or _PROMPT.match(ln))
    return 0.9 if entries and marked / len(lines) >= 0.9 else 0.0


def plain_rabbit(head: str) -> float:
    lines = [ln.strip() for ln in head[:65536].splitlines()[:400] if ln.strip()]
    if not lines:
        return 0.0
    if any(rabbit._COMMAND.match(ln) or rabbit._CHATTER.match(ln) and ln.startswith("Listing queues")
           for ln in lines[:50]):
        return 0.9
    if any(rabbit._header(ln) for ln in lines[:50]):
        return 0.85
    if lines[0].startswith(("[", "{")) or any(rabbit._TS_LINE.match(ln) or rabbit._DATE_CMD.match(ln) for ln in lines[:3]):
        body = head[:65536]
        queue_keys = len(re.findall(r'"(?:messages_ready|messages_unacknowledged|consumers|messages)"\s*:', body))
        if queue_keys >= 2 and re.search(r'"name"\s*:', body):
            return 0.85
    return 0.0


def plain_cloudwatch(head: str) -> float:
    compact = re.sub(r"\s+", "", head[:8192])
    return 0.95 if compact.startswith('{"results":[[{"field":') or ('"results":[[{"field":"@' in compact) else 0.0


def plain_cloudwatch_events(head: str) -> float:
    if not is_json_document(head):
        return 0.0
    compact = re.sub(r"\s+", "", head[:8192])
    return 0.95 if '"events":[{' in compact and '"timestamp":' in compact and '"message":' in compact else 0.0


K8S = k8s.K8sEvents()
SLOWLOG = SlowlogFile()
RABBIT = rabbit.RabbitQueues()
CLOUDWATCH = CloudWatchInsightsJson()
CLOUDWATCH_EVENTS = CloudWatchEventsJson()


def _agree(head: str) -> None:
    assert k8s._looks_structured(head) == plain_structured(head)
    assert K8S.sniff(head) == plain_k8s(head)
    assert SLOWLOG.sniff(head) == plain_slowlog(head)
    assert RABBIT.sniff(head) == plain_rabbit(head)
    assert CLOUDWATCH.sniff(head) == plain_cloudwatch(head)
    assert CLOUDWATCH_EVENTS.sniff(head) == plain_cloudwatch_events(head)


def test_fast_sniffs_score_every_parser_sample_as_the_plain_ones() -> None:
    samples = [s for p in FILE_PARSERS for s in p.samples]
    for head in samples:
        _agree(head)
    assert sum(K8S.sniff(h) > 0 for h in samples) >= 5 and sum(SLOWLOG.sniff(h) > 0 for h in samples) >= 2
    assert sum(RABBIT.sniff(h) > 0 for h in samples) >= 3 and sum(CLOUDWATCH.sniff(h) > 0 for h in samples) >= 1
    assert sum(CLOUDWATCH_EVENTS.sniff(h) > 0 for h in samples) >= 1


@pytest.mark.slow
def test_fast_sniffs_score_every_fixture_file_as_the_plain_ones() -> None:
    heads = [path.read_bytes()[:65536].decode("utf-8", errors="replace") for path in sorted(DATA.rglob("*"))
             if path.is_file() and path.stat().st_size < 8_000_000]
    assert len(heads) > 200
    for head in heads:
        _agree(head)
    assert sum(K8S.sniff(h) > 0 for h in heads) >= 3  # the fixtures hold Kubernetes tables


_PIECES = [s for p in (k8s.K8sEvents, SlowlogFile, rabbit.RabbitQueues, CloudWatchInsightsJson,
                                  CloudWatchEventsJson) for s in p.samples] + [
    "Type  Reason  Age  From  Message", "FirstSeen\tLastSeen\tCount\tFrom\tSubObjectPath\tReason\tMessage",
    "NAME  CPU(cores)  MEMORY(bytes)", "  Normal  Pulled  3m  kubelet  ok", '{"involvedObject": {}, "reason": "x"}',
    "containerStatuses:", "Kind: Event", "Involved Object:", "    State:  Waiting", "      Reason:  X",
    "1) 1) (integer) 14", "   2) (integer) 1700000000", "127.0.0.1:6379> SLOWLOG GET", "regarding:", "- reason: Boom",
    "$ rabbitmqctl list_queues name messages", "Listing queues for vhost / ...", "name\tmessages\tconsumers",
    "│ name │ messages │", "5m  5m  1  redis-0  Pod  Unhealthy  {kubelet node-1}  probe failed", "rabbitmqctl", "name", '{"results" : [[ {"field" :"@timestamp"', "\u2028", "\x1c", "\x85",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=40)), max_size=12),
       st.sampled_from(["\n", "\r\n", "\t", " "]))
def test_fast_sniffs_agree_on_mixed_heads(parts: list[str], sep: str) -> None:
    _agree(sep.join(parts))


def test_fast_sniffs_agree_on_heads_each_word_alone_decides() -> None:
    """Heads whose score hangs on one prefilter word (a headerless old event row is found by its `{` alone)."""
    old_rows = "5m  5m  1  redis-0  Pod  Unhealthy  {kubelet node-1}  probe failed\n" * 3
    heads = [old_rows, "noise line\n" + old_rows, "$ rabbitmqctl list_queues\n", "name\tmessages\n",
             "Listing queues ...\n", '{ "results" :\n[[{"field":"@message"}]]}']
    for head in heads:
        _agree(head)
    assert K8S.sniff(old_rows) == 0.8 and RABBIT.sniff("name\tmessages\n") == 0.85
