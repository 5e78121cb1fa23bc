"""Descriptive statistics: a cell's accuracy interval (Wilson for 0/1 scores, Student's t across items
for graded ones and across documents for KL), and the rough sample count a gate verdict would need.

The tests of a drop — exact, with the intervals that invert them — live in analysis.paired_test; the
multiplicity rule in analysis.multiplicity. All functions are pure (no I/O, no global state) and use
only numpy and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Sequence

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

__all__ = [
    "Interval",
    "wilson_interval",
    "mean_interval",
    "t_interval",
    "as_unit_scores",
    "samples_needed",
    "paired_difference_sd",
]

# Upper bound on the (resamples x items) index matrix built at once, so that
# 10k resamples of a 100k-item task do not allocate gigabytes.
_MAX_BOOTSTRAP_CELLS = 1 << 22


@dataclass(frozen=True)
class Interval:
    """A closed interval ``[low, high]`` at a stated confidence level."""

    low: float
    """Lower bound (inclusive)."""
    high: float
    """Upper bound (inclusive)."""
    confidence: float
    """Nominal coverage, strictly between 0 and 1 (e.g. 0.95)."""

    def __post_init__(self) -> None:
        _check_confidence(self.confidence)
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"interval bounds must be finite, got [{self.low}, {self.high}]")
        if self.low > self.high:
            raise ValueError(f"interval low {self.low} is above high {self.high}")

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in the closed interval."""
        return self.low <= x <= self.high

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low


def _check_confidence(confidence: float, name: str = "confidence") -> None:
    if isinstance(confidence, bool) or not isinstance(confidence, Real) or not 0.0 < confidence < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {confidence!r}")


def _check_count(value: int, name: str) -> int:
    # bool is an Integral, but True/False as a count is almost certainly a bug.
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _z(confidence: float) -> float:
    """Two-sided standard-normal quantile for ``confidence``."""
    return float(norm.ppf(0.5 + confidence / 2.0))


def _as_scores(values: Sequence[float], name: str, *, unit: bool) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of scores, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    if unit and arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name} scores must lie in [0, 1], got range [{arr.min()}, {arr.max()}]")
    return arr


def as_unit_scores(values: Sequence[float], name: str) -> np.ndarray:
    """Scores as a 1-D float array, refused unless finite and within [0, 1]."""
    return _as_scores(values, name, unit=True)


def _bootstrap_means(columns: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Means of ``columns`` (shape ``(k, n)``) over shared resamples of the n items.

    Returns shape ``(k, n_resamples)``.  The same index draw is applied to every
    row, which is what keeps the reference and candidate paired.
    """
    n = columns.shape[1]
    rng = np.random.Generator(np.random.PCG64(seed))
    out = np.empty((columns.shape[0], n_resamples))
    chunk = max(1, _MAX_BOOTSTRAP_CELLS // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[:, start:stop] = columns[:, idx].mean(axis=2)
    return out


def _percentile_interval(samples: np.ndarray, confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return Interval(float(low), float(high), confidence)


def _check_resampling(n_resamples: int, seed: int) -> None:
    if _check_count(n_resamples, "n_resamples") < 1:
        raise ValueError("n_resamples must be >= 1")
    _check_count(seed, "seed")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion ``successes / n``.

    Preferred over the normal (Wald) interval because it stays inside [0, 1]
    and keeps non-zero width at 0/n and n/n, which is common for easy
    needle-in-a-haystack cells.  ``n == 0`` gives the uninformative ``[0, 1]``.
    """
    successes = _check_count(successes, "successes")
    n = _check_count(n, "n")
    _check_confidence(confidence)
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    if n == 0:
        return Interval(0.0, 1.0, confidence)
    z = _z(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    # At 0/n and n/n the bound is exactly 0 or 1 analytically; pin it so that
    # rounding cannot put it at -1e-17 or exclude the observed proportion.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return Interval(low, high, confidence)


def samples_needed(drop: float, tolerance: float, sd: float, *, confidence: float = 0.95) -> int | None:
    """Roughly how many paired items would decide whether ``drop`` exceeds ``tolerance``.

    Returns the total ``n`` for which a normal interval ``drop +/- z * sd / sqrt(n)``
    has half-width ``|drop - tolerance|`` and so would exclude the tolerance.
    ``sd`` is the per-item standard deviation of the paired difference (see
    :func:`paired_difference_sd`).  It is a total, not an increment: subtract
    the items already run to say "about N more".  None when the question is
    undecidable by sampling (``drop == tolerance``) or already exact (``sd == 0``).
    """
    for name, value in (("drop", drop), ("tolerance", tolerance), ("sd", sd)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if sd < 0:
        raise ValueError(f"sd must be >= 0, got {sd}")
    _check_confidence(confidence)
    gap = abs(drop - tolerance)
    if gap == 0 or sd == 0:
        return None
    return max(1, math.ceil((_z(confidence) * sd / gap) ** 2))


def paired_difference_sd(reference: Sequence[float], candidate: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1) of per-item ``reference - candidate``; 0.0 for n < 2."""
    ref, cand = _paired_arrays(reference, candidate)
    if ref.size < 2:
        return 0.0
    return float(np.std(ref - cand, ddof=1))


def _paired_arrays(reference: Sequence[float], candidate: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_scores(reference, "reference", unit=True)
    cand = _as_scores(candidate, "candidate", unit=True)
    if ref.size != cand.size:
        raise ValueError(
            f"paired scores must have equal length: reference has {ref.size}, candidate has {cand.size}"
        )
    if ref.size == 0:
        raise ValueError("need at least one paired item, got 0")
    return ref, cand


def mean_interval(
    values: Sequence[float],
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Bootstrap percentile interval for the mean of non-binary scores (e.g. ROUGE, F1).

    Use :func:`wilson_interval` instead for 0/1 accuracies; it behaves better
    at small n and near 0 or 1.
    """
    arr = _as_scores(values, "values", unit=False)
    if arr.size == 0:
        raise ValueError("need at least one value, got 0")
    _check_confidence(confidence)
    _check_resampling(n_resamples, seed)
    (boot,) = _bootstrap_means(arr[np.newaxis, :], n_resamples, seed)
    return _percentile_interval(boot, confidence)


def t_interval(values: Sequence[float], confidence: float = 0.95, *, bounds: tuple[float, float] | None = None
               ) -> Interval | None:
    """Student's t interval for the mean of independent units (documents, graded items); None below two.

    Used instead of the percentile bootstrap wherever the units are few: with two documents the
    bootstrap's "interval" is the range of the two means and covers about half the time, while t with
    n − 1 degrees of freedom is wide, as it should be. `bounds` clips to the values' range of meaning
    (a score in [0, 1], a KL at or above 0).
    """
    arr = _as_scores(values, "values", unit=False)
    _check_confidence(confidence)
    if arr.size < 2:
        return None
    mean = float(arr.mean())
    half = float(student_t.ppf(0.5 + confidence / 2.0, arr.size - 1)) * float(arr.std(ddof=1)) / math.sqrt(arr.size)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Interval(low, high, confidence)
