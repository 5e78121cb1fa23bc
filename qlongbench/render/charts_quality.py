"""Charts of what quantization cost: accuracy and drop versus context length, the language ×
precision heatmap (coloured by significance, not by the raw difference), failure rates."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from qlongbench.analysis.cells import CellStats
from qlongbench.analysis.data import ReportData
from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.pairing import ALL_LANGUAGES
from qlongbench.render.chart_base import (
    Chart, dodge, figure_legend, fmt_length, grid, length_axis, markers, precision_handles, render_png, slug, span,
)

MAX_RATE_ROWS = 40
"""Above this many (task, language, precision) rows the rate chart pools languages."""


def differing(data: ReportData, task: str) -> set[str]:
    """Candidates with a drop (or gain) that survives Holm somewhere in this task: only they, and the
    reference, get interval bands — nine overlapping bands merge into one block."""
    return {d.candidate for d in data.drops + data.pooled_drops if d.task == task and d.significant}


# --- accuracy vs length -------------------------------------------------------------------------------
def accuracy_charts(data: ReportData, colors: dict[str, str]) -> list[Chart]:
    out = []
    cells = data.accuracy_cells
    conf = int(100 * data.confidence)
    marks = markers(data.precisions)
    for task in sorted({c.key.task for c in cells}):
        pooled = [c for c in data.pooled_cells if c.key.task == task]
        mine = [c for c in cells if c.key.task == task]
        langs = ([ALL_LANGUAGES] if pooled else []) + sorted({c.key.language for c in mine})
        lengths = sorted({c.key.length for c in mine})
        banded = differing(data, task) | {data.reference}
        fig, axes = grid(len(langs))
        for ax, lang in zip(axes, langs):
            src = pooled if lang == ALL_LANGUAGES else [c for c in mine if c.key.language == lang]
            for prec in data.precisions:
                pts = sorted((c.key.length, c) for c in src if c.key.precision == prec and c.accuracy is not None)
                if not pts:
                    continue
                xs = dodge(data.precisions, prec, [x for x, _ in pts])
                ys = [100 * c.accuracy for _, c in pts]
                strong = prec in banded
                ax.plot(xs, ys, marker=marks[prec], ms=4.5 if strong else 3, color=colors[prec],
                        lw=2.2 if prec == data.reference else (1.6 if strong else 0.9),
                        alpha=1.0 if strong else 0.55, zorder=3 if strong else 2)
                if not strong:
                    continue
                lo = [100 * c.interval.low if c.interval else y for (_, c), y in zip(pts, ys)]
                hi = [100 * c.interval.high if c.interval else y for (_, c), y in zip(pts, ys)]
                if len(xs) > 1:
                    ax.fill_between(xs, lo, hi, color=colors[prec], alpha=0.13, lw=0)
                else:
                    ax.errorbar(xs, ys, yerr=[[y - a for y, a in zip(ys, lo)], [b - y for y, b in zip(ys, hi)]],
                                color=colors[prec], capsize=3, lw=1)
            ax.set_title(f"{'all languages' if lang == ALL_LANGUAGES else lang}  (n = {span(sorted({c.n_ok for c in src}))})")
            length_axis(ax, lengths)
            ax.set_ylim(-3, 103)
            ax.set_ylabel("accuracy %")
            ax.set_xlabel("context length (tokens)")
        fig.suptitle(f"Accuracy vs context length — {task}", fontweight="bold")
        figure_legend(fig, precision_handles(data.precisions, colors, data.reference))
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        faint = [p for p in data.precisions if p not in banded and any(c.key.precision == p for c in mine)]
        out.append(Chart(f"accuracy-{slug(task)}.png", f"Accuracy vs context length: {task}",
                         f"One line per precision. Shaded bands ({conf} % Wilson intervals; graded scores: Student t) "
                         "are drawn for the reference and for precisions worse or better than it after Holm"
                         + (f"; thin lines ({', '.join(faint)}) stay inside the noise everywhere" if faint else "")
                         + ". 'all languages' pools every language's items.", render_png(fig), "accuracy"))
    return out


# --- drop vs length --------------------------------------------------------------------------------
def drop_charts(data: ReportData, colors: dict[str, str]) -> list[Chart]:
    out = []
    marks = markers(data.precisions)
    for task in sorted({d.task for d in data.drops}):
        pooled = [d for d in data.pooled_drops if d.task == task and d.paired]
        drops = pooled or [d for d in data.drops if d.task == task and d.paired]
        measured = [d for d in drops if d.verdict != "not measured"]
        if not measured:
            continue
        lengths = sorted({d.length for d in measured})
        fig = Figure(figsize=(10.5, 3.9))
        ax_abs, ax_rel = fig.subplots(1, 2)
        cands = [p for p in data.precisions if any(d.candidate == p for d in measured)]
        mde: dict[int, float] = {}
        for prec in cands:
            rows = sorted((d.length, d) for d in measured if d.candidate == prec)
            shifted = [(dodge(cands, prec, [x])[0], d) for x, d in rows]
            band = any(d.significant for _, d in rows)
            _drop_line(ax_abs, shifted, colors[prec], marks[prec], band, lambda d: d.paired.drop,
                       lambda d: d.adjusted_interval)
            _drop_line(ax_rel, shifted, colors[prec], marks[prec], band, lambda d: d.paired.relative_drop,
                       _relative_interval)
            for x, d in rows:
                if d.min_detectable_drop is not None:
                    mde[x] = max(mde.get(x, 0.0), d.min_detectable_drop)
        xs = sorted(mde)
        if xs:
            ax_abs.plot(xs, [100 * mde[x] for x in xs], color="#888888", ls=(0, (2, 2)), lw=1)
        for ax, label in ((ax_abs, f"drop vs {data.reference} (points)"),
                          (ax_rel, f"relative drop vs {data.reference} (%)")):
            ax.axhline(0, color="#444444", lw=0.8)
            length_axis(ax, lengths)
            ax.set_ylabel(label + "   ↑ worse")
            ax.set_xlabel("context length (tokens)")
        ax_abs.set_title("absolute")
        ax_rel.set_title("relative to the reference's accuracy")
        where = "pooled over languages" if pooled else (measured[0].language if measured else "")
        fig.suptitle(f"Accuracy drop vs {data.reference} — {task} ({where})", fontweight="bold")
        handles = [Line2D([], [], color=colors[p], marker=marks[p], label=p) for p in cands]
        handles += [Line2D([], [], color="#555555", marker="o", ls="", label="outside noise"),
                    Line2D([], [], color="#555555", marker="o", ls="", mfc="white", label="within noise"),
                    Line2D([], [], color="#888888", ls=(0, (2, 2)), label="min. detectable drop")]
        figure_legend(fig, handles, ncol=min(len(handles), 6))
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        skipped = len([d for d in drops if d.verdict == "not measured"])
        out.append(Chart(f"drop-{slug(task)}.png", f"Drop versus {data.reference}: {task}",
                         "Positive = the candidate is worse. Intervals of the exact paired test, each at the level Holm "
                         "tested the cell (right: the same interval over the reference's accuracy), are shaded for "
                         "precisions with a drop that survives Holm; hollow markers do not. The dotted grey line is "
                         "the smallest drop the cells' tests catch with power 0.8 (missing where none can be)."
                         + (f" {skipped} unmeasurable cells are left out (see the table)." if skipped else ""),
                         render_png(fig), "drop"))
    return out


def _relative_interval(d: DropStats) -> Any:
    from qlongbench.analysis.stats import Interval

    iv, p = d.adjusted_interval, d.paired
    if iv is None or p is None or p.reference_mean <= 0:
        return None
    return Interval(iv.low / p.reference_mean, iv.high / p.reference_mean, iv.confidence)


def _drop_line(ax: Any, rows: Sequence[tuple[float, DropStats]], color: str, marker: str, band: bool,
               value: Callable[[DropStats], float | None], interval: Callable[[DropStats], Any]) -> None:
    pts = [(x, 100 * value(d), interval(d), not d.significant) for x, d in rows if value(d) is not None]
    if not pts:
        return
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    ax.plot(xs, ys, color=color, lw=1.6 if band else 0.9, alpha=1.0 if band else 0.6, zorder=2)
    if band and len(pts) > 1 and all(p[2] is not None for p in pts):
        ax.fill_between(xs, [100 * p[2].low for p in pts], [100 * p[2].high for p in pts], color=color, alpha=0.12, lw=0)
    for x, y, _, noise in pts:
        ax.plot([x], [y], marker=marker, ms=5.5, color=color, mfc="white" if noise else color, zorder=3)


# --- heatmap of drops at the longest length --------------------------------------------------------
HEAT_COLORS = {"worse": "#c62828", "better": "#1565c0", "within noise": "#eeeeee", "not measured": "#ffffff"}


def heatmap_chart(data: ReportData) -> Chart | None:
    tasks = sorted({d.task for d in data.drops})
    if not tasks:
        return None
    panels = []
    for task in tasks:
        mine = [d for d in data.drops if d.task == task]
        longest = max(d.length for d in mine)
        at = [d for d in mine if d.length == longest]
        langs = sorted({d.language for d in at})
        cands = [p for p in data.precisions if any(d.candidate == p for d in at)]
        panels.append((task, longest, langs, cands, {(d.language, d.candidate): d for d in at}))
    width = sum(1.2 + 0.9 * len(c) for _, _, _, c, _ in panels) + 1.5
    height = 1.6 + 0.32 * max(len(l) for _, _, l, _, _ in panels)
    fig = Figure(figsize=(max(5.5, width), max(3.0, height)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (task, longest, langs, cands, cell) in zip(axes, panels):
        colors = [[_heat_color(cell.get((lang, c))) for c in cands] for lang in langs]
        ax.imshow([[matplotlib.colors.to_rgb(x) for x in row] for row in colors], aspect="auto")
        ax.set_xticks(range(len(cands)))
        ax.set_xticklabels(cands, rotation=30, ha="right")
        ax.set_yticks(range(len(langs)))
        ax.set_yticklabels(langs)
        ax.grid(False)
        for i, lang in enumerate(langs):
            for j, c in enumerate(cands):
                d = cell.get((lang, c))
                text = "–" if d is None else ("n/m" if d.verdict == "not measured" else f"{100 * d.paired.drop:+.0f}")
                dark = d is not None and d.significant
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "#444444",
                        fontweight="bold" if dark else "normal")
        ax.set_title(f"{task} at {fmt_length(longest)}")
    fig.legend(handles=[Patch(color=HEAT_COLORS["worse"], label="worse after Holm"),
                        Patch(color=HEAT_COLORS["better"], label="better after Holm"),
                        Patch(color=HEAT_COLORS["within noise"], label="within the noise"),
                        Patch(facecolor="white", edgecolor="#999999", label="n/m: not measured")],
               loc="outside lower center", ncol=4)
    fig.suptitle("Drop by language and precision at the longest length", fontweight="bold")
    return Chart("heatmap-drops.png", "Language × precision drops at the longest length",
                 "Colour says whether a cell's drop survives Holm (red: worse, blue: better, grey: within the "
                 "noise), with deeper colour for larger such drops; the number is the drop in points. "
                 "n/m: the reference cannot show a drop there.", render_png(fig), "heatmap")


def _heat_color(d: DropStats | None) -> str:
    if d is None or d.verdict == "not measured":
        return HEAT_COLORS["not measured"]
    if not d.significant:
        return HEAT_COLORS["within noise"]
    base = matplotlib.colors.to_rgb(HEAT_COLORS[d.verdict])
    strength = min(1.0, 0.45 + abs(d.paired.drop) * 1.5)
    return matplotlib.colors.to_hex(tuple(1 - strength * (1 - c) for c in base))


# --- failure rates -------------------------------------------------------------------------------
_RATES: tuple[tuple[str, str], ...] = (("parse_failure_rate", "parse failure"), ("empty_rate", "empty output"),
                                       ("overlength_rate", "overlength"), ("oom_rate", "OOM"), ("error_rate", "error"))


def rates_chart(data: ReportData) -> Chart | None:
    cells = data.cells
    if not cells:
        return None
    lengths = sorted({c.key.length for c in cells})
    pooled = len({(c.key.task, c.key.language, c.key.precision) for c in cells}) > MAX_RATE_ROWS
    if pooled:
        multi = {c.key.task for c in data.pooled_cells}
        cells = list(data.pooled_cells) + [c for c in data.cells if c.key.task not in multi]
    rows = sorted({(c.key.task, c.key.language, c.key.precision) for c in cells},
                  key=lambda r: (r[0], r[1], data.precisions.index(r[2]) if r[2] in data.precisions else 99))
    index = {(c.key.task, c.key.language, c.key.precision, c.key.length): c for c in cells}
    fig = Figure(figsize=(2.6 + len(_RATES) * (0.55 * len(lengths) + 0.5), 1.5 + 0.26 * len(rows)))
    axes = fig.subplots(1, len(_RATES), sharey=True)
    cmap = matplotlib.colormaps["Reds"].with_extremes(bad="#eeeeee")
    for ax, (attr, title) in zip(axes, _RATES):
        table = [[_rate(index.get((t, lang, p, n)), attr, t in data.logprob_tasks) for n in lengths] for t, lang, p in rows]
        values = [[float("nan") if v is None else 100 * v for v in line] for line in table]
        ax.imshow(values, cmap=cmap, vmin=0, vmax=100, aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(len(lengths)))
        ax.set_xticklabels([fmt_length(n) for n in lengths])
        ax.set_title(title)
        for i, line in enumerate(values):
            for j, v in enumerate(line):
                ax.text(j, i, "n/a" if math.isnan(v) else f"{v:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if not math.isnan(v) and v > 60 else ("#999999" if math.isnan(v) or v == 0 else "black"))
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels([f"{t} · {lang} · {p}" for t, lang, p in rows])
    fig.suptitle("Failure rates per cell (%)", fontweight="bold")
    fig.tight_layout()
    return Chart("rates.png", "Parse-failure, empty-output, overlength, OOM and error rates",
                 "Percent per cell. Parse failure and empty output are shares of the scored records; overlength, "
                 "OOM and error are shares of all the cell's samples. n/a: not applicable (log-prob tasks produce "
                 "no text) or nothing was scored." + (" Languages are pooled (too many rows)." if pooled else ""),
                 render_png(fig), "rates")


def _rate(c: CellStats | None, attr: str, logprob: bool) -> float | None:
    if c is None or (logprob and attr in ("parse_failure_rate", "empty_rate")):
        return None
    return getattr(c, attr)
