"""Content-hash cache: re-running a batch skips incidents whose inputs and options did not change.

The key of an incident is a sha256 over (relative path, size, content sha256) of each of its files,
the analysis options and a fingerprint of the tool itself (version plus a hash of the installed source),
so a result produced by different analysis code is never reused, even under an unchanged version number.
It lives in OUT/.cache.json next to the reports it vouches for.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import os
from pathlib import Path

from postmortem import __version__
from postmortem.batch.safe_write import write_new

CACHE_NAME = ".cache.json"
CACHE_FORMAT = 1
_CHUNK = 1 << 20
# The packages whose code decides what a report says, and the file kinds in them that matter.
TOOL_PACKAGES = ("postmortem", "parsers", "reports")
_SOURCE_SUFFIXES = frozenset({".py", ".json", ".j2"})


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _input_files(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every regular file under root, sorted; a file root is itself."""
    if root.is_file():
        return [(root.name, root)]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file():
                out.append((p.relative_to(root).as_posix(), p))
    return sorted(out)


def source_digest(packages: dict[str, Path]) -> str:
    """sha256 over (package/relative path, bytes) of every source, data and template file, sorted by path.

    Byte code caches are left out: they follow the sources and differ between Python versions.
    """
    files: list[tuple[str, Path]] = []
    for name, root in packages.items():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for fname in filenames:
                p = Path(dirpath) / fname
                if p.suffix in _SOURCE_SUFFIXES or "templates" in p.relative_to(root).parts[:-1]:
                    files.append((f"{name}/{p.relative_to(root).as_posix()}", p))
    h = hashlib.sha256()
    for rel, p in sorted(files):
        data = p.read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


@functools.cache
def tool_fingerprint() -> str:
    """The installed tool's identity: version plus `source_digest` of its packages, computed once per process."""
    roots = {name: Path(importlib.import_module(name).__file__).parent for name in TOOL_PACKAGES}
    return f"{__version__}+{source_digest(roots)}"


def options_fingerprint(opts: object) -> str:
    """A stable text for the analysis options (a dataclass), so a changed option invalidates the cache."""
    data = dataclasses.asdict(opts) if dataclasses.is_dataclass(opts) else opts
    return json.dumps(data, sort_keys=True, default=str)


def incident_key(root: str | os.PathLike, options: str) -> str:
    """sha256 over the incident's files (relative path, size, content hash), tool fingerprint and options."""
    h = hashlib.sha256()
    h.update(f"postmortem {tool_fingerprint()}\0cache {CACHE_FORMAT}\0{options}\0".encode())
    for rel, p in _input_files(Path(root)):
        h.update(f"{rel}\0{p.stat().st_size}\0{_file_sha256(p)}\0".encode())
    return h.hexdigest()


def load_cache(out: Path) -> dict[str, str]:
    """incident name → key of its last successful analysis; an unreadable cache is an empty one."""
    try:
        doc = json.loads((out / CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT or not isinstance(doc.get("incidents"), dict):
        return {}
    return {str(k): str(v) for k, v in doc["incidents"].items()}


def save_cache(out: Path, entries: dict[str, str]) -> None:
    """Write the cache atomically (temp file + rename), so an interrupted run never leaves half a file."""
    doc = {"format": CACHE_FORMAT, "incidents": dict(sorted(entries.items()))}
    write_new(out / CACHE_NAME, json.dumps(doc, indent=1) + "\n")
