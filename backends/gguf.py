"""GGUF through llama-cpp-python: llama.cpp's own kernels, not transformers' dequantizing loader.

The reference is converted with llama.cpp's `convert_hf_to_gguf.py` (to BF16 or F16) and quantized
with the `llama_model_quantize` binding; both are cached as artifacts. `file=<path.gguf>` loads a
GGUF the user already has. Prompts go in as the frozen token ids through the C API (`llama_decode`
on a batch we fill ourselves): nothing is ever re-tokenized, and outputs are decoded with the
reference tokenizer so every engine turns ids into text the same way. Building the files lives in
backends/build/gguf_convert.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from qlongbench import memory as qmem
from qlongbench.backends.base import (
    Backend, LoadContext, LogprobChunk, ValidateContext, logprob_rows, other_thread_count, reference_eos_ids,
)
from qlongbench.backends.build.artifacts import Prepared, path_sha256
from qlongbench.backends.build.gguf_convert import FILE_TYPES, prepare_gguf
from qlongbench.backends.gguf_session import PREFILL_ATTENTION, GGUFSession
from qlongbench.backends.gguf_options import KV_TYPES, GGUFOptions, check_gguf_file, gguf_settings
from qlongbench.backends.llama_lib import (
    _RECENT_ERRORS, _last_engine_error, _llama_cpp, default_threads, ftype_name, gguf_vocab, llama_cpp_version, meta_str,
)
from qlongbench.backends.tokenizer_check import reference_view, require_same
from qlongbench.errors import UserError
from qlongbench.spec.config import OptionValue
from qlongbench.spec.precision import BackendOptions, Precision
from qlongbench.types import BackendInfo, QuantRecipe

log = logging.getLogger(__name__)

MIN_CTX = 512
ROW_ROOM = 256
"""KV cells reserved per decode row (its question and answer) when a run decodes questions together."""
PAD_PREFIXES = ("[PAD",)
"""The converter pads a vocabulary shorter than the embedding matrix with [PAD<n>] tokens."""


class GGUFBackend(Backend):
    engine: ClassVar[str] = "llama.cpp"
    description: ClassVar[str] = "GGUF through llama-cpp-python (llama.cpp kernels); file=<path.gguf> loads your own"
    extra: ClassVar[str | None] = "gguf"
    baseline_options: ClassVar[tuple[str, ...]] = ("n_gpu_layers", "n_threads", "flash_attn", "n_batch", "n_ctx",
                                                   "repack", "swa_full")
    """Engine settings the baseline inherits from the quant it sits beside (not `file`, not the KV type:
    the baseline holds llama.cpp's f16 cache, so a KV type is compared with f16)."""
    Options: ClassVar[type[BackendOptions]] = GGUFOptions
    kv_cache_types: ClassVar[tuple[str, ...]] = tuple(KV_TYPES)
    model: Any = None
    """The loaded llama_model pointer (None before loading and after close)."""

    @classmethod
    def rope_scaling_types(cls) -> tuple[str, ...]:
        """llama.cpp rescales positions per context (linear or YaRN; it has no dynamic NTK)."""
        return ("linear", "yarn")

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        """GPU offload this build can do, and a given file= (exists, is a GGUF file, not truncated),
        before any work."""
        gguf_settings(precision, ctx.device)
        if precision.options.given_artifact():
            check_gguf_file(precision.name, str(precision.options.given_artifact()))

    def __init__(self, precision: Precision, ctx: LoadContext):
        super().__init__(precision, ctx)
        self.llama_cpp = _llama_cpp()
        self.file_type = FILE_TYPES[precision.name]
        type(self).validate(precision, ctx.validate_context())
        assert isinstance(precision.options, GGUFOptions)
        self.opts: GGUFOptions = precision.options
        self.settings = gguf_settings(precision, ctx.device)
        self.prepared: Prepared | None = None
        if self.opts.file:
            self.path = Path(self.opts.file).expanduser().resolve()
        else:
            self.prepared = self.prepare_artifact(precision, ctx)
            self.path = self.prepared.path
        self.check_tokenizer(self.path, ctx)
        self.model = self._load_model()
        self.n_vocab = self.llama_cpp.llama_vocab_n_tokens(self.llama_cpp.llama_model_get_vocab(self.model))
        self.n_swa = int(self.llama_cpp.llama_model_n_swa(self.model))
        """The sliding window of the model's windowed layers (0: none)."""
        self.eos = reference_eos_ids(ctx)
        self.ctx_ptr: Any = None
        self.batch: Any = None
        self.n_ctx = 0
        self.rows = max(1, ctx.decode_rows)
        """Sequences beside the context's (sequence 0) that a session may decode together."""
        self.active: GGUFSession | None = None
        self._sha256: str | None = self.prepared.artifact.sha256 if self.prepared else None

    @classmethod
    def full_precision_names(cls) -> tuple[str, ...]:
        """gguf-bf16 runs beside any gguf quant (llama.cpp-vs-transformers differences are not blamed
        on quantization); a listed gguf-f16 serves as well."""
        return ("gguf-bf16", "gguf-f16")

    @classmethod
    def noise_control(cls, precision: Precision) -> dict[str, OptionValue] | None:
        """Another n_threads (half, or 2 beside 1). llama.cpp's CPU kernels give each output row to
        one thread, so its logits can come out bit-identical (measured: 1 vs 2 threads, BF16): then
        the floor is zero, which is a finding, not a missing control."""
        assert isinstance(precision.options, GGUFOptions)
        return {"n_threads": other_thread_count(precision.options.n_threads or default_threads())}

    # --- artifacts --------------------------------------------------------------------------
    @classmethod
    def prepare_artifact(cls, precision: Precision, ctx: LoadContext) -> Prepared:
        """The GGUF of the reference at this precision, converted / quantized once and cached."""
        assert isinstance(precision.options, GGUFOptions)
        return prepare_gguf(precision.name, ctx, precision.options.n_threads)

    # --- loading ----------------------------------------------------------------------------
    def _model_params(self, vocab_only: bool) -> Any:
        p = self.llama_cpp.llama_model_default_params()
        p.n_gpu_layers = 0 if vocab_only else self.settings.n_gpu_layers
        p.vocab_only = vocab_only
        p.use_extra_bufts = self.opts.repack
        return p

    def check_tokenizer(self, path: Path, ctx: LoadContext) -> None:
        """Fairness rule 2: the file's vocabulary and special tokens equal the reference's."""
        check_file_vocab(self.llama_cpp, path, ctx.tokenizer)

    @classmethod
    def validate_tokenizer(cls, precision: Precision, ctx: ValidateContext, tokenizer: Any) -> None:
        """A given file= is read by llama.cpp (its metadata and vocabulary, not its weights) before any
        work: it must load, hold the weights its label names and the reference's vocabulary."""
        file = precision.options.given_artifact()
        if file:
            llama_cpp = _llama_cpp()
            path = Path(str(file)).expanduser().resolve()
            try:
                found = check_file_vocab(llama_cpp, path, tokenizer)
            except UserError as err:
                raise UserError(f"{precision.name}: {err}") from None
            actual = ftype_name(llama_cpp, int(found)) if found and found.isdigit() else None
            if actual and actual != FILE_TYPES[precision.name]:
                raise UserError(f"{path} holds {actual} weights but the precision is {precision.name}; use "
                                f"gguf-{actual.lower()}:file=... so the report names what ran")

    def _load_model(self) -> Any:
        model = self.llama_cpp.llama_model_load_from_file(str(self.path).encode(), self._model_params(vocab_only=False))
        if not model:
            raise UserError(f"llama.cpp cannot load {self.path} ({_last_engine_error()}); the file is corrupt, "
                            "truncated, or from a llama.cpp newer than the installed llama-cpp-python")
        found = meta_str(self.llama_cpp, model, "general.file_type")
        actual = ftype_name(self.llama_cpp, int(found)) if found and found.isdigit() else None
        if self.opts.file and actual and actual != self.file_type:
            self.llama_cpp.llama_model_free(model)
            raise UserError(f"{self.path} holds {actual} weights but the precision is {self.precision.name}; "
                            f"use gguf-{actual.lower()}:file=... so the report names what ran")
        self.actual_type = actual or self.file_type
        return model

    def ensure_context(self, n_tokens: int) -> bool:
        """A context holding at least n_tokens; returns True when it had to be (re)created. The KV
        cache is sized on demand (doubling) so short sweeps do not allocate the model's full window.
        A run that decodes questions together gets one unified cache for rows + 1 sequences (the rows
        share the context's cells) and ROW_ROOM more cells per row."""
        if self.ctx_ptr is not None and n_tokens <= self.n_ctx:
            return False
        fixed = self.opts.n_ctx
        if fixed and n_tokens > fixed:
            # A per-prompt failure (recorded on that sample), not a bad run: other lengths may fit.
            raise RuntimeError(f"{n_tokens} tokens do not fit the fixed context n_ctx={fixed}")
        room = ROW_ROOM * self.rows if self.rows > 1 else 0
        size = fixed or max(MIN_CTX, n_tokens + room, 2 * self.n_ctx)
        size = -(-size // 256) * 256
        self._free_context()
        p = self.llama_cpp.llama_context_default_params()
        p.n_ctx = size
        p.n_batch = p.n_ubatch = min(self.opts.n_batch, size)
        p.n_seq_max = self.rows + 1 if self.rows > 1 else 1
        p.kv_unified = self.rows > 1
        p.n_threads = p.n_threads_batch = self.settings.n_threads
        p.flash_attn_type = (self.llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.opts.flash_attn
                             else self.llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        p.type_k = KV_TYPES[self.settings.type_k]
        p.type_v = KV_TYPES[self.settings.type_v]
        p.offload_kqv = self.settings.n_gpu_layers != 0
        p.swa_full = self.opts.swa_full
        p.no_perf = True
        rope = self.ctx.rope_scaling
        if rope is not None:  # as llama.cpp's --rope-scaling TYPE --rope-scale FACTOR --yarn-orig-ctx N
            p.rope_scaling_type = (self.llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN if rope.type == "yarn"
                                   else self.llama_cpp.LLAMA_ROPE_SCALING_TYPE_LINEAR)
            p.rope_freq_scale = 1.0 / rope.factor
            if rope.original_max_position_embeddings:
                p.yarn_orig_ctx = rope.original_max_position_embeddings
        ctx = self.llama_cpp.llama_init_from_model(self.model, p)
        if not ctx:
            raise MemoryError(f"llama.cpp could not create a {size}-token context: {_last_engine_error()}")
        self.ctx_ptr, self.n_ctx, self.n_batch = ctx, self.llama_cpp.llama_n_ctx(ctx), int(p.n_batch)
        self.batch = self.llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        return True

    def _free_context(self) -> None:
        if self.batch is not None:
            self.llama_cpp.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx_ptr is not None:
            self.llama_cpp.llama_free(self.ctx_ptr)
            self.ctx_ptr = None
            self.n_ctx = 0

    # --- the Backend contract ----------------------------------------------------------------
    def artifact_sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = path_sha256(self.path)
        return self._sha256

    def weight_bytes(self) -> int:
        return int(self.llama_cpp.llama_model_size(self.model))

    def info(self) -> BackendInfo:
        n_params = int(self.llama_cpp.llama_model_n_params(self.model))
        s = self.settings
        options: dict[str, Any] = {"flash_attn": self.opts.flash_attn, "type_k": s.type_k, "type_v": s.type_v,
                                   "n_gpu_layers": s.n_gpu_layers, "repack": self.opts.repack, "n_threads": s.n_threads}
        if self.n_swa:  # recorded where it changes the cache (models with sliding-window layers)
            options["swa_full"] = self.opts.swa_full
        if self.prepared is not None:
            options |= self.prepared.artifact.recipe.options
        else:
            options["file"] = str(self.path)
        recipe = QuantRecipe(method="gguf", bits=round(8 * self.weight_bytes() / max(n_params, 1), 3),
                             quant_type=self.actual_type, compute_dtype="float32", options=options)
        gpu = self.settings.n_gpu_layers != 0
        return BackendInfo(precision=self.precision.label, engine=self.engine, engine_version=llama_cpp_version(),
                           device="cuda" if gpu else "cpu", dtype="float32", recipe=recipe,
                           attention=PREFILL_ATTENTION if s.prefill_rows > 1 else None,
                           weight_bytes=self.weight_bytes(), artifact_path=str(self.path),
                           artifact_sha256=self.artifact_sha256(),
                           versions={"llama_cpp_python": llama_cpp_version(),
                                     "llama_cpp_system": self.llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()})

    def session(self) -> GGUFSession:
        return GGUFSession(self)

    def iter_logprobs(self, ids: Sequence[int], chunk: int = 512) -> Iterator[LogprobChunk]:
        import numpy as np

        rows = logprob_rows(chunk, self.n_vocab)
        sess = self.session()
        try:
            for start in range(0, len(ids), rows):
                logits = sess.forward_all(ids[start:start + rows])
                shifted = logits - logits.max(axis=-1, keepdims=True)
                logprobs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
                yield LogprobChunk(start=start, logprobs=logprobs.astype(np.float32, copy=False))
        finally:
            sess.close()

    @classmethod
    def kv_element_bytes(cls, info: BackendInfo) -> float | None:
        """The key cache's type (type_k in the recipe; llama.cpp's default cache is f16)."""
        return qmem.dtype_bytes(info.recipe.options.get("type_k")) or 2.0

    @classmethod
    def kv_geometry(cls, model: qmem.AttentionGeometry, info: BackendInfo) -> qmem.AttentionGeometry:
        """With swa_full (llama.cpp's default before the option was recorded) every layer holds every token."""
        return model.full() if info.recipe.options.get("swa_full", True) else model

    def attention_geometry(self) -> qmem.AttentionGeometry:
        """From the file's metadata; which layers slide is not in it (llama.cpp hard-codes the pattern per
        architecture), so their number comes from the reference's config (the file is the reference's
        model: its vocabulary was checked)."""
        arch = meta_str(self.llama_cpp, self.model, "general.architecture") or "llama"
        get = lambda key: meta_str(self.llama_cpp, self.model, f"{arch}.{key}")  # noqa: E731
        heads = int(get("attention.head_count") or 1)
        embd = int(get("embedding_length") or 0)
        layers = int(get("block_count") or 0)
        window, sliding = (None, 0)
        if self.n_swa:
            window, sliding = reference_sliding_layers(self.ctx.model, layers)
            window = self.n_swa if sliding else None
        return qmem.AttentionGeometry(layers=layers,
                                      kv_heads=int(get("attention.head_count_kv") or heads),
                                      head_dim=int(get("attention.key_length") or embd // heads),
                                      head_dim_v=int(get("attention.value_length") or embd // heads),
                                      sliding_layers=sliding, window=window)

    def close(self) -> None:
        if self.active is not None:
            self.active.closed = True
            self.active = None
        self._free_context()
        if self.model is not None:
            self.llama_cpp.llama_model_free(self.model)
            self.model = None


def reference_sliding_layers(model: str, layers: int) -> tuple[int | None, int]:
    """(window, sliding layers) from the reference's config.json (a local directory); (None, 0) where
    it cannot be read or has another layer count."""
    import json

    try:
        cfg = json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))
        cfg = cfg.get("text_config") or cfg
    except (OSError, ValueError, AttributeError):
        return None, 0
    return qmem.sliding_layout(cfg.get("sliding_window"), None, cfg.get("layer_types"), layers)


def check_file_vocab(llama_cpp: Any, path: Path, tokenizer: Any) -> str | None:
    """Load a GGUF file's vocabulary only (llama.cpp reads its metadata, not its weights): one line
    when llama.cpp cannot read it or its vocabulary and special tokens differ from the reference's
    (fairness rule 2). Returns its general.file_type."""
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers, params.vocab_only, params.use_extra_bufts = 0, True, False
    _RECENT_ERRORS.clear()  # the reason given is this load's, not an earlier call's
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise UserError(f"llama.cpp cannot read {path} ({_last_engine_error()}); the file is corrupt, "
                        "truncated, or from a llama.cpp newer than the installed llama-cpp-python")
    try:
        view = gguf_vocab(llama_cpp, model)
        file_type = meta_str(llama_cpp, model, "general.file_type")
    finally:
        llama_cpp.llama_model_free(model)
    require_same(reference_view(tokenizer), view, f"GGUF file {path}", padding_prefixes=PAD_PREFIXES)
    return file_type
