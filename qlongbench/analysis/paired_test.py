"""Exact paired tests of a drop, each with the interval obtained by inverting the same test.

Every comparison in qlongbench is paired: the reference and a candidate answer the same n items,
and ``d_i = reference_i − candidate_i`` is the item's drop, ``Δ = mean(d)`` the drop of the cell.

* **Binary scores (0/1): the exact unconditional McNemar test.** ``b`` items lost (reference right,
  candidate wrong) and ``c`` gained follow a trinomial law with ``p10 − p01 = Δ``. The test of
  ``Δ = δ`` orders outcomes by Tango's score statistic (1998) and takes the tail probability at its
  supremum over the nuisance (the discordance rate ψ = p10 + p01), as Suissa & Shuster (1991) do at
  δ = 0: the p-value is exact — never below its level under any ψ — and, unlike the conditional
  binomial McNemar test, it has an interval on the difference scale: the δ it does not reject.
  At δ = 0 Tango's statistic is McNemar's ``(b − c)/√(b + c)``.
* **Graded scores (ROUGE, shares of values, KL per document): the sign-flip permutation test** of
  the mean difference (exact enumeration up to 2^12 sign vectors; 20,000 random ones otherwise, the
  observed one counted in, so the p-value stays valid), inverted under the location-shift model:
  the permuted statistic is linear in δ, so each sign vector gives one threshold and the p-value
  function is a count.

The interval at level 1 − α is the set of δ whose two one-sided p-values both exceed α/2, found by
bisection of the two monotone tails with 0 decided first — so **0 lies in the interval exactly when
p(0) > α**: the verdict and the interval cannot disagree at any level (the tests assert it). Pure
functions of the scores; scipy does the binomial laws."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.stats import binom

from qlongbench.analysis.stats import Interval, as_unit_scores

__all__ = ["Alternative", "Evidence", "LinearResampling", "McNemarEvidence", "SignFlipEvidence", "SignFlipRatio",
           "paired_evidence", "is_binary",
           "agrees"]

EXACT_SIGN_FLIP_MAX = 12
"""Up to this many items the sign-flip test enumerates every sign vector (2^12 = 4,096)."""
SIGN_FLIP_RESAMPLES = 20_000
"""Monte Carlo sign vectors beyond that (resolution 1/20,001 reaches Holm levels of 0.05/100)."""
NUISANCE_GRID = 96
"""Points of ψ at which the unconditional tail is maximised (then refined around the best)."""
_TIE = 1e-9
_BISECT_STEPS = 16  # interval ends to 2^-15 ≈ 3e-5 in score units (shown to 0.1 point)

Alternative = Literal["two-sided", "greater", "less"]
"""greater: evidence that the drop exceeds δ (H0: Δ ≤ δ); less: that it is below δ (H0: Δ ≥ δ)."""


def is_binary(values: np.ndarray) -> bool:
    return bool(np.isin(values, (0.0, 1.0)).all())


class Evidence(ABC):
    """The paired items of one comparison, ready to be tested at any δ and inverted at any level."""

    method: str
    """Which exact test (for the report)."""
    n: int
    """Paired items."""
    domain: tuple[float, float] = (-1.0, 1.0)
    """Where the parameter can lie (a drop of scores in [0, 1] lies in [−1, 1])."""
    null: float = 0.0
    """The value meaning 'no effect' (0 for a drop, 1 for a ratio): the interval decides it first, so
    it holds the null exactly when the two-sided p of the null exceeds 1 − confidence."""

    @property
    @abstractmethod
    def estimate(self) -> float:
        """The observed drop Δ̂ = mean(reference − candidate)."""

    @abstractmethod
    def tail(self, delta0: float, alternative: Literal["greater", "less"]) -> float:
        """The exact one-sided p-value of H0 Δ ≤ delta0 (greater) or Δ ≥ delta0 (less)."""

    def p_value(self, delta0: float = 0.0, alternative: Alternative = "two-sided") -> float:
        """p of H0 Δ = delta0 (two-sided: twice the smaller one-sided p), Δ ≤ delta0 or Δ ≥ delta0."""
        if alternative != "two-sided":
            return min(1.0, self.tail(delta0, alternative))
        return min(1.0, 2.0 * min(self.tail(delta0, "greater"), self.tail(delta0, "less")))

    def interval(self, confidence: float) -> Interval:
        """The δ in the domain that the two-sided test at 1 − confidence keeps; it contains 0 exactly when
        p(0) > 1 − confidence."""
        alpha = 1.0 - confidence
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
        low = self.lower_bound(alpha / 2.0, pivot=self.null)
        high = self.upper_bound(alpha / 2.0, pivot=self.null)
        return Interval(min(low, high), max(low, high), confidence)

    def lower_bound(self, level: float, pivot: float = 0.0) -> float:
        """The one-sided lower confidence bound at 1 − level: the smallest δ that 'Δ ≤ δ' is not rejected
        at `level`. `pivot` is decided first, so the bound lies above the pivot exactly when
        p(pivot, greater) ≤ level — a gate's tolerance, or 0."""
        _check_level(level)
        return _boundary(lambda d: self.tail(d, "greater") > level, self.domain, increasing=True, pivot=pivot)

    def upper_bound(self, level: float, pivot: float = 0.0) -> float:
        """The one-sided upper confidence bound at 1 − level; below `pivot` exactly when
        p(pivot, less) ≤ level."""
        _check_level(level)
        return _boundary(lambda d: self.tail(d, "less") > level, self.domain, increasing=False, pivot=pivot)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")


