"""The side process (postmortem/side_process.py) changes where work runs, never what it gives: the charts
and the report are the same with it, without it, and when it is lost."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import postmortem.cli as cli
from postmortem.analysis.pipeline import AnalyzeOptions, analyze
from postmortem.side_process import SideProcess, result_or_run, submit
from reports.chart_process import PRELOAD, ChartDrawing
from reports.charts import draw_data, draw_whatif
from tests import side_probe

REC = Path(__file__).parent / "data" / "recorded"


def _fails(x: float) -> float:
    raise ValueError(f"bad {x}")


@pytest.fixture(scope="module")
def side():
    s = SideProcess()
    yield s
    s.close()


def test_a_task_runs_there_or_here_with_one_result(side):
    assert result_or_run(submit(side, math.hypot, 3.0, 4.0), math.hypot, 3.0, 4.0) == 5.0
    assert result_or_run(submit(None, math.hypot, 3.0, 4.0), math.hypot, 3.0, 4.0) == 5.0  # no side: here
    with pytest.raises(ValueError, match="bad 2"):  # failed there: run here, where the real error raises
        result_or_run(submit(side, _fails, 2.0), _fails, 2.0)


def test_a_lost_side_process_leaves_its_work_to_this_one():
    lost = SideProcess()
    try:
        assert result_or_run(lost.submit(math.hypot, 1.0, 0.0), math.hypot, 1.0, 0.0) == 1.0  # it runs
        for pid in list(lost._pool._processes):
            os.kill(pid, signal.SIGKILL)
        future = lost.submit(math.hypot, 6.0, 8.0)  # refused, or accepted and then broken
        assert result_or_run(future, math.hypot, 6.0, 8.0) == 10.0
    finally:
        lost.close()


@pytest.fixture(scope="module")
def storm():
    report, result = analyze([str(REC / "storm")], AnalyzeOptions(redact=False))
    return report, result.events


@pytest.mark.slow
def test_charts_drawn_there_are_the_ones_drawn_here(storm):
    report, _ = storm
    side = SideProcess(("reports.charts",))
    try:
        drawing = ChartDrawing(side)
        drawing.draw_data(report.charts)
        data, whatif = drawing.charts(report)
        assert [c.svg for c in data] == [c.svg for c in draw_data(report.charts)] and data
        assert whatif is not None and whatif.svg == draw_whatif(report.whatif).svg
        stale = ChartDrawing(side)  # the data it was given is not the final report's: drawn here from the report's
        stale.draw_data(replace(report.charts, attempts=()))
        assert [c.svg for c in stale.charts(report)[0]] == [c.svg for c in data]
    finally:
        side.close()


@pytest.mark.slow
def test_the_chart_process_loads_no_polars(storm):
    """The side process imports matplotlib and draws from the report's chart data (postmortem.model), not the
    events table: polars (about 0.2 CPU s of its start) is never loaded there, also not when it runs the CLI's
    module first as a spawned process does (`python -m postmortem.cli`)."""
    report, _ = storm
    side = SideProcess((*PRELOAD, "postmortem.cli"))
    try:
        drawing = ChartDrawing(side)
        drawing.draw_data(report.charts)
        data, whatif = drawing.charts(report)
        loaded = side.submit(side_probe.top_level_modules).result(timeout=120)
    finally:
        side.close()
    assert data and whatif is not None
    assert "matplotlib" in loaded and "reports" in loaded  # the probe ran where the charts were drawn
    assert "polars" not in loaded


@pytest.mark.slow
def test_the_html_report_is_the_same_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_free_cpu", lambda: True)
    started = []
    real = cli._side_process
    monkeypatch.setattr(cli, "_side_process", lambda *a: started.append(1) or real(*a))
    runner = CliRunner()
    for name, jobs in (("side", "2"), ("alone", "1")):
        out = runner.invoke(cli.main, ["analyze", str(REC / "storm"), "-f", "html", "-o", str(tmp_path / f"{name}.html"),
                                       "--exit-zero", "--jobs", jobs])
        assert out.exit_code == 0, out.output
    assert started == [1]  # the side process ran for --jobs 2 only
    assert (tmp_path / "side.html").read_bytes() == (tmp_path / "alone.html").read_bytes()


@pytest.mark.slow
def test_the_side_process_ends_without_the_interpreters_teardown(tmp_path):
    """`close` waits for the process to end; after its tasks it exits at once (postmortem/side_process.py:
    `_preload`), not after clearing matplotlib's modules object by object."""
    side = SideProcess(("reports.charts",))
    try:
        assert side.submit(side_probe.mark_teardown, str(tmp_path / "torn")).result(timeout=120)
    finally:
        side.close()
    assert not (tmp_path / "torn").exists()
    # the probe does write when a process is torn down (a plain interpreter)
    subprocess.run([sys.executable, "-c", f"from tests import side_probe; side_probe.mark_teardown({str(tmp_path / 'plain')!r})"],
                   cwd=Path(__file__).parents[1], check=True, timeout=60)
    assert (tmp_path / "plain").read_text(encoding="utf-8") == "torn down"
