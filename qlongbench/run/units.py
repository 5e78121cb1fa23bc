"""Units of work: what loads one model once. A unit is a precision with its samples, or a slice of
them when the user asks for replicas. `run_unit` runs one and yields what the driver
writes (records, and the precision's load outcome), whichever executor runs it: the driver's own
process, or a Ray worker on another machine. It writes nothing itself but the log-prob files a
reference keeps."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from qlongbench.errors import UserError
from qlongbench.run import drive
from qlongbench.run.device import cpu_model
from qlongbench.run.header import Placement
from qlongbench.run.logprobs import LogprobFiles
from qlongbench.run.plan import Cell, PlannedTask, RunPlan
from qlongbench.run.scheduler import Cost, chain_costs, chains, group_by_prefix
from qlongbench.spec.config import RunSpec
from qlongbench.spec.precision import Precision
from qlongbench.backends.base import Backend
from qlongbench.tokenizer import PromptTokenizer
from qlongbench.types import BackendInfo, Generation, Record, Sample, Score, ScoredGeneration, Status

FaultHook = Callable[..., None]
"""Tests only: called as hook(event, **info) where a fault may be injected (it raises to inject one)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """One model load: a precision and the samples it runs there."""

    precision: Precision
    """The precision."""
    sample_ids: tuple[str, ...]
    """Its samples to run, cell by cell (those already written left out when it was planned)."""
    position: int = 1
    """The precision's place in the run (1-based), for progress."""
    n_precisions: int = 1
    """Precisions in the run."""
    index: int = 0
    """Which slice of the precision (0-based)."""
    of: int = 1
    """Slices the precision was cut into."""
    costs: tuple[Cost, ...] = ()
    """Relative cost of each sample (prefill and answer parts), in sample_ids' order
    (scheduler.chain_costs: what the slices were dealt by, and what the progress ETA prices at the
    seconds it measures per part)."""

    @property
    def label(self) -> str:
        return self.precision.label

    @property
    def name(self) -> str:
        """The precision label, or label#i/n for a slice."""
        return self.label if self.of == 1 else f"{self.label}#{self.index + 1}/{self.of}"


@dataclass(frozen=True)
class UnitContext:
    """What every unit of a run needs besides its samples (picklable: it travels to Ray workers)."""

    spec: RunSpec
    """The run's spec: how engines load (device, revision, trust, pickle) and how prompts are driven
    (reuse, batch size, decode rows)."""
    plan: RunPlan
    """This invocation's plan: tasks and their generation configs, the precisions, the log-prob
    reference and engine baselines, the reference tokenizer's fingerprint (a worker that loads
    another tokenizer refuses to run)."""
    run_id: str
    """Every record carries it."""
    model_path: str
    """The reference model as the engines load it (a path every worker sees, or a hub id)."""
    cache_dir: str
    """The artifact cache (on a cluster: a filesystem every node mounts at this path)."""
    run_root: str
    """The run directory (log-prob tasks keep and read their reference's files under it)."""
    fault_hook: FaultHook | None = None
    """Tests only: called where a fault may be injected."""


@dataclass(frozen=True)
class Loaded:
    """A unit's precision loaded: what it is, and where it runs."""

    info: BackendInfo
    placement: Placement


@dataclass(frozen=True)
class LoadFailed:
    """A unit's precision could not load (status oom or error); its samples got records saying so."""

    label: str
    status: str
    message: str


Event = Record | Loaded | LoadFailed


def plan_units(precisions: Sequence[Precision], samples: dict[Cell, list[Sample]],
               done: Collection[tuple[str, str]], replicas: int = 1) -> tuple[list[Unit], int]:
    """Units in run order, and how many (precision, sample) pairs are already written. With
    replicas > 1 a precision's prompts are dealt, costliest first, to the slice with the least work
    so far, a chain of shared contexts at a time (scheduler.chains: the questions on one context and
    the shorter cuts of a nested haystack stay in one unit, so each context is still prefilled once;
    independent prompts of one cell may go to different slices). Work is scheduler.chain_costs:
    quadratic in the context length, as prefill is. Within a unit the engine answers the longest
    context first (drive.generate)."""
    units: list[Unit] = []
    skipped = 0
    order = {s.sample_id: i for i, s in enumerate(s for ss in samples.values() for s in ss)}
    for n, prec in enumerate(precisions, 1):
        label = prec.label
        todo = [s for ss in samples.values() for s in ss if (label, s.sample_id) not in done]
        skipped += len(order) - len(todo)
        costed = sorted((chain_costs(chain) for chain in chains(group_by_prefix(todo))),
                        key=lambda chain: -sum(c.total for _, c in chain))
        k = max(1, min(replicas, len(costed)))
        slices: list[list[tuple[Sample, Cost]]] = [[] for _ in range(k)]
        work = [0.0] * k
        for chain in costed:
            i = work.index(min(work))
            slices[i].extend(chain)
            work[i] += sum(c.total for _, c in chain)
        for i, part in enumerate(slices):
            part.sort(key=lambda sc: order[sc[0].sample_id])  # the run's order
            units.append(Unit(prec, tuple(s.sample_id for s, _ in part), position=n, n_precisions=len(precisions),
                              index=i, of=k, costs=tuple(c for _, c in part)))
    return units, skipped


