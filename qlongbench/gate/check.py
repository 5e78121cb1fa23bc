"""`qlongbench check`: turn a run's paired comparison into a pass/fail gate.

Cells are paired by the same function the report uses (analysis.pairing) and tested with the same
exact tests (analysis.paired_test): a candidate's oom / error on a sample the reference scored
counts as a wrong answer, and the cell fails. With α = 1 − confidence (one-sided):

- pass: the exact test rejects "the drop is at least the tolerance" at level α (the drop's upper
  bound — one-sided, at 1 − α — is below the tolerance);
- fail: it rejects "the drop is at most the tolerance", Holm-adjusted over the candidate's gated
  cells (its family: one per candidate, as in the report, over the cells the policy gates — the
  report's family also holds the cells pooled over languages, which no policy gates), or the
  candidate crashed on a sample the reference ran;
- inconclusive: neither; the verdict says roughly how many more samples would decide it;
  the bounds shown (lower at Holm's level, upper at α) straddle the tolerance exactly then;
- insufficient: fewer paired samples than the policy's minimum;
- not measured: the reference cannot show a drop here (at its floor, or its answers do not parse)
  — never a pass.

What a PASS guarantees: a cell whose true drop exceeds its tolerance passes with probability at most
α. Requiring every cell to pass (`--strict`, or a run where every gated cell passed) keeps the chance
of passing a deployment that exceeds its tolerance anywhere at α — an intersection–union test needs
no multiplicity correction. Fail verdicts are Holm-adjusted, so a deployment within tolerance
everywhere fails (on statistics, not crashes) with probability at most α. Without --strict, exit 0
means "nothing failed and at least one cell passed", not "within tolerance everywhere".

A gate in which no cell passed fails (exit 1) unless the policy allows it (`allow_no_pass`).
Engine-matched baselines added by the run (gguf-bf16 beside a gguf quant) are not gated unless
named as candidates. Records that do not prove their inputs (prompt hashes, generation configs,
duplicates) are refused with exit 2 by the run directory itself (run.store.load_run)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qlongbench.analysis import stats
from qlongbench.analysis.drops import PairedDrop, summarize_evidence, unmeasurable
from qlongbench.analysis.examples import Example, failure_examples
from qlongbench.analysis.multiplicity import holm
from qlongbench.analysis.paired_test import paired_evidence
from qlongbench.analysis.pairing import CellId as PairedCellId
from qlongbench.analysis.pairing import PairedCell, language_label, latest_by_precision, pair
from qlongbench.errors import UserError
from qlongbench.run.plan import RunPlan
from qlongbench.run.store import load_run
from qlongbench.spec.policy import Policy, Tolerance
from qlongbench.types import Record

Verdict = Literal["pass", "fail", "inconclusive", "insufficient", "not measured"]

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class CellId:
    """One gated cell."""

    candidate: str
    """Candidate precision label."""
    task: str
    """Task label."""
    language: str
    """Language label (`de`, or `en_de` in cross-lingual runs)."""
    length: int
    """Target length in tokens."""

    def __str__(self) -> str:
        return f"{self.candidate} {self.task}/{self.language}/{self.length}"


@dataclass(frozen=True)
class CellVerdict:
    """The gate's decision on one cell, with the numbers behind it."""

    cell: CellId
    """Which cell."""
    verdict: Verdict
    """pass, fail, inconclusive, insufficient or not measured."""
    tolerance: Tolerance
    """What the cell may lose."""
    n: int
    """Paired samples (a candidate's crash counts as a wrong answer)."""
    drop: PairedDrop | None
    """Paired drop with its interval at the check's two-sided confidence 1 − 2α (None when n = 0)."""
    more_samples: int | None
    """Inconclusive / insufficient: roughly how many more paired samples would decide it."""
    candidate_failures: int
    """Samples the reference scored but the candidate hit oom/error on."""
    excluded: int
    """Samples left out: overlength for either, or not scored by the reference."""
    reason: str
    """One line explaining the verdict."""
    p_pass: float | None = None
    """One-sided p of 'the drop is at least the tolerance' (pass when at most α)."""
    p_fail: float | None = None
    """One-sided p of 'the drop is at most the tolerance' (raw)."""
    p_fail_adjusted: float | None = None
    """p_fail after Holm over the candidate's gated cells (fail when at most α)."""
    family_size: int = 0
    """Cells in the candidate's fail family."""
    bounds: stats.Interval | None = None
    """The bounds that agree with the verdict: the lower one-sided bound at the level Holm tested the
    fail hypothesis, the upper one-sided bound at α (pass). The cell fails exactly when the lower bound
    exceeds the tolerance and passes exactly when the upper bound is below it; `confidence` is the
    pair's joint coverage, 1 − α − Holm's level."""
    fail_level: float | None = None
    """The level Holm tested this cell's fail hypothesis at (α / (family size − step))."""


