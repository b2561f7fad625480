"""Compiled report templates are kept in the user's cache folder, and a folder that cannot be made
only costs the compile (reports/render.py `_bytecode_cache`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent / "data" / "example-incident"
RENDER = ("import sys; from postmortem.analysis.pipeline import analyze, AnalyzeOptions; from reports.render import render;"
          "r, _ = analyze([sys.argv[1]], AnalyzeOptions(return_events=False)); sys.stdout.write(render(r, 'html'))")


def _html(cache_home: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "HOME": str(cache_home)}
    return subprocess.run([sys.executable, "-c", RENDER, str(EXAMPLE)], env=env, capture_output=True, text=True,
                          check=True).stdout


def test_templates_compiled_once_are_reused_with_the_same_report(tmp_path):
    first = _html(tmp_path)
    cached = sorted((tmp_path / "postmortem" / "jinja").glob("*.cache"))
    assert cached  # the HTML template and the ones it includes
    stamps = [p.stat().st_mtime_ns for p in cached]
    assert _html(tmp_path) == first
    assert [p.stat().st_mtime_ns for p in cached] == stamps  # loaded, not written again


def test_an_unwritable_cache_folder_only_costs_the_compile(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    assert _html(blocked) == _html(tmp_path / "ok")
