"""The report's charts as PNG bytes (matplotlib, Agg, no pyplot global state).

1. accuracy vs context length per task (and language), one line per precision, Wilson bands;
2. drop vs the reference (points and %) vs length, paired bootstrap bands;
3. KV-cache memory vs context: measured, formula, weights of each precision, and the length at
   which the cache takes back what quantizing the weights saved (plus throughput and peak memory);
4. KL divergence and top-1 agreement vs position;
5. language × precision heatmap of drops at the longest length;
6. parse-failure, empty-output, overlength, OOM and error rates per cell.
Every label that comes from a run is drawn as plain text (mathtext off: a '$' stays a '$')."""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from qlongbench.memory import format_bytes, kv_element_bytes
from qlongbench.report import ALL_LANGUAGES, CellStats, DropStats, ReportData, kv_bytes_per_token

CHART_PREFIXES = ("accuracy-", "drop-", "memory", "throughput", "kld", "heatmap-", "rates")
"""File-name prefixes of the charts this module writes (stale ones are removed, nothing else)."""
DPI = 110
MAX_PANEL_COLUMNS = 4
MAX_RATE_ROWS = 40
"""Above this many (task, language, precision) rows the rate chart pools languages."""
_STYLE = {
    "text.parse_math": False, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "legend.fontsize": 8, "legend.frameon": False, "savefig.facecolor": "white", "figure.facecolor": "white",
}
_REFERENCE_COLOR = "#222222"
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")
_DODGE = 0.025
"""Log2 units each precision's points are shifted sideways on a length axis, so equal values stay visible."""
_LINESTYLES = ("-", "--", ":", "-.")


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
        fd, tmp = tempfile.mkstemp(prefix=f".{self.filename}.", dir=out_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.png)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def remove_stale(out_dir: Path, made: Sequence[Chart]) -> None:
    """Remove charts of an earlier report in the same directory that this one did not draw."""
    keep = {c.filename for c in made}
    for path in Path(out_dir).glob("*.png"):
        if path.name.startswith(CHART_PREFIXES) and path.name not in keep:
            path.unlink()


# --- helpers -------------------------------------------------------------------------------------
def fmt_length(n: float) -> str:
    """256 -> '256', 4096 -> '4k', 131072 -> '128k'."""
    n = int(round(n))
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}k"
    if n >= 10_000:
        return f"{n / 1024:.0f}k"
    return str(n)


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
    from qlongbench.store import safe_name

    return safe_name(text)


