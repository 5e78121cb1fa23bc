"""A RunPlan as the planner makes it, for tests that need one without loading a model."""

from __future__ import annotations

from qlongbench.run.plan import ModelInfo, RunPlan
from qlongbench.run.planner import assemble, plan_precisions, plan_tasks
from qlongbench.spec.config import build_spec


def planned(precisions: str, tasks: str = "niah-single", **spec: object) -> RunPlan:
    """The plan of `qlongbench run --precisions PRECISIONS --tasks TASKS` (other spec fields as given)."""
    s = build_spec({"model": "m", "precisions": precisions, "tasks": tasks, **spec})
    t = plan_tasks(s)
    return assemble(s, ModelInfo(source="m"), t, plan_precisions(s, t))


def labels(plan: RunPlan) -> list[str]:
    return [p.label for p in plan.precisions]