def _boundary(accepted: Callable[[float], bool], domain: tuple[float, float], *, increasing: bool,
              pivot: float = 0.0) -> float:
    """The end of {δ in the domain : accepted(δ)} for a monotone `accepted` (True above the end when
    `increasing`, below it otherwise). The pivot (0, or a gate's tolerance) is decided first, so the end
    falls on the pivot's side exactly as accepted(pivot) says; the returned end is itself accepted."""
    inside, outside = (domain[1], domain[0]) if increasing else domain
    if accepted(outside):
        return outside
    pivot = min(max(pivot, domain[0]), domain[1])
    if accepted(pivot):
        inside = pivot
    else:
        outside = pivot
    for _ in range(_BISECT_STEPS):
        mid = (inside + outside) / 2.0
        if accepted(mid):
            inside = mid
        else:
            outside = mid
    return inside


# --- binary: the exact unconditional McNemar test ------------------------------------------------------
def tango_z(b: np.ndarray, c: np.ndarray, n: int, delta0: float) -> np.ndarray:
    """Tango's score statistic for H0 p10 − p01 = delta0 (McNemar's (b − c)/√(b + c) at delta0 = 0)."""
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    a2 = 2.0 * n
    bq = -b - c + (2.0 * n - b + c) * delta0
    cq = -c * delta0 * (1.0 - delta0)
    q = (-bq + np.sqrt(np.maximum(bq * bq - 4.0 * a2 * cq, 0.0))) / (2.0 * a2)
    var = n * (2.0 * q + delta0 * (1.0 - delta0))
    num = b - c - n * delta0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), np.sign(num) * np.inf)
    return np.where((var <= 0) & (num == 0), 0.0, z)


class McNemarEvidence(Evidence):
    """Binary scores: b items lost (reference right, candidate wrong), c gained, of n."""

    method = "exact unconditional McNemar"

    def __init__(self, b: int, c: int, n: int):
        if min(b, c) < 0 or b + c > n or n < 1:
            raise ValueError(f"discordant counts b = {b}, c = {c} do not fit n = {n}")
        self.b, self.c, self.n = int(b), int(c), int(n)

    @property
    def estimate(self) -> float:
        return (self.b - self.c) / self.n

    def tail(self, delta0: float, alternative: Literal["greater", "less"]) -> float:
        z_obs = float(tango_z(np.array(self.b), np.array(self.c), self.n, delta0))
        return unconditional_tail(self.n, delta0, z_obs, alternative)