def unit_gpus(precision: Precision, spec: RunSpec, cluster_gpus: float) -> float:
    """GPUs a unit of this precision asks for: the user's figure (by label, name, or "*"), else
    none on cpu or a cluster without GPUs, else the engine's need (vLLM: tensor_parallel_size)."""
    for key in (precision.label, precision.name, "*"):
        if key in spec.gpus:
            return float(spec.gpus[key])
    if spec.device == "cpu" or cluster_gpus <= 0:
        return 0.0
    return float(precision.options.gpus_per_unit())


def run_unit(unit: Unit, ctx: UnitContext, samples: Sequence[Sample], *, tokenizer: PromptTokenizer | None = None,
             device: str | None = None, skip: Collection[tuple[str, str]] = (),
             where: dict[str, object] | None = None) -> Iterator[Event]:
    """Load the unit's precision once and yield one record per sample not in `skip`, in the order
    the engine answers them; a precision that cannot load yields LoadFailed and a record per sample
    saying so. `tokenizer` and `device` default to loading / resolving them here (a worker)."""
    from qlongbench import memory as qmem
    from qlongbench import registry
    from qlongbench.backends.base import LoadContext

    spec, plan, label = ctx.spec, ctx.plan, unit.label
    by_id = {s.sample_id: s for s in samples}
    todo = [by_id[i] for i in unit.sample_ids if (label, i) not in skip]
    for s in (s for s in todo if s.status != "ok"):
        yield make_record(ctx.run_id, label, "-", s, plan.tasks[s.task], None, status=s.status,
                          error=s.overlength_reason())
    runnable = [s for s in todo if s.status == "ok"]
    if not runnable:
        return
    cls = registry.backend_class(unit.precision.name)
    drive.free_memory()
    try:
        if device is None:
            from qlongbench.run.device import resolve_device

            device = resolve_device(spec.device)
        if tokenizer is None:
            tokenizer = _worker_tokenizer(ctx)
        baseline = qmem.memory_now(device)
        if ctx.fault_hook is not None:  # tests inject failures at load too
            ctx.fault_hook("load", n_tokens=0, precision=label)
        load = LoadContext(model=ctx.model_path, revision=spec.revision, device=device,
                           cache_dir=Path(ctx.cache_dir), tokenizer=tokenizer,
                           trust_remote_code=spec.trust_remote_code, allow_pickle=spec.allow_pickle,
                           fault_hook=ctx.fault_hook, rope_scaling=ctx.plan.rope_scaling,
                           decode_rows=spec.decode_rows)
        backend = cls(unit.precision, load)
    except Exception as err:  # noqa: BLE001 - one precision failing to load never stops the sweep
        status = "oom" if drive.is_oom(err) else "error"
        message = str(err) if isinstance(err, UserError) else drive.one_line(err)
        log.error("precision %s cannot run: %s", label, message)
        drive.free_memory()
        yield LoadFailed(label, status, message)
        for s in runnable:
            yield make_record(ctx.run_id, label, cls.engine, s, plan.tasks[s.task], None, status=status,
                              error=message)
        return
    try:
        info = backend.info().model_copy(update={"memory_baseline_bytes": baseline})
        yield Loaded(info, Placement(precision=label, host=socket.gethostname(), cpu=cpu_model(), device=str(info.device),
                                     pid=os.getpid(), **(where or {})))
        keep, compare = plan.logprob_role(label)
        files = LogprobFiles(Path(ctx.run_root))
        for s, gen, status, error in _drive(backend, runnable, plan, label, keep, compare, files, spec):
            yield make_record(ctx.run_id, label, info.engine, s, plan.tasks[s.task], gen, status=status, error=error)
    finally:
        backend.close()


