"""Start fast (issue 20): `analyze -f json` and `parse` load neither matplotlib, scikit-learn nor jinja2.

Each command runs in a fresh interpreter (a test process has long imported everything), and the
modules it loaded are read from `sys.modules` after it finished."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "sklearn", "scipy", "jinja2")
PROBE = """
import json, sys
from click.testing import CliRunner
from postmortem.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
assert result.exit_code == 0, result.output
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*args: str, packages: bool = True) -> set[str]:
    """The modules the command loaded: top-level packages, or (`packages=False`) every module's full name."""
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    names = json.loads(out.stdout.strip().splitlines()[-1])
    return {m.split(".")[0] for m in names} if packages else set(names)


@pytest.mark.parametrize("fixture", ["tests/data/recorded/storm",
                                     pytest.param("tests/data/example-incident", marks=pytest.mark.slow)])
def test_json_report_loads_no_heavy_module(fixture: str, tmp_path: Path) -> None:
    loaded = _loaded("analyze", fixture, "-f", "json", "-o", str(tmp_path / "r.json"), "--exit-zero")
    assert "polars" in loaded and "postmortem" in loaded  # the probe saw the analysis run
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


@pytest.mark.slow
def test_parse_loads_no_heavy_module(tmp_path: Path) -> None:
    loaded = _loaded("parse", "tests/data/recorded/storm", "-o", str(tmp_path / "e.ndjson"))
    assert not loaded & {*HEAVY, "numpy"}, loaded & {*HEAVY, "numpy"}
    assert (tmp_path / "e.ndjson").stat().st_size > 0


@pytest.mark.slow
def test_html_report_still_loads_what_it_draws_with(tmp_path: Path) -> None:
    """The probe can fail: HTML needs jinja2 and (with chart data) matplotlib, in this process with --jobs 1 (with
    an idle CPU the side process would draw the charts: tests/test_side_process.py)."""
    loaded = _loaded("analyze", "tests/data/recorded/storm", "-f", "html", "-o", str(tmp_path / "r.html"),
                     "--exit-zero", "--jobs", "1")
    assert {"jinja2", "matplotlib"} <= loaded


COMPILED = """
import gc, json, sys
from click.testing import CliRunner
from postmortem.cli import main
from postmortem.safe_regex import SafePattern
result = CliRunner().invoke(main, sys.argv[1:])
assert result.exit_code == 0, result.output
gc.unfreeze()  # the CLI froze what its imports made (postmortem/import_gc.py): get_objects skips frozen objects
made = [p for p in gc.get_objects() if isinstance(p, SafePattern)]
print(json.dumps([len(made), sum(p._compiled is not None for p in made)]))
"""


@pytest.mark.slow
def test_patterns_compile_only_when_used(tmp_path: Path) -> None:
    """Python-side patterns compile on first use: for a folder of plain logs and a Prometheus scrape, those
    the file sniffs and redaction use (about half of the 60-odd), not the Kubernetes shapes'; a folder
    with a `kubectl get events` table compiles more."""
    def compiled(fixture: str) -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", COMPILED, "analyze", fixture, "-f", "json", "-o",
                              str(tmp_path / "r.json"), "--exit-zero"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        made, used = json.loads(out.stdout.strip().splitlines()[-1])
        return made, used

    made, plain = compiled("tests/data/recorded/storm")
    assert made >= 60 and plain <= made // 2, (made, plain)
    _, with_k8s = compiled("tests/data/example-incident")  # holds a `kubectl get events` table
    assert with_k8s > plain, (plain, with_k8s)


@pytest.mark.slow
def test_markdown_without_chart_files_loads_no_matplotlib(tmp_path: Path) -> None:
    """HTML and Markdown written to a file import matplotlib on a second thread while the analysis runs
    (`reports.render.prefetch`); Markdown on stdout and Jira draw nothing, so neither imports it."""
    for fmt in ("md", "jira"):
        loaded = _loaded("analyze", "tests/data/recorded/storm", "-f", fmt, "--exit-zero")
        assert "jinja2" in loaded and "matplotlib" not in loaded, fmt
    # in one process (--jobs 1; with an idle CPU the side process would draw them, tests/test_side_process.py)
    loaded = _loaded("analyze", "tests/data/recorded/storm", "-f", "md", "-o", str(tmp_path / "r.md"), "--exit-zero",
                     "--jobs", "1")
    assert "matplotlib" in loaded and (tmp_path / "r_files").is_dir()