@dataclass(frozen=True)
class CheckResult:
    """Everything `check` decided; `exit_code` is what the CLI returns."""

    run_id: str
    """Run that was checked."""
    run_dir: str
    """Its directory."""
    reference: str
    """Reference precision."""
    confidence: float
    """One-sided confidence of each bound."""
    strict: bool
    """Whether inconclusive cells count as failures."""
    allow_no_pass: bool
    """Whether a gate in which no cell passed may still exit 0."""
    cells: tuple[CellVerdict, ...]
    """One verdict per gated cell."""
    warnings: tuple[str, ...]
    """Policy rules or scopes that matched nothing, and similar hints."""
    examples: tuple[Example, ...] = ()
    """For each gated cell that did not pass, the first answer its candidate lost (the reference
    right, the candidate wrong) or its first engine error: what a reviewer reads first."""

    def count(self, *verdicts: str) -> int:
        return sum(c.verdict in verdicts for c in self.cells)

    @property
    def nothing_passed(self) -> bool:
        return self.count("pass") == 0

    @property
    def failed(self) -> bool:
        return (self.count("fail") > 0
                or (self.strict and self.count("inconclusive", "insufficient", "not measured") > 0)
                or (self.nothing_passed and not self.allow_no_pass))

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.failed else EXIT_PASS

    @property
    def overall(self) -> str:
        if self.count("fail") or (self.strict and self.count("inconclusive", "insufficient", "not measured")):
            return "fail"
        if self.nothing_passed:
            return "nothing passed"
        return "inconclusive" if self.count("inconclusive", "insufficient", "not measured") else "pass"

    @property
    def interval_confidence(self) -> float:
        """Two-sided confidence of the intervals shown (2c − 1)."""
        return two_sided(self.confidence)


def two_sided(one_sided: float) -> float:
    return round(2.0 * one_sided - 1.0, 12)


# --- verdicts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tested:
    """One cell before the family step: its tests at the tolerance, or the verdict it already has."""

    cell: CellId
    tolerance: Tolerance
    n: int
    drop: PairedDrop | None
    failures: tuple[str, ...]
    excluded: int
    settled: tuple[Verdict, str, int | None] | None
    """(verdict, reason, more samples) for cells decided without statistics."""
    p_pass: float | None = None
    p_fail: float | None = None
    delta0: float | None = None
    sd: float = 0.0


def _tolerance_at(drop: PairedDrop, tolerance: Tolerance) -> float | None:
    """The absolute drop the cell may lose: the stricter of max_drop and max_relative_drop × the
    reference's observed mean (None when only a relative criterion is set and the reference is 0)."""
    bounds = [t for t in (tolerance.max_drop,
                          None if tolerance.max_relative_drop is None else tolerance.max_relative_drop * drop.reference_mean)
              if t is not None]
    if tolerance.max_drop is None and drop.reference_mean == 0:
        return None
    return min(bounds)


