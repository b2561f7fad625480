"""Bytes to text: gzip (streamed, bounded size and ratio), BOMs, UTF-16/32, binary and archive detection.

Each problem becomes a one-line note on the file; decoding never raises on bad bytes. Memory is
bounded: a file is read, or decompressed, up to `max_input_bytes()` (default 256 MiB, set with the
environment variable POSTMORTEM_MAX_INPUT_MB), so a gzip bomb never grows past the cap. (Big plain
UTF-8 logs do not come here: postmortem/input/stream.py reads them piece by piece, in bounded memory.)
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

DEFAULT_MAX_INPUT_MB = 256
MAX_INPUT_ENV = "POSTMORTEM_MAX_INPUT_MB"
MAX_RATIO = 200  # decompressed / compressed beyond which we call it a bomb (after RATIO_GRACE)
RATIO_GRACE = 64 * 1024**2
READ_CHUNK = 1024**2  # compressed bytes read per step
OUT_CHUNK = 8 * 1024**2  # decompressed bytes produced per step
GZIP_MAGIC = b"\x1f\x8b"

# Containers we do not open (magic bytes → name). Archives hold many files and names we cannot
# trust; the user extracts them and passes the folder. Checked after gunzip, so .tar.gz is named.
_ARCHIVES: tuple[tuple[bytes, int, str], ...] = (
    (b"PK\x03\x04", 0, "zip archive"),
    (b"PK\x05\x06", 0, "zip archive (empty)"),
    (b"PK\x07\x08", 0, "zip archive (spanned)"),
    (b"ustar", 257, "tar archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7z archive"),
    (b"Rar!\x1a\x07", 0, "rar archive"),
    (b"BZh", 0, "bzip2 file"),
    (b"\xfd7zXZ\x00", 0, "xz file"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd file"),
)


def max_input_bytes() -> int:
    """The per-file cap on bytes read or decompressed (POSTMORTEM_MAX_INPUT_MB, default 256)."""
    raw = os.environ.get(MAX_INPUT_ENV, "")
    try:
        mb = float(raw) if raw.strip() else DEFAULT_MAX_INPUT_MB
    except ValueError:
        mb = DEFAULT_MAX_INPUT_MB
    return max(1, int(mb * 1024**2)) if mb > 0 else DEFAULT_MAX_INPUT_MB * 1024**2


@dataclass
class Decoded:
    text: str
    encoding: str
    problems: list[str] = field(default_factory=list)
    binary: bool = False  # True when the file was not read as text (binary, archive): skip it


def size_text(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB" if n >= 1024**2 else f"{n} bytes"


def gunzip_stream(chunks: Iterator[bytes], compressed_size: int, limit: int, problems: list[str]) -> bytearray:
    """Decompress (possibly concatenated) gzip members from compressed chunks.

    Output never exceeds `limit` (+ one OUT_CHUNK while checking); a ratio above MAX_RATIO after
    RATIO_GRACE bytes also stops it. Corruption and truncation keep what was readable.
    """
    out = bytearray()
    d = zlib.decompressobj(wbits=47)
    pending = b""
    output_bound = False  # the last call stopped at max_length: zlib may hold more output
    ratio_cap = max(RATIO_GRACE, MAX_RATIO * max(compressed_size, 1))
    while True:
        if not pending and not output_bound:
            pending = next(chunks, b"")
            if not pending:
                if not d.eof:
                    problems.append(f"truncated gzip: kept the {len(out)} bytes decompressed before the end")
                return out
        want = min(OUT_CHUNK, limit - len(out) + 1)
        try:
            got = d.decompress(pending, want)
        except zlib.error as exc:
            problems.append(f"corrupt gzip after {len(out)} decompressed bytes ({exc}); kept what was readable")
            return out
        out += got
        output_bound = len(got) == want
        pending = d.unconsumed_tail
        if len(out) > limit or len(out) > ratio_cap:
            del out[min(limit, len(out)):]
            why = "size limit" if len(out) >= limit else f"ratio above {MAX_RATIO}:1"
            problems.append(
                f"decompression stopped at {size_text(len(out))} ({why}: possible gzip bomb; "
                f"{MAX_INPUT_ENV} raises the cap); kept what was decompressed"
            )
            return out
        if d.eof:
            pending = d.unused_data or next(chunks, b"")
            output_bound = False
            if not pending:
                return out
            if len(pending) < 2:
                pending += next(chunks, b"")
            if pending[:2] != GZIP_MAGIC:
                problems.append("trailing bytes after the gzip stream ignored")
                return out
            d = zlib.decompressobj(wbits=47)


def _utf16_without_bom(head: bytes) -> str | None:
    """Guess UTF-16 from the NUL pattern of ASCII text: NULs at odd (LE) or even (BE) offsets."""
    sample = bytes(head[:4096])
    if len(sample) < 4:
        return None
    even_nul = sample[0::2].count(0)
    odd_nul = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nul > 0.4 * half and even_nul < 0.05 * half:
        return "utf-16-le"
    if even_nul > 0.4 * half and odd_nul < 0.05 * half:
        return "utf-16-be"
    return None


_CONTROL = bytes(b for b in range(32) if b not in (0, 9, 10, 11, 12, 13, 27))


def _binary_reason(data: bytes | bytearray) -> str | None:
    """Why the data looks binary (control bytes, mostly invalid UTF-8), or None for text.

    NUL bytes alone do not make a file binary: `copytruncate` log rotation leaves runs of NULs
    in front of real text. The judgement is made on the first 64 KiB of non-NUL bytes.
    """
    head = bytes(data[:65536])
    if head.count(0):
        head = bytes(data[: 4 * 1024**2]).replace(b"\x00", b"")[:65536]
    if not head:
        return "only NUL bytes" if data else None
    control = len(head) - len(head.translate(None, _CONTROL))
    if control > 0.05 * len(head):
        return f"{control} control bytes in the first {len(head)}"
    bad = head.decode("utf-8", errors="replace").count("\ufffd")
    if bad > 0.3 * len(head):
        return f"{bad} invalid UTF-8 sequences in the first {len(head)} bytes"
    return None


def _archive(data: bytes | bytearray) -> str | None:
    for magic, offset, name in _ARCHIVES:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


def _to_text(data: bytes | bytearray, parts: list[str], problems: list[str]) -> Decoded:
    """Decode (already decompressed, size-bounded) bytes, noting every repair."""
    if kind := _archive(data):
        parts.append("archive")
        problems.append(f"{kind}: not opened (archives are not read; extract it and pass the folder)")
        return Decoded("", "+".join(parts), problems, binary=True)
    strict = False  # True when the bytes decoded without a single replacement
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        enc = "utf-32-le" if data[:1] == b"\xff" else "utf-32-be"
        body = data[4 : len(data) - (len(data) - 4) % 4]
        if (len(data) - 4) % 4:
            problems.append("byte count of UTF-32 file not a multiple of 4: trailing bytes dropped")
        text = body.decode(enc, errors="replace")
    elif data[:3] == b"\xef\xbb\xbf":
        text, enc = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        enc = "utf-16-le" if data[:2] == b"\xff\xfe" else "utf-16-be"
        body = data[2:]
        if len(body) % 2:
            problems.append("odd byte count in UTF-16 file: last byte dropped")
            body = body[:-1]
        text = body.decode(enc, errors="replace")
    elif guess := _utf16_without_bom(data):
        enc = guess + " (no BOM)"
        if len(data) % 2:
            problems.append("odd byte count in UTF-16 file: last byte dropped")
        text = data[: len(data) - len(data) % 2].decode(guess, errors="replace")
    else:
        if why := _binary_reason(data):
            parts.append("binary")
            problems.append(f"binary content ({why}): skipped")
            return Decoded("", "+".join(parts), problems, binary=True)
        text, strict = utf8_text(data)
        enc = "utf-8"
    repairs = Repairs()
    text = repairs.clean(text, strict)
    problems.extend(repairs.problems())
    if "\r" in text and "\n" not in text:
        text = text.replace("\r", "\n")
        problems.append("old Mac line endings (CR only) read as line breaks")
    parts.append(enc)
    return Decoded(text, "+".join(parts), problems)


def utf8_text(data: bytes | bytearray) -> tuple[str, bool]:
    """(text, strict): valid UTF-8, the common case, decodes without a count of replacements to make."""
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), False


class Repairs:
    """Replacement characters and NULs in decoded text, counted over one file (or all its streamed
    pieces, see postmortem/input/stream.py) and said as problem lines."""

    def __init__(self) -> None:
        self.replaced = 0
        self.nul = 0

    def clean(self, text: str, strict: bool) -> str:
        """Count what decoding replaced (unless it was strict) and remove NULs."""
        if not strict:
            self.replaced += text.count("\ufffd")
        if "\x00" in text:
            self.nul += text.count("\x00")
            text = text.replace("\x00", "")
        return text

    def problems(self) -> list[str]:
        out = []
        if self.replaced:
            out.append(f"{self.replaced} undecodable byte sequences replaced with U+FFFD")
        if self.nul:
            out.append(f"{self.nul} NUL characters removed")
        return out


def _cut_plain(data: bytes, limit: int, problems: list[str]) -> bytes:
    """Keep the first `limit` bytes, ending at a line break when one is near the end."""
    cut = data[:limit]
    nl = cut.rfind(b"\n", max(0, limit - 65536))
    if nl > 0:
        cut = cut[: nl + 1]
    problems.append(
        f"file larger than {size_text(limit)}: only the first {len(cut)} bytes were read ({MAX_INPUT_ENV} raises the cap)"
    )
    return cut


def decode_bytes(data: bytes | bytearray, limit: int | None = None) -> Decoded:
    """Turn raw file bytes into text, saying what was done."""
    limit = limit or max_input_bytes()
    problems: list[str] = []
    parts: list[str] = []
    if data[:2] == GZIP_MAGIC:
        data = gunzip_stream(iter([bytes(data)]), len(data), limit, problems)
        parts.append("gzip")
    elif len(data) > limit:
        data = _cut_plain(data, limit, problems)
    return _to_text(data, parts, problems)


def read_decoded(path: str, expected_size: int, limit: int | None = None) -> Decoded:
    """Read and decode one regular file with bounded memory; say if it changed while read.

    Raises OSError when the file cannot be opened or read (the caller reports it).
    """
    limit = limit or max_input_bytes()
    problems: list[str] = []
    parts: list[str] = []
    with open(path, "rb") as fh:
        first = fh.read(READ_CHUNK)
        raw_read = len(first)
        complete = True
        if first[:2] == GZIP_MAGIC:

            def chunks() -> Iterator[bytes]:
                nonlocal raw_read
                yield first
                while block := fh.read(READ_CHUNK):
                    raw_read += len(block)
                    yield block

            size_hint = max(expected_size, raw_read)
            data: bytes | bytearray = gunzip_stream(chunks(), size_hint, limit, problems)
            parts.append("gzip")
            complete = not fh.read(1)
        else:
            try:  # one read into one buffer: `first + rest` would copy the whole file again
                fh.seek(0)
                data = fh.read(limit + 1)
            except OSError:  # not seekable
                data = first + (fh.read(limit + 1 - len(first)) if len(first) <= limit else b"")
            raw_read = len(data)
            if len(data) > limit:
                data = _cut_plain(data, limit, problems)
                complete = False
        size_now = os.fstat(fh.fileno()).st_size
    if size_now != expected_size or (complete and raw_read != expected_size):
        problems.append(
            f"file changed while read (size {expected_size} bytes when listed, {size_now} after reading, "
            f"{raw_read} read): read what was there"
        )
    return _to_text(data, parts, problems)
