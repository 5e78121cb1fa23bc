"""Everything a report shows, computed from a verified run directory (analysis.build makes it;
render/ draws it). Plain dataclasses: no I/O, no formatting."""

from __future__ import annotations

from dataclasses import dataclass, field

from qlongbench.analysis.answers import Answer, DepthMisses, Wording
from qlongbench.analysis.cells import CellStats
from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.examples import Example
from qlongbench.analysis.floor import Changes, KLSummary, NoiseFloor
from qlongbench.analysis.kld import KLRow
from qlongbench.analysis.kvgrid import KVGrid
from qlongbench.analysis.memory import MemoryRow, MemorySaving
from qlongbench.analysis.projection import Projection
from qlongbench.analysis.questions import Question
from qlongbench.analysis.timing import PhaseSeconds
from qlongbench.run.header import RunHeader
from qlongbench.spec.measure import MeasureRule


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
    is_control: bool = False
    """A noise-floor control (the same precision at another thread count), not a quantization."""
    comparisons: int = 0
    """Comparisons in its family versus the reference (Holm)."""
    changes: Changes | None = None
    """Answers changed versus the reference over the measured cells."""
    kl: KLSummary | None = None
    """KL from the reference on the longest kld documents."""
    floor: NoiseFloor | None = None
    """The reference's noise floor (its control), to read changes and KL against."""
    engine_floor: NoiseFloor | None = None
    """The floor of its engine's full-precision run, for the comparison with that run."""
    questions: tuple[Question, ...] = ()
    """The study's questions (length trend, language contrast, KL position trend) for it."""


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
    questions: list[Question] = field(default_factory=list)
    """The study's questions per candidate (second Holm family per candidate)."""
    floors: dict[str, NoiseFloor] = field(default_factory=dict)
    """baseline -> its noise floor (runs with --noise-floor)."""
    controls: dict[str, str] = field(default_factory=dict)
    """control precision -> the precision it perturbs."""
    answers: dict[str, dict[str, Answer]] = field(default_factory=dict)
    """precision -> sample id -> its answer (output and score; None for records not ok): two runs of
    one job compared answer by answer (analysis/answers.py wording_between)."""
    durations: dict[str, tuple[int, float]] = field(default_factory=dict)
    """precision -> (records, seconds from the previous precision's last record — or the run's start —
    to its own last record), in run order."""
    wording: list[Wording] = field(default_factory=list)
    """Each candidate's answers worded and scored differently from the reference's (and from its engine
    baseline's), over the text tasks."""
    depth_misses: list[DepthMisses] = field(default_factory=list)
    """The reference's misses by needle depth, per task and length."""
    phases: dict[str, PhaseSeconds] = field(default_factory=dict)
    """precision -> its records' summed prefill and decode seconds (analysis/build.py phase_seconds)."""
    task_phases: dict[str, PhaseSeconds] = field(default_factory=dict)
    """task -> the same, over every precision."""
    batched: dict[str, tuple[int, int]] = field(default_factory=dict)
    """precision -> (records decoded together with others, the most rows in one batch): only
    precisions with such records (runs with --decode-rows above 1 on an engine that batches)."""
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
