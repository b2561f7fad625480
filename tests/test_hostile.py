"""Hostile and broken input through the whole CLI: the analysis finishes, every file is listed with its
counts and the problem, one stderr line names each problem file, and no good event is lost."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

import postmortem.input.ingest as ingest_mod
import postmortem.input.read_file as read_file_mod
from postmortem.cli import main
from postmortem.input.decode import decode_bytes, read_decoded

from .conftest import DATA

HOSTILE = DATA / "hostile"


def _good(tag: str, n: int = 30) -> str:
    return "".join(f"2024-01-15 11:{i // 60:02d}:{i % 60:02d},500 INFO app.good - {tag} event {i}\n" for i in range(n))


# file → a piece of the problem it must show (None: must be read without a problem)
EXPECTED = {
    "binary.bin": "binary content",
    "elf-like.so": "binary content",
    "truncated.log.gz": "truncated gzip",
    "corrupt.log.gz": "corrupt gzip",
    "trailing-garbage.log.gz": "trailing bytes",
    "concatenated.log.gz": None,
    "copytruncate-nuls.log": "NUL characters removed",
    "embedded-nul.log": "NUL characters removed",
    "invalid-utf8.log": "undecodable byte sequences",
    "utf16be-nobom.log": None,
    "utf16le-odd.log": "odd byte count",
    "utf32.log": None,
    "bom-utf8.log": None,
    "mixed-crlf.log": None,
    "cr-only.log": "CR only",
    "empty.log": "empty file",
    "blank-only.log": "only blank lines",
    "no-final-newline.log": None,
    "out-of-order.log": "out of time order",
    "deep-json.json": None,  # any outcome but a crash; checked for accounting only
    "broken-json.jsonl": None,
    "bad-timestamps.log": None,
    "only-control.log": None,
    "archive.zip": "zip archive",
    "archive.tar.gz": "tar archive",
    "weird-unicode.log": None,
}


def _run(args, env=None):
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result


@pytest.fixture
def hostile_dir(tmp_path, monkeypatch):
    d = tmp_path / "incident"
    d.mkdir()
    for name in EXPECTED:
        shutil.copy(HOSTILE / name, d / name)
    (d / "good.log").write_text(_good("plain"))
    (d / "good.log.gz").write_bytes(gzip.compress(_good("gzip").encode()))
    (d / "good-u16.log").write_bytes(b"\xff\xfe" + _good("utf16").replace("\n", "\r\n").encode("utf-16-le"))
    (d / "good-u16-nobom.log").write_bytes(_good("utf16nobom").encode("utf-16-le"))
    # generated big or special files
    (d / "huge-line.log").write_bytes(_good("before", 3).encode() + b"x" * (30 * 1024**2) + b"\n" + _good("after", 3).encode())
    line = b"2024-01-15 11:00:00,000 INFO bomb - the same line again and again\n"
    (d / "bomb.log.gz").write_bytes(gzip.compress(line * (8 * 1024**2 // len(line) + 1)))
    os.mkfifo(d / "pipe.log")
    os.symlink("/dev/null", d / "device.log")
    (d / "sub").mkdir()
    os.symlink(d, d / "sub" / "loop")
    os.symlink(d / "missing-target.log", d / "dangling.log")
    (d / "secret.log").write_text(_good("unreadable"))
    (d / "growing.log").write_text(_good("growing"))
    real_read = read_file_mod.read_decoded

    def reader(path, size, limit=None):
        if path.endswith("secret.log"):
            raise PermissionError(13, "Permission denied", path)
        if path.endswith("growing.log"):
            with open(path, "a") as fh:
                fh.write("2024-01-15 12:00:00,000 INFO app.good - appended while reading\n")
        return real_read(path, size, limit)

    monkeypatch.setattr(read_file_mod, "read_decoded", reader)
    monkeypatch.setenv("POSTMORTEM_MAX_INPUT_MB", "2")
    return d


def test_hostile_folder_beside_good_files(hostile_dir):
    d = hostile_dir
    result = _run(["analyze", str(d), str(d / "good.log"), "-f", "json"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    inputs = {i["path"]: i for i in report["inputs"]}
    stderr = result.stderr.splitlines()

    def problem(path: str) -> str:
        return " | ".join(inputs[path]["problems"])

    for name, expect in EXPECTED.items():
        assert name in inputs, name
        i = inputs[name]
        assert i["lines"] >= i["unrecognized_lines"] + i["blank_lines"], i
        if expect:
            assert expect in problem(name), (name, i["problems"])
            assert any(s.startswith(f"postmortem: warning: {name}: ") for s in stderr), name
    for name, tag in (("good.log", "plain"), ("good.log.gz", "gzip"), ("good-u16.log", "utf16"),
                      ("good-u16-nobom.log", "utf16nobom"), ("concatenated.log.gz", None),
                      ("utf32.log", None), ("bom-utf8.log", None), ("mixed-crlf.log", None)):
        i = inputs[name]
        assert not i["problems"] and not i["skipped"], (name, i)
        assert i["unrecognized_lines"] == 0, (name, i)
        if tag:
            assert (i["events"], i["lines"]) == (30, 30), (name, i)
    assert inputs["good.log.gz"]["encoding"] == "gzip+utf-8"
    assert inputs["good-u16-nobom.log"]["encoding"] == "utf-16-le (no BOM)"
    assert inputs["concatenated.log.gz"]["events"] == 40
    assert inputs["cr-only.log"]["events"] == 40
    assert inputs["mixed-crlf.log"]["events"] == 40 and inputs["mixed-crlf.log"]["lines"] == 41
    # the same file given twice is read once and said
    assert str(d / "good.log") in inputs and "counted once" in problem(str(d / "good.log"))
    # generated cases
    assert "file larger than 2 MiB" in problem("huge-line.log") and "longer than" in problem("huge-line.log")
    assert inputs["huge-line.log"]["events"] >= 3
    assert "possible gzip bomb" in problem("bomb.log.gz")
    assert inputs["bomb.log.gz"]["lines"] <= 2 * 1024**2 // len("2024-01-15 11:00:00,000 INFO bomb - x") + 1
    assert inputs["pipe.log"]["skipped"] and "FIFO" in problem("pipe.log")
    assert inputs["device.log"]["skipped"] and "device" in problem("device.log")
    assert "symlink loop" in problem("sub/loop")
    assert inputs["dangling.log"]["skipped"] and "broken symlink" in problem("dangling.log")
    assert inputs["secret.log"]["skipped"] and "Permission denied" in problem("secret.log")
    assert "file changed while read" in problem("growing.log") and inputs["growing.log"]["events"] >= 30
    for name in ("binary.bin", "archive.zip", "pipe.log", "secret.log"):
        assert any(s.startswith(f"postmortem: warning: {name}: ") for s in stderr), name


def test_every_hostile_file_is_accounted_in_ingest(tmp_path):
    for name in EXPECTED:
        shutil.copy(HOSTILE / name, tmp_path / name)
    result = ingest_mod.ingest([str(tmp_path)])
    assert {i.path for i in result.inputs} == set(EXPECTED)
    for i in result.inputs:
        assert i.skipped or i.accounted(), i


def test_strict_turns_an_unread_input_into_exit_2(tmp_path):
    (tmp_path / "good.log").write_text(_good("plain"))
    (tmp_path / "blob.bin").write_bytes((HOSTILE / "binary.bin").read_bytes())
    loose = _run(["analyze", str(tmp_path), "-f", "json", "--exit-zero"])
    assert loose.exit_code == 0
    strict = _run(["analyze", str(tmp_path), "-f", "json", "--exit-zero", "--strict"])
    assert strict.exit_code == 2
    assert json.loads(strict.stdout)["inputs"], "the report is still written"


def test_nothing_readable_is_exit_2(tmp_path):
    (tmp_path / "blob.bin").write_bytes((HOSTILE / "binary.bin").read_bytes())
    shutil.copy(HOSTILE / "archive.zip", tmp_path / "a.zip")
    r = _run(["analyze", str(tmp_path), "-f", "json"])
    assert r.exit_code == 2 and "nothing could be read" in r.stderr
    assert _run(["analyze", str(tmp_path / "nope"), "-f", "json"]).exit_code == 2
    assert _run(["analyze", str(HOSTILE / "empty.log"), "-f", "json"]).exit_code == 2


def test_dst_ambiguous_and_nonexistent_local_times_are_counted(tmp_path):
    (tmp_path / "paris.log").write_text(textwrap.dedent("""\
        2024-03-31 01:59:00,000 INFO app - before spring gap
        2024-03-31 02:30:00,000 INFO app - in the gap
        2024-03-31 03:01:00,000 INFO app - after spring gap
        2024-10-27 02:30:00,000 INFO app - repeated hour
        2024-10-27 03:30:00,000 INFO app - after
        """))
    r = _run(["analyze", str(tmp_path), "-f", "json", "--tz", "Europe/Paris", "--exit-zero"])
    assert r.exit_code == 0, r.output
    (f,) = json.loads(r.stdout)["inputs"]
    problems = " | ".join(f["problems"])
    assert "1 local times fall in the hour repeated" in problems
    assert "1 local times fall in the hour skipped" in problems
    assert f["events"] == 5


def test_gzip_bomb_memory_is_bounded(tmp_path):
    """A 1 GiB bomb (1 MiB compressed) decodes in a child process whose peak RSS stays far below 1 GiB."""
    bomb = gzip.compress(b"\0" * 1024**2) * 1024  # concatenated members: 1 GiB of NULs
    path = tmp_path / "bomb.gz"
    path.write_bytes(bomb)
    code = (
        "import resource, sys; from postmortem.input.decode import read_decoded;"
        f"d = read_decoded({str(path)!r}, {len(bomb)});"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); print(d.problems)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    peak_kib, problems = out.stdout.splitlines()[:2]
    assert int(peak_kib) < 700 * 1024, peak_kib
    assert "possible gzip bomb" in problems


def test_30mb_line_stays_sane(tmp_path):
    path = tmp_path / "one-line.log"
    path.write_bytes(b"2024-01-15 11:00:00,000 INFO app - " + b"y" * (30 * 1024**2) + b"\n")
    code = (
        "import resource, time; from postmortem.input.ingest import ingest; t = time.time();"
        f"r = ingest([{str(path)!r}]); (f,) = r.inputs;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.time() - t, f.events, f.lines)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    peak_kib, secs, events, lines = out.stdout.split()
    assert (events, lines) == ("1", "1")
    assert int(peak_kib) < 1024 * 1024, (peak_kib, secs)  # time is for benchmarks, not unit tests


def test_decode_limits_and_streaming_agree():
    body = _good("x", 2000).encode()
    gz = gzip.compress(body)
    assert decode_bytes(gz).text == body.decode()
    cut = decode_bytes(gz, limit=10_000)
    assert len(cut.text) <= 10_000 and "possible gzip bomb" in cut.problems[0]
    plain = decode_bytes(body, limit=10_000)
    assert plain.text.endswith("\n") and len(plain.text) <= 10_000 and "only the first" in plain.problems[0]


def test_read_decoded_matches_decode_bytes(tmp_path):
    for name in EXPECTED:
        data = (HOSTILE / name).read_bytes()
        a = read_decoded(str(HOSTILE / name), len(data))
        b = decode_bytes(data)
        assert (a.text, a.encoding, a.problems, a.binary) == (b.text, b.encoding, b.problems, b.binary), name


INJECTION = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    "| forged | table | row |",
    "``` code fence ``` and `tick`",
    "[click me](javascript:alert(3))",
]


def _outside_code_spans(md: str) -> str:
    """Markdown with inline code spans removed (text inside them is inert)."""
    out, i = [], 0
    while i < len(md):
        m = re.compile(r"`+").search(md, i)
        if not m:
            out.append(md[i:])
            break
        out.append(md[i : m.start()])
        end = md.find(m.group(0), m.end())
        i = m.end() if end < 0 else end + len(m.group(0))
    return "".join(out)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_log_text_cannot_inject_markup(tmp_path, fmt):
    name = "x<script>alert(0)<|script>`.log"
    body = "".join(f"{t}\n" for t in INJECTION) + "".join(f"plain {t}\n" for t in INJECTION)
    (tmp_path / name).write_text(body)
    (tmp_path / "ok.log").write_text(_good("ok", 3))
    r = _run(["analyze", str(tmp_path), "-f", fmt, "--exit-zero"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "alert(1)" in out or "alert(0)" in out, "the hostile text is shown (escaped), not dropped"
    if fmt == "html":
        assert "<script>alert" not in out and "<img src=x" not in out
        assert 'href="javascript:' not in out
    else:
        visible = _outside_code_spans(out)
        for raw in ("<script>", "<img src=x", "](javascript:"):
            assert raw not in visible, raw
        lines = out.splitlines()
        start = next(n for n, ln in enumerate(lines) if ln.startswith("| File | Parser"))
        cols = len(re.findall(r"(?<!\\)\|", lines[start]))
        rows = []
        for ln in lines[start + 2 :]:
            if not ln.startswith("|"):
                break
            rows.append(ln)
        assert len(rows) == 2
        for row in rows:
            assert len(re.findall(r"(?<!\\)\|", _outside_code_spans(row))) == cols, row
