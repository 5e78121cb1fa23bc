"""A run, end to end: plan once and check everything, open (or resume) the run directory, freeze the
samples once, then load one precision at a time, drive it over its samples and append a record per
sample. Re-running the same command resumes; error records are retried unless kept."""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from qlongbench.errors import UserError
from qlongbench.hashing import sha256_json
from qlongbench.run.executors import Executor
from qlongbench.run.header import RunHeader
from qlongbench.run.model import ResolvedModel, default_cache_dir, environment, load_tokenizer, model_info, resolve_model
from qlongbench.run.plan import Cell, RunPlan
from qlongbench.run.planner import (
    all_lengths, assemble, check_kv_caches, merge, needs_artifact_cache, plan_precisions, plan_tasks,
    validate_precisions,
)
from qlongbench.run.progress import Progress, ProgressFn
from qlongbench.run.store import HeaderBook, RunDir, RunLock
from qlongbench.run.verify import task_names
from qlongbench.run.units import FaultHook, now
from qlongbench.spec.config import RunSpec
from qlongbench.spec.lengths import check_lengths
from qlongbench.tasks.base import BuildContext
from qlongbench.tokenizer import PromptTokenizer
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


def executor_for(spec: RunSpec) -> Executor:
    """The spec's executor: this process (local), or Ray (run/ray_executor.py)."""
    if spec.executor == "ray":
        from qlongbench.run.ray_executor import RayExecutor

        return RayExecutor(spec)
    from qlongbench.run.executors import LocalExecutor

    return LocalExecutor(spec)


