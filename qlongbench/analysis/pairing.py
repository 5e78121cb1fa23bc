"""The one pairing of a candidate's records with the reference's, used by the report and the gate.

Per cell (task × language × length, or a task's languages pooled) each sample the reference scored
is paired with the candidate's record of the same sample:

- both ok: the two scores are paired;
- the candidate hit oom / error: it is paired as a **wrong answer (score 0)** — a deployment that
  crashes gives no answer — and counted in `candidate_failures`, so the drop includes it and both
  the report and the gate name the failure;
- either side overlength, or the reference not ok: left out (`excluded`);
- a candidate record with no reference record: counted in `missing` (the gate refuses such a run,
  the report calls the cell not measured).

Whether a cell can show a drop at all (`unmeasurable`) is decided here too, once: a reference at
or below its floor (the task's chance level, or the minimum reference accuracy) cannot lose
anything, and a reference whose answers mostly do not parse is not measuring the task."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from qlongbench.spec.measure import DEFAULT_FLOOR, DEFAULT_MIN_PARSED
from qlongbench.types import Record

ALL_LANGUAGES = "all"
"""Language label of cells pooled over every language of a task."""


def language_label(r: Record) -> str:
    """`de`, or `en_de` for instructions in en over a haystack in de."""
    return r.language if r.instruction_language == r.language else f"{r.instruction_language}_{r.language}"


@dataclass(frozen=True)
class CellId:
    task: str
    """Task label."""
    language: str
    """Language label ('all' = pooled)."""
    length: int
    """Target length."""

    def __str__(self) -> str:
        return f"{self.task}/{self.language}/{self.length}"


@dataclass
class PairedCell:
    """A candidate's and the reference's scores on the same samples of one cell."""

    candidate: str
    """Candidate precision."""
    reference: str
    """Reference precision."""
    cell: CellId
    """Which cell."""
    reference_scores: list[float] = field(default_factory=list)
    """Reference scores of the paired samples."""
    candidate_scores: list[float] = field(default_factory=list)
    """Candidate scores of the same samples, in the same order (0 for an oom / error)."""
    candidate_failures: list[str] = field(default_factory=list)
    """Statuses (oom, error) of the candidate's failed records among the paired samples."""
    excluded: int = 0
    """Samples left out: overlength on either side, or not scored by the reference."""
    missing: int = 0
    """Candidate records whose sample the reference has no record of."""
    reference_unparsed: int = 0
    """Paired samples whose reference answer could not be parsed."""

    @property
    def n(self) -> int:
        return len(self.reference_scores)

    @property
    def reference_mean(self) -> float | None:
        return sum(self.reference_scores) / self.n if self.n else None

    def unmeasurable(self, *, chance: float = 0.0, floor: float = DEFAULT_FLOOR,
                     min_parsed: float = DEFAULT_MIN_PARSED) -> str | None:
        """Why this cell cannot show a drop (None when it can)."""
        if self.missing:
            return f"the reference has no record of {self.missing} of the candidate's samples"
        if not self.n:
            why = f"{self.excluded} samples overlength or not scored by the reference" if self.excluded else "no samples"
            return f"no paired samples ({why})"
        limit = max(chance, floor)
        mean = self.reference_mean or 0.0
        if mean <= limit:
            what = "chance level" if chance >= floor else "floor"
            return (f"reference at the {what}: {100 * mean:.0f} % ≤ {100 * limit:.0f} %, so it has nothing to lose "
                    "— not a measurement of 'no drop'")
        parsed = 1.0 - self.reference_unparsed / self.n
        if parsed < min_parsed:
            return f"only {100 * parsed:.0f} % of the reference's answers parse (minimum {100 * min_parsed:.0f} %)"
        return None


def latest_by_precision(records: Iterable[Record]) -> dict[str, dict[str, Record]]:
    """precision -> sample_id -> record (records are unique per key; the run directory checks it)."""
    out: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
        out[r.precision][r.sample_id] = r
    return out


def pair(reference: Mapping[str, Record], candidate: Mapping[str, Record], *, reference_name: str,
         candidate_name: str, pool_languages: bool = False) -> dict[CellId, PairedCell]:
    """Pair one candidate's records with the reference's, cell by cell (see the module docstring)."""
    cells: dict[CellId, PairedCell] = {}

    def cell_of(r: Record) -> PairedCell:
        key = CellId(r.task, ALL_LANGUAGES if pool_languages else language_label(r), r.length)
        if key not in cells:
            cells[key] = PairedCell(candidate_name, reference_name, key)
        return cells[key]

    for sid, q in reference.items():
        r = candidate.get(sid)
        if r is None:
            continue
        cell = cell_of(q)
        if "overlength" in (r.status, q.status) or q.status != "ok" or q.score is None:
            cell.excluded += 1
            continue
        cell.reference_scores.append(float(q.score))
        cell.reference_unparsed += q.parsed is False
        if r.status == "ok" and r.score is not None:
            cell.candidate_scores.append(float(r.score))
        else:
            cell.candidate_scores.append(0.0)
            cell.candidate_failures.append(r.status)
    for sid, r in candidate.items():
        if sid not in reference:
            cell_of(r).missing += 1
    return cells


def pair_all(records: Sequence[Record], reference: str, candidates: Sequence[str], *,
             tasks: Iterable[str] | None = None, pool_languages: bool = False) -> list[PairedCell]:
    """Every candidate's paired cells, in candidate then cell order."""
    keep = set(tasks) if tasks is not None else None
    by_prec = latest_by_precision(r for r in records if keep is None or r.task in keep)
    ref = by_prec.get(reference, {})
    out: list[PairedCell] = []
    for cand in candidates:
        cells = pair(ref, by_prec.get(cand, {}), reference_name=reference, candidate_name=cand,
                     pool_languages=pool_languages)
        out += [cells[k] for k in sorted(cells, key=lambda c: (c.task, c.language, c.length))]
    return out
