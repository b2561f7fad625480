"""Charts of the incident as deterministic SVG (matplotlib, imported lazily so small runs start fast).

Drawn from the Report's chart data only (postmortem/analysis/chart_data.py computes it from the events).
Same report → byte-identical SVG: fixed sizes, `svg.hashsalt`, no date metadata, text kept as `<text>`
(escaped by matplotlib's XML writer), math parsing off so `$` in a host name stays text. Log-derived
labels (host names, redacted by the analysis) are shortened before they reach matplotlib.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC

from postmortem.model import ChartData, Report, WhatIf

SIZE = (9.0, 3.2)
TITLES = {"connections": "Connected clients", "attempts": "Connection attempts and errors",
          "pods": "Attempts per host"}  # chart name (file stem) → caption, in drawing order


@dataclass(frozen=True)
class Chart:
    name: str  # file stem: connections, attempts, pods
    title: str
    svg: str  # a complete SVG document


# What drawing imports (the SVG backend is loaded by the first `savefig`).
MATPLOTLIB_MODULES = ("matplotlib.figure", "matplotlib.dates", "matplotlib.ticker", "matplotlib.backends.backend_svg")


def import_matplotlib() -> None:
    """Import what the charts draw with. Run on a second thread by `reports.render.prefetch` while the
    analysis works (issue 20: importing matplotlib is about 0.35 s of an HTML report); a failure here is
    left for the drawing itself to raise."""
    import importlib

    for name in MATPLOTLIB_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (the main thread's own import says what is wrong)
            return


def _label(text: object) -> str:
    s = str(text or "")
    s = re.sub(r"[\x00-\x1f\x7f]", " ", s).lstrip("_")  # matplotlib hides labels starting with "_"
    return s[:40] or "(none)"


def _figure(title: str, ylabel: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=100)
    fig.subplots_adjust(left=0.08, right=0.78, top=0.88, bottom=0.16)  # the legend sits right of the data
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.grid(True, color="#d0d7de", linewidth=0.5)
    ax.tick_params(labelsize=8)
    return fig, ax


def _finish(fig, ax, data: ChartData, salt: str) -> str:
    import matplotlib
    import matplotlib.dates as mdates

    seen = set()
    for w in data.windows:
        ax.axvspan(w.start, w.end, color=w.colour, alpha=0.12, linewidth=0, label=None if w.rule_id in seen else w.label)
        seen.add(w.rule_id)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))
    ax.set_xlabel("UTC", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none", "text.parse_math": False,
                                "font.family": "DejaVu Sans"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "postmortem"})
    return buf.getvalue()


def with_gaps(xs: tuple, ys: tuple) -> tuple[list, list]:
    """The series with a break (NaN) wherever samples are missing: a gap over twice the usual sampling
    interval (and over 1.5 s) is drawn as a gap, not as a straight line through time with no data."""
    if len(xs) < 3:
        return list(xs), list(ys)
    steps = sorted((b - a).total_seconds() for a, b in zip(xs, xs[1:], strict=False))
    limit = max(1.5, 2 * steps[len(steps) // 2])
    out_x, out_y = [xs[0]], [ys[0]]
    for a, b, y in zip(xs, xs[1:], ys[1:], strict=False):
        if (b - a).total_seconds() > limit:
            out_x.append(a + (b - a) / 2)
            out_y.append(float("nan"))
        out_x.append(b)
        out_y.append(y)
    return out_x, out_y


def dwarfs(big: float, small: float, ratio: float = 20.0) -> bool:
    """One series' top is so far above another's that a linear axis would flatten the smaller one."""
    return small > 0 and big / small >= ratio


def _connections(data: ChartData) -> Chart | None:
    if not data.connections:
        return None
    fig, ax = _figure("Connected clients and the maxclients limit (Redis)", "clients")
    peak = max((max(s.ys) for s in data.connections if s.ys), default=0)
    for s in data.connections:
        x, y = with_gaps(s.xs, s.ys)
        ax.plot(x, y, color="#0969da", linewidth=1.4, marker="o", markersize=2, label=s.key)
    steps = data.maxclients_steps
    if steps is not None and steps.xs:
        end = max(steps.xs[-1], max(s.xs[-1] for s in data.connections if s.xs))
        x, y = with_gaps(steps.xs + (end,), steps.ys + (steps.ys[-1],))
        ax.step(x, y, where="post", color="#cf222e", linestyle="--", linewidth=1, label="maxclients (at the time)")
    elif data.maxclients is not None:
        ax.axhline(data.maxclients, color="#cf222e", linestyle="--", linewidth=1, label="maxclients")
    if data.maxclients is not None and dwarfs(data.maxclients, peak, 4.0):
        ax.set_yscale("log")  # a limit far above the spike would flatten it
        _plain_ticks(ax)
        ax.set_ylabel("clients (log scale)", fontsize=9)
    return Chart("connections", TITLES["connections"], _finish(fig, ax, data, "postmortem-connections"))


def _plain_ticks(ax) -> None:
    """Log-axis ticks as plain numbers (math text is off, so the default `$10^{2}$` would show raw)."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda _v, _pos: ""))


