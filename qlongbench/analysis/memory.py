"""Memory and throughput per precision and length: measured KV bytes beside the one formula, weight
bytes, peak memory as the increase over what the process held before the engine loaded, and the
context length at which the KV cache eats what quantizing the weights saved."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from qlongbench.analysis.cells import Throughput, median, throughput
from qlongbench.memory import AttentionGeometry, crossover_tokens
from qlongbench.run.header import RunHeader
from qlongbench.types import Record


@dataclass(frozen=True)
class MemoryRow:
    """Measured memory and throughput of one precision at one target length (pooled over tasks)."""

    precision: str
    """Precision label."""
    engine: str
    """Engine."""
    length: int
    """Target length."""
    n: int
    """Records measured."""
    tokens: float | None
    """Median tokens in the cache when the KV bytes were measured (the prompt)."""
    kv_cache_bytes: int | None
    """Median measured KV-cache bytes."""
    kv_cache_bytes_formula: int | None
    """Median of the formula over the same records (2·layers·kv_heads·head_dim·tokens·bytes, a
    sliding-window layer counting min(tokens, window) tokens where this engine keeps only those)."""
    kv_cache_allocator_bytes: int | None
    """Median CUDA-allocator bytes of the cache (CUDA only)."""
    weight_bytes: int | None
    """Bytes of the loaded weights."""
    peak_increase_bytes: int | None
    """Largest peak while a record ran, minus what the process held before the engine loaded."""
    peak_source: str | None
    """cuda-max-allocated or process-peak-rss."""
    throughput: Throughput
    """Prefill and decode tokens per second."""
    kv_formula_by_layer_type: dict[str, int] | None = None
    """The formula split by layer type at the median tokens ({"global": ..., "sliding": ...}, as this
    engine holds them); None for a model without sliding-window layers."""

    @property
    def total_bytes(self) -> int | None:
        """Weights plus the measured KV cache at this length."""
        if self.weight_bytes is None or self.kv_cache_bytes is None:
            return None
        return self.weight_bytes + self.kv_cache_bytes


SAME_WEIGHTS = 0.01
"""A weight difference under this share of the reference's weights is the same weights counted twice."""


def weights_saved(reference: int, candidate: int) -> int:
    """reference − candidate weight bytes; 0 within SAME_WEIGHTS of the reference's."""
    saved = reference - candidate
    return 0 if abs(saved) < SAME_WEIGHTS * reference else saved


@dataclass(frozen=True)
class MemorySaving:
    """What quantizing the weights saved, and the context length at which the KV cache eats it."""

    precision: str
    """Candidate precision."""
    reference: str
    """Reference precision."""
    weight_bytes: int
    """Candidate weights."""
    reference_weight_bytes: int
    """Reference weights."""
    saved_bytes: int
    """reference − candidate weights (negative: the candidate is larger); 0 within SAME_WEIGHTS of the
    reference's, where two engines count the same weights (vLLM reads its checkpoint's tensor bytes:
    256 B apart from transformers' count on SmolLM2 bf16, once reported as a saving)."""
    kv_bytes_per_token: float | None
    """KV-cache bytes one token adds at the candidate's KV dtype (formula, or measured slope)."""
    crossover_tokens: int | None
    """Context length at which the KV cache alone is as large as the saving (None if nothing saved)."""


def kv_element_bytes(header: RunHeader, precision: str) -> float | None:
    """Bytes per KV-cache element of a loaded precision, as its engine declares them
    (Backend.kv_element_bytes, read from what the precision recorded); None when it did not load."""
    from qlongbench import registry

    info = header.precisions.get(precision)
    if info is None:
        return None
    return registry.backend_class(header.plan.precision(precision).name).kv_element_bytes(info)