def _render(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()


def _length_axis(ax: Any, lengths: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(lengths))
    ax.set_xticklabels([fmt_length(n) for n in lengths])
    ax.xaxis.set_minor_locator(NullLocator())
    if len(lengths) == 1:
        ax.set_xlim(lengths[0] / 1.6, lengths[0] * 1.6)
    else:
        ax.set_xlim(min(lengths) / 1.25, max(lengths) * 1.25)


def _log2_bytes_axis(ax: Any, low: float, high: float) -> None:
    """Powers of two between low and high (at most ~9 of them), labelled as bytes."""
    lo, hi = math.floor(math.log2(max(low, 1))), math.ceil(math.log2(max(high, 2)))
    exps = list(range(lo, hi + 1))
    step = max(1, math.ceil(len(exps) / 9))
    ax.yaxis.set_major_locator(FixedLocator([2.0 ** e for e in exps[::step]]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_bytes(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(low, high)


def _sci_axis(ax: Any) -> None:
    """Log axis labels without mathtext (mathtext is off so that run labels stay plain text)."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _grid(n: int, width: float = 3.4, height: float = 2.6) -> tuple[Figure, list[Any]]:
    cols = min(n, MAX_PANEL_COLUMNS)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols + 0.4, height * rows + 0.9))
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _figure_legend(fig: Figure, handles: Sequence[Any], ncol: int | None = None) -> None:
    if handles:
        fig.legend(handles=list(handles), loc="lower center", ncol=ncol or min(len(handles), 5),
                   bbox_to_anchor=(0.5, -0.01))


def _precision_handles(precisions: Sequence[str], colors: dict[str, str], reference: str | None) -> list[Line2D]:
    marks = markers(precisions)
    return [Line2D([], [], color=colors[p], marker=marks[p], lw=2.2 if p == reference else 1.6,
                   label=f"{p} (reference)" if p == reference else p) for p in precisions]


# --- 1. accuracy vs length -------------------------------------------------------------------------
def accuracy_charts(data: ReportData, colors: dict[str, str]) -> list[Chart]:
    out = []
    cells = [c for c in data.accuracy_cells]
    tasks = sorted({c.key.task for c in cells})
    conf = int(100 * data.confidence)
    for task in tasks:
        pooled = [c for c in data.pooled_cells if c.key.task == task]
        mine = [c for c in cells if c.key.task == task]
        langs = ([ALL_LANGUAGES] if pooled else []) + sorted({c.key.language for c in mine})
        lengths = sorted({c.key.length for c in mine})
        fig, axes = _grid(len(langs))
        marks = markers(data.precisions)
        for ax, lang in zip(axes, langs):
            src = pooled if lang == ALL_LANGUAGES else [c for c in mine if c.key.language == lang]
            for prec in data.precisions:
                pts = sorted((c.key.length, c) for c in src if c.key.precision == prec and c.accuracy is not None)
                if not pts:
                    continue
                xs = dodge(data.precisions, prec, [x for x, _ in pts])
                ys = [100 * c.accuracy for _, c in pts]
                lo = [100 * c.interval.low if c.interval else y for (_, c), y in zip(pts, ys)]
                hi = [100 * c.interval.high if c.interval else y for (_, c), y in zip(pts, ys)]
                ref = prec == data.reference
                ax.plot(xs, ys, marker=marks[prec], ms=4.5, color=colors[prec], lw=2.2 if ref else 1.6,
                        zorder=3 if ref else 2)
                if len(xs) > 1:
                    ax.fill_between(xs, lo, hi, color=colors[prec], alpha=0.12, lw=0)
                else:
                    ax.errorbar(xs, ys, yerr=[[y - a for y, a in zip(ys, lo)], [b - y for y, b in zip(ys, hi)]],
                                color=colors[prec], capsize=3, lw=1)
            ns = sorted({c.n_ok for c in src})
            ax.set_title(f"{'all languages' if lang == ALL_LANGUAGES else lang}  (n = {_span(ns)} per point)")
            _length_axis(ax, lengths)
            ax.set_ylim(-3, 103)
            ax.set_ylabel("accuracy %")
            ax.set_xlabel("context length (tokens)")
        fig.suptitle(f"Accuracy vs context length — {task}", fontweight="bold")
        _figure_legend(fig, _precision_handles(data.precisions, colors, data.reference))
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        out.append(Chart(f"accuracy-{slug(task)}.png", f"Accuracy vs context length: {task}",
                         f"One line per precision; shaded bands are {conf} % Wilson intervals per cell "
                         f"(graded scores: bootstrap intervals). 'all languages' pools every language's items.",
                         _render(fig), "accuracy"))
    return out


def _span(ns: Sequence[int]) -> str:
    ns = [n for n in ns if n]
    if not ns:
        return "0"
    return str(ns[0]) if ns[0] == ns[-1] else f"{ns[0]}–{ns[-1]}"


# --- 2. drop vs length ------------------------------------------------------------------------------
def drop_charts(data: ReportData, colors: dict[str, str]) -> list[Chart]:
    out = []
    tasks = sorted({d.task for d in data.drops})
    conf = int(100 * data.confidence)
    for task in tasks:
        pooled = [d for d in data.pooled_drops if d.task == task]
        drops = pooled or [d for d in data.drops if d.task == task]
        lengths = sorted({d.length for d in drops})
        fig = Figure(figsize=(10.5, 3.9))
        ax_abs, ax_rel = fig.subplots(1, 2)
        cands = [p for p in data.precisions if any(d.candidate == p for d in drops)]
        marks = markers(data.precisions)
        mde: dict[int, float] = {}
        for prec in cands:
            rows = sorted((d.length, d) for d in drops if d.candidate == prec)
            shifted = [(dodge(cands, prec, [x])[0], d) for x, d in rows]
            _drop_line(ax_abs, shifted, colors[prec], marks[prec], lambda d: d.paired.drop, lambda d: d.paired.interval)
            _drop_line(ax_rel, shifted, colors[prec], marks[prec], lambda d: d.paired.relative_drop,
                       lambda d: d.paired.relative_interval)
            for x, d in rows:
                mde[x] = max(mde.get(x, 0.0), d.paired.min_detectable_drop)
        if mde:
            xs = sorted(mde)
            ax_abs.plot(xs, [100 * mde[x] for x in xs], color="#888888", ls=(0, (2, 2)), lw=1)
        for ax, label in ((ax_abs, f"drop vs {data.reference} (points)"), (ax_rel, f"relative drop vs {data.reference} (%)")):
            ax.axhline(0, color="#444444", lw=0.8)
            _length_axis(ax, lengths)
            ax.set_ylabel(label + "   ↑ worse")
            ax.set_xlabel("context length (tokens)")
        ax_abs.set_title("absolute")
        ax_rel.set_title("relative to the reference's accuracy")
        if not any(d.paired.relative_drop is not None for d in drops):
            ax_rel.text(0.5, 0.5, "undefined: the reference scored 0 on these items", transform=ax_rel.transAxes,
                        ha="center", va="center", color="#777777")
            ax_rel.set_yticks([])
        where = "pooled over languages" if pooled else (drops[0].language if drops else "")
        fig.suptitle(f"Accuracy drop vs {data.reference} — {task} ({where})", fontweight="bold")
        handles = [Line2D([], [], color=colors[p], marker=marks[p], label=p) for p in cands]
        handles += [Line2D([], [], color="#555555", marker="o", ls="", label="outside noise"),
                    Line2D([], [], color="#555555", marker="o", ls="", mfc="white", label="within noise"),
                    Line2D([], [], color="#888888", ls=(0, (2, 2)), label="min. detectable drop")]
        _figure_legend(fig, handles, ncol=min(len(handles), 6))
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        out.append(Chart(f"drop-{slug(task)}.png", f"Drop versus {data.reference}: {task}",
                         f"Positive = the candidate is worse. Bands are {conf} % paired bootstrap intervals on the "
                         "same items; hollow markers are drops within the noise (the interval contains 0). The dotted "
                         "grey line is the smallest drop these n items could detect (power 0.8).",
                         _render(fig), "drop"))
    return out


def _drop_line(ax: Any, rows: Sequence[tuple[float, DropStats]], color: str, marker: str,
               value: Callable[[DropStats], float | None], interval: Callable[[DropStats], Any]) -> None:
    pts = [(x, 100 * value(d), interval(d), d.paired.within_noise) for x, d in rows if value(d) is not None]
    if not pts:
        return
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    ax.plot(xs, ys, color=color, lw=1.6, zorder=2)
    if len(pts) > 1 and all(p[2] is not None for p in pts):
        ax.fill_between(xs, [100 * p[2].low for p in pts], [100 * p[2].high for p in pts], color=color, alpha=0.12, lw=0)
    else:
        for x, y, iv, _ in pts:
            if iv is not None:
                ax.errorbar([x], [y], yerr=[[y - 100 * iv.low], [100 * iv.high - y]], color=color, capsize=3, lw=1)
    for x, y, _, noise in pts:
        ax.plot([x], [y], marker=marker, ms=5.5, color=color, mfc="white" if noise else color, zorder=3)


# --- 3. memory ----------------------------------------------------------------------------------------
def memory_chart(data: ReportData, colors: dict[str, str]) -> Chart | None:
    rows = [m for m in data.memory if m.kv_cache_bytes is not None and m.tokens]
    precs = data.meta.get("precisions", {})
    if not rows and not any((precs.get(p) or {}).get("weight_bytes") for p in data.precisions):
        return None
    model = data.meta.get("model") or {}
    max_pos = model.get("max_position_embeddings") or 0
    lengths = sorted({m.length for m in data.memory}) or [1024]
    x_lo = min(lengths) / 2
    x_hi = max(max(lengths) * 2, max_pos * 1.4)
    crossings = [s for s in data.savings if s.crossover_tokens]
    if crossings:
        x_hi = max(x_hi, min(max(s.crossover_tokens for s in crossings) * 1.5, 1e8))
    fig = Figure(figsize=(10, 7.2))
    ax = fig.subplots()
    handles: list[Any] = []
    xs = [x_lo * (x_hi / x_lo) ** (i / 100) for i in range(101)]
    per_elem: dict[float, list[str]] = defaultdict(list)
    for p in data.precisions:
        eb = kv_element_bytes(precs.get(p) or {})
        if eb is not None and kv_bytes_per_token(data.meta, p):
            per_elem[eb].append(p)
    greys = ["#555555", "#999999", "#bbbbbb"]
    for i, (eb, members) in enumerate(sorted(per_elem.items(), reverse=True)):
        bpt = kv_bytes_per_token(data.meta, members[0])
        line, = ax.plot(xs, [bpt * x for x in xs], color=greys[i % len(greys)], ls="--", lw=1.3,
                        label=f"KV formula, {eb:g} B/element ({', '.join(members)})")
        handles.append(line)
    marks = markers(data.precisions)
    for i, p in enumerate(data.precisions):
        mine = [m for m in rows if m.precision == p]
        # Hollow markers shrinking precision by precision: equal measurements stay visible.
        size = max(30, 120 - 22 * i)
        if mine:
            handles.append(ax.scatter([m.tokens for m in mine], [m.kv_cache_bytes for m in mine], marker=marks[p],
                                      facecolors="none", edgecolors=colors[p], linewidths=1.6, s=size, zorder=4,
                                      label=f"KV measured, {p}"))
        alloc = [m for m in data.memory if m.precision == p and m.kv_cache_allocator_bytes and m.tokens]
        if alloc:
            handles.append(ax.scatter([m.tokens for m in alloc], [m.kv_cache_allocator_bytes for m in alloc],
                                      color=colors[p], marker="x", s=size / 2, zorder=4, label=f"KV CUDA allocator, {p}"))
    for p in data.precisions:
        w = (precs.get(p) or {}).get("weight_bytes")
        if w:
            handles.append(ax.axhline(w, color=colors[p], ls=":", lw=1.4,
                                      label=f"weights {p}: {format_bytes(w)}"))
    for i, s in enumerate(crossings):
        c = colors[s.precision]
        ax.plot([x_lo, s.crossover_tokens], [s.saved_bytes, s.saved_bytes], color=c, ls="-.", lw=1.2)
        ax.plot([s.crossover_tokens], [s.saved_bytes], marker="*", ms=13, color=c, mec="black", mew=0.5, zorder=5)
        ax.annotate(f"{fmt_length(s.crossover_tokens)} tokens", (s.crossover_tokens, s.saved_bytes),
                    textcoords="offset points", xytext=(8, -14 - 12 * i), fontsize=8, color=c)
        handles.append(Line2D([], [], color=c, ls="-.", marker="*", ms=10, mec="black", mew=0.5,
                              label=f"{s.precision} saves {format_bytes(s.saved_bytes)} of weights; the KV cache "
                                    f"reaches that at {s.crossover_tokens:,} tokens"))
    if max_pos:
        ax.axvline(max_pos, color="#cccccc", lw=1)
        ax.annotate("model's max context", (max_pos, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                    va="bottom", ha="right", fontsize=7, color="#888888")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ticks = [2 ** k for k in range(int(math.log2(x_lo)) + 1, int(math.log2(x_hi)) + 1)]
    step = max(1, len(ticks) // 10)
    ax.set_xticks(ticks[::step])
    ax.set_xticklabels([fmt_length(t) for t in ticks[::step]])
    ax.xaxis.set_minor_locator(NullLocator())
    ys = [m.kv_cache_bytes for m in rows] + [(precs.get(p) or {}).get("weight_bytes") or 0 for p in data.precisions]
    ys += [s.saved_bytes for s in crossings]
    bpts = [kv_bytes_per_token(data.meta, p) for p in data.precisions]
    bpts = [b for b in bpts if b]
    if bpts:
        ys += [min(bpts) * x_lo, max(bpts) * x_hi]
    ys = [y for y in ys if y and y > 0]
    _log2_bytes_axis(ax, min(ys) / 1.5, max(ys) * 1.5)
    ax.set_xlabel("tokens in the KV cache")
    ax.set_ylabel("bytes (log scale)")
    ax.set_title("KV-cache memory vs context length, beside the weights", fontweight="bold")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=7.5)
    fig.tight_layout()
    return Chart("memory.png", "KV-cache memory vs context length",
                 "Hollow markers: KV-cache bytes measured by the engine at the end of each prompt (median per "
                 "length); dashed: the formula 2 · layers · KV heads · head dim · tokens · bytes; dotted: each "
                 "precision's weights. " + (
                     "A star marks the context length at which the cache alone is as large as what quantizing the "
                     "weights saved versus the reference: past it, the cache dominates the memory bill."
                     if crossings else "No precision in this run has smaller weights than the reference, so there "
                     "is no saving for the cache to outgrow."),
                 _render(fig), "memory")


def throughput_chart(data: ReportData, colors: dict[str, str]) -> Chart | None:
    rows = data.memory
    if not rows or not any(m.prefill_tokens_per_s or m.decode_tokens_per_s or m.peak_bytes for m in rows):
        return None
    lengths = sorted({m.length for m in rows})
    fig = Figure(figsize=(12, 3.6))
    axes = fig.subplots(1, 3)
    marks = markers(data.precisions)
    peak_max = max((m.peak_bytes or 0) for m in rows)
    unit, scale = ("GiB", 2.0 ** 30) if peak_max >= 2 * 2 ** 30 else ("MiB", 2.0 ** 20)
    specs = [("prefill_tokens_per_s", "prefill tokens / s", 1.0), ("decode_tokens_per_s", "decode tokens / s", 1.0),
             ("peak_bytes", f"peak memory ({unit})", scale)]
    for ax, (attr, label, div) in zip(axes, specs):
        top = 0.0
        for p in data.precisions:
            pts = sorted((m.length, getattr(m, attr) / div) for m in rows if m.precision == p and getattr(m, attr))
            if pts:
                ax.plot(dodge(data.precisions, p, [x for x, _ in pts]), [y for _, y in pts], marker=marks[p], ms=4.5,
                        color=colors[p], lw=2.2 if p == data.reference else 1.6)
                top = max(top, max(y for _, y in pts))
        _length_axis(ax, lengths)
        ax.set_title(label)
        ax.set_xlabel("context length (tokens)")
        ax.set_ylim(0, top * 1.12 if top > 0 else 1)
    sources = sorted({m.peak_source for m in rows if m.peak_source})
    fig.suptitle("Throughput and peak memory", fontweight="bold")
    _figure_legend(fig, _precision_handles(data.precisions, colors, data.reference))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return Chart("throughput.png", "Throughput and peak memory",
                 "Prefill and decode tokens per second summed over each length's records (context reuse counts "
                 f"only the tokens actually run); peak memory is {', '.join(sources) or 'not measured'} "
                 "(process peak RSS includes the weights and the Python process).",
                 _render(fig), "throughput")


# --- 4. KL vs position ----------------------------------------------------------------------------
def kld_chart(data: ReportData, colors: dict[str, str]) -> Chart | None:
    rows = [k for k in data.kld if k.positions]
    if not rows:
        return None
    # Pool languages per (precision, length), weighted by documents.
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for k in rows:
        groups[(k.precision, k.length)].append(k)
    lengths = sorted({k.length for k in rows})
    style = {n: _LINESTYLES[i % len(_LINESTYLES)] for i, n in enumerate(lengths)}
    fig = Figure(figsize=(11, 4.0))
    ax_kl, ax_top = fig.subplots(1, 2)
    marks = markers(data.precisions)
    for (prec, length), ks in sorted(groups.items(), key=lambda kv: (data.precisions.index(kv[0][0]), kv[0][1])):
        nb = min(len(k.positions) for k in ks)
        w = [k.n for k in ks]
        pos = [sum(k.positions[b] * n for k, n in zip(ks, w)) / sum(w) for b in range(nb)]
        kl = [sum(k.bucket_kl[b] * n for k, n in zip(ks, w)) / sum(w) for b in range(nb)]
        top = [100 * sum(k.bucket_top1[b] * n for k, n in zip(ks, w)) / sum(w) for b in range(nb)]
        c, ls = colors[prec], style[length]
        ax_kl.plot(pos, [max(v, 1e-12) for v in kl], color=c, ls=ls, marker=marks[prec], ms=3.5, lw=1.5)
        if len(ks) == 1 and ks[0].bucket_kl_low:
            ax_kl.fill_between(pos, [max(v, 1e-12) for v in ks[0].bucket_kl_low[:nb]],
                               [max(v, 1e-12) for v in ks[0].bucket_kl_high[:nb]], color=c, alpha=0.1, lw=0)
        ax_top.plot(pos, top, color=c, ls=ls, marker=marks[prec], ms=3.5, lw=1.5)
    values = [v for k in rows for v in k.bucket_kl if v > 0]
    if values and max(values) / min(values) < 20:
        # Less than ~one decade: a log axis would show a single tick.
        ax_kl.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    else:
        ax_kl.set_yscale("log")
        _sci_axis(ax_kl)
    ax_kl.set_ylabel(f"mean KL({data.reference} ‖ precision), nats")
    ax_top.set_ylabel(f"top-1 agreement with {data.reference} %")
    top_min = min(min(k.bucket_top1) for k in rows if k.bucket_top1)
    ax_top.set_ylim(max(0, 100 * top_min - 5), 100.5)
    for ax in (ax_kl, ax_top):
        ax.set_xlabel("token position in the document")
        ax.set_xlim(0, max(lengths) * 1.02)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_length(v) if v >= 1024 else f"{v:.0f}"))
    fig.suptitle(f"Next-token distribution vs {data.reference}, by position", fontweight="bold")
    precs = [p for p in data.precisions if any(k.precision == p for k in rows)]
    handles = [Line2D([], [], color=colors[p], marker=marks[p], lw=2, label=p) for p in precs]
    if len(lengths) > 1:
        handles += [Line2D([], [], color="#555555", ls=style[n], label=f"length {fmt_length(n)}") for n in lengths]
    _figure_legend(fig, handles, ncol=min(len(handles), 6))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return Chart("kld.png", "KL divergence and top-1 agreement vs position",
                 "Each point averages one position bucket over the documents. KL is computed over the "
                 "reference's top-k tokens plus one tail bucket (a lower bound of the full-vocabulary KL). A curve "
                 "that rises to the right is damage that grows with context.", _render(fig), "kld")


# --- 5. heatmap of drops at the longest length ------------------------------------------------------
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
    vmax = max(10.0, max(abs(100 * d.paired.drop) for d in data.drops))
    width = sum(1.2 + 0.9 * len(c) for _, _, _, c, _ in panels) + 1.5
    height = 1.4 + 0.32 * max(len(l) for _, _, l, _, _ in panels)
    fig = Figure(figsize=(max(5.5, width), max(2.8, height)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    cmap = matplotlib.colormaps["RdBu_r"]
    image = None
    for ax, (task, longest, langs, cands, cell) in zip(axes, panels):
        grid = [[100 * cell[(lang, c)].paired.drop if (lang, c) in cell else float("nan") for c in cands] for lang in langs]
        image = ax.imshow(grid, cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(cands)))
        ax.set_xticklabels(cands, rotation=30, ha="right")
        ax.set_yticks(range(len(langs)))
        ax.set_yticklabels(langs)
        ax.grid(False)
        for i, lang in enumerate(langs):
            for j, c in enumerate(cands):
                d = cell.get((lang, c))
                if d is None:
                    ax.text(j, i, "–", ha="center", va="center", fontsize=8, color="#777777")
                    continue
                v = 100 * d.paired.drop
                ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(v) > 0.6 * vmax else "black",
                        fontweight="normal" if d.paired.within_noise else "bold",
                        fontstyle="italic" if d.paired.within_noise else "normal")
        ax.set_title(f"{task} at {fmt_length(longest)}")
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), fraction=0.05, pad=0.02)
        bar.set_label(f"drop vs {data.reference} (points, + = worse)")
    fig.suptitle("Drop by language and precision at the longest length", fontweight="bold")
    return Chart("heatmap-drops.png", "Language × precision drops at the longest length",
                 "Red = worse than the reference. Bold numbers are outside the noise (the paired bootstrap interval "
                 "excludes 0); italic numbers are within it.", _render(fig), "heatmap")


# --- 6. failure rates -------------------------------------------------------------------------------
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
        cells = [c for c in data.pooled_cells] + [c for c in data.cells if c.key.task not in multi]
    rows = sorted({(c.key.task, c.key.language, c.key.precision) for c in cells},
                  key=lambda r: (r[0], r[1], data.precisions.index(r[2]) if r[2] in data.precisions else 99))
    index = {(c.key.task, c.key.language, c.key.precision, c.key.length): c for c in cells}
    fig = Figure(figsize=(2.6 + len(_RATES) * (0.55 * len(lengths) + 0.5), 1.5 + 0.26 * len(rows)))
    axes = fig.subplots(1, len(_RATES), sharey=True)
    cmap = matplotlib.colormaps["Reds"].with_extremes(bad="#eeeeee")
    for ax, (attr, title) in zip(axes, _RATES):
        grid = []
        for task, lang, prec in rows:
            line = []
            for n in lengths:
                c = index.get((task, lang, prec, n))
                v = _rate(c, attr, task in data.logprob_tasks)
                line.append(float("nan") if v is None else 100 * v)
            grid.append(line)
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=100, aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(len(lengths)))
        ax.set_xticklabels([fmt_length(n) for n in lengths])
        ax.set_title(title)
        for i, line in enumerate(grid):
            for j, v in enumerate(line):
                text = "n/a" if math.isnan(v) else f"{v:.0f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if not math.isnan(v) and v > 60 else ("#999999" if math.isnan(v) or v == 0 else "black"))
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels([f"{t} · {l} · {p}" for t, l, p in rows])
    fig.suptitle("Failure rates per cell (%)", fontweight="bold")
    fig.tight_layout()
    return Chart("rates.png", "Parse-failure, empty-output, overlength, OOM and error rates",
                 "Percent per cell. Parse failure and empty output are shares of the scored records; overlength, "
                 "OOM and error are shares of all the cell's samples. n/a: not applicable (log-prob tasks produce "
                 "no text) or nothing was scored." + (" Languages are pooled (too many rows)." if pooled else ""),
                 _render(fig), "rates")


def _rate(c: CellStats | None, attr: str, logprob: bool) -> float | None:
    if c is None:
        return None
    if logprob and attr in ("parse_failure_rate", "empty_rate"):
        return None
    return getattr(c, attr)


def make_charts(data: ReportData) -> list[Chart]:
    """Every chart the data supports, in reading order."""
    colors = palette(data.precisions, data.reference)
    with matplotlib.rc_context(_STYLE):
        out: list[Chart] = []
        out += accuracy_charts(data, colors)
        out += drop_charts(data, colors)
        for maker in (lambda: heatmap_chart(data), lambda: memory_chart(data, colors),
                      lambda: throughput_chart(data, colors), lambda: kld_chart(data, colors),
                      lambda: rates_chart(data)):
            chart = maker()
            if chart is not None:
                out.append(chart)
    return out

