"""When a transformers session keeps its cache: whether keeping is cheaper than a fresh prefill, and
whether it can be kept at all under sliding-window cache layers (Gemma 3: 15 of 18 layers keep the
last 511 tokens).

transformers 5 drops a sliding layer's older states on every forward and then refuses `crop` past the
window, unless the cache records the past; recording, a layer keeps every state until the next crop,
which trims it back to the window. So the session records the past, trims after each shared prefix
(so a measured cache holds what the engine needs, as transformers would without reuse), and answers
`window_kept` for ContextSession.crop, which turns a cut below that point into a fresh prefill, never a
read of states that are gone (transformers would slice the remaining tensor silently)."""

from __future__ import annotations

from typing import Any


def sliding_layers(cache: Any) -> list[Any]:
    """The cache's sliding-window layers (those with a window; none for most models)."""
    return [layer for layer in getattr(cache, "layers", ()) if getattr(layer, "is_sliding", False)
            and isinstance(getattr(layer, "sliding_window", None), int)]


def record_past(cache: Any) -> None:
    """Let a sliding layer be cropped back: it keeps its states until the next crop trims them."""
    if sliding_layers(cache):
        cache.activate_past_recording()


def window_kept(cache: Any, n: int) -> bool:
    """Whether cutting the cache to its first n tokens leaves every sliding layer the window before n."""
    for layer in sliding_layers(cache):
        if not layer.is_initialized:
            continue
        held, total = int(layer.keys.shape[-2]), int(layer.cumulative_length)
        if held < total and n - (layer.sliding_window - 1) < total - held:
            return False
    return True


def trim(cache: Any) -> None:
    """Drop what no next token attends to: each sliding layer back to its window (transformers'
    crop(0) on a recording layer: no token removed)."""
    for layer in sliding_layers(cache):
        if layer.is_initialized and layer.cumulative_length >= layer.sliding_window:
            layer.crop(0)


def worth_keeping(keep: int, new: int) -> bool:
    """transformers: keep `keep` cached tokens and append `new`, or prefill keep + new afresh?

    From an empty cache SDPA runs causal (is_causal, no mask): its kernels skip the upper triangle,
    about (keep + new)^2 / 2 score blocks. Appending to a cache needs an explicit mask, and no
    kernel skips masked blocks: new * (keep + new). So keeping pays when keep >= new. Measured with
    benchmarks/prefill_reuse.py on the demo model (CPU, one thread), exact mode, fifteen 1K-4K
    contexts that share only the instruction's first ~10 tokens: 7.4 s appending, 6.0 s afresh."""
    return keep >= new
