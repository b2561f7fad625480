"""The analysis's modules load with the cyclic collector off and are then frozen (postmortem/import_gc.py):
the collector is back as it was for the analysis, a run makes no full collection, and the report is the
one a run with the collector untouched gives."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from postmortem.import_gc import imports_without_gc, late_import

ROOT = Path(__file__).resolve().parents[1]
# counts the collections of each generation over a whole `analyze` run, in a fresh interpreter
PROBE = """
import gc, json, sys
counts = [0, 0, 0]
gc.callbacks.append(lambda phase, info: phase == "stop" and counts.__setitem__(info["generation"],
                                                                            counts[info["generation"]] + 1))
if sys.argv[1] == "plain":  # the collector untouched: the context manager does nothing
    import contextlib, importlib
    import postmortem.import_gc
    postmortem.import_gc.imports_without_gc = contextlib.nullcontext
    postmortem.import_gc.late_import = importlib.import_module
from click.testing import CliRunner
from postmortem.cli import main
result = CliRunner().invoke(main, sys.argv[2:])
assert result.exit_code == 0, result.output
print(json.dumps({"counts": counts, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "numpy": "numpy" in sys.modules}))
"""


def _run(mode: str, out: Path) -> dict:
    args = ["analyze", "tests/data/recorded/storm", "-f", "json", "-o", str(out), "--exit-zero", "--jobs", "1"]
    done = subprocess.run([sys.executable, "-c", PROBE, mode, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_analyze_makes_no_full_collection_and_the_same_report(tmp_path: Path) -> None:
    fast, plain = _run("fast", tmp_path / "fast.json"), _run("plain", tmp_path / "plain.json")
    assert plain["counts"][2] >= 1  # the probe sees the full collection the imports cause without the change
    assert fast["counts"][2] == 0, fast
    assert fast["enabled"] and fast["frozen"] > 10_000, fast
    assert fast["numpy"] and plain["numpy"]  # the storm's what-if replay loaded numpy, late
    assert (tmp_path / "fast.json").read_bytes() == (tmp_path / "plain.json").read_bytes()


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_is_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with pytest.raises(ImportError), imports_without_gc():
            assert not gc.isenabled()
            import postmortem.no_such_module  # noqa: F401
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_late_import_is_frozen_once_and_restores_the_collector() -> None:
    """numpy for the replay: loaded with the collector off, what exists then frozen; a second call (the
    module loaded) neither imports nor freezes again."""
    was = gc.isenabled()
    sys.modules.pop("colorsys", None)
    try:
        gc.enable()
        before = gc.get_freeze_count()
        late_import("colorsys")
        assert "colorsys" in sys.modules and gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen > before
        gc.collect()
        late_import("colorsys")
        assert gc.get_freeze_count() == frozen
        gc.disable()
        sys.modules.pop("colorsys")
        late_import("colorsys")
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable() if was else gc.disable()
