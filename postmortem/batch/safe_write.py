"""Files the batch writes into its output folder, each through a temp file renamed over the target.

The output folder may already hold entries someone else planted: a symlink named `index.md` pointing
at `~/.bashrc` must be replaced, never followed. `os.replace` renames over the link itself; the temp
file is created fresh (`mkstemp`, O_EXCL) in the same folder, so the rename is atomic too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_new(path: Path, text: str) -> None:
    """Write UTF-8 text to `path` via a temp file and a rename."""
    write_via_temp(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline=""))


def write_via_temp(path: Path, write: Callable[[str], object]) -> None:
    """`write(temp path)` (any writer, e.g. Parquet), then rename it over `path`; the temp file never outlives a failure."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
