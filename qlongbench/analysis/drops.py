"""Drops versus the reference, per cell, from the one pairing (analysis.pairing): a paired bootstrap
interval, an exact McNemar p, and a verdict that never calls an unmeasurable cell "no drop"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from qlongbench.analysis import stats
from qlongbench.analysis.pairing import DEFAULT_FLOOR, DEFAULT_MIN_PARSED, PairedCell, pair_all
from qlongbench.types import Record

DropVerdict = Literal["worse", "better", "within noise", "not measured"]


@dataclass(frozen=True)
class MeasureRule:
    """When a cell counts as measured (the same rule in the report and the gate)."""

    floor: float = DEFAULT_FLOOR
    """Minimum reference accuracy (0..1); the task's chance level applies when higher."""
    min_parsed: float = DEFAULT_MIN_PARSED
    """Minimum share of the reference's answers that parse."""
    chance: Mapping[str, float] | None = None
    """Chance level per task label (from the run header)."""

    def unmeasurable(self, cell: PairedCell) -> str | None:
        chance = (self.chance or {}).get(cell.cell.task, 0.0)
        return cell.unmeasurable(chance=chance, floor=self.floor, min_parsed=self.min_parsed)


@dataclass(frozen=True)
class DropStats:
    candidate: str
    """Candidate precision."""
    reference: str
    """Reference precision."""
    task: str
    """Task label."""
    language: str
    """Language label ('all' = pooled over the task's languages)."""
    length: int
    """Target length."""
    paired: stats.PairedDrop | None
    """Paired drop (positive = candidate worse) with bootstrap interval, McNemar p and the minimum
    detectable drop for this n; None when nothing could be paired."""
    unmeasured: str | None = None
    """Why the cell cannot show a drop (reference at its floor, answers unparsable ...)."""
    failures: tuple[str, ...] = ()
    """Statuses of the candidate's oom / error records among the paired samples (counted as wrong)."""

    @property
    def verdict(self) -> DropVerdict:
        if self.unmeasured is not None or self.paired is None:
            return "not measured"
        p = self.paired
        return "within noise" if p.within_noise else ("worse" if p.drop > 0 else "better")

    @property
    def significant(self) -> bool:
        """A measured drop (or gain) whose interval excludes 0."""
        return self.verdict in ("worse", "better")


def drop_from(cell: PairedCell, rule: MeasureRule, confidence: float) -> DropStats:
    paired = (stats.paired_bootstrap_drop(cell.reference_scores, cell.candidate_scores, confidence=confidence)
              if cell.n else None)
    return DropStats(cell.candidate, cell.reference, cell.cell.task, cell.cell.language, cell.cell.length, paired,
                     rule.unmeasurable(cell), tuple(cell.candidate_failures))


def paired_drops(records: Sequence[Record], reference: str, candidates: Sequence[str], rule: MeasureRule, *,
                 confidence: float = 0.95, tasks: Sequence[str] | None = None,
                 pool_languages: bool = False) -> list[DropStats]:
    """Drop of each candidate versus `reference`, per cell of the given tasks."""
    cells = pair_all(records, reference, candidates, tasks=tasks, pool_languages=pool_languages)
    return [drop_from(c, rule, confidence) for c in cells]
