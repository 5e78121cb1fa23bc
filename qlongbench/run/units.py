"""Units of work: what loads one model once. A unit is a precision with its cells (longest first),
or a slice of them when the user asks for replicas. `run_unit` runs one and yields what the driver
writes (records, and the precision's load outcome), whichever executor runs it: the driver's own
process, or a Ray worker on another machine. It writes nothing itself but the log-prob files a
reference keeps."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qlongbench.errors import UserError
from qlongbench.hashing import sha256_json
from qlongbench.run import drive
from qlongbench.run.header import Placement
from qlongbench.run.plan import Cell, gen_config, plan_tasks
from qlongbench.spec.config import RunSpec
from qlongbench.spec.precision import Precision
from qlongbench.types import BackendInfo, GenerationConfig, Record, Sample, ScoredGeneration

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
    """The run's spec."""
    run_id: str
    """Every record carries it."""
    model_path: str
    """The reference model as the engines load it (a path every worker sees, or a hub id)."""
    cache_dir: str
    """The artifact cache (on a cluster: a filesystem every node mounts at this path)."""
    run_root: str
    """The run directory (log-prob tasks keep and read their reference's files under it)."""
    tokenizer_fingerprint: dict[str, Any] = field(default_factory=dict)
    """The reference tokenizer's fingerprint: a worker that loads another one refuses to run."""
    logprob_reference: str | None = None
    """The precision log-prob tasks compare with."""
    baselines: dict[str, str] = field(default_factory=dict)
    """Engine-matched baseline of each precision (log-prob tasks compare with it too)."""
    fault_hook: Any = None
    """Tests only: a callable(event, **info) that may raise to inject faults."""


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
    replicas > 1 a precision's cells are dealt, longest first, to the slice with the fewest prompt
    tokens so far (a cell is never split: its shared context is prefilled once). Within a unit the
    engine answers the longest context first (drive.generate)."""
    units: list[Unit] = []
    skipped = 0
    for n, prec in enumerate(precisions, 1):
        label = prec.label
        todo = {cell: [s.sample_id for s in ss if (label, s.sample_id) not in done] for cell, ss in samples.items()}
        skipped += sum(len(ss) for ss in samples.values()) - sum(len(ids) for ids in todo.values())
        cells = [c for c in todo if todo[c]]
        k = max(1, min(replicas, len(cells)))
        slices: list[list[Cell]] = [[] for _ in range(k)]
        load = [0] * k
        for cell in sorted(cells, key=lambda c: -c.length * len(todo[c])):
            i = load.index(min(load))
            slices[i].append(cell)
            load[i] += cell.length * len(todo[cell])
        for i, part in enumerate(slices):
            ids = tuple(sid for c in cells if c in part for sid in todo[c])  # the run's cell order
            units.append(Unit(prec, ids, position=n, n_precisions=len(precisions), index=i, of=k))
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


def run_unit(unit: Unit, ctx: UnitContext, samples: Sequence[Sample], *, tokenizer: Any = None,
             device: str | None = None, skip: Collection[tuple[str, str]] = (),
             where: dict[str, Any] | None = None) -> Iterator[Event]:
    """Load the unit's precision once and yield one record per sample not in `skip`, in the order
    the engine answers them; a precision that cannot load yields LoadFailed and a record per sample
    saying so. `tokenizer` and `device` default to loading / resolving them here (a worker)."""
    from qlongbench import memory as qmem
    from qlongbench import registry
    from qlongbench.backends.base import LoadContext
    from qlongbench.run.logprobs import LogprobFiles

    spec, label = ctx.spec, unit.label
    tasks = {t.label: t.task for t in plan_tasks(spec)}
    gen_cfgs = {name: gen_config(spec, task) for name, task in tasks.items()}
    by_id = {s.sample_id: s for s in samples}
    todo = [by_id[i] for i in unit.sample_ids if (label, i) not in skip]
    for s in (s for s in todo if s.status != "ok"):
        yield make_record(ctx.run_id, label, "-", s, gen_cfgs[s.task], None, status=s.status,
                          error=s.metadata.get("reason"))
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
                           fault_hook=ctx.fault_hook)
        backend = cls(unit.precision, load)
    except Exception as err:  # noqa: BLE001 - one precision failing to load never stops the sweep
        status = "oom" if drive.is_oom(err) else "error"
        message = str(err) if isinstance(err, UserError) else drive.one_line(err)
        log.error("precision %s cannot run: %s", label, message)
        drive.free_memory()
        yield LoadFailed(label, status, message)
        for s in runnable:
            yield make_record(ctx.run_id, label, cls.engine, s, gen_cfgs[s.task], None, status=status, error=message)
        return
    try:
        info = backend.info().model_copy(update={"memory_baseline_bytes": baseline})
        yield Loaded(info, Placement(precision=label, host=socket.gethostname(), device=str(info.device),
                                     pid=os.getpid(), **(where or {})))
        keep = label == ctx.logprob_reference or label in set(ctx.baselines.values())
        compare = {} if label == ctx.logprob_reference else {"": ctx.logprob_reference}
        if label in ctx.baselines and ctx.baselines[label] != label:
            compare["eb_"] = ctx.baselines[label]
        files = LogprobFiles(Path(ctx.run_root))
        for s, gen, status, error in _drive(backend, runnable, gen_cfgs, tasks, label, keep, compare, files, spec):
            yield make_record(ctx.run_id, label, info.engine, s, gen_cfgs[s.task], gen, status=status, error=error,
                              task=tasks[s.task])
    finally:
        backend.close()


def _worker_tokenizer(ctx: UnitContext) -> Any:
    """The reference tokenizer, loaded where the unit runs; it must be the one the samples were
    frozen with (same fingerprint), or the unit refuses to run."""
    from qlongbench.run.model import load_tokenizer

    tok = load_tokenizer(ctx.model_path, ctx.spec)
    if ctx.tokenizer_fingerprint and tok.fingerprint() != ctx.tokenizer_fingerprint:
        raise UserError(f"the tokenizer of {ctx.model_path} on {socket.gethostname()} differs from the one the "
                        "samples were frozen with (another model version or tokenizers release on this node)")
    return tok


def _drive(backend: Any, samples: Sequence[Sample], gen_cfgs: dict[str, GenerationConfig], tasks: dict[str, Any],
           label: str, keep: bool, compare: dict[str, str | None], files: Any, spec: RunSpec):
    """Text tasks are generated (drive.generate); log-prob tasks (kld) are scored against the
    kept distributions of the HF reference and of the engine-matched baseline."""
    from qlongbench.tasks.base import LogprobRole

    text = [s for s in samples if not tasks[s.task].uses_logprobs]
    yield from drive.generate(backend, text, gen_cfgs, reuse=spec.reuse, batch_size=spec.batch_size)
    for s in samples:
        task = tasks[s.task]
        if not task.uses_logprobs:
            continue
        try:
            kept = {prefix: files.load(ref, s) for prefix, ref in compare.items() if ref}
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


def make_record(run_id: str, precision: str, engine: str, s: Sample, cfg: GenerationConfig, gen: Any, *,
                status: str, error: str | None = None, task: Any = None) -> Record:
    score = parsed = None
    metrics: dict[str, float] = {}
    if status == "ok" and gen is not None:
        # Log-prob tasks (kld) arrive scored; text tasks are scored from the output.
        verdict = gen.score if isinstance(gen, ScoredGeneration) else task.score(s, gen.text)
        score, parsed, metrics = verdict.score, verdict.parsed, dict(verdict.metrics)
    gen = gen.generation if isinstance(gen, ScoredGeneration) else gen
    return Record(
        run_id=run_id, precision=precision, engine=engine, task=s.task, language=s.language,
        instruction_language=s.instruction_language, length=s.length, n_prompt_tokens=len(s.prompt_ids),
        sample_id=s.sample_id, depth=s.depth, prompt_sha256=s.prompt_sha256, gen_config_sha256=sha256_json(cfg),
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
    )
