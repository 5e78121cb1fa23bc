"""Records worth reading: candidate failures the reference got right, and engine errors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from qlongbench.analysis.pairing import language_label
from qlongbench.types import Record

EXAMPLES_PER_PRECISION = 3
"""Failure examples shown per precision and task."""


@dataclass(frozen=True)
class Example:
    """One record shown in the report: a candidate failure the reference got right, or an engine error."""

    precision: str
    task: str
    language: str
    length: int
    sample_id: str
    status: str
    """ok, oom, error."""
    expected: tuple[str, ...]
    """Gold answers."""
    output: str
    """The candidate's output (escaped when rendered)."""
    reference_output: str | None
    """The reference's output on the same prompt."""
    error: str | None
    """Error message for oom / error."""


def failure_examples(records: Sequence[Record], reference: str | None, skip_tasks: Collection[str],
                     per_precision: int = EXAMPLES_PER_PRECISION) -> list[Example]:
    """Items the reference got right and a candidate got wrong (first few per precision and task),
    then every engine failure (oom / error)."""
    ref = {r.sample_id: r for r in records if r.precision == reference}
    shown: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for r in records:
        if r.precision == reference or r.task in skip_tasks or r.status != "ok":
            continue
        q = ref.get(r.sample_id)
        if q is None or q.status != "ok" or q.score is None or r.score is None or r.score >= q.score:
            continue
        if shown[(r.precision, r.task)] >= per_precision:
            continue
        shown[(r.precision, r.task)] += 1
        out.append(Example(r.precision, r.task, language_label(r), r.length, r.sample_id, r.status, r.expected,
                           r.output, q.output, None))
    for r in records:
        if r.status in ("oom", "error"):
            q = ref.get(r.sample_id)
            out.append(Example(r.precision, r.task, language_label(r), r.length, r.sample_id, r.status,
                               r.expected, r.output, q.output if q else None, r.error))
    return out
