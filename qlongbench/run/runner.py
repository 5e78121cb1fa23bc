"""A run, end to end: plan and check everything, open (or resume) the run directory, freeze the
samples once, then load one precision at a time, drive it over its samples and append a record
per sample. Re-running the same command resumes; error records are retried unless kept."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from qlongbench.errors import UserError
from qlongbench.hashing import sha256_json
from qlongbench.run.header import GenerationConfigRecord, RunHeader
from qlongbench.run.model import ResolvedModel, default_cache_dir, environment, load_tokenizer, model_info, resolve_model
from qlongbench.run.plan import (
    Cell, PlannedTask, PrecisionPlan, all_lengths, cells, expand_precisions, gen_config, needs_artifact_cache, plan_tasks,
    relabel,
    validate_precisions,
)
from qlongbench.run.progress import Progress, ProgressFn
from qlongbench.run.store import RunDir, RunLock
from qlongbench.run.units import now
from qlongbench.spec.config import RunSpec
from qlongbench.spec.lengths import check_lengths
from qlongbench.spec.references import engine_baselines
from qlongbench.tasks.base import BuildContext
from qlongbench.types import Record, Sample

log = logging.getLogger(__name__)

@dataclass
class RunResult:
    run_dir: Path
    """Where the run lives."""
    written: int = 0
    """Records written by this invocation."""
    skipped: int = 0
    """Records already present (resume)."""
    retried: int = 0
    """Error records of an earlier invocation removed to be run again."""
    failed_precisions: dict[str, str] = field(default_factory=dict)
    """Precisions that could not run at all, with the reason."""


def executor_for(spec: RunSpec) -> Any:
    """The spec's executor: this process (local), or Ray (run/ray_executor.py)."""
    if spec.executor == "ray":
        from qlongbench.run.ray_executor import RayExecutor

        return RayExecutor(spec)
    from qlongbench.run.executors import LocalExecutor

    return LocalExecutor(spec)


