"""Batch analysis: reports per incident, index, recurrence, similarity, cache, archives, executors."""

from __future__ import annotations

import csv as csv_module
import io
import json
import shutil
import tarfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from postmortem.batch import cache as batch_cache
from postmortem.batch.archive import ArchiveError, ArchiveLimits, extract_archive
from postmortem.batch.index import incidents_chart_svg, index_context, recurrences, render_index
from postmortem.batch.run import run_batch, spreadsheet_safe, write_index
from postmortem.batch.similarity import group_incidents
from postmortem.batch.summary import FindingRow, IncidentSummary, rule_role, summary_from_json
from postmortem.batch.worker import IncidentJob, run_incident
from postmortem.cli import main
from postmortem.model import Confidence, Evidence, Finding, Report, Severity
from reports.render import RENDERERS

from .conftest import EXAMPLE

HEALTHY_LOG = (
    "2026-03-10 04:00:00,100 INFO app.web: GET /health 200 in 3 ms\n"
    "2026-03-10 04:00:01,200 INFO app.web: GET /orders 200 in 12 ms\n"
    "2026-03-10 04:05:00,300 WARNING app.web: slow request /orders 900 ms\n"
)
FORMATS = ("md", "html", "json")


def _zip_folder(src: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.iterdir()):
            zf.write(p, p.name)


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory):
    """Two incidents alike (the example, once as a folder and once as a .zip), one healthy, one broken."""
    root = tmp_path_factory.mktemp("incidents")
    shutil.copytree(EXAMPLE, root / "2026-03-14-storm")
    _zip_folder(EXAMPLE, root / "2026-03-20-storm-again.zip")
    (root / "healthy").mkdir()
    (root / "healthy" / "web.log").write_text(HEALTHY_LOG, encoding="utf-8")
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w:gz") as tf:
        tf.add(EXAMPLE / "redis-server.log", "redis-server.log")
    (root / "broken.tar.gz").write_bytes(good.getvalue()[:60])  # truncated gzip stream
    return root


