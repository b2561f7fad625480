"""PM001 unrecognized-input: files or lines that no parser understood."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from postmortem.analysis.advice import Advice, Facts
from postmortem.analysis.correlate import Context
from postmortem.analysis.detectors.base import RuleDetector
from postmortem.model import Confidence, Evidence, Figures, Finding, Role, Rule, Severity


@dataclass(frozen=True, eq=False, repr=False)
class InputFigures(Figures):
    unrecognized_lines: int  # lines no parser understood, over all files
    files_skipped: int  # files not read at all (binary, unreadable, special)
    files_with_unrecognized_lines: int  # read files with at least one such line


class UnrecognizedInput(RuleDetector):
    """Say what was not read, so nobody trusts a postmortem built on half the logs."""

    rule = Rule(
        "PM001",
        "unrecognized-input",
        Severity.INFO,
        "files or lines that no parser understood",
        what=("input files that were skipped (binary, unreadable, special files) and lines that no parser "
              "recognized, per file, with samples."),
        why=("a postmortem built on logs that were silently dropped can blame the wrong cause; knowing "
             "what was not read tells you which evidence is missing."),
        recommendation=("check the listed files: pass `--source-type NAME=GLOB` if a format was mis-detected, or "
                        "open an issue with a sample of the unrecognized lines."),
        role=Role.DATA_QUALITY,
        phrase="unrecognized input",
        actions=(
            ("process", "Extend parser coverage for the unrecognized inputs listed below."),
        ),
    )

    def advise(self, facts: Facts) -> Advice:
        return Advice("Make every input readable", "Force a parser with `--source-type NAME=GLOB` where a format was "
                      "mis-detected, or attach the unrecognized samples below to a parser issue.")

    def detect(self, events: pl.DataFrame, ctx: Context) -> Iterator[Finding]:
        files = [f for f in ctx.inputs if f.skipped or f.unrecognized_lines]
        if not files:
            return
        evidence: list[Evidence] = []
        for f in files:
            for s in f.unrecognized_samples[:2]:
                evidence.append(Evidence(f.path, s.line, None, s.text))
            if f.skipped:
                evidence.append(Evidence(f.path, 0, None, "; ".join(f.problems)))
        total = sum(f.unrecognized_lines for f in files)
        skipped = sum(1 for f in files if f.skipped)
        figures = InputFigures(unrecognized_lines=total, files_skipped=skipped,
                               files_with_unrecognized_lines=len(files) - skipped)
        yield Finding(
            rule_id=self.rule.rule_id,
            name=self.rule.name,
            severity=self.rule.severity,
            confidence=Confidence.HIGH,
            title=f"{total} unrecognized lines in {len(files) - skipped} files; {skipped} files skipped",
            start=None,
            end=None,
            entities=tuple(f.path for f in files),
            stats=figures.as_stats(),
            evidence=tuple(evidence[:8]),
            evidence_more=max(0, len(evidence) - 8),
            recommendation=self.rule.recommendation,
            figures=figures,
        )
