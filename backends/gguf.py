"""GGUF through llama-cpp-python: llama.cpp's own kernels, not transformers' dequantizing loader.

The reference is converted with llama.cpp's `convert_hf_to_gguf.py` (to BF16 or F16) and quantized
with the `llama_model_quantize` binding; both are cached as artifacts. `file=<path.gguf>` loads a
GGUF the user already has. Prompts go in as the frozen token ids through the C API (`llama_decode`
on a batch we fill ourselves): nothing is ever re-tokenized, and outputs are decoded with the
reference tokenizer so every engine turns ids into text the same way. Building the files lives in
backends/build/gguf_convert.py."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from qlongbench import memory as qmem
from qlongbench.backends.base import Backend, ContextSession, LoadContext, LogprobChunk, ValidateContext, decode_loop
from qlongbench.backends.build.artifacts import Prepared, path_sha256
from qlongbench.backends.build.gguf_convert import FILE_TYPES, prepare_gguf
from qlongbench.backends.llama_lib import (
    _last_engine_error, _llama_cpp, check_magic, default_threads, ftype_name, gguf_vocab, llama_cpp_version, meta_str,
)
from qlongbench.backends.tokenizer_check import reference_view, require_same
from qlongbench.errors import UserError
from qlongbench.spec.config import PrecisionSpec
from qlongbench.types import BackendInfo, Generation, GenerationConfig, MemoryStats, QuantRecipe

log = logging.getLogger(__name__)

KV_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30, "iq4_nl": 20}
"""KV-cache element types llama.cpp accepts (ggml_type ids)."""
MIN_CTX = 512
PAD_PREFIXES = ("[PAD",)
"""The converter pads a vocabulary shorter than the embedding matrix with [PAD<n>] tokens."""


class GGUFBackend(Backend):
    engine: ClassVar[str] = "llama.cpp"
    description: ClassVar[str] = "GGUF through llama-cpp-python (llama.cpp kernels); file=<path.gguf> loads your own"
    extra: ClassVar[str | None] = "gguf"
    engine_baseline: ClassVar[str] = "gguf-bf16"
    """Runs beside any gguf quant so llama.cpp-vs-transformers differences are not blamed on quantization."""
    engine_baseline_equivalents: ClassVar[tuple[str, ...]] = ("gguf-bf16", "gguf-f16")
    """Full-precision runs of this engine: any of them is the engine-matched baseline."""
    baseline_options: ClassVar[tuple[str, ...]] = ("n_gpu_layers", "n_threads", "flash_attn", "type_k", "type_v",
                                                   "n_batch", "n_ctx", "repack")
    """Engine settings the baseline inherits from the quant it sits beside (not `file`)."""
    allowed_options: ClassVar[frozenset[str]] = frozenset({"file", *baseline_options})

    supports_logprobs: ClassVar[bool] = True
    builds_artifacts: ClassVar[bool] = True

    @classmethod
    def validate(cls, precision: PrecisionSpec, ctx: ValidateContext) -> None:
        """Options, and a given file= (exists, is a GGUF file, not truncated), before any work."""
        super().validate(precision, ctx)
        opts = gguf_options(precision, ctx.device)
        if opts["file"]:
            check_gguf_file(precision.name, str(opts["file"]))

    def __init__(self, precision: PrecisionSpec, ctx: LoadContext):
        super().__init__(precision, ctx)
        self.llama_cpp = _llama_cpp()
        self.file_type = FILE_TYPES[precision.name]
        type(self).validate(precision, ValidateContext(model=ctx.model, device=ctx.device))
        self.opts = gguf_options(precision, ctx.device)
        self.prepared: Prepared | None = None
        if self.opts["file"]:
            self.path = Path(str(self.opts["file"])).expanduser().resolve()
        else:
            self.prepared = prepare_gguf(precision, ctx)
            self.path = self.prepared.path
        self.check_tokenizer(self.path, ctx)
        self.model = self._load_model()
        self.n_vocab = self.llama_cpp.llama_vocab_n_tokens(self.llama_cpp.llama_model_get_vocab(self.model))
        self.eos = reference_eos_ids(ctx)
        self.ctx_ptr: Any = None
        self.batch: Any = None
        self.n_ctx = 0
        self.active: GGUFSession | None = None
        self._sha256: str | None = self.prepared.artifact.sha256 if self.prepared else None

    # --- artifacts --------------------------------------------------------------------------
    @classmethod
    def prepare_artifact(cls, precision: PrecisionSpec, ctx: LoadContext) -> Prepared:
        """The GGUF of the reference at this precision, converted / quantized once and cached."""
        return prepare_gguf(precision, ctx)

    # --- loading ----------------------------------------------------------------------------
    def _model_params(self, vocab_only: bool) -> Any:
        p = self.llama_cpp.llama_model_default_params()
        p.n_gpu_layers = 0 if vocab_only else self.opts["n_gpu_layers"]
        p.vocab_only = vocab_only
        p.use_extra_bufts = self.opts["repack"]
        return p

    def check_tokenizer(self, path: Path, ctx: LoadContext) -> None:
        """Fairness rule 2: the file's vocabulary and special tokens equal the reference's."""
        model = self.llama_cpp.llama_model_load_from_file(str(path).encode(), self._model_params(vocab_only=True))
        if not model:
            raise UserError(f"llama.cpp cannot read {path} ({_last_engine_error()}); the file is corrupt, "
                            "truncated, or from a llama.cpp newer than the installed llama-cpp-python")
        try:
            view = gguf_vocab(self.llama_cpp, model)
        finally:
            self.llama_cpp.llama_model_free(model)
        require_same(reference_view(ctx.tokenizer), view, f"GGUF file {path}", padding_prefixes=PAD_PREFIXES)

    def _load_model(self) -> Any:
        model = self.llama_cpp.llama_model_load_from_file(str(self.path).encode(), self._model_params(vocab_only=False))
        if not model:
            raise UserError(f"llama.cpp cannot load {self.path} ({_last_engine_error()}); the file is corrupt, "
                            "truncated, or from a llama.cpp newer than the installed llama-cpp-python")
        found = meta_str(self.llama_cpp, model, "general.file_type")
        actual = ftype_name(self.llama_cpp, int(found)) if found and found.isdigit() else None
        if self.opts["file"] and actual and actual != self.file_type:
            self.llama_cpp.llama_model_free(model)
            raise UserError(f"{self.path} holds {actual} weights but the precision is {self.precision.name}; "
                            f"use gguf-{actual.lower()}:file=... so the report names what ran")
        self.actual_type = actual or self.file_type
        return model

    def ensure_context(self, n_tokens: int) -> bool:
        """A context holding at least n_tokens; returns True when it had to be (re)created. The KV
        cache is sized on demand (doubling) so short sweeps do not allocate the model's full window."""
        if self.ctx_ptr is not None and n_tokens <= self.n_ctx:
            return False
        fixed = self.opts["n_ctx"]
        if fixed and n_tokens > fixed:
            # A per-prompt failure (recorded on that sample), not a bad run: other lengths may fit.
            raise RuntimeError(f"{n_tokens} tokens do not fit the fixed context n_ctx={fixed}")
        size = fixed or max(MIN_CTX, n_tokens, 2 * self.n_ctx)
        size = -(-size // 256) * 256
        self._free_context()
        p = self.llama_cpp.llama_context_default_params()
        p.n_ctx = size
        p.n_batch = p.n_ubatch = min(self.opts["n_batch"], size)
        p.n_seq_max = 1
        p.n_threads = p.n_threads_batch = self.opts["n_threads"]
        p.flash_attn_type = (self.llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.opts["flash_attn"]
                             else self.llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        p.type_k = KV_TYPES[self.opts["type_k"]]
        p.type_v = KV_TYPES[self.opts["type_v"]]
        p.offload_kqv = self.opts["n_gpu_layers"] != 0
        p.no_perf = True
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
        options: dict[str, Any] = {k: self.opts[k] for k in ("flash_attn", "type_k", "type_v", "n_gpu_layers", "repack")}
        if self.prepared is not None:
            options |= self.prepared.artifact.recipe.options
        else:
            options["file"] = str(self.path)
        recipe = QuantRecipe(method="gguf", bits=round(8 * self.weight_bytes() / max(n_params, 1), 3),
                             quant_type=self.actual_type, compute_dtype="float32", options=options)
        gpu = self.opts["n_gpu_layers"] != 0
        return BackendInfo(precision=self.precision.label(), engine=self.engine, engine_version=llama_cpp_version(),
                           device="cuda" if gpu else "cpu", dtype="float32", recipe=recipe,
                           weight_bytes=self.weight_bytes(), artifact_path=str(self.path),
                           artifact_sha256=self.artifact_sha256(),
                           versions={"llama_cpp_python": llama_cpp_version(),
                                     "llama_cpp_system": self.llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()})

    def session(self) -> GGUFSession:
        return GGUFSession(self)

    def iter_logprobs(self, ids: Sequence[int], chunk: int = 512) -> Iterator[LogprobChunk]:
        import numpy as np

        sess = self.session()
        try:
            for start in range(0, len(ids), chunk):
                logits = sess.forward_all(ids[start:start + chunk])
                shifted = logits - logits.max(axis=-1, keepdims=True)
                logprobs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
                yield LogprobChunk(start=start, logprobs=logprobs.astype(np.float32, copy=False))
        finally:
            sess.close()

    def kv_formula_bytes(self, tokens: int) -> int:
        arch = meta_str(self.llama_cpp, self.model, "general.architecture") or "llama"
        get = lambda key: meta_str(self.llama_cpp, self.model, f"{arch}.{key}")  # noqa: E731
        heads = int(get("attention.head_count") or 1)
        embd = int(get("embedding_length") or 0)
        geometry = qmem.AttentionGeometry(layers=int(get("block_count") or 0),
                                          kv_heads=int(get("attention.head_count_kv") or heads),
                                          head_dim=int(get("attention.key_length") or embd // heads),
                                          head_dim_v=int(get("attention.value_length") or embd // heads))
        k_bytes, v_bytes = (qmem.dtype_bytes(self.opts[name]) or 2.0 for name in ("type_k", "type_v"))
        return geometry.kv_bytes(tokens, k_bytes, v_bytes)

    def memory(self, tokens: int) -> MemoryStats:
        sess = self.session()
        try:
            sess.extend([self.pad_id()] * tokens)
            measured = sess.cache_bytes()
        finally:
            sess.close()
        gpu = self.opts["n_gpu_layers"] != 0
        return MemoryStats(tokens=tokens, kv_cache_bytes=measured, kv_cache_bytes_formula=self.kv_formula_bytes(tokens),
                           weight_bytes=self.weight_bytes(), peak_bytes=None if gpu else qmem.peak_rss_bytes(),
                           source="llama-state")

    def pad_id(self) -> int:
        hf = self.ctx.tokenizer.hf
        for v in (hf.pad_token_id, hf.eos_token_id, hf.bos_token_id):
            if v is not None:
                return int(v)
        return 0

    def close(self) -> None:
        if self.active is not None:
            self.active.closed = True
            self.active = None
        self._free_context()
        if getattr(self, "model", None) is not None:
            self.llama_cpp.llama_model_free(self.model)
            self.model = None


class GGUFSession(ContextSession):
    """The backend's one llama.cpp context as a session (sequence 0). Opening a session clears the
    KV cache; a previous session of the same backend is closed by it."""

    def __init__(self, backend: GGUFBackend):
        self.b = backend
        self.lc = backend.llama_cpp
        if backend.active is not None:
            backend.active.closed = True
        backend.active = self
        self.closed = False
        self._ids: list[int] = []
        self._last_logits: Any = None
        if backend.ctx_ptr is not None:
            self.lc.llama_memory_clear(self.lc.llama_get_memory(backend.ctx_ptr), True)
        # Peak RSS per prompt on CPU; llama.cpp's GPU buffers are invisible to torch's allocator.
        self._cpu = backend.opts["n_gpu_layers"] == 0
        if self._cpu:
            qmem.reset_peak("cpu")

    @property
    def n_tokens(self) -> int:
        return len(self._ids)

    @property
    def tokens(self) -> tuple[int, ...]:
        return tuple(self._ids)

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("this GGUF session was closed (a newer session of the backend took its context)")

    def _decode(self, ids: Sequence[int], all_logits: bool) -> Any:
        """Feed ids after the cached ones; float32 logits of every fed position, or of the last."""
        import numpy as np

        self._check()
        hook = self.b.ctx.fault_hook
        if hook is not None:
            hook("forward", n_tokens=len(self._ids) + len(ids))
        if self.b.ensure_context(len(self._ids) + len(ids)) and self._ids:
            # A bigger context replaced the old one: refill it with what the session held.
            held, self._ids = self._ids, []
            self._decode(held, all_logits=False)
        rows = []
        last = None
        for start in range(0, len(ids), self.b.n_batch):
            part = [int(t) for t in ids[start:start + self.b.n_batch]]
            batch = self.b.batch
            batch.n_tokens = len(part)
            for i, tok in enumerate(part):
                batch.token[i] = tok
                batch.pos[i] = len(self._ids) + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = all_logits or i == len(part) - 1
            rc = self.lc.llama_decode(self.b.ctx_ptr, batch)
            if rc == 1:
                raise MemoryError(f"llama.cpp found no KV-cache slot for {len(part)} tokens at position {len(self._ids)}")
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with code {rc}: {_last_engine_error()}")
            self._ids.extend(part)
            if all_logits:
                ptr = self.lc.llama_get_logits(self.b.ctx_ptr)
                rows.append(np.ctypeslib.as_array(ptr, shape=(len(part) * self.b.n_vocab,))
                            .reshape(len(part), self.b.n_vocab).copy())
            else:
                last = np.ctypeslib.as_array(self.lc.llama_get_logits_ith(self.b.ctx_ptr, -1),
                                             shape=(self.b.n_vocab,)).copy()
        if all_logits:
            out = np.concatenate(rows) if rows else np.zeros((0, self.b.n_vocab), dtype=np.float32)
            self._last_logits = out[-1] if len(out) else self._last_logits
            return out
        self._last_logits = last if last is not None else self._last_logits
        return last

    def forward_all(self, ids: Sequence[int]) -> Any:
        """Append ids; float32 logits [len(ids), vocab] at each of their positions."""
        return self._decode(ids, all_logits=True)

    def extend(self, ids: Sequence[int]) -> float:
        t0 = time.perf_counter()
        if ids:
            self._decode(ids, all_logits=False)
        return time.perf_counter() - t0

    def crop(self, n: int) -> None:
        self._check()
        if n >= len(self._ids):
            return
        if self.b.ctx_ptr is not None:
            ok = self.lc.llama_memory_seq_rm(self.lc.llama_get_memory(self.b.ctx_ptr), 0, n, -1)
            if not ok:
                raise RuntimeError("llama.cpp could not remove tokens from this model's cache")
        del self._ids[n:]
        self._last_logits = None

    def cache_bytes(self) -> int:
        """Bytes of this sequence's KV state (llama.cpp's own serialised size of the cells in use)."""
        if self.b.ctx_ptr is None or not self._ids:
            return 0
        return int(self.lc.llama_state_seq_get_size(self.b.ctx_ptr, 0))

    def _next_logits(self) -> Any:
        if self._last_logits is None:
            last = self._ids[-1]
            self.crop(len(self._ids) - 1)
            self._decode([last], all_logits=False)
        return self._last_logits

    def generate(self, ids: Sequence[int], cfg: GenerationConfig) -> Generation:
        import numpy as np

        self._check()
        start = len(self._ids)
        if not ids and start == 0:
            raise ValueError("cannot generate from an empty prompt")
        prefill = self.extend(ids) if ids else 0.0
        kv_bytes = self.cache_bytes()
        n_prompt = len(self._ids)
        logits = self._next_logits()
        eos = self.b.eos if cfg.stop_on_eos else set()
        decoded = decode_loop(logits, lambda tok: self._decode([tok], all_logits=False), cfg, eos,
                              argmax=lambda a: int(np.argmax(a)), to_numpy=lambda a: a)
        out, finish, decode = list(decoded.tokens), decoded.finish, decoded.seconds
        peak, peak_source = qmem.read_peak("cpu") if self._cpu else (None, None)
        self.crop(start)
        if self._cpu:
            qmem.reset_peak("cpu")
        return Generation(text=self.b.ctx.tokenizer.decode(out), token_ids=tuple(out), n_prompt_tokens=n_prompt,
                          finish_reason=finish, prefill_seconds=prefill, decode_seconds=decode,
                          n_prefilled_tokens=len(ids), kv_cache_bytes=kv_bytes, peak_bytes=peak,
                          peak_source=peak_source)

    def close(self) -> None:
        if not self.closed and self.b.ctx_ptr is not None:
            self.lc.llama_memory_clear(self.lc.llama_get_memory(self.b.ctx_ptr), True)
        self.closed = True
        if self.b.active is self:
            self.b.active = None
        self._last_logits = None


# --- helpers ------------------------------------------------------------------------------------


def _int_option(options: dict[str, Any], name: str, default: int, label: str, *, minimum: int) -> int:
    v = options.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise UserError(f"{label}: {name} must be an integer >= {minimum}, not {v!r}")
    return v


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


def gguf_options(precision: PrecisionSpec, device: str) -> dict[str, Any]:
    """A gguf-* label's engine settings with their defaults; UserError for a bad value."""
    o = dict(precision.options)
    offload = _llama_cpp().llama_supports_gpu_offload()
    if device.startswith("cuda") and not offload and "n_gpu_layers" not in o:
        log.warning("%s runs on the CPU: this llama-cpp-python was built without a GPU backend", precision.name)
    out: dict[str, Any] = {
        "file": o.get("file"),
        # On CUDA every layer goes to the GPU unless the user says otherwise.
        "n_gpu_layers": _int_option(o, "n_gpu_layers", -1 if device.startswith("cuda") and offload else 0,
                                    precision.name, minimum=-1),
        "n_threads": _int_option(o, "n_threads", default_threads(), precision.name, minimum=1),
        "n_batch": _int_option(o, "n_batch", 512, precision.name, minimum=1),
        "n_ctx": _int_option(o, "n_ctx", 0, precision.name, minimum=0),
        "flash_attn": o.get("flash_attn", False),
        # llama.cpp's CPU weight repacking (AMX / AVX "extra buffer types"): faster, but on VMs that
        # advertise AMX without enabling it the AMX kernels fault and kill the process (measured),
        # so it is opt-in.
        "repack": o.get("repack", False),
        "type_k": str(o.get("type_k", "f16")).lower(),
        "type_v": str(o.get("type_v", "f16")).lower(),
    }
    for name in ("flash_attn", "repack"):
        if not isinstance(out[name], bool):
            raise UserError(f"{precision.name}: {name} must be true or false, not {out[name]!r}")
    for name in ("type_k", "type_v"):
        if out[name] not in KV_TYPES:
            raise UserError(f"{precision.name}: {name}={out[name]} is not a KV cache type; use one of "
                            f"{', '.join(KV_TYPES)}")
    if out["type_v"] not in ("f16", "f32", "bf16") and not out["flash_attn"]:
        raise UserError(f"{precision.name}: a quantized V cache (type_v={out['type_v']}) needs "
                        "flash_attn=true in llama.cpp")
    if out["n_gpu_layers"] != 0 and not offload:
        raise UserError(f"{precision.name}: n_gpu_layers={out['n_gpu_layers']} asks for GPU offload but this "
                        "llama-cpp-python was built without a GPU backend; reinstall it with "
                        "CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install --force-reinstall --no-cache-dir llama-cpp-python, "
                        "or run with --device cpu")
    return out


def check_gguf_file(label: str, file: str) -> None:
    """A user-supplied GGUF file: it exists, is a file, starts like GGUF and holds every tensor its
    header promises (a truncated download is refused here, not half way through a sweep)."""
    path = Path(file).expanduser()
    if not path.exists():
        raise UserError(f"{label}: GGUF file {file} does not exist")
    if not path.is_file():
        raise UserError(f"{label}: file={file} is a directory; give the .gguf file itself")
    check_magic(path)
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except Exception as err:  # noqa: BLE001 - any parse failure means the file cannot be used
        raise UserError(f"{label}: {file} is not a readable GGUF file ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                        "it is corrupt or truncated") from None
    size = path.stat().st_size
    if end > size:
        raise UserError(f"{label}: {file} is truncated ({size:,} bytes, its tensors need {end:,}); download it again")
