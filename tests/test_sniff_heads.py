"""Sniffers read the first lines of a file's 64 KiB head without splitting all of it (issue 20: each split the whole
head, several times per file, for a few dozen lines). The fast forms must give the lines the plain ones give."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.exports import loki
from parsers.metrics.rows import head_lines, split_text
from postmortem.input.parser_choice import SNIFF_BYTES

DATA = Path(__file__).parent / "data"


def plain_first_lines(head: str, n: int = 5) -> list[str]:
    return [ln for ln in head.lstrip("\ufeff").splitlines() if ln.strip()][:n]


_PIECES = st.sampled_from(["", " ", "a", "line of text", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85",
                           "\u2028", "\ufeff", "   \n", "x" * 3000, "\n\n\n", "a\rb"])
_TEXTS = st.lists(_PIECES, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, n=st.integers(0, 60))
def test_head_lines_are_the_first_lines_of_the_whole_split(text, n):
    assert head_lines(text, n) == split_text(text)[:n]


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, n=st.sampled_from([1, 5, 40]), cut=st.integers(0, 40))
def test_first_lines_from_the_head_s_start_are_the_whole_head_s(text, n, cut):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(loki, "_FIRST_CHARS", cut)  # small cuts put line breaks (and \r\n) on the cut
        assert loki._first_lines(text, n) == plain_first_lines(text, n)


def _heads() -> list[str]:
    files = sorted(p for p in DATA.rglob("*") if p.is_file() and p.stat().st_size > 0)
    return [p.read_bytes()[:SNIFF_BYTES].decode("utf-8", "ignore") for p in files]


@pytest.mark.slow
def test_every_fixture_head_gives_the_same_first_lines():
    for head in _heads():
        for n in (5, 20, 40, 50, 400):
            assert head_lines(head, n) == split_text(head)[:n]
            assert loki._first_lines(head, n) == plain_first_lines(head, n)
