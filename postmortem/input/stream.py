"""Cut a big log into pieces between records, from text in memory or streamed from the file.

A piece ends at a line break after which a new record starts (the next line is not indented and not
a traceback or exception tail), so framing piece by piece gives the records framing the whole gives
(tests/test_chunks.py). A plain UTF-8 file is read piece by piece (`utf8_pieces`): its whole text is
never in memory, only the piece being framed, so memory does not grow with the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from parsers.envelopes import MAX_LINE_CHARS
from postmortem.input.decode import MAX_INPUT_ENV, Repairs, size_text, utf8_text

_CONTINUATION_STARTS = (" ", "\t", "\n", "\r", "Traceback", "During handling", "The above exception", "Caused by")
_LOOKAHEAD = 256  # bytes of the next line needed to tell whether it continues a record
# Bytes of one line kept while streaming: enough for the MAX_LINE_CHARS framing parses (4 bytes a
# character at most); the rest of a longer line is skipped as it is read, so memory does not grow
# with the longest line (a 1 GiB line costs no more than a 256 KiB one).
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS


def _char_start(buf: bytearray, pos: int) -> int:
    """`pos` moved back to the start of a UTF-8 character, so a cut never splits one."""
    while pos > 0 and (buf[pos] & 0xC0) == 0x80:
        pos -= 1
    return pos


class _LongLines:
    """Cuts every line of the stream to MAX_LINE_BYTES as bytes arrive; counts the lines cut."""

    def __init__(self) -> None:
        self.cut = 0
        self.skipping = False  # inside the rest of a cut line: bytes are dropped up to its newline

    def add(self, buf: bytearray, block: bytes) -> None:
        if self.skipping:
            nl = block.find(b"\n")
            if nl == -1:
                return
            block = block[nl:]
            self.skipping = False
        buf += block
        line_start = buf.rfind(b"\n") + 1
        if len(buf) - line_start > MAX_LINE_BYTES:
            del buf[_char_start(buf, line_start + MAX_LINE_BYTES):]
            self.cut += 1
            self.skipping = True

    def problems(self) -> list[str]:
        if not self.cut:
            return []
        return [f"{self.cut} lines longer than {MAX_LINE_BYTES} bytes were cut while reading "
                "(the rest of each was skipped, not held in memory)"]


def continues(text: str, pos: int) -> bool:
    """Whether the line at `pos` continues the record above it (so a piece must not start there)."""
    if text.startswith(_CONTINUATION_STARTS, pos):
        return True
    word = text[pos:pos + 200].split(":", 1)[0]
    return word.endswith(("Error", "Exception", "Exit", "Interrupt", "Warning")) and " " not in word


def split_text(text: str, size: int) -> Iterator[str]:
    """Pieces of about `size` characters; every piece but the last ends with a newline; joined, they
    are the text. A generator: only the piece being framed is copied out of the text."""
    start = 0
    while len(text) - start > size:
        cut = text.find("\n", start + size)
        while cut != -1 and cut + 1 < len(text) and continues(text, cut + 1):
            cut = text.find("\n", cut + 1)
        if cut == -1 or cut + 1 >= len(text):
            break
        yield text[start:cut + 1]
        start = cut + 1
    yield text[start:]


def _boundary(buf: bytearray, start: int, eof: bool, cut: str = "record") -> int | None:
    """End of the first piece of `buf` at or after `start`, or None when more bytes must be read.

    `cut` says where a piece may end: "record" after a line the next line does not continue (logs),
    "line" after any line (JSON lines: one entry per line), "csv" after a line that closes every quote
    opened since the piece began (a quoted CSV cell may hold line breaks)."""
    pos = buf.find(b"\n", start)
    quotes = buf.count(b'"', 0, pos) if cut == "csv" and pos != -1 else 0
    while pos != -1:
        nxt = pos + 1
        if cut == "record" and len(buf) - nxt < _LOOKAHEAD and not eof and buf.find(b"\n", nxt) == -1:
            return None  # the next line is not all here yet
        if nxt >= len(buf):
            return len(buf) if cut != "csv" or quotes % 2 == 0 or eof else None
        if cut == "line" or (cut == "csv" and quotes % 2 == 0) or (
                cut == "record" and not continues(bytes(buf[nxt:nxt + _LOOKAHEAD]).decode("utf-8", "ignore"), 0)):
            return nxt
        pos = buf.find(b"\n", nxt)
        if cut == "csv" and pos != -1:
            quotes += buf.count(b'"', nxt, pos)
    return len(buf) if eof else None


def utf8_pieces(path: str, expected_size: int, size: int, limit: int, problems: list[str],
                cut: str = "record", span: tuple[int, int] | None = None) -> Iterator[str]:
    """The text of a plain UTF-8 file in pieces of about `size` bytes, cut between records (`_boundary`).

    At most `limit` bytes are read (cut at a line break, as decode.py does); repairs, the cap and a
    file that changed while read are appended to `problems` when the last piece has been given. A CSV
    quote left open for 8 pieces' worth of bytes is taken as broken: the piece ends at its last line
    break, so memory stays bounded (the parser reports the rows it cannot read).
    `span` (start, stop) reads only those bytes, both cuts of `piece_cuts`: one worker's share of a
    big file, cut into the pieces the whole file's reading gives there."""
    repairs = Repairs()
    long_lines = _LongLines()
    read = given = 0
    capped = False
    if span is not None:
        limit = span[1] - span[0]
    with open(path, "rb") as fh:
        if span is not None:
            fh.seek(span[0])
        buf = bytearray()
        eof = False
        need = size + _LOOKAHEAD
        while True:
            while not eof and len(buf) < need:
                # one byte past the cap tells a capped file from one that ends there; a span ends at `stop`
                block = fh.read(min(size, limit - read + (span is None)))
                if not block:
                    eof = True
                    break
                read += len(block)
                if read > limit and span is None:
                    capped = eof = True
                    block = block[:len(block) - (read - limit)]
                long_lines.add(buf, block)
                if capped:
                    nl = buf.rfind(b"\n", max(0, len(buf) - 65536))
                    if nl > 0:
                        del buf[nl + 1:]
            if not buf:
                break
            end = _boundary(buf, min(size, len(buf)), eof, cut) if len(buf) > size else (len(buf) if eof else None)
            if end is None and cut == "csv" and len(buf) > 8 * size:
                end = buf.rfind(b"\n") + 1 or None
            if end is None:
                need = len(buf) + size  # one record longer than a piece: read on
                continue
            given += end
            yield repairs.clean(*utf8_text(buf[:end]))
            del buf[:end]
            need = size + _LOOKAHEAD
        size_now = os.fstat(fh.fileno()).st_size
    problems.extend(repairs.problems())
    problems.extend(long_lines.problems())
    if span is not None:
        expected_read = span[1] - span[0]
    else:
        expected_read = expected_size
    if capped and size_now == expected_size:
        problems.append(f"file larger than {size_text(limit)}: only the first {given} bytes were read "
                        f"({MAX_INPUT_ENV} raises the cap)")
    elif size_now != expected_size or (read != expected_read and not capped):
        problems.append(f"file changed while read (size {expected_size} bytes when listed, {size_now} after "
                        f"reading, {read} read): read what was there")


