"""Drops versus a baseline, per cell, from the one pairing (analysis.pairing): an exact paired test,
its inverted interval, Holm across the candidate's family, and a verdict that never calls an
unmeasurable cell "no drop". The report and the gate both go through `compare_cells`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from qlongbench.analysis import stats
from qlongbench.analysis.multiplicity import PROCEDURE, holm
from qlongbench.analysis.paired_test import Evidence, McNemarEvidence, paired_evidence
from qlongbench.analysis.pairing import PairedCell, pair_all
from qlongbench.analysis.power import min_detectable_binary, min_detectable_graded
from qlongbench.spec.measure import MeasureRule
from qlongbench.types import Record

DropVerdict = Literal["worse", "better", "within noise", "not measured"]


def unmeasurable(rule: MeasureRule, cell: PairedCell) -> str | None:
    """Why a cell cannot show a drop under the rule (None when it can): the same in the report and the gate."""
    return cell.unmeasurable(chance=rule.chance_of(cell.cell.task), floor=rule.floor, min_parsed=rule.min_parsed)


@dataclass(frozen=True)
class PairedDrop:
    """How much worse a candidate scores than its baseline on the same items, with the exact test."""

    n: int
    """Paired items."""
    reference_mean: float
    """Mean baseline score (0..1)."""
    candidate_mean: float
    """Mean candidate score (0..1)."""
    drop: float
    """reference_mean − candidate_mean; positive means the candidate is worse."""
    relative_drop: float | None
    """drop / reference_mean; None when the reference mean is 0."""
    method: str
    """The exact test: exact unconditional McNemar (0/1 scores) or sign-flip (graded scores)."""
    p_value: float
    """Two-sided p of 'no drop' (raw, before the family's adjustment)."""
    confidence: float
    """The nominal confidence of `interval`."""
    changed: int
    """Items whose score differs between the two."""
    discordant_ref_only: int
    """b: items only the baseline got right (0/1 scores; 0 for graded ones)."""
    discordant_cand_only: int
    """c: items only the candidate got right (0/1 scores; 0 for graded ones)."""
    evidence: Evidence = field(repr=False, compare=False)
    """The exact test (the interval is drawn from it on demand)."""

    @cached_property
    def interval(self) -> stats.Interval:
        """The drop's interval at the nominal confidence, inverting the same test (raw, unadjusted)."""
        return self.evidence.interval(self.confidence)


@dataclass(frozen=True)
class DropStats:
    candidate: str
    """Candidate precision."""
    reference: str
    """The baseline it is compared with (the reference, or its engine's full-precision run)."""
    task: str
    """Task label."""
    language: str
    """Language label ('all' = pooled over the task's languages)."""
    length: int
    """Target length."""
    paired: PairedDrop | None
    """The paired drop and its raw test; None when nothing could be paired."""
    unmeasured: str | None = None
    """Why the cell cannot show a drop (reference at its floor, answers unparsable ...)."""
    failures: tuple[str, ...] = ()
    """Statuses of the candidate's oom / error records among the paired samples (counted as wrong)."""
    alpha: float = 0.05
    """Family-wise error rate of the verdict."""
    family_size: int = 0
    """Comparisons in this candidate-versus-baseline family (0 when not measured)."""
    p_adjusted: float | None = None
    """Holm-adjusted p: 'worse' / 'better' need it at most alpha."""
    tested_level: float | None = None
    """The level Holm tested this comparison at."""
    evidence: Evidence | None = field(default=None, repr=False, compare=False)
    """The exact test behind it (intervals at any level are drawn from it, on demand)."""

    @cached_property
    def adjusted_interval(self) -> stats.Interval | None:
        """The drop's interval at 1 − tested_level: excludes 0 exactly when the verdict is worse / better."""
        if self.evidence is None or self.tested_level is None:
            return None
        return self.evidence.interval(1.0 - self.tested_level)

    @cached_property
    def min_detectable_drop(self) -> float | None:
        """Smallest drop detected with power 0.8 at this family's first Holm level (None: none at this n)."""
        if self.evidence is None or not self.family_size:
            return None
        return min_detectable(self.evidence, self.alpha / self.family_size)

    @property
    def family(self) -> str:
        return f"{self.candidate} vs {self.reference}"

    @property
    def verdict(self) -> DropVerdict:
        if self.unmeasured is not None or self.paired is None or self.p_adjusted is None:
            return "not measured"
        if self.p_adjusted > self.alpha:
            return "within noise"
        return "worse" if self.paired.drop > 0 else "better"

    @property
    def significant(self) -> bool:
        """A measured drop (or gain) that survives the family's adjustment."""
        return self.verdict in ("worse", "better")


def summarize_evidence(evidence: Evidence, ref: Sequence[float], cand: Sequence[float],
                       confidence: float) -> PairedDrop:
    ref_mean = sum(ref) / len(ref)
    b, c = ((evidence.b, evidence.c) if isinstance(evidence, McNemarEvidence) else (0, 0))
    drop = evidence.estimate
    return PairedDrop(
        n=evidence.n, reference_mean=ref_mean, candidate_mean=sum(cand) / len(cand), drop=drop,
        relative_drop=drop / ref_mean if ref_mean > 0 else None, method=evidence.method,
        p_value=evidence.p_value(0.0), confidence=confidence,
        changed=sum(r != k for r, k in zip(ref, cand)), discordant_ref_only=b, discordant_cand_only=c,
        evidence=evidence,
    )


def min_detectable(evidence: Evidence, level: float) -> float | None:
    if isinstance(evidence, McNemarEvidence):
        return min_detectable_binary(evidence.n, 2.0 * min(evidence.b, evidence.c) / evidence.n, level)
    return min_detectable_graded(evidence.n, evidence.spread, level)


def compare_cells(cells: Sequence[PairedCell], rule: MeasureRule, confidence: float = 0.95) -> list[DropStats]:
    """Each cell's drop, its exact test, and Holm within each candidate-versus-baseline family (the
    measured cells of `cells` that share a candidate and a baseline), in the order given."""
    alpha = 1.0 - confidence
    prepared = []
    for cell in cells:
        why = unmeasurable(rule, cell)
        evidence = paired_evidence(cell.reference_scores, cell.candidate_scores) if cell.n else None
        paired = (summarize_evidence(evidence, cell.reference_scores, cell.candidate_scores, confidence)
                  if evidence is not None else None)
        prepared.append((cell, why, evidence, paired))
    families: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (cell, why, evidence, _) in enumerate(prepared):
        if why is None and evidence is not None:
            families[(cell.candidate, cell.reference)].append(i)
    adjusted = {}
    for members in families.values():
        for i, adj in zip(members, holm([prepared[i][3].p_value for i in members], alpha)):
            adjusted[i] = adj
    out = []
    for i, (cell, why, evidence, paired) in enumerate(prepared):
        base = dict(candidate=cell.candidate, reference=cell.reference, task=cell.cell.task,
                    language=cell.cell.language, length=cell.cell.length, paired=paired, unmeasured=why,
                    failures=tuple(cell.candidate_failures), alpha=alpha)
        adj = adjusted.get(i)
        if adj is None or evidence is None:
            out.append(DropStats(**base))
            continue
        out.append(DropStats(**base, family_size=adj.family_size, p_adjusted=adj.p_adjusted, tested_level=adj.level,
                             evidence=evidence))
    return out


def paired_drops(records: Sequence[Record], reference: str, candidates: Sequence[str], rule: MeasureRule, *,
                 confidence: float = 0.95, tasks: Sequence[str] | None = None,
                 pooled_tasks: Sequence[str] = ()) -> list[DropStats]:
    """Drop of each candidate versus `reference` per cell of the given tasks, plus the cells pooled over
    languages of `pooled_tasks` (language 'all'); one Holm family per candidate over all of them."""
    cells = pair_all(records, reference, candidates, tasks=tasks)
    if pooled_tasks:
        cells += [c for c in pair_all(records, reference, candidates, tasks=tasks, pool_languages=True)
                  if c.cell.task in set(pooled_tasks)]
    return compare_cells(cells, rule, confidence)


def describe_family(drops: Sequence[DropStats]) -> str:
    """'36 comparisons in 4 families (one per candidate and baseline), Holm at α = 0.05'."""
    measured = [d for d in drops if d.family_size]
    families = {d.family for d in measured}
    alpha = measured[0].alpha if measured else 0.05
    return (f"{len(measured)} comparison{'s' * (len(measured) != 1)} in {len(families)} "
            f"famil{'ies' if len(families) != 1 else 'y'} (one per candidate and baseline), {PROCEDURE} at "
            f"α = {alpha:g} within each")
