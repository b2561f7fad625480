"""Loading the analysis's modules without the cyclic garbage collector.

Importing polars, numpy and our modules creates a few hundred thousand long-lived objects (classes,
functions, dataclasses); the collector walks them again and again while they are created (about 140
collections, one of them full, 0.03-0.1 s of a small incident's ~1 s). None of them is garbage, so the
imports run with the collector off, and what they made is then frozen (`gc.freeze`: left out of every
later collection). The analysis itself runs with the collector as it was. Freezing happens once per
process, so a long-lived caller (the tests) does not keep freezing the objects of earlier runs.
"""

from __future__ import annotations

import gc
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
