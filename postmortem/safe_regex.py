"""Python-side patterns over untrusted log text, run with a time limit so one pathological line cannot
hang the analysis.

Polars' Rust regex is linear time; Python's `re` backtracks and has no timeout. Patterns that run
per log line (or on log-derived strings) in Python are compiled here with `regex` (a superset of
`re`, same syntax and flags) and every call passes `timeout=`. On a timeout the text is treated as
unmatched (`search`/`match` give None, `findall`/`finditer` what was found so far) and the timeout
is counted; `timeouts()` lets a caller say so, e.g. as a per-file problem.
"""

from __future__ import annotations

from collections.abc import Callable

import regex

TIMEOUT_SECONDS = 1.0  # per call: ordinary lines match in microseconds

_timeouts = 0


def timeouts() -> int:
    """How many calls in this process ran out of time (take the difference around a piece of work)."""
    return _timeouts


def _timed_out() -> None:
    global _timeouts
    _timeouts += 1


class SafePattern:
    """A pattern whose calls give up after `timeout` seconds (treated as no match).

    Compiled on first use, not at import (issue 20: start fast): most modules' patterns (the Kubernetes
    shapes, redaction's rules) are never needed by a given incident, and compiling them all cost tens of
    milliseconds of every start."""

    def __init__(self, pattern: str, flags: int = 0, timeout: float = TIMEOUT_SECONDS):
        self.pattern = pattern
        self.flags = flags
        self.timeout = timeout
        self._compiled: regex.Pattern | None = None

    @property
    def _rx(self) -> regex.Pattern:
        if self._compiled is None:
            self._compiled = regex.compile(self.pattern, self.flags)
        return self._compiled

    def match(self, text: str, pos: int = 0) -> regex.Match | None:
        try:
            return self._rx.match(text, pos, timeout=self.timeout)
        except TimeoutError:
            _timed_out()
            return None

    def fullmatch(self, text: str) -> regex.Match | None:
        try:
            return self._rx.fullmatch(text, timeout=self.timeout)
        except TimeoutError:
            _timed_out()
            return None

    def search(self, text: str, pos: int = 0) -> regex.Match | None:
        try:
            return self._rx.search(text, pos, timeout=self.timeout)
        except TimeoutError:
            _timed_out()
            return None

    def finditer(self, text: str) -> list[regex.Match]:
        """All matches (a list, not an iterator: the time limit covers the whole scan)."""
        found: list[regex.Match] = []
        try:
            for m in self._rx.finditer(text, timeout=self.timeout):
                found.append(m)
        except TimeoutError:
            _timed_out()
        return found

    def findall(self, text: str) -> list:
        try:
            return self._rx.findall(text, timeout=self.timeout)
        except TimeoutError:
            _timed_out()
            return []

    def sub(self, repl: str | Callable[[regex.Match], str], text: str, on_timeout: Callable[[str], str]) -> str:
        """Replace every match; on a timeout the result is `on_timeout(text)` (a caller that must not
        leak what it could not rewrite, like redaction, withholds the text)."""
        try:
            return self._rx.sub(repl, text, timeout=self.timeout)
        except TimeoutError:
            _timed_out()
            return on_timeout(text)


def compile(pattern: str, flags: int = 0, timeout: float = TIMEOUT_SECONDS) -> SafePattern:  # noqa: A001
    """Like `re.compile`, for patterns that run on untrusted text."""
    return SafePattern(pattern, flags, timeout)
