"""A transformers cache layer for CPU decoding that copies no whole cache per step.

transformers' DynamicLayer appends a token by concatenating the whole layer cache (`torch.cat`), and
the CPU one-query attention (hf_attention.py) then converts the whole bf16 cache to float32 — at 8K
on SmolLM2 the two were 39 % of a decode step (`benchmarks/profile_decode.py`: `aten::copy_` 29.4 %,
`aten::cat` 9.9 %). MirrorLayer keeps keys and values in buffers with room to grow (a token is
written in place) and, once the first one-query step comes, a float32 mirror of them that each later
step extends by the rows it has not seen (one row per decoded token). One-query steps read the
mirror; prefill reads the bf16 buffers, as before.

Numbers do not change: the mirror holds the bf16 values exactly (bf16 → float32 is exact), which is
what the per-step conversion computed, and the buffers hold what the concatenation held
(tests/test_hf_mirror.py: logits equal bit for bit to DynamicLayer's, greedy tokens equal).

Memory: the cache the model needs is still the bf16 keys and values, and that is what a record's
`kv_cache_bytes` counts (the views' bytes, as for DynamicLayer). The float32 mirror is this engine's
CPU working copy: twice the bf16 cache's bytes while a context is decoded, plus up to GROW tokens of
headroom per buffer; it shows in the peak memory figures (the process's high-water mark), not in
`kv_cache_bytes`. `mirror_bytes` gives it for whoever wants it counted apart."""

from __future__ import annotations

from typing import Any

from transformers.cache_utils import DynamicLayer

from qlongbench.backends.hf_attention import upcasts

GROW = 256
"""Tokens of headroom allocated when a buffer grows (a rounded-up step, so growth is rare in decode)."""


def _room(needed: int) -> int:
    return -(-(needed + GROW) // GROW) * GROW


class MirrorLayer(DynamicLayer):
    """A DynamicLayer whose tokens are written into preallocated buffers, with a float32 mirror for
    one-query steps. `keys` / `values` are views of the filled part (what DynamicLayer would hold)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._k: Any = None
        self._v: Any = None
        self._k32: Any = None
        self._v32: Any = None
        self._n = 0  # tokens held
        self._m = 0  # tokens the mirror holds (a prefix of the _n)

    def _ensure(self, needed: int, key_states: Any, value_states: Any) -> None:
        import torch

        if self._k is not None and needed <= self._k.shape[-2]:
            return
        b, h, _, d = key_states.shape
        k = torch.empty((b, h, _room(needed), d), dtype=key_states.dtype, device=key_states.device)
        v = torch.empty((b, h, _room(needed), value_states.shape[-1]), dtype=value_states.dtype,
                        device=value_states.device)
        if self._k is not None:
            k[:, :, :self._n].copy_(self._k[:, :, :self._n])
            v[:, :, :self._n].copy_(self._v[:, :, :self._n])
        self._k, self._v = k, v
        self._k32 = self._v32 = None
        self._m = 0

    def _views(self) -> None:
        self.keys, self.values = self._k[:, :, :self._n], self._v[:, :, :self._n]

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        q = key_states.shape[-2]
        self._ensure(self._n + q, key_states, value_states)
        self._k[:, :, self._n:self._n + q].copy_(key_states)
        self._v[:, :, self._n:self._n + q].copy_(value_states)
        self._n += q
        self._views()
        if q != 1 or not upcasts(self._k):
            return self.keys, self.values  # prefill, or a cache the attention reads as it is
        return self._mirror()

    def _mirror(self) -> tuple[Any, Any]:
        """The float32 copy of the filled part, extended by the rows it has not seen yet."""
        import torch

        if self._k32 is None:
            self._k32 = torch.empty(self._k.shape, dtype=torch.float32, device=self._k.device)
            self._v32 = torch.empty(self._v.shape, dtype=torch.float32, device=self._v.device)
            self._m = 0
        self._k32[:, :, self._m:self._n].copy_(self._k[:, :, self._m:self._n])
        self._v32[:, :, self._m:self._n].copy_(self._v[:, :, self._m:self._n])
        self._m = self._n
        return self._k32[:, :, :self._n], self._v32[:, :, :self._n]

    def float32_views(self) -> tuple[Any, Any]:
        """The filled part as float32 (the mirror, brought up to date): what a one-query step reads.
        Shared-prefix decoding (hf_fork.py) reads a context's keys and values from here, once for all rows."""
        if self._k is None:
            raise ValueError("the layer holds no tokens yet")
        return self._mirror()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError(f"crop takes a negative count of tokens to remove, got {tokens_to_remove}")
        if tokens_to_remove == 0 or not self.is_initialized or self._k is None:
            return
        self._n = max(0, self._n + tokens_to_remove)
        self._m = min(self._m, self._n)
        self._views()

    def reset(self) -> None:
        super().reset()
        self._k = self._v = self._k32 = self._v32 = None
        self._n = self._m = 0

    def batch_repeat_interleave(self, repeats: int) -> None:
        raise NotImplementedError("MirrorLayer serves one row (qlongbench's session); batches use DynamicCache")

    def batch_select_indices(self, indices: Any) -> None:
        raise NotImplementedError("MirrorLayer serves one row (qlongbench's session); batches use DynamicCache")

    def reorder_cache(self, beam_idx: Any) -> None:
        raise NotImplementedError("MirrorLayer serves one row (qlongbench's session); batches use DynamicCache")

    def mirror_bytes(self) -> int:
        """Bytes of the float32 mirror and the buffers' headroom: what this layer holds beyond the cache."""
        held = sum(int(t.nbytes) for t in (self._k, self._v, self._k32, self._v32) if t is not None)
        return held - int(self.keys.nbytes) - int(self.values.nbytes) if self._k is not None else 0


def install(cache: Any) -> Any:
    """Replace the cache's plain full-attention layers (DynamicLayer exactly; sliding, quantized and
    other layers stay) with MirrorLayer. Returns the cache."""
    layers = cache.layers
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and not layer.is_initialized:
            layers[i] = MirrorLayer()
    return cache


def mirror_bytes(cache: Any) -> int:
    """What the cache's MirrorLayers hold beyond the bf16 cache (float32 mirror, headroom)."""
    return sum(layer.mirror_bytes() for layer in cache.layers if isinstance(layer, MirrorLayer))
