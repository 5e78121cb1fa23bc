"""Weights × KV cache: one grid per task and length, a row per weight precision and a column per KV
precision, each cell the accuracy drop with its interval and the memory it takes (weights + the KV
cache measured at that length).

Two drops per cell, both from the one pairing (analysis.pairing): versus the reference (what the
deployment loses in all), and versus the same weights with the engine's default cache (what the
cache alone loses: `bf16+kv=int4` against `bf16` changes only the cache)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qlongbench.analysis.drops import DropStats, paired_drops
from qlongbench.analysis.memory import MemoryRow
from qlongbench.spec.measure import MeasureRule
from qlongbench.spec.precision import DEFAULT_KV, Precision
from qlongbench.types import Record



@dataclass(frozen=True)
class GridCell:
    precision: str
    """The full precision label (weights and KV)."""
    weights: str
    """Weight precision (row)."""
    kv: str
    """KV precision (column; 'default' = the engine's own cache)."""
    drop: DropStats | None
    """Versus the reference."""
    kv_drop: DropStats | None
    """Versus the same weights with the default cache (None in the default column)."""
    weight_bytes: int | None
    """Bytes of the loaded weights."""
    kv_bytes: int | None
    """Median KV-cache bytes measured at this length (over the length's records of every task)."""

    @property
    def total_bytes(self) -> int | None:
        if self.weight_bytes is None or self.kv_bytes is None:
            return None
        return self.weight_bytes + self.kv_bytes


@dataclass(frozen=True)
class KVGrid:
    task: str
    """Task label."""
    language: str
    """Language label."""
    length: int
    """Target length."""
    weights: tuple[str, ...]
    """Rows, in run order."""
    kvs: tuple[str, ...]
    """Columns, the default cache first."""
    cells: tuple[GridCell, ...]
    """One per precision of the run at this task and length."""

    def cell(self, weights: str, kv: str) -> GridCell | None:
        return next((c for c in self.cells if (c.weights, c.kv) == (weights, kv)), None)


def kv_grids(records: Sequence[Record], order: Sequence[Precision], reference: str | None, drops: Sequence[DropStats],
             memory: Sequence[MemoryRow], weight_bytes: dict[str, int], rule: MeasureRule,
             confidence: float = 0.95, text_tasks: Sequence[str] = ()) -> list[KVGrid]:
    """A grid per task × language × length, when the run has a KV precision besides the default
    (`order`: the run's precisions in run order, each with its weights and KV precision)."""
    split = {p.label: (p.weights, p.kv_label) for p in order}
    if all(kv == DEFAULT_KV for _, kv in split.values()):
        return []
    kv_drops: list[DropStats] = []
    for p, (w, kv) in split.items():
        if kv != DEFAULT_KV and w in split:
            kv_drops += paired_drops(records, w, [p], rule, confidence=confidence, tasks=text_tasks)
    by_drop = {(d.candidate, d.task, d.language, d.length): d for d in drops}
    by_kv = {(d.candidate, d.task, d.language, d.length): d for d in kv_drops}
    kv_bytes = {(m.precision, m.length): m.kv_cache_bytes for m in memory}
    weights = tuple(dict.fromkeys(w for w, _ in split.values()))
    kvs = tuple(dict.fromkeys([DEFAULT_KV] + sorted({kv for _, kv in split.values()} - {DEFAULT_KV})))
    out = []
    keys = sorted({(d.task, d.language, d.length) for d in drops})
    for task, lang, length in keys:
        cells = []
        for p, (w, kv) in split.items():
            key = (p, task, lang, length)
            cells.append(GridCell(p, w, kv, None if p == reference else by_drop.get(key), by_kv.get(key),
                                  weight_bytes.get(p), kv_bytes.get((p, length))))
        out.append(KVGrid(task, lang, length, weights, kvs, tuple(cells)))
    return out
