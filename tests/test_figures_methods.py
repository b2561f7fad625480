"""The per-rule figures classes are declared without generated comparison and repr methods (issue 20: ~90
methods compiled at every start-up that nothing calls); `Figures.__repr__`, written once, prints what the
dataclass repr printed."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from postmortem.analysis.detectors import DETECTORS  # noqa: F401  (imports every rule's figures)
from postmortem.model import Figures


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


FIGURES = sorted(_subclasses(Figures), key=lambda c: c.__qualname__)


def test_every_rule_declares_figures() -> None:
    assert len(FIGURES) >= 30


@pytest.mark.parametrize("cls", FIGURES, ids=lambda c: c.__qualname__)
def test_figures_are_declared_without_eq_hash_or_repr(cls: type) -> None:
    assert not {"__eq__", "__hash__", "__repr__"} & set(vars(cls)), cls
    a = cls(**{f.name: i for i, f in enumerate(fields(cls)) if f.init})
    b = cls(**{f.name: i for i, f in enumerate(fields(cls)) if f.init})
    assert a == a and a != b and len({a, b}) == 2  # compared and hashed as objects: nothing compares figures


@pytest.mark.parametrize("cls", FIGURES, ids=lambda c: c.__qualname__)
def test_the_figures_repr_is_the_dataclass_repr(cls: type) -> None:
    twin = dataclass(frozen=True)(type(cls.__name__, (cls,), {"__qualname__": cls.__qualname__}))
    values = {f.name: (f"v{i}" if i % 2 else i) for i, f in enumerate(fields(cls)) if f.init}
    assert repr(cls(**values)) == repr(twin(**values))
    assert cls.__qualname__ + "(" in repr(cls(**values))
