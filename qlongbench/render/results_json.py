"""results.json: everything the report shows, for machines (same numbers, same verdicts)."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from typing import Any

from qlongbench.analysis.cells import CellStats
from qlongbench.analysis.data import ReportData
from qlongbench.analysis.drops import DropStats, PairedDrop
from qlongbench.analysis.memory import MemoryRow
from qlongbench.analysis.multiplicity import PROCEDURE
from qlongbench.analysis.questions import QUESTIONS, Question
from qlongbench.render.prose import comparison_statements, measure_rule, noise_statement
from qlongbench.run.header import RunHeader

RESULTS_VERSION = 3
"""2: verdicts, 'not measured' cells, engine-matched KL rows, peak increase. 3: exact tests — per
comparison p_value, p_adjusted (Holm within its family), tested_level, adjusted_interval and the
verdict from the adjusted p; the study's questions (length_trend, language_contrast,
kl_position_trend); noise floors; comparisons counted."""


def jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: jsonable(getattr(obj, f.name)) for f in fields(obj)
               if f.name not in ("header", "rule", "evidence")}
        if isinstance(obj, CellStats):
            out.update(overlength_rate=obj.overlength_rate, oom_rate=obj.oom_rate, error_rate=obj.error_rate)
        if isinstance(obj, DropStats):
            out.update(verdict=obj.verdict, family=obj.family, p_value=obj.paired.p_value if obj.paired else None,
                       adjusted_interval=jsonable(obj.adjusted_interval),
                       min_detectable_drop=obj.min_detectable_drop)
        if isinstance(obj, PairedDrop):
            out["interval"] = jsonable(obj.interval)
        if isinstance(obj, Question):
            out["answer"] = obj.answer
        if isinstance(obj, MemoryRow):
            out["total_bytes"] = obj.total_bytes
            if obj.kv_formula_by_layer_type is None:  # a model without sliding layers: as before the field existed
                out.pop("kv_formula_by_layer_type", None)
        return out
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def multiplicity(data: ReportData) -> dict[str, Any]:
    """How many comparisons the report made, in which families, under which procedure."""
    families: dict[str, int] = {}
    for d in data.drops + data.pooled_drops + data.engine_drops:
        if d.family_size:
            families[d.family] = d.family_size
    questions: dict[str, int] = {}
    for q in data.questions:
        if q.p_adjusted is not None:
            questions[q.candidate] = questions.get(q.candidate, 0) + 1
    return {"procedure": PROCEDURE, "alpha": round(1.0 - data.confidence, 12),
            "family": "one candidate against one baseline: all its measured cells (per language and pooled)",
            "comparisons": sum(families.values()), "families": families,
            "question_families": {f"{c} (study questions)": k for c, k in questions.items()}}


UNSET_WHEN_NONE = {"sliding_window", "sliding_layers", "prompt_form"}
"""Model fields newer than the committed reports: left out while None, so a model without sliding
layers gives the same results.json as before they existed."""


def provenance(header: RunHeader) -> dict[str, Any]:
    """Where the numbers come from: when and how the run was made, the model, what each precision
    loaded, the tasks and their generation configs, the baselines the run added."""
    h = header.model_dump(mode="json", include={"created_at", "spec", "seed", "environment", "precisions",
                                                "precision_errors"})
    plan = header.plan
    tasks = {label: t.model_dump(mode="json", include={"name", "options", "uses_logprobs", "chance_level", "metric"})
             for label, t in plan.tasks.items()}
    return {"created_at": h["created_at"], "spec": h["spec"], "seed": h["seed"],
            "model": plan.model.model_dump(mode="json", exclude=UNSET_WHEN_NONE & {
                k for k, v in plan.model.model_dump().items() if v is None}), "environment": h["environment"],
            "precisions": h["precisions"], "precision_errors": h["precision_errors"],
            "engine_baselines": list(plan.added), "logprob_reference": plan.logprob_reference, "tasks": tasks,
            "generation_configs": {label: t.generation.model_dump(mode="json") for label, t in plan.tasks.items()}}


def results_json(data: ReportData) -> str:
    payload = {
        "version": RESULTS_VERSION, "run_id": data.run_id, "reference": data.reference,
        "confidence": data.confidence, "precisions": list(data.precisions), "logprob_tasks": list(data.logprob_tasks),
        "measure_rule": data.rule.model_dump(mode="json") | {"text": measure_rule(data)},
        "verdicts": jsonable(data.verdicts), "cells": jsonable(data.cells), "drops": jsonable(data.drops),
        "pooled_cells": jsonable(data.pooled_cells), "pooled_drops": jsonable(data.pooled_drops),
        "engine_drops": jsonable(data.engine_drops), "engine_baselines": data.engine_baselines,
        "memory": jsonable(data.memory), "savings": jsonable(data.savings), "kld": jsonable(data.kld),
        "kv_grids": jsonable(data.kv_grids), "projection": jsonable(data.projection),
        "multiplicity": multiplicity(data),
        **{name: {q.candidate: jsonable(q) for q in data.questions if q.name == name} for name in QUESTIONS},
        "noise_floors": jsonable(data.floors), "controls": data.controls,
        "comparisons": comparison_statements(data), "noise": noise_statement(data),
        "provenance": provenance(data.header),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str, allow_nan=False) + "\n"
