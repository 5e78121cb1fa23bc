"""transformers' quantized KV cache (`bf16+kv=int4`): QuantizedCache with the quanto backend,
KIVI-style per-token groups, as the transformers docs and the HF blog set it up.

Why quanto, int4, groups of 64, a 128-token residual window (measured on SmolLM2-135M, CPU):
optimum-quanto 0.2.7 is a 165 KB pure-Python wheel that runs on torch 2.13 CPU; hqq needs a source
build and its docs' axis 1 crashes on odd token counts; fp8 saves only half. int4 kept bf16's
greedy answer at 2K and holds exactly 0.28125 of bf16's bytes (32 B of codes + 4 B of scale and
shift per 64 values); int2 is offered (the field reports it) but diverges within two tokens here.

Two things the engine does its own way, both recorded in the recipe:
- a forward's tokens attend to each other at full precision and are stored quantized afterwards,
  so results depend on where the prompt is split into forwards (qlongbench always forwards a
  context and its question separately, in the naive path too);
- transformers' own `crop` only trims the residual window; `crop` here slices quanto's packed
  per-token codes, which is exact (equal to quantizing the kept tokens alone)."""

from __future__ import annotations

from typing import Any

KV_BITS = {"int4": 4, "int2": 2}
"""KV precisions of the transformers engines and their bits."""
RESIDUAL = 128
"""Newest tokens kept at full precision before they are quantized (transformers' default)."""
GROUP = 64
"""Values per quantization group along head_dim."""


def recipe_options(kv: str, head_dim: int) -> dict[str, Any]:
    return {"kv_cache_dtype": kv, "kv_backend": "quanto (transformers QuantizedCache)",
            "kv_group_size": group_size(head_dim), "kv_residual_length": RESIDUAL, "kv_axis": "per token"}


def group_size(head_dim: int) -> int:
    return GROUP if head_dim % GROUP == 0 else head_dim


def new_cache(model: Any, kv: str) -> Any:
    from transformers import QuantizedCache

    from qlongbench.memory import text_config

    cfg = text_config(model.config)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return QuantizedCache(backend="quanto", config=model.config, nbits=KV_BITS[kv], axis_key=0, axis_value=0,
                          q_group_size=group_size(head_dim), residual_length=RESIDUAL)


def tensor_bytes(obj: Any, seen: set[tuple[int, int, int]]) -> int:
    """Bytes a tensor holds, recursing into wrapper tensors (quanto's packed codes + scale + shift,
    torchao's float8 codes + scale, a parameter holding one); a storage seen before counts once."""
    import torch

    if obj is None:
        return 0
    if isinstance(obj, torch.Tensor):
        flatten = getattr(type(obj), "__tensor_flatten__", None)
        if flatten is not None and type(obj) not in (torch.Tensor, torch.nn.Parameter):
            names, _ = obj.__tensor_flatten__()
            return sum(tensor_bytes(getattr(obj, n), seen) for n in names)
        key = (obj.untyped_storage().data_ptr(), obj.storage_offset(), obj.nbytes)
        if key in seen:
            return 0
        seen.add(key)
        return int(obj.nbytes)
    if isinstance(obj, (tuple, list)):
        return sum(tensor_bytes(o, seen) for o in obj)
    return 0


def cache_bytes(cache: Any) -> int:
    """The bytes a cache holds, measured from its tensors: a DynamicCache's keys and values; a
    quantized cache's packed codes, scales and shifts plus its full-precision residual window."""
    seen: set[tuple[int, int, int]] = set()
    total = 0
    for layer in getattr(cache, "layers", []):
        for name in ("_quantized_keys", "_quantized_values", "keys", "values"):
            total += tensor_bytes(getattr(layer, name, None), seen)
    return total


def _slice_codes(qt: Any, n: int) -> Any:
    """The first n tokens of a quanto per-token-group tensor [B, H, T, D]: codes unpacked, sliced,
    repacked (bit-exact: equal to quantizing the first n tokens alone)."""
    import torch
    from optimum.quanto.tensor.weights.qbits import WeightQBitsTensor

    b, h, _, d = qt.shape
    gs = qt._group_size
    g = d // gs
    if qt.axis != 0 or d % gs:
        raise RuntimeError("exact crop needs per-token groups (axis 0) dividing head_dim")
    codes = qt._data.unpack().reshape(b, h, -1, d)[:, :, :n].reshape(-1, gs).contiguous()
    scale = qt._scale.reshape(b, h, -1, g)[:, :, :n].reshape(-1, 1).contiguous()
    shift = qt._shift.reshape(b, h, -1, g)[:, :, :n].reshape(-1, 1).contiguous()
    return WeightQBitsTensor(qt.qtype, qt.axis, gs, torch.Size([b, h, n, d]), (h * n * d, n * d, d, 1),
                             codes, scale, shift)


def crop(cache: Any, n: int) -> None:
    """Keep the first n tokens of a quantized cache: inside the residual window by slicing it, inside
    the quantized part by slicing the packed codes."""
    for layer in cache.layers:
        if not getattr(layer, "is_initialized", False):
            continue
        total = layer.cumulative_length
        if n >= total:
            continue
        if n == 0:
            layer.reset()
            continue
        n_res = layer.keys.shape[-2] if layer.keys is not None and layer.keys.dim() == 4 else 0
        n_q = total - n_res
        if n >= n_q:
            layer.keys = layer.keys[..., : n - n_q, :]
            layer.values = layer.values[..., : n - n_q, :]
        else:
            layer._quantized_keys = _slice_codes(layer._quantized_keys, n)
            layer._quantized_values = _slice_codes(layer._quantized_values, n)
            layer.keys = layer.keys[..., :0, :]
            layer.values = layer.values[..., :0, :]
        layer.cumulative_length = n
