"""Migrations of run.json, one format version to the next (RunHeader.load applies them in turn). Each
is a function of the file's data; what it reconstructs follows the rules the older version used, so a
migrated run reports exactly as it did.

Version 2 -> 3: the decisions about the run move into one typed RunPlan (`plan`): the model, the
tasks with their generation configs and where they ran, the precisions parsed into typed
Precisions, the reference, each engine's baseline, the controls and the measure rule.

Version 3 -> 4: placements gain the CPU model; a version-3 file did not record it, so it stays empty
(unknown), never guessed."""

from __future__ import annotations

from typing import Any

from qlongbench.spec.labels import parse_label
from qlongbench.errors import UserError
from qlongbench.spec.config import PrecisionSpec, TaskSpec
from qlongbench.spec.measure import MeasureRule
from qlongbench.spec.labels import parse_precision
from qlongbench.spec.precision import Precision
from qlongbench.spec.references import choose_reference, pick_engine_baseline

V2_PLAN_FIELDS = ("model", "engine_baselines", "controls", "logprob_reference", "task_labels", "tasks",
                  "generation_configs")
"""Version-2 fields whose content moved into the plan."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _task_label(t: dict[str, Any]) -> str | None:
    from qlongbench import registry

    try:
        spec = TaskSpec.model_validate(t)
        name = registry.task_class(spec.name).name
    except Exception:  # noqa: BLE001 - a task this qlongbench no longer has: matched by no label
        return None
    return name if not spec.options else name + ":" + ",".join(f"{k}={v}" for k, v in sorted(spec.options.items()))


def _precisions(data: dict[str, Any], spec: dict[str, Any]) -> list[Precision]:
    out: dict[str, Precision] = {}
    for item in _list(spec.get("precisions")):
        p = parse_precision(PrecisionSpec.model_validate(item))
        out.setdefault(p.label, p)
    others = [*_list(data.get("engine_baselines")), *_dict(data.get("controls")), *_dict(data.get("precisions")),
              *_dict(data.get("precision_errors"))]
    for label in others:
        if isinstance(label, str) and label not in out:
            out[label] = parse_label(label)
    return list(out.values())


def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("task_labels", "name+options") != "name+options":
        raise UserError("run.json labels its tasks by name alone, as qlongbench 0.1.0 did, which this qlongbench no "
                        "longer reads; start the run over with --new")
    spec = _dict(data.get("spec"))
    model = dict(_dict(data.get("model")))
    if model.get("files_hash_rule", "all-files") != "all-files":
        raise UserError("run.json hashes the model files by qlongbench 0.1.0's rule, which this qlongbench no longer "
                        "reads; start the run over with --new")
    where = {label: t for t in _list(spec.get("tasks")) if isinstance(t, dict) for label in [_task_label(t)] if label}
    gens = _dict(data.get("generation_configs"))
    tasks = {}
    for label, info in _dict(data.get("tasks")).items():
        info, t = _dict(info), where.get(label, {})
        tasks[label] = {"label": label, "name": info.get("name"), "options": info.get("options", {}),
                        "uses_logprobs": info.get("uses_logprobs", False), "chance_level": info.get("chance_level", 0.0),
                        "metric": info.get("metric", ""), "generation": gens.get(label),
                        "lengths": t.get("lengths") or spec.get("lengths"),
                        "languages": t.get("languages") or spec.get("languages"),
                        "samples": t.get("samples") or spec.get("samples")}
    precisions = _precisions(data, spec)
    controls = _dict(data.get("controls"))
    engines: dict[str, list[Precision]] = {}
    for p in precisions:
        engines.setdefault(p.engine, []).append(p)
    baselines = {eng: b.label for eng, members in engines.items()
                 for b in [pick_engine_baseline(members, controls)] if b}
    measure = MeasureRule(chance={label: t["chance_level"] for label, t in tasks.items()})
    plan = {"model": model, "seed": data.get("seed", spec.get("seed", 0)),
            "instruction_language": spec.get("instruction_language"), "tasks": tasks,
            "precisions": [p.model_dump(mode="json") for p in precisions], "reference": choose_reference(precisions),
            "logprob_reference": data.get("logprob_reference"), "engine_baselines": baselines,
            "added": _list(data.get("engine_baselines")), "controls": controls,
            "measure": measure.model_dump(mode="json")}
    out = {k: v for k, v in data.items() if k not in V2_PLAN_FIELDS}
    return out | {"version": 3, "plan": plan}


def v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    return data | {"version": 4}
