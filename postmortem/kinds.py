"""The one table of event kinds, assembled from what every parser declares (`kinds` on each class).

Correlation, detectors, charts, noise folding and the docs test read flags here instead of keeping
their own lists: a new kind is declared once, by the parser that emits it, with its flags.
"""

from __future__ import annotations

from dataclasses import fields

import polars as pl

from parsers import FILE_PARSERS, RECOGNIZERS
from parsers.noise import ACTIVITY
from parsers.recognize import APP_LOG
from postmortem.model import Kind

FLAGS = tuple(f.name for f in fields(Kind) if f.type in ("bool", bool) and f.name != "prefix")


class KindTable:
    """Every declared kind once, in declaration order (recognizers, file parsers, then framing's own)."""

    def __init__(self, declared: tuple[Kind, ...]):
        by_name: dict[str, Kind] = {}
        for kind in declared:
            seen = by_name.setdefault(kind.name, kind)
            if seen != kind:
                raise ValueError(f"kind {kind.name} is declared twice with different flags: {seen} / {kind}")
        self.kinds: tuple[Kind, ...] = tuple(by_name.values())

    def __iter__(self):
        return iter(self.kinds)

    def get(self, name: str) -> Kind | None:
        """The declaration `name` falls under (an exact kind, else a prefix family such as `k8s.`)."""
        exact = next((k for k in self.kinds if not k.prefix and k.name == name), None)
        return exact or next((k for k in self.kinds if k.prefix and k.matches(name)), None)

    def with_flag(self, flag: str) -> tuple[str, ...]:
        """Names of the exact kinds with `flag` set, in declaration order."""
        if flag not in FLAGS:
            raise ValueError(f"unknown kind flag {flag!r}; flags: {', '.join(FLAGS)}")
        flagged = [k for k in self.kinds if getattr(k, flag)]
        if any(k.prefix for k in flagged):
            raise ValueError(f"flag {flag} on a prefix kind cannot be listed by name")
        return tuple(k.name for k in flagged)

    def flag_expr(self, flag: str, column: str = "kind") -> pl.Expr:
        """True where `column` is a kind with `flag` set."""
        return pl.col(column).is_in(self.with_flag(flag))

    def problem_expr(self) -> pl.Expr:
        """Kinds that signal trouble whatever their level (see `correlate.is_problem`)."""
        return self.flag_expr("problem")

    def families(self) -> tuple[str, ...]:
        """The source families that declare kinds, in declaration order."""
        return tuple(dict.fromkeys(k.family for k in self.kinds))


def declared_kinds() -> tuple[Kind, ...]:
    """What the registered parsers declare, then the kinds framing itself makes (unclaimed, noise)."""
    out: list[Kind] = []
    for parser in (*RECOGNIZERS, *FILE_PARSERS):
        out.extend(parser.kinds)
    return (*out, APP_LOG, ACTIVITY)


KINDS = KindTable(declared_kinds())
