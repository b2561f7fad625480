"""Charts: deterministic SVG, only when the data is there, log text escaped, ids unique when inlined."""

from __future__ import annotations

import dataclasses
import re

from postmortem.redaction import redact_events
from reports.charts import inline_svg, render_charts

from .test_reports import build_events, build_report


def test_charts_are_byte_identical_across_runs():
    a = render_charts(build_report(), build_events())
    b = render_charts(build_report(), build_events())
    assert [c.name for c in a] == ["connections", "attempts", "pods"]
    assert [c.svg for c in a] == [c.svg for c in b]
    for c in a:
        assert "<dc:date>" not in c.svg and c.svg.lstrip().startswith("<?xml")
        assert "<text" in c.svg  # svg.fonttype none: text stays text, not glyph paths


def test_no_events_no_charts():
    assert render_charts(build_report(), None) == []
    assert render_charts(build_report(), build_events().clear()) == []
    only_metrics = build_events().filter(build_events()["source"] == "metrics")
    assert [c.name for c in render_charts(build_report(), only_metrics)] == ["connections"]


def test_outage_and_storm_windows_are_shaded():
    svg = render_charts(build_report(), build_events())[1].svg
    assert "outage (PM100)" in svg and "storm (PM101)" in svg
    no_findings = dataclasses.replace(build_report(), findings=())
    assert "outage (PM100)" not in render_charts(no_findings, build_events())[1].svg


def test_host_labels_are_escaped_and_come_redacted_from_the_analysis():
    pods = render_charts(build_report(), build_events(redacted=False))[2].svg
    assert "<script" not in pods and "&lt;script&gt;alert(1)&lt;/script&gt;" in pods
    assert "hunter2" in pods  # charts draw what they are given; the analysis redacts once
    redacted = render_charts(build_report(), redact_events(build_events(redacted=False)))[2].svg
    assert "hunter2" not in redacted and "password=***" in redacted


def test_inline_svg_ids_do_not_collide():
    charts = render_charts(build_report(), build_events())
    ids = [i for c in charts for i in re.findall(r'\bid="([^"]+)"', inline_svg(c))]
    assert ids and len(ids) == len(set(ids))
    for c in charts:
        svg = inline_svg(c)
        assert svg.startswith("<svg")
        for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', svg):
            assert f'id="{ref}"' in svg
