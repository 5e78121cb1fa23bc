"""Statistics for comparing a quantized candidate with a BF16 reference.

Every comparison in qlongbench is *paired*: both models answer the same items
in the same order, so item difficulty cancels out and we resample items, not
models.  All functions are pure (no I/O, no global state) and use only numpy
and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Sequence

import numpy as np
from scipy.stats import binomtest, norm

__all__ = [
    "Interval",
    "PairedDrop",
    "wilson_interval",
    "paired_bootstrap_drop",
    "mean_interval",
    "mcnemar_exact",
    "min_detectable_drop",
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


@dataclass(frozen=True)
class PairedDrop:
    """How much worse a candidate scores than the reference on the same items."""

    n: int
    """Number of paired items."""
    reference_mean: float
    """Mean reference score (0..1)."""
    candidate_mean: float
    """Mean candidate score (0..1)."""
    drop: float
    """``reference_mean - candidate_mean`` in score units; positive means the candidate is worse."""
    relative_drop: float | None
    """``drop / reference_mean``; None when ``reference_mean`` is 0."""
    interval: Interval
    """Paired bootstrap percentile interval of ``drop``."""
    relative_interval: Interval | None
    """Paired bootstrap percentile interval of ``relative_drop``; None when it is undefined."""
    mcnemar_p: float | None
    """Exact two-sided McNemar p-value when both score vectors are binary 0/1, else None."""
    discordant_ref_only: int
    """b: items the reference got right and the candidate got wrong (binary case; 0 otherwise)."""
    discordant_cand_only: int
    """c: items the candidate got right and the reference got wrong (binary case; 0 otherwise)."""
    within_noise: bool
    """True when ``interval`` contains 0, i.e. no drop is demonstrated at this confidence."""
    min_detectable_drop: float
    """Smallest absolute drop this many items could detect (alpha = 1 - confidence, power 0.8)."""


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


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts.

    ``b`` = items only the reference got right, ``c`` = items only the
    candidate got right.  Under H0 each discordant item is a fair coin, so
    this is a two-sided binomial test of ``b`` successes in ``b + c`` trials.
    No discordant items (``b + c == 0``) gives 1.0.
    """
    b = _check_count(b, "b")
    c = _check_count(c, "c")
    if b + c == 0:
        return 1.0
    return float(binomtest(b, b + c, 0.5).pvalue)


def min_detectable_drop(n: int, baseline: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute accuracy drop a paired comparison of ``n`` items can detect.

    Normal approximation: ``(z_{1-alpha/2} + z_{power}) * sqrt(var / n)`` with
    ``var = 2 p (1 - p)``, the variance of a per-item paired difference when the
    two models' errors are independent (the worst case; correlated errors make
    the true variance smaller and the detectable drop smaller).

    A baseline of exactly 0 or 1 would give zero variance and a meaningless
    "any drop is detectable"; ``p`` is therefore clamped to
    ``[0.5/n, 1 - 0.5/n]`` (half an item of slack, the usual continuity
    correction), so the answer is always finite and positive.
    """
    if isinstance(n, bool) or not isinstance(n, Integral) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(baseline, bool) or not isinstance(baseline, Real) or not 0.0 <= baseline <= 1.0:
        raise ValueError(f"baseline accuracy must be in [0, 1], got {baseline!r}")
    _check_confidence(alpha, "alpha")
    _check_confidence(power, "power")
    slack = 0.5 / n
    p = min(max(float(baseline), slack), 1.0 - slack)
    var = 2.0 * p * (1.0 - p)
    return float((norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)) * math.sqrt(var / n))


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


def paired_bootstrap_drop(
    reference: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PairedDrop:
    """Paired bootstrap of the score drop from ``reference`` to ``candidate``.

    Scores are per-item values in [0, 1] in the same item order.  Items are
    resampled with replacement (the same indices for both models) and the
    percentile interval of the resampled drop is reported.

    A hand-rolled numpy bootstrap is used rather than ``scipy.stats.bootstrap``:
    it needs the resampled reference mean as well as the drop (for the relative
    interval) from one shared draw, it is exact for constant data and n == 1
    (scipy's default BCa warns and returns NaN there), and it is deterministic
    across scipy versions for a given seed.

    The relative interval is the percentile interval of ``drop_b / ref_mean_b``
    over resamples whose reference mean is non-zero; it is None when the
    reference mean is 0.
    """
    ref, cand = _paired_arrays(reference, candidate)
    _check_confidence(confidence)
    _check_resampling(n_resamples, seed)
    n = int(ref.size)

    diff = ref - cand
    ref_mean = float(ref.mean())
    cand_mean = float(cand.mean())
    drop = float(diff.mean())

    boot_diff, boot_ref = _bootstrap_means(np.vstack([diff, ref]), n_resamples, seed)
    interval = _percentile_interval(boot_diff, confidence)

    relative_drop: float | None = None
    relative_interval: Interval | None = None
    if ref_mean > 0:
        relative_drop = drop / ref_mean
        defined = boot_ref > 0
        if defined.any():
            relative_interval = _percentile_interval(boot_diff[defined] / boot_ref[defined], confidence)

    mcnemar_p: float | None = None
    b = c = 0
    if np.isin(ref, (0.0, 1.0)).all() and np.isin(cand, (0.0, 1.0)).all():
        b = int(np.sum((ref == 1.0) & (cand == 0.0)))
        c = int(np.sum((ref == 0.0) & (cand == 1.0)))
        mcnemar_p = mcnemar_exact(b, c)

    return PairedDrop(
        n=n,
        reference_mean=ref_mean,
        candidate_mean=cand_mean,
        drop=drop,
        relative_drop=relative_drop,
        interval=interval,
        relative_interval=relative_interval,
        mcnemar_p=mcnemar_p,
        discordant_ref_only=b,
        discordant_cand_only=c,
        within_noise=interval.contains(0.0),
        min_detectable_drop=min_detectable_drop(n, ref_mean, alpha=1.0 - confidence),
    )


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