def assess_cell(cell: CellId, tolerance: Tolerance, ref: Sequence[float], cand: Sequence[float], *, confidence: float,
              candidate_failures: Sequence[str] = (), excluded: int = 0, unmeasured: str | None = None) -> _Tested:
    """The cell's exact tests at its tolerance (pure; `confidence` is one-sided)."""
    n = len(ref)
    evidence = paired_evidence(ref, cand) if n else None
    drop = summarize_evidence(evidence, ref, cand, two_sided(confidence)) if evidence else None
    base = dict(cell=cell, tolerance=tolerance, n=n, drop=drop, failures=tuple(candidate_failures), excluded=excluded)
    if candidate_failures:
        kinds = ", ".join(f"{k} ×{list(candidate_failures).count(k)}" for k in sorted(set(candidate_failures)))
        return _Tested(**base, settled=("fail", f"candidate failed on samples the reference ran ({kinds})", None))
    if unmeasured is not None:
        return _Tested(**base, settled=("not measured", f"not measured: {unmeasured}", None))
    if drop is None or evidence is None:
        why = (f"{excluded} samples are overlength or were not scored by the reference" if excluded else
               "the candidate has no scored records here")
        return _Tested(**base, settled=("insufficient", f"no paired samples in this cell ({why})",
                                        tolerance.min_samples))
    if n < tolerance.min_samples:
        return _Tested(**base, settled=("insufficient", f"{n} paired samples, fewer than the policy's minimum of "
                                        f"{tolerance.min_samples} ({tolerance.min_samples - n} more needed before a "
                                        "verdict)", tolerance.min_samples - n))
    delta0 = _tolerance_at(drop, tolerance)
    if delta0 is None:
        return _Tested(**base, settled=("not measured", "not measured: the reference scores 0, so no relative drop "
                                        "exists", None))
    return _Tested(**base, settled=None, p_pass=evidence.p_value(delta0, "less"),
                   p_fail=evidence.p_value(delta0, "greater"), delta0=delta0,
                   sd=stats.paired_difference_sd(ref, cand))


def _rule_of_three(tolerance: float, alpha: float) -> int | None:
    """Items with no change that would show a drop below `tolerance`: (1 − tol)^n ≤ α."""
    if tolerance <= 0:
        return None
    return math.ceil(math.log(alpha) / math.log1p(-min(tolerance, 0.999999)))


def verdict_bounds(drop: PairedDrop, tolerance: float, alpha: float, fail_level: float) -> stats.Interval:
    """The drop's bounds that agree with the gate's verdict by construction: the lower one at Holm's level
    for 'fail', the upper one at α for 'pass', each decided at the tolerance first (exact, no bisection
    error at the tolerance itself)."""
    ev = drop.evidence
    low = ev.lower_bound(fail_level, pivot=tolerance)
    high = ev.upper_bound(alpha, pivot=tolerance)
    return stats.Interval(min(low, high), max(low, high), round(1.0 - alpha - fail_level, 12))


