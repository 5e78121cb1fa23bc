"""The study's questions as tests, per candidate precision against the reference:

* **length trend** — does the drop grow with context length? The slope of the per-item paired drop
  against log2(length), pooled within each (task, language) over its measured cells, in points per
  doubling. Test: permutation of the items' lengths within each (task, language) (exact under "the
  drop does not depend on length"), inverted under the shift model like the sign-flip test.
* **language contrast** — is the drop larger outside English? The drop in non-English items minus
  the drop in English items, within each (task, length) where both are measured, pooled with
  regression weights. Test: permutation of the items' language group within each (task, length).
* **KL position trend** — does the KL from the reference grow with position in the document? Mean KL
  in the last position bucket over the first, across documents at the longest kld length. Test: the
  sign-flip test of the ratio across documents (analysis.paired_test.SignFlipRatio), inverted into
  its interval, which holds 1 exactly when the test does not reject. Distribution-free: n documents
  cannot reach p below 2/2^n, so two documents never say "yes" (a t-test on two documents, with one
  degree of freedom, called it "yes" in one run and "no evidence" in the same job's second run).

* **changes above the floor** — does the candidate change more of the reference's answers than the
  reference's own twin at another thread count (`--noise-floor`) does? Per item, "changed by the
  candidate" against "changed by the control", by the exact McNemar test.

Each question is one comparison in the candidate's second Holm family (analysis.multiplicity); each
reads "not measured" with the reason when its cells are missing or unmeasurable."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from qlongbench.analysis.drops import unmeasurable
from qlongbench.spec.measure import MeasureRule
from qlongbench.analysis.multiplicity import holm
from qlongbench.analysis.paired_test import Evidence, LinearResampling, SignFlipRatio, paired_evidence
from qlongbench.analysis.pairing import CellId, PairedCell, language_label, latest_by_precision, pair_all
from qlongbench.analysis.stats import Interval
from qlongbench.types import Record

PERMUTATIONS = 20_000
"""Random within-stratum permutations (the observed arrangement counted in)."""
ENGLISH = "en"
KL_RESOLUTION = 1e-6
"""Nats: a mean KL below this is numerically zero for the estimator (a first bucket the candidate
reproduces exactly, e.g. a KV cache that keeps its first tokens unquantized), so no ratio is formed."""
QUESTIONS = ("length_trend", "language_contrast", "kl_position_trend", "changes_above_floor")


@dataclass(frozen=True)
class Question:
    """One of the study's questions, answered for one candidate."""

    name: str
    """length_trend, language_contrast, kl_position_trend or changes_above_floor."""
    candidate: str
    """Candidate precision."""
    reference: str
    """What it is compared with."""
    unit: str
    """What the estimate is measured in."""
    estimate: float | None = None
    """Slope (points per doubling), contrast (points), KL ratio last / first, or the share of answers
    changed beyond the floor's (points)."""
    null: float = 0.0
    """The value meaning 'no': 0 for slope and contrast, 1 for the KL ratio."""
    p_value: float | None = None
    """Two-sided raw p of 'no'."""
    p_adjusted: float | None = None
    """Holm-adjusted over the candidate's questions."""
    tested_level: float | None = None
    """The level Holm tested it at."""
    interval: Interval | None = None
    """Interval at 1 − tested_level (None when unbounded; `interval_note` then says how)."""
    interval_note: str | None = None
    """Why there is no bounded interval (few documents cannot bound a ratio at the tested level)."""
    n: int = 0
    """Items (trend, contrast) or documents (KL) behind it."""
    scope: str = ""
    """Which cells it was computed over."""
    unmeasured: str | None = None
    """Why it cannot be answered here."""
    alpha: float = 0.05
    """Family-wise error rate."""

    @property
    def answer(self) -> str:
        """'yes' (grows / larger outside English), 'the opposite', 'no evidence', or 'not measured'."""
        if self.unmeasured is not None or self.p_adjusted is None or self.estimate is None:
            return "not measured"
        if self.p_adjusted > self.alpha:
            return "no evidence"
        return "yes" if self.estimate > self.null else "the opposite"


