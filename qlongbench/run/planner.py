"""The planner: a RunSpec becomes a RunPlan (run/plan.py), once, in the plan stage. Every check of the
user's input that needs no model is made here, before the run directory is touched: task names,
options and languages, the size of the sweep, precision labels and their options (each parsed once
into a Precision), engine-matched baselines and noise-floor controls added, the reference chosen.
Raw option dicts (what the user typed) are read here only: a baseline inherits its quant's engine
settings and a noise-floor twin its original's options before they are parsed."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from qlongbench import registry
from qlongbench.errors import UserError
from qlongbench.run.bundled_catalog import by_alias
from qlongbench.run.plan import GenerationConfigRecord, ModelInfo, PlannedTask, RunPlan
from qlongbench.spec.config import PrecisionSpec, RunSpec, TaskSpec
from qlongbench.spec.measure import MeasureRule
from qlongbench.spec.labels import parse_precision
from qlongbench.spec.precision import Precision
from qlongbench.spec.references import choose_reference, pick_engine_baseline
from qlongbench.spec.rope import RopeScaling
from qlongbench.tokenizer import PromptTokenizer
from qlongbench.types import GenerationConfig

MAX_FROZEN_TOKENS = 200_000_000
"""Prompt tokens a run may freeze (about 1.5 GB of samples files): past it, a typo in --samples or
--lengths, not a benchmark."""


# --- tasks ---------------------------------------------------------------------------------------
def task_label(spec: TaskSpec, name: str) -> str:
    if not spec.options:
        return name
    return name + ":" + ",".join(f"{k}={v}" for k, v in sorted(spec.options.items()))


def plan_tasks(spec: RunSpec) -> dict[str, PlannedTask]:
    """The configured tasks by label (bad names, options or languages refused with one line each;
    a sweep too large to freeze refused too)."""
    from qlongbench.tasks.languages import get_language

    planned: dict[str, PlannedTask] = {}
    for t in spec.tasks:
        cls = registry.task_class(t.name)
        label = task_label(t, cls.name)
        if label in planned:
            raise UserError(f"task {label} is listed twice; list it once")
        task = cls(t.options)  # options refused here, with one line naming them
        cfg = GenerationConfig(max_new_tokens=spec.max_new_tokens or cls.default_max_new_tokens, seed=spec.seed)
        planned[label] = PlannedTask(
            label=label, name=cls.name, options=task.options.model_dump(mode="json"), uses_logprobs=cls.uses_logprobs,
            chance_level=cls.chance_level, metric=cls.metric, generation=GenerationConfigRecord.of(cfg),
            lengths=tuple(t.lengths or spec.lengths), languages=tuple(t.languages or spec.languages),
            samples=t.samples or spec.samples)
    codes = {c for p in planned.values() for c in p.languages} | {spec.instruction_language} - {None}
    for code in sorted(codes):
        try:
            get_language(code)
        except KeyError as err:
            raise UserError(str(err.args[0])) from None
    for p in planned.values():
        supported = registry.task_class(p.name).languages()
        missing = [c for c in p.languages if c not in supported]
        if missing:
            raise UserError(f"task {p.label} has no text in {', '.join(missing)}; it supports {', '.join(supported)}")
    _check_size(planned)
    return planned


def _check_size(tasks: dict[str, PlannedTask]) -> None:
    cells = [(t, n) for t in tasks.values() for _ in t.languages for n in t.lengths]
    total = sum(n * t.samples for t, n in cells)
    if total > MAX_FROZEN_TOKENS:
        raise UserError(f"this run would freeze {total:,} prompt tokens ({len(cells)} cells, up to "
                        f"{max(n for _, n in cells):,} tokens each), past the limit of {MAX_FROZEN_TOKENS:,}; "
                        "lower --samples or --lengths, or split the sweep into several runs")


# --- precisions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrecisionPlan:
    """The precisions of a run, in run order, and what was decided about them."""

    precisions: list[Precision]
    """Every precision to load, once each, parsed."""
    reference: str | None
    """The reference (the first of bf16, fp16, fp32 present)."""
    logprob_reference: str | None
    """The precision log-prob tasks compare with (None when no log-prob task runs)."""
    engine_baselines: dict[str, str] = field(default_factory=dict)
    """engine -> its full-precision baseline label."""
    added: list[str] = field(default_factory=list)
    """Labels added automatically as an engine's full-precision baseline."""
    controls: dict[str, str] = field(default_factory=dict)
    """Noise-floor controls (--noise-floor): control label -> the precision it perturbs."""


