"""The postmortem's body in Jira wiki markup (`-f jira`), for pasting into a Jira issue: no side files,
no charts (a note says so), the appendix's recommendations as {code} blocks."""

from __future__ import annotations

import functools
import re

from jinja2 import Environment, PackageLoader, StrictUndefined

from postmortem.model import Report, duration
from reports.render import _bytecode_cache, escape_at_word_edges, fmt_ts

# Read as markup anywhere in a line (macros, links, table cells): escaped with a backslash.
_JIRA_ALWAYS = re.compile(r"([\\{}\[\]|])")
# Emphasis, strike, super/subscript and citation marks work only at a word's edge: `redis-py` stays as it is.
_JIRA_EDGE = "*_^~+?!-"
_JIRA_LINE_START = re.compile(r"^(\s*)([#*-]|h[1-6]\.|bq\.)")


def jira_escape(text: object) -> str:
    """Log text made inert in Jira wiki markup, on one line."""
    s = ("" if text is None else str(text)).replace("\r", " ").replace("\n", " ⏎ ")
    s = _JIRA_ALWAYS.sub(r"\\\1", s)
    s = escape_at_word_edges(s, _JIRA_EDGE)
    return _JIRA_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), s)


def jira_code(text: object) -> str:
    """A monospaced span; `{{`/`}}` inside would end it early, so braces are escaped."""
    s = ("" if text is None else str(text)).replace("\r", " ").replace("\n", " ⏎ ")
    return "{{" + re.sub(r"([{}|])", r"\\\1", s) + "}}"


@functools.cache
def _env() -> Environment:
    """One Jinja environment per process, its compiled template kept between runs, as `reports.render._env`."""
    env = Environment(loader=PackageLoader("reports", "templates"), bytecode_cache=_bytecode_cache(), autoescape=False,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(j=jira_escape, jcode=jira_code, ts=fmt_ts)
    env.globals.update(duration=duration)
    return env


def render_jira(report: Report, s: dict) -> str:
    return _env().get_template("report.jira.j2").render(r=report, s=s)