def piece_cuts(path: str, file_size: int, size: int) -> list[int]:
    """Byte offsets where `utf8_pieces` cuts the whole file (0 and the file size included), found by
    seeking: each cut is the first record boundary at or after the previous cut plus `size`, as
    `_boundary` finds it in the reading buffer (the same offsets unless a line longer than
    MAX_LINE_BYTES was shortened before it)."""
    cuts = [0]
    with open(path, "rb") as fh:
        while file_size - cuts[-1] > size:
            cuts.append(_file_boundary(fh, cuts[-1] + size, file_size))
    if cuts[-1] != file_size:
        cuts.append(file_size)
    return cuts


def _file_boundary(fh, start: int, file_size: int) -> int:
    """The file offset `_boundary` gives for a buffer holding the file from `start - size` on."""
    window = 65536
    pos = start
    while pos < file_size:
        fh.seek(pos)
        chunk = fh.read(window + _LOOKAHEAD)
        nl = chunk.find(b"\n", 0, window)
        if nl == -1:
            pos += window
            continue
        nxt = pos + nl + 1
        if nxt >= file_size:
            return file_size
        if not continues(chunk[nl + 1:nl + 1 + _LOOKAHEAD].decode("utf-8", "ignore"), 0):
            return nxt
        pos = nxt
    return file_size
