"""The settings of a gguf-* label and the checks of a user-supplied GGUF file, made before anything
loads (so a bad option or a truncated download is refused before the run directory is touched)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from qlongbench.backends.llama_lib import _llama_cpp, check_magic, default_threads
from qlongbench.errors import UserError
from qlongbench.spec.config import PrecisionSpec

log = logging.getLogger(__name__)


KV_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30, "iq4_nl": 20}
"""KV-cache element types llama.cpp accepts (ggml_type ids): `+kv=TYPE` on a gguf-* label."""


def _int_option(options: dict[str, Any], name: str, default: int, label: str, *, minimum: int) -> int:
    v = options.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise UserError(f"{label}: {name} must be an integer >= {minimum}, not {v!r}")
    return v


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
        # Flash attention on by default: llama.cpp needs it for a quantized V cache, so with it on
        # everywhere a KV type changes only the cache (and it is llama.cpp's fastest CPU setting).
        "flash_attn": o.get("flash_attn", True),
        # llama.cpp's CPU weight repacking (AMX / AVX "extra buffer types"): faster, but on VMs that
        # advertise AMX without enabling it the AMX kernels fault and kill the process (measured),
        # so it is opt-in.
        "repack": o.get("repack", False),
        "type_k": str(o.get("type_k", precision.kv or "f16")).lower(),
        "type_v": str(o.get("type_v", precision.kv or "f16")).lower(),
    }
    if precision.kv and ({"type_k", "type_v"} & set(o)):
        raise UserError(f"{precision.label()}: give the KV cache type once, as +kv=TYPE or as type_k / type_v")
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
