"""index.html: one self-contained page (charts embedded as base64 PNG, inline CSS, no script, no
external URL; a Content-Security-Policy forbids loading anything). Rendered with jinja2 with
autoescape on, so every string that comes from a model, a dataset or a config is shown as text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from qlongbench import __version__
from qlongbench.charts import Chart, fmt_length
from qlongbench.memory import format_bytes
from qlongbench.report import ALL_LANGUAGES, DropStats, ReportData, noise_statement

OUTPUT_PREVIEW_CHARS = 300
"""Outputs longer than this are shown cut, with the number of characters left out said."""


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def _num(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _sci(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def pretty(value: Any) -> str:
    """Scalars as they are, None as a dash, containers as compact JSON (escaped by the template)."""
    if value is None:
        return "–"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def preview(text: str | None, limit: int = OUTPUT_PREVIEW_CHARS) -> str:
    """The text, or its first `limit` characters and how many more there are (display only)."""
    if text is None:
        return "–"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("qlongbench", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=_pct, num=_num, sci=_sci, bytes=format_bytes, tokens=fmt_length, preview=preview, pretty=pretty)
    return env


def _drop_row(d: DropStats) -> dict[str, Any]:
    p = d.paired
    return {
        "task": d.task, "language": "all languages" if d.language == ALL_LANGUAGES else d.language,
        "length": d.length, "candidate": d.candidate, "reference": d.reference, "n": p.n,
        "ref_acc": _pct(p.reference_mean), "cand_acc": _pct(p.candidate_mean),
        "drop": f"{100 * p.drop:+.1f}", "ci": f"{100 * p.interval.low:+.1f} … {100 * p.interval.high:+.1f}",
        "rel": "–" if p.relative_drop is None else f"{100 * p.relative_drop:+.1f}",
        "rel_ci": "–" if p.relative_interval is None else
        f"{100 * p.relative_interval.low:+.1f} … {100 * p.relative_interval.high:+.1f}",
        "mcnemar": "–" if p.mcnemar_p is None else f"{p.mcnemar_p:.3g}",
        "discordant": f"{p.discordant_ref_only} / {p.discordant_cand_only}" if p.mcnemar_p is not None else "–",
        "verdict": d.verdict, "noise": p.within_noise, "mde": f"{100 * p.min_detectable_drop:.1f}",
    }


def headlines(data: ReportData) -> list[str]:
    """One plain sentence per candidate: its worst real drop, what it saves, where the cache eats it."""
    out = []
    for prec in data.precisions:
        if prec == data.reference:
            continue
        parts = []
        mine = [d for d in data.drops if d.candidate == prec]
        real = [d for d in mine + [d for d in data.pooled_drops if d.candidate == prec]
                if not d.paired.within_noise and d.paired.drop > 0]
        if real:
            w = max(real, key=lambda d: d.paired.drop)
            where = "all languages pooled" if w.language == ALL_LANGUAGES else w.language
            parts.append(f"largest drop outside the noise: {100 * w.paired.drop:+.1f} points on {w.task} "
                         f"({where}, {fmt_length(w.length)} tokens; {int(100 * data.confidence)} % CI "
                         f"{100 * w.paired.interval.low:+.1f} … {100 * w.paired.interval.high:+.1f})")
        elif mine:
            worst = max(mine, key=lambda d: d.paired.drop)
            parts.append(f"no drop outside the noise in {len(mine)} cells (largest observed "
                         f"{100 * worst.paired.drop:+.1f} points, n = {worst.paired.n})")
        saving = next((s for s in data.savings if s.precision == prec), None)
        if saving is not None:
            if saving.saved_bytes > 0 and saving.crossover_tokens:
                parts.append(f"weights {format_bytes(saving.weight_bytes)}, {format_bytes(saving.saved_bytes)} less "
                             f"than {saving.reference}; the KV cache alone reaches that at "
                             f"{saving.crossover_tokens:,} tokens")
            else:
                parts.append(f"weights {format_bytes(saving.weight_bytes)} (no saving over {saving.reference})")
        kl = [k for k in data.kld if k.precision == prec]
        if kl:
            longest = max(kl, key=lambda k: k.length)
            parts.append(f"mean KL {longest.mean_kl:.3g} nats, top-1 agreement {100 * longest.top1:.1f} % at "
                         f"{fmt_length(longest.length)} tokens")
        if parts:
            out.append(f"{prec}: " + "; ".join(parts) + ".")
    return out


def _provenance(data: ReportData) -> dict[str, Any]:
    meta = data.meta
    model = dict(meta.get("model") or {})
    precisions = []
    for label, info in (meta.get("precisions") or {}).items():
        info = info or {}
        recipe = {k: v for k, v in (info.get("recipe") or {}).items() if v not in (None, {}, "")}
        precisions.append({
            "label": label, "error": info.get("error"), "engine": info.get("engine"),
            "engine_version": info.get("engine_version"), "device": info.get("device"), "dtype": info.get("dtype"),
            "attention": info.get("attention"),
            "weight_bytes": info.get("weight_bytes"), "artifact_path": info.get("artifact_path"),
            "artifact_sha256": info.get("artifact_sha256"), "recipe": recipe, "versions": info.get("versions") or {},
        })
    spec = meta.get("spec") or {}
    env = meta.get("environment") or {}
    return {
        "model": model, "precisions": precisions, "generation_configs": meta.get("generation_configs") or {},
        "seed": meta.get("seed"), "spec": spec, "environment": env,
        "run": {k: meta.get(k) for k in ("run_id", "name", "created_at", "resumed_at", "spec_sha256",
                                          "sample_identity_sha256") if meta.get(k) is not None},
    }


def render(data: ReportData, charts: Sequence[Chart]) -> str:
    by_section: dict[str, list[dict[str, str]]] = {}
    for c in charts:
        by_section.setdefault(c.section, []).append(
            {"title": c.title, "caption": c.caption, "uri": c.data_uri(), "filename": c.filename})
    model = (data.meta.get("model") or {}).get("source", "?")
    template = environment().get_template("report.html.j2")
    return template.render(
        data=data, run_id=data.run_id, model_name=Path(str(model)).name or str(model), model_source=str(model),
        reference=data.reference or "none", conf=int(100 * data.confidence), version=__version__,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        headlines=headlines(data), noise=noise_statement(data), comparisons=data.comparisons,
        charts=by_section, cells=data.accuracy_cells, pooled_cells=[c for c in data.pooled_cells
                                                                    if c.key.task not in data.logprob_tasks],
        drops=[_drop_row(d) for d in data.drops], pooled_drops=[_drop_row(d) for d in data.pooled_drops],
        engine_drops=[_drop_row(d) for d in data.engine_drops], kld=data.kld, memory=data.memory,
        savings=data.savings, rate_cells=data.cells, examples=data.examples, prov=_provenance(data),
        logprob_tasks=set(data.logprob_tasks),
    )
