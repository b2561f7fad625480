"""YAML from logs, read without aliases: `*name` references are refused before anything is built.

Nested aliases expand exponentially (the "billion laughs": 849 bytes → gigabytes and minutes), and
neither kubectl nor a log platform ever writes them. The event stream is scanned first (cheap, no
objects built), then the document is loaded with the C loader when available.
"""

from __future__ import annotations

from typing import Any

# PyYAML is imported on first use: its import (~10 ms, most of it compiling its Unicode regular expression)
# is then paid only by a run that reads YAML. `AliasRefused` is made with it, and `YAMLError` (what a caller of
# `load` catches) is PyYAML's, both through the module's `__getattr__`: an `except` clause names them only
# once `load` has raised, when PyYAML is loaded.


def _alias_refused() -> type[Exception]:
    """The AliasRefused class, made once PyYAML is loaded (it subclasses `yaml.YAMLError`)."""
    made = globals().get("AliasRefused")
    if made is None:
        import yaml

        class AliasRefused(yaml.YAMLError):
            """The document uses a YAML alias; callers treat it like any unreadable YAML."""

        made = globals()["AliasRefused"] = AliasRefused
    return made


def __getattr__(name: str) -> Any:
    if name == "AliasRefused":
        return _alias_refused()
    if name == "YAMLError":
        import yaml

        return yaml.YAMLError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(text: str) -> Any:
    """`yaml.safe_load(text)`, refusing any alias (see the module docstring)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise _alias_refused()(f"YAML alias at line {mark.line + 1 if mark else '?'} refused (aliases can "
                                   "expand without bound and are never written by kubectl)")
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
