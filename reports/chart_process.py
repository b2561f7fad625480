"""The report's charts drawn by the side process while the analysis runs (issue 20: small incidents).

Drawing an HTML report's four charts costs about as much as analysing a small incident: importing matplotlib
(~0.35 s) and drawing (~0.3 s), all of it Python holding the GIL. The side process
(`postmortem/side_process.py`) imports matplotlib while the logs are read and draws the three data charts
while the what-if replay runs: the analysis hands over the chart data as soon as it is known
(`AnalyzeOptions.on_chart_data`, redacted as the Report will be), the what-if chart follows the analysis. The
same functions draw the same data, so the SVG is byte-identical to drawing here; when the side cannot give a
chart (gone, failed, or the data it got is not the final Report's), it is drawn here.
"""

from __future__ import annotations

from concurrent.futures import Future

from postmortem.model import ChartData, Report
from postmortem.side_process import SideProcess, result_or_run, submit
from reports.charts import MATPLOTLIB_MODULES, Chart, draw_data, draw_whatif

PRELOAD = (*MATPLOTLIB_MODULES, "reports.charts")  # what the side process imports to draw


class ChartDrawing:
    """The charts of one report, drawn by `side` (None: here)."""

    def __init__(self, side: SideProcess | None) -> None:
        self.side = side
        self._sent: ChartData | None = None
        self._data: Future | None = None

    def draw_data(self, data: ChartData) -> None:
        """Start drawing the data charts of `data` (the analysis calls this once the chart data is known)."""
        self._sent = data
        self._data = submit(self.side, draw_data, data)

    def charts(self, report: Report) -> tuple[list[Chart], Chart | None]:
        """The final Report's data charts and what-if chart."""
        whatif = submit(self.side, draw_whatif, report.whatif) if report.whatif is not None else None
        same = self._sent is not None and self._sent == report.charts
        data = result_or_run(self._data if same else None, draw_data, report.charts)
        return data, result_or_run(whatif, draw_whatif, report.whatif)
