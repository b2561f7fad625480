"""Shared fixtures: paths to test data, the golden-file helper (`pytest --update-golden`) and the slow set."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Speed is checked in benchmarks, never in unit tests: no per-example deadline (a loaded CI machine would
# fail property tests on time alone).
settings.register_profile("postmortem", deadline=None)
settings.load_profile("postmortem")

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
EXAMPLE = DATA / "example-incident"
CORPUS = DATA / "corpus"  # the real bug-report text of ../shared/corpus, copied in so every clone has it
STORM = DATA / "recorded" / "storm"


def load_export_fixture():
    """tools/export_fixture.py (not a package): converts a folder of pod logs into each platform's export."""
    import importlib.util
    import sys

    if "export_fixture" not in sys.modules:
        spec = importlib.util.spec_from_file_location("export_fixture", DATA.parents[1] / "tools" / "export_fixture.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["export_fixture"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules["export_fixture"]


@pytest.fixture(scope="session")
def storm_exports(tmp_path_factory) -> Path:
    """The recorded storm in every log platform's export layout, generated (6.7 MB: not committed)."""
    out = tmp_path_factory.mktemp("exports")
    converter = load_export_fixture()
    converter.write_fixtures(STORM, out, list(converter.LAYOUTS))
    return out


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")
    parser.addoption("--all", action="store_true", dest="run_slow",
                     help="also run the tests marked slow (fuzzers, live recordings, batch); CI does")


def pytest_collection_modifyitems(config, items):
    """The default run is the fast set; `pytest --all` (and .ci/run) runs every test."""
    if config.getoption("run_slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest --all`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def golden(request):
    """Compare text with tests/golden/NAME, or rewrite it with --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {name} missing: run pytest --update-golden and review the diff")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{name} differs from its golden file (pytest --update-golden to accept)"

    return check