def decide_family(tested: Sequence[_Tested], confidence: float) -> list[CellVerdict]:
    """Verdicts for one candidate's cells: pass per cell at α, fail after Holm over the family."""
    alpha = 1.0 - confidence
    open_ = [i for i, t in enumerate(tested) if t.settled is None]
    adjusted = dict(zip(open_, holm([tested[i].p_fail for i in open_], alpha))) if open_ else {}
    out = []
    for i, t in enumerate(tested):
        base = dict(cell=t.cell, tolerance=t.tolerance, n=t.n, drop=t.drop, candidate_failures=len(t.failures),
                    excluded=t.excluded)
        if t.settled is not None:
            verdict, reason, more = t.settled
            out.append(CellVerdict(verdict=verdict, more_samples=more, reason=reason, **base))
            continue
        adj = adjusted[i]
        d = t.drop
        assert d is not None and t.delta0 is not None and t.p_pass is not None
        bounds = verdict_bounds(d, t.delta0, alpha, adj.level)
        ci = (f"{100 * bounds.low:+.1f}…{100 * bounds.high:+.1f}: lower bound at Holm's level {adj.level:.3g}, "
              f"upper at {alpha:g}")
        tests = dict(p_pass=t.p_pass, p_fail=t.p_fail, p_fail_adjusted=adj.p_adjusted, family_size=adj.family_size,
                     bounds=bounds, fail_level=adj.level)
        tol = f"{100 * t.delta0:.1f} pts" + (f" ({t.tolerance.describe()})" if t.tolerance.max_relative_drop else "")
        if adj.p_adjusted <= alpha:
            out.append(CellVerdict(verdict="fail", more_samples=None, reason=(
                f"drop {100 * d.drop:+.1f} pts (CI {ci}) is above the tolerance {tol}: one-sided p {t.p_fail:.2g}, "
                f"Holm-adjusted over {adj.family_size} cell{'s' * (adj.family_size != 1)} {adj.p_adjusted:.2g} ≤ {alpha:g}"), **base, **tests))
        elif t.p_pass <= alpha:
            out.append(CellVerdict(verdict="pass", more_samples=None, reason=(
                f"drop {100 * d.drop:+.1f} pts (CI {ci}) is below the tolerance {tol}: one-sided p "
                f"{t.p_pass:.2g} ≤ {alpha:g}"), **base, **tests))
        else:
            total = (stats.samples_needed(d.drop, t.delta0, t.sd, confidence=two_sided(confidence)) if t.sd else
                     _rule_of_three(t.delta0, alpha))
            more = total - t.n if total is not None and total > t.n else None
            hint = (f"about {more} more paired samples (≈{total} in all) would decide it" if more is not None else
                    "the drop sits right at the tolerance; more samples may not settle it")
            out.append(CellVerdict(verdict="inconclusive", more_samples=more, reason=(
                f"drop {100 * d.drop:+.1f} pts (CI {ci}) straddles the tolerance {tol}; {hint}"), **base, **tests))
    return out


def decide(cell: CellId, tolerance: Tolerance, ref: Sequence[float], cand: Sequence[float], *,
           confidence: float, candidate_failures: Sequence[str] = (), excluded: int = 0,
           unmeasured: str | None = None) -> CellVerdict:
    """The verdict on one cell alone (a family of one; pure; `confidence` is one-sided)."""
    return decide_family([assess_cell(cell, tolerance, ref, cand, confidence=confidence,
                                    candidate_failures=candidate_failures, excluded=excluded,
                                    unmeasured=unmeasured)], confidence)[0]


# --- the check -----------------------------------------------------------------------------------
def default_candidates(order: Sequence[str], reference: str, auto_baselines: Sequence[str]) -> list[str]:
    """Every precision but the reference and the engine baselines the run added by itself."""
    return [p for p in order if p != reference and p not in auto_baselines]


