"""The settings of polars' allocator (jemalloc) for the CLI's processes; they take effect only before polars loads.

polars asks jemalloc to hand freed pages back after 500 ms as "muzzy" pages (MADV_FREE), which Linux keeps in the
process's resident set until memory runs short, and to drop them 1 s later: a stage's freed copies stay resident into
the next stage's. Dropping them at once (muzzy 0) keeps the peak to what the analysis holds (issue 20, memory)."""

from __future__ import annotations

import os
import sys

CONF = "muzzy_decay_ms:0"


def configure() -> None:
    """Append CONF to the allocator settings polars reads when it loads (its own defaults first, a user's own
    `_RJEM_MALLOC_CONF` last, so theirs wins); spawned workers inherit it. Too late once polars is loaded."""
    if "polars" in sys.modules:
        return
    own = os.environ.get("_RJEM_MALLOC_CONF")
    os.environ["_RJEM_MALLOC_CONF"] = f"{CONF},{own}" if own else CONF