def kv_geometry(header: RunHeader, precision: str) -> tuple[AttentionGeometry, float] | None:
    """The model's attention geometry as this precision's engine holds its cache (Backend.kv_geometry:
    llama.cpp with swa_full keeps every token in sliding layers too) and its bytes per element; None
    when the geometry or the KV dtype is unknown."""
    from qlongbench import registry

    geo = AttentionGeometry.from_config(header.plan.model)
    elem = kv_element_bytes(header, precision)
    info = header.precisions.get(precision)
    if geo is None or elem is None or info is None:
        return None
    return registry.backend_class(header.plan.precision(precision).name).kv_geometry(geo, info), elem


def kv_bytes_per_token(header: RunHeader, precision: str) -> float | None:
    """Analytic KV bytes one more token adds for a precision, past any sliding window (None when the
    geometry or the KV dtype is unknown)."""
    found = kv_geometry(header, precision)
    return found[0].bytes_per_token(found[1]) if found else None


def memory_rows(records: Sequence[Record], header: RunHeader, order: Sequence[str],
                skip_tasks: Collection[str] = ()) -> list[MemoryRow]:
    """Per precision and length, over the text tasks: log-prob passes (kld) compute full-vocabulary
    logits at every position, another workload whose speed and peak would blur these numbers."""
    groups: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for r in records:
        if r.status == "ok" and r.task not in skip_tasks:
            groups[(r.precision, r.length)].append(r)
    out = []
    for (prec, length), rows in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        info = header.precisions.get(prec)
        found = kv_geometry(header, prec)
        kv_rows = [r for r in rows if r.kv_cache_bytes is not None]
        formula = median([found[0].kv_bytes_exact(r.n_prompt_tokens, found[1]) for r in kv_rows]) if found and kv_rows else None
        tokens = median([float(r.n_prompt_tokens) for r in kv_rows])
        by_type = (found[0].kv_bytes_by_type(int(tokens), found[1])
                   if found and found[0].sliding_layers and tokens is not None else None)
        alloc = median([r.kv_cache_allocator_bytes for r in rows if r.kv_cache_allocator_bytes is not None])
        peaks = [r for r in rows if r.peak_bytes is not None]
        peak = max(peaks, key=lambda r: r.peak_bytes or 0) if peaks else None
        base = info.memory_baseline_bytes if info else None
        increase = (peak.peak_bytes - base) if peak and peak.peak_bytes is not None and base is not None else None
        kv = median([r.kv_cache_bytes for r in kv_rows])
        out.append(MemoryRow(
            precision=prec, engine=rows[0].engine, length=length, n=len(kv_rows),
            tokens=tokens, kv_cache_bytes=int(kv) if kv is not None else None,
            kv_cache_bytes_formula=int(round(formula)) if formula is not None else None,
            kv_cache_allocator_bytes=int(alloc) if alloc is not None else None,
            weight_bytes=info.weight_bytes if info else None,
            peak_increase_bytes=max(increase, 0) if increase is not None else None,
            peak_source=peak.peak_source if peak else None, throughput=throughput(rows), kv_formula_by_layer_type=by_type,
        ))
    return out


def memory_savings(header: RunHeader, reference: str | None, order: Sequence[str],
                   rows: Sequence[MemoryRow]) -> list[MemorySaving]:
    ref = header.precisions.get(reference or "")
    if reference is None or ref is None:
        return []
    out = []
    for prec in order:
        info = header.precisions.get(prec)
        if prec == reference or info is None:
            continue
        per_token = kv_bytes_per_token(header, prec)
        if per_token is None:
            # No geometry in run.json: use the measured slope (cache bytes per prompt token).
            per_token = median([m.kv_cache_bytes / m.tokens for m in rows
                                if m.precision == prec and m.kv_cache_bytes and m.tokens])
        saved = weights_saved(ref.weight_bytes, info.weight_bytes)
        out.append(MemorySaving(prec, reference, info.weight_bytes, ref.weight_bytes, saved, per_token,
                                crossover_tokens(saved, per_token) if per_token else None))
    return out
