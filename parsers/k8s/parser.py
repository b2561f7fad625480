"""The Kubernetes events file parser: sniff which shape a file is, read it with that shape's module, and
account for every line.

Event files are small (the apiserver keeps one hour of events), so this parser walks lines in Python
and loads JSON/YAML documents per item; what matters is tolerating pasted, truncated and re-wrapped
text. Relative ages ("5m", "4m53s (x72 over 20m)") are resolved against `ctx.now`, and the
FileParse says which reference was used.
"""

from __future__ import annotations

import re
from typing import ClassVar

from parsers.base import FileParse, ParseContext
from parsers.k8s.describe import (
    DESCRIBE_HEADER,
    DESCRIBE_OLD_HEADER,
    DESCRIBE_ROW,
    OLD_EVENT_ROW,
    describe_hpa,
    describe_rows,
    kv_block,
    old_describe_rows,
    old_event_rows,
)
from parsers.k8s.documents import JSON_EVENT_KEYS, YAML_EVENT, json_doc, yaml_doc
from parsers.k8s.event import REASON, SOURCE, Acc
from parsers.k8s.exporter import EXPORTER_LINE, exporter_lines
from parsers.k8s.pod_describe import date_crash_loops, pod_status_blocks
from parsers.k8s.pod_documents import JSON_POD, YAML_POD, pod_json, pod_yaml
from parsers.k8s.pod_state import POD_KINDS
from parsers.k8s.pod_tables import GET_PODS_HEADER, TOP_PODS_HEADER, get_pods, top_pods
from parsers.k8s.rows import to_frame
from parsers.k8s.tables import GET_HEADER, get_table, hpa_tables
from postmortem import safe_regex
from postmortem.model import Kind, UnrecognizedSample

MAX_SAMPLES = 5


def _looks_structured(head: str) -> str | None:
    # the key names every pattern below needs, found by `in` first: a regex search of a whole head costs ~100x
    events = "involvedObject" in head or "regarding" in head
    pods = "ontainerStatuses" in head
    if not events and not pods:
        return None
    if events and JSON_EVENT_KEYS.search(head) and '"reason"' in head:
        lines = [ln for ln in head.splitlines() if ln.strip()]
        exporter = sum(1 for ln in lines if EXPORTER_LINE.match(ln) and '"reason"' in ln)
        return "jsonl" if exporter and exporter >= len(lines) // 2 else "json"
    if events and YAML_EVENT.search(head) and re.search(r"(?m)^\s*(?:- )?reason:\s", head):
        return "yaml"
    if pods and JSON_POD.search(head) and re.search(r"(?m)^\s*[\[{]", head):
        return "pod_json"
    if pods and YAML_POD.search(head) and re.search(r"(?m)^\s*(?:- )?(?:kind: (?:Pod|List)|apiVersion: v1)\s*$", head):
        return "pod_yaml"
    return None


# the words the per-line patterns of `K8sEvents.sniff` cannot match without
_LINE_WORDS = ("REASON", "Reason", "FirstSeen", "NAME", "Normal", "Warning", "{")
# `kubectl describe pod` container states without an Events section (pasted status blocks)
_STATUS_BLOCK = re.compile(r"(?m)^\s*(?:Last )?State:\s+(?:Terminated|Waiting)\s*$")
_STATUS_DETAIL = re.compile(r"(?m)^\s*(?:Exit Code|Restart Count|Reason):\s+\S")


