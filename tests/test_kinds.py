"""The kind table (postmortem/kinds.py): one declaration per kind, flags read from it, not from lists."""

from __future__ import annotations

import polars as pl
import pytest

from parsers import FILE_PARSERS, RECOGNIZERS
from postmortem.analysis.correlate import ATTEMPT_KINDS, UNREACHABLE_KINDS, is_problem
from postmortem.kinds import FLAGS, KINDS, KindTable
from postmortem.model import Kind
from postmortem.schema import event_weight


def test_every_parser_declares_its_kinds():
    for parser in (*RECOGNIZERS, *FILE_PARSERS):
        assert parser.kinds, f"{parser.name} declares no kinds"
        assert all(isinstance(k, Kind) for k in parser.kinds)


def test_conflicting_declarations_are_refused():
    a = Kind("x.one", "fam", "one", problem=True)
    with pytest.raises(ValueError, match="declared twice"):
        KindTable((a, Kind("x.one", "fam", "one")))
    assert [k.name for k in KindTable((a, a))] == ["x.one"]


def test_unknown_flag_is_an_error():
    with pytest.raises(ValueError, match="unknown kind flag"):
        KINDS.with_flag("problme")


def test_prefix_kind_matches_its_family():
    assert KINDS.get("k8s.BackOff").prefix
    assert KINDS.get("redis.timeout").name == "redis.timeout"
    assert KINDS.get("redis.nonsense") is None


def test_correlation_reads_the_flags():
    assert set(UNREACHABLE_KINDS) == {k.name for k in KINDS if k.unreachable}
    assert set(ATTEMPT_KINDS) == {k.name for k in KINDS if k.attempt}
    assert set(UNREACHABLE_KINDS) <= set(KINDS.with_flag("problem"))
    assert set(KINDS.with_flag("weighted")) == {"app.activity", "redis.server.client_accepted",
                                                "redis.server.client_closed"}
    for flag in FLAGS:
        assert KINDS.with_flag(flag), f"no kind has flag {flag}: dead flag"


def test_problem_and_weight_follow_the_declarations():
    events = pl.DataFrame({
        "kind": ["redis.timeout", "redis.config", "redis.server.warning", "app.activity", "app.log"],
        "level": ["info", "info", "info", "info", "error"],
        "value": [None, None, None, 7.0, None],
    })
    got = events.select(problem=is_problem(), weight=event_weight())
    assert got.get_column("problem").to_list() == [True, False, False, False, True]
    assert got.get_column("weight").to_list() == [1.0, 1.0, 1.0, 7.0, 1.0]
