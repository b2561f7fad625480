"""Bytes to text: gzip, BOMs, UTF-16 without BOM, binary detection and bounded decompression.

Each problem becomes a one-line note on the file; decoding never raises on bad bytes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

MAX_DECOMPRESSED = 4 * 1024**3  # bytes a single compressed file may expand to
MAX_RATIO = 200  # decompressed / compressed beyond which we call it a bomb (after 64 MiB)
RATIO_GRACE = 64 * 1024**2


@dataclass
class Decoded:
    text: str
    encoding: str
    problems: list[str] = field(default_factory=list)
    binary: bool = False


def gunzip_bounded(data: bytes, problems: list[str]) -> bytes:
    """Decompress (possibly concatenated) gzip members, stopping at size/ratio limits or corruption."""
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(wbits=47)
        try:
            while True:
                chunk = d.decompress(rest, 16 * 1024**2)
                out += chunk
                limit_hit = len(out) > MAX_DECOMPRESSED or (
                    len(out) > RATIO_GRACE and len(out) > MAX_RATIO * len(data)
                )
                if limit_hit:
                    problems.append(
                        f"decompression stopped at {len(out)} bytes (size or ratio limit: possible gzip bomb)"
                    )
                    return bytes(out)
                rest = d.unconsumed_tail
                if not rest or d.eof:
                    break
        except zlib.error as exc:
            problems.append(f"corrupt gzip after {len(out)} decompressed bytes ({exc}); kept what was readable")
            return bytes(out)
        if not d.eof:
            problems.append(f"truncated gzip: kept the {len(out)} bytes decompressed before the end")
            return bytes(out)
        rest = d.unused_data
        if rest and rest[:2] != b"\x1f\x8b":
            problems.append(f"{len(rest)} trailing bytes after the gzip stream ignored")
            break
    return bytes(out)


def _utf16_without_bom(head: bytes) -> str | None:
    """Guess UTF-16 from the NUL pattern of ASCII text: NULs at odd (LE) or even (BE) offsets."""
    sample = head[:4096]
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


_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))


def _binary_reason(head: bytes) -> str | None:
    """Why the head looks binary (NULs, control bytes, mostly invalid UTF-8), or None for text."""
    if not head:
        return None
    nul = head.count(0)
    if nul > 0.01 * len(head):
        return f"{nul} NUL bytes in the first {len(head)}"
    control = len(head) - len(head.translate(None, _CONTROL))
    if control > 0.05 * len(head):
        return f"{control} control bytes in the first {len(head)}"
    bad = head.decode("utf-8", errors="replace").count("\ufffd")
    if bad > 0.3 * len(head):
        return f"{bad} invalid UTF-8 sequences in the first {len(head)} bytes"
    return None


def decode_bytes(data: bytes) -> Decoded:
    """Turn raw file bytes into text, saying what was done."""
    problems: list[str] = []
    encoding_parts: list[str] = []
    if data[:2] == b"\x1f\x8b":
        data = gunzip_bounded(data, problems)
        encoding_parts.append("gzip")
    if data.startswith(b"\xef\xbb\xbf"):
        text, enc = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    elif data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        enc = "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
        body = data[2:]
        if len(body) % 2:
            problems.append("odd byte count in UTF-16 file: last byte dropped")
            body = body[:-1]
        text = body.decode(enc, errors="replace")
    elif guess := _utf16_without_bom(data):
        enc = guess + " (no BOM)"
        body = data[: len(data) - len(data) % 2]
        text = body.decode(guess, errors="replace")
    else:
        head = data[:65536]
        if why := _binary_reason(head):
            encoding_parts.append("binary")
            return Decoded("", "+".join(encoding_parts), problems + [f"binary content ({why}): skipped"], binary=True)
        text, enc = data.decode("utf-8", errors="replace"), "utf-8"
    bad = text.count("\ufffd")
    if bad:
        problems.append(f"{bad} undecodable byte sequences replaced with U+FFFD")
    if "\x00" in text:
        problems.append(f"{text.count(chr(0))} NUL characters removed")
        text = text.replace("\x00", "")
    encoding_parts.append(enc)
    return Decoded(text, "+".join(encoding_parts), problems)
