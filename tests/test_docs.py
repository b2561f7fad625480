"""Meta-tests: README and docs/ARCHITECTURE.md say what the code does.

The docs are checked against the registries themselves (DETECTORS, RECOGNIZERS, FILE_PARSERS,
HEADER_VARIANTS, OUTER_PREFIXES, the click commands) and against the events the bundled fixtures
really produce, so a new rule, parser, option or `kind` cannot land undocumented.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from parsers import FILE_PARSERS, RECOGNIZERS
from parsers.envelopes import HEADER_VARIANTS, OUTER_PREFIXES
from parsers.metrics.names import SQUASHED
from postmortem.analysis.detectors import DETECTORS
from postmortem.cli import main
from postmortem.input.ingest import ingest

from .conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")

# Fixture folders whose events must all be of a documented kind (those that exist are read).
KIND_FIXTURES = (
    "example-incident", "recorded/storm", "recorded/healthy", "stackexchange", "redis_py", "redis_server",
    "k8s", "metrics", "detectors", "corpus",
)
KIND_LITERAL = re.compile(r"^(?:redis|app|metric|k8s)\.[A-Za-z_][\w.]*[A-Za-z_]$")


def section(text: str, title: str) -> str:
    """The body of one `## title` section of a Markdown document."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"section '## {title}' is missing"
    return m.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the Markdown table rows in `text` (header and separator rows left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.match(r"^\|[-| :]+\|$", line):
            continue
        cells = [c.strip().replace("\x00", "\\|") for c in line.strip().replace("\\|", "\x00").split("|")[1:-1]]
        rows.append(cells)
    return rows[1:] if rows else rows


def documented(kind: str, doc: str) -> bool:
    if kind.startswith("k8s.") and "`k8s.<Reason>`" in doc:
        return True  # reasons are verbatim apiserver strings: the prefix rule documents them all
    return f"`{kind}`" in doc


# --- README: rules ---------------------------------------------------------------------------------


def test_readme_rules_table_lists_every_rule_once_in_id_order():
    rows = [r for r in table_rows(section(README, "Rules")) if re.fullmatch(r"PM\d{3}", r[0])]
    ids = [r[0] for r in rows]
    expected = sorted(d.rule.rule_id for d in DETECTORS)
    assert ids == expected, "README Rules table: one row per rule in DETECTORS, in ID order"


@pytest.mark.parametrize("rule", [d.rule for d in DETECTORS], ids=lambda r: r.rule_id)
def test_readme_rule_row_has_exact_name_and_summary(rule):
    rows = {r[0]: r for r in table_rows(section(README, "Rules"))}
    row = rows.get(rule.rule_id)
    assert row is not None, f"{rule.rule_id} missing from README Rules table"
    assert row[1] == rule.name
    assert row[2] == rule.severity.label()
    assert row[3] == rule.summary


# --- README: formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [p.name for p in (*RECOGNIZERS, *FILE_PARSERS)])
def test_readme_formats_names_every_parser(name):
    formats = section(README, "Formats")
    rows = {r[0] for r in table_rows(formats)}
    assert f"`{name}`" in rows, f"parser {name!r} has no row in README Formats"


@pytest.mark.parametrize("name", [n for n, _ in (*HEADER_VARIANTS, *OUTER_PREFIXES)] + ["docker_json"])
def test_readme_formats_names_every_envelope(name):
    assert f"`{name}`" in section(README, "Formats"), f"envelope {name!r} missing from README Formats"


def test_readme_formats_has_no_unknown_parser_rows():
    known = {p.name for p in (*RECOGNIZERS, *FILE_PARSERS)}
    formats = section(README, "Formats")
    named = {r[0].strip("`") for r in table_rows(formats) if re.fullmatch(r"`[a-z_]+`", r[0])}
    assert named <= known, f"README Formats rows for parsers that do not exist: {sorted(named - known)}"


# --- README: CLI -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(main.commands))
def test_readme_usage_documents_every_command_and_option(name):
    usage = section(README, "Usage")
    assert f"postmortem {name}" in usage, f"command {name!r} missing from README Usage"
    cmd = main.commands[name]
    for param in cmd.params:
        longs = [o for o in getattr(param, "opts", []) if o.startswith("--") and o != "--help"]
        for opt in longs:
            if param.param_type_name == "option":
                assert re.search(rf"{re.escape(opt)}\b", usage), f"{name} {opt} missing from README Usage"


def test_readme_keeps_its_first_block():
    first = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first and first.group(1) == (
        "pip install . && postmortem analyze tests/data/recorded/storm --exit-zero\n"
        "pip install -e '.[test]' && pytest --all\n"
    )
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && pytest --all\n" in ci  # CI runs the README's test command


def test_readme_dependencies_explain_every_runtime_dependency():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = [re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in deps]
    rows = {r[0].lower(): r[1] for r in table_rows(section(README, "Dependencies")) if len(r) >= 2}
    for name in names:
        assert rows.get(name), f"runtime dependency {name!r} has no 'why' row in README Dependencies"


# --- explain ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [d.rule for d in DETECTORS], ids=lambda r: r.rule_id)
def test_explain_shows_the_three_doc_parts(rule):
    res = CliRunner().invoke(main, ["explain", rule.rule_id.lower()])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"{rule.rule_id} {rule.name} ({rule.severity.label()})")
    for part in ("What it detects", "Why it matters", "Recommendation"):
        m = re.search(rf"^{part}: (\S.*)$", res.output, re.M)
        assert m and len(m.group(1)) > 20, f"{rule.rule_id}: '{part}' missing or empty"


