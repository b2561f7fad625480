"""Which parser reads a file: `--source-type` when a glob names it, else the best content sniff."""

from __future__ import annotations

import fnmatch
import os

from parsers import FILE_PARSERS
from parsers.base import FileParser
from postmortem.failures import RECOVERABLE
from postmortem.input.options import IngestOptions

SNIFF_BYTES = 65536  # the head of a file every sniffer sees
LOG_PARSER = "log"  # the line-log framer's name: what reads a file no file parser claims
LOG_FRAMER_SCORE = 0.5  # a file parser's sniff must beat this to take a file from the line framer


def parser_names() -> list[str]:
    """Every name `--source-type` accepts."""
    return [LOG_PARSER] + [p.name for p in FILE_PARSERS]


def forced_parser(path: str, opts: IngestOptions) -> str | None:
    """The parser name `--source-type` gives this path (first matching glob), if any."""
    for name, glob in opts.source_types:
        if glob in ("", "*") or fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(os.path.basename(path), glob):
            return name
    return None


def choose_parser(head: str, path: str, opts: IngestOptions) -> FileParser | None:
    """The file parser for this file (--source-type, else the best sniff score above the line framer's),
    or None for the line-log framer."""
    forced = forced_parser(path, opts)
    if forced:
        return next((p for p in FILE_PARSERS if p.name == forced), None)
    best, best_score = None, LOG_FRAMER_SCORE
    for p in FILE_PARSERS:
        try:
            score = p.sniff(head)
        except RECOVERABLE:  # noqa: BLE001 - a sniffer bug must not stop ingest
            score = 0.0
        if score > best_score:
            best, best_score = p, score
    return best