class K8sEvents:
    """Kubernetes events: kubectl tables, describe Events sections, JSON/YAML lists, exporter lines."""

    name: ClassVar[str] = SOURCE
    kinds: ClassVar[tuple[Kind, ...]] = (REASON, *POD_KINDS)
    example: ClassVar[str] = "55m   Warning   Unhealthy   pod/redis-master-0   Readiness probe failed: Timed out"
    samples: ClassVar[tuple[str, ...]] = (
        "LAST SEEN   TYPE      REASON      OBJECT                 MESSAGE\n"
        "55m         Warning   Unhealthy   pod/redis-master-0     Readiness probe failed:\n"
        "15m         Warning   Unhealthy   pod/redis-replicas-0   Readiness probe failed: Timed out\n",
        "Events:\n"
        "  Type     Reason     Age                   From               Message\n"
        "  ----     ------     ----                  ----               -------\n"
        "  Warning  BackOff    4m53s (x72 over 20m)  kubelet            Back-off restarting failed container manager\n",
        "  Normal  SuccessfulRescale  20m (x3 over 5h43m)    horizontal-pod-autoscaler  New size: 2; reason: All metrics below target\n"
        "  Normal  SuccessfulRescale  7m (x3 over 5h36m)     horizontal-pod-autoscaler  New size: 5; reason: cpu above target\n",
        '{\n    "apiVersion": "v1",\n    "items": [\n        {\n            "apiVersion": "v1",\n'
        '            "count": 25,\n            "eventTime": null,\n            "firstTimestamp": "2020-01-17T04:56:28Z",\n'
        '            "involvedObject": {"kind": "Pod", "name": "pvc", "namespace": "k8sdeploy-test"},\n'
        '            "kind": "Event",\n            "lastTimestamp": "2020-01-17T04:56:55Z",\n'
        '            "message": "0/1 nodes are available: 1 node(s) didn\'t find available persistent volumes to bind.",\n'
        '            "reason": "FailedScheduling",\n            "type": "Warning"\n        }\n    ]\n}\n',
        # pod status (#17): `kubectl get pods` (hmcts/cnp-flux-config#28772), describe-pod container blocks
        # (AliyunContainerService/kube-eventer#285)
        "NAME                                                 READY   STATUS      RESTARTS      AGE\n"
        "tax-tribunals-application-base-74464f6b98-2kj6g      0/1     OOMKilled   4 (57s ago)   2m40s\n",
        "    State:          Waiting\n      Reason:       CrashLoopBackOff\n    Last State:     Terminated\n"
        "      Reason:       OOMKilled\n      Exit Code:    1\n      Started:      Thu, 04 Jan 2024 17:52:29 +0800\n"
        "      Finished:     Thu, 04 Jan 2024 17:52:49 +0800\n    Ready:          False\n    Restart Count:  3\n",
    )

    def sniff(self, head: str) -> float:
        if _looks_structured(head):
            return 0.9
        # Each pattern is tried only on lines holding a word it cannot match without (issue 20: a regex call per
        # line of every file's head was most of choosing a parser), and the head is split into lines only when it
        # holds one of those words; tests/test_sniff_prefilters.py checks the plain form agrees.
        words = {w for w in _LINE_WORDS if w in head}
        lines = head.splitlines()[:400] if words else []
        if "REASON" in words and any("REASON" in ln and GET_HEADER.match(ln) for ln in lines) \
                or "Reason" in words and any("Reason" in ln and DESCRIBE_HEADER.match(ln) for ln in lines):
            return 0.9
        if "FirstSeen" in words and any("FirstSeen" in ln and DESCRIBE_OLD_HEADER.match(ln.expandtabs(8)) for ln in lines):
            return 0.9
        if "NAME" in words and any("NAME" in ln and (GET_PODS_HEADER.match(ln.expandtabs(8))
                                                     or TOP_PODS_HEADER.match(ln.expandtabs(8))) for ln in lines):
            return 0.9
        if "State:" in head and _STATUS_BLOCK.search(head) and _STATUS_DETAIL.search(head):
            return 0.85
        if "Kind:" in head and re.search(r"(?m)^Kind:\s+Event\s*$", head) and re.search(r"(?m)^Involved Object:", head):
            return 0.9
        if not words & {"Normal", "Warning", "{"}:  # no line can be an event row
            return 0.0
        nonblank = [ln for ln in lines if ln.strip()]
        rows = sum(1 for ln in nonblank if ("Normal" in ln or "Warning" in ln) and DESCRIBE_ROW.match(ln)
                   or "{" in ln and OLD_EVENT_ROW.match(ln.expandtabs(8)))
        if rows >= 2 and rows >= 0.6 * len(nonblank):
            return 0.8
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        acc = Acc(lines=lines)
        timeouts_before = safe_regex.timeouts()
        shape = _looks_structured(text[:65536])
        if shape == "jsonl":
            exporter_lines(acc)
        elif shape == "json":
            json_doc(acc, "\n".join(lines)) or exporter_lines(acc)
        elif shape == "yaml":
            yaml_doc(acc)
        elif shape == "pod_json":
            pod_json(acc, "\n".join(lines))
        elif shape == "pod_yaml":
            pod_yaml(acc)
        else:
            i = 0
            while i < len(lines):
                if GET_HEADER.match(lines[i].expandtabs(8)):
                    i = get_table(acc, i, ctx)
                else:
                    i += 1
            old_describe_rows(acc, ctx)
            describe_rows(acc, ctx)
            old_event_rows(acc, ctx)
            hpa_tables(acc, ctx)
            describe_hpa(acc, ctx)
            get_pods(acc, ctx)
            top_pods(acc, ctx)
            pod_status_blocks(acc)
            if not acc.events:
                kv_block(acc)
            date_crash_loops(acc.events)
            if not acc.events and re.search(r"(?m)^(?:apiVersion|items|kind):", text):
                acc.problems.append("YAML is not a Kubernetes event list (no item with reason and involvedObject/regarding)")
        if timed_out := safe_regex.timeouts() - timeouts_before:
            acc.problems.append(f"{timed_out} pattern matches took longer than {safe_regex.TIMEOUT_SECONDS} s "
                                "and were treated as no match (pathological lines)")
        return self._result(acc, ctx)

    def _result(self, acc: Acc, ctx: ParseContext) -> FileParse:
        events = to_frame(acc, ctx)
        blank = {i for i, ln in enumerate(acc.lines) if not ln.strip()} - acc.used
        used = {i for i in acc.used if i < len(acc.lines)}
        unrec = [i for i in range(len(acc.lines)) if i not in used and i not in blank]
        assumptions = []
        if acc.relative:
            ref = ctx.now.isoformat().replace("+00:00", "Z") if ctx.now else "nothing (no reference time)"
            assumptions.append(
                f"{ctx.path}: {acc.relative} relative kubectl ages were resolved against {ref} ({ctx.now_source})."
            )
        return FileParse(
            events=events,
            lines=len(acc.lines),
            event_lines=len(used),
            unrecognized_lines=len(unrec),
            blank_lines=len(blank),
            records=len(acc.events),
            problems=acc.problems,
            unrecognized_samples=[UnrecognizedSample(i + 1, acc.lines[i][:300]) for i in unrec[:MAX_SAMPLES]],
            assumptions=assumptions,
        )
