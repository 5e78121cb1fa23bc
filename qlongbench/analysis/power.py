"""The smallest drop a comparison could detect: the drop at which the report's own test, at the level
its family gives it, rejects with probability 0.8.

Binary scores: computed exactly for the exact unconditional McNemar test (analysis.paired_test). The
candidate is assumed to change answers in both directions at the background rate the cell shows
(ψ0 = 2 · min(b, c) / n: changes that cancel out) and to lose Δ more: p10 = ψ0/2 + Δ, p01 = ψ0/2.
Graded scores: a normal approximation from the observed spread of the paired differences. The
tests plant drops of this size and check that the report flags them in about 80 % of runs."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.stats import norm

from qlongbench.analysis.paired_test import first_hits, tail_probability, tango_z, unconditional_tail

POWER = 0.8
"""The power the minimum detectable drop is quoted at."""


@lru_cache(maxsize=256)
def critical_z(n: int, level: float) -> float | None:
    """The smallest McNemar statistic (b − c)/√(b + c) whose exact unconditional one-sided p is at most
    level / 2 — the two-sided test at `level` calls a cell worse from there up (None: never, at this n)."""
    m, b = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    z = np.unique(tango_z(b[b <= m], (m - b)[b <= m], n, 0.0))
    z = z[z > 0]
    if z.size == 0 or unconditional_tail(n, 0.0, float(z[-1]), "greater") > level / 2.0:
        return None
    lo, hi = 0, z.size - 1  # invariant: z[hi] rejects; the tail falls as the threshold rises
    while lo < hi:
        mid = (lo + hi) // 2
        if unconditional_tail(n, 0.0, float(z[mid]), "greater") <= level / 2.0:
            hi = mid
        else:
            lo = mid + 1
    return float(z[hi])


def binary_power(n: int, drop: float, background: float, level: float) -> float:
    """P(the cell is called worse) when the candidate loses `drop` on top of `background` changes."""
    z = critical_z(n, level)
    psi = background + drop
    if z is None or psi <= 0:
        return 0.0
    return float(tail_probability(n, first_hits(n, 0.0, z), np.array([min(psi, 1.0)]), drop)[0])


def min_detectable_binary(n: int, background: float, level: float, power: float = POWER) -> float | None:
    """The smallest drop detected with `power` (None when no drop up to the whole range is)."""
    background = min(max(background, 0.0), 1.0)
    top = 1.0 - background
    if top <= 0 or binary_power(n, top, background, level) < power:
        return None
    lo, hi = 0.0, top
    for _ in range(30):
        mid = (lo + hi) / 2.0
        if binary_power(n, mid, background, level) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def min_detectable_graded(n: int, sd: float, level: float, power: float = POWER) -> float | None:
    """(z_{1 − level/2} + z_power) · sd / √n; None when the spread is unknown (n < 2 or sd = 0) or
    when n items cannot reach `level` at all with a sign-flip test (2 / 2^n > level)."""
    if n < 2 or sd <= 0 or 2.0 ** (1 - n) > level:
        return None
    return float((norm.ppf(1.0 - level / 2.0) + norm.ppf(power)) * sd / math.sqrt(n))
