"""Attention for the transformers engines on CPU: torch's SDPA, with one-query steps in float32.

torch's CPU flash kernel is slow for a single bf16/fp16 query: on this project's machines (torch
2.13, one thread) attention for one bf16 query over 4096 cached keys took 1.42 ms in the bf16
kernel and 0.23 ms when q, k and v were converted to float32 first (conversion included), and a
whole decode step of the demo model went from 8.2 ms to 3.7 ms at 4K tokens
(`python benchmarks/decode_attention.py`). Decode steps are most of what an
evaluation spends once contexts are reused, so this is where the time goes. (ExecuTorch routes
single-query SDPA away from its tiled flash kernel for the same reason: pytorch/executorch#18648.)

The float32 step is also the more exact of the two: it is within half a bf16 ulp of a float64
computation (rounded once, at the output), where torch's bf16 kernel, which rounds intermediate
results to bf16, was off by up to a few hundred ulps on small outputs (tests/test_hf_attention.py).
Prefill (several queries) is unchanged: there the bf16 kernel is as fast as float32. Every
transformers-based precision (the reference, bitsandbytes, GPTQ) runs the same function on CPU,
so a comparison still changes one variable; run.json records the implementation.
"""

from __future__ import annotations

from typing import Any

NAME = "qlongbench_sdpa"
"""The attention implementation registered with transformers (recorded in run.json)."""

_registered = False


def upcasts(t: Any) -> bool:
    """Whether a one-query step over t (a query, or a cache it reads) runs in float32: bf16 / fp16 on
    the CPU. The rule of this module, also used by the cache that keeps a float32 mirror (hf_mirror)."""
    import torch

    return t.dtype in (torch.bfloat16, torch.float16) and t.device.type == "cpu"


def _forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any) -> tuple[Any, Any]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.shape[2] != 1 or not upcasts(query):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.is_floating_point():
        attention_mask = attention_mask.float()
    out, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(), attention_mask, **kwargs)
    return out.to(query.dtype), weights


def register() -> None:
    """Make NAME known to transformers (attention function and its mask builder, SDPA's)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _forward)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    _registered = True


def use_fast_decode(model: Any, device: str) -> str:
    """Switch a model that runs SDPA on the CPU to NAME; returns the implementation in use.

    Models that run anything other than SDPA (eager, flash, a model's own) are left as they are."""
    current = getattr(model.config, "_attn_implementation", None)
    if current != "sdpa" or not device.startswith("cpu"):
        return str(current)
    register()
    model.set_attn_implementation(NAME)
    return NAME