def _add_controls(given: OrderedDict[str, PrecisionSpec], parsed: OrderedDict[str, Precision],
                  reference: str | None) -> dict[str, str]:
    """The noise-floor twin of the reference and of each engine's full-precision baseline, inserted
    right after it (its engine's `noise_control` options over its own); control -> original. An
    engine without a control adds nothing; a twin the user listed already is not added again."""
    engines: dict[str, list[Precision]] = {}
    for p in parsed.values():
        engines.setdefault(p.engine, []).append(p)
    ref_engine = parsed[reference].engine if reference in parsed else None
    originals = [parsed[reference]] if reference in parsed else []
    originals += [b for eng, members in engines.items() if eng != ref_engine
                  for b in [pick_engine_baseline(members)] if b]
    twins: dict[str, Precision] = {}
    for p in originals:
        control = registry.backend_class(p.name).noise_control(p)
        if control:
            raw = given[p.label]
            twin = parse_precision(PrecisionSpec(name=raw.name, kv=raw.kv, options={**raw.options, **control}))
            if twin.label != p.label:
                twins[p.label] = twin
    ordered = list(parsed.items())
    parsed.clear()
    for label, p in ordered:
        parsed.setdefault(label, p)
        if label in twins:
            parsed.setdefault(twins[label].label, twins[label])
    return {twin.label: label for label, twin in twins.items()}


def plan_precisions(spec: RunSpec, tasks: dict[str, PlannedTask], fixed_logprob_reference: str | None = None
                    ) -> PrecisionPlan:
    """The precisions to run, each label parsed once (bad options refused with one line): engine-matched
    baselines added (e.g. gguf-bf16 beside a gguf quant), with --noise-floor a control twin of the
    reference and of each engine baseline, each loaded once, in the order given, the log-prob
    reference (and its twin) first when a log-prob task runs. A resumed run keeps the log-prob
    reference it started with (its kept files are on disk)."""
    given: OrderedDict[str, PrecisionSpec] = OrderedDict()
    added: list[str] = []
    for p in spec.precisions:
        cls = registry.backend_class(p.name)
        full_names = cls.full_precision_names()
        if spec.engine_baseline and full_names:
            # Any full-precision run of the engine is its baseline (gguf-f16 as well as gguf-bf16).
            base, full = full_names[0], set(full_names)
            present = {q.name for q in spec.precisions} | {q.name for q in given.values()}
            if p.name not in full and not full & present:
                baseline = PrecisionSpec(name=base, options={k: v for k, v in p.options.items()
                                                             if k in cls.baseline_options})
                given[baseline.label()] = baseline
                added.append(baseline.label())
        if p.label() in given:
            raise UserError(f"precision {p.label()} is listed twice; list it once")
        given[p.label()] = p
    listed = {p.label(): parse_precision(p) for p in spec.precisions}  # what the user wrote is named first
    parsed = OrderedDict((label, listed.get(label) or parse_precision(p)) for label, p in given.items())
    reference = choose_reference(list(parsed.values()))
    ref = fixed_logprob_reference or reference
    controls = _add_controls(given, parsed, ref) if spec.noise_floor else {}
    ordered = list(parsed.values())
    logprob = [label for label, t in tasks.items() if t.uses_logprobs]
    if logprob:
        if ref is None:
            raise UserError(f"task {', '.join(logprob)} compares every precision with an HF reference: add bf16, fp16 "
                            "or fp32 to --precisions")
        for p in ordered:
            if p.label != ref and not registry.backend_class(p.name).returns_logprobs():
                raise UserError(f"task {', '.join(logprob)} needs log-probabilities, which precision {p.label} "
                                "cannot return; leave it out of this run")
        first = {ref, *(c for c, original in controls.items() if original == ref)}
        ordered.sort(key=lambda p: p.label not in first)
    return PrecisionPlan(ordered, reference, ref if logprob else None, _engine_baselines(ordered, controls), added,
                         controls)


def _engine_baselines(precisions: Sequence[Precision], controls: dict[str, str]) -> dict[str, str]:
    """engine -> the full-precision baseline among its precisions (never a noise-floor control)."""
    engines: dict[str, list[Precision]] = {}
    for p in precisions:
        engines.setdefault(p.engine, []).append(p)
    return {eng: base.label for eng, members in engines.items()
            for base in [pick_engine_baseline(members, controls)] if base}


