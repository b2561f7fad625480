"""Charts of the incident as deterministic SVG (matplotlib, imported lazily so small runs start fast).

Same events and report → byte-identical SVG: fixed sizes, `svg.hashsalt`, no date metadata, text kept
as `<text>` (escaped by matplotlib's XML writer), math parsing off so `$` in a host name stays text.
Log-derived labels (host names, redacted by the analysis) are shortened before they reach matplotlib.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from postmortem.model import Report, event_weight

ATTEMPT_KINDS = (
    "redis.connect_failed", "redis.reconnect_attempt", "redis.server.client_accepted", "redis.max_clients",
    "redis.timeout", "redis.backlog_timeout", "redis.connection_lost", "redis.no_connection",
    "redis.pool_exhausted",
)
POD_KINDS = ("redis.connect_failed", "redis.reconnect_attempt", "redis.connection_lost")
TOP_HOSTS = 8
SIZE = (9.0, 3.2)
SHADES = {"PM100": ("#cf222e", "outage (PM100)"), "PM101": ("#bf8700", "storm (PM101)")}


@dataclass(frozen=True)
class Chart:
    name: str  # file stem: connections, attempts, pods
    title: str
    svg: str  # a complete SVG document


def _label(text: object) -> str:
    s = str(text or "")
    s = re.sub(r"[\x00-\x1f\x7f]", " ", s).lstrip("_")  # matplotlib hides labels starting with "_"
    return s[:40] or "(none)"


def _windows(report: Report) -> list[tuple[str, datetime, datetime]]:
    out = []
    for f in report.findings:
        if f.rule_id in SHADES and f.start is not None and f.end is not None and f.end >= f.start:
            out.append((f.rule_id, f.start, f.end))
    return sorted(out, key=lambda w: (w[1], w[0]))


def _figure(title: str, ylabel: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=100)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.16)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.grid(True, color="#d0d7de", linewidth=0.5)
    ax.tick_params(labelsize=8)
    return fig, ax


def _finish(fig, ax, report: Report, salt: str) -> str:
    import matplotlib
    import matplotlib.dates as mdates

    seen = set()
    for rule_id, start, end in _windows(report):
        color, label = SHADES[rule_id]
        ax.axvspan(start, end, color=color, alpha=0.12, linewidth=0, label=None if rule_id in seen else label)
        seen.add(rule_id)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))
    ax.set_xlabel("UTC", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none", "text.parse_math": False,
                                "font.family": "DejaVu Sans"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "postmortem"})
    return buf.getvalue()


def _connections(report: Report, events: pl.DataFrame) -> Chart | None:
    rows = events.filter((pl.col("metric") == "connected_clients") & pl.col("ts").is_not_null()
                         & pl.col("value").is_not_null())
    if rows.height == 0:
        return None
    series = rows.group_by("ts").agg(pl.col("value").max()).sort("ts")
    fig, ax = _figure("Connected clients (Redis)", "clients")
    ax.plot(series.get_column("ts").to_list(), series.get_column("value").to_list(), color="#0969da",
            linewidth=1.4, marker="o", markersize=2, label="connected_clients")
    maxc = events.filter(pl.col("metric") == "maxclients").get_column("value").drop_nulls()
    if maxc.len():
        ax.axhline(float(maxc.max()), color="#cf222e", linestyle="--", linewidth=1, label="maxclients")
    return Chart("connections", "Connected clients", _finish(fig, ax, report, "postmortem-connections"))


def _bucket(df: pl.DataFrame) -> tuple[str, str]:
    """Per second for incidents up to an hour, per minute beyond (keeps the SVG small)."""
    span = (df.get_column("ts").max() - df.get_column("ts").min()).total_seconds()
    return ("1s", "s") if span <= 3600 else ("1m", "min")


def _series(df: pl.DataFrame, by: str, keys: list[str], every: str) -> dict[str, tuple[list, list]]:
    """Counts per bucket for each key, with empty buckets as 0 so quiet seconds show as quiet.

    A summarized row (connection churn, activity) counts as the `event_weight()` lines it stands for.
    """
    binned = (df.with_columns(sec=pl.col("ts").dt.truncate(every)).group_by(["sec", by])
              .agg(len=event_weight().sum().round().cast(pl.Int64)))
    grid = pl.datetime_range(binned.get_column("sec").min(), binned.get_column("sec").max(), every,
                             eager=True, time_zone="UTC").alias("sec").to_frame()
    out = {}
    for key in keys:
        part = grid.join(binned.filter(pl.col(by) == key).select("sec", "len"), on="sec", how="left")
        out[key] = (part.get_column("sec").to_list(), part.get_column("len").fill_null(0).to_list())
    return out


def _attempts(report: Report, events: pl.DataFrame) -> Chart | None:
    rows = events.filter(pl.col("kind").is_in(ATTEMPT_KINDS) & pl.col("ts").is_not_null())
    if rows.height == 0:
        return None
    every, unit = _bucket(rows)
    present = set(rows.get_column("kind"))
    kinds = [k for k in ATTEMPT_KINDS if k in present]
    fig, ax = _figure(f"Connection attempts and errors per {unit}", f"events / {unit}")
    for kind, (xs, ys) in _series(rows, "kind", kinds, every).items():
        ax.plot(xs, ys, linewidth=1.2, drawstyle="steps-post", label=kind.removeprefix("redis."))
    return Chart("attempts", "Connection attempts and errors", _finish(fig, ax, report, "postmortem-attempts"))


def _pods(report: Report, events: pl.DataFrame) -> Chart | None:
    rows = events.filter(pl.col("kind").is_in(POD_KINDS) & pl.col("ts").is_not_null()
                         & pl.col("host").is_not_null())
    if rows.height == 0 or rows.get_column("host").n_unique() < 2:
        return None
    top = (rows.group_by("host").len().sort(["len", "host"], descending=[True, False]).head(TOP_HOSTS)
           .get_column("host").to_list())
    every, unit = _bucket(rows)
    fig, ax = _figure(f"Connection attempts per {unit}, top {len(top)} hosts", f"attempts / {unit}")
    for host, (xs, ys) in _series(rows.filter(pl.col("host").is_in(top)), "host", top, every).items():
        ax.plot(xs, ys, linewidth=1, drawstyle="steps-post", label=_label(host))
    return Chart("pods", "Attempts per host", _finish(fig, ax, report, "postmortem-pods"))


def render_charts(report: Report, events: pl.DataFrame | None) -> list[Chart]:
    """The charts the data supports (none without events)."""
    if events is None or events.height == 0:
        return []
    return [c for c in (_connections(report, events), _attempts(report, events), _pods(report, events)) if c]


def inline_svg(chart: Chart) -> str:
    """The SVG element for embedding in HTML: no XML prolog, ids prefixed so charts do not collide."""
    svg = chart.svg[chart.svg.index("<svg"):]
    return re.sub(r'(\bid="|href="#|url\(#)', r"\g<1>" + chart.name + "-", svg)
