"""transformers at bf16 / fp16 / fp32: the reference engine.

Decoding is a plain greedy (or seeded sampling) loop over a DynamicCache rather than
`model.generate`, so prefill and decode are timed apart, the cache can be measured, and a
context can be kept and cropped between questions (ContextSession)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from qlongbench import memory as qmem
from qlongbench.backends.base import Backend, LoadContext, LogprobChunk, logprob_rows
from qlongbench.backends.session import ContextSession, decode_loop
from qlongbench.backends import hf_sliding
from qlongbench.backends.hf_sliding import worth_keeping
from qlongbench.backends.hf_attention import NAME as FAST_DECODE
from qlongbench.backends.hf_attention import use_fast_decode
from qlongbench.backends.hf_kvcache import KV_BITS, cache_bytes
from qlongbench.backends.hf_kvcache import crop as crop_quantized
from qlongbench.backends.hf_kvcache import new_cache as new_quantized_cache
from qlongbench.backends.hf_kvcache import recipe_options as kv_recipe_options
from qlongbench.errors import UserError
from qlongbench.spec.config import OptionValue
from qlongbench.spec.precision import BackendOptions, Positive, Precision
from qlongbench.spec.rope import RopeScaling
from qlongbench.types import BackendInfo, Generation, GenerationConfig, QuantRecipe, TokenPrompt

log = logging.getLogger(__name__)

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
PREFILL_CHUNK = 4096
"""Tokens per prefill forward: bounds attention's temporary memory on long contexts."""


def torch_dtype(name: str) -> Any:
    import torch

    aliases = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "half": "float16", "float": "float32"}
    attr = aliases.get(name, name)
    dt = getattr(torch, attr, None)
    if not isinstance(dt, torch.dtype):
        raise UserError(f"unknown dtype {name!r}: use bf16, fp16 or fp32")
    return dt


class HFOptions(BackendOptions):
    """Options of bf16 / fp16 / fp32."""

    threads: Positive | None = None
    """torch's thread count while this precision is loaded (restored on close); unset: torch's own."""