# --- the plan --------------------------------------------------------------------------------------
def assemble(spec: RunSpec, model: ModelInfo, tasks: dict[str, PlannedTask], precisions: PrecisionPlan) -> RunPlan:
    """This invocation's plan."""
    return RunPlan(model=model, seed=spec.seed, instruction_language=spec.instruction_language, tasks=tasks,
                   precisions=tuple(precisions.precisions), reference=precisions.reference,
                   logprob_reference=precisions.logprob_reference, engine_baselines=precisions.engine_baselines,
                   added=tuple(precisions.added), controls=precisions.controls, measure=measure_rule(tasks),
                   rope_scaling=spec.rope_scaling.with_window(model.max_position_embeddings) if spec.rope_scaling else None)


def measure_rule(tasks: dict[str, PlannedTask]) -> MeasureRule:
    return MeasureRule(chance={label: t.chance_level for label, t in tasks.items()})


def merge(previous: RunPlan, current: RunPlan) -> RunPlan:
    """What a resumed run directory holds: its earlier plan and this invocation's together. The
    log-prob reference stays the one whose files were kept; the reference is chosen again over all
    the precisions the directory holds."""
    known = set(previous.labels)
    precisions = previous.precisions + tuple(p for p in current.precisions if p.label not in known)
    tasks = previous.tasks | current.tasks
    return current.model_copy(update={
        "tasks": tasks, "precisions": precisions, "reference": choose_reference(precisions),
        "logprob_reference": previous.logprob_reference or current.logprob_reference,
        "engine_baselines": current.engine_baselines | previous.engine_baselines,
        "added": tuple(sorted(set(previous.added) | set(current.added))),
        "controls": previous.controls | current.controls, "measure": measure_rule(tasks)})


# --- checks that need the machine --------------------------------------------------------------------
def needs_artifact_cache(spec: RunSpec, precisions: Sequence[Precision]) -> bool:
    """Whether the run writes into the artifact cache: a bundled model is converted there, and
    precisions that build artifacts (GGUF, GPTQ) without a given file or checkpoint keep them there."""
    return spec.model is None or by_alias(spec.model) is not None or any(registry.backend_class(p.name).builds_artifacts()
                                     and p.options.given_artifact() is None for p in precisions)


def validate_precisions(precisions: Sequence[Precision], model: str, device: str, *, trust_remote_code: bool = False,
                        allow_pickle: bool = False, tokenizer: PromptTokenizer | None = None,
                        rope: RopeScaling | None = None) -> None:
    """What each precision needs from this machine (device, files), before anything is loaded or
    written; with the reference `tokenizer`, only the checks that need it (a given checkpoint's
    tokenizer must be the reference's)."""
    from qlongbench.backends.base import ValidateContext

    ctx = ValidateContext(model=model, device=device, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    for p in precisions:
        cls = registry.backend_class(p.name)
        if rope is not None and rope.type not in cls.rope_scaling_types():
            types = ", ".join(cls.rope_scaling_types()) or "none"
            raise UserError(f"precision {p.label} cannot run RoPE scaling {rope.type} (its engine, {cls.engine}, runs: "
                            f"{types}); leave it out of a --rope-scaling run or choose another type")
        if tokenizer is None:
            registry.backend_class(p.name).validate(p, ctx)
        else:
            registry.backend_class(p.name).validate_tokenizer(p, ctx, tokenizer)


def all_lengths(tasks: dict[str, PlannedTask]) -> list[int]:
    return sorted({n for t in tasks.values() for n in t.lengths})


def check_kv_caches(precisions: Sequence[Precision], model: ModelInfo) -> None:
    """A `+kv=` label whose engine cannot quantize the cache of this model's sliding-window layers is
    refused before any work (else every sample would end as an error record)."""
    if not model.sliding_layers:
        return
    for p in precisions:
        cls = registry.backend_class(p.name)
        if p.kv and not cls.kv_types_on_sliding_layers():
            raise UserError(f"precision {p.label}: {cls.engine}'s quantized KV cache runs only on models whose every "
                            f"layer attends to the whole context, and this model has {model.sliding_layers} sliding-window "
                            "layers; leave +kv= out, or quantize the cache in llama.cpp (such as gguf-bf16+kv=q8_0)")