def _log_if_dwarfed(ax, series, unit: str) -> None:
    tops = [max(s.ys) for s in series if s.ys and max(s.ys) > 0]
    if len(tops) > 1 and dwarfs(max(tops), min(tops)):
        ax.set_yscale("symlog", linthresh=1)
        _plain_ticks(ax)
        ax.set_ylabel(f"events / {unit} (log scale)", fontsize=9)


def _attempts(data: ChartData) -> Chart | None:
    if not data.attempts:
        return None
    unit = data.attempts_unit
    fig, ax = _figure(f"Connection attempts and errors per {unit}", f"events / {unit}")
    for s in data.attempts:
        ax.plot(list(s.xs), list(s.ys), linewidth=1.2, drawstyle="steps-post", label=s.key.removeprefix("redis."))
    _log_if_dwarfed(ax, data.attempts, unit)
    return Chart("attempts", TITLES["attempts"], _finish(fig, ax, data, "postmortem-attempts"))


def _pods(data: ChartData) -> Chart | None:
    if not data.pods:
        return None
    unit = data.pods_unit
    fig, ax = _figure(f"Connection attempts per {unit}, top {len(data.pods)} hosts", f"attempts / {unit}")
    for s in data.pods:
        ax.plot(list(s.xs), list(s.ys), linewidth=1, drawstyle="steps-post", label=f"{_label(s.key)} ({sum(s.ys):.0f})")
    top = max(data.pods, key=lambda s: sum(s.ys)).key  # the first of equals: the analysis' order
    if top:
        ax.set_title(f"Connection attempts per {unit}, top {len(data.pods)} hosts (most: {_label(top)})",
                     fontsize=11, loc="left")
    _log_if_dwarfed(ax, data.pods, unit)
    return Chart("pods", TITLES["pods"], _finish(fig, ax, data, "postmortem-pods"))


def whatif_chart(report: Report) -> Chart | None:
    """Observed vs replayed vs predicted attempts per second (the what-if section's one chart)."""
    return draw_whatif(report.whatif)


def draw_whatif(w: WhatIf | None) -> Chart | None:
    """`whatif_chart` from the what-if section alone (what `reports.chart_process` sends to its process)."""
    if w is None or not w.chart:
        return None
    fig, ax = _figure("Connection attempts per s: observed vs model", "attempts / s")
    styles = {"observed": ("#24292f", "-"), "replay": ("#8250df", ":")}
    for s in w.chart:
        colour, line = styles.get(s.key, ("#1a7f37", "--"))
        ax.plot(list(s.xs), list(s.ys), color=colour, linestyle=line, linewidth=1.4, drawstyle="steps-post",
                label=_label(s.key))
    return Chart("whatif", "What if: attempts per second, observed vs model", _finish(fig, ax, ChartData(), "postmortem-whatif"))


def available(report: Report) -> list[tuple[str, str]]:
    """(name, title) of the charts `render_charts` draws for this report, without drawing them."""
    data = report.charts
    have = {"connections": bool(data.connections), "attempts": bool(data.attempts), "pods": bool(data.pods)}
    return [(name, title) for name, title in TITLES.items() if have[name]]


def render_charts(report: Report) -> list[Chart]:
    """The charts the report's chart data supports (none when the analysis had no events)."""
    return draw_data(report.charts)


def draw_data(data: ChartData) -> list[Chart]:
    """`render_charts` from the chart data alone (what `reports.chart_process` sends to its process)."""
    return [c for c in (_connections(data), _attempts(data), _pods(data)) if c]


def inline_svg(chart: Chart) -> str:
    """The SVG element for embedding in HTML: no XML prolog, ids prefixed so charts do not collide."""
    svg = chart.svg[chart.svg.index("<svg"):]
    return re.sub(r'(\bid="|href="#|url\(#)', r"\g<1>" + chart.name + "-", svg)