def unconditional_tail(n: int, delta0: float, z_obs: float, alternative: Literal["greater", "less"]) -> float:
    """sup over ψ of P(Z ≥ z_obs) (greater) or P(Z ≤ z_obs) (less) when p10 − p01 = delta0, Z Tango's
    statistic over every trinomial outcome of n items."""
    if alternative == "less":  # mirror: losses and gains swap, δ and z change sign
        return unconditional_tail(n, -delta0, -z_obs, "greater")
    first = first_hits(n, delta0, z_obs)
    lowest = min(abs(delta0), 1.0 - 1e-12)
    grid = lowest + (1.0 - lowest) * np.linspace(0.0, 1.0, NUISANCE_GRID) ** 2
    grid[0] = max(grid[0], 1e-9)
    values = tail_probability(n, first, grid, delta0)
    best = int(values.argmax())
    fine = np.linspace(grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)], 17)
    return float(min(1.0, max(values.max(), tail_probability(n, first, fine, delta0).max())))


def first_hits(n: int, delta0: float, z_obs: float) -> np.ndarray:
    """For each number m of changed items, the fewest losses b whose statistic reaches z_obs (n + 1
    when none does). Z rises with b at fixed m (tested), so {Z ≥ z_obs} is b ≥ first[m]: found by a
    binary search over b for every m at once."""
    m = np.arange(n + 1)
    target = z_obs - 1e-12 * max(1.0, abs(z_obs))
    lo = np.zeros(n + 1, dtype=np.int64)   # invariant: answer in [lo, hi]; hi = m + 1 means none
    hi = m + 1
    while True:
        open_ = lo < hi
        if not open_.any():
            break
        mid = (lo + hi) // 2
        ok = tango_z(mid, m - mid, n, delta0) >= target
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid + 1, lo)
    return np.where(lo > m, n + 1, lo).astype(float)


def tail_probability(n: int, first: np.ndarray, psi: np.ndarray, delta: float) -> np.ndarray:
    """P(b ≥ first[m]) for each discordance rate ψ when p10 − p01 = delta: m ~ Binomial(n, ψ) items
    change, and given m the losses are Binomial(m, π), π = (ψ + δ)/(2ψ)."""
    pi = np.clip((psi + delta) / (2.0 * psi), 0.0, 1.0)
    mm = np.arange(n + 1)
    pm = binom.pmf(mm[None, :], n, psi[:, None])
    pb = binom.sf(first[None, :] - 1.0, mm[None, :], pi[:, None])
    return (pm * pb).sum(axis=1)


