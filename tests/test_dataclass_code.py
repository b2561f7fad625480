"""Dataclass methods compiled once across runs (postmortem.dataclass_code): a class made with the cache,
filled or read back, has the methods `@dataclass` makes without it; a later run compiles nothing; a broken
cache file is compiled over."""

from __future__ import annotations

import dataclasses
import os

import pytest

from postmortem import dataclass_code
from postmortem.dataclass_code import cache_path, cached_dataclass_code

METHODS = ("__init__", "__repr__", "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__setattr__",
           "__delattr__")


def _make() -> type:
    @dataclasses.dataclass(frozen=True, order=True)
    class Point:
        x: int
        label: str = "p"
        tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)
        seen: bool = dataclasses.field(default=False, compare=False, repr=False)

    return Point


def _code(cls: type, name: str):
    return getattr(cls, name).__code__


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return cache_path()


def test_methods_made_through_the_cache_are_the_plain_ones(cache, monkeypatch):
    plain = _make()
    with cached_dataclass_code():
        filled = _make()
    assert os.path.exists(cache)
    compiled: list[str] = []
    monkeypatch.setattr(dataclass_code, "compile", lambda *a, **k: compiled.append(a[0]) or compile(*a, **k),
                        raising=False)
    with cached_dataclass_code():
        read_back = _make()
    assert compiled == []  # every method came from the file
    for cls in (filled, read_back):
        for name in METHODS:
            assert _code(cls, name) == _code(plain, name), name
        a, b = cls(1, "a", ("t",), seen=True), cls(1, "a", ("t",))
        assert a == b and hash(a) == hash(b) and repr(a) == repr(plain(1, "a", ("t",)))
        assert cls(0) < cls(1) and cls(2).tags == ()
        with pytest.raises(dataclasses.FrozenInstanceError):
            a.x = 2
    assert "exec" not in vars(dataclasses)  # dataclasses compiles as before outside the block


def test_a_broken_cache_file_is_compiled_over(cache):
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "wb") as f:
        f.write(b"not marshal data")
    with cached_dataclass_code():
        cls = _make()
    assert _code(cls, "__init__") == _code(_make(), "__init__")
    assert dataclass_code._load(cache)  # rewritten with this run's methods
