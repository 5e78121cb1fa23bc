"""The report's charts, in reading order (each drawn where the data supports it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

from qlongbench.analysis.data import ReportData
from qlongbench.render.chart_base import CHART_PREFIXES, STYLE, Chart, palette
from qlongbench.render.charts_memory import kld_chart, memory_chart, memory_split_chart, throughput_chart
from qlongbench.render.charts_quality import accuracy_charts, drop_charts, heatmap_chart, rates_chart


def make_charts(data: ReportData) -> list[Chart]:
    """Every chart the data supports, in reading order."""
    colors = palette(data.precisions, data.reference)
    with matplotlib.rc_context(STYLE):
        out: list[Chart] = []
        out += accuracy_charts(data, colors)
        out += drop_charts(data, colors)
        for maker in (lambda: heatmap_chart(data), lambda: memory_chart(data, colors),
                      lambda: memory_split_chart(data, colors),
                      lambda: throughput_chart(data, colors), lambda: kld_chart(data, colors),
                      lambda: rates_chart(data)):
            chart = maker()
            if chart is not None:
                out.append(chart)
    return out


def remove_stale(out_dir: Path, made: Sequence[Chart]) -> None:
    """Remove charts of an earlier report in the same directory that this one did not draw."""
    keep = {c.filename for c in made}
    for path in Path(out_dir).glob("*.png"):
        if path.name.startswith(CHART_PREFIXES) and path.name not in keep:
            path.unlink()
