"""What every chart shares: the Chart record, colours and markers per precision, axes helpers.
matplotlib with the Agg canvas and no pyplot global state; every label from a run is drawn as plain
text (mathtext off: a '$' stays a '$')."""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from qlongbench.files import atomic_write_bytes, safe_name
from qlongbench.memory import format_bytes
from qlongbench.render.prose import fmt_length

CHART_PREFIXES = ("accuracy-", "drop-", "memory", "throughput", "kld", "heatmap-", "rates")
"""File-name prefixes of the charts qlongbench writes (stale ones are removed, nothing else)."""
DPI = 110
MAX_PANEL_COLUMNS = 4
STYLE = {
    "text.parse_math": False, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "legend.fontsize": 8, "legend.frameon": False, "savefig.facecolor": "white", "figure.facecolor": "white",
}
_REFERENCE_COLOR = "#222222"
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")
_DODGE = 0.025
"""Log2 units each precision's points are shifted sideways on a length axis, so equal values stay visible."""
LINESTYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Chart:
    filename: str
    """PNG file name inside the report directory."""
    title: str
    """Heading shown above the chart."""
    caption: str
    """How to read it."""
    png: bytes
    """The image."""
    section: str
    """accuracy, drop, memory, throughput, kld, heatmap or rates."""

    def write(self, out_dir: Path) -> Path:
        path = Path(out_dir) / self.filename
        atomic_write_bytes(path, self.png)
        os.chmod(path, 0o644)
        return path

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


# --- helpers -------------------------------------------------------------------------------------
def markers(precisions: Sequence[str]) -> dict[str, str]:
    return {p: _MARKERS[i % len(_MARKERS)] for i, p in enumerate(precisions)}


def dodge(precisions: Sequence[str], precision: str, xs: Sequence[float]) -> list[float]:
    """xs shifted by the precision's slot (centred), in log2 space."""
    i = list(precisions).index(precision) if precision in precisions else 0
    shift = 2 ** (_DODGE * (i - (len(precisions) - 1) / 2))
    return [x * shift for x in xs]


def palette(precisions: Sequence[str], reference: str | None) -> dict[str, str]:
    cmap = matplotlib.colormaps["tab10"]
    out, i = {}, 0
    for p in precisions:
        if p == reference:
            out[p] = _REFERENCE_COLOR
        else:
            out[p] = matplotlib.colors.to_hex(cmap(i % 10))
            i += 1
    return out


def slug(text: str) -> str:
    return safe_name(text)


def render_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()


def length_axis(ax: Any, lengths: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(lengths))
    ax.set_xticklabels([fmt_length(n) for n in lengths])
    ax.xaxis.set_minor_locator(NullLocator())
    if len(lengths) == 1:
        ax.set_xlim(lengths[0] / 1.6, lengths[0] * 1.6)
    else:
        ax.set_xlim(min(lengths) / 1.25, max(lengths) * 1.25)


def log2_bytes_axis(ax: Any, low: float, high: float) -> None:
    """Powers of two between low and high (at most ~9 of them), labelled as bytes."""
    lo, hi = math.floor(math.log2(max(low, 1))), math.ceil(math.log2(max(high, 2)))
    exps = list(range(lo, hi + 1))
    step = max(1, math.ceil(len(exps) / 9))
    ax.yaxis.set_major_locator(FixedLocator([2.0 ** e for e in exps[::step]]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_bytes(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(low, high)


def sci_axis(ax: Any) -> None:
    """Log axis labels without mathtext (mathtext is off so that run labels stay plain text)."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")))
    ax.yaxis.set_minor_formatter(NullFormatter())


def grid(n: int, width: float = 3.4, height: float = 2.6) -> tuple[Figure, list[Any]]:
    cols = min(n, MAX_PANEL_COLUMNS)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols + 0.4, height * rows + 0.9))
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def figure_legend(fig: Figure, handles: Sequence[Any], ncol: int | None = None) -> None:
    if handles:
        fig.legend(handles=list(handles), loc="lower center", ncol=ncol or min(len(handles), 5),
                   bbox_to_anchor=(0.5, -0.01))


def precision_handles(precisions: Sequence[str], colors: dict[str, str], reference: str | None) -> list[Line2D]:
    marks = markers(precisions)
    return [Line2D([], [], color=colors[p], marker=marks[p], lw=2.2 if p == reference else 1.6,
                   label=f"{p} (reference)" if p == reference else p) for p in precisions]


def span(ns: Sequence[int]) -> str:
    ns = [n for n in ns if n]
    if not ns:
        return "0"
    return str(ns[0]) if ns[0] == ns[-1] else f"{ns[0]}–{ns[-1]}"
