"""The seed study's precision x task matrix beside qlongbench's, drawn from the registries and the
committed records (scripts/regenerate_reports.py puts it in the README's `study-matrix` block).

A cell reads **run here** with the committed runs that measured it (and their longest length) when
reports/smollm2/records/ (or reports/gemma3/records/, named gemma3/<run>) holds scored records of that precision (default KV cache) on that task; "runs
here" when the precision and the task are registered and run on a CPU but no committed report holds
them; "GPU only" when the engine refuses a CPU; "not supported" when nothing registered runs it."""

from __future__ import annotations

from collections import defaultdict

from qlongbench import registry
from qlongbench.analysis.data import ReportData
from qlongbench.backends.vllm_options import GPU_ONLY

STUDY_PRECISIONS: tuple[tuple[str, str], ...] = (
    ("BF16", "bf16"),
    ("FP8 (weight-only here)", "fp8-wo"),
    ("FP8 (W8A8, vLLM)", "vllm-fp8"),
    ("GPTQ-int8", "gptq-int8"),
    ("GPTQ-int4", "gptq-int4"),
    ("AWQ-int4", "awq-int4"),
    ("BNB-nf4", "bnb-nf4"),
)
"""The study's precisions and the qlongbench label that runs each."""

STUDY_TASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("NIAH single", ("niah-single", "niah-nested")),
    ("NIAH multikey", ("niah-multikey",)),
    ("NIAH multivalue", ("niah-multivalue",)),
    ("NIAH multiquery", ("niah-multiquery",)),
    ("NIAH none (OneRuler)", ("niah-none",)),
    ("CWE easy (OneRuler)", ("cwe-easy",)),
    ("CWE hard (OneRuler)", ("cwe-hard",)),
    ("FWE (RULER)", ("fwe",)),
    ("VT (RULER)", ("vt",)),
    ("QA (RULER) as rag", ("rag",)),
)
"""The study's task families (OneRuler's and RULER's) and the qlongbench tasks that ask them."""

def measured(runs: dict[str, ReportData]) -> dict[tuple[str, str], dict[str, int]]:
    """(precision name, task name) -> {run name: longest length with scored records}, default KV only."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for run, data in runs.items():
        plan = data.header.plan
        by_label = {p.label: p for p in plan.precisions}
        for cell in data.cells:
            precision = by_label.get(cell.key.precision)
            task = plan.tasks.get(cell.key.task)
            if precision is None or task is None or precision.kv is not None or cell.n_ok == 0:
                continue
            seen = out[(precision.name, task.name)]
            seen[run] = max(seen.get(run, 0), cell.key.length)
    return out


def _length(tokens: int) -> str:
    return f"{tokens // 1024}K" if tokens % 1024 == 0 else str(tokens)


def _cell(label: str, tasks: tuple[str, ...], done: dict[tuple[str, str], dict[str, int]],
          known_backends: set[str], known_tasks: set[str]) -> str:
    runs: dict[str, int] = {}
    for task in tasks:
        for run, longest in done.get((label, task), {}).items():
            runs[run] = max(runs.get(run, 0), longest)
    if runs:
        return f"**run here** ({', '.join(sorted(runs))}; to {_length(max(runs.values()))})"
    if label not in known_backends or not any(t in known_tasks for t in tasks):
        return "not supported"
    if label in GPU_ONLY:
        return "GPU only (never run here)"
    return "runs here (no committed report)"


def matrix_lines(runs: dict[str, ReportData]) -> list[str]:
    """The Markdown table: one row per study precision, one column per study task family."""
    done = measured(runs)
    known_backends = set(registry.names(registry.BACKENDS))
    known_tasks = set(registry.names(registry.TASKS))
    head = "| study precision (label) | " + " | ".join(name for name, _ in STUDY_TASKS) + " |"
    rule = "|---|" + "---|" * len(STUDY_TASKS)
    rows = [head, rule]
    for name, label in STUDY_PRECISIONS:
        cells = [_cell(label, tasks, done, known_backends, known_tasks) for _, tasks in STUDY_TASKS]
        rows.append(f"| {name} (`{label}`) | " + " | ".join(cells) + " |")
    return rows
