"""kubernetes-event-exporter output: one Event JSON object per line, among the exporter's own log lines."""

from __future__ import annotations

import json

from parsers.k8s.event import Acc, from_object
from postmortem import safe_regex

EXPORTER_LINE = safe_regex.compile(r'^\s*\{.*"(?:involvedObject|regarding)"\s*:\s*\{.*\}\s*$')


def exporter_lines(acc: Acc) -> bool:
    """kubernetes-event-exporter output: one Event JSON per line (its own zerolog lines are not events)."""
    got = False
    for i, raw in enumerate(acc.lines):
        if not (EXPORTER_LINE.match(raw) and '"reason"' in raw):
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        ev = from_object(obj, i + 1)
        if ev:
            acc.events.append(ev)
            acc.used.add(i)
            got = True
    return got
