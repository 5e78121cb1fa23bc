"""The Backend contract: an engine at one precision, fed frozen token ids.

Engines import their heavy libraries lazily inside the backend, so `import qlongbench` and the
registry never import torch, transformers or llama_cpp."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from qlongbench.errors import EngineUnavailable
from qlongbench.memory import AttentionGeometry, dtype_bytes
from qlongbench.spec.config import OptionValue
from qlongbench.spec.precision import BackendOptions, Precision
from qlongbench.spec.rope import RopeScaling
from qlongbench.tokenizer import PromptTokenizer
from qlongbench.backends.session import ContextSession
from qlongbench.types import BackendInfo, Generation, GenerationConfig, TokenPrompt

if TYPE_CHECKING:  # numpy loads with the engines; the artifact cache with the engines that build
    import numpy as np
    from numpy.typing import NDArray

    from qlongbench.backends.build.artifacts import Prepared


@dataclass(frozen=True)
class LoadContext:
    """What every backend needs to load its precision of the reference model."""

    model: str
    """Local directory or hub id of the reference model."""
    revision: str | None
    """Hub revision."""
    device: str
    """Resolved device: cpu or cuda."""
    cache_dir: Path
    """Where quantized artifacts are cached."""
    tokenizer: PromptTokenizer
    """The reference tokenizer: decodes every engine's output, and quantized artifacts' tokenizers
    must match its fingerprint."""
    trust_remote_code: bool = False
    """Allow the model's own code."""
    allow_pickle: bool = False
    """Allow non-safetensors weights."""
    fault_hook: Callable[..., None] | None = None
    """Tests only: a callable(event, **info) that may raise to inject faults (e.g. OOM)."""
    rope_scaling: RopeScaling | None = None
    """RoPE scaling the run asked for (its original window filled in); None: the model as published."""
    decode_rows: int = 1
    """Most questions a session is asked to decode together (`ContextSession.generate_many`); an
    engine that reserves state per sequence (llama.cpp) sizes its context for them."""

    def validate_context(self) -> ValidateContext:
        """The same model, device and switches for the checks `Backend.validate` makes."""
        return ValidateContext(model=self.model, device=self.device, trust_remote_code=self.trust_remote_code,
                               allow_pickle=self.allow_pickle)


@dataclass(frozen=True)
class ValidateContext:
    """What a precision's checks may look at before anything is loaded or written."""

    model: str
    """Local directory or hub id of the reference model."""
    device: str
    """Resolved device."""
    trust_remote_code: bool = False
    """Whether the user allowed custom code (a given checkpoint is checked under the same switches)."""
    allow_pickle: bool = False
    """Whether the user allowed pickle weights."""


@dataclass(frozen=True)
class LogprobChunk:
    """Next-token log-probabilities for a run of positions (full vocabulary, float32)."""

    start: int
    """Row i is the distribution of the token after position start + i."""
    logprobs: NDArray[np.float32]
    """numpy array [rows, vocab] of log-softmax values."""