class HFBackend(Backend):
    engine: ClassVar[str] = "transformers"
    description: ClassVar[str] = "Hugging Face transformers at bf16 / fp16 / fp32 (the reference)"
    kv_cache_types: ClassVar[tuple[str, ...]] = tuple(KV_BITS)
    Options: ClassVar[type[BackendOptions]] = HFOptions

    @classmethod
    def kv_types_on_sliding_layers(cls) -> bool:
        """transformers' QuantizedCache refuses a model with sliding-window layers ("only supported for
        models with only full attention layers", measured on Gemma 3 with +kv=int4)."""
        return False

    @classmethod
    def rope_scaling_types(cls) -> tuple[str, ...]:
        """transformers rescales the rotary positions at load (the config's rope parameters)."""
        return ("linear", "dynamic", "yarn")

    @classmethod
    def reference_names(cls) -> tuple[str, ...]:
        """bf16, fp16, fp32: the reference, in this order of preference, whichever the run holds."""
        return ("bf16", "fp16", "fp32")

    @classmethod
    def noise_control(cls, precision: Precision) -> dict[str, OptionValue] | None:
        """Another torch thread count (1, or 2 where the precision runs on one): CPU kernels split
        their sums by thread, so only rounding changes. Not offered by the quantizing subclasses,
        whose options hold no thread count."""
        if not isinstance(precision.options, HFOptions):
            return None
        threads = precision.options.threads
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        return {"threads": 1 if threads > 1 else 2}

    @property
    def batch_invariant(self) -> bool:
        """A prompt's numbers do not depend on the other prompts of its batch (left padding with an
        attention mask and explicit positions). Batches run with the default cache only."""
        return self.precision.kv is None

    def __init__(self, precision: Precision, ctx: LoadContext):
        super().__init__(precision, ctx)
        type(self).validate(precision, ctx.validate_context())
        import torch  # (fail here, not half way through loading)

        if precision.kv:
            self.require("optimum.quanto", "kv")

        self.model = self._load()
        self.model.eval()
        self._threads_before: int | None = None
        """torch's thread count before a threads= option changed it (put back on close)."""
        threads = precision.options.threads if isinstance(precision.options, HFOptions) else None
        if threads is not None:
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(threads)
        self.device = str(next(self.model.parameters()).device)
        self.mirror_decode = self.attention == FAST_DECODE
        """One-query steps read a float32 mirror of the cache, extended a row per step, instead of
        converting the whole cache each step (backends/hf_mirror.py; numbers unchanged)."""
        import inspect

        # transformers 5.2x renamed `past_key_values` to `cache`; accept both generations.
        params = inspect.signature(self.model.forward).parameters
        self.cache_kwarg = "cache" if "cache" in params else "past_key_values"

    # --- hooks for quantizing subclasses ---------------------------------------------------
    def compute_dtype(self) -> Any:
        return torch_dtype(_DTYPES[self.precision.name])

    def load_kwargs(self) -> dict[str, Any]:
        """Extra from_pretrained arguments (quantization_config ...)."""
        return {}

    def model_source(self) -> str:
        """What from_pretrained loads: the reference, or a quantized artifact."""
        return self.ctx.model

    def recipe(self) -> QuantRecipe:
        bits = {"bf16": 16, "fp16": 16, "fp32": 32}[self.precision.name]
        return QuantRecipe(method="none", bits=bits, compute_dtype=_DTYPES[self.precision.name])

    def artifact(self) -> tuple[str | None, str | None]:
        return None, None

    # --- loading -----------------------------------------------------------------------
    def _load(self) -> Any:
        from transformers import AutoModelForCausalLM

        source = self.model_source()
        kwargs: dict[str, Any] = dict(
            dtype=self.compute_dtype(), trust_remote_code=self.ctx.trust_remote_code,
            device_map=self.ctx.device, low_cpu_mem_usage=True,
        )
        if not self.ctx.allow_pickle:
            kwargs["use_safetensors"] = True
        if source == self.ctx.model and self.ctx.revision:
            kwargs["revision"] = self.ctx.revision
        kwargs.update(self.load_kwargs())
        if self.ctx.rope_scaling is not None:
            kwargs.update(rope_config(self.ctx.model, self.ctx.rope_scaling, revision=self.ctx.revision,
                                      trust_remote_code=self.ctx.trust_remote_code))
        try:
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        except OSError as err:
            first = str(err).splitlines()[0]
            if "safetensors" in first.lower() and not self.ctx.allow_pickle:
                raise UserError(f"{source} has no safetensors weights; pickle weights can run code when "
                                "loaded, so they load only with --allow-pickle") from None
            raise UserError(f"cannot load model {source!r}: {first}") from None
        self.attention = use_fast_decode(model, self.ctx.device)
        return model

    def info(self) -> BackendInfo:
        import torch
        import transformers

        path, sha = self.artifact()
        return BackendInfo(
            precision=self.precision.label, engine=self.engine, engine_version=transformers.__version__,
            device=self.device, dtype=str(self.compute_dtype()).removeprefix("torch."), recipe=self.full_recipe(),
            weight_bytes=self.weight_bytes(), artifact_path=path, artifact_sha256=sha, attention=self.attention,
            versions=self.versions() | {"torch": torch.__version__, "transformers": transformers.__version__},
        )

    def versions(self) -> dict[str, str]:
        return {}

    def full_recipe(self) -> QuantRecipe:
        """The weights' recipe, with torch's thread count (CPU sums change with it) and the KV
        cache's options when the cache is quantized."""
        import torch

        recipe = self.recipe()
        recipe = recipe.model_copy(update={"options": recipe.options | {"threads": torch.get_num_threads()}})
        if not self.precision.kv:
            return recipe
        cfg = qmem.text_config(self.model.config)
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        return recipe.model_copy(update={"options": recipe.options | kv_recipe_options(self.precision.kv, head_dim)})

    def weight_bytes(self) -> int:
        return int(self.model.get_memory_footprint())

    def session(self) -> HFSession:
        return HFSession(self)

    def generate_batch(self, prompts: Sequence[TokenPrompt], cfg: GenerationConfig) -> list[Generation]:
        """Independent prompts in one left-padded batch (backends/hf_batch.py)."""
        from qlongbench.backends.hf_batch import generate_batch

        return generate_batch(self, prompts, cfg)

    def iter_logprobs(self, ids: Sequence[int], chunk: int = 512) -> Iterator[LogprobChunk]:
        import torch

        rows = logprob_rows(chunk, self.model.get_output_embeddings().weight.shape[0])
        sess = self.session()
        try:
            for start in range(0, len(ids), rows):
                logits = sess.forward_all(ids[start:start + rows])
                yield LogprobChunk(start=start, logprobs=torch.log_softmax(logits, dim=-1).cpu().numpy())
        finally:
            sess.close()

    # --- memory ------------------------------------------------------------------------
    def attention_geometry(self) -> qmem.AttentionGeometry | None:
        return qmem.AttentionGeometry.from_config(qmem.text_config(self.model.config))

    def pad_id(self) -> int:
        cfg = self.model.config
        for name in ("pad_token_id", "eos_token_id", "bos_token_id"):
            v = getattr(cfg, name, None)
            if isinstance(v, list):
                v = v[0] if v else None
            if v is not None:
                return int(v)
        return 0

    def eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for src in (self.model.config, getattr(self.model, "generation_config", None)):
            v = getattr(src, "eos_token_id", None) if src is not None else None
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, (list, tuple)):
                ids.update(int(x) for x in v)
        return ids

    def close(self) -> None:
        import gc

        import torch

        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None


