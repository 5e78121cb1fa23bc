"""The weights × KV-cache grid and the memory projection, as Markdown lines and HTML-ready rows."""

from __future__ import annotations

from typing import Any

from qlongbench.analysis.data import ReportData
from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.kvgrid import KVGrid
from qlongbench.memory import format_bytes
from qlongbench.render.prose import fmt_length, interval_text
from qlongbench.render.text import md_escape


def _drop(d: DropStats | None) -> str:
    if d is None:
        return "reference"
    if d.paired is None or d.verdict == "not measured":
        return "not measured"
    p = d.paired
    mark = {"worse": "▼", "better": "▲"}.get(d.verdict, "≈")
    return f"{mark} {100 * p.drop:+.1f} ({interval_text(d)})"


def grid_rows(grid: KVGrid) -> list[dict[str, Any]]:
    """One row per weight precision: for each KV column, the drop vs the reference, the drop the cache
    alone causes, and weights + KV bytes."""
    rows = []
    for w in grid.weights:
        row: dict[str, Any] = {"weights": w, "cells": []}
        for kv in grid.kvs:
            c = grid.cell(w, kv)
            if c is None:
                row["cells"].append(None)
                continue
            row["cells"].append({"drop": _drop(c.drop), "kv_only": _drop(c.kv_drop) if c.kv_drop else "",
                                 "total": format_bytes(c.total_bytes), "kv": format_bytes(c.kv_bytes),
                                 "worse": bool(c.drop and c.drop.verdict == "worse")})
        rows.append(row)
    return rows


def grid_markdown(data: ReportData) -> list[str]:
    if not data.kv_grids:
        return []
    lines = ["## Weights × KV cache", "",
             f"Each cell: drop versus {md_escape(data.reference or '?')} in points (interval at its Holm level; ▼ "
             "worse after Holm, ≈ within the noise), then the drop the cache alone causes (same weights, default cache), then "
             "weights + KV cache measured at that length.", ""]
    for g in data.kv_grids:
        lines += [f"**{md_escape(g.task)} · {md_escape(g.language)} · {fmt_length(g.length)}**", "",
                  "| weights \\ KV | " + " | ".join(md_escape(k) for k in g.kvs) + " |",
                  "|---|" + "---|" * len(g.kvs)]
        for row in grid_rows(g):
            cells = ["–" if c is None else f"{c['drop']}" + (f"; cache alone {c['kv_only']}" if c["kv_only"] else "")
                     + f"; {c['total']}" for c in row["cells"]]
            lines.append(f"| {md_escape(row['weights'])} | " + " | ".join(md_escape(c) for c in cells) + " |")
        lines.append("")
    return lines


def projection_markdown(data: ReportData) -> list[str]:
    p = data.projection
    if p is None:
        return []
    lines = [f"## Memory projected onto {md_escape(p.target.config)} at {fmt_length(p.target.length)} tokens "
             "(formula, not measured)", "",
             f"{p.parameters / 1e9:.2f} B parameters, {p.geometry.layers} layers × {p.geometry.kv_heads} KV heads × "
             f"{p.geometry.head_dim} head dim, from its config alone; each precision's weight and KV ratios as "
             f"measured in this run (KV at {fmt_length(p.basis_length)} tokens).", "",
             "| precision | weights | KV cache | total |", "|---|---:|---:|---:|"]
    for r in p.rows:
        lines.append(f"| {md_escape(r.precision)} | {format_bytes(r.weight_bytes)} | {format_bytes(r.kv_bytes)} | "
                     f"{format_bytes(r.total_bytes)} |")
    return lines + [""]