def _worker_tokenizer(ctx: UnitContext) -> PromptTokenizer:
    """The reference tokenizer, loaded where the unit runs; it must be the one the samples were
    frozen with (same fingerprint), or the unit refuses to run."""
    from qlongbench.run.model import load_tokenizer

    tok = load_tokenizer(ctx.model_path, ctx.spec)
    if ctx.plan.model.tokenizer and tok.fingerprint() != ctx.plan.model.tokenizer:
        raise UserError(f"the tokenizer of {ctx.model_path} on {socket.gethostname()} differs from the one the "
                        "samples were frozen with (another model version or tokenizers release on this node)")
    return tok


def _drive(backend: Backend, samples: Sequence[Sample], plan: RunPlan, label: str, keep: bool,
           compare: dict[str, str], files: LogprobFiles, spec: RunSpec) -> Iterator[drive.Outcome]:
    """Text tasks are generated (drive.generate); log-prob tasks (kld) are scored against the
    kept distributions of the reference and of the engine-matched baseline."""
    from qlongbench.tasks.base import LogprobRole

    gen_cfgs = {label: plan.generation(label) for label in plan.tasks}
    text = [s for s in samples if not plan.tasks[s.task].uses_logprobs]
    yield from drive.generate(backend, text, gen_cfgs, reuse=spec.reuse, batch_size=spec.batch_size,
                              rows=spec.decode_rows)
    for s in samples:
        if not plan.tasks[s.task].uses_logprobs:
            continue
        task = plan.tasks[s.task].task()
        try:
            kept = {prefix: files.load(ref, s) for prefix, ref in compare.items()}
            role = LogprobRole(keep=keep, compare_with=kept)
            outcome = drive.score_logprobs(backend, s, task, role, lambda arrays, s=s: files.save(label, s, arrays))
        except UserError as err:
            yield s, None, "error", str(err)
            continue
        except Exception as err:  # noqa: BLE001 - an engine failure becomes a record, not a crash
            status, message = drive.engine_failure(err, s.sample_id)
            yield s, None, status, message
            continue
        yield s, outcome, "ok", None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def score_output(task: PlannedTask, s: Sample, text: str) -> Score:
    """The task's verdict on one output. Its frozen metadata was validated on load; a scorer that
    still fails on it is one UserError line naming the sample, not a traceback."""
    try:
        return task.task().score(s, text)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError) as err:
        raise UserError(f"task {s.task} cannot score sample {s.sample_id} from its frozen metadata "
                        f"({type(err).__name__}: {err}); if its samples file was edited, restore it, or start the "
                        "run over with --new") from None


def make_record(run_id: str, precision: str, engine: str, s: Sample, task: PlannedTask,
                outcome: Generation | ScoredGeneration | None, *, status: Status, error: str | None = None) -> Record:
    """The record of one sample at one precision: scored by its task (log-prob tasks arrive scored)."""
    score = parsed = None
    metrics: dict[str, float] = {}
    if status == "ok" and outcome is not None:
        verdict = outcome.score if isinstance(outcome, ScoredGeneration) else score_output(task, s, outcome.text)
        score, parsed, metrics = verdict.score, verdict.parsed, dict(verdict.metrics)
    gen = outcome.generation if isinstance(outcome, ScoredGeneration) else outcome
    return Record(
        run_id=run_id, precision=precision, engine=engine, task=s.task, language=s.language,
        instruction_language=s.instruction_language, length=s.length, n_prompt_tokens=len(s.prompt_ids),
        sample_id=s.sample_id, depth=s.depth, prompt_sha256=s.prompt_sha256, gen_config_sha256=task.generation.sha256,
        output=gen.text if gen is not None else "", expected=s.expected, score=score, parsed=parsed,
        status=status, error=error, metrics=metrics,
        n_generated_tokens=len(gen.token_ids) if gen is not None else 0,
        prefill_seconds=gen.prefill_seconds if gen is not None else None,
        decode_seconds=gen.decode_seconds if gen is not None else None,
        n_prefilled_tokens=gen.n_prefilled_tokens if gen is not None else None,
        kv_cache_bytes=gen.kv_cache_bytes if gen is not None else None, created_at=now(),
        kv_cache_allocator_bytes=gen.kv_cache_allocator_bytes if gen is not None else None,
        peak_bytes=gen.peak_bytes if gen is not None else None,
        peak_source=gen.peak_source if gen is not None else None,
        decode_rows=gen.decode_rows if gen is not None else None,
    )
