"""The options of a gguf-* label (GGUFOptions), its engine settings on this machine, and the checks of
a user-supplied GGUF file, made before anything loads (so a bad option or a truncated download is
refused before the run directory is touched)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, model_validator

from qlongbench.backends.llama_lib import _llama_cpp, check_magic, default_threads
from qlongbench.errors import UserError
from qlongbench.spec.precision import BackendOptions, Positive, Precision, Text, lower

log = logging.getLogger(__name__)


KV_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30, "iq4_nl": 20}
"""KV-cache element types llama.cpp accepts (ggml_type ids): `+kv=TYPE` on a gguf-* label."""
KVType = Annotated[Literal["f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "bf16", "iq4_nl"], BeforeValidator(lower)]
FULL_PRECISION_CACHES = ("f16", "f32", "bf16")
TILED_CACHES = ("f16", "f32")
"""Cache types (keys and values of one type) for which llama.cpp's CPU flash attention has a tiled kernel."""
FA_TILE_ROWS = 64
"""Query rows from which llama.cpp's CPU flash attention runs its tiled kernel (GGML_FA_TILE_Q in
ggml-cpu/common.h of the llama.cpp that llama-cpp-python 0.3.36 vendors; a TILED_CACHES cache). A batch of fewer rows runs another kernel (one row at a time over every key), whose sums
differ from the tiled kernel's and which is several times slower for a question after 8K tokens.
tests/test_engines_gguf.py shows what this constant buys, so a llama.cpp that moves it fails there."""


class GGUFOptions(BackendOptions):
    """Options of the gguf-* labels (engine settings that are unset take this machine's default when
    the precision loads)."""

    file: Text | None = None
    """A GGUF file to load instead of converting the reference (its weight type must be the label's)."""
    n_gpu_layers: Annotated[int, Field(ge=-1)] | None = None
    """Layers offloaded to the GPU (-1: all); unset: all on CUDA with a GPU build of llama.cpp, else none."""
    n_threads: Positive | None = None
    """CPU threads; unset: llama.cpp's default for this machine."""
    n_batch: Positive = 512
    """Tokens per llama_decode call while prefilling."""
    n_ctx: Annotated[int, Field(ge=0)] = 0
    """A fixed context size in tokens (0: sized on demand, doubling)."""
    flash_attn: bool = True
    """Flash attention: llama.cpp needs it for a quantized V cache, so with it on everywhere a KV type
    changes only the cache (and it is llama.cpp's fastest CPU setting)."""
    repack: bool = False
    """llama.cpp's CPU weight repacking (AMX / AVX extra buffer types): faster, but on VMs that
    advertise AMX without enabling it the AMX kernels fault and kill the process (measured)."""
    swa_full: bool = False
    """Keep every token in the sliding-window layers' cache too (llama.cpp's swa_full). Off, as llama.cpp's
    server runs: a sliding layer holds about its window (Gemma 3 270M at 16K: 63 MiB against 288 MiB),
    and a cropped cache that no longer holds the window before the cut is prefilled again, never read.
    No effect on models without sliding-window layers."""
    type_k: KVType | None = None
    """Key cache type (unset: the +kv= type, else f16); give +kv=TYPE or type_k / type_v, not both."""
    type_v: KVType | None = None
    """Value cache type (unset: the +kv= type, else f16); a quantized one needs flash_attn."""

    @model_validator(mode="after")
    def _cache_types(self, info: ValidationInfo) -> GGUFOptions:
        kv = (info.context or {}).get("kv")
        if kv and (self.type_k or self.type_v):
            raise ValueError("give the KV cache type once, as +kv=TYPE or as type_k / type_v")
        type_v = self.type_v or kv or "f16"
        if type_v not in FULL_PRECISION_CACHES and not self.flash_attn:
            raise ValueError(f"a quantized V cache (type_v={type_v}) needs flash_attn=true in llama.cpp")
        return self

    def given_artifact(self) -> str | None:
        return self.file


@dataclass(frozen=True)
class GGUFSettings:
    """A gguf-* precision's engine settings on this machine: its options with every default resolved."""

    n_gpu_layers: int
    """Layers on the GPU (0: CPU only)."""
    n_threads: int
    """CPU threads."""
    type_k: str
    """Key cache type."""
    type_v: str
    """Value cache type."""
    prefill_rows: int = 1
    """The fewest query rows a prefill batch is given (backends/gguf_session.py prefill_chunks):
    FA_TILE_ROWS where llama.cpp's CPU flash attention has a tiled kernel for this cache, else 1."""


def gguf_settings(precision: Precision, device: str) -> GGUFSettings:
    """The engine settings of a gguf-* precision on `device`; UserError for GPU offload that this
    llama-cpp-python cannot do."""
    o = precision.options
    assert isinstance(o, GGUFOptions)
    offload = _llama_cpp().llama_supports_gpu_offload()
    if device.startswith("cuda") and not offload and o.n_gpu_layers is None:
        log.warning("%s runs on the CPU: this llama-cpp-python was built without a GPU backend", precision.name)
    # On CUDA every layer goes to the GPU unless the user says otherwise.
    layers = o.n_gpu_layers if o.n_gpu_layers is not None else (-1 if device.startswith("cuda") and offload else 0)
    if layers != 0 and not offload:
        raise UserError(f"{precision.name}: n_gpu_layers={layers} asks for GPU offload but this "
                        "llama-cpp-python was built without a GPU backend; reinstall it with "
                        "CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install --force-reinstall --no-cache-dir llama-cpp-python, "
                        "or run with --device cpu")
    type_k, type_v = o.type_k or precision.kv or "f16", o.type_v or precision.kv or "f16"
    tiled = o.flash_attn and layers == 0 and type_k == type_v and type_k in TILED_CACHES
    return GGUFSettings(n_gpu_layers=layers, n_threads=o.n_threads or default_threads(), type_k=type_k,
                        type_v=type_v, prefill_rows=FA_TILE_ROWS if tiled else 1)


def check_gguf_file(label: str, file: str) -> None:
    """A user-supplied GGUF file: it exists, is a file, starts like GGUF and holds every tensor its
    header promises (a truncated download is refused here, not half way through a sweep)."""
    path = Path(file).expanduser()
    if not path.exists():
        raise UserError(f"{label}: GGUF file {file} does not exist")
    if not path.is_file():
        raise UserError(f"{label}: file={file} is a directory; give the .gguf file itself")
    try:
        check_magic(path)
    except UserError as err:
        raise UserError(f"{label}: {err}") from None
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
