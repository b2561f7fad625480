"""Charts: deterministic SVG from the Report's chart data, only when the data is there, log text escaped,
ids unique when inlined."""

from __future__ import annotations

import re

from reports.charts import inline_svg, render_charts

from .test_reports import analysed, build_events, build_report, without_findings


def test_charts_are_byte_identical_across_runs():
    a = render_charts(analysed())
    b = render_charts(analysed())
    assert [c.name for c in a] == ["connections", "attempts", "pods"]
    assert [c.svg for c in a] == [c.svg for c in b]
    for c in a:
        assert "<dc:date>" not in c.svg and c.svg.lstrip().startswith("<?xml")
        assert "<text" in c.svg  # svg.fonttype none: text stays text, not glyph paths


def test_no_events_no_charts():
    assert render_charts(build_report()) == []
    assert render_charts(analysed(events=build_events().clear())) == []
    only_metrics = build_events().filter(build_events()["source"] == "metrics")
    assert [c.name for c in render_charts(analysed(events=only_metrics))] == ["connections"]


def test_outage_and_storm_windows_are_shaded():
    svg = render_charts(analysed())[1].svg
    assert "outage (PM100)" in svg and "storm (PM101)" in svg
    no_findings = without_findings(build_report())
    assert "outage (PM100)" not in render_charts(analysed(no_findings))[1].svg


def test_host_labels_are_escaped_and_come_redacted_from_the_analysis():
    raw = render_charts(analysed(build_report(redacted=False)))[2].svg
    assert "<script" not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert "hunter2" in raw  # charts draw what they are given; the analysis redacts once
    pods = render_charts(analysed())[2].svg
    assert "hunter2" not in pods and "password=***" in pods


def test_inline_svg_ids_do_not_collide():
    charts = render_charts(analysed())
    ids = [i for c in charts for i in re.findall(r'\bid="([^"]+)"', inline_svg(c))]
    assert ids and len(ids) == len(set(ids))
    for c in charts:
        svg = inline_svg(c)
        assert svg.startswith("<svg")
        for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', svg):
            assert f'id="{ref}"' in svg


def test_charts_are_drawn_from_the_report_alone():
    report = analysed()
    assert report.charts.maxclients == 10000.0
    assert [s.key for s in report.charts.attempts] == ["redis.connect_failed"]
    assert len(report.charts.pods) == 4 and sum(sum(s.ys) for s in report.charts.pods) == 60
    assert [(w.rule_id, w.start) for w in report.charts.windows] == [
        (w.rule_id, w.start) for w in sorted(report.shaded_windows, key=lambda w: (w.start, w.rule_id))]
    assert {w.rule_id for w in report.charts.windows} == {"PM100", "PM101"}
