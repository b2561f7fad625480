"""One Jinja environment for every text format; renderers see only the Report."""

from __future__ import annotations

import re
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from postmortem.model import Report
from reports.json_report import iso, render_json

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def md_escape(text: object) -> str:
    """Make log text inert in Markdown: no tables broken, no markup, no HTML, one line."""
    s = "" if text is None else str(text)
    s = s.replace("\r", " ").replace("\n", " ⏎ ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_code(text: object) -> str:
    """Inline code span that survives backticks in the text (CommonMark: longer fence)."""
    s = ("" if text is None else str(text)).replace("\r", " ").replace("\n", " ⏎ ").replace("|", "¦")
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def fmt_ts(ts: datetime | None, with_date: bool = True) -> str:
    if ts is None:
        return "—"
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z" if with_date else ts.strftime("%H:%M:%S.%f")[:-3]


def _env(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md_escape, code=md_code, ts=fmt_ts, iso=iso)
    return env


def render_markdown(report: Report) -> str:
    return _env(False).get_template("report.md.j2").render(r=report)


def render_html(report: Report) -> str:
    return _env(True).get_template("report.html.j2").render(r=report)


RENDERERS = {"md": render_markdown, "html": render_html, "json": render_json}
