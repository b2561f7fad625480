"""Python-side patterns on untrusted text give up in time: a pathological line is unmatched, not a hang."""

from __future__ import annotations

import re
import time

from parsers.base import ParseContext
from parsers.k8s import K8sEvents
from parsers.k8s.describe import DESCRIBE_ROW
from postmortem import safe_regex
from postmortem.redaction import redact_text

# `(.*?)[\s│|]*$` backtracks quadratically over a long run of spaces that does not end the line
PATHOLOGICAL_ROW = "  Normal  Pulled  5m  kubelet  a " + " " * 60_000 + "\x01x"


def test_the_pattern_really_is_catastrophic_for_backtracking_re():
    rx = re.compile(DESCRIBE_ROW.pattern)
    start = time.monotonic()
    rx.match("  Normal  Pulled  5m  kubelet  a " + " " * 6_000 + "\x01x")  # a tenth of the hostile line
    assert time.monotonic() - start > 0.02  # already slow; quadratic, so 100x this on the full line


def test_a_catastrophic_line_returns_within_the_timeout_as_no_match():
    before = safe_regex.timeouts()
    assert DESCRIBE_ROW.match(PATHOLOGICAL_ROW) is None  # with `re` this line takes seconds
    assert safe_regex.timeouts() == before + 1  # the limit ended it (no wall-clock assertion here)


def test_ordinary_lines_still_match():
    m = DESCRIBE_ROW.match("  Warning  BackOff    4m53s (x72 over 20m)  kubelet  Back-off restarting failed container")
    assert m and m.group(2) == "BackOff"


def test_the_k8s_parser_counts_the_pathological_line_and_says_so():
    text = "  Warning  BackOff  5m  kubelet  Back-off restarting failed container\n" + PATHOLOGICAL_ROW + "\n"
    fp = K8sEvents().parse(text, ParseContext(path="events.txt"))
    assert fp.events.height == 1 and fp.unrecognized_lines == 1
    assert any("treated as no match" in p for p in fp.problems)


def test_redaction_that_times_out_withholds_the_text():
    slow = safe_regex.compile(DESCRIBE_ROW.pattern, timeout=0.05)
    secret = PATHOLOGICAL_ROW + " password=hunter2"
    out = slow.sub("", secret, on_timeout=lambda t: f"[{len(t)} withheld]")
    assert out == f"[{len(secret)} withheld]"
    assert redact_text("redis://u:hunter2@h:6379") == "redis://u:***@h:6379"


def test_every_module_level_pattern_compiles():
    """Patterns compile on first use (start-up, issue 20), so a broken one would only fail when an input
    needs it: here every pattern made by importing all of `parsers` and `postmortem` is compiled."""
    import gc
    import importlib
    import pkgutil

    import parsers
    import postmortem

    for pkg in (parsers, postmortem):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            importlib.import_module(info.name)
    gc.unfreeze()  # a CLI test in this process may have frozen them (postmortem/import_gc.py); get_objects skips those
    patterns = [o for o in gc.get_objects() if isinstance(o, safe_regex.SafePattern)]
    for p in patterns:
        p._rx  # noqa: B018  (compiles, or raises regex.error)
    assert len(patterns) >= 60  # the Kubernetes shapes, slow_commands, the 16 redaction rules