def test_explain_unknown_rule_is_a_usage_error():
    res = CliRunner().invoke(main, ["explain", "PM999"])
    assert res.exit_code == 2


# --- ARCHITECTURE: kinds, metric names, modules --------------------------------------------------


@pytest.fixture(scope="module")
def fixture_kinds() -> set[str]:
    dirs = [str(DATA / d) for d in KIND_FIXTURES if (DATA / d).exists()]
    assert dirs
    return set(ingest(dirs).events.get_column("kind").drop_nulls().unique().to_list())


def test_every_fixture_kind_is_documented(fixture_kinds):
    assert {"redis.connect_failed", "metric.sample", "app.log"} <= fixture_kinds  # the fixtures were read
    missing = sorted(k for k in fixture_kinds if not documented(k, ARCHITECTURE))
    assert not missing, f"kinds emitted by the fixtures but not in docs/ARCHITECTURE.md: {missing}"


def _parser_kind_literals() -> set[str]:
    found = set()
    for path in (ROOT / "parsers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KIND_LITERAL.match(node.value):
                found.add(node.value)
    return found


def test_every_kind_literal_in_the_parsers_is_documented():
    literals = _parser_kind_literals()
    assert "redis.timeout" in literals
    missing = sorted(k for k in literals if not documented(k, ARCHITECTURE))
    assert not missing, f"kinds in parsers/ but not in docs/ARCHITECTURE.md: {missing}"


def test_every_normalized_metric_name_is_documented():
    names = section(ARCHITECTURE, "Events table (contract)")
    missing = sorted(n for n in set(SQUASHED.values()) if f"`{n}`" not in names)
    assert not missing, f"normalized metric names missing from docs/ARCHITECTURE.md: {missing}"


def test_every_module_is_in_the_architecture():
    missing = []
    for top in ("postmortem", "parsers", "reports", "tools", "benchmarks"):
        for p in sorted((ROOT / top).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            if p.name == "__init__.py" and rel != "parsers/__init__.py":
                continue
            names = [f"`{rel}`"]
            if p.parent != ROOT / top:  # a sub-package's row may name its modules short: `storm` / `names.py`
                names += [f"`{p.name}`", f"`{p.stem}`"]
            if not any(n in ARCHITECTURE for n in names):
                missing.append(rel)
    assert not missing, f"modules not described in docs/ARCHITECTURE.md: {missing}"


def test_context_fields_are_documented():
    import dataclasses

    from postmortem.analysis.correlate import Context

    table = section(ARCHITECTURE, "Correlation context")
    for f in dataclasses.fields(Context):
        assert f"`{f.name}`" in table, f"Context.{f.name} missing from docs/ARCHITECTURE.md"


def test_decode_limits_are_documented():
    from postmortem.input import decode

    limits = section(ARCHITECTURE, "Decode limits")
    assert decode.MAX_INPUT_ENV in limits and f"{decode.DEFAULT_MAX_INPUT_MB} MiB" in limits
    assert f"{decode.MAX_RATIO} ×" in limits and f"{decode.RATIO_GRACE // 1024**2} MiB" in limits


def test_resource_ceilings_in_readme_are_the_enforced_ones():
    """Every figure of README's "Resource ceilings" table is the value the code enforces (issue #21)."""
    from parsers.envelopes import MAX_LINE_CHARS
    from postmortem.batch.archive import ArchiveLimits
    from postmortem.input import decode, discover, stream
    from postmortem.input.events_table import EARLIEST, LATEST
    from postmortem.quoting import MAX_MESSAGE, MAX_QUOTED

    m = re.search(r"^### Resource ceilings \(enforced\)\n(.*?)(?=^#|\Z)", README, re.M | re.S)
    assert m, "README has no Resource ceilings table"
    rows = {r[0]: r[1] for r in table_rows(m.group(1))}
    limits = ArchiveLimits()
    assert f"{MAX_LINE_CHARS // 1024} KiB of characters" in rows["one line"]
    assert f"keeps {stream.MAX_LINE_BYTES // 1024} KiB of a line" in rows["one line"]
    assert f"{decode.DEFAULT_MAX_INPUT_MB} MiB" in rows["one file"] and decode.MAX_INPUT_ENV in rows["one file"]
    assert rows["files per analysis"].startswith(f"{discover.MAX_FILES:,}")
    archive = rows["archive (`batch`)"]
    assert f"{limits.max_members:,} members" in archive and f"{limits.max_total_bytes >> 30} GiB" in archive
    assert f"{limits.max_header_bytes >> 20} MiB per GNU long-name" in archive
    assert f"{limits.max_name_chars:,} characters per member name" in archive
    quoted = rows["text quoted in a message"]
    assert f"{MAX_QUOTED} characters of a name" in quoted and f"{MAX_MESSAGE:,} of a whole line" in quoted
    assert f"{EARLIEST.year}-01-01 to {LATEST.year - 1}-12-31" in rows["timestamps"]
