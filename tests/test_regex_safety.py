"""Meta-test: every regex stays in the linear-time subset (no look-around, no backreferences).

Polars runs Rust's regex (linear time, and it rejects look-around at run time, which would crash
on the first file that reaches the pattern). Two sweeps: (1) every string constant held by a
module global or class attribute of the parser/pipeline modules, (2) every string literal in the
source passed to a polars `str.*` regex method or to `re`/`regex`/`safe_regex` calls. Any use of the
backtracking `regex` module must pass `timeout=`.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("parsers", "postmortem", "reports")
FORBIDDEN = re.compile(r"\(\?<?[=!]|\\[1-9]|\\g<?\d|\(\?P=|\\k<")
POLARS_REGEX_METHODS = {
    "contains", "extract", "extract_all", "extract_groups", "replace", "replace_all", "count_matches",
    "find", "split_regex", "contains_any",
}
RE_FUNCS = {"compile", "search", "match", "fullmatch", "sub", "subn", "findall", "finditer", "split"}


def _modules():
    """Importable modules of the packages (a module that does not import is covered by the AST sweep)."""
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        yield mod
        for info in pkgutil.walk_packages(mod.__path__, pkg + ".", onerror=lambda name: None):
            try:
                yield importlib.import_module(info.name)
            except ImportError:
                continue


def _strings(value, depth=0):
    if depth > 4:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list, set, frozenset)):
        for v in value:
            yield from _strings(v, depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, depth + 1)
            yield from _strings(v, depth + 1)


def _constants():
    for mod in _modules():
        for name, value in vars(mod).items():
            if name.startswith("__"):
                continue
            if isinstance(value, type) and value.__module__ == mod.__name__:
                for attr, v in vars(value).items():
                    if not attr.startswith("__"):
                        for s in _strings(v):
                            yield f"{mod.__name__}.{name}.{attr}", s
            else:
                for s in _strings(value):
                    yield f"{mod.__name__}.{name}", s


def _sources():
    for pkg in PACKAGES:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def _literal_patterns(tree: ast.AST):
    """(line, pattern) for string literals given to regex-taking calls."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f = node.func
        is_polars = f.attr in POLARS_REGEX_METHODS and isinstance(f.value, ast.Attribute) and f.value.attr == "str"
        is_re = f.attr in RE_FUNCS and isinstance(f.value, ast.Name) and f.value.id in ("re", "regex", "safe_regex")
        if not (is_polars or is_re):
            continue
        args = list(node.args[:1]) + [k.value for k in node.keywords if k.arg in ("pattern", "pat")]
        for a in args:
            for sub in ast.walk(a):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    yield node.lineno, sub.value


def test_detector_catches_what_it_should():
    bad = [r"(?=x)", r"(?!x)", r"(?<=x)", r"(?<!x)", r"(a)\1", r"(?P<a>x)(?P=a)", r"\g<1>"]
    assert all(FORBIDDEN.search(p) for p in bad)
    assert not FORBIDDEN.search(r"^(?P<ts>\d{4})(?:[.,]\d+)?(?i)\b${1}")


def test_no_lookaround_or_backreference_in_module_constants():
    offenders = [(where, s) for where, s in _constants() if FORBIDDEN.search(s)]
    assert not offenders, offenders


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_lookaround_in_literal_patterns(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offenders = [(line, p) for line, p in _literal_patterns(tree) if FORBIDDEN.search(p)]
    assert not offenders, offenders


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_regex_module_calls_pass_a_timeout(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    compiled: set[str] = set()
    uses_regex = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "regex" for a in node.names):
            uses_regex = True
        if isinstance(node, ast.ImportFrom) and node.module == "regex":
            pytest.fail(f"{path}: import the module (`import regex`) so calls can be checked for timeout=")
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            fn = node.value.func
            if isinstance(fn, ast.Attribute) and fn.attr == "compile" and getattr(fn.value, "id", "") == "regex":
                compiled.update(t.id for t in node.targets if isinstance(t, ast.Name))
                compiled.update(t.attr for t in node.targets if isinstance(t, ast.Attribute))
    if not uses_regex:
        return
    missing = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f = node.func
        target = getattr(f.value, "id", None) or getattr(f.value, "attr", None)
        if f.attr in RE_FUNCS - {"compile"} and (target == "regex" or target in compiled):
            if not any(k.arg == "timeout" for k in node.keywords):
                missing.append(node.lineno)
    assert not missing, f"{path}: regex calls without timeout= at lines {missing}"


def test_python_side_redaction_patterns_are_linear_subset():
    from postmortem import redaction as redact

    for pattern, _ in redact._RULES:
        assert not FORBIDDEN.search(pattern), pattern
