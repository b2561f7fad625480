"""The batch index: incidents table, recurring findings, similarity groups, chart, findings table.

Everything here is a function of the incident summaries; writing files is left to `batch.py`.
Log-derived text is escaped by the templates (Jinja autoescape for HTML, `md_escape` for Markdown).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from postmortem import __version__
from postmortem.batch.similarity import METHOD, Group, group_incidents
from postmortem.batch.summary import FindingRow, IncidentSummary, rule_role
from reports.render import fmt_ts, md_escape

CHART_NAME = "incidents.svg"
MAX_IMPACT_FIGURES = 3  # the Impact column: this many findings in words, most severe first
MAX_IMPACT_CHARS = 110

FINDINGS_SCHEMA = {
    "incident": pl.String(), "rule_id": pl.String(), "name": pl.String(), "severity": pl.String(),
    "confidence": pl.String(), "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC"),
    "title": pl.String(), "stats": pl.String(),
}


@dataclass(frozen=True)
class Recurrence:
    """A rule and the analyzed incidents it was found in."""

    rule_id: str
    name: str
    role: str
    incidents: tuple[str, ...]
    of: int


@dataclass(frozen=True)
class IndexRow:
    incident: IncidentSummary
    link: str  # relative URL stem of the incident's folder
    duration: str
    trigger: FindingRow | None
    root_cause: FindingRow | None
    impact: tuple[str, ...]
    group: int | None


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _fmt_number(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:.3g}"


def _short(title: str) -> str:
    """A finding's title cut at a clause boundary, so the index cell stays a readable phrase."""
    if len(title) <= MAX_IMPACT_CHARS:
        return title
    cut = max(title.rfind(sep, 0, MAX_IMPACT_CHARS) for sep in ("; ", ", ", " ("))
    return (title[:cut] if cut > 40 else title[:MAX_IMPACT_CHARS].rstrip()) + " …"


def impact_figures(inc: IncidentSummary) -> tuple[str, ...]:
    """What the incident did, in words and figures a person reads: the titles of its storms and their
    consequences (findings that are neither a root cause, a trigger nor data quality), most severe first,
    e.g. "889 connection attempts in 5.0 s after the outage, peaking at 274/s …"."""
    hits = [f for f in sorted(inc.findings, key=lambda f: (-f.rank, f.rule_id))
            if rule_role(f.rule_id) in ("amplifier", "impact") and f.title]
    return tuple(_short(f.title) for f in hits[:MAX_IMPACT_FIGURES])


def recurrences(incidents: list[IncidentSummary], min_count: int = 2) -> list[Recurrence]:
    """Rules found in at least `min_count` analyzed incidents; root causes first, then by count."""
    analyzed = [i for i in incidents if i.ok]
    seen: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for inc in sorted(analyzed, key=lambda i: i.name):
        for f in inc.findings:
            names.setdefault(f.rule_id, f.name)
            if inc.name not in seen.setdefault(f.rule_id, []):
                seen[f.rule_id].append(inc.name)
    order = {"root cause": 0, "trigger": 1, "amplifier": 2, "impact": 3, "data quality": 4}
    recs = [Recurrence(r, names[r], rule_role(r), tuple(m), len(analyzed))
            for r, m in seen.items() if len(m) >= min_count]
    return sorted(recs, key=lambda r: (order[r.role], -len(r.incidents), r.rule_id))


def _sort_key(inc: IncidentSummary):
    return (not inc.ok, inc.window_start is None, inc.window_start or datetime.min, inc.name)


def index_rows(incidents: list[IncidentSummary], groups: list[Group]) -> list[IndexRow]:
    group_of = {m: g.number for g in groups for m in g.members}
    return [
        IndexRow(inc, quote(inc.name), fmt_duration(inc.duration_seconds), inc.trigger(), inc.root_cause(),
                 impact_figures(inc), group_of.get(inc.name))
        for inc in sorted(incidents, key=_sort_key)
    ]


def incidents_chart_svg(rows: list[IndexRow]) -> str:
    """Incidents over time (start vs duration, one marker per incident, labelled by table number).

    Deterministic SVG: fixed hash salt, no date metadata, text as text. Incident names stay out of the
    chart (they are labelled #n), so no log- or user-supplied text ends up inside the SVG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    points = [(n, r) for n, r in enumerate(rows, 1) if r.incident.ok and r.incident.window_start is not None]
    with matplotlib.rc_context({"svg.hashsalt": "postmortem-batch", "svg.fonttype": "none",
                                "font.family": "DejaVu Sans"}):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        try:
            xs = [r.incident.window_start.replace(tzinfo=None) for _, r in points]
            ys = [(r.incident.duration_seconds or 0.0) / 60 for _, r in points]
            colors = [f"C{(r.group or 1) - 1}" for _, r in points]
            ax.scatter(xs, ys, c=colors, s=36, zorder=3)
            for (n, _), x, y in zip(points, xs, ys, strict=True):
                ax.annotate(f"#{n}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
            ax.set_ylabel("duration (min)")
            ax.set_xlabel("incident start (UTC); colour = similarity group")
            ax.set_title(f"{len(points)} incidents over time")
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
            ax.grid(True, alpha=0.3)
            ax.set_ylim(bottom=0)
            fig.tight_layout()
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        finally:
            plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def findings_frame(incidents: list[IncidentSummary]) -> pl.DataFrame:
    """One row per finding of every analyzed incident, stats as a JSON object string."""
    rows = [
        {"incident": inc.name, "rule_id": f.rule_id, "name": f.name, "severity": f.severity,
         "confidence": f.confidence, "start": f.start, "end": f.end, "title": f.title,
         "stats": json.dumps(f.stats, sort_keys=True, default=str)}
        for inc in sorted(incidents, key=lambda i: i.name) if inc.ok for f in inc.findings
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _env(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]) if autoescape else False,
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters.update(md=md_escape, ts=fmt_ts)
    return env


def index_context(incidents: list[IncidentSummary], generated_at: str | None = None) -> dict:
    """Everything both index templates show, computed once (groups feed the table and the chart)."""
    groups = group_incidents(incidents)
    return {
        "rows": index_rows(incidents, groups),
        "recurring": recurrences(incidents),
        "groups": groups,
        "method": METHOD,
        "total": len(incidents),
        "analyzed": sum(1 for i in incidents if i.ok),
        "failed": sum(1 for i in incidents if not i.ok),
        "cached": sum(1 for i in incidents if i.ok and i.cached),
        "version": __version__,
        "generated_at": generated_at,
        "chart_name": CHART_NAME,
    }


def render_index(ctx: dict, fmt: str, chart_svg: str | None = None) -> str:
    """The index as Markdown (`md`, chart linked) or self-contained HTML (`html`, chart inlined)."""
    template = "index.html.j2" if fmt == "html" else "index.md.j2"
    return _env(fmt == "html").get_template(template).render(chart_svg=chart_svg, **ctx)
