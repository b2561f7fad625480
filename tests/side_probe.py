"""A task for a side process that reports what it has imported (tests/test_side_process.py).

Kept apart from the test modules, which import the analysis: the process that runs this task imports only
this module to find it."""

from __future__ import annotations

import sys


def top_level_modules() -> list[str]:
    """The top-level packages and modules loaded in this process."""
    return sorted({name.split(".")[0] for name in sys.modules})
