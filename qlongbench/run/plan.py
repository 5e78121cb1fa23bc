"""Planning a run: the tasks and cells (task × language × length), the precisions (engine-matched
baselines added, the log-prob reference first), and every check of the user's input that can be
made before the run directory is touched."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from qlongbench import registry
from qlongbench.errors import UserError
from qlongbench.hashing import sha256_json
from qlongbench.run.header import TaskInfo
from qlongbench.spec.config import PrecisionSpec, RunSpec, TaskSpec
from qlongbench.spec.precision import Precision, parse_precision
from qlongbench.spec.references import choose_reference, pick_engine_baseline
from qlongbench.tasks.base import Task
from qlongbench.types import GenerationConfig, Sample


@dataclass(frozen=True)
class PlannedTask:
    """One task of the run: its label (name plus options), the configured task, and where it runs."""

    label: str
    """Canonical name, plus ':key=value,...' when it has options: two runs of one task with
    different options are different tasks (their samples, records and cells never mix)."""
    task: Task
    """The task, configured with its options."""
    lengths: tuple[int, ...] = ()
    """Its lengths (the run's unless the task names its own)."""
    languages: tuple[str, ...] = ()
    """Its haystack languages."""
    samples: int = 1
    """Its samples per cell."""

    @property
    def tag(self) -> str | None:
        """Short hash of the label's options, put into sample ids (None without options)."""
        return sha256_json(self.label.partition(":")[2])[:8] if ":" in self.label else None

    def info(self) -> TaskInfo:
        return TaskInfo(name=self.task.name, options=self.task.options.model_dump(mode="json"),
                        uses_logprobs=self.task.uses_logprobs, chance_level=self.task.chance_level,
                        metric=self.task.metric)


@dataclass(frozen=True)
class Cell:
    """One (task, instruction language, language, length) group of samples."""

    task: str
    """Task label."""
    instruction_language: str
    language: str
    length: int

    def stem(self) -> str:
        """Name of the cell's samples file (without .jsonl)."""
        lang = self.language if self.instruction_language == self.language else f"{self.instruction_language}_{self.language}"
        name, _, options = self.task.partition(":")
        tag = f".{sha256_json(options)[:8]}" if options else ""
        return f"{name}{tag}-{lang}-{self.length}"


def task_label(spec: TaskSpec, cls: type[Task]) -> str:
    if not spec.options:
        return cls.name
    return cls.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(spec.options.items()))


def plan_tasks(spec: RunSpec) -> list[PlannedTask]:
    """The configured tasks (bad names, options or languages refused with one line each)."""
    from qlongbench.tasks.languages import get_language

    planned: dict[str, PlannedTask] = {}
    for t in spec.tasks:
        cls = registry.task_class(t.name)
        label = task_label(t, cls)
        if label in planned:
            raise UserError(f"task {label} is listed twice; list it once")
        planned[label] = PlannedTask(label, cls(t.options), tuple(t.lengths or spec.lengths),
                                     tuple(t.languages or spec.languages), t.samples or spec.samples)
    codes = {c for p in planned.values() for c in p.languages} | {spec.instruction_language} - {None}
    for code in sorted(codes):
        try:
            get_language(code)
        except KeyError as err:
            raise UserError(str(err.args[0])) from None
    for p in planned.values():
        missing = [c for c in p.languages if c not in p.task.languages()]
        if missing:
            raise UserError(f"task {p.label} has no text in {', '.join(missing)}; it supports "
                            f"{', '.join(p.task.languages())}")
    return list(planned.values())


MAX_FROZEN_TOKENS = 200_000_000
"""Prompt tokens a run may freeze (about 1.5 GB of samples files): past it, a typo in --samples or
--lengths, not a benchmark."""


def cells(spec: RunSpec, tasks: Sequence[PlannedTask]) -> list[Cell]:
    ilang = spec.instruction_language
    out = [Cell(t.label, ilang or lang, lang, length) for t in tasks for lang in t.languages for length in t.lengths]
    samples = {t.label: t.samples for t in tasks}
    total = sum(c.length * samples[c.task] for c in out)
    if total > MAX_FROZEN_TOKENS:
        raise UserError(f"this run would freeze {total:,} prompt tokens ({len(out)} cells, up to "
                        f"{max(c.length for c in out):,} tokens each), past the limit of {MAX_FROZEN_TOKENS:,}; "
                        "lower --samples or --lengths, or split the sweep into several runs")
    return out


def all_lengths(tasks: Sequence[PlannedTask]) -> list[int]:
    return sorted({n for t in tasks for n in t.lengths})


def gen_config(spec: RunSpec, task: Task) -> GenerationConfig:
    return GenerationConfig(max_new_tokens=spec.max_new_tokens or task.default_max_new_tokens, seed=spec.seed)


def relabel(samples: list[Sample], planned: PlannedTask) -> list[Sample]:
    """Samples carry their task's label, and ids that differ between option sets of one task."""
    tag = planned.tag
    if tag is None:
        return samples
    name = planned.task.name
    return [s.model_copy(update={"task": planned.label,
                                 "sample_id": f"{name}.{tag}" + s.sample_id.removeprefix(name)}) for s in samples]


@dataclass(frozen=True)
class PrecisionPlan:
    """The precisions of a run, in run order."""

    precisions: list[Precision]
    """Every precision to load, once each, parsed."""
    engine_baselines: list[str]
    """Labels added automatically as an engine's full-precision baseline."""
    logprob_reference: str | None
    """The HF reference log-prob tasks compare with (None when no log-prob task runs)."""
    controls: dict[str, str] = field(default_factory=dict)
    """Noise-floor controls (--noise-floor): control label -> the precision it perturbs."""


def add_controls(given: OrderedDict[str, PrecisionSpec], parsed: OrderedDict[str, Precision],
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


def expand_precisions(spec: RunSpec, tasks: Sequence[PlannedTask], fixed_reference: str | None = None
                      ) -> PrecisionPlan:
    """The precisions to run, each label parsed once (bad options refused with one line): engine-matched
    baselines added (e.g. gguf-bf16 beside a gguf quant), with --noise-floor a control twin of the
    reference and of each engine baseline, each loaded once, in the order given, the log-prob
    reference (and its twin) first when a log-prob task runs. Options are read as given only here,
    where a baseline inherits its quant's engine settings and a twin its original's options."""
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
    # A resumed run keeps the log-prob reference it started with (its kept files are on disk), even
    # when this invocation lists other precisions.
    ref = fixed_reference or choose_reference(list(parsed))
    controls = add_controls(given, parsed, ref) if spec.noise_floor else {}
    ordered = list(parsed.values())
    logprob = [t.label for t in tasks if t.task.uses_logprobs]
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
    return PrecisionPlan(ordered, added, ref if logprob else None, controls)


def needs_artifact_cache(spec: RunSpec, precisions: Sequence[Precision]) -> bool:
    """Whether the run writes into the artifact cache: the bundled model is converted there, and
    precisions that build artifacts (GGUF, GPTQ) without a given file or checkpoint keep them there."""
    return spec.model is None or any(registry.backend_class(p.name).builds_artifacts()
                                     and p.options.given_artifact() is None for p in precisions)


def validate_precisions(precisions: Sequence[Precision], model: str, device: str) -> None:
    """What each precision needs from this machine (device, files), before anything is loaded or written."""
    from qlongbench.backends.base import ValidateContext

    ctx = ValidateContext(model=model, device=device)
    for p in precisions:
        registry.backend_class(p.name).validate(p, ctx)
