"""Everything a report shows, computed from a verified run directory (analysis.build makes it;
render/ draws it). Plain dataclasses: no I/O, no formatting."""

from __future__ import annotations

from dataclasses import dataclass, field

from qlongbench.analysis.cells import CellStats
from qlongbench.analysis.drops import DropStats, MeasureRule
from qlongbench.analysis.examples import Example
from qlongbench.analysis.kld import KLRow
from qlongbench.analysis.kvgrid import KVGrid
from qlongbench.analysis.memory import MemoryRow, MemorySaving
from qlongbench.analysis.projection import Projection
from qlongbench.run.header import RunHeader


@dataclass(frozen=True)
class PrecisionVerdict:
    """One row of the 30-second read: what one precision lost, what could not be measured, what it saved."""

    precision: str
    """Candidate precision."""
    engine: str
    """Its engine."""
    worst: DropStats | None
    """The largest drop outside the noise versus the reference (None when none is outside it)."""
    worst_engine: DropStats | None
    """The largest drop outside the noise versus the same engine at full precision (engines other
    than the reference's)."""
    n_worse: int
    """Measured cells where it is worse outside the noise."""
    n_better: int
    """Measured cells where it is better outside the noise."""
    n_within: int
    """Measured cells inside the noise."""
    n_unmeasured: int
    """Cells that cannot show a drop (reference at its floor, too few parsable answers ...)."""
    n_failed: int
    """Cells where it crashed (oom / error) on samples the reference ran."""
    unmeasured_reasons: tuple[str, ...]
    """The distinct reasons for the unmeasured cells (first few)."""
    weight_bytes: int | None
    """Bytes of its weights."""
    saved_bytes: int | None
    """Weight bytes saved versus the reference (negative: it is larger)."""
    crossover_tokens: int | None
    """Context length at which the KV cache alone equals the saving."""
    is_engine_baseline: bool = False
    """Added automatically as an engine's full-precision baseline (shown, not gated by default)."""


@dataclass
class ReportData:
    run_id: str
    """Run id."""
    reference: str | None
    """Reference precision used for drops."""
    header: RunHeader
    """run.json."""
    rule: MeasureRule
    """When a cell counts as measured."""
    cells: list[CellStats] = field(default_factory=list)
    drops: list[DropStats] = field(default_factory=list)
    pooled_cells: list[CellStats] = field(default_factory=list)
    """Cells pooled over languages (language 'all'), for tasks run in more than one language."""
    pooled_drops: list[DropStats] = field(default_factory=list)
    """Drops pooled over languages (paired on the same items), for tasks run in more than one language."""
    engine_drops: list[DropStats] = field(default_factory=list)
    """Drops versus the same engine's full-precision baseline (e.g. gguf-q4_k_m vs gguf-bf16)."""
    memory: list[MemoryRow] = field(default_factory=list)
    savings: list[MemorySaving] = field(default_factory=list)
    kld: list[KLRow] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    verdicts: list[PrecisionVerdict] = field(default_factory=list)
    """One row per candidate precision: the 30-second read."""
    kv_grids: list[KVGrid] = field(default_factory=list)
    """Weights × KV cache per task and length (runs with a KV precision)."""
    projection: Projection | None = None
    """Memory projected onto a model the user named (--project-memory), formula-based."""
    logprob_tasks: tuple[str, ...] = ()
    """Tasks scored from log-probabilities (kld): reported as KL, not as accuracy."""
    precisions: tuple[str, ...] = ()
    """Precisions in run order."""
    engine_baselines: dict[str, str] = field(default_factory=dict)
    """candidate -> its engine's full-precision baseline."""
    comparisons: list[str] = field(default_factory=list)
    """Plain sentences saying what was compared with what."""
    confidence: float = 0.95
    """Confidence of every interval."""

    @property
    def accuracy_cells(self) -> list[CellStats]:
        return [c for c in self.cells if c.key.task not in self.logprob_tasks]

    def weight_bytes(self, precision: str) -> int | None:
        info = self.header.precisions.get(precision)
        return info.weight_bytes if info else None
