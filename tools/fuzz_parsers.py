"""Coverage-guided fuzzing of the input path: decode_bytes, envelopes.frame and every registered parser.

Needs atheris, which is not a project dependency: `pip install atheris`. Run for ten minutes:

    python tools/fuzz_parsers.py -max_total_time=600

Any libFuzzer flag works (`-runs=N`, a corpus folder as argument). A crash prints the input and
leaves it in `crash-*`; replay it with `python tools/fuzz_parsers.py crash-<hash>`.
Each input is decoded, framed, classified by every recognizer and parsed by every file parser,
and the line accounting of each parse is checked (event + unrecognized + blank == lines).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import atheris
import polars as pl  # not instrumented: instrumenting polars' Python layer breaks it

with atheris.instrument_imports(include=["parsers", "postmortem"]):
    from parsers import FILE_PARSERS, RECOGNIZERS, ParseContext
    from parsers.envelopes import frame
    from postmortem.input.decode import decode_bytes
    from postmortem.input.log_text import parse_log_text

CTX = ParseContext(path="fuzz/api-1.log", now=datetime(2024, 3, 14, tzinfo=UTC), year=2024)
LIMIT = 1024**2


def _check(fp, what: str) -> None:
    if fp.event_lines + fp.unrecognized_lines + fp.blank_lines != fp.lines:
        raise AssertionError(f"{what}: lines not accounted: {fp.lines} != {fp.event_lines} + "
                             f"{fp.unrecognized_lines} + {fp.blank_lines}")


def test_one_input(data: bytes) -> None:
    decoded = decode_bytes(data, limit=LIMIT)
    if decoded.binary or not decoded.text.strip():
        return  # ingest skips these before choosing a parser
    text = decoded.text
    records, _, _, _ = frame(text, "UTC")
    records = records.with_row_index("rec").with_columns(
        path=pl.lit(CTX.path), host=pl.coalesce("host", pl.lit("api-1"))
    )
    for r in RECOGNIZERS:
        hits = r.recognize(records)
        if hits.height and not set(hits.get_column("rec").to_list()) <= set(records.get_column("rec").to_list()):
            raise AssertionError(f"{r.name} claimed a record that does not exist")
    _check(parse_log_text(text, CTX), "log")
    for p in FILE_PARSERS:
        p.sniff(text[:65536])
        _check(p.parse(text, CTX), p.name)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
