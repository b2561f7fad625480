"""A task for a side process that reports what it has imported (tests/test_side_process.py).

Kept apart from the test modules, which import the analysis: the process that runs this task imports only
this module to find it."""

from __future__ import annotations

import sys


def top_level_modules() -> list[str]:
    """The top-level packages and modules loaded in this process."""
    return sorted({name.split(".")[0] for name in sys.modules})


class _Teardown:
    """Writes `path` when the interpreter's teardown deletes it (a module global lives until then)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._open = open  # the builtins may be cleared before this object is

    def __del__(self) -> None:
        with self._open(self.path, "w", encoding="utf-8") as f:
            f.write("torn down")


_kept: list[_Teardown] = []


def mark_teardown(path: str) -> bool:
    """Leave an object in this process that writes `path` only if the interpreter's teardown runs."""
    _kept.append(_Teardown(path))
    return True