class StratifiedSlope(LinearResampling):
    """The pooled within-stratum least-squares slope of y on x, tested by permuting y within strata."""

    domain = (-2.0, 2.0)
    method = f"within-stratum permutation ({PERMUTATIONS:,})"

    def __init__(self, y: np.ndarray, x: np.ndarray, strata: np.ndarray, seed: int = 0):
        self.y, self.n, self._seed = np.asarray(y, float), int(len(y)), seed
        self.strata = np.asarray(strata)
        xc = np.asarray(x, float).copy()
        for s in np.unique(self.strata):
            mask = self.strata == s
            xc[mask] -= xc[mask].mean()
        self.xc = xc
        self.sxx = float(xc @ xc)

    @property
    def estimate(self) -> float:
        return float(self.xc @ self.y / self.sxx)

    def _resamples(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        rng = np.random.Generator(np.random.PCG64(self._seed))
        order = np.argsort(self.strata, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(self.strata[order])) + 1)
        a = np.empty(PERMUTATIONS)
        c = np.empty(PERMUTATIONS)
        for start in range(0, PERMUTATIONS, 2000):
            stop = min(start + 2000, PERMUTATIONS)
            perm = np.tile(np.arange(self.n), (stop - start, 1))
            for g in groups:
                keys = rng.random((stop - start, g.size))
                perm[:, g] = g[np.argsort(keys, axis=1)]
            a[start:stop] = self.y[perm] @ self.xc / self.sxx
            c[start:stop] = self.xc[perm] @ self.xc / self.sxx
        return a, c, 1, PERMUTATIONS + 1


def _measured_cells(records: Sequence[Record], reference: str, candidate: str, rule: MeasureRule,
                    tasks: Sequence[str]) -> list[PairedCell]:
    return [c for c in pair_all(records, reference, [candidate], tasks=tasks)
            if c.n and unmeasurable(rule, c) is None]


def _slope_question(name: str, candidate: str, reference: str, unit: str, rows: list[tuple[float, float, str]],
                    scope: str, why_not: str, alpha: float) -> tuple[Question, Evidence | None]:
    """rows: (drop of an item, x, stratum); strata where x does not vary carry no information."""
    by = defaultdict(list)
    for d, x, s in rows:
        by[s].append((d, x))
    usable = [(d, x, s) for s, items in by.items() if len({x for _, x in items}) > 1 for d, x in items]
    q = Question(name, candidate, reference, unit, n=len(usable), scope=scope, alpha=alpha)
    if not usable:
        return replace(q, unmeasured=why_not), None
    codes = {s: i for i, s in enumerate(sorted({s for _, _, s in usable}))}
    evidence = StratifiedSlope(np.array([d for d, _, _ in usable]), np.array([x for _, x, _ in usable]),
                               np.array([codes[s] for _, _, s in usable]))
    return replace(q, estimate=evidence.estimate, p_value=evidence.p_value(0.0)), evidence


def length_trend(cells: Sequence[PairedCell], candidate: str, reference: str, alpha: float):
    rows = [(r - k, math.log2(c.cell.length), f"{c.cell.task}/{c.cell.language}")
            for c in cells for r, k in zip(c.reference_scores, c.candidate_scores)]
    lengths = sorted({c.cell.length for c in cells})
    scope = f"{len(cells)} measured cells, lengths {lengths[0]}–{lengths[-1]}" if cells else "no measured cell"
    return _slope_question("length_trend", candidate, reference, "points per doubling of length", rows, scope,
                           "no task × language is measured at two or more lengths", alpha)


def language_contrast(cells: Sequence[PairedCell], candidate: str, reference: str, alpha: float):
    strata = defaultdict(set)
    for c in cells:
        strata[(c.cell.task, c.cell.length)].add(c.cell.language == ENGLISH)
    both = {k for k, groups in strata.items() if groups == {True, False}}
    rows = [(r - k, 0.0 if c.cell.language == ENGLISH else 1.0, f"{c.cell.task}/{c.cell.length}")
            for c in cells if (c.cell.task, c.cell.length) in both
            for r, k in zip(c.reference_scores, c.candidate_scores)]
    langs = sorted({c.cell.language for c in cells if (c.cell.task, c.cell.length) in both})
    return _slope_question("language_contrast", candidate, reference, "points (non-English minus English)", rows,
                           f"{len(both)} task × length with English and {', '.join(l for l in langs if l != ENGLISH)}"
                           if both else "",
                           "no task × length has English and another language both measured "
                           "(a reference at its floor in a language cannot show a drop there)", alpha)


def kl_position_trend(records: Sequence[Record], lp_tasks: Sequence[str], candidate: str, reference: str,
                      alpha: float) -> tuple[Question, Evidence | None]:
    rows = [r for r in records if r.task in lp_tasks and r.precision == candidate and r.status == "ok"
            and "n_buckets" in r.metrics]
    q = Question("kl_position_trend", candidate, reference, "× (mean KL, last position bucket / first)", null=1.0,
                 alpha=alpha)
    if not rows:
        return replace(q, unmeasured="no kld records"), None
    longest = max(r.length for r in rows)
    docs = [r for r in rows if r.length == longest]
    last = np.array([r.metrics[f"kl_b{int(r.metrics['n_buckets']) - 1}"] for r in docs])
    first = np.array([r.metrics["kl_b0"] for r in docs])
    q = replace(q, n=len(docs), scope=f"{len(docs)} documents of {longest} tokens")
    if not first.mean() > KL_RESOLUTION:
        return replace(q, unmeasured=f"the first bucket's mean KL ({first.mean():.2g} nats) is below what the "
                                     f"estimator resolves ({KL_RESOLUTION:g}): a ratio over it means nothing"), None
    evidence = SignFlipRatio(last, first)
    return replace(q, estimate=evidence.estimate, p_value=evidence.p_value(1.0)), evidence


