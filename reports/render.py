"""One Jinja environment for every text format, and `render`, the single entry point for reports.

`render(report, fmt)` sees only the Report: it lays out (the analysis redacted the Report once, unless --no-redact) the sections
the analysis derived, draws the charts from the Report's chart data, and returns the text; it writes
nothing. HTML inlines the charts; Markdown links them when given `chart_folder`, the folder beside the
report where the caller writes `chart_files(report)` (the CLI: `<stem>_files/`).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from markupsafe import Markup, escape

from postmortem.model import Report, duration
from postmortem.quoting import visible_controls
from reports import charts as charts_mod
from reports.body import body
from reports.json_report import iso, render_json_doc, report_dict
from reports.mermaid import gantt
from reports.sections import causes

if TYPE_CHECKING:
    from jinja2 import Environment

# Escaped wherever they stand: code spans, emphasis, links, raw HTML, table cells, GFM strikethrough and math.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~$])")
_MD_ENTITY = re.compile(r"&(?:#|[A-Za-z][A-Za-z0-9]*;)")  # only `&` that would start an entity


def escape_at_word_edges(s: str, chars: str) -> str:
    """Backslash each of `chars` unless it stands inside a word (a letter or digit on both sides): there
    it cannot open or close emphasis (CommonMark's `_`, Jira's `-`, `+`, `*`), so `k8s_events` stays."""
    out = []
    for i, ch in enumerate(s):
        inside = 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()
        out.append("\\" + ch if ch in chars and not inside else ch)
    return "".join(out)
_MD_BLOCK_START = re.compile(r"^(\s*)([-+]\s|[-=]{2,}|#|\d+[.)]\s|\d+[.)]$)")


def md_escape(text: object) -> str:
    """Make log text inert in Markdown, escaping only what CommonMark (and GFM) would read as markup
    there: no tables broken, no links, no HTML, no emphasis, no block markup, one line. `(`, `!`, `#`
    inside a line and `_` inside a word are left as they are."""
    s = "" if text is None else str(text)
    s = visible_controls(s.replace("\r", " ").replace("\n", " ⏎ "), keep_tabs=True)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = escape_at_word_edges(s, "_")
    s = _MD_ENTITY.sub(lambda m: "\\" + m.group(0), s)
    return _MD_BLOCK_START.sub(_unblock, s)


def _unblock(m: re.Match) -> str:
    """Escape a list / heading / quote marker at the start of a line (`1.` becomes `1\\.`)."""
    marker = m.group(2)
    if marker[0].isdigit():
        return m.group(1) + marker[:-2 if marker[-1].isspace() else -1] + "\\" + marker.lstrip("0123456789")
    return m.group(1) + "\\" + marker


def md_code(text: object) -> str:
    """Inline code span that survives backticks in the text (CommonMark: longer fence)."""
    s = ("" if text is None else str(text)).replace("\r", " ").replace("\n", " ⏎ ").replace("|", "¦")
    s = visible_controls(s, keep_tabs=True)
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def md_fence(code: str) -> str:
    """A fence longer than any backtick run inside the block."""
    run = max((len(m) for m in re.findall(r"`+", code)), default=0)
    return "`" * max(3, run + 1)


def fmt_ts(ts: datetime | None, with_date: bool = True) -> str:
    if ts is None:
        return "—"
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z" if with_date else ts.strftime("%H:%M:%S.%f")[:-3]


def fmt_value(v: object) -> str:
    """Stats values: floats rounded, lists joined, so tables stay short and stable."""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    if isinstance(v, list | tuple):
        return ", ".join(fmt_value(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt_value(x)}" for k, x in v.items())
    return "" if v is None else str(v)


_CODE_SPAN = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(.+?)\*\*")


def inline_md(text: object) -> Markup:
    """Trusted Markdown (a rule's advice, a playbook step) as HTML: escaped first, then code spans and
    bold, so its code shows as code instead of literal backticks."""
    s = str(escape("" if text is None else str(text)))
    s = _CODE_SPAN.sub(lambda m: f"<code>{m.group(1).strip()}</code>", s)
    return Markup(_STRONG.sub(r"<b>\1</b>", s))


@functools.cache
def _env(autoescape: bool) -> Environment:
    """The Jinja environment, imported here so `-f json` never loads jinja2 (start-up time, issue 20); one per
    process (a batch renders many reports), its compiled templates kept between runs (`_bytecode_cache`)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("reports", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=select_autoescape(["html", "j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md_escape, code=md_code, inline_md=inline_md, ts=fmt_ts, iso=iso, val=fmt_value, fence=md_fence)
    env.globals.update(duration=duration)
    return env


def prefetch(fmt: str, charts: bool) -> threading.Thread | None:
    """Start importing what rendering `fmt` needs (jinja2; matplotlib when `charts` are drawn) on a second
    thread, for the caller to start before the analysis and `join` before rendering (issue 20): the imports
    (about 0.4 s for HTML) overlap the analysis, much of which runs in polars without the GIL. Python's
    import lock makes a module imported by both threads load once; None for JSON, which needs neither."""
    if fmt == "json":
        return None

    def work() -> None:
        try:
            import jinja2  # noqa: F401
        except Exception:  # noqa: BLE001  (rendering's own import says what is wrong)
            return
        if charts:
            charts_mod.import_matplotlib()

    thread = threading.Thread(target=work, name="postmortem-prefetch")
    thread.start()
    return thread


def _bytecode_cache():
    """Jinja's own cache of compiled templates in the user's cache folder (`$XDG_CACHE_HOME/postmortem`,
    else ~/.cache/postmortem): compiling the report templates is a fifth of rendering HTML. Entries are
    keyed by each template's source checksum, so an edited template is compiled again; None (compile every
    run) when the folder cannot be made, e.g. a read-only home."""
    from jinja2 import FileSystemBytecodeCache

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "postmortem", "jinja")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(folder)


def sections(report: Report) -> dict:
    """Everything the templates show besides the report itself (the analysis redacted the Report)."""
    return {
        "causes": causes(report),
        "impact": report.impact,
        "detection": report.detection,
        "timeline": report.merged_timeline,
        "recommendations": report.recommendations,
        "actions": report.action_items,
        "gantt": gantt(report),
        "body": body(report),
        "resolution": report.resolution,
        "stop_the_bleeding": report.stop_the_bleeding,
        "lessons": report.lessons,
        "accounting": report.accounting,
    }


def _json_sections(s: dict) -> dict:
    imp = s["impact"]
    return {
        "story": {role: [f.rule_id for _, f in items] for role, items in s["causes"].items()},
        "impact": {
            "errors": [{"kind": k.kind, "count": k.count, "hosts": k.hosts, "first": iso(k.first),
                        "last": iso(k.last), **({} if k.unit == "events" else {"unit": k.unit})}
                       for k in imp.errors],
            "hosts": [{"host": h, "problems": n} for h, n in imp.hosts],
            "endpoints": list(imp.endpoints),
            "pods": list(imp.pods),
            "durations": [{"what": w, "duration": d} for w, d in imp.durations],
        },
        "detection": [{"source": d.source, "ts": iso(d.ts), "lag": d.lag, "kind": d.kind,
                       "evidence": {"path": d.evidence.path, "line": d.evidence.line}} for d in s["detection"]],
        "recommendations": [
            {"rule_id": r.rule_id, "rule_ids": [r.rule_id, *r.also], "title": r.title, "advice": r.advice,
             "snippets": [asdict(sn) for sn in r.snippets],
             "same_as": [{"label": label, "rule_id": rid} for label, rid in r.same_as]} for r in s["recommendations"]
        ],
        "action_items": [{"kind": a.kind, "text": a.text, "rule_ids": list(a.rule_ids)} for a in s["actions"]],
        "resolution": [{"ts": iso(st.ts), "what": st.what, "text": st.text,
                        "evidence": {"path": st.evidence.path, "line": st.evidence.line}} for st in s["resolution"]],
        "stop_the_bleeding": list(s["stop_the_bleeding"]),
        "lessons": [{"kind": k, "text": t} for k, t in s["lessons"]],
        "accounting": s["accounting"],
    }


Drawn = tuple[list[charts_mod.Chart], "charts_mod.Chart | None"]  # data charts and what-if chart, drawn already


def _drawn(report: Report, drawn: Drawn | None) -> Drawn:
    """The report's charts: as given (drawn by `reports.chart_process` while the analysis ran), else drawn now."""
    return drawn if drawn is not None else (charts_mod.render_charts(report), charts_mod.whatif_chart(report))


def chart_files(report: Report, drawn: Drawn | None = None) -> list[tuple[str, str]]:
    """(file name, SVG text) of each chart, for the caller to write into the Markdown's chart folder."""
    data, extra = _drawn(report, drawn)
    return [(f"{c.name}.svg", c.svg) for c in [*data, *([extra] if extra else [])]]


FORMATS = ("md", "gfm", "jira", "html", "json")
GFM_CHARTS_NOTE = ("Charts omitted so this text pastes into a GitHub or GitLab issue as it is "
                   "(the HTML report has them).")


def render(report: Report, fmt: str, chart_folder: str | None = None, drawn: Drawn | None = None) -> str:
    """The report as `md`, `gfm` (Markdown that pastes into a GitHub / GitLab issue: no side files,
    charts omitted with a note), `jira` (Jira wiki markup), `html` or `json` text. Markdown links its
    charts as `chart_folder/<name>.svg` when a folder is given (the caller writes `chart_files(report)`
    there); HTML inlines them (`drawn`: its charts drawn already, else they are drawn here)."""
    s = sections(report)
    if fmt == "json":
        return render_json_doc({**report_dict(report), **_json_sections(s)})
    if fmt == "html":
        data, extra = _drawn(report, drawn)
        figs = [(c, Markup(charts_mod.inline_svg(c))) for c in data]
        whatif_fig = (extra, Markup(charts_mod.inline_svg(extra))) if extra else None
        return _env(True).get_template("report.html.j2").render(r=report, s=s, charts=figs, whatif_fig=whatif_fig)
    if fmt == "jira":
        from reports.jira import render_jira

        return render_jira(report, s)
    if fmt not in ("md", "gfm"):
        raise ValueError(f"unknown report format {fmt!r}")
    links, note = [], ""
    if fmt == "gfm":
        note = GFM_CHARTS_NOTE if charts_mod.available(report) else ""
    elif chart_folder is not None:
        links = [(charts_mod.Chart(name, title, ""), quote(f"{chart_folder}/{name}.svg"))
                 for name, title in charts_mod.available(report)]
    whatif_link = None
    if chart_folder is not None and report.whatif is not None and report.whatif.chart:
        whatif_link = quote(f"{chart_folder}/whatif.svg")
    return _env(False).get_template("report.md.j2").render(r=report, s=s, charts=links, charts_note=note,
                                                          whatif_link=whatif_link)


def render_markdown(report: Report) -> str:
    return render(report, "md")


def render_html(report: Report) -> str:
    return render(report, "html")


def render_json(report: Report) -> str:
    return render(report, "json")


RENDERERS = {"md": render_markdown, "html": render_html, "json": render_json}
