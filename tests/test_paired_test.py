"""The exact paired tests (analysis.paired_test), Holm (analysis.multiplicity) and the minimum
detectable drop (analysis.power), against independent computations: brute-force enumeration of
the trinomial sample space, exact validity and coverage sums, and the agreement of every verdict
with its interval."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multinomial

from qlongbench.analysis.multiplicity import holm
from qlongbench.analysis.paired_test import (
    McNemarEvidence, SignFlipEvidence, agrees, paired_evidence, tango_z, unconditional_tail,
)
from qlongbench.analysis.power import binary_power, critical_z, min_detectable_binary, min_detectable_graded


def brute_tail(n: int, b: int, c: int, delta0: float, psis: int = 801) -> float:
    """sup over a fine ψ grid of P(Z ≥ z_obs), summing the multinomial over every outcome."""
    z_obs = tango_z(np.array(b), np.array(c), n, delta0)
    outcomes = [(bb, cc) for bb in range(n + 1) for cc in range(n + 1 - bb)
                if tango_z(np.array(bb), np.array(cc), n, delta0) >= z_obs - 1e-12]
    best = 0.0
    for psi in np.linspace(max(abs(delta0), 1e-6), 1.0, psis):
        p10, p01 = (psi + delta0) / 2, (psi - delta0) / 2
        best = max(best, sum(multinomial.pmf([bb, cc, n - bb - cc], n, [p10, p01, max(0.0, 1 - p10 - p01)])
                             for bb, cc in outcomes))
    return best


# --- the statistic and the unconditional tail -------------------------------------------------------
def test_tango_statistic_is_mcnemar_at_zero_and_rises_with_losses():
    assert float(tango_z(np.array(13), np.array(3), 50, 0.0)) == pytest.approx(10 / math.sqrt(16))
    assert float(tango_z(np.array(0), np.array(0), 50, 0.0)) == 0.0
    for n in (5, 20, 60):
        for delta0 in np.linspace(-0.95, 0.95, 19):
            for m in range(n + 1):
                b = np.arange(m + 1)
                assert np.all(np.diff(tango_z(b, m - b, n, delta0)) >= -1e-9), (n, delta0, m)


@pytest.mark.parametrize("n, b, c, delta0", [(10, 4, 0, 0.0), (10, 3, 1, 0.1), (12, 2, 2, -0.2), (8, 5, 0, 0.3),
                                             (9, 0, 0, 0.0), (7, 1, 3, -0.1)])
def test_unconditional_tail_matches_brute_force(n, b, c, delta0):
    got = McNemarEvidence(b, c, n).tail(delta0, "greater")
    assert got == pytest.approx(brute_tail(n, b, c, delta0), abs=2e-4)


def test_the_lower_tail_is_the_mirror_of_the_upper():
    e, mirror = McNemarEvidence(5, 2, 30), McNemarEvidence(2, 5, 30)
    for delta0 in (-0.2, 0.0, 0.1):
        assert e.tail(delta0, "less") == pytest.approx(mirror.tail(-delta0, "greater"), rel=1e-9)


@pytest.mark.parametrize("n", [6, 10, 15])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_the_p_value_is_exact_under_every_discordance(n, alpha):
    """P(p ≤ α) ≤ α at Δ = 0 for every ψ, summed exactly over the sample space."""
    pvals = {(b, c): McNemarEvidence(b, c, n).p_value() for b in range(n + 1) for c in range(n + 1 - b)}
    for psi in (0.05, 0.2, 0.5, 0.9, 1.0):
        size = sum(multinomial.pmf([b, c, n - b - c], n, [psi / 2, psi / 2, 1 - psi])
                   for (b, c), p in pvals.items() if p <= alpha)
        assert size <= alpha + 1e-9, (psi, size)


@pytest.mark.parametrize("p10, p01", [(0.1, 0.1), (0.3, 0.05), (0.05, 0.25), (0.4, 0.0)])
def test_interval_coverage_is_at_least_nominal(p10, p01):
    n, conf = 12, 0.9
    cover = 0.0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            iv = McNemarEvidence(b, c, n).interval(conf)
            if iv.contains(p10 - p01):
                cover += multinomial.pmf([b, c, n - b - c], n, [p10, p01, 1 - p10 - p01])
    assert cover >= conf - 1e-3


CASES = [  # b, c, n, two-sided p bound, drop interval at 95 % must contain / exclude 0
    (13, 3, 50, 0.02, "excludes"),     # 13 lost, 3 gained: worse
    (0, 0, 50, 1.0, "contains"),       # identical answers
    (4, 0, 8, 0.05, "contains"),       # eight items cannot say much (p 0.07)
    (6, 0, 8, 0.02, "excludes"),       # unless every change goes one way
    (3, 3, 40, 1.0, "contains"),
    (0, 9, 30, 0.01, "excludes"),      # the candidate is better
]


@pytest.mark.parametrize("b, c, n, p_bound, zero", CASES)
def test_binary_table(b, c, n, p_bound, zero):
    e = McNemarEvidence(b, c, n)
    p = e.p_value()
    assert (p <= p_bound) if zero == "excludes" else (p >= p_bound - 1e-9)
    iv = e.interval(0.95)
    assert iv.contains(e.estimate)
    assert (not iv.contains(0.0)) == (zero == "excludes")


@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 40), data=st.data(), confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99, 0.995, 0.9987]))
def test_binary_verdict_and_interval_never_disagree(n, data, confidence):
    b = data.draw(st.integers(0, n))
    c = data.draw(st.integers(0, n - b))
    assert agrees(McNemarEvidence(b, c, n), confidence)


def test_the_unconditional_test_is_more_powerful_than_the_conditional_one_where_it_should_be():
    # 4 lost, none gained of 50: the conditional binomial test gives 0.125; the exact unconditional
    # test uses that only 4 of 50 changed at all (Suissa & Shuster 1991)
    assert McNemarEvidence(4, 0, 50).p_value() < 0.05


def test_one_sided_p_values_at_a_tolerance_agree_with_the_interval():
    e = McNemarEvidence(3, 2, 200)
    iv = e.interval(0.90)  # one-sided 95 % bounds
    assert e.p_value(iv.high + 0.003, "less") <= 0.05 < e.p_value(iv.high - 0.003, "less")
    assert e.p_value(iv.low - 0.003, "greater") <= 0.05 < e.p_value(iv.low + 0.003, "greater")


@pytest.mark.parametrize("b, c, n", [(-1, 0, 5), (3, 3, 5), (0, 0, 0)])
def test_mcnemar_refuses_counts_that_do_not_fit(b, c, n):
    with pytest.raises(ValueError):
        McNemarEvidence(b, c, n)


# --- sign-flip ---------------------------------------------------------------------------------------
def brute_sign_flip(d: np.ndarray, delta0: float) -> float:
    """Two-sided central p of H0 mean = delta0 by enumerating every sign vector of d − delta0."""
    e = d - delta0
    obs = e.mean()
    stats_ = [np.mean(np.array(s) * e) for s in itertools.product((1, -1), repeat=len(d))]
    ge = np.mean([t >= obs - 1e-12 for t in stats_])
    le = np.mean([t <= obs + 1e-12 for t in stats_])
    return min(1.0, 2 * min(ge, le))


@pytest.mark.parametrize("d", [[0.3, 0.2, 0.5, 0.1, 0.4], [0.3, -0.2, 0.05, 0.0, 0.1, -0.1], [0.0] * 5,
                               [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]])
@pytest.mark.parametrize("delta0", [0.0, 0.1, -0.05])
def test_sign_flip_matches_enumeration(d, delta0):
    d = np.array(d)
    assert SignFlipEvidence(d).p_value(delta0) == pytest.approx(brute_sign_flip(d, delta0), abs=1e-12)


def test_sign_flip_interval_is_the_set_of_kept_shifts():
    d = np.array([0.3, -0.2, 0.05, 0.1, 0.2, 0.15, -0.05, 0.25])
    e = SignFlipEvidence(d)
    iv = e.interval(0.9)
    grid = np.linspace(-1, 1, 4001)
    kept = grid[[brute_sign_flip(d, g) > 0.1 for g in grid]]
    assert iv.low == pytest.approx(kept.min(), abs=1e-3) and iv.high == pytest.approx(kept.max(), abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=30),
       st.sampled_from([0.9, 0.95, 0.99, 0.998]))
def test_graded_verdict_and_interval_never_disagree(values, confidence):
    assert agrees(SignFlipEvidence(np.array(values)), confidence)


def test_monte_carlo_sign_flip_p_is_never_zero_and_is_seeded():
    rng = np.random.default_rng(3)
    d = rng.normal(0.2, 0.1, 40)
    e = SignFlipEvidence(d)
    assert e.method.startswith("sign-flip (20,000") and 0 < e.p_value() <= 2 / 20_001
    assert SignFlipEvidence(d).p_value() == e.p_value()


def test_paired_evidence_chooses_the_test_by_score_type():
    assert isinstance(paired_evidence([1, 0, 1], [1, 1, 0]), McNemarEvidence)
    assert isinstance(paired_evidence([1, 0.5, 1], [1, 1, 0]), SignFlipEvidence)
    with pytest.raises(ValueError):
        paired_evidence([1, 0], [1])
    with pytest.raises(ValueError):
        paired_evidence([1.5], [1])


# --- Holm ----------------------------------------------------------------------------------------------
HOLM = [  # raw p, alpha, adjusted, levels
    ([0.01, 0.04, 0.03, 0.5], 0.05, [0.04, 0.09, 0.09, 0.5], [0.0125, 0.05 / 3, 0.05 / 3, 0.05 / 3]),
    ([0.001, 0.01, 0.02], 0.05, [0.003, 0.02, 0.02], [0.05 / 3, 0.025, 0.05]),
    ([0.2], 0.05, [0.2], [0.05]),
    ([0.6, 0.6], 0.05, [1.0, 1.0], [0.025, 0.025]),
]


@pytest.mark.parametrize("p, alpha, adjusted, levels", HOLM)
def test_holm_table(p, alpha, adjusted, levels):
    out = holm(p, alpha)
    assert [a.p_adjusted for a in out] == pytest.approx(adjusted)
    assert [a.level for a in out] == pytest.approx(levels)
    assert all(a.family_size == len(p) for a in out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_levels_agree_with_adjusted_p(p, alpha):
    for a in holm(p, alpha):
        assert (a.p_adjusted <= alpha) == (a.p_value <= a.level)
        assert a.p_value <= a.p_adjusted <= 1.0


# --- power -------------------------------------------------------------------------------------------
def test_critical_z_is_where_the_exact_test_starts_to_reject():
    for n, level in ((20, 0.05), (50, 0.05 / 9)):
        z = critical_z(n, level)
        assert unconditional_tail(n, 0.0, z, "greater") <= level / 2
        below = [v for v in np.unique(tango_z(np.arange(n + 1), np.zeros(n + 1), n, 0.0)) if 0 < v < z]
        assert all(unconditional_tail(n, 0.0, float(v), "greater") > level / 2 for v in below)
    assert critical_z(8, 0.05 / 9) is None  # eight items cannot reach a family level of 0.0056


def test_minimum_detectable_drop_is_where_power_reaches_80_percent():
    for n, bg, level in ((50, 0.0, 0.05), (50, 0.1, 0.05 / 9), (200, 0.2, 0.01)):
        mdd = min_detectable_binary(n, bg, level)
        assert binary_power(n, mdd, bg, level) >= 0.8 > binary_power(n, 0.97 * mdd, bg, level)
    assert min_detectable_binary(8, 0.0, 0.05 / 9) is None
    assert min_detectable_graded(1, 0.3, 0.05) is None and min_detectable_graded(50, 0.0, 0.05) is None
    assert min_detectable_graded(50, 0.2, 0.05) == pytest.approx(2.8016 * 0.2 / math.sqrt(50), rel=1e-3)
