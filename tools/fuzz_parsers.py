"""Coverage-guided fuzzing of the input path: decode_bytes, envelopes.frame, every registered parser, the
YAML reader of untrusted documents and the batch archive reader.

Needs atheris, which is not a project dependency: `pip install atheris`. Run for ten minutes:

    python tools/fuzz_parsers.py -max_total_time=600

`FUZZ_TARGETS=archive,yaml` runs only those targets (much faster per input than the parsers).
Any libFuzzer flag works (`-runs=N`, a corpus folder as argument). A crash prints the input and
leaves it in `crash-*`; replay it with `python tools/fuzz_parsers.py crash-<hash>`.
Each input is decoded, framed, classified by every recognizer and parsed by every file parser,
and the line accounting of each parse is checked (event + unrecognized + blank == lines). The same
bytes are also read as YAML (`parsers.yaml_untrusted`: no alias ever expands) and, as a tar or zip
archive (raw, or gzip-wrapped), extracted by `postmortem.batch.archive` under small limits: only
`ArchiveError` may come out, with a short message, and nothing may land outside the folder.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import atheris
import polars as pl  # not instrumented: instrumenting polars' Python layer breaks it

with atheris.instrument_imports(include=["parsers", "postmortem"]):
    import yaml

    from parsers import FILE_PARSERS, RECOGNIZERS, ParseContext, yaml_untrusted
    from parsers.envelopes import frame
    from postmortem.batch.archive import ArchiveError, ArchiveLimits, extract_archive
    from postmortem.input.decode import decode_bytes
    from postmortem.input.log_text import parse_log_text
    from postmortem.quoting import MAX_QUOTED

CTX = ParseContext(path="fuzz/api-1.log", now=datetime(2024, 3, 14, tzinfo=UTC), year=2024)
LIMIT = 1024**2


def _check(fp, what: str) -> None:
    if fp.event_lines + fp.unrecognized_lines + fp.blank_lines != fp.lines:
        raise AssertionError(f"{what}: lines not accounted: {fp.lines} != {fp.event_lines} + "
                             f"{fp.unrecognized_lines} + {fp.blank_lines}")


ARCHIVE_LIMITS = ArchiveLimits(max_members=50, max_total_bytes=1 << 20, max_header_bytes=1 << 16,
                               max_name_chars=1024)
SCRATCH = Path(tempfile.mkdtemp(prefix="fuzz-archive-"))


def check_archive(data: bytes) -> None:
    """Extract `data` (and its gzip) as an archive: ArchiveError or files inside the folder, nothing else."""
    for blob in (data, gzip.compress(data, compresslevel=1)):
        src, dest = SCRATCH / "in.tar.gz", SCRATCH / "out"
        shutil.rmtree(dest, ignore_errors=True)
        src.write_bytes(blob)
        try:
            extract_archive(src, dest, ARCHIVE_LIMITS)
        except ArchiveError as exc:
            if len(str(exc)) > 2 * MAX_QUOTED + 300:
                raise AssertionError(f"archive error quotes {len(str(exc))} characters") from exc
            continue
        for p in dest.rglob("*"):
            if dest.resolve() not in p.resolve().parents:
                raise AssertionError(f"{p} was written outside the archive folder")


def check_yaml(text: str) -> None:
    """Untrusted YAML: a value, a YAMLError or AliasRefused; never an expansion (aliases refused)."""
    try:
        yaml_untrusted.load(text)
    except yaml.YAMLError:
        pass


TARGETS = set(os.environ.get("FUZZ_TARGETS", "archive,yaml,parsers").split(","))


def test_one_input(data: bytes) -> None:
    if "archive" in TARGETS:
        check_archive(data)
    if "parsers" not in TARGETS:
        if "yaml" in TARGETS:
            check_yaml(data.decode("utf-8", "replace"))
        return
    decoded = decode_bytes(data, limit=LIMIT)
    if decoded.binary or not decoded.text.strip():
        return  # ingest skips these before choosing a parser
    text = decoded.text
    if "yaml" in TARGETS:
        check_yaml(text)
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
