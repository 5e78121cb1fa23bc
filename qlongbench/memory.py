"""Memory arithmetic and measurement helpers shared by backends and the report.

The analytic KV-cache size is `2 · layers · kv_heads · head_dim · tokens · bytes` (keys and
values, every layer), where a sliding-window layer (Gemma 3: 15 of 18 layers, window 512) holds
min(tokens, window) tokens instead of all of them. Backends *measure* the cache and the report shows both side by side, with
the weights' bytes, so a reader sees where the cache outgrows what quantizing the weights saved.
Nothing here imports torch."""

from __future__ import annotations

import logging
import math
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DTYPE_BYTES: dict[str, float] = {
    "float32": 4, "fp32": 4, "f32": 4, "float": 4,
    "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "f16": 2, "half": 2,
    "float8": 1, "fp8": 1, "int8": 1, "uint8": 1,
    # llama.cpp quantized KV types (type_k / type_v): bytes per element including block scales.
    "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32, "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32,
}
"""Bytes per element of the dtypes a KV cache is held in."""


@dataclass(frozen=True)
class AttentionGeometry:
    """What the KV-cache formula needs from a model config. The one formula of the project: the
    backends, the report and the memory projection all compute cache bytes through it."""

    layers: int
    """num_hidden_layers."""
    kv_heads: int
    """num_key_value_heads (GQA/MQA keep fewer KV heads than query heads)."""
    head_dim: int
    """Per-head dimension of the keys."""
    head_dim_v: int | None = None
    """Per-head dimension of the values when it differs from the keys'."""
    sliding_layers: int = 0
    """Layers that attend to the last `window` tokens only (their cache holds no more than that)."""
    window: int | None = None
    """Tokens a sliding-window layer keeps (the config's sliding_window); None: no such layers."""

    def __post_init__(self) -> None:
        if not 0 <= self.sliding_layers <= self.layers or (self.sliding_layers and not self.window):
            raise ValueError(f"{self.sliding_layers} sliding layers (window {self.window}) in a {self.layers}-layer "
                             "model: sliding layers need a window and cannot outnumber the layers")

    @classmethod
    def from_config(cls, cfg: object) -> AttentionGeometry | None:
        """From a run header's ModelInfo, a transformers config, or a dict with the same fields
        (None when a field is missing: the formula is then not drawn). Sliding-window layers are the
        config's `sliding_layers` (ModelInfo), else those its `layer_types` name sliding_attention,
        counted only when it gives a `sliding_window` (a Mistral-style window on every layer without
        layer_types is not counted: the formula stays the full one)."""
        get = (lambda k: cfg.get(k)) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k, None))
        try:
            heads = int(get("num_attention_heads"))
            layers = int(get("num_hidden_layers"))
            kv_heads = int(get("num_key_value_heads") or heads)
            head_dim = int(get("head_dim") or int(get("hidden_size")) // heads)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None
        window, sliding = sliding_layout(get("sliding_window"), get("sliding_layers"), get("layer_types"), layers)
        return cls(layers, kv_heads, head_dim, sliding_layers=sliding, window=window)

    def full(self) -> AttentionGeometry:
        """The same model with every layer's cache holding every token (llama.cpp's swa_full=True)."""
        return AttentionGeometry(self.layers, self.kv_heads, self.head_dim, self.head_dim_v)

    def layer_bytes_per_token(self, k_bytes: float, v_bytes: float | None = None) -> float:
        """Cache bytes one token adds to one layer: keys and values (element bytes may differ between
        K and V, as in llama.cpp's type_k / type_v)."""
        v = k_bytes if v_bytes is None else v_bytes
        return self.kv_heads * (self.head_dim * k_bytes + (self.head_dim_v or self.head_dim) * v)

    def bytes_per_token(self, k_bytes: float, v_bytes: float | None = None) -> float:
        """Cache bytes one token adds once the context is past the window: every global layer's (all
        layers when the model has no sliding ones)."""
        return (self.layers - self.sliding_layers) * self.layer_bytes_per_token(k_bytes, v_bytes)

    def _by_type(self, tokens: float, k_bytes: float, v_bytes: float | None) -> dict[str, float]:
        per_layer = self.layer_bytes_per_token(k_bytes, v_bytes)
        out = {"global": (self.layers - self.sliding_layers) * per_layer * tokens}
        if self.sliding_layers:
            out["sliding"] = self.sliding_layers * per_layer * min(tokens, self.window or 0)
        return out

    def kv_bytes_by_type(self, tokens: int, k_bytes: float, v_bytes: float | None = None) -> dict[str, int]:
        """The formula per layer type: {"global": layers holding every token, "sliding": layers holding
        min(tokens, window)} (the sliding entry only for models that have such layers)."""
        return {k: int(round(v)) for k, v in self._by_type(tokens, k_bytes, v_bytes).items()}

    def kv_bytes_exact(self, tokens: float, k_bytes: float, v_bytes: float | None = None) -> float:
        """The formula before rounding to whole bytes (a quantized cache has fractional bytes per element)."""
        return sum(self._by_type(tokens, k_bytes, v_bytes).values())

    def kv_bytes(self, tokens: int, k_bytes: float, v_bytes: float | None = None) -> int:
        """2 · layers · kv_heads · head_dim · tokens · bytes (for equal K and V), a sliding layer
        counting min(tokens, window) tokens."""
        return int(round(self.kv_bytes_exact(tokens, k_bytes, v_bytes)))


def sliding_layout(window: object, sliding_layers: object, layer_types: object, layers: int) -> tuple[int | None, int]:
    """(window, number of sliding layers) from a config's fields; (None, 0) when it has none."""
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
        return None, 0
    if isinstance(sliding_layers, int) and not isinstance(sliding_layers, bool):
        n = sliding_layers
    elif isinstance(layer_types, (list, tuple)) and len(layer_types) == layers:
        n = sum(1 for t in layer_types if t == "sliding_attention")
    else:
        n = 0
    return (window, n) if n else (None, 0)


def text_config(cfg: object) -> object:
    """The text model's part of a transformers config (a multimodal config nests it). A remote-code
    config that is not a PretrainedConfig has no get_text_config and is its own text config."""
    get = getattr(cfg, "get_text_config", None)
    return get() if callable(get) else cfg


def dtype_bytes(name: str | None) -> float | None:
    """Bytes per element of a dtype name ('bfloat16', 'torch.float16', 'q8_0' ...); None if unknown."""
    if not name:
        return None
    key = str(name).lower().removeprefix("torch.").strip()
    return DTYPE_BYTES.get(key)


def crossover_tokens(saved_bytes: float, bytes_per_token: float) -> int | None:
    """Context length at which the KV cache alone takes as much memory as quantizing the weights
    saved (None when nothing was saved)."""
    if saved_bytes <= 0 or bytes_per_token <= 0:
        return None
    return int(math.ceil(saved_bytes / bytes_per_token))


# --- process peak RSS (CPU engines) ----------------------------------------------------------------
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process's RSS (Linux: write 5 to clear_refs), so
    the next reading is the peak of what ran since. False where the platform cannot."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident set size since the last reset (VmHWM), or since start (getrusage) elsewhere."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes() -> int | None:
    """The process's resident set size now (VmRSS; None where /proc is missing)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_now(device: str) -> int | None:
    """What the process holds now where peaks are read: CUDA allocated bytes, or the RSS."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.memory_allocated(device))
    return current_rss_bytes()


def cuda_allocated(device: str) -> int | None:
    """Bytes the CUDA caching allocator has handed out, after queued work (None off CUDA)."""
    if not device.startswith("cuda"):
        return None
    import torch

    torch.cuda.synchronize(device)
    return int(torch.cuda.memory_allocated(device))


def sync_device(device: str) -> None:
    """Wait for queued CUDA work, so wall times measure the work itself (nothing to wait for on a CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    """Start a fresh peak: the CUDA allocator's max on CUDA devices, the process RSS otherwise."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_rss()


def read_peak(device: str) -> tuple[int, str]:
    """Peak bytes since reset_peak(device), and what was measured."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.max_memory_allocated(device)), "cuda-max-allocated"
    return peak_rss_bytes(), "process-peak-rss"


def format_bytes(n: float | None) -> str:
    """1536 -> '1.5 KiB'; None -> '–'."""
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            if unit == "B" or n == int(n):
                return f"{n:.0f} {unit}"
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
