"""Plan cells, freeze samples once, drive one precision at a time, append records, resume."""

from __future__ import annotations

import gc
import logging
import platform
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import qlongbench
from qlongbench import registry
from qlongbench.config import PrecisionSpec, RunSpec
from qlongbench.errors import UserError
from qlongbench.hashing import sha256_json, tree_sha256
from qlongbench.store import RunDir, RunLock
from qlongbench.types import GenerationConfig, Record, Sample, ScoredGeneration, TokenPrompt

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): the CLI turns it into a bar; the library only calls it."""


@dataclass(frozen=True)
class Cell:
    """One (task, instruction language, language, length) group of samples."""

    task: str
    instruction_language: str
    language: str
    length: int


@dataclass
class RunResult:
    run_dir: Path
    """Where the run lives."""
    written: int = 0
    """Records written by this invocation."""
    skipped: int = 0
    """Records already present (resume)."""
    failed_precisions: dict[str, str] = field(default_factory=dict)
    """Precisions that could not run, with the reason."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_cache_dir() -> Path:
    import os

    return Path(os.environ.get("QLONGBENCH_CACHE", Path.home() / ".cache" / "qlongbench")).expanduser()


def demo_model_dir() -> Path:
    return Path(qlongbench.__file__).parent / "demo_model"


def resolve_model(spec: RunSpec) -> str:
    """A local directory (checked to exist) or a hub id."""
    if spec.model is None:
        path = demo_model_dir()
        if not (path / "config.json").is_file():
            raise UserError("no --model given and the bundled demo model is missing; pass --model <HF id or dir>")
        return str(path)
    p = Path(spec.model).expanduser()
    if p.exists():
        if not p.is_dir():
            raise UserError(f"--model {spec.model} is a file; give the model's directory (or a hub id)")
        return str(p.resolve())
    if spec.model.startswith((".", "/", "~")) or spec.model.count("/") > 1:
        raise UserError(f"model path {spec.model} does not exist")
    return spec.model


def _load_tokenizer(model: str, spec: RunSpec) -> Any:
    from qlongbench.tokenizer import PromptTokenizer

    try:
        return PromptTokenizer.load(model, revision=spec.revision, trust_remote_code=spec.trust_remote_code,
                                    use_chat_template=spec.chat_template)
    except UserError as err:
        if not Path(model).exists():
            raise UserError(f"{err}. If there is no network, pass a local model directory or set "
                            "HF_HUB_OFFLINE=1 to use the local hub cache") from None
        raise