@pytest.fixture(scope="module")
def first_run(batch_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    res = CliRunner().invoke(main, ["batch", str(batch_dir), "-o", str(out), "--jobs", "2"])
    return res, out


GOOD = ("2026-03-14-storm", "2026-03-20-storm-again", "healthy")


@pytest.mark.slow
def test_batch_writes_reports_and_names_every_incident(first_run):
    res, out = first_run
    assert res.exit_code == 1, res.output  # the broken archive fails, the others succeed
    for name in GOOD:
        for fmt in FORMATS:
            assert (out / name / f"report.{fmt}").stat().st_size > 0
        json.loads((out / name / "report.json").read_text())
    assert not (out / "broken").exists()
    index = (out / "index.md").read_text()
    for name in (*GOOD, "broken"):
        assert name in index
    broken_row = next(line for line in index.splitlines() if line.startswith("|") and "| broken |" in line)
    assert "**error**" in broken_row and "archive" in broken_row
    assert "postmortem: error: broken: archive rejected" in res.output
    html = (out / "index.html").read_text()
    assert "<svg" in html and "<script" not in html and "2026-03-14-storm/report.html" in html
    assert (out / "incidents.svg").read_text() in html


@pytest.mark.slow
def test_report_paths_are_relative_to_the_batch(first_run):
    _, out = first_run
    text = (out / "2026-03-20-storm-again" / "report.json").read_text()
    assert "postmortem-batch-" not in text and "/tmp" not in text


@pytest.mark.slow
def test_recurring_rules_match_the_reports(first_run):
    _, out = first_run
    found: dict[str, set[str]] = {}
    names = {}
    for name in GOOD:
        for f in json.loads((out / name / "report.json").read_text())["findings"]:
            found.setdefault(f["rule_id"], set()).add(name)
            names[f["rule_id"]] = f["name"]
    recurring = {r: n for r, n in found.items() if len(n) >= 2}
    assert recurring, "the two copies of the example incident share at least one finding"
    index = (out / "index.md").read_text()
    for rule_id, incidents in recurring.items():
        line = f"**{rule_id} {names[rule_id].replace('_', chr(92) + '_')}** ({rule_role(rule_id)}) in {len(incidents)} of 3 incidents"
        assert line in index
    section = index.split("## Recurring findings", 1)[1].split("##", 1)[0]
    assert "healthy" not in section or any("healthy" in n for n in recurring.values())


@pytest.mark.slow
def test_findings_tables_have_one_row_per_finding(first_run):
    _, out = first_run
    total = sum(len(json.loads((out / n / "report.json").read_text())["findings"]) for n in GOOD)
    pq = pl.read_parquet(out / "findings.parquet")
    csv = pl.read_csv(out / "findings.csv")
    assert pq.height == csv.height == total
    assert pq.columns == ["incident", "rule_id", "name", "severity", "confidence", "start", "end", "title", "stats"]
    assert set(pq["incident"]) <= set(GOOD)
    for stats in pq["stats"]:
        assert isinstance(json.loads(stats), dict)


@pytest.mark.slow
def test_alike_incidents_group_together_and_healthy_apart(first_run):
    _, out = first_run
    incidents = [summary_from_json(n, (out / n / "report.json").read_text()) for n in GOOD]
    groups = group_incidents(incidents)
    together = next(g for g in groups if "2026-03-14-storm" in g.members)
    assert "2026-03-20-storm-again" in together.members and "healthy" not in together.members


@pytest.mark.slow
def test_rerun_skips_unchanged_incidents_and_force_reanalyzes(batch_dir, first_run, tmp_path):
    _, first_out = first_run
    out = tmp_path / "out"
    shutil.copytree(first_out, out)
    before = {n: (out / n / "report.md").stat().st_mtime_ns for n in GOOD}
    res = CliRunner().invoke(main, ["batch", str(batch_dir), "-o", str(out), "--jobs", "1"])
    assert res.exit_code == 1
    assert "skipped 3 unchanged incidents" in res.output
    assert {n: (out / n / "report.md").stat().st_mtime_ns for n in GOOD} == before
    assert "| unchanged |" in (out / "index.md").read_text()

    changed = tmp_path / "changed"
    shutil.copytree(batch_dir, changed)
    (changed / "healthy" / "web.log").write_text(HEALTHY_LOG + HEALTHY_LOG.replace("04:0", "05:0"))
    (changed / "broken.tar.gz").unlink()
    shutil.copytree(out, tmp_path / "out2")
    res = CliRunner().invoke(main, ["batch", str(changed), "-o", str(tmp_path / "out2"), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "skipped 2 unchanged incidents" in res.output
    assert "broken" not in (tmp_path / "out2" / "index.md").read_text()

    res = CliRunner().invoke(main, ["batch", str(changed), "-o", str(tmp_path / "out2"), "--force"])
    assert res.exit_code == 0 and "skipped" not in res.output


def _healthy_root(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "healthy").mkdir(parents=True)
    (root / "healthy" / "web.log").write_text(HEALTHY_LOG)
    return root


@pytest.mark.slow
def test_cache_misses_when_the_tool_fingerprint_changes(tmp_path, monkeypatch):
    root, out = _healthy_root(tmp_path), tmp_path / "out"
    monkeypatch.setattr(batch_cache, "tool_fingerprint", lambda: "0.1.0+aaaa")
    assert run_batch(root, out).analyzed == 1
    same = run_batch(root, out)
    assert (same.analyzed, same.skipped) == (0, 1)
    monkeypatch.setattr(batch_cache, "tool_fingerprint", lambda: "0.1.0+bbbb")
    changed = run_batch(root, out)
    assert (changed.analyzed, changed.skipped) == (1, 0)
    assert batch_cache.incident_key(root / "healthy", "{}") != batch_cache.incident_key(root / "healthy", "{ }")


def test_source_digest_follows_source_bytes_not_byte_code(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "templates").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "templates" / "t.md.j2").write_text("{{ x }}\n")
    (pkg / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0")
    digest = batch_cache.source_digest({"pkg": pkg})
    (pkg / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\1")
    (pkg / "notes.txt").write_text("not code")
    assert batch_cache.source_digest({"pkg": pkg}) == digest
    (pkg / "templates" / "t.md.j2").write_text("{{ y }}\n")
    after_template = batch_cache.source_digest({"pkg": pkg})
    assert after_template != digest
    (pkg / "a.py").write_text("X = 2\n")
    assert batch_cache.source_digest({"pkg": pkg}) not in (digest, after_template)
    assert batch_cache.source_digest({"other": pkg}) != batch_cache.source_digest({"pkg": pkg})


def test_tool_fingerprint_is_the_version_and_a_hash_of_the_installed_packages():
    import postmortem

    fp = batch_cache.tool_fingerprint()
    assert fp == batch_cache.tool_fingerprint() and fp.startswith(postmortem.__version__ + "+")
    roots = {n: Path(__import__(n).__file__).parent for n in batch_cache.TOOL_PACKAGES}
    assert fp == f"{postmortem.__version__}+{batch_cache.source_digest(roots)}"


HOSTILE = ('=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\tcmd", "\r=1")


def test_findings_csv_neutralizes_formulas_and_parquet_keeps_raw_text(tmp_path):
    incidents = [_summary(f"{h}-incident", _report([_finding("PM402", "retry-without-backoff", title=h)], 0))
                 for h in HOSTILE]
    incidents.append(_summary("plain", _report([_finding("PM100", "redis-unreachable", title="down 12 s")], 1)))
    write_index(tmp_path, incidents)
    with open(tmp_path / "findings.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv_module.DictReader(fh))
    pq = pl.read_parquet(tmp_path / "findings.parquet")
    assert len(rows) == pq.height == len(HOSTILE) + 1
    titles = {r["title"] for r in rows}
    assert {"'" + h for h in HOSTILE} | {"down 12 s"} == titles
    assert "'=HYPERLINK(\"http://x\",\"y\")" in titles
    assert {r["incident"] for r in rows} == {f"'{h}-incident" for h in HOSTILE} | {"plain"}
    assert set(pq["title"]) == set(HOSTILE) | {"down 12 s"}
    assert set(pq["incident"]) == {f"{h}-incident" for h in HOSTILE} | {"plain"}
    for row in rows:  # timestamps and the other columns keep their text
        assert row["start"].startswith("2026-01-") and row["end"].startswith("2026-01-")
        assert row["severity"] == "high" and row["stats"].startswith("{")


def test_spreadsheet_guard_touches_only_string_columns():
    frame = pl.DataFrame({"n": [-2, 3], "x": [-1.5, 0.0], "s": ["-2", "a=b"], "u": [None, "@x"]})
    safe = spreadsheet_safe(frame)
    assert safe.schema == frame.schema
    assert safe["n"].to_list() == [-2, 3] and safe["x"].to_list() == [-1.5, 0.0]
    assert safe["s"].to_list() == ["'-2", "a=b"] and safe["u"].to_list() == [None, "'@x"]


def test_usage_errors_exit_2(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["batch", str(tmp_path / "missing")]).exit_code == 2
    res = runner.invoke(main, ["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--executor", "tcp://x:1"])
    assert res.exit_code == 2 and "dask://HOST:PORT" in res.output
    assert runner.invoke(main, ["batch", str(tmp_path), "--jobs", "0"]).exit_code == 2


# --- synthetic reports: recurrence, similarity, escaping -------------------------------------------

T0 = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


def _finding(rule_id: str, name: str, severity=Severity.HIGH, title="t", stats=None, start=T0) -> Finding:
    return Finding(rule_id=rule_id, name=name, severity=severity, confidence=Confidence.HIGH, title=title,
                   start=start, end=start + timedelta(minutes=3), entities=(), stats=stats or {},
                   evidence=(Evidence("a.log", 1, start, "x"),))


def _report(findings, day: int) -> Report:
    start = T0 + timedelta(days=day)
    return Report(tool_version="t", inputs=(), window_start=start, window_end=start + timedelta(minutes=10 + day),
                  summary="s", findings=tuple(findings), timeline=())


def _summary(name: str, report: Report) -> IncidentSummary:
    return summary_from_json(name, RENDERERS["json"](report))


def _synthetic() -> list[IncidentSummary]:
    storm = [_finding("PM100", "redis-unreachable", title="down 12 s", stats={"seconds": 12}),
             _finding("PM402", "retry-without-backoff", title="LinearRetry", stats={"retries": 40}),
             _finding("PM101", "reconnect-storm", title="900 connection attempts in 5.0 s after the outage",
                      stats={"attempts": 900})]
    return [
        _summary("a", _report(storm, 0)),
        _summary("b", _report(storm[:2] + [_finding("PM101", "reconnect-storm", stats={"attempts": 700})], 3)),
        _summary("c", _report([_finding("PM304", "evictions", Severity.MEDIUM, stats={"evicted": 5})], 7)),
        _summary("d", _report([], 9)),
        _summary("e", _report([], 12)),
    ]


def test_recurrence_counts_from_synthetic_reports():
    recs = {r.rule_id: r for r in recurrences(_synthetic())}
    assert set(recs) == {"PM100", "PM101", "PM402"}
    assert recs["PM402"].incidents == ("a", "b") and recs["PM402"].of == 5
    md = render_index(index_context(_synthetic()), "md")
    assert "**PM402 retry-without-backoff** (root cause) in 2 of 5 incidents: [a](a/report.md), [b](b/report.md)" in md
    row_a = next(line for line in md.splitlines() if "[a](a/report.md) | 2026-01-05" in line)
    assert "PM100 redis-unreachable: down 12 s" in row_a and "PM402 retry-without-backoff: LinearRetry" in row_a
    # the Impact column in words a person reads, not `PM101 attempts=900`
    assert "| 900 connection attempts in 5.0 s after the outage |" in row_a and "attempts=" not in row_a


def test_similarity_groups_are_deterministic_and_order_free():
    incidents = _synthetic()
    groups = group_incidents(incidents)
    assert [g.members for g in groups] == [("a", "b"), ("d", "e"), ("c",)]
    assert groups[0].shared_rules == ("PM100", "PM101", "PM402")
    assert group_incidents(list(reversed(incidents))) == groups
    assert group_incidents(incidents[1:2]) == [type(groups[0])(1, ("b",), ("PM100", "PM101", "PM402"))]
    assert group_incidents([]) == []


def test_index_escapes_log_text_everywhere():
    evil = "<script>alert(1)</script> | **x**"
    incidents = [
        _summary("ok", _report([_finding("PM402", "retry-without-backoff", title=evil)], 0)),
        IncidentSummary("bad", error=f"ValueError: {evil}"),
    ]
    ctx = index_context(incidents)
    html = render_index(ctx, "html", incidents_chart_svg(ctx["rows"]))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = render_index(ctx, "md")
    assert "<script>" not in md and r"\<script\>" in md and r"\| \*\*x\*\*" in md


def test_chart_svg_is_deterministic_and_undated():
    ctx = index_context(_synthetic())
    a, b = incidents_chart_svg(ctx["rows"]), incidents_chart_svg(index_context(_synthetic())["rows"])
    assert a == b and a.startswith("<svg") and "<dc:date>" not in a


def test_finding_row_ranks_root_cause_over_impact():
    inc = _synthetic()[0]
    assert inc.root_cause().rule_id == "PM402" and inc.trigger().rule_id == "PM100"
    only_impact = IncidentSummary("x", findings=(FindingRow("PM101", "n", "high", "high", "t", None, None, {}),
                                                FindingRow("PM001", "n", "info", "high", "t", None, None, {})))
    assert only_impact.root_cause().rule_id == "PM101" and only_impact.trigger() is None


# --- archives ---------------------------------------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name: str, data: bytes = b"", kind=tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data), link
    return info


@pytest.mark.parametrize("info, message", [
    (_info("../escape.log", b"x"), "'..'"),
    (_info("/etc/escape.log", b"x"), "absolute"),
    (_info("link.log", kind=tarfile.SYMTYPE, link="/etc/passwd"), "link or special"),
    (_info("dev", kind=tarfile.CHRTYPE), "link or special"),
])
def test_unsafe_tar_members_are_rejected(tmp_path, info, message):
    data = b"x" if info.size else None
    archive = _tar(tmp_path / "a.tgz", [(_info("ok.log", b"fine\n"), b"fine\n"), (info, data)])
    with pytest.raises(ArchiveError, match=message):
        extract_archive(archive, tmp_path / "dest")
    assert not (tmp_path / "escape.log").exists() and not Path("/etc/escape.log").exists()


def test_zip_traversal_and_bombs_are_rejected(tmp_path):
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../evil.log", "x")
    with pytest.raises(ArchiveError, match="'..'"):
        extract_archive(z, tmp_path / "dest")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.log", b"\0" * 2_000_000)
    assert bomb.stat().st_size < 10_000
    with pytest.raises(ArchiveError, match="bomb"):
        extract_archive(bomb, tmp_path / "d2", ArchiveLimits(max_total_bytes=100_000))
    many = _tar(tmp_path / "many.tgz", [(_info(f"f{i}.log", b"x"), b"x") for i in range(20)])
    with pytest.raises(ArchiveError, match="more than 10 members"):
        extract_archive(many, tmp_path / "d3", ArchiveLimits(max_members=10))


@pytest.mark.slow
def test_archive_bomb_fails_only_its_incident(tmp_path):
    root = tmp_path / "in"
    (root / "healthy").mkdir(parents=True)
    (root / "healthy" / "web.log").write_text(HEALTHY_LOG)
    with zipfile.ZipFile(root / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.log", b"\0" * 2_000_000)
    res = run_batch(root, tmp_path / "out", jobs=2, limits=ArchiveLimits(max_total_bytes=100_000))
    assert [i.name for i in res.failed] == ["bomb"] and "bomb" in res.failed[0].error
    assert (tmp_path / "out" / "healthy" / "report.md").exists()


# --- Dask ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_dask_executor_runs_the_same_function(tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'postmortem[dask]')")
    root = tmp_path / "in"
    (root / "healthy").mkdir(parents=True)
    (root / "healthy" / "web.log").write_text(HEALTHY_LOG)
    shutil.copytree(EXAMPLE, root / "storm")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=":0") as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        res = run_batch(root, tmp_path / "out", executor=f"dask://{address}")
    assert res.analyzed == 2 and not res.failed
    for name in ("healthy", "storm"):  # the same function, run here, gives the same report
        here = run_incident(IncidentJob(name, str((root / name).resolve()), False))
        assert (tmp_path / "out" / name / "report.json").read_text() == here.texts["json"]
