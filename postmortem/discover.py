"""Find the input files under the given paths, safely: no hidden or VCS folders, no symlink loops,
no FIFOs or devices, each real file once."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules"}


@dataclass(frozen=True)
class Discovered:
    path: str  # as shown in reports: relative to the given root when possible
    real: str  # resolved path, for de-duplication and reading
    size: int


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def _display(p: Path, root: Path) -> str:
    try:
        rel = p.relative_to(root)
        return str(rel) if str(rel) != "." else p.name
    except ValueError:
        return str(p)


def discover(paths: list[str]) -> tuple[list[Discovered], list[Skipped]]:
    """Walk files and folders; return files in a deterministic order and what was skipped, with why."""
    found: list[Discovered] = []
    skipped: list[Skipped] = []
    seen_real: dict[str, str] = {}

    def add_file(p: Path, shown: str) -> None:
        try:
            st = p.stat()
        except OSError as exc:
            skipped.append(Skipped(shown, f"cannot stat: {exc.strerror or exc}"))
            return
        if not stat.S_ISREG(st.st_mode):
            kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "device or special file"
            skipped.append(Skipped(shown, f"{kind}: skipped"))
            return
        real = os.path.realpath(p)
        if real in seen_real:
            skipped.append(Skipped(shown, f"same file as {seen_real[real]}: counted once"))
            return
        seen_real[real] = shown
        found.append(Discovered(shown, real, st.st_size))

    for given in paths:
        root = Path(given)
        if not root.exists() and not root.is_symlink():
            skipped.append(Skipped(given, "does not exist"))
            continue
        if root.is_file() or not root.is_dir():
            add_file(root, given)
            continue
        visited_dirs: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            real_dir = os.path.realpath(dirpath)
            if real_dir in visited_dirs:
                skipped.append(Skipped(_display(Path(dirpath), root), "symlink loop: folder already read"))
                dirnames[:] = []
                continue
            visited_dirs.add(real_dir)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                add_file(p, _display(p, root))
    return found, skipped
