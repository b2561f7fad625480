"""YAML from logs, read without aliases: `*name` references are refused before anything is built.

Nested aliases expand exponentially (the "billion laughs": 849 bytes → gigabytes and minutes), and
neither kubectl nor a log platform ever writes them. The event stream is scanned first (cheap, no
objects built), then the document is loaded with the C loader when available.
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AliasRefused(yaml.YAMLError):
    """The document uses a YAML alias; callers treat it like any unreadable YAML."""


def load(text: str) -> Any:
    """`yaml.safe_load(text)`, refusing any alias (see the module docstring)."""
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise AliasRefused(f"YAML alias at line {mark.line + 1 if mark else '?'} refused (aliases can expand "
                               "without bound and are never written by kubectl)")
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
