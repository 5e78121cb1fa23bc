"""index.html: one self-contained page (charts embedded as base64 PNG, inline CSS, no script, no
external URL; a Content-Security-Policy forbids loading anything). Rendered with jinja2 with
autoescape on, so every string that comes from a model, a dataset or a config is shown as text.

The page opens with the answer: one verdict row per precision, then the drops outside the noise and
the cells that could not be measured; everything inside the noise is collapsed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from qlongbench import __version__
from qlongbench.analysis.data import ReportData
from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.pairing import ALL_LANGUAGES
from qlongbench.memory import format_bytes
from qlongbench.render.chart_base import Chart
from qlongbench.render.kv import grid_rows
from qlongbench.analysis.drops import describe_family
from qlongbench.render.prose import (
    changes_text, comparison_statements, floor_text, fmt_length, fmt_p, interval_text, kl_text, mdd_text, measure_rule,
    noise_statement, question_detail, question_text, question_title, rope_note, verdict_sentence, where,
    batch_note,
)
from qlongbench.render.text import kv_formula, num, pct, sci

OUTPUT_PREVIEW_CHARS = 300
"""Outputs longer than this are shown cut, with the number of characters left out said."""


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
    env = jinja2.Environment(loader=jinja2.PackageLoader("qlongbench.render", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, num=num, sci=sci, bytes=format_bytes, tokens=fmt_length, preview=preview,
                       pretty=pretty, kv_formula=kv_formula)
    return env


def drop_row(d: DropStats) -> dict[str, Any]:
    p = d.paired
    row = {"task": d.task, "language": "all languages" if d.language == ALL_LANGUAGES else d.language,
           "length": d.length, "candidate": d.candidate, "reference": d.reference, "verdict": d.verdict,
           "why": d.unmeasured or "", "failures": len(d.failures)}
    if p is None:
        return row | {"n": 0, "ref_acc": "–", "cand_acc": "–", "drop": "–", "ci": "–", "rel": "–", "p": "–",
                      "p_adj": "–", "changed": "–", "mde": "–", "method": "–"}
    return row | {
        "n": p.n, "ref_acc": pct(p.reference_mean), "cand_acc": pct(p.candidate_mean), "drop": f"{100 * p.drop:+.1f}",
        "ci": interval_text(d), "rel": "–" if p.relative_drop is None else f"{100 * p.relative_drop:+.1f}",
        "p": fmt_p(p.p_value), "p_adj": fmt_p(d.p_adjusted) + (f" / {d.family_size}" if d.family_size else ""),
        "changed": (f"{p.discordant_ref_only} / {p.discordant_cand_only}"
                    if p.discordant_ref_only or p.discordant_cand_only else str(p.changed)),
        "mde": mdd_text(d),
        "method": p.method,
    }


def verdict_rows(data: ReportData) -> list[dict[str, Any]]:
    out = []
    for v in data.verdicts:
        worst = (f"{100 * v.worst.paired.drop:+.1f} pts" if v.worst and v.worst.paired else "none")
        out.append({
            "precision": v.precision, "engine": v.engine, "baseline": v.is_engine_baseline, "control": v.is_control,
            "worst": worst, "worst_where": where(v.worst) if v.worst else "",
            "worst_ci": interval_text(v.worst) if v.worst and v.worst.paired else "",
            "engine_worst": (f"{100 * v.worst_engine.paired.drop:+.1f} pts vs {v.worst_engine.reference} on "
                             f"{where(v.worst_engine)}" if v.worst_engine and v.worst_engine.paired else ""),
            "kl": kl_text(v.kl), "changed": changes_text(v.changes), "floor": floor_text(v.floor),
            "engine_floor": floor_text(v.engine_floor), "comparisons": v.comparisons,
            "questions": [{"name": question_title(q.name), "answer": q.answer, "text": question_text(q)}
                          for q in v.questions],
            "n_worse": v.n_worse, "n_better": v.n_better, "n_within": v.n_within, "n_unmeasured": v.n_unmeasured,
            "n_failed": v.n_failed, "weights": format_bytes(v.weight_bytes),
            "saved": format_bytes(v.saved_bytes) if v.saved_bytes is not None and v.saved_bytes > 0 else "–",
            "crossover": f"{fmt_length(v.crossover_tokens)} tokens" if v.crossover_tokens else "–",
            "sentence": verdict_sentence(v, data),
        })
    return out


def provenance(data: ReportData) -> dict[str, Any]:
    h = data.header
    precisions = []
    for label, info in h.precisions.items():
        recipe = {k: v for k, v in info.recipe.model_dump().items() if v not in (None, {}, "")}
        precisions.append({"label": label, "error": None, "info": info, "recipe": recipe, "cpus": h.cpus(label)})
    precisions += [{"label": label, "error": err, "info": None, "recipe": {}, "cpus": []}
                   for label, err in h.precision_errors.items()]
    run = {"run_id": h.run_id, "name": h.name, "created_at": h.created_at, "resumed_at": h.resumed_at or None,
           "spec_sha256": h.spec_sha256, "sample_identity_sha256": h.sample_identity_sha256,
           "reference": h.plan.reference, "engine_baselines": list(h.plan.added) or None,
           "logprob_reference": h.plan.logprob_reference}
    return {"model": h.plan.model.model_dump(), "precisions": precisions,
            "generation_configs": {k: t.generation.model_dump() for k, t in h.plan.tasks.items()}, "seed": h.seed,
            "spec": h.spec.model_dump(mode="json"), "environment": h.environment.model_dump(),
            "run": {k: v for k, v in run.items() if v is not None}}


def render(data: ReportData, charts: Sequence[Chart]) -> str:
    by_section: dict[str, list[dict[str, str]]] = {}
    for c in charts:
        by_section.setdefault(c.section, []).append(
            {"title": c.title, "caption": c.caption, "uri": c.data_uri(), "filename": c.filename})
    model = data.header.plan.model.source
    drops = data.pooled_drops + data.drops
    template = environment().get_template("report.html.j2")
    return template.render(
        data=data, run_id=data.run_id, model_name=Path(str(model)).name or str(model), model_source=str(model),
        origin=data.header.plan.model.origin, rope=rope_note(data), batch=batch_note(data), reference=data.reference or "none",
        conf=int(100 * data.confidence),
        version=__version__, generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        verdicts=verdict_rows(data), noise=noise_statement(data), rule=measure_rule(data),
        family=describe_family(drops + data.engine_drops),
        questions=[{"precision": q.candidate, "name": question_title(q.name), "answer": q.answer,
                    "text": question_detail(q), "scope": q.scope} for q in data.questions],
        comparisons=comparison_statements(data), charts=by_section, cells=data.accuracy_cells,
        pooled_cells=[c for c in data.pooled_cells if c.key.task not in data.logprob_tasks],
        outside=[drop_row(d) for d in drops if d.significant],
        unmeasured=[drop_row(d) for d in data.drops if d.verdict == "not measured"],
        within=[drop_row(d) for d in drops if d.verdict == "within noise"],
        engine_drops=[drop_row(d) for d in data.engine_drops], kld=data.kld, memory=data.memory,
        savings=data.savings, examples=data.examples, prov=provenance(data),
        kv_grids=[{"title": f"{g.task} · {g.language} · {fmt_length(g.length)}", "kvs": g.kvs, "rows": grid_rows(g)}
                  for g in data.kv_grids], projection=data.projection,
    )
