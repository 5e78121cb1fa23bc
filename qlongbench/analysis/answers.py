"""Two readings of the answers themselves, beside the paired tests: how many answers a candidate words
differently from its baseline (and how many of those change the score), and where in the context the
reference's misses sit (by needle depth)."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from qlongbench.types import Record

DEPTH_BANDS = (0.0, 25.0, 50.0, 75.0, 100.0)
"""Needle-depth bands (percent of the context) that misses are counted in."""


@dataclass(frozen=True)
class Wording:
    """A candidate's answers against its baseline's, on the items both answered."""

    precision: str
    versus: str
    paired: int
    """Items both answered (status ok)."""
    worded: int
    """Items whose output text differs."""
    scored: int
    """Items whose score differs (each is also worded differently)."""


@dataclass(frozen=True)
class Answer:
    """One item's answer at one precision in one run (None where its record is not ok)."""

    output: str | None
    score: float | None


def answers_of(records: Sequence[Record], precision: str, skip_tasks: Collection[str]) -> dict[str, Answer]:
    """sample id -> precision's answer over the text tasks, for two runs of one job compared answer by
    answer (a log-prob task's record holds no answer: its KL is compared as KL)."""
    return {r.sample_id: Answer(r.output, r.score) if r.status == "ok" else Answer(None, None)
            for r in records if r.precision == precision and r.task not in skip_tasks}


def wording_between(precision: str, first: Mapping[str, Answer], second: Mapping[str, Answer]) -> Wording | None:
    """One precision's answers in two runs of one job (the same sample ids; None when they share none):
    the items worded and scored differently — what another machine, thread count or kernel moved."""
    common = set(first) & set(second)
    return _compared(precision, precision, [(first[k], second[k]) for k in common]) if common else None


def _compared(precision: str, versus: str, pairs: Sequence[tuple[Answer | Record, Answer | Record]]) -> Wording:
    """The rule both readings count by: of the paired items, those whose output differs, and those
    whose score differs."""
    return Wording(precision, versus, len(pairs), sum(a.output != b.output for a, b in pairs),
                   sum(a.score != b.score for a, b in pairs))


@dataclass(frozen=True)
class DepthMisses:
    """One precision's misses (score below 1) on one task and length, in one depth band."""

    precision: str
    task: str
    length: int
    low: float
    high: float
    """The band: depth in [low, high) percent (the last band includes 100)."""
    items: int
    misses: int


def wording(records: Sequence[Record], pairs: Sequence[tuple[str, str]], skip_tasks: Collection[str]) -> list[Wording]:
    """Each (candidate, baseline) pair's answers worded and scored differently, over the text tasks."""
    ok = {(r.precision, r.sample_id): r for r in records if r.status == "ok" and r.task not in skip_tasks}
    out = []
    for cand, base in pairs:
        both = [(r, ok[(base, sid)]) for (p, sid), r in ok.items() if p == cand and (base, sid) in ok]
        if both:
            out.append(_compared(cand, base, both))
    return out


def misses_by_depth(records: Sequence[Record], precision: str, bands: Sequence[float] = DEPTH_BANDS) -> list[DepthMisses]:
    """precision's answered items with a needle depth, counted per task, length and depth band."""
    def band(depth: float) -> int:  # [low, high), the last band closed at its top
        return min(bisect.bisect_right(bands, depth) - 1, len(bands) - 2)

    counts: dict[tuple[str, int, int], list[int]] = {}
    for r in records:
        if r.precision != precision or r.status != "ok" or r.depth is None or r.score is None:
            continue
        c = counts.setdefault((r.task, r.length, band(r.depth)), [0, 0])
        c[0] += 1
        c[1] += r.score < 1
    return [DepthMisses(precision, task, length, bands[b], bands[b + 1], n, missed)
            for (task, length, b), (n, missed) in sorted(counts.items())]
