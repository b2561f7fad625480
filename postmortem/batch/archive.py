"""Safe extraction of an incident archive (.tar.gz, .tgz, .zip) into a scratch folder.

Archives come from other people's machines: a member may try to escape the folder (absolute path,
`..`), be a link or a device, or decompress to far more than it claims (a bomb). Each of those
raises `ArchiveError` for that one incident instead of writing outside the folder or filling the disk.
A header is checked before it is read: a GNU long-name or PAX header claiming gigabytes, or a member
name longer than `max_name_chars`, is refused without reading it; error messages quote names capped.
"""

from __future__ import annotations

import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from postmortem.quoting import quote, shorten

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
_CHUNK = 1 << 16


class ArchiveError(Exception):
    """The archive is unreadable or unsafe; the message says which member and why."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Upper bounds on what one incident archive may expand to."""

    max_members: int = 20_000
    max_total_bytes: int = 2 << 30  # 2 GiB uncompressed
    max_header_bytes: int = 1 << 20  # one GNU long-name/long-link or PAX extended header
    max_name_chars: int = 4096  # one member name (PATH_MAX)


# Header types whose payload tarfile reads whole into memory (long names, PAX records).
_META_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
               tarfile.SOLARIS_XHDTYPE)


def _capped_tarinfo(limits: ArchiveLimits) -> type[tarfile.TarInfo]:
    """A TarInfo class that refuses an oversized metadata header before tarfile reads its payload."""

    class CappedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tarfile_):  # tarfile's hook, called before the payload is read
            if self.type in _META_TYPES and self.size > limits.max_header_bytes:
                raise ArchiveError(f"a {'PAX' if self.type in b'xgX' else 'GNU long-name'} header claims "
                                   f"{self.size} bytes (at most {limits.max_header_bytes} allowed)")
            return super()._proc_member(tarfile_)

    return CappedTarInfo


def archive_stem(name: str) -> str | None:
    """The incident name of an archive file name, or None if it is not a supported archive."""
    low = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _safe_relpath(name: str, limits: ArchiveLimits) -> PurePosixPath:
    """Reject names that are too long, absolute, climb with `..`, or carry a drive; return the clean path."""
    if len(name) > limits.max_name_chars:
        raise ArchiveError(f"member {quote(name)} has a name of {len(name)} characters "
                           f"(at most {limits.max_name_chars} allowed)")
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if not norm or p.is_absolute() or (len(norm) > 1 and norm[1] == ":"):
        raise ArchiveError(f"member {quote(name)} has an absolute path")
    if any(part == ".." for part in p.parts):
        raise ArchiveError(f"member {quote(name)} climbs out of the archive with '..'")
    parts = [part for part in p.parts if part not in ("", ".")]
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


class _Budget:
    """Counts members and bytes actually written, so a lying header cannot exceed the limits."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.members = 0
        self.bytes = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveError(f"more than {self.limits.max_members} members (archive bomb?)")

    def add(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_total_bytes:
            raise ArchiveError(f"expands to more than {self.limits.max_total_bytes} bytes (archive bomb?)")


def _copy(src, dest: Path, budget: _Budget) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = open(dest, "xb")  # noqa: SIM115 - closed below; "x": a duplicate member is an error
    except FileExistsError as exc:
        raise ArchiveError(f"member {quote(dest.name)} appears twice") from exc
    with out:
        while chunk := src.read(_CHUNK):
            budget.add(len(chunk))
            out.write(chunk)


def _extract_tar(path: Path, dest: Path, budget: _Budget) -> None:
    with tarfile.open(path, mode="r:*", tarinfo=_capped_tarinfo(budget.limits)) as tf:
        for info in tf:
            budget.member()
            rel = _safe_relpath(info.name, budget.limits)
            if info.isdir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            if not info.isreg():
                raise ArchiveError(f"member {quote(info.name)} is a link or special file")
            if str(rel) == ".":
                raise ArchiveError(f"member {quote(info.name)} has no file name")
            src = tf.extractfile(info)
            if src is None:
                raise ArchiveError(f"member {quote(info.name)} cannot be read")
            with src:
                _copy(src, dest / rel, budget)


def _extract_zip(path: Path, dest: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            budget.member()
            rel = _safe_relpath(info.filename, budget.limits)
            mode = info.external_attr >> 16
            if info.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: made by a tool that sets no type
                raise ArchiveError(f"member {quote(info.filename)} is a link or special file")
            if str(rel) == ".":
                raise ArchiveError(f"member {quote(info.filename)} has no file name")
            with zf.open(info) as src:
                _copy(src, dest / rel, budget)


def extract_archive(path: str | os.PathLike, dest: str | os.PathLike, limits: ArchiveLimits | None = None) -> None:
    """Extract a tar (any compression) or zip archive into `dest`, or raise ArchiveError."""
    path, dest = Path(path), Path(dest)
    budget = _Budget(limits or ArchiveLimits())
    try:
        if zipfile.is_zipfile(path):
            _extract_zip(path, dest, budget)
        else:
            _extract_tar(path, dest, budget)
    except ArchiveError:
        raise
    # NotImplementedError: a zip compression method Python lacks; RuntimeError: an encrypted zip member
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError) as exc:
        raise ArchiveError(f"corrupt or unreadable archive: {type(exc).__name__}: {shorten(exc)}") from exc
