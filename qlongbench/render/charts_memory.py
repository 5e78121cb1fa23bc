"""Charts of what quantization saved and how it runs: weights beside the KV cache as context grows,
throughput and peak memory, and the next-token KL by position."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from qlongbench.analysis.data import ReportData
from qlongbench.analysis.memory import kv_geometry
from qlongbench.memory import format_bytes
from qlongbench.render.chart_base import (
    LINESTYLES, Chart, dodge, figure_legend, fmt_length, length_axis, log2_bytes_axis, markers, precision_handles,
    render_png, sci_axis,
)

_KV_NAMES = {2.0: "16-bit", 4.0: "32-bit", 1.0: "8-bit", 34 / 32: "q8_0", 18 / 32: "q4_0"}


def memory_chart(data: ReportData, colors: dict[str, str]) -> Chart | None:
    """Left: each precision's weights (what quantization saves). Right: the KV cache against context
    length — the formula per KV element size, the engines' measurements, and where the cache alone
    takes back the largest weight saving."""
    header = data.header
    weights = [(p, header.precisions[p].weight_bytes) for p in data.precisions if p in header.precisions]
    rows = [m for m in data.memory if m.kv_cache_bytes is not None and m.tokens]
    if not weights and not rows:
        return None
    fig = Figure(figsize=(11, 4.6))
    ax_w, ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    ref_w = header.precisions[data.reference].weight_bytes if data.reference in header.precisions else None
    names = [p for p, _ in weights]
    ax_w.barh(range(len(weights)), [w for _, w in weights], color=[colors[p] for p in names])
    ax_w.set_yticks(range(len(weights)))
    ax_w.set_yticklabels(names)
    ax_w.invert_yaxis()
    for i, (p, w) in enumerate(weights):
        saved = f"  −{100 * (1 - w / ref_w):.0f} %" if ref_w and w < ref_w else ""
        ax_w.text(w, i, f" {format_bytes(w)}{saved}", va="center", fontsize=8)
    ax_w.set_xlim(0, max((w for _, w in weights), default=1) * 1.55)  # KV rows but no weights known: an empty axis
    ax_w.xaxis.set_major_locator(MaxNLocator(nbins=3))
    ax_w.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_bytes(v)))
    ax_w.set_title("weights")
    ax_w.grid(False)

    lengths = sorted({m.length for m in data.memory}) or [1024]
    max_pos = header.plan.model.max_position_embeddings or 0
    best = max((s for s in data.savings if s.crossover_tokens), key=lambda s: s.saved_bytes, default=None)
    x_lo, x_hi = min(lengths) / 2, max(max(lengths) * 2, max_pos * 1.4)
    if best:
        x_hi = max(x_hi, min(best.crossover_tokens * 1.5, 1e8))
    xs = [x_lo * (x_hi / x_lo) ** (i / 60) for i in range(61)]
    per_elem: dict[tuple[float, Any], list[str]] = defaultdict(list)  # one line per element size and layout
    for p in data.precisions:
        found = kv_geometry(header, p)
        if found is not None and found[0].bytes_per_token(found[1]):
            per_elem[(found[1], found[0])].append(p)
    handles: list[Any] = []
    ys: list[float] = []
    windowed = len({geo.sliding_layers for _, geo in per_elem}) > 1
    for i, ((eb, geo), members) in enumerate(sorted(per_elem.items(), key=lambda kv: (-kv[0][0], kv[0][1].sliding_layers))):
        curve = [geo.kv_bytes_exact(x, eb) for x in xs]
        label = f"formula, {_KV_NAMES.get(eb, f'{eb:g} B')} KV"
        if windowed:
            label += f", {'sliding layers windowed' if geo.sliding_layers else 'every layer full'}"
        line, = ax.plot(xs, curve, color=("#555555", "#999999", "#bbbbbb")[i % 3], ls="--", lw=1.3, label=label)
        handles.append(line)
        ys += [curve[0], curve[-1]]
    marks = markers(data.precisions)
    for i, p in enumerate(data.precisions):
        mine = [m for m in rows if m.precision == p]
        if mine:
            ax.scatter([m.tokens for m in mine], [m.kv_cache_bytes for m in mine], marker=marks[p], facecolors="none",
                       edgecolors=colors[p], linewidths=1.5, s=max(28, 110 - 18 * i), zorder=4)
            ys += [m.kv_cache_bytes for m in mine]
    if best:
        c = colors[best.precision]
        ax.plot([x_lo, best.crossover_tokens], [best.saved_bytes, best.saved_bytes], color=c, ls="-.", lw=1.2)
        ax.plot([best.crossover_tokens], [best.saved_bytes], marker="*", ms=13, color=c, mec="black", mew=0.5, zorder=5)
        ax.annotate(f"{best.precision} saves {format_bytes(best.saved_bytes)};\nthe cache reaches it at "
                    f"{fmt_length(best.crossover_tokens)} tokens", (best.crossover_tokens, best.saved_bytes),
                    textcoords="offset points", xytext=(-8, 10), ha="right", fontsize=8, color=c)
        ys.append(best.saved_bytes)
    if max_pos:
        ax.axvline(max_pos, color="#cccccc", lw=1)
        ax.annotate("model's max context", (max_pos, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                    va="bottom", ha="right", fontsize=7, color="#888888")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ticks = [2 ** k for k in range(int(math.log2(x_lo)) + 1, int(math.log2(x_hi)) + 1)]
    step = max(1, len(ticks) // 9)
    ax.set_xticks(ticks[::step])
    ax.set_xticklabels([fmt_length(t) for t in ticks[::step]])
    ax.xaxis.set_minor_locator(NullLocator())
    ys = [y for y in ys if y and y > 0]
    if ys:
        log2_bytes_axis(ax, min(ys) / 1.5, max(ys) * 1.5)
    ax.set_xlabel("tokens in the KV cache")
    ax.set_title("KV cache vs context (hollow: measured)")
    ax.legend(handles=handles, loc="upper left", fontsize=7.5)
    fig.suptitle("Memory: weights beside the KV cache", fontweight="bold")
    precs = [p for p in data.precisions if any(m.precision == p for m in rows)]
    figure_legend(fig, precision_handles(precs, colors, data.reference), ncol=min(len(precs), 5) or 1)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return Chart("memory.png", "Memory: weights beside the KV cache",
                 "Left: bytes of each precision's weights and what they save against the reference. Right: KV-cache "
                 "bytes measured by each engine at the end of every prompt (hollow markers, median per length) on "
                 "the formula 2 · layers · KV heads · head dim · tokens · bytes (dashed, one line per KV element "
                 "size: weight quantization does not change the cache)." + (
                     " The star marks where the cache alone is as large as the biggest weight saving: past it, the "
                     "cache dominates the memory bill." if best else ""), render_png(fig), "memory")


def throughput_chart(data: ReportData, colors: dict[str, str]) -> Chart | None:
    rows = data.memory
    if not rows or not any(m.throughput.prefill_tokens_per_s or m.throughput.decode_tokens_per_s
                           or m.peak_increase_bytes for m in rows):
        return None
    lengths = sorted({m.length for m in rows})
    fig = Figure(figsize=(12, 3.6))
    axes = fig.subplots(1, 3)
    marks = markers(data.precisions)
    peak_max = max((m.peak_increase_bytes or 0) for m in rows)
    unit, scale = ("GiB", 2.0 ** 30) if peak_max >= 2 * 2 ** 30 else ("MiB", 2.0 ** 20)
    specs = [(lambda m: m.throughput.prefill_tokens_per_s, "prefill tokens / s", 1.0),
             (lambda m: m.throughput.decode_tokens_per_s, "decode tokens / s", 1.0),
             (lambda m: m.peak_increase_bytes, f"peak increase over pre-load ({unit})", scale)]
    for ax, (get, label, div) in zip(axes, specs):
        top = 0.0
        for p in data.precisions:
            pts = sorted((m.length, get(m) / div) for m in rows if m.precision == p and get(m))
            if pts:
                ax.plot(dodge(data.precisions, p, [x for x, _ in pts]), [y for _, y in pts], marker=marks[p], ms=4.5,
                        color=colors[p], lw=2.2 if p == data.reference else 1.6)
                top = max(top, max(y for _, y in pts))
        length_axis(ax, lengths)
        ax.set_title(label)
        ax.set_xlabel("context length (tokens)")
        ax.set_ylim(0, top * 1.12 if top > 0 else 1)
    sources = sorted({m.peak_source for m in rows if m.peak_source})
    fig.suptitle("Throughput and peak memory", fontweight="bold")
    figure_legend(fig, precision_handles(data.precisions, colors, data.reference))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return Chart("throughput.png", "Throughput and peak memory",
                 "Prefill and decode tokens per second summed over each length's records (context reuse counts only "
                 f"the tokens actually run). Peak memory ({', '.join(sources) or 'not measured'}) is the increase over "
                 "what the process held just before the precision loaded: weights, cache and temporaries of this "
                 "precision, not the libraries or earlier precisions.", render_png(fig), "throughput")


def kld_chart(data: ReportData, colors: dict[str, str]) -> Chart | None:
    rows = [k for k in data.kld if k.positions and k.versus == (data.header.plan.logprob_reference or data.reference)]
    if not rows:
        return None
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for k in rows:
        groups[(k.precision, k.length)].append(k)
    lengths = sorted({k.length for k in rows})
    style = {n: LINESTYLES[i % len(LINESTYLES)] for i, n in enumerate(lengths)}
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
        if len(ks) == 1 and len(ks[0].bucket_kl_low) >= nb:  # across documents (two or more)
            ax_kl.fill_between(pos, [max(v, 1e-12) for v in ks[0].bucket_kl_low[:nb]],
                               [max(v, 1e-12) for v in ks[0].bucket_kl_high[:nb]], color=c, alpha=0.15, lw=0)
        ax_top.plot(pos, top, color=c, ls=ls, marker=marks[prec], ms=3.5, lw=1.5)
    values = [v for k in rows for v in k.bucket_kl if v > 0]
    if values and max(values) / min(values) < 20:
        ax_kl.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    else:
        ax_kl.set_yscale("log")
        sci_axis(ax_kl)
    ref = rows[0].versus
    ax_kl.set_ylabel(f"mean KL({ref} ‖ precision), nats")
    ax_top.set_ylabel(f"top-1 agreement with {ref} %")
    top_min = min(min(k.bucket_top1) for k in rows if k.bucket_top1)
    ax_top.set_ylim(max(0, 100 * top_min - 5), 100.5)
    for ax in (ax_kl, ax_top):
        ax.set_xlabel("token position in the document")
        ax.set_xlim(0, max(lengths) * 1.02)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_length(v) if v >= 1024 else f"{v:.0f}"))
    fig.suptitle(f"Next-token distribution vs {ref}, by position", fontweight="bold")
    precs = [p for p in data.precisions if any(k.precision == p for k in rows)]
    handles = [Line2D([], [], color=colors[p], marker=marks[p], lw=2, label=p) for p in precs]
    if len(lengths) > 1:
        handles += [Line2D([], [], color="#555555", ls=style[n], label=f"length {fmt_length(n)}") for n in lengths]
    figure_legend(fig, handles, ncol=min(len(handles), 6))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    bound = any(k.bound for k in rows)
    return Chart("kld.png", "KL divergence and top-1 agreement vs position",
                 "Each point averages one position bucket over the documents; the band is the bucket's "
                 f"{int(100 * data.confidence)} % Student-t interval across documents (two or more). "
                 + ("KL over the reference's top-k tokens plus one tail bucket: a lower bound of the full-vocabulary "
                    "KL. " if bound else "KL estimated over the full vocabulary (see the KL table for each figure's "
                    "standard error). ")
                 + "A curve that rises to the right is damage that grows with context.", render_png(fig), "kld")


def memory_split_chart(data: ReportData, colors: dict[str, str]) -> Chart | None:
    """Weights + KV cache per precision at each measured length (and at the projected length of a
    named model, labelled as a formula): where the bytes go as context grows."""
    rows = [m for m in data.memory if m.weight_bytes and m.kv_cache_bytes is not None]
    if not rows:
        return None
    lengths = sorted({m.length for m in rows})[-4:]
    panels: list[tuple[str, list[tuple[str, int, int]]]] = []
    for n in lengths:
        at = {m.precision: m for m in rows if m.length == n}
        panels.append((f"{fmt_length(n)} tokens (measured)",
                       [(p, at[p].weight_bytes or 0, at[p].kv_cache_bytes or 0) for p in data.precisions if p in at]))
    if data.projection is not None:
        pr = data.projection
        panels.append((f"{pr.target.config.rsplit('/', 1)[-1]} at {fmt_length(pr.target.length)} (formula)",
                       [(r.precision, r.weight_bytes, r.kv_bytes) for r in pr.rows]))
    fig = Figure(figsize=(3.3 * len(panels) + 1.2, 0.42 * len(data.precisions) + 1.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, bars) in zip(axes, panels):
        names = [b[0] for b in bars]
        ys = range(len(bars))
        ax.barh(ys, [b[1] for b in bars], color=[colors.get(p, "#777777") for p in names])
        ax.barh(ys, [b[2] for b in bars], left=[b[1] for b in bars], color="white",
                edgecolor=[colors.get(p, "#777777") for p in names], hatch="///")
        ax.set_yticks(list(ys))
        ax.set_yticklabels(names if ax is axes[0] else [""] * len(names))
        ax.invert_yaxis()
        top = max(b[1] + b[2] for b in bars) or 1
        for y, (_, w, kv) in zip(ys, bars):
            ax.text(w + kv, y, f" {format_bytes(w + kv)}", va="center", fontsize=7)
        ax.set_xlim(0, top * 1.45)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_bytes(v)))
        ax.set_title(title)
        ax.grid(False)
    fig.suptitle("Memory: weights (solid) + KV cache (hatched)", fontweight="bold")
    fig.tight_layout()
    return Chart("memory-split.png", "Memory split into weights and KV cache",
                 "Solid: the precision's weights; hatched: its KV cache as the engine measured it at the end of the "
                 "prompt (median per length). Past a few thousand tokens the cache, not the weights, decides the "
                 "memory bill: quantizing the cache is what saves there."
                 + (" The last panel projects the named model from its config and this run's measured ratios: a "
                    "formula, not a measurement." if data.projection else ""), render_png(fig), "memory")