class HFSession(ContextSession):
    def __init__(self, backend: HFBackend):
        self.b = backend
        self.cache = self._new_cache()
        self._ids: list[int] = []
        self._last_logits: Any = None
        # Allocator level of the empty cache, and a fresh peak: each prompt's numbers are its own.
        self._alloc_base = qmem.cuda_allocated(backend.device)
        qmem.reset_peak(backend.device)

    def _forward(self, ids: Sequence[int]) -> Any:
        import torch

        hook = self.b.ctx.fault_hook
        if hook is not None:
            hook("forward", n_tokens=len(self._ids) + len(ids))
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.b.device)
        with torch.inference_mode():
            out = self.b.model(input_ids=x, **{self.b.cache_kwarg: self.cache}, use_cache=True, logits_to_keep=1)
        self._ids.extend(int(i) for i in ids)
        return out.logits[0, -1].float()

    def forward_all(self, ids: Sequence[int]) -> Any:
        """Append ids and return float32 logits at every one of their positions."""
        import torch

        x = torch.tensor([list(ids)], dtype=torch.long, device=self.b.device)
        with torch.inference_mode():
            out = self.b.model(input_ids=x, **{self.b.cache_kwarg: self.cache}, use_cache=True)
        self._ids.extend(int(i) for i in ids)
        self._last_logits = out.logits[0, -1].float()
        return out.logits[0].float()

    def extend(self, ids: Sequence[int]) -> float:
        """Prefill a shared prefix; sliding layers are then trimmed to their window."""
        seconds = self._prefill(ids)
        hf_sliding.trim(self.cache)
        return seconds

    def _prefill(self, ids: Sequence[int]) -> float:
        t0 = time.perf_counter()
        for start in range(0, len(ids), PREFILL_CHUNK):
            self._last_logits = self._forward(ids[start:start + PREFILL_CHUNK])
        self._sync()
        return time.perf_counter() - t0

    def _sync(self) -> None:
        qmem.sync_device(self.b.device)

    def _new_cache(self) -> Any:
        """An empty cache of this precision's KV type (quantized for +kv=), recording sliding layers' past."""
        from transformers import DynamicCache

        kv = self.b.precision.kv
        cache = new_quantized_cache(self.b.model, kv) if kv else DynamicCache(config=self.b.model.config)
        if not kv and self.b.mirror_decode:
            from qlongbench.backends import hf_mirror

            hf_mirror.install(cache)
        hf_sliding.record_past(cache)
        return cache

    def appending_pays(self, keep: int, new: int) -> bool:
        return worth_keeping(keep, new)

    def window_kept(self, n: int) -> bool:
        return hf_sliding.window_kept(self.cache, n)

    def _clear(self) -> None:
        self.cache, self._ids, self._last_logits = self._new_cache(), [], None

    def _cut(self, n: int) -> None:
        if self.b.precision.kv:
            crop_quantized(self.cache, n)
        else:  # transformers >= 5.2x takes the number of tokens to remove, as a negative count.
            self.cache.crop(n - len(self._ids))
        del self._ids[n:]
        self._last_logits = None

    def cache_bytes(self) -> int:
        """Measured from the cache's own tensors (a quantized cache: codes, scales, residual window)."""
        return cache_bytes(self.cache)

    def _next_logits(self) -> Any:
        if self._last_logits is None:
            # After a crop the logits of the last kept token are gone: recompute them.
            last = self._ids[-1]
            self.crop(len(self._ids) - 1)
            self._last_logits = self._forward([last])
        return self._last_logits

    def generate(self, ids: Sequence[int], cfg: GenerationConfig) -> Generation:
        import torch

        start = len(self._ids)
        if not ids and start == 0:
            raise ValueError("cannot generate from an empty prompt")
        prefill = self._prefill(ids) if ids else 0.0  # the question: cropped away after the answer
        kv_bytes = self.cache_bytes()
        alloc = qmem.cuda_allocated(self.b.device)
        alloc_bytes = alloc - self._alloc_base if alloc is not None and self._alloc_base is not None else None
        n_prompt = len(self._ids)
        logits = self._next_logits()
        eos = self.b.eos_ids() if cfg.stop_on_eos else set()
        decoded = decode_loop(logits, lambda tok: self._forward([tok]), cfg, eos,
                              argmax=lambda t: int(torch.argmax(t)), to_numpy=lambda t: t.float().cpu().numpy())
        self._sync()
        out, finish, decode = list(decoded.tokens), decoded.finish, decoded.seconds
        peak, peak_source = qmem.read_peak(self.b.device)
        self.crop(start)
        qmem.reset_peak(self.b.device)
        return Generation(text=self.b.ctx.tokenizer.decode(out), token_ids=tuple(out), n_prompt_tokens=n_prompt,
                          finish_reason=finish, prefill_seconds=prefill, decode_seconds=decode,
                          n_prefilled_tokens=len(ids), kv_cache_bytes=kv_bytes,
                          kv_cache_allocator_bytes=alloc_bytes, peak_bytes=peak, peak_source=peak_source)

    def generate_many(self, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig]) -> list[Generation]:
        """Decoded together where the engine can (backends/hf_fork.py), else one after another."""
        from qlongbench.backends import hf_fork

        return hf_fork.answer_many(self, questions, cfgs)

    def close(self) -> None:
        self.cache = None
        self._last_logits = None


def rope_config(model: str, rope: RopeScaling, *, revision: str | None, trust_remote_code: bool) -> dict[str, Any]:
    """from_pretrained's override for RoPE scaling: transformers 5 reads `rope_parameters` (the
    config's own, its rope_theta kept, with the type, factor and original window set); earlier
    releases read `rope_scaling`."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model, revision=revision, trust_remote_code=trust_remote_code)
    current = cfg.to_dict()
    scaling = {"rope_type": rope.type, "factor": rope.factor,
               "original_max_position_embeddings": rope.original_max_position_embeddings}
    if isinstance(current.get("rope_parameters"), dict):
        return {"rope_parameters": {**current["rope_parameters"], **scaling}}
    return {"rope_scaling": {"type": rope.type, **scaling}}
