"""A verified run directory -> ReportData: cells, paired drops (per language, pooled, engine-matched),
memory, KL, examples and the per-precision verdicts. What is compared with what (the reference, the
engine baselines, the log-prob tasks, the measure rule) is read from the run's plan."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from qlongbench.analysis.answers import answers_of, misses_by_depth, wording
from qlongbench.analysis.cells import CellKey, cell_key, cell_stats
from qlongbench.analysis.data import ReportData
from qlongbench.analysis.drops import paired_drops
from qlongbench.analysis.examples import failure_examples
from qlongbench.analysis.floor import noise_floors
from qlongbench.analysis.kld import kl_rows
from qlongbench.analysis.kvgrid import kv_grids
from qlongbench.analysis.memory import memory_rows, memory_savings
from qlongbench.analysis.pairing import ALL_LANGUAGES, language_label
from qlongbench.analysis.projection import ProjectionTarget
from qlongbench.analysis.projection import project as projection
from qlongbench.analysis.questions import answer_questions
from qlongbench.analysis.summary import precision_verdicts
from qlongbench.analysis.timing import batched, durations, phase_seconds
from qlongbench.errors import UserError
from qlongbench.run.store import load_run
from qlongbench.types import Record


def build(run_dir: str | Path, reference: str | None = None, confidence: float = 0.95, *,
          floor: float | None = None, min_parsed: float | None = None,
          project: ProjectionTarget | None = None) -> ReportData:
    """The report's data; `reference`, `floor` and `min_parsed` override the plan's when given."""
    contents = load_run(run_dir)
    header, records, plan = contents.header, contents.records, contents.header.plan
    if not records:
        raise UserError(f"{contents.root} has no records yet; run `qlongbench run` first")
    order = list(dict.fromkeys(r.precision for r in records))
    ref = plan.reference_for(order, reference)
    lp_tasks = {r.task for r in records} & set(plan.logprob_tasks)
    text_tasks = sorted({r.task for r in records} - lp_tasks)
    rule = plan.measure.with_thresholds(floor, min_parsed)

    grouped: dict[CellKey, list] = defaultdict(list)
    for r in records:
        grouped[cell_key(r)].append(r)
    cells = [cell_stats(k, grouped[k], confidence)
             for k in sorted(grouped, key=lambda k: (k.task, k.language, k.length, order.index(k.precision)))]
    multi = {t for t in {r.task for r in records} if len({language_label(r) for r in records if r.task == t}) > 1}
    pooled: dict[CellKey, list] = defaultdict(list)
    for r in records:
        if r.task in multi:
            pooled[CellKey(r.precision, r.task, ALL_LANGUAGES, r.length)].append(r)
    pooled_cells = [cell_stats(k, pooled[k], confidence)
                    for k in sorted(pooled, key=lambda k: (k.task, k.length, order.index(k.precision)))]

    baselines = plan.engine_baselines_for(ref, present={r.precision for r in records if r.engine != "-"})
    candidates = [p for p in order if p != ref]
    # One Holm family per candidate: its per-language cells and its pooled cells together.
    both = (paired_drops(records, ref, candidates, rule, confidence=confidence, tasks=text_tasks,
                         pooled_tasks=sorted(multi)) if ref else [])
    drops = [d for d in both if d.language != ALL_LANGUAGES]
    pooled_drops = [d for d in both if d.language == ALL_LANGUAGES]
    engine_drops = []
    for base in sorted(set(baselines.values())):
        members = [p for p, b in baselines.items() if b == base]
        engine_drops += paired_drops(records, base, members, rule, confidence=confidence, tasks=text_tasks)
    mem = memory_rows(records, header, order, lp_tasks)
    data = ReportData(
        run_id=header.run_id, reference=ref, header=header, rule=rule, cells=cells, drops=drops,
        pooled_cells=pooled_cells, pooled_drops=pooled_drops, engine_drops=engine_drops, memory=mem,
        savings=memory_savings(header, ref, order, mem),
        kld=kl_rows(records, lp_tasks, ref, order, baselines, confidence),
        examples=failure_examples(records, ref, lp_tasks), logprob_tasks=tuple(sorted(lp_tasks)),
        precisions=tuple(order), engine_baselines=baselines, confidence=confidence,
    )
    data.controls = dict(plan.controls)
    data.answers = {p: answers_of(records, p, lp_tasks) for p in order}
    data.durations = durations(records, header.created_at, header.resumed_at)
    data.batched = batched(records)
    data.wording = wording(records, [(c, ref) for c in candidates if ref] + [(c, b) for c, b in baselines.items()],
                           lp_tasks)
    data.depth_misses = misses_by_depth(records, ref) if ref else []
    data.phases = phase_seconds(records, lambda r: r.precision)
    data.task_phases = phase_seconds(records, lambda r: r.task)
    data.floors = noise_floors(data.controls, drops + engine_drops, data.kld)
    floor = next((c for c, base in data.controls.items() if base == ref), None)
    data.questions = (answer_questions(records, ref, candidates, rule, text_tasks, sorted(lp_tasks), confidence,
                                       floor=floor) if ref else [])
    data.verdicts = precision_verdicts(data)
    data.kv_grids = kv_grids(records, [plan.precision(p) for p in order], ref, drops + pooled_drops, mem,
                             {p: i.weight_bytes for p, i in header.precisions.items()}, rule, confidence, text_tasks)
    if project is not None:
        data.projection = projection(project, header, ref, order, mem)
    return data
