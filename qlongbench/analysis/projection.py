"""Memory projected onto a model the user names (`--project-memory CONFIG:LENGTH`): the weights of
each precision and its KV cache at that length, from the named config alone (no weights loaded),
scaled by what this run measured. Always labelled a projection, never a measurement.

- weights: the named model's parameter count (instantiated on torch's meta device: no memory) at
  bf16, times the weight ratio this run measured (precision / reference: it carries embeddings
  kept in 16 bits, scales and zero-points);
- KV cache: the one formula (memory.AttentionGeometry) for the named config at that length, times
  the KV ratio this run measured at its longest length (measured / bf16 formula: it carries a
  quantized cache's scales and residual window)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qlongbench.analysis.memory import MemoryRow
from qlongbench.errors import UserError
from qlongbench.memory import AttentionGeometry, text_config
from qlongbench.run.header import RunHeader
from qlongbench.spec.lengths import parse_length


@dataclass(frozen=True)
class ProjectionTarget:
    config: str
    """Local directory or hub id whose config.json is read."""
    length: int
    """Context length of the projection."""

    @classmethod
    def parse(cls, text: str) -> ProjectionTarget:
        """'meta-llama/Llama-3.1-8B:128k' or '/models/x:32768'."""
        where, sep, length = text.rpartition(":")
        if not sep or not where:
            raise UserError(f"--project-memory {text!r}: write CONFIG:LENGTH, e.g. meta-llama/Llama-3.1-8B:128k")
        return cls(where, parse_length(length))


@dataclass(frozen=True)
class ProjectedMemory:
    precision: str
    """Precision of this run."""
    weight_bytes: int
    """Projected bytes of the named model's weights at this precision."""
    kv_bytes: int
    """Projected KV-cache bytes at the target length."""

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.kv_bytes


@dataclass(frozen=True)
class Projection:
    target: ProjectionTarget
    """What was projected onto."""
    parameters: int
    """Parameters of the named model."""
    geometry: AttentionGeometry
    """Its attention geometry."""
    rows: tuple[ProjectedMemory, ...]
    """One per precision."""
    basis_length: int
    """The measured length the KV ratios come from."""


def named_model(config: str) -> tuple[int, AttentionGeometry]:
    """Parameter count and geometry of a model from its config only."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        cfg = AutoConfig.from_pretrained(config)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg)
    except Exception as err:  # noqa: BLE001 - a missing or unknown config is one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"--project-memory: cannot read the config of {config!r}: {first}") from None
    text = text_config(cfg)
    geometry = AttentionGeometry.from_config(text)
    if geometry is None:
        raise UserError(f"--project-memory: the config of {config!r} does not say its attention geometry")
    return sum(p.numel() for p in model.parameters()), geometry


def project(target: ProjectionTarget, header: RunHeader, reference: str | None, order: Sequence[str],
            memory: Sequence[MemoryRow]) -> Projection:
    params, geometry = named_model(target.config)
    ref = header.precisions.get(reference or "")
    run_geo = AttentionGeometry.from_config(header.plan.model)
    if ref is None or run_geo is None:
        raise UserError("--project-memory needs the reference precision's weights and the run model's geometry")
    measured = [m for m in memory if m.kv_cache_bytes and m.tokens]
    basis = max((m.length for m in measured), default=0)
    rows = []
    for p in order:
        info = header.precisions.get(p)
        if info is None:
            continue
        weights = int(params * 2 * info.weight_bytes / ref.weight_bytes)
        at = [m for m in measured if m.precision == p and m.length == basis]
        ratio = (at[0].kv_cache_bytes / run_geo.kv_bytes(int(at[0].tokens or 0), 2.0)) if at and at[0].tokens else 1.0
        rows.append(ProjectedMemory(p, weights, int(geometry.kv_bytes(target.length, 2.0) * ratio)))
    return Projection(target, params, geometry, tuple(rows), basis)
