"""Which device the transformers engines run on (torch imported only when asked)."""

from __future__ import annotations

from qlongbench.errors import UserError


def resolve_device(requested: str) -> str:
    """auto -> cuda when torch sees one, else cpu; cuda without a device is a UserError."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return requested


KERNEL_FLAGS = ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "asimd", "sve", "sve2")
"""CPU features that decide which kernels torch and llama.cpp pick (and so how a sum is rounded)."""


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU as `model name [features]` (Linux /proc/cpuinfo; the platform's processor name, without
    features, elsewhere). The name alone can hide the difference ("AMD EPYC" on a virtual machine):
    the features in KERNEL_FLAGS are the ones that change which kernel runs."""
    import platform

    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return platform.processor()
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    name = fields.get("model name") or fields.get("Model") or platform.processor()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    found = [f for f in KERNEL_FLAGS if f in flags]
    return f"{name} [{' '.join(found)}]" if found else name