class Runner:
    def __init__(self, spec: RunSpec, *, progress: ProgressFn | None = None, fresh: bool = False,
                 keep_errors: bool = False, fault_hook: Any = None, executor: Any = None):
        self.spec = spec
        self.executor = executor or executor_for(spec)
        """Where the units run: this process (local) or Ray workers; this process writes either way."""
        self.progress = progress or (lambda event: None)
        self.fresh = fresh
        self.keep_errors = keep_errors
        self.fault_hook = fault_hook
        self.run_dir = RunDir(spec.out)
        self._verified: dict[str, list[Sample]] = {}
        """Samples files a resume verified before writing anything, by name (read once)."""
        self._wrote: list[Path] = []
        """Samples files this invocation wrote (removed again when it is refused)."""

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        return self._go(run_precisions=True)

    def freeze(self) -> Path:
        """Plan, check and freeze the samples (run.json and samples/ written), running no precision:
        for benchmarks that time engine work on frozen ids, and for executors that hand the
        precisions to workers."""
        self._go(run_precisions=False)
        return self.run_dir.root

    def _go(self, *, run_precisions: bool) -> RunResult:
        spec = self.spec
        # Everything that can be refused is checked before the run directory is touched.
        fixed = None
        if self.run_dir.exists() and not self.fresh:
            fixed = self.run_dir.read_header().logprob_reference  # a resumed run keeps its reference
        tasks = plan_tasks(spec)
        cells(spec, tasks)  # refuses absurd sizes before anything is built
        plan = expand_precisions(spec, tasks, fixed)
        if needs_artifact_cache(spec, plan.precisions):
            from qlongbench.backends.build.artifacts import ArtifactCache

            ArtifactCache(default_cache_dir(spec)).check_writable()
        model = resolve_model(spec)  # cheap checks first: a wrong path fails before torch is imported
        self.device = self.executor.driver_device(spec, plan.precisions)
        validate_precisions(plan.precisions, model.path, self.device)
        tok = load_tokenizer(model.path, spec)
        info = model_info(model, spec, tok)
        check_lengths(all_lengths(tasks), info.max_position_embeddings, allow_extrapolation=spec.allow_extrapolation)
        self.run_dir.check_writable()
        lock = RunLock(self.run_dir.root)
        lock.acquire()
        try:
            found = self.run_dir.run_json.read_bytes() if self.run_dir.exists() and not self.fresh else None
            try:
                header = self._open(model, info, tasks, plan)
                samples = self._freeze_samples(header, tok, tasks)
            except UserError:  # refused: the directory is left as this invocation found it
                self._undo(found)
                raise
            retried = 0 if self.keep_errors else self._drop_errors(self.run_dir.records(repair=True))
            if not run_precisions:
                return RunResult(run_dir=self.run_dir.root, retried=retried)
            # What exists now (imported libraries, the tokenizer, the frozen samples) lives for the
            # whole run: freezing it keeps the collection a backend runs on close (to hand its
            # weights back before the next precision loads) from rescanning it every time.
            gc.freeze()
            try:
                result = self._run_precisions(header, tok, model, tasks, plan, samples)
            finally:
                gc.unfreeze()
            result.retried = retried
            return result
        finally:
            lock.release()

    # --- opening --------------------------------------------------------------------------------
    def _open(self, model: ResolvedModel, info: Any, tasks: Sequence[PlannedTask],
              plan: PrecisionPlan) -> RunHeader:
        spec, rd = self.spec, self.run_dir
        sample_id = sha256_json(spec.sample_identity())
        gen_cfgs = {t.label: gen_config(spec, t.task) for t in tasks}
        gen_records = {label: GenerationConfigRecord(**cfg.model_dump(), sha256=sha256_json(cfg))
                       for label, cfg in gen_cfgs.items()}
        if self.fresh:
            rd.clear()
        if rd.exists():
            header = rd.read_header()
            old, new = header.spec.sample_identity(), spec.sample_identity()
            if old != new:
                diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                raise UserError(f"{rd.root} holds a run made by a different spec (differs in: {', '.join(diff)}); "
                                "choose another --out, or pass --new to start it over")
            if not info.local and header.model.source != info.source:
                raise UserError(f"{rd.root} was run on {header.model.source}, not {info.source}; choose another "
                                "--out, or pass --new to start it over")
            if header.model.files_sha256 != info.files_sha256:
                raise UserError(f"{rd.root} was run on different model files than {info.source}; "
                                "choose another --out, or pass --new to start it over")
            self._verified = rd.verify_for_resume(header)  # a tampered directory is refused before any write
            planned = {rd.samples_path(c.stem()).name for c in cells(spec, tasks)}
            stray = sorted({p.name for p in rd.samples_dir.glob("*.jsonl")} - set(header.samples) - planned)
            if stray:  # neither bound nor one this run would freeze: the report would refuse it later
                raise UserError(f"{rd.samples_dir / stray[0]} is not one of this run's samples files (run.json binds "
                                "them); remove it, or start the run over with --new")
            header = header.model_copy(update={
                "spec": spec, "resumed_at": [*header.resumed_at, now()],
                "engine_baselines": sorted(set(header.engine_baselines) | set(plan.engine_baselines)),
                "controls": header.controls | plan.controls,
                "logprob_reference": header.logprob_reference or plan.logprob_reference,
                "tasks": header.tasks | {t.label: t.info() for t in tasks},
                "generation_configs": header.generation_configs | gen_records})
            rd.write_header(header)
            return header
        if rd.holds_data():
            raise UserError(f"{rd.root} holds samples or records but no run.json, so nothing proves which run made "
                            "them; choose another --out, or pass --new to start it over")
        name = spec.name or rd.root.name
        header = RunHeader(
            run_id=f"{name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}", name=name, created_at=now(), spec=spec,
            spec_sha256=spec.identity_sha256(), sample_identity_sha256=sample_id, seed=spec.seed, model=info,
            environment=environment(), engine_baselines=plan.engine_baselines, controls=plan.controls,
            logprob_reference=plan.logprob_reference, tasks={t.label: t.info() for t in tasks},
            generation_configs=gen_records)
        rd.write_header(header)
        return header

    def _undo(self, header_bytes: bytes | None) -> None:
        """Take back what a refused invocation wrote: its samples files, and run.json restored to the
        bytes it found (or removed, when this invocation started the run)."""
        from qlongbench.files import atomic_write_bytes

        rd = self.run_dir
        try:
            for path in self._wrote:
                path.unlink(missing_ok=True)
            if header_bytes is None:
                rd.run_json.unlink(missing_ok=True)
            elif rd.run_json.read_bytes() != header_bytes:
                atomic_write_bytes(rd.run_json, header_bytes)
        except (OSError, UserError) as err:
            log.warning("could not take back this invocation's changes to %s: %s", rd.root, err)

    def _drop_errors(self, records: list[Record]) -> int:
        """Error records of an earlier invocation are run again: the file is rewritten without them
        (atomically, so a kill leaves either version whole)."""
        errors = [r for r in records if r.status == "error"]
        if errors:
            from qlongbench.files import atomic_write_text
            from qlongbench.run.store import record_line

            log.info("retrying %d error records", len(errors))
            atomic_write_text(self.run_dir.records_path, "".join(record_line(r) + "\n" for r in records
                                                                  if r.status != "error"))
        return len(errors)

    def _freeze_samples(self, header: RunHeader, tok: Any, tasks: Sequence[PlannedTask]) -> dict[Cell, list[Sample]]:
        by_label = {t.label: t for t in tasks}
        out: dict[Cell, list[Sample]] = {}
        planned = cells(self.spec, tasks)
        bound = dict(header.samples)
        for i, cell in enumerate(planned):
            path = self.run_dir.samples_path(cell.stem())
            if path.name in bound:
                out[cell] = self._verified.get(path.name) or self.run_dir.read_samples(path, bound[path.name])
            elif path.exists():
                # Written by a run killed before it could bind the file: adopted once its prompt
                # hashes check out.
                out[cell] = self.run_dir.read_samples(path)
                bound[path.name] = self.run_dir.file_sha256(path)
            else:
                t = by_label[cell.task]
                ctx = BuildContext.for_cell(tok, task=t.task.name, length=cell.length, language=cell.language,
                                            instruction_language=cell.instruction_language,
                                            n_samples=t.samples, run_seed=self.spec.seed,
                                            max_new_tokens=gen_config(self.spec, t.task).max_new_tokens,
                                            lengths=t.lengths)
                t0 = time.perf_counter()
                samples = relabel(t.task.build(ctx), t)
                log.info("built %d samples for %s in %.1fs", len(samples), path.name, time.perf_counter() - t0)
                self._wrote.append(path)
                bound[path.name] = self.run_dir.write_samples(path, samples)
                out[cell] = samples
            if bound != header.samples:
                header = header.model_copy(update={"samples": dict(bound)})
                self.run_dir.write_header(header)
            self.progress(Progress("samples", i + 1, len(planned), cell=cell.stem()))
        self._header = header
        return out

    # --- running --------------------------------------------------------------------------------
    def _run_precisions(self, header: RunHeader, tok: Any, model: ResolvedModel, tasks: Sequence[PlannedTask],
                        plan: PrecisionPlan, samples: dict[Cell, list[Sample]]) -> RunResult:
        """Cut the precisions into units (one model load each) and hand them to the executor; the
        ledger, here, writes what comes back."""
        from qlongbench.run.executors import Ledger
        from qlongbench.run.units import UnitContext, plan_units

        header = self._header
        done = {r.key() for r in self.run_dir.records()}
        engines = {p.label: p.engine for p in plan.precisions}
        ctx = UnitContext(
            spec=self.spec, run_id=header.run_id, model_path=model.path,
            cache_dir=str(default_cache_dir(self.spec).resolve()), run_root=str(self.run_dir.root), tokenizer_fingerprint=header.model.tokenizer,
            logprob_reference=header.logprob_reference,
            baselines=engine_baselines(engines, plan.logprob_reference or header.logprob_reference, header.controls),
            fault_hook=self.fault_hook)
        replicas = self.spec.replicas if self.executor.name != "local" else 1
        units, skipped = plan_units(plan.precisions, samples, done, replicas)
        with self.run_dir.open_records() as writer:
            ledger = Ledger(self.run_dir, header, writer, self.progress, samples, done)
            ledger.set_executor(self.executor.info())
            self.executor.run(units, ctx, samples, ledger, tokenizer=tok)
        tally = ledger.tally
        if tally.duplicates:
            log.info("%d records that came back twice (retried units) were written once", tally.duplicates)
        return RunResult(run_dir=self.run_dir.root, written=tally.written, skipped=skipped,
                         failed_precisions=tally.failed_precisions)