class Backend(ABC):
    """One precision of the reference model in one engine.

    Optional capabilities are declared here once each, as one method with a safe default, never as a
    flag beside a method and never probed with hasattr: an engine that batches invariantly answers
    True from `batch_invariant` (and may override `generate_batch`, whose default answers prompt by
    prompt); one that returns log-probabilities overrides `iter_logprobs` (`returns_logprobs()`
    reads that); one that builds artifacts (GGUF files, GPTQ checkpoints) overrides
    `prepare_artifact` (`builds_artifacts()` reads that); one that can run a noise-floor twin of a
    precision overrides `noise_control`; the analytic KV size is `kv_formula_bytes`. Its options are
    declared once, as a pydantic model (`Options`), and arrive typed on `precision.options`."""

    engine: ClassVar[str]
    """Engine name recorded on every record."""
    description: ClassVar[str]
    """One line for `qlongbench precisions`."""
    extra: ClassVar[str | None] = None
    """pip extra that installs the engine (named in the error when it is missing)."""
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    """The options its labels take (name:key=value), a model with a docstring per field: any other
    option, or a value of another type, is refused when the label is parsed."""
    baseline_options: ClassVar[tuple[str, ...]] = ()
    """Engine settings the baseline inherits from the quantized precision it sits beside."""
    kv_cache_types: ClassVar[tuple[str, ...]] = ()
    """KV-cache precisions the engine can hold (`+kv=TYPE`); empty: only its default cache."""

    def __init__(self, precision: Precision, ctx: LoadContext):
        self.precision = precision
        self.ctx = ctx
        self.device: str = ctx.device
        """Where the engine computes (cpu, cuda ...): peak memory is read there."""

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        """Refuse a precision this machine cannot run, before anything is written: the checks that
        need the device, the model or user-supplied files (its options were typed by the parser).
        Nothing to check by default. Raises UserError."""

    @classmethod
    def rope_scaling_types(cls) -> tuple[str, ...]:
        """RoPE scaling types the engine can apply at load (`--rope-scaling TYPE:FACTOR`); () — the
        default — means the engine runs the model's positions as published, so a scaled run refuses it."""
        return ()

    @classmethod
    def kv_types_on_sliding_layers(cls) -> bool:
        """Whether a `+kv=` cache type runs on a model with sliding-window layers (the default: yes);
        an engine whose quantized cache refuses them answers False and the plan refuses the label."""
        return True

    @classmethod
    def reference_names(cls) -> tuple[str, ...]:
        """Names of this engine that can be the run's reference, most preferred first (transformers:
        bf16, fp16, fp32); () for every other engine (the default)."""
        return ()

    @classmethod
    def validate_tokenizer(cls, precision: Precision, ctx: ValidateContext, tokenizer: Any) -> None:
        """Checks that need the reference tokenizer (a user-supplied checkpoint's own tokenizer must be
        the reference's), made once it is loaded and still before anything is written. Default: none."""

    @classmethod
    def full_precision_names(cls) -> tuple[str, ...]:
        """This engine's full-precision precision names, most preferred first (gguf-bf16, gguf-f16
        for llama.cpp): any of them in a run is the engine-matched baseline of the engine's other
        precisions, and the first is added beside a quant when none is listed, so engine
        differences are not blamed on quantization. () for the reference engine (the default)."""
        return ()

    @classmethod
    def noise_control(cls, precision: Precision) -> dict[str, OptionValue] | None:
        """Option overrides that make the noise-floor twin of `precision` (--noise-floor): the same
        weights and arithmetic under a perturbation that must not change the model, such as another
        thread count; None when this engine offers no such control (the default)."""
        return None

    @classmethod
    def prepare_artifact(cls, precision: Precision, ctx: LoadContext) -> Prepared:
        """Build (or find in the cache) this precision's artifact."""
        raise NotImplementedError(f"{cls.__name__} builds no artifact")

    @classmethod
    def builds_artifacts(cls) -> bool:
        """Whether this engine builds a quantized artifact into the cache (`qlongbench quantize`):
        read from the one declaration, an override of `prepare_artifact`."""
        return cls.prepare_artifact.__func__ is not Backend.prepare_artifact.__func__  # type: ignore[attr-defined]

    @classmethod
    def returns_logprobs(cls) -> bool:
        """Whether this engine returns next-token distributions (log-prob tasks such as kld): read
        from the one declaration, an override of `iter_logprobs`."""
        return cls.iter_logprobs is not Backend.iter_logprobs

    @property
    def batch_invariant(self) -> bool:
        """Whether a prompt's numbers are independent of the other prompts of its batch: only then
        does the runner hand it `generate_batch` with several prompts. False by default."""
        return False

    def generate_batch(self, prompts: Sequence[TokenPrompt], cfg: GenerationConfig) -> list[Generation]:
        """Independent prompts answered together. The safe default answers them one at a time
        (`generate`); engines that batch for real override it."""
        return self.generate(prompts, cfg)

    @staticmethod
    def require(module: str, extra: str) -> Any:
        """Import an engine library or fail with one line naming the extra to install."""
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError as err:
            raise EngineUnavailable(
                f"{module} is not installed ({err}); install it with: pip install 'qlongbench[{extra}]'"
            ) from None

    def pad_id(self) -> int:
        """The id that fills a probe or a padded batch: the reference tokenizer's pad id, else its
        eos, else its bos, else 0. An engine with a model config of its own (transformers) reads
        that instead."""
        hf = self.ctx.tokenizer.hf
        for v in (hf.pad_token_id, hf.eos_token_id, hf.bos_token_id):
            if v is not None:
                return int(v)
        return 0

    @abstractmethod
    def info(self) -> BackendInfo:
        """Engine, recipe, versions and weight bytes of the loaded precision."""

    @abstractmethod
    def session(self) -> ContextSession:
        """A fresh, empty context session."""

    def generate(self, prompts: Sequence[TokenPrompt], cfg: GenerationConfig) -> list[Generation]:
        """Naive path: every prompt prefilled from scratch."""
        out = []
        for prompt in prompts:
            sess = self.session()
            try:
                out.append(sess.generate(prompt.ids, cfg))
            finally:
                sess.close()
        return out

    def iter_logprobs(self, ids: Sequence[int], chunk: int = 512) -> Iterator[LogprobChunk]:
        """Next-token distributions at every position of ids, a chunk of positions at a time, so a
        caller can reduce them (top-k, KL) without holding tokens x vocab in memory. Engines that
        return log-probabilities override it (see `returns_logprobs`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot return log-probabilities")

    @classmethod
    def kv_element_bytes(cls, info: BackendInfo) -> float | None:
        """Bytes per KV-cache element of a loaded precision of this engine, read from what it
        recorded (its BackendInfo): the report's formula and `kv_formula_bytes` both use it. By
        default the compute dtype's (transformers keeps its cache there; quantizing the weights does
        not change it); engines whose cache has a type of its own override it."""
        return dtype_bytes(info.recipe.compute_dtype) or dtype_bytes(info.dtype)

    @classmethod
    def kv_geometry(cls, model: AttentionGeometry, info: BackendInfo) -> AttentionGeometry:
        """The model's geometry as this engine holds its cache, for a loaded precision (its BackendInfo):
        by default as the model declares it, each sliding-window layer keeping min(tokens, window)
        tokens (transformers' sliding cache layers); engines that keep more override it."""
        return model

    def attention_geometry(self) -> AttentionGeometry | None:
        """The loaded model's attention geometry as the engine sees it; None where the engine does
        not expose it (the default)."""
        return None

    def kv_formula_bytes(self, tokens: int) -> int | None:
        """The analytic KV-cache size at `tokens` tokens of context, 2 * layers * kv_heads *
        head_dim * tokens * bytes per element (kv_element_bytes), a sliding-window layer counting
        min(tokens, window) where this engine keeps only those (kv_geometry): the numbers the report
        draws; None where the engine does not expose its geometry."""
        geometry = self.attention_geometry()
        if geometry is None:
            return None
        info = self.info()
        elem = type(self).kv_element_bytes(info)
        return type(self).kv_geometry(geometry, info).kv_bytes(tokens, elem) if elem is not None else None

    def close(self) -> None:
        """Release the weights and caches."""


LOGPROB_FLOATS = 2 ** 25
"""Floats one log-prob pass may hold per [positions, vocabulary] float32 array (128 MiB)."""


def logprob_rows(chunk: int, vocab: int) -> int:
    """Positions per log-prob pass: the task's chunk, fewer where the vocabulary is large, so a pass
    holds about LOGPROB_FLOATS floats per array whatever the model (SmolLM2's 49,152 entries: the
    chunk of 512 as asked; Gemma 3's 262,144: 128 — measured at 2K, peak RSS 3.0 → 2.0 GiB on
    transformers and 4.8 → 2.3 GiB on llama.cpp, docs/kld.md)."""
    return max(1, min(int(chunk), LOGPROB_FLOATS // max(1, int(vocab))))


def peak_rss_bytes() -> int:
    """Process peak resident set size (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def other_thread_count(threads: int) -> int:
    """The thread count of a noise-floor twin: half of `threads` (at least 1), or 2 beside 1."""
    return 2 if threads <= 1 else max(1, threads // 2)


def reference_eos_ids(ctx: LoadContext) -> set[int]:
    """The stop ids the transformers reference uses (model config + generation config), so every
    engine stops on the same tokens; the tokenizer's eos when the configs cannot be read."""
    ids: set[int] = set(ctx.tokenizer.eos_token_ids)
    with contextlib.suppress(Exception):  # a hub id without network: the tokenizer's eos stands
        from transformers import AutoConfig, GenerationConfig

        sources: list[Any] = [AutoConfig.from_pretrained(ctx.model, revision=ctx.revision,
                                                         trust_remote_code=ctx.trust_remote_code)]
        with contextlib.suppress(Exception):
            sources.append(GenerationConfig.from_pretrained(ctx.model, revision=ctx.revision))
        ids = set()
        for src in sources:
            v = getattr(src, "eos_token_id", None)
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, (list, tuple)):
                ids.update(int(x) for x in v)
        ids = ids or set(ctx.tokenizer.eos_token_ids)
    return ids