def model_provenance(model: str, spec: RunSpec, tok: Any) -> dict[str, Any]:
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model, revision=spec.revision, trust_remote_code=spec.trust_remote_code)
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    local = Path(model).is_dir()
    return {
        "source": model,
        "local": local,
        "revision": spec.revision,
        "files_sha256": tree_sha256(model, (".safetensors", ".json", ".model", ".txt")) if local else None,
        "architecture": (cfg.architectures or [None])[0],
        "num_hidden_layers": getattr(text_cfg, "num_hidden_layers", None),
        "num_attention_heads": getattr(text_cfg, "num_attention_heads", None),
        "num_key_value_heads": getattr(text_cfg, "num_key_value_heads", None) or getattr(text_cfg, "num_attention_heads", None),
        "head_dim": getattr(text_cfg, "head_dim", None) or (text_cfg.hidden_size // text_cfg.num_attention_heads),
        "hidden_size": getattr(text_cfg, "hidden_size", None),
        "vocab_size": getattr(text_cfg, "vocab_size", None),
        "max_position_embeddings": getattr(text_cfg, "max_position_embeddings", None),
        "rope_scaling": getattr(text_cfg, "rope_scaling", None),
        "tokenizer": tok.fingerprint(),
        "chat_template_sha256": tok.chat_template_sha256(),
        "chat_template_used": tok.use_chat_template,
    }


def check_lengths(spec: RunSpec, provenance: dict[str, Any]) -> None:
    limit = provenance.get("max_position_embeddings")
    if limit and not spec.allow_extrapolation:
        over = [n for n in spec.lengths if n > limit]
        if over:
            raise UserError(f"length {max(over)} exceeds the model's max_position_embeddings ({limit}); "
                            "results past it measure RoPE extrapolation, not quantization — configure RoPE "
                            "scaling in the model or pass --allow-extrapolation")


def environment() -> dict[str, Any]:
    import importlib.metadata as md

    versions = {"qlongbench": qlongbench.__version__, "python": platform.python_version()}
    for dist in ("torch", "transformers", "accelerate", "tokenizers", "bitsandbytes", "gptqmodel",
                 "llama_cpp_python", "lm_eval"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return {"versions": versions, "platform": platform.platform(), "machine": platform.machine(),
            "argv": sys.argv[1:]}


def expand_precisions(spec: RunSpec) -> list[PrecisionSpec]:
    """The precisions to run, with engine-matched baselines added (e.g. gguf-bf16 beside a gguf
    quant), each loaded once, in the order given."""
    out: OrderedDict[str, PrecisionSpec] = OrderedDict()
    for p in spec.precisions:
        cls = registry.backend_class(p.name)
        if spec.engine_baseline:
            base = getattr(cls, "engine_baseline", None)
            # Any full-precision run of the engine is its baseline (gguf-f16 as well as gguf-bf16).
            full = {base, *getattr(cls, "engine_baseline_equivalents", ())}
            present = {q.name for q in spec.precisions} | {q.name for q in out.values()}
            if base and p.name not in full and not full & present:
                out[base] = PrecisionSpec(name=base, options={k: v for k, v in p.options.items()
                                                               if k in getattr(cls, "baseline_options", ())})
        out[p.label()] = p
    return list(out.values())


class Runner:
    _logprob_reference: str | None = None
    """Precision whose stored top-k log-probs the log-prob tasks compare with (set by run())."""

    def __init__(self, spec: RunSpec, *, progress: Progress | None = None, fresh: bool = False,
                 fault_hook: Any = None):
        self.spec = spec
        self.progress = progress or (lambda phase, done, total: None)
        self.fresh = fresh
        self.fault_hook = fault_hook
        self.run_dir = RunDir(spec.out)

    # --- validation before anything is written ----------------------------------------------
    def _tasks(self) -> list[tuple[str, Any]]:
        from qlongbench.tasks.languages import get_language

        tasks = []
        for t in self.spec.tasks:
            cls = registry.task_class(t.name)
            tasks.append((cls.name, cls(t.options)))
        for code in [*self.spec.languages, *([self.spec.instruction_language] if self.spec.instruction_language else [])]:
            try:
                get_language(code)
            except KeyError as err:
                raise UserError(str(err.args[0])) from None
        for name, task in tasks:
            missing = [c for c in self.spec.languages if c not in task.languages()]
            if missing:
                raise UserError(f"task {name} has no text in {', '.join(missing)}; it supports "
                                f"{', '.join(task.languages())}")
        return tasks

    def cells(self, tasks: Sequence[tuple[str, Any]]) -> list[Cell]:
        ilang = self.spec.instruction_language
        return [Cell(name, ilang or lang, lang, length) for name, _ in tasks
                for lang in self.spec.languages for length in self.spec.lengths]

    def gen_config(self, task: Any) -> GenerationConfig:
        return GenerationConfig(max_new_tokens=self.spec.max_new_tokens or task.default_max_new_tokens,
                                seed=self.spec.seed)

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        spec = self.spec
        tasks = self._tasks()
        precisions = expand_precisions(spec)
        precisions, self._logprob_reference = reference_first(precisions, tasks)
        model = resolve_model(spec)
        # Everything that can be refused is checked before the run directory is touched.
        tok = _load_tokenizer(model, spec)
        provenance = model_provenance(model, spec, tok)
        check_lengths(spec, provenance)
        self.run_dir.check_writable()
        lock = RunLock(self.run_dir.root)
        lock.acquire()
        try:
            meta = self._open(provenance)
            samples = self._freeze_samples(tok, tasks)
            # What exists now (imported libraries, the tokenizer, the frozen samples) lives for the
            # whole run: freezing it keeps the collection a backend runs on close (to hand its
            # weights back before the next precision loads) from rescanning it every time
            # (0.22 s per precision on the demo model, measured with cProfile).
            gc.freeze()
            try:
                return self._run_precisions(meta, tok, model, tasks, precisions, samples)
            finally:
                gc.unfreeze()
        finally:
            lock.release()

    def _open(self, provenance: dict[str, Any]) -> dict[str, Any]:
        spec, rd = self.spec, self.run_dir
        sample_id = sha256_json(spec.sample_identity())
        if rd.exists() and not self.fresh:
            meta = rd.read_meta()
            if meta.get("sample_identity_sha256") != sample_id:
                old = meta.get("spec", {})
                new = spec.model_dump(mode="json")
                diff = sorted(k for k in spec.sample_identity() if old.get(k) != new.get(k))
                raise UserError(f"{rd.root} holds a run made by a different spec (differs in: "
                                f"{', '.join(diff) or 'model files'}); choose another --out, or pass --new to start it over")
            if meta.get("model", {}).get("files_sha256") != provenance.get("files_sha256"):
                raise UserError(f"{rd.root} was run on different model files than {provenance['source']}; "
                                "choose another --out, or pass --new to start it over")
            meta["spec"] = spec.model_dump(mode="json")
            meta["resumed_at"] = [*meta.get("resumed_at", []), now()]
            rd.write_meta(meta)
            return meta
        if self.fresh:
            for path in [rd.run_json, rd.records_path, *rd.samples_dir.glob("*.jsonl")]:
                path.unlink(missing_ok=True)
        run_id = f"{spec.name or rd.root.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
        meta = {
            "run_id": run_id, "name": spec.name or rd.root.name, "created_at": now(),
            "spec": spec.model_dump(mode="json"), "spec_sha256": spec.identity_sha256(),
            "sample_identity_sha256": sample_id, "seed": spec.seed, "model": provenance,
            "environment": environment(), "precisions": {}, "generation_configs": {},
        }
        rd.write_meta(meta)
        return meta

    def _freeze_samples(self, tok: Any, tasks: Sequence[tuple[str, Any]]) -> dict[Cell, list[Sample]]:
        from qlongbench.tasks.base import BuildContext

        by_name = dict(tasks)
        out: dict[Cell, list[Sample]] = {}
        cells = self.cells(tasks)
        for i, cell in enumerate(cells):
            path = self.run_dir.samples_path(cell.task, cell.instruction_language, cell.language, cell.length)
            if path.exists():
                out[cell] = self.run_dir.read_samples(path)
            else:
                task = by_name[cell.task]
                ctx = BuildContext.for_cell(tok, task=cell.task, length=cell.length, language=cell.language,
                                            instruction_language=cell.instruction_language,
                                            n_samples=self.spec.samples, run_seed=self.spec.seed,
                                            max_new_tokens=self.gen_config(task).max_new_tokens,
                                            lengths=self.spec.lengths)
                t0 = time.perf_counter()
                samples = task.build(ctx)
                log.info("built %d samples for %s in %.1fs", len(samples), path.name, time.perf_counter() - t0)
                self.run_dir.write_samples(path, samples)
                out[cell] = samples
            self.progress("samples", i + 1, len(cells))
        return out

    def _run_precisions(self, meta: dict[str, Any], tok: Any, model: str, tasks: Sequence[tuple[str, Any]],
                        precisions: Sequence[PrecisionSpec], samples: dict[Cell, list[Sample]]) -> RunResult:
        from qlongbench.backends.base import LoadContext

        by_name = dict(tasks)
        result = RunResult(run_dir=self.run_dir.root)
        done = {r.key() for r in self.run_dir.records(repair=True)}
        gen_cfgs = {name: self.gen_config(task) for name, task in tasks}
        meta["generation_configs"] = {n: c.model_dump(mode="json") | {"sha256": sha256_json(c)} for n, c in gen_cfgs.items()}
        self.run_dir.write_meta(meta)
        all_samples = [s for cell_samples in samples.values() for s in cell_samples]
        total = len(all_samples) * len(precisions)
        progress_done = 0
        with self.run_dir.open_records() as writer:
            for prec in precisions:
                label = prec.label()
                todo = [s for s in all_samples if (label, s.sample_id) not in done]
                result.skipped += len(all_samples) - len(todo)
                progress_done += len(all_samples) - len(todo)
                self.progress(label, progress_done, total)
                if not todo:
                    continue
                runnable = [s for s in todo if s.status == "ok"]
                for s in todo:
                    if s.status != "ok":
                        writer.append(self._record(meta, label, "-", s, gen_cfgs[s.task], None, status=s.status,
                                                   error=s.metadata.get("reason")))
                        result.written += 1
                        progress_done += 1
                if not runnable:
                    continue
                ctx = LoadContext(model=model, revision=self.spec.revision, device=self._device(),
                                  cache_dir=Path(self.spec.cache_dir).expanduser() if self.spec.cache_dir else default_cache_dir(),
                                  tokenizer=tok, trust_remote_code=self.spec.trust_remote_code,
                                  allow_pickle=self.spec.allow_pickle, fault_hook=self.fault_hook)
                cls = registry.backend_class(prec.name)
                try:
                    backend = cls(prec, ctx)
                except UserError as err:
                    if len(precisions) == 1:
                        raise
                    log.error("precision %s cannot run: %s", label, err)
                    result.failed_precisions[label] = str(err)
                    meta["precisions"][label] = {"error": str(err)}
                    self.run_dir.write_meta(meta)
                    for s in runnable:
                        writer.append(self._record(meta, label, cls.engine, s, gen_cfgs[s.task], None,
                                                   status="error", error=str(err)))
                        result.written += 1
                    continue
                try:
                    info = backend.info()
                    meta["precisions"][label] = info.model_dump(mode="json")
                    self.run_dir.write_meta(meta)
                    for s, gen, status, error in self._drive(backend, runnable, gen_cfgs, by_name, label):
                        writer.append(self._record(meta, label, info.engine, s, gen_cfgs[s.task], gen,
                                                   status=status, error=error, task=by_name[s.task]))
                        result.written += 1
                        progress_done += 1
                        self.progress(label, progress_done, total)
                finally:
                    backend.close()
        return result

    def _device(self) -> str:
        from qlongbench.backends.hf import resolve_device

        return resolve_device(self.spec.device)

    def _generate(self, backend: Any, samples: Sequence[Sample], gen_cfgs: dict[str, GenerationConfig]):
        """Exact reuse (default): one cache per precision, cropped to the common prefix between
        contexts, so shared contexts are prefilled once; the ids are the same as a fresh prompt's.
        With reuse="none" every sample is prefilled from scratch in a fresh session (the naive
        harness, kept for benchmarks and equality tests). With batch_size > 1, prompts that share
        no context are answered in length-bucketed batches by engines that batch."""
        from qlongbench.scheduler import Batch, PrefixGroup, common_prefix_len, group_by_prefix, plan_batches

        if self.spec.reuse == "none":
            plan: list[Any] = [PrefixGroup((), (s,)) for s in samples]
        else:
            batches = hasattr(backend, "generate_batch") and getattr(backend, "batch_invariant", False)
            batch = self.spec.batch_size if batches else 1
            plan = plan_batches(group_by_prefix(samples), batch)
        sess = None
        for item in plan:
            answered: set[str] = set()
            try:
                if isinstance(item, Batch):
                    cfg = gen_cfgs[item.samples[0].task]
                    if any(gen_cfgs[s.task] != cfg for s in item.samples):
                        raise ValueError("a batch mixes generation configs")
                    gens = backend.generate_batch([TokenPrompt.of(s) for s in item.samples], cfg)
                    for s, gen in zip(item.samples, gens):
                        answered.add(s.sample_id)
                        yield s, gen, "ok", None
                    continue
                if sess is None or self.spec.reuse == "none":
                    if sess is not None:
                        sess.close()
                    sess = backend.session()
                keep = common_prefix_len(sess.tokens, item.prefix)
                if not sess.worth_keeping(keep, len(item.prefix) - keep):
                    keep = 0
                sess.crop(keep)
                prefill = sess.extend(item.prefix[keep:]) if len(item.prefix) > keep else 0.0
                for i, s in enumerate(item.samples):
                    gen = sess.generate(s.prompt_ids[len(item.prefix):], gen_cfgs[s.task])
                    if i == 0:
                        gen = gen.model_copy(update={"prefill_seconds": gen.prefill_seconds + prefill,
                                                     "n_prefilled_tokens": gen.n_prefilled_tokens + len(item.prefix) - keep})
                    answered.add(s.sample_id)
                    yield s, gen, "ok", None
            except Exception as err:  # noqa: BLE001 - an engine failure becomes a record, not a crash
                if sess is not None:
                    sess.close()
                    sess = None
                status, message = engine_failure(err, item.samples[0].sample_id)
                for s in item.samples:
                    if s.sample_id not in answered:
                        yield s, None, status, message
        if sess is not None:
            sess.close()

    def _drive(self, backend: Any, samples: Sequence[Sample], gen_cfgs: dict[str, GenerationConfig],
               tasks: dict[str, Any], label: str):
        """Text tasks are generated (_generate); log-prob tasks (uses_logprobs, e.g. kld) run through
        the task's run_logprobs, which compares with the reference's stored top-k."""
        text = [s for s in samples if not getattr(tasks[s.task], "uses_logprobs", False)]
        yield from self._generate(backend, text, gen_cfgs)
        for s in samples:
            task = tasks[s.task]
            if not getattr(task, "uses_logprobs", False):
                continue
            try:
                outcome = task.run_logprobs(backend, s, self.run_dir.root, label == self._logprob_reference)
            except UserError:
                raise
            except Exception as err:  # noqa: BLE001 - an engine failure becomes a record, not a crash
                status, message = engine_failure(err, s.sample_id)
                yield s, None, status, message
                continue
            yield s, outcome, "ok", None

    def _record(self, meta: dict[str, Any], precision: str, engine: str, s: Sample, cfg: GenerationConfig,
                gen: Any, *, status: str, error: str | None = None, task: Any = None) -> Record:
        score = parsed = None
        metrics: dict[str, float] = {}
        if status == "ok" and gen is not None:
            # Log-prob tasks (kld) arrive scored; text tasks are scored from the output.
            verdict = gen.score if isinstance(gen, ScoredGeneration) else task.score(s, gen.text)
            score, parsed, metrics = verdict.score, verdict.parsed, dict(verdict.metrics)
        gen = gen.generation if isinstance(gen, ScoredGeneration) else gen
        return Record(
            run_id=meta["run_id"], precision=precision, engine=engine, task=s.task, language=s.language,
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


def reference_first(precisions: Sequence[PrecisionSpec], tasks: Sequence[tuple[str, Any]]
                    ) -> tuple[list[PrecisionSpec], str | None]:
    """Log-prob tasks compare every precision with the reference's stored top-k, so the reference
    (report.choose_reference: the first of bf16, fp16, fp32) runs first. Returns the order and it."""
    from qlongbench.report import choose_reference

    ordered = list(precisions)
    ref = choose_reference([p.label() for p in ordered])
    if not any(getattr(task, "uses_logprobs", False) for _, task in tasks):
        return ordered, ref
    if ref is None:
        names = ", ".join(n for n, t in tasks if getattr(t, "uses_logprobs", False))
        raise UserError(f"task {names} compares every precision with an HF reference: add bf16, fp16 or fp32 "
                        "to --precisions")
    ordered.sort(key=lambda p: p.label() != ref)
    return ordered, ref


def engine_failure(err: BaseException, where: str) -> tuple[str, str]:
    """An engine exception as a record's (status, one-line error): oom or error. Logged, and the
    memory it held freed, so the sweep goes on with the next cell."""
    status = "oom" if is_oom(err) else "error"
    log.error("%s on %s: %s", status, where, err)
    log.debug("%s", traceback.format_exc())
    free_memory()
    return status, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no message'}"


def is_oom(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    name = type(err).__name__
    if name in ("OutOfMemoryError",):
        return True
    text = str(err).lower()
    return "out of memory" in text or "failed to allocate" in text


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
