"""Prometheus HTTP API responses saved to a file: query_range (matrix) and instant query (vector/scalar).

An error body (`{"status":"error","errorType":...}`) yields zero events and one problem line.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from parsers.base import FileParse, ParseContext
from parsers.metrics.rows import SAMPLE_KIND, Sample, account, from_epoch, samples_frame, split_text, to_float
from postmortem.model import Kind

_HEAD = re.compile(r'^\s*\{\s*"(?:status|data)"\s*:')


class PromApiJson:
    """Prometheus `/api/v1/query_range` and `/api/v1/query` JSON."""

    name: ClassVar[str] = "prometheus_json"
    kinds: ClassVar[tuple[Kind, ...]] = (SAMPLE_KIND,)
    example: ClassVar[str] = '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{...},"values":[[1700000000,"412"]]}]}}'
    samples: ClassVar[tuple[str, ...]] = (
        '{"status":"error","errorType":"bad_data","error":"invalid expression type \\"matrix\\" for range query, must be scalar or vector"}\n',
        '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"redis_connected_clients",'
        '"instance":"10.0.0.7:9121","job":"redis"},"values":[[1700000000,"412"],[1700000015,"3981"]]}]}}\n',
    )

    def sniff(self, head: str) -> float:
        if _HEAD.match(head) and re.search(r'"(?:resultType|errorType)"\s*:', head):
            # Loki answers the same API shape with log streams: those are the Loki parser's
            return 0.0 if re.search(r'"resultType"\s*:\s*"streams"', head) else 0.95
        return 0.0

    def parse(self, text: str, ctx: ParseContext) -> FileParse:
        lines = split_text(text)
        try:
            doc = json.loads(text)
        except ValueError as exc:
            return account(lines, set(), samples_frame([], ctx.path), problems=[f"Prometheus JSON is not valid JSON ({exc.msg} at line {exc.lineno})"])
        if not isinstance(doc, dict):
            return account(lines, set(), samples_frame([], ctx.path), problems=["Prometheus JSON is not an API response object"])
        if doc.get("status") == "error":
            problem = f"Prometheus API error response: {doc.get('errorType', '?')}: {str(doc.get('error', ''))[:300]}"
            return account(lines, set(), samples_frame([], ctx.path), problems=[problem])
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        kind = data.get("resultType")
        result = data.get("result")
        samples: list[Sample] = []
        line = 1 if len(lines) <= 1 else None
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            v = to_float(result[1])
            if v is not None and to_float(result[0]) is not None:
                samples.append(Sample(1, "scalar", v, from_epoch(to_float(result[0]))))
        for series in result if isinstance(result, list) and kind in ("matrix", "vector") else []:
            if not isinstance(series, dict):
                continue
            labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
            name = labels.pop("__name__", "") or "value"
            points = series.get("values") if kind == "matrix" else [series.get("value")]
            at = line or _line_for(lines, name, labels)
            for p in points or []:
                if not (isinstance(p, list) and len(p) == 2):
                    continue
                t, v = to_float(p[0]), to_float(p[1])
                if t is not None and v is not None:
                    samples.append(Sample(at, name, v, from_epoch(t), labels))
        problems = [] if samples else [f"Prometheus response has no samples (resultType {kind!r})"]
        used = set(range(len(lines))) if samples else set()
        return account(lines, used, samples_frame(samples, ctx.path), problems=problems, records=len(samples))


def _line_for(lines: list[str], name: str, labels: dict[str, str]) -> int:
    """Multi-line responses: the first line holding this series' name and first label value (1 if none)."""
    needles = [json.dumps(name)] + [json.dumps(v) for v in list(labels.values())[:1]]
    for i, ln in enumerate(lines):
        if all(n in ln for n in needles):
            return i + 1
    return 1
