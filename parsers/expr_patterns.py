"""The regex patterns a polars expression applies to one column, read from the expression itself.

Why: a recognizer can prove that two texts give the same fields with one search of all its patterns at once
(parsers/stackexchange_redis.py, issue #20), and that proof must never miss a pattern a later change adds. So
the patterns are read from the serialized expressions, not listed by hand; any use of the column this reader
does not know (another function, a pattern it cannot find) is an error, and the caller then takes its slow path.
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

# string functions whose second input is a regex (or, with `literal`, a plain text) searched in the first, and
# whose result is made of the matches alone (not `find`'s offset, nor `replace`'s whole text)
_SEARCHES = ("Extract", "ExtractAll", "Contains", "CountMatches")


class UnknownUse(ValueError):
    """The column is used in a way `patterns` cannot read a pattern from."""


def _literal(node: Any) -> str:
    try:
        return node["Literal"]["Scalar"]["String"]
    except (KeyError, TypeError):
        raise UnknownUse(f"pattern not a string literal: {str(node)[:200]}") from None


def _search(function: Any, inputs: list, column: str) -> str | None:
    """The pattern of one function node whose first input is `column`, as a regex."""
    if not (isinstance(function, dict) and "StringExpr" in function):
        raise UnknownUse(f"{column} used by {str(function)[:200]}")
    op = function["StringExpr"]
    name, opts = (op, None) if isinstance(op, str) else next(iter(op.items()))
    if name == "ExtractGroups":
        return opts["pat"]
    if name not in _SEARCHES or len(inputs) < 2:
        raise UnknownUse(f"{column} used by {name}")
    literal = (opts.get("literal") if isinstance(opts, dict) else opts if name == "CountMatches" else False)
    pattern = _literal(inputs[1])
    return re.escape(pattern) if literal else pattern


def _walk(node: Any, column: str, out: list[str]) -> None:
    if isinstance(node, dict):
        fn = node.get("Function")
        if isinstance(fn, dict) and isinstance(fn.get("input"), list):
            inputs = fn["input"]
            if inputs and inputs[0] == {"Column": column}:
                out.append(_search(fn.get("function"), inputs, column))
                inputs = inputs[1:]
            if any(i == {"Column": column} for i in inputs):
                raise UnknownUse(f"{column} is not the searched text of {str(fn.get('function'))[:200]}")
            for i in inputs:
                _walk(i, column, out)
            return
        if node == {"Column": column}:
            raise UnknownUse(f"{column} used outside a string search")
        for v in node.values():
            _walk(v, column, out)
    elif isinstance(node, list):
        for v in node:
            _walk(v, column, out)


def patterns(exprs: list[pl.Expr], column: str) -> list[str]:
    """Every regex the expressions search `column` with (a literal search as its escaped regex), in order."""
    out: list[str] = []
    for e in exprs:
        _walk(json.loads(e.meta.serialize(format="json")), column, out)
    return out


def any_of(pats: list[str]) -> str:
    """One regex whose leftmost match starts where the leftmost match of any of `pats` starts (named groups
    unnamed: a name may repeat)."""
    return "|".join("(?:" + re.sub(r"\(\?P?<(\w+)>", "(?:", p) + ")" for p in pats)