def check_records(records: Sequence[Record], policy: Policy, plan: RunPlan, *, run_id: str = "",
                  run_dir: str = "") -> CheckResult:
    """Verdicts for every gated cell of a run's records under a policy; the reference, the log-prob
    tasks, the baselines the run added and the measure rule are the plan's (the policy may name
    another reference and set the rule's thresholds)."""
    if not records:
        raise UserError(f"{run_dir or 'the run'} has no records yet; run `qlongbench run` first")
    by_prec = latest_by_precision(records)
    order = list(dict.fromkeys(r.precision for r in records))
    reference = plan.reference_for(order, policy.reference)
    if reference is None:
        raise UserError(f"no reference precision: the run has {', '.join(order)}; pass --reference")
    logprob = set(plan.logprob_tasks)
    candidates = policy.candidates or default_candidates(order, reference, plan.added)
    missing = [c for c in candidates if c not in by_prec]
    if missing:
        raise UserError(f"candidate {', '.join(missing)} has no records in this run; precisions: {', '.join(order)}")
    if reference in candidates:
        raise UserError(f"{reference} is the reference; it cannot also be a candidate")
    if not candidates:
        raise UserError(f"the run has only the reference {reference}; nothing to check (run a candidate precision)")
    rule = plan.measure.with_thresholds(policy.min_reference_accuracy / 100.0, policy.min_parsed / 100.0)

    ref_rows = {sid: r for sid, r in by_prec[reference].items() if r.task not in logprob}
    all_cells = {(r.task, language_label(r), r.length) for r in ref_rows.values()}
    warnings: list[str] = []
    for name, scope, present in (("lengths", policy.lengths, {c[2] for c in all_cells}),
                                 ("tasks", policy.tasks, {c[0] for c in all_cells}),
                                 ("languages", policy.languages, {c[1] for c in all_cells})):
        if scope is not None and not set(scope) & present:
            raise UserError(f"the run has no reference records for {name} {', '.join(map(str, scope))}; "
                            f"it has {', '.join(map(str, sorted(present)))}")
        if scope is not None and set(scope) - present:
            warnings.append(f"{name} {', '.join(map(str, sorted(set(scope) - present)))} not in this run")

    verdicts: list[CellVerdict] = []
    used_rules: set[int] = set()
    for cand in candidates:
        kv = plan.precision(cand).kv_label
        tested: list[_Tested] = []
        rows = {sid: r for sid, r in by_prec[cand].items() if r.task not in logprob}
        paired = pair(ref_rows, rows, reference_name=reference, candidate_name=cand)
        orphans = {k: c.missing for k, c in paired.items() if c.missing}
        if orphans:
            named = ", ".join(f"{cand} {k} ({m} samples)" for k, m in sorted(orphans.items(), key=lambda kv: str(kv[0])))
            raise UserError(f"refusing to compare: the reference has no record for {len(orphans)} cell(s): {named}; "
                            "run the reference on those cells first (re-run the same `qlongbench run` command)")
        for task, lang, length in sorted(all_cells | {(k.task, k.language, k.length) for k in paired}):
            if ((policy.lengths is not None and length not in policy.lengths)
                    or (policy.tasks is not None and task not in policy.tasks)
                    or (policy.languages is not None and lang not in policy.languages)):
                continue
            used_rules |= {i for i, rule_ in enumerate(policy.rules) if rule_.matches(cand, kv, task, lang, length)}
            tol = policy.tolerance(cand, kv, task, lang, length)
            if tol is None:
                continue
            if tol.max_drop is None and tol.max_relative_drop is None:
                raise UserError(f"no tolerance for cell {CellId(cand, task, lang, length)}: set --max-drop or "
                                "--max-relative-drop, or max_drop / max_relative_drop in the policy")
            cell = paired.get(PairedCellId(task, lang, length)) or PairedCell(cand, reference,
                                                                              PairedCellId(task, lang, length))
            tested.append(assess_cell(CellId(cand, task, lang, length), tol, cell.reference_scores,
                                    cell.candidate_scores, confidence=policy.confidence,
                                    candidate_failures=cell.candidate_failures, excluded=cell.excluded,
                                    unmeasured=unmeasurable(rule, cell)))
        verdicts += decide_family(tested, policy.confidence)
    for i, rule_ in enumerate(policy.rules):
        if i not in used_rules:
            warnings.append(f"policy rule {i + 1} ({rule_.model_dump(exclude_defaults=True)}) matched no cell")
    if not verdicts:
        raise UserError("no cell left to check: every cell was skipped by the policy")
    open_cells = {(v.cell.candidate, v.cell.task, v.cell.language, v.cell.length) for v in verdicts
                  if v.verdict != "pass"}
    first: dict[tuple[str, str, str, int], Example] = {}
    for e in failure_examples(records, reference, logprob, per_precision=len(records)):
        key = (e.precision, e.task, e.language, e.length)
        if key in open_cells:
            first.setdefault(key, e)
    return CheckResult(run_id=run_id, run_dir=run_dir, reference=reference, confidence=policy.confidence,
                       strict=policy.strict, allow_no_pass=policy.allow_no_pass, cells=tuple(verdicts),
                       warnings=tuple(warnings), examples=tuple(first.values()))


def check(run_dir: str | Path, policy: Policy) -> CheckResult:
    """Read and verify a run directory, then check it."""
    contents = load_run(run_dir)
    return check_records(contents.records, policy, contents.header.plan, run_id=contents.header.run_id,
                         run_dir=str(contents.root))