# --- resampling tests whose statistic is linear in δ ----------------------------------------------
class LinearResampling(Evidence):
    """A randomisation test of H0 θ = θ0 whose statistic is T(θ0) = θ̂ − θ0 and whose resampled
    statistic is a_s − θ0 · c_s (c_s ≤ 1). Resample s reaches the observed value exactly when
    θ0 ≥ t_s = (θ̂ − a_s) / (1 − c_s) (always when c_s = 1), so every p-value is a count of thresholds
    and the test inverts exactly. Subclasses supply (a, c) and how many resamples there are."""

    domain: tuple[float, float] = (-1.0, 1.0)

    @abstractmethod
    def _resamples(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(a_s, c_s, extra resamples always counted — the observed one under Monte Carlo, total)."""

    @cached_property
    def _thresholds(self) -> tuple[np.ndarray, int, int]:
        a, c, identity, total = self._resamples()
        moves = c < 1.0 - 1e-12
        identity += int((~moves).sum())
        return np.sort((self.estimate - a[moves]) / (1.0 - c[moves])), identity, total

    def tail(self, delta0: float, alternative: Literal["greater", "less"]) -> float:
        t, identity, total = self._thresholds
        tie = _TIE * max(1.0, abs(delta0))  # a resample equal to the observed one up to rounding counts
        if alternative == "greater":  # resampled statistic ≥ observed
            return (identity + int(np.searchsorted(t, delta0 + tie, side="right"))) / total
        return (identity + int(t.size - np.searchsorted(t, delta0 - tie, side="left"))) / total


class SignFlipEvidence(LinearResampling):
    """Graded scores: sign-flip test of the mean difference, inverted under the location-shift model
    (H0 Δ = δ: the d_i − δ are symmetric about 0)."""

    def __init__(self, differences: np.ndarray, seed: int = 0):
        d = np.asarray(differences, dtype=float)
        if d.ndim != 1 or d.size == 0:
            raise ValueError("need a 1-D array of at least one paired difference")
        self._d, self._seed, self.n = d, seed, int(d.size)
        self.method = ("sign-flip (exact)" if self.n <= EXACT_SIGN_FLIP_MAX
                       else f"sign-flip ({SIGN_FLIP_RESAMPLES:,} resamples)")

    @property
    def estimate(self) -> float:
        return float(self._d.mean())

    @property
    def spread(self) -> float:
        """Sample standard deviation of the differences (0 for one item)."""
        return float(self._d.std(ddof=1)) if self.n > 1 else 0.0

    def _resamples(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        signs, identity, total = _signs(self.n, self._seed)  # exact: the all-plus vector is among them
        return signs @ self._d / self.n, signs.mean(axis=1), identity, total


class SignFlipRatio(LinearResampling):
    """The ratio mean(x) / mean(y) of paired positive measurements (the KL in a document's last position
    bucket over its first), by the sign-flip test of H0 ratio = r: under it the per-unit x_i − r·y_i are
    symmetric about 0. The statistic (mean(x) − r·mean(y)) / mean(y) = r̂ − r resamples as a_s − r·c_s
    with a_s = mean(s·x)/mean(y), c_s = mean(s·y)/mean(y) ≤ 1, so it inverts exactly like the
    sign-flip test of a mean. Distribution-free: with n units no p falls below 2/2^n, which is what n
    documents can honestly say."""

    null = 1.0

    def __init__(self, x: np.ndarray, y: np.ndarray, seed: int = 0, upper: float = 64.0):
        self.x, self.y = np.asarray(x, float), np.asarray(y, float)
        if self.x.shape != self.y.shape or self.x.ndim != 1 or self.x.size == 0:
            raise ValueError("need two 1-D arrays of the same positive length")
        if not (self.y.mean() > 0 and (self.y >= 0).all() and (self.x >= 0).all()):
            raise ValueError("a ratio of means needs non-negative measurements with a positive denominator")
        self.n, self._seed = int(self.x.size), seed
        self.domain = (0.0, upper)
        self.method = ("sign-flip (exact)" if self.n <= EXACT_SIGN_FLIP_MAX
                       else f"sign-flip ({SIGN_FLIP_RESAMPLES:,} resamples)")

    @property
    def estimate(self) -> float:
        return float(self.x.mean() / self.y.mean())

    def _resamples(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        signs, identity, total = _signs(self.n, self._seed)
        fm = float(self.y.mean())
        return signs @ self.x / self.n / fm, signs @ self.y / self.n / fm, identity, total


def _signs(n: int, seed: int) -> tuple[np.ndarray, int, int]:
    """Every sign vector up to EXACT_SIGN_FLIP_MAX units, else SIGN_FLIP_RESAMPLES random ones with the
    observed one counted in: (signs, extra resamples always counted, total)."""
    if n <= EXACT_SIGN_FLIP_MAX:
        return 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1), 0, 2 ** n
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.choice(np.array([-1.0, 1.0]), size=(SIGN_FLIP_RESAMPLES, n)), 1, SIGN_FLIP_RESAMPLES + 1


def paired_evidence(reference: Sequence[float], candidate: Sequence[float]) -> Evidence:
    """The exact test for these paired scores: McNemar when both are 0/1, sign-flip otherwise."""
    ref = as_unit_scores(reference, "reference")
    cand = as_unit_scores(candidate, "candidate")
    if ref.size != cand.size:
        raise ValueError(f"paired scores must have equal length: reference has {ref.size}, "
                         f"candidate has {cand.size}")
    if ref.size == 0:
        raise ValueError("need at least one paired item, got 0")
    if is_binary(ref) and is_binary(cand):
        b = int(np.sum((ref == 1.0) & (cand == 0.0)))
        c = int(np.sum((ref == 0.0) & (cand == 1.0)))
        return McNemarEvidence(b, c, int(ref.size))
    return SignFlipEvidence(ref - cand)


def agrees(evidence: Evidence, confidence: float) -> bool:
    """Whether p(0) and the interval at `confidence` tell the same story (always, by construction;
    the tests assert it over random inputs and levels)."""
    rejected = evidence.p_value(0.0) <= 1.0 - confidence
    return rejected == (not evidence.interval(confidence).contains(0.0))