class Runner:
    def __init__(self, spec: RunSpec, *, progress: ProgressFn | None = None, fresh: bool = False,
                 keep_errors: bool = False, fault_hook: FaultHook | None = None, executor: Executor | None = None):
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
        # The plan stage: every check that can refuse the input runs before the directory is touched.
        fixed = None
        if self.run_dir.exists() and not self.fresh:
            fixed = self.run_dir.read_header().plan.logprob_reference  # a resumed run keeps its reference
        tasks = plan_tasks(spec)
        precisions = plan_precisions(spec, tasks, fixed)
        if needs_artifact_cache(spec, precisions.precisions):
            from qlongbench.backends.build.artifacts import ArtifactCache

            ArtifactCache(default_cache_dir(spec)).check_writable()
        model = resolve_model(spec)  # cheap checks first: a wrong path fails before torch is imported
        device = self.executor.driver_device(spec, precisions.precisions)
        switches = {"trust_remote_code": spec.trust_remote_code, "allow_pickle": spec.allow_pickle}
        validate_precisions(precisions.precisions, model.path, device, **switches, rope=spec.rope_scaling)
        tok = load_tokenizer(model.path, spec)
        validate_precisions(precisions.precisions, model.path, device, **switches, tokenizer=tok)
        plan = assemble(spec, model_info(model, spec, tok), tasks, precisions)
        check_kv_caches(precisions.precisions, plan.model)
        check_lengths(all_lengths(plan.tasks), plan.model.max_position_embeddings,
                      allow_extrapolation=spec.allow_extrapolation, rope=plan.rope_scaling)
        cells = plan.cells()
        self.run_dir.check_writable()
        lock = RunLock(self.run_dir.root)
        lock.acquire()
        try:
            found = self.run_dir.run_json.read_bytes() if self.run_dir.exists() and not self.fresh else None
            try:
                book = self._open(plan, cells)
                samples = self._freeze_samples(book, tok, plan, cells)
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
                result = self._run_precisions(book, tok, model, plan, samples)
            finally:
                gc.unfreeze()
            result.retried = retried
            return result
        finally:
            lock.release()

    # --- opening --------------------------------------------------------------------------------
    def _open(self, plan: RunPlan, cells: list[Cell]) -> HeaderBook:
        """The run header of this invocation: a new run's, or a resumed run's with this plan merged
        into the plan it holds (after every check that it is the same run)."""
        spec, rd = self.spec, self.run_dir
        if self.fresh:
            rd.clear()
        if rd.exists():
            header = rd.read_header()
            old, new = header.spec.sample_identity(), spec.sample_identity()
            if old != new:
                diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                raise UserError(f"{rd.root} holds a run made by a different spec (differs in: {', '.join(diff)}); "
                                "choose another --out, or pass --new to start it over")
            before, info = header.plan.model, plan.model
            if not info.local and before.source != info.source:
                raise UserError(f"{rd.root} was run on {before.source}, not {info.source}; choose another "
                                "--out, or pass --new to start it over")
            if before.prompt_form and before.prompt_form != info.prompt_form:
                raise UserError(f"{rd.root} froze its prompts as {before.prompt_form}, this invocation would build them as "
                                f"{info.prompt_form} (--chat-template); choose another --out, or pass --new to start it over")
            if before.files_sha256 != info.files_sha256:
                raise UserError(f"{rd.root} was run on different model files than {info.source}; "
                                "choose another --out, or pass --new to start it over")
            self._verified = rd.verify_for_resume(header)  # a tampered directory is refused before any write
            planned = {rd.samples_path(c.stem()).name for c in cells}
            stray = sorted({p.name for p in rd.samples_dir.glob("*.jsonl")} - set(header.samples) - planned)
            if stray:  # neither bound nor one this run would freeze: the report would refuse it later
                raise UserError(f"{rd.samples_dir / stray[0]} is not one of this run's samples files (run.json binds "
                                "them); remove it, or start the run over with --new")
            if spec.name and spec.name != header.name:  # a name is where the report goes, not what was run
                log.warning("run %s was named %s; it is named %s from now on (its report goes to reports/%s)",
                            header.run_id, header.name, spec.name, spec.name)
            return HeaderBook(rd, header.model_copy(update={
                "spec": spec, "resumed_at": [*header.resumed_at, now()], "name": spec.name or header.name,
                "plan": merge(header.plan, plan)}))
        if rd.holds_data():
            raise UserError(f"{rd.root} holds samples or records but no run.json, so nothing proves which run made "
                            "them; choose another --out, or pass --new to start it over")
        name = spec.name or rd.root.name
        return HeaderBook(rd, RunHeader(
            run_id=f"{name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}", name=name, created_at=now(), spec=spec,
            spec_sha256=spec.identity_sha256(),
            sample_identity_sha256=sha256_json(spec.sample_identity() | {"prompt_form": plan.model.prompt_form}),
            seed=spec.seed, plan=plan, environment=environment()))

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

    def _freeze_samples(self, book: HeaderBook, tok: PromptTokenizer, plan: RunPlan,
                        cells: list[Cell]) -> dict[Cell, list[Sample]]:
        """Each cell's samples: built once with the reference tokenizer and bound to run.json by their
        hash, or read back (verified) when an earlier invocation froze them."""
        out: dict[Cell, list[Sample]] = {}
        bound = dict(book.header.samples)
        for i, cell in enumerate(cells):
            path = self.run_dir.samples_path(cell.stem())
            if path.name in bound:
                out[cell] = self._verified.get(path.name) or self.run_dir.read_samples(
                    path, bound[path.name], task_names(book.header))
            elif path.exists():
                # Written by a run killed before it could bind the file: adopted once its prompt
                # hashes check out.
                out[cell] = self.run_dir.read_samples(path, None, task_names(book.header))
                bound[path.name] = self.run_dir.file_sha256(path)
            else:
                t = plan.tasks[cell.task]
                ctx = BuildContext.for_cell(tok, task=t.name, length=cell.length, language=cell.language,
                                            instruction_language=cell.instruction_language, n_samples=t.samples,
                                            run_seed=plan.seed, max_new_tokens=t.generation.max_new_tokens,
                                            lengths=t.lengths)
                t0 = time.perf_counter()
                samples = t.relabel(t.task().build(ctx))
                log.info("built %d samples for %s in %.1fs", len(samples), path.name, time.perf_counter() - t0)
                self._wrote.append(path)
                bound[path.name] = self.run_dir.write_samples(path, samples)
                out[cell] = samples
            if bound != book.header.samples:
                book.update(samples=dict(bound))
            self.progress(Progress("samples", i + 1, len(cells), cell=cell.stem()))
        return out

    # --- running --------------------------------------------------------------------------------
    def _run_precisions(self, book: HeaderBook, tok: PromptTokenizer, model: ResolvedModel, plan: RunPlan,
                        samples: dict[Cell, list[Sample]]) -> RunResult:
        """Cut this invocation's precisions into units (one model load each) and hand them to the
        executor; the ledger, here, writes what comes back."""
        from qlongbench.run.executors import Ledger
        from qlongbench.run.units import UnitContext, plan_units

        done = {r.key() for r in self.run_dir.records()}
        ctx = UnitContext(spec=self.spec, plan=plan, run_id=book.header.run_id, model_path=model.path,
                          cache_dir=str(default_cache_dir(self.spec).resolve()), run_root=str(self.run_dir.root),
                          fault_hook=self.fault_hook)
        replicas = self.spec.replicas if self.executor.name != "local" else 1
        units, skipped = plan_units(plan.precisions, samples, done, replicas)
        with self.run_dir.open_records() as writer:
            ledger = Ledger(book, writer, self.progress, samples, done, units)
            ledger.set_executor(self.executor.info())
            self.executor.run(units, ctx, samples, ledger, tokenizer=tok)
        tally = ledger.tally
        if tally.duplicates:
            log.info("%d records that came back twice (retried units) were written once", tally.duplicates)
        return RunResult(run_dir=self.run_dir.root, written=tally.written, skipped=skipped,
                         failed_precisions=tally.failed_precisions)