@pytest.mark.slow
def test_numpy_loads_only_for_a_replay(tmp_path: Path) -> None:
    """The what-if replay (numpy) is imported when there is an outage to replay: not for an incident
    without one (eviction), and for the storm (so the probe can fail)."""
    calm = _loaded("analyze", "tests/data/recorded/eviction", "-f", "json", "-o", str(tmp_path / "a.json"), "--exit-zero")
    assert "postmortem" in calm and "numpy" not in calm
    storm = _loaded("analyze", "tests/data/recorded/storm", "-f", "json", "-o", str(tmp_path / "b.json"), "--exit-zero")
    assert "numpy" in storm


def test_a_replay_loads_no_numpy_ma(tmp_path: Path) -> None:
    """`np.median` imports `numpy.ma` to check for NaN (~10 ms of every replay); the replay's medians
    (replay/median.py) do not. The storm is replayed, so numpy itself is loaded."""
    storm = _loaded("analyze", "tests/data/recorded/storm", "-f", "json", "-o", str(tmp_path / "b.json"),
                    "--exit-zero", packages=False)
    assert "postmortem.analysis.replay.model" in storm and "numpy.ma" not in storm


@pytest.mark.slow
def test_yaml_loads_only_for_yaml_input(tmp_path: Path) -> None:
    """PyYAML (parsers/yaml_untrusted.py) is imported when a file is read as YAML: not for the storm's plain
    logs, and for a `kubectl get events -o yaml` file (so the probe can fail), whose events are read."""
    plain = _loaded("parse", "tests/data/recorded/storm", "-o", str(tmp_path / "a.ndjson"))
    assert "postmortem" in plain and "yaml" not in plain
    yaml_input = _loaded("parse", "tests/data/k8s/events-k8s-io-v1.yaml", "-o", str(tmp_path / "b.ndjson"))
    assert "yaml" in yaml_input and (tmp_path / "b.ndjson").stat().st_size > 0


SIDE_FIRST = """
import json, sys
from click.testing import CliRunner
import postmortem.cli as cli
cli._free_cpu = lambda: True  # as on an idle machine
seen = []
real = cli._side_process
cli._side_process = lambda paths: seen.append("polars" in sys.modules) or real(paths)
result = CliRunner().invoke(cli.main, sys.argv[1:])
print(json.dumps([result.exit_code, seen]))
"""


@pytest.mark.slow
def test_the_chart_process_starts_before_the_analysis_is_imported(tmp_path: Path) -> None:
    """With an idle CPU, HTML's side process (matplotlib's import and the drawing: the longer path of a small
    incident) starts before this process imports polars and the analysis, not after."""
    out = subprocess.run([sys.executable, "-c", SIDE_FIRST, "analyze", "tests/data/recorded/storm", "-f", "html", "-o",
                          str(tmp_path / "r.html"), "--exit-zero", "--jobs", "2"], cwd=ROOT, capture_output=True,
                         text=True, timeout=180, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, [False]]
    assert (tmp_path / "r.html").stat().st_size > 0


RUN = """
import sys
from tests import side_probe
side_probe.mark_teardown(sys.argv[1])
from postmortem.cli import run
sys.argv = ["postmortem", *sys.argv[2:]]
run()
"""


@pytest.mark.parametrize(("args", "code"), [
    (("analyze", "tests/data/recorded/storm", "-f", "json"), 1),  # findings
    (("analyze", "tests/data/recorded/storm", "-f", "json", "--exit-zero"), 0),
    (("analyze", "tests/data/recorded/storm", "-f", "json", "--select", "ZZZ"), 2),  # a usage error
])
def test_the_command_exits_with_its_code_and_output_but_no_teardown(tmp_path: Path, args, code) -> None:
    """`postmortem` (`cli.run`) ends its process without the interpreter's teardown (~0.1 s of clearing modules
    after the report is written): the exit code and the whole report still come out (stdout is a pipe here)."""
    torn = tmp_path / "torn"
    out = subprocess.run([sys.executable, "-c", RUN, str(torn), *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == code, out.stderr
    assert not torn.exists()
    if code != 2:
        assert json.loads(out.stdout)["findings"]
    else:
        assert "unknown rule selector" in out.stderr
