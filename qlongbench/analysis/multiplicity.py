"""Multiplicity: Holm's step-down procedure over a family of comparisons.

**The family** is every comparison one report (or one gate) makes of one candidate against one
baseline: bnb-nf4 versus bf16 over all its measured cells (per language and pooled), gguf-q4_k_m
versus gguf-bf16 over its cells, and so on. Holm keeps the chance that a candidate identical to its
baseline is called worse or better anywhere in its row at or below α (family-wise), whatever the
dependence between the cells. The study's questions (length trend, language contrast, KL position
trend) form a second family per candidate.

Each comparison keeps its raw p, its adjusted p (the smallest α at which Holm would reject it) and
the level at which Holm tested it — α/(k − j + 1) at the step j where it was rejected, or, for the
ones not rejected, the level of the step where the procedure stopped. An interval drawn at that
level excludes 0 exactly when the adjusted p is at most α, so the shown interval always agrees with
the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PROCEDURE = "Holm"


@dataclass(frozen=True)
class Adjusted:
    """One comparison after Holm."""

    p_value: float
    """Raw p."""
    p_adjusted: float
    """Holm-adjusted p (monotone in the raw p, at most 1)."""
    level: float
    """The level at which Holm's step tested it (the shown interval's 1 − confidence)."""
    family_size: int
    """Comparisons in its family."""


def holm(p_values: Sequence[float], alpha: float) -> list[Adjusted]:
    """Holm-adjusted p-values and step levels, in the input order."""
    k = len(p_values)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted = [0.0] * k
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[i]))
        adjusted[i] = running
    stop = next((rank for rank, i in enumerate(order) if adjusted[i] > alpha), k)
    levels = [0.0] * k
    for rank, i in enumerate(order):
        step = rank if rank < stop else stop
        levels[i] = alpha / (k - step)
    return [Adjusted(p_values[i], adjusted[i], levels[i], k) for i in range(k)]