def ratio_interval(evidence: Evidence, confidence: float) -> tuple[Interval | None, str | None]:
    """The ratio's interval, or (None, why) when the documents cannot bound it at this level: a sign-flip
    test over n documents reaches p = 2/2^n at best, so with few documents every ratio is kept."""
    iv = evidence.interval(confidence)
    lo, hi = evidence.domain
    if iv.high >= hi or iv.low <= lo:
        floor = 2.0 / 2 ** evidence.n
        return None, (f"unbounded: {evidence.n} documents cannot bound it at this level (a sign-flip test across "
                      f"{evidence.n} documents reaches p = {floor:.2g} at best)")
    return iv, None


def changes_above_floor(records: Sequence[Record], cells: Sequence[PairedCell], candidate: str, reference: str,
                        floor: str | None, alpha: float) -> tuple[Question, Evidence | None]:
    """Does the candidate change more of the reference's answers than the reference's own twin at
    another thread count does? Per item of the measured cells: changed by the candidate, changed by
    the control; the paired difference of those two 0/1 indicators, by the exact McNemar test."""
    q = Question("changes_above_floor", candidate, reference, "points of answers changed beyond the floor",
                 alpha=alpha)
    if floor is None:
        return replace(q, unmeasured="no noise-floor control in this run (--noise-floor adds one)"), None
    if candidate == floor:
        return replace(q, unmeasured="it is the floor"), None
    measured = {c.cell for c in cells}
    by = latest_by_precision(records)
    ref, cand, ctrl = by.get(reference, {}), by.get(candidate, {}), by.get(floor, {})

    def score(r: Record | None) -> float | None:
        if r is None or r.status == "overlength":
            return None
        return r.score if r.status == "ok" and r.score is not None else 0.0

    pairs = []
    for sid, r in ref.items():
        if r.status != "ok" or r.score is None or CellId(r.task, language_label(r), r.length) not in measured:
            continue
        a, b = score(cand.get(sid)), score(ctrl.get(sid))
        if a is not None and b is not None:
            pairs.append((float(a != r.score), float(b != r.score)))
    if not pairs:
        return replace(q, unmeasured="no item answered by the candidate and the control"), None
    # "reference" = changed by the candidate, "candidate" = changed by the control: the estimate is the
    # share of answers the candidate changes beyond the floor's
    evidence = paired_evidence([a for a, _ in pairs], [b for _, b in pairs])
    return replace(q, n=len(pairs), scope=f"{len(pairs)} items, floor {floor}", estimate=evidence.estimate,
                   p_value=evidence.p_value(0.0)), evidence


def answer_questions(records: Sequence[Record], reference: str, candidates: Sequence[str], rule: MeasureRule,
                     text_tasks: Sequence[str], lp_tasks: Sequence[str], confidence: float = 0.95,
                     floor: str | None = None) -> list[Question]:
    """The study's questions for every candidate, Holm-adjusted within each candidate's family;
    `floor` is the reference's noise-floor control, when the run has one."""
    alpha = 1.0 - confidence
    out: list[Question] = []
    for cand in candidates:
        cells = _measured_cells(records, reference, cand, rule, text_tasks)
        asked = [length_trend(cells, cand, reference, alpha), language_contrast(cells, cand, reference, alpha),
                 kl_position_trend(records, lp_tasks, cand, reference, alpha),
                 changes_above_floor(records, cells, cand, reference, floor, alpha)]
        tested = [i for i, (q, _) in enumerate(asked) if q.unmeasured is None and q.p_value is not None]
        adjusted = dict(zip(tested, holm([asked[i][0].p_value for i in tested], alpha))) if tested else {}
        for i, (q, ev) in enumerate(asked):
            adj = adjusted.get(i)
            if adj is None:
                out.append(q)
                continue
            level = 1.0 - adj.level
            interval, note = (ratio_interval(ev, level) if isinstance(ev, SignFlipRatio) else
                              (ev.interval(level) if ev else None, None))
            out.append(replace(q, p_adjusted=adj.p_adjusted, tested_level=adj.level, interval=interval,
                               interval_note=note))
    return out
