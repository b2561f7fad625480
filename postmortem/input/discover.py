"""Find the input files under the given paths, safely: no hidden or VCS folders, no symlink loops,
no FIFOs or devices (only `stat`ed, never opened: opening a FIFO blocks), each real file once.

Every path that is not read is returned as `Skipped` with the reason, so nothing vanishes silently.
Hidden files and folders (`.name`) and VCS/tool folders inside a given folder are not inputs and
are passed over without a note; a hidden file named explicitly is read.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules"}


@dataclass(frozen=True)
class Discovered:
    path: str  # as shown in reports: relative to the given root when possible
    real: str  # resolved path, for reading
    size: int  # at listing time; the reader compares it to say "file changed while read"


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


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


# Files read by one analysis at most: past it, each further file would cost memory for its
# accounting and a line in the report; the rest are counted in one skipped entry.
MAX_FILES = 100_000


class _Walker:
    """Accumulates found and skipped paths across all given roots."""

    def __init__(self) -> None:
        self.over = 0  # regular files past MAX_FILES, not read
        self.found: list[Discovered] = []
        self.skipped: list[Skipped] = []
        self.seen: dict[tuple[int, int], str] = {}  # (device, inode) → shown path of the first read
        self.seen_dirs: dict[str, str] = {}

    def add_file(self, p: Path, shown: str) -> None:
        try:
            st = p.stat()
        except OSError as exc:
            if p.is_symlink():
                self.skipped.append(Skipped(shown, "broken symlink: skipped"))
            else:
                self.skipped.append(Skipped(shown, f"cannot stat: {exc.strerror or exc}"))
            return
        if stat.S_ISDIR(st.st_mode):
            self.walk(p, shown)
            return
        if not stat.S_ISREG(st.st_mode):
            self.skipped.append(Skipped(shown, f"{_special_kind(st.st_mode)}: skipped, not opened"))
            return
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            self.skipped.append(Skipped(shown, f"same file as {self.seen[key]}: counted once"))
            return
        if len(self.found) >= MAX_FILES:
            self.over += 1
            return
        self.seen[key] = shown
        self.found.append(Discovered(shown, os.path.realpath(p), st.st_size))

    def walk(self, root: Path, given: str) -> None:
        def unreadable(err: OSError) -> None:
            where = _display(Path(err.filename), root) if err.filename else given
            self.skipped.append(Skipped(where, f"folder not readable: {err.strerror or err}: skipped"))

        for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unreadable):
            shown_dir = _display(Path(dirpath), root) if Path(dirpath) != root else given
            real_dir = os.path.realpath(dirpath)
            if real_dir in self.seen_dirs:
                first = self.seen_dirs[real_dir]
                parent = os.path.realpath(os.path.dirname(dirpath))
                loop = parent == real_dir or parent.startswith(real_dir.rstrip(os.sep) + os.sep)
                why = "symlink loop" if loop else "second link to a folder"
                self.skipped.append(Skipped(shown_dir, f"{why}: folder already read as {first}"))
                dirnames[:] = []
                continue
            self.seen_dirs[real_dir] = shown_dir
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                self.add_file(p, _display(p, root))


def discover(paths: list[str], shown_as: dict[str, str] | None = None) -> tuple[list[Discovered], list[Skipped]]:
    """Walk files and folders; return files in a deterministic order and what was skipped, with why.

    `shown_as` names a given path for users (batch: the incident's name instead of its scratch folder);
    files inside a given folder are shown relative to it either way, so the name is decided here, once.
    """
    w = _Walker()
    for given in paths:
        root = Path(given)
        label = (shown_as or {}).get(given, given)
        if not root.exists() and not root.is_symlink():
            w.skipped.append(Skipped(label, "does not exist"))
            continue
        w.add_file(root, label)
    if w.over:
        w.skipped.append(Skipped(f"({w.over} more files)", f"not read: an analysis reads at most {MAX_FILES} files "
                                                           "(split the input, or use `postmortem batch`)"))
    return w.found, w.skipped
