"""Detector registry: a new detector is one module plus one line in DETECTORS."""

from __future__ import annotations

from postmortem.detectors.base import Detector
from postmortem.detectors.inputs import UnrecognizedInput

DETECTORS: tuple[Detector, ...] = (
    UnrecognizedInput(),
)


def rules() -> list:
    return sorted((d.rule for d in DETECTORS), key=lambda r: r.rule_id)


def find_rule(rule_id: str):
    return next((d.rule for d in DETECTORS if d.rule.rule_id.upper() == rule_id.upper()), None)
