"""Dataclass methods compiled once, not on every start (issue 20).

`@dataclass` writes each class's `__init__`, `__eq__`, `__repr__`, ... as source text and compiles it with
`exec`: 650 methods for our ~110 classes, about 85 ms of CPU on every run, most of it the compiler (about
half of what importing the analysis costs). The text of a method depends only on the class's fields, so
while the analysis is imported, `dataclasses`' `exec` is given a compiled code object for each text it
saw before, kept in the user's cache folder (the jinja bytecode cache's folder: `$XDG_CACHE_HOME/postmortem`,
else ~/.cache/postmortem), keyed by the text itself and by the interpreter's bytecode tag. Executing the
same code object with the same globals is what `exec` of the text does after compiling it, so the classes
are the same; a missing, unreadable or foreign cache file just means compiling as before.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

MAX_ENTRIES = 4000  # more than every version of our classes needs; past it, only this run's texts are kept


def cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "postmortem", f"dataclass-code.{sys.implementation.cache_tag}.marshal")


def _load(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            codes = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return codes if isinstance(codes, dict) else {}


def _save(path: str, codes: dict[str, object]) -> None:
    """Write atomically (another run may read or write it at the same time); a read-only home is no error."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(tmp, "wb") as f:
            marshal.dump(codes, f)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


@contextmanager
def cached_dataclass_code() -> Iterator[None]:
    """Run the block (imports) with `dataclasses` compiling each method's text at most once across runs."""
    if "exec" in vars(dataclasses):  # already inside one (or someone else's): leave it alone
        yield
        return
    path = cache_path()
    codes = _load(path)
    known, used = len(codes), set()

    def cached_exec(source, globals=None, locals=None, /):  # noqa: A002 - exec's own parameter names
        if not isinstance(source, str):
            return builtins.exec(source, globals, locals)
        used.add(source)
        code = codes.get(source)
        if not isinstance(code, types.CodeType):
            # dont_inherit: the text is compiled as `dataclasses` compiles it, without this module's __future__
            code = codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
        return builtins.exec(code, globals, locals)

    dataclasses.exec = cached_exec
    try:
        yield
    finally:
        del dataclasses.exec
        if len(codes) > known:
            _save(path, codes if len(codes) <= MAX_ENTRIES else {s: codes[s] for s in used})
