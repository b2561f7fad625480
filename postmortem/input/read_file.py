"""Read one discovered file into pieces: decode it whole and hand it to its file parser or the line framer,
or, for a big plain UTF-8 log, frame it piece by piece as it is read from disk (stream.py); a big
JSON-lines or CSV export (a file parser with `streams_by`) is parsed piece by piece the same way. Runs
in a worker process too."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from parsers import FileParse, FileParser, ParseContext
from parsers.frame_many import batchable
from postmortem.failures import RECOVERABLE
from postmortem.input.decode import GZIP_MAGIC, decode_bytes, max_input_bytes, read_decoded
from postmortem.input.discover import Discovered
from postmortem.input.file_split import FileSpan
from postmortem.input.log_text import FramedLog, all_unrecognized, frame_log_text, parse_log_guarded
from postmortem.input.options import IngestOptions
from postmortem.input.parser_choice import LOG_PARSER, SNIFF_BYTES, choose_parser
from postmortem.input.small_logs import SMALL_LOG_CHARS, SmallLog
from postmortem.input.stream import split_text, utf8_pieces
from postmortem.model import InputFile, UnrecognizedSample

CHUNK_CHARS = 16 * 1024 * 1024  # a bigger log is framed piece by piece, so memory stays bounded
STREAM_MIN_BYTES = 32 * 1024 * 1024  # plain UTF-8 logs above this are read piece by piece (stream.py)


@dataclass
class ParsedPiece:
    """A piece that is already events: a file parser's whole result, or the count of a log piece the
    framer failed on. `parser` names what read it, for a result without its own label."""

    result: FileParse
    parser: str = LOG_PARSER


@dataclass
class FileRead:
    """What reading one file gave: its accounting so far, what to warn about now, and its pieces in file
    order, each either framed records waiting for the recognizers, already parsed, or a small log's text
    waiting to be framed with others (small_logs.py). A streamed file's
    pieces are read as they are iterated (and may add problems to `info` until the last one)."""

    info: InputFile
    pieces: Iterable[FramedLog | ParsedPiece | SmallLog] = ()
    warnings: list[str] = field(default_factory=list)


def read_file(f: Discovered, opts: IngestOptions) -> FileRead:
    """Decode one discovered file and parse it (file parser) or frame it (logs)."""
    info = InputFile(path=f.path, size_bytes=f.size)
    try:
        if isinstance(f, FileSpan) and (streamed := _stream_log(f, opts, info, (f.start, f.stop), f.piece)):
            return FileRead(info, streamed)
        if f.size > STREAM_MIN_BYTES and (streamed := _stream_log(f, opts, info)):
            return FileRead(info, streamed)
        decoded = read_decoded(f.real, f.size)
    except OSError as exc:
        info.skipped = True
        info.problems.append(f"unreadable: {exc.strerror or exc}: skipped")
        return FileRead(info, warnings=[f"{f.path}: unreadable ({exc.strerror or exc}): skipped"])
    info.encoding = decoded.encoding
    info.problems.extend(decoded.problems)
    if decoded.binary:
        info.skipped = True
        return FileRead(info, warnings=[f"{f.path}: {p}" for p in info.problems])
    if not decoded.text or decoded.text.isspace():
        info.problems.append("empty file" if not decoded.text else "only blank lines")
        info.parser = "none"
        text = decoded.text
        info.lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        info.blank_lines = info.lines
        return FileRead(info, warnings=[f"{f.path}: {p}" for p in info.problems])
    return FileRead(info, _parse_whole(decoded.text, parse_context(f, opts), opts))


def _parse_whole(text: str, ctx: ParseContext, opts: IngestOptions) -> list[FramedLog | ParsedPiece | SmallLog]:
    """Choose the parser by content (or --source-type) and run it; a parser crash becomes a problem.
    A small plain log is framed later, with others."""
    chosen = choose_parser(text[:SNIFF_BYTES], ctx.path, opts)
    if chosen is not None:
        try:
            return [ParsedPiece(chosen.parse(text, ctx), chosen.name)]
        except RECOVERABLE as exc:  # noqa: BLE001 - report and fall back to line framing
            fallback = parse_log_guarded(text, ctx, opts.summarize_noise)
            fallback.problems.insert(0, f"{chosen.name} parser failed ({type(exc).__name__}: {exc}); read as a log")
            return [ParsedPiece(fallback)]
    if len(text) <= SMALL_LOG_CHARS and batchable(text):
        return [SmallLog(text, ctx)]
    return frame_log(text, ctx, opts)


def frame_log(text: str, ctx: ParseContext, opts: IngestOptions) -> list[FramedLog | ParsedPiece]:
    """Frame a log text, a big one piece by piece; if framing crashes, every line is counted."""
    try:
        if len(text) <= CHUNK_CHARS:
            return [frame_log_text(text, ctx, opts.summarize_noise)]
        chunks: list[FramedLog | ParsedPiece] = []
        offset = 0
        for piece in split_text(text, CHUNK_CHARS):
            framed = frame_log_text(piece, ctx, opts.summarize_noise)
            framed.records = framed.records.with_columns(pl.col("line") + offset)
            offset += framed.lines
            chunks.append(framed)
        return chunks
    except RECOVERABLE as exc:  # noqa: BLE001 - one hostile file must not stop the analysis
        return [ParsedPiece(all_unrecognized(text, exc))]


def _plain_head(f: Discovered) -> str | None:
    """The first bytes of a plain UTF-8 text file, or None when it needs the whole-text path (gzip, a BOM,
    UTF-16, binary-looking). Raises OSError when the file cannot be read."""
    with open(f.real, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if (head[:2] == GZIP_MAGIC or head[:3] == b"\xef\xbb\xbf" or head[:2] in (b"\xff\xfe", b"\xfe\xff")
            or b"\n" not in head or b"\x00" in head or decode_bytes(head).binary):
        return None
    return head.decode("utf-8", "ignore")


def streamable(f: Discovered, opts: IngestOptions) -> bool:
    """Whether a log can be framed piece by piece as it is read: plain UTF-8 text, no file parser's format.
    Raises OSError when the file cannot be read."""
    head = _plain_head(f)
    return head is not None and choose_parser(head, f.path, opts) is None


def _until_read_error(stream: Iterator[str], info: InputFile) -> Iterator[str]:
    """The pieces of a streamed file; an I/O error part way keeps what was read and says after how many
    lines it stopped (pieces end at a line break)."""
    lines = 0
    while True:
        try:
            piece = next(stream)
        except StopIteration:
            return
        except OSError as exc:
            info.problems.append(f"read error after {lines} lines ({exc.strerror or exc}): kept what was read")
            return
        lines += piece.count("\n") + (not piece.endswith("\n"))
        yield piece


def _stream_log(f: Discovered, opts: IngestOptions, info: InputFile,
                span: tuple[int, int] | None = None, piece_bytes: int = 0) -> Iterator[FramedLog | ParsedPiece] | None:
    """Frame a big plain UTF-8 log piece by piece as it is read (postmortem/input/stream.py), or None when
    the file needs the whole-text path (see `_plain_head`, or a file parser's format that does not
    stream); a JSON-lines or CSV export is streamed by its parser (`_stream_export`). With `span`, only
    those bytes of a log (a worker's share, postmortem/input/file_split.py): its line numbers count from
    the span's first line.

    Raises OSError when the file cannot be read (the caller reports it)."""
    head = _plain_head(f)
    if head is None:
        return None
    chosen = choose_parser(head, f.path, opts)
    if chosen is not None:
        cut = getattr(chosen, "streams_by", None)  # JSON-lines and CSV exports: entries never span a cut
        return _stream_export(f, opts, info, chosen, cut) if cut in ("line", "csv") and span is None else None
    ctx = parse_context(f, opts)
    info.encoding = "utf-8"

    def pieces() -> Iterator[FramedLog | ParsedPiece]:
        offset = 0
        # memory does not grow with a streamed file: read it all (up to its listed size, if it grows)
        limit = max(max_input_bytes(), f.size)
        stream = utf8_pieces(f.real, f.size, piece_bytes or CHUNK_CHARS, limit, info.problems, span=span)
        for piece in _until_read_error(stream, info):
            try:
                framed = frame_log_text(piece, ctx, opts.summarize_noise)
            except RECOVERABLE as exc:  # noqa: BLE001 - this piece is counted, the file goes on
                failed = all_unrecognized(piece, exc)
                failed.unrecognized_samples = [UnrecognizedSample(s.line + offset, s.text)
                                               for s in failed.unrecognized_samples]
                offset += failed.lines
                yield ParsedPiece(failed)
                continue
            framed.records = framed.records.with_columns(pl.col("line") + offset)
            offset += framed.lines
            yield framed

    return pieces()


def _stream_export(f: Discovered, opts: IngestOptions, info: InputFile, parser: FileParser,
                   cut: str) -> Iterator[ParsedPiece]:
    """A big JSON-lines or CSV export parsed piece by piece as it is read, cut between its entries
    (`cut`: "line" or "csv", stream.py); a CSV's later pieces are parsed under its header line."""
    info.encoding = "utf-8"
    ctx = parse_context(f, opts)

    def pieces() -> Iterator[ParsedPiece]:
        offset = 0  # lines of the file before this piece
        header = ""
        stream = utf8_pieces(f.real, f.size, CHUNK_CHARS, max(max_input_bytes(), f.size), info.problems, cut=cut)
        for piece in _until_read_error(stream, info):
            under = bool(header)  # the piece is parsed with the header line put back above it
            if cut == "csv" and not offset:
                header = piece[:piece.find("\n") + 1]
            text = header + piece if under else piece
            try:
                result = parser.parse(text, ctx)
            except RECOVERABLE as exc:  # noqa: BLE001 - this piece is counted, the file goes on
                result, under = all_unrecognized(piece, exc), False
            yield ParsedPiece(_shifted(result, offset, under), parser.name)
            offset += result.lines

    return pieces()


def _shifted(result: FileParse, offset: int, under_header: bool) -> FileParse:
    """A piece's parse with its lines numbered in the whole file (and the repeated header line taken out)."""
    lines = offset - 1 if under_header else offset
    if under_header:
        result.lines -= 1
        result.event_lines -= 1
    if lines:
        result.events = result.events.with_columns(pl.col("line") + lines)
        result.unrecognized_samples = [UnrecognizedSample(s.line + lines, s.text) for s in result.unrecognized_samples]
    return result


def parse_context(f: Discovered, opts: IngestOptions) -> ParseContext:
    """The parse context of a file: zone-less times in its --tz zone, relative ages against --now, else
    its mtime."""
    now = opts.now
    now_source = "--now"
    if now is None:
        try:
            now = datetime.fromtimestamp(os.path.getmtime(f.real), tz=UTC)
        except OSError:  # removed since it was read: the read time is the best reference left
            now = datetime.now(tz=UTC)
        now_source = "file modification time"
    return ParseContext(path=f.path, tz=opts.zone_for(f.path)[0], now=now, now_source=now_source, year=opts.year,
                        summarize=opts.summarize_noise)
