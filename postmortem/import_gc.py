"""Loading the analysis's modules without the cyclic garbage collector.

Importing polars, numpy and our modules creates a few hundred thousand long-lived objects (classes,
functions, dataclasses); the collector walks them again and again while they are created (about 140
collections, one of them full, 0.03-0.1 s of a small incident's ~1 s). None of them is garbage, so the
imports run with the collector off, and what they made is then frozen (`gc.freeze`: left out of every
later collection). The analysis itself runs with the collector as it was. Freezing happens once per
process, so a long-lived caller (the tests) does not keep freezing the objects of earlier runs.

numpy loads late, only for the what-if replay (`late_import`): its import alone runs ~20 collections, and
left unfrozen its ~100,000 objects are walked again by the next older collections. It is frozen once too,
when it first loads; what the analysis holds at that moment is frozen with it (still freed by reference
counting, only left out of cycle collection).
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_frozen = False


@contextmanager
def imports_without_gc() -> Iterator[None]:
    """Run the block (imports) with the collector off; the first time, freeze what exists afterwards."""
    global _frozen
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _frozen:
            gc.freeze()
            _frozen = True
        if was:
            gc.enable()


def late_import(name: str) -> None:
    """Import `name` (a heavy module loaded mid-analysis: numpy) with the collector off, freezing what exists
    afterwards; nothing when it is loaded already (so a process freezes for it once)."""
    if name in sys.modules:
        return
    was = gc.isenabled()
    gc.disable()
    try:
        importlib.import_module(name)
    finally:
        gc.freeze()
        if was:
            gc.enable()
