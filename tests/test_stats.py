"""Tests for qlongbench.analysis.stats against independently computed reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, norm

from qlongbench.analysis import stats
from qlongbench.analysis.stats import (
    Interval,
    PairedDrop,
    mcnemar_exact,
    mean_interval,
    min_detectable_drop,
    paired_bootstrap_drop,
    paired_difference_sd,
    samples_needed,
    wilson_interval,
)


def wilson_by_quadratic(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson bounds as the roots of (phat - p)^2 = z^2 p (1 - p) / n.

    A different derivation from the center/half-width form used in the module.
    """
    z = norm.ppf(1 - (1 - confidence) / 2)
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def mcnemar_by_binomial_sum(b: int, c: int) -> float:
    """Two-sided exact McNemar: twice the smaller binomial tail at p = 1/2, capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


# --------------------------------------------------------------------- Interval


def test_interval_contains_is_closed_and_width():
    iv = Interval(0.2, 0.5, 0.95)
    assert iv.contains(0.2) and iv.contains(0.5) and iv.contains(0.3)
    assert not iv.contains(0.19999) and not iv.contains(0.50001)
    assert iv.width == pytest.approx(0.3)


def test_interval_is_frozen():
    iv = Interval(0.0, 1.0, 0.9)
    with pytest.raises(Exception):
        iv.low = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    "low, high, confidence",
    [(0.6, 0.5, 0.95), (0.0, 1.0, 0.0), (0.0, 1.0, 1.0), (float("nan"), 1.0, 0.95)],
)
def test_interval_rejects_invalid(low, high, confidence):
    with pytest.raises(ValueError):
        Interval(low, high, confidence)


def test_dataclass_fields_have_docstrings():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(stats))
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        body = cls.body
        for i, node in enumerate(body):
            if isinstance(node, ast.AnnAssign):
                nxt = body[i + 1] if i + 1 < len(body) else None
                assert isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant), (
                    f"{cls.name}.{node.target.id} has no docstring"
                )


def test_module_does_not_import_torch():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(stats.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "numpy" in imported  # the walk does see imports
    assert "torch" not in imported


# ---------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_wilson_known_values(k, n, low, high):
    iv = wilson_interval(k, n)
    assert iv.low == pytest.approx(low, abs=1e-4)
    assert iv.high == pytest.approx(high, abs=1e-4)
    assert iv.confidence == 0.95


@pytest.mark.parametrize("k, n", [(0, 1), (1, 1), (3, 7), (17, 40), (999, 1000), (0, 5000)])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_wilson_matches_quadratic_roots(k, n, confidence):
    low, high = wilson_by_quadratic(k, n, confidence)
    iv = wilson_interval(k, n, confidence)
    assert iv.low == pytest.approx(low, abs=1e-12)
    assert iv.high == pytest.approx(high, abs=1e-12)


def test_wilson_bounds_are_exact_at_extremes():
    assert wilson_interval(0, 7).low == 0.0
    assert wilson_interval(7, 7).high == 1.0


def test_wilson_n_zero_is_uninformative():
    assert wilson_interval(0, 0, 0.9) == Interval(0.0, 1.0, 0.9)


def test_wilson_wider_at_higher_confidence():
    assert wilson_interval(30, 50, 0.99).width > wilson_interval(30, 50, 0.95).width > wilson_interval(30, 50, 0.8).width


@pytest.mark.parametrize(
    "args, match",
    [
        ((11, 10), "exceed"),
        ((-1, 10), ">= 0"),
        ((1, -1), ">= 0"),
        ((1.0, 10), "int"),
        ((1, 10.0), "int"),
        ((True, 10), "int"),
        ((1, 10, 0.0), "between 0 and 1"),
        ((1, 10, 1.0), "between 0 and 1"),
        ((1, 10, 95), "between 0 and 1"),
    ],
)
def test_wilson_validation(args, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(*args)


def test_wilson_accepts_numpy_ints():
    iv = wilson_interval(np.int64(8), np.int64(10))
    assert iv.low == pytest.approx(0.4902, abs=1e-4)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 10_000), data=st.data(), confidence=st.floats(0.5, 0.999))
def test_wilson_properties(n, data, confidence):
    k = data.draw(st.integers(0, n))
    iv = wilson_interval(k, n, confidence)
    assert 0.0 <= iv.low <= k / n <= iv.high <= 1.0
    assert iv.width > 0


# --------------------------------------------------------------------- McNemar


@pytest.mark.parametrize(
    "b, c, expected",
    [(1, 6, 0.125), (6, 1, 0.125), (0, 5, 0.0625), (3, 3, 1.0), (0, 0, 1.0), (0, 1, 1.0), (2, 10, 0.0385742)],
)
def test_mcnemar_known_values(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("b", range(0, 13, 3))
@pytest.mark.parametrize("c", range(0, 13, 4))
def test_mcnemar_matches_binomial_sum_and_scipy(b, c):
    p = mcnemar_exact(b, c)
    assert p == pytest.approx(mcnemar_by_binomial_sum(b, c), rel=1e-12)
    if b + c:
        assert p == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


@pytest.mark.parametrize("b, c", [(-1, 2), (2, -1), (1.5, 2), (1, None)])
def test_mcnemar_validation(b, c):
    with pytest.raises(ValueError):
        mcnemar_exact(b, c)


# ------------------------------------------------------- minimum detectable drop


def test_min_detectable_drop_formula_and_hard_value():
    expected = (norm.ppf(0.975) + norm.ppf(0.8)) * math.sqrt(2 * 0.5 * 0.5 / 50)
    got = min_detectable_drop(50, 0.5)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(0.28016, abs=1e-5)


@pytest.mark.parametrize("n, p, alpha, power", [(200, 0.8, 0.05, 0.8), (30, 0.3, 0.01, 0.9), (1000, 0.95, 0.1, 0.5)])
def test_min_detectable_drop_general(n, p, alpha, power):
    expected = (norm.ppf(1 - alpha / 2) + norm.ppf(power)) * math.sqrt(2 * p * (1 - p) / n)
    assert min_detectable_drop(n, p, alpha=alpha, power=power) == pytest.approx(expected, rel=1e-12)


def test_min_detectable_drop_shrinks_with_n():
    assert min_detectable_drop(400, 0.5) == pytest.approx(min_detectable_drop(100, 0.5) / 2, rel=1e-12)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_min_detectable_drop_degenerate_baseline_is_finite_positive(p):
    n = 50
    got = min_detectable_drop(n, p)
    clamped = 0.5 / n
    expected = (norm.ppf(0.975) + norm.ppf(0.8)) * math.sqrt(2 * clamped * (1 - clamped) / n)
    assert math.isfinite(got) and got > 0
    assert got == pytest.approx(expected, rel=1e-12)


def test_min_detectable_drop_single_item():
    # n=1 clamps p to 0.5 whatever the baseline.
    assert min_detectable_drop(1, 1.0) == pytest.approx(min_detectable_drop(1, 0.5), rel=1e-12)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((0, 0.5), {}),
        ((-3, 0.5), {}),
        ((10.0, 0.5), {}),
        ((10, 1.5), {}),
        ((10, -0.1), {}),
        ((10, 0.5), {"alpha": 0.0}),
        ((10, 0.5), {"power": 1.0}),
    ],
)
def test_min_detectable_drop_validation(args, kwargs):
    with pytest.raises(ValueError):
        min_detectable_drop(*args, **kwargs)


# -------------------------------------------------------------- samples needed


def test_samples_needed_hard_value():
    # (1.959964 * 0.3 / 0.03)^2 = 384.15 -> 385
    assert samples_needed(0.05, 0.02, 0.3) == 385


@pytest.mark.parametrize(
    "drop, tol, sd, conf", [(0.10, 0.05, 0.4, 0.95), (0.0, 0.03, 0.2, 0.9), (-0.02, 0.01, 0.5, 0.99)]
)
def test_samples_needed_formula(drop, tol, sd, conf):
    z = norm.ppf(1 - (1 - conf) / 2)
    n = samples_needed(drop, tol, sd, confidence=conf)
    assert n == math.ceil((z * sd / abs(drop - tol)) ** 2)
    # n items give a half-width no larger than the gap; n - 1 would not.
    assert z * sd / math.sqrt(n) <= abs(drop - tol) + 1e-12
    assert n == 1 or z * sd / math.sqrt(n - 1) > abs(drop - tol)


def test_samples_needed_undecidable_cases():
    assert samples_needed(0.05, 0.05, 0.3) is None
    assert samples_needed(0.05, 0.02, 0.0) is None


def test_samples_needed_at_least_one():
    assert samples_needed(0.9, 0.0, 0.01) == 1


@pytest.mark.parametrize(
    "args, kwargs",
    [((0.1, 0.0, -0.1), {}), ((float("nan"), 0.0, 0.1), {}), ((0.1, 0.0, 0.1), {"confidence": 1.0})],
)
def test_samples_needed_validation(args, kwargs):
    with pytest.raises(ValueError):
        samples_needed(*args, **kwargs)


# ------------------------------------------------------------ paired bootstrap


def _binary(n_correct: int, n: int) -> list[float]:
    return [1.0] * n_correct + [0.0] * (n - n_correct)


def test_bootstrap_returns_typed_result_with_point_estimates():
    ref = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1]
    cand = [1, 0, 1, 0, 1, 1, 0, 1, 0, 0]
    r = paired_bootstrap_drop(ref, cand, n_resamples=2000)
    assert isinstance(r, PairedDrop)
    assert r.n == 10
    assert r.reference_mean == pytest.approx(0.7)
    assert r.candidate_mean == pytest.approx(0.5)
    assert r.drop == pytest.approx(0.2)
    assert r.relative_drop == pytest.approx(0.2 / 0.7)
    assert (r.discordant_ref_only, r.discordant_cand_only) == (3, 1)
    assert r.mcnemar_p == pytest.approx(0.625)
    assert r.interval.contains(r.drop)
    assert r.relative_interval is not None and r.relative_interval.contains(r.relative_drop)
    assert r.interval.confidence == 0.95
    assert r.min_detectable_drop == pytest.approx(min_detectable_drop(10, 0.7), rel=1e-9)


def test_bootstrap_is_deterministic_for_a_seed_and_varies_across_seeds():
    rng = np.random.default_rng(123)
    ref = rng.random(60)
    cand = np.clip(ref - rng.normal(0.05, 0.1, 60), 0, 1)
    a = paired_bootstrap_drop(ref, cand, seed=7)
    b = paired_bootstrap_drop(list(ref), list(cand), seed=7)
    c = paired_bootstrap_drop(ref, cand, seed=8)
    assert a == b
    assert a.interval != c.interval


def test_bootstrap_identical_vectors_give_zero_interval():
    scores = [1, 0, 1, 1, 0, 0.5, 0.25]
    r = paired_bootstrap_drop(scores, scores)
    assert r.drop == 0.0
    assert (r.interval.low, r.interval.high) == (0.0, 0.0)
    assert r.within_noise is True
    assert r.relative_drop == 0.0


def test_bootstrap_clear_drop_is_not_within_noise():
    r = paired_bootstrap_drop(_binary(20, 20), _binary(0, 20))
    assert r.drop == 1.0
    assert r.within_noise is False
    assert (r.interval.low, r.interval.high) == (1.0, 1.0)
    assert r.mcnemar_p == pytest.approx(2 / 2**20)
    assert (r.discordant_ref_only, r.discordant_cand_only) == (20, 0)


def test_bootstrap_small_noisy_drop_is_within_noise():
    # One discordant item out of 30: nothing is demonstrated.
    ref = _binary(15, 30)
    cand = list(ref)
    cand[0] = 0.0
    r = paired_bootstrap_drop(ref, cand)
    assert r.drop == pytest.approx(1 / 30)
    assert r.within_noise is True
    assert r.mcnemar_p == 1.0


def test_bootstrap_single_item_is_degenerate_at_the_value():
    r = paired_bootstrap_drop([0.75], [0.25])
    assert r.n == 1
    assert (r.interval.low, r.interval.high) == (0.5, 0.5)
    assert r.relative_interval is not None
    assert r.relative_interval.low == pytest.approx(2 / 3) and r.relative_interval.high == pytest.approx(2 / 3)
    assert r.mcnemar_p is None


def test_bootstrap_width_shrinks_like_inverse_sqrt_n():
    # Repeating a fixed 10-item pattern keeps the per-item variance fixed.
    ref_pat = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1]
    cand_pat = [1, 0, 1, 0, 1, 1, 0, 1, 0, 0]
    small = paired_bootstrap_drop(ref_pat * 5, cand_pat * 5, seed=1)
    large = paired_bootstrap_drop(ref_pat * 80, cand_pat * 80, seed=1)
    ratio = small.interval.width / large.interval.width
    assert 3.2 < ratio < 4.8  # sqrt(800/50) = 4


def test_bootstrap_agrees_with_normal_approximation_for_large_n():
    rng = np.random.default_rng(5)
    ref = (rng.random(2000) < 0.7).astype(float)
    cand = np.where(rng.random(2000) < 0.1, 1 - ref, ref)
    r = paired_bootstrap_drop(ref, cand)
    half = norm.ppf(0.975) * np.std(ref - cand, ddof=1) / math.sqrt(2000)
    # 5% of the half-width is far above Monte Carlo error here but well below
    # the 14% a 97.5% interval mislabelled as 95% would add.
    assert r.interval.low == pytest.approx(r.drop - half, abs=0.05 * half)
    assert r.interval.high == pytest.approx(r.drop + half, abs=0.05 * half)


def test_bootstrap_confidence_widens_interval():
    ref = _binary(30, 50)
    cand = _binary(22, 50)
    narrow = paired_bootstrap_drop(ref, cand, confidence=0.8)
    wide = paired_bootstrap_drop(ref, cand, confidence=0.99)
    assert wide.interval.width > narrow.interval.width
    assert wide.interval.confidence == 0.99


def test_bootstrap_non_binary_scores_have_no_mcnemar():
    r = paired_bootstrap_drop([0.9, 0.8, 1.0, 0.7], [0.6, 0.8, 1.0, 0.5])
    assert r.mcnemar_p is None
    assert (r.discordant_ref_only, r.discordant_cand_only) == (0, 0)
    assert r.drop == pytest.approx(0.125)


def test_bootstrap_relative_interval_resamples_ref_and_drop_together():
    # A candidate that scores 0 everywhere loses exactly 100% on every resample,
    # which only holds if the numerator and denominator share the same draw.
    r = paired_bootstrap_drop([1, 0.5, 0, 1, 0.25, 0, 1], [0] * 7, n_resamples=2000)
    assert r.relative_drop == pytest.approx(1.0)
    assert r.relative_interval is not None
    assert r.relative_interval.low == pytest.approx(1.0) and r.relative_interval.high == pytest.approx(1.0)


def test_bootstrap_zero_reference_has_no_relative_drop():
    r = paired_bootstrap_drop([0, 0, 0], [0, 1, 0])
    assert r.relative_drop is None and r.relative_interval is None
    assert r.drop == pytest.approx(-1 / 3)
    assert math.isfinite(r.min_detectable_drop) and r.min_detectable_drop > 0


def test_bootstrap_candidate_better_gives_negative_drop():
    r = paired_bootstrap_drop(_binary(0, 20), _binary(20, 20))
    assert r.drop == -1.0
    assert r.interval.high < 0


def test_bootstrap_large_task_memory_is_bounded():
    # 20k items x 2k resamples is ~1 GB of indices and gathered scores if
    # built in one piece; resampling in chunks keeps it to about 100 MB.
    import tracemalloc

    rng = np.random.default_rng(0)
    ref = (rng.random(20_000) < 0.6).astype(float)
    cand = ref[::-1].copy()
    tracemalloc.start()
    try:
        r = paired_bootstrap_drop(ref, cand, n_resamples=2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.n == 20_000 and r.interval.width < 0.03
    assert peak < 256 * 2**20


@pytest.mark.parametrize(
    "ref, cand, kwargs, match",
    [
        ([], [], {}, "at least one"),
        ([1, 0, 1], [1, 0], {}, "3.*2"),
        ([1, 2], [1, 0], {}, r"\[0, 1\]"),
        ([1, 0], [1, -0.5], {}, r"\[0, 1\]"),
        ([1, float("nan")], [1, 0], {}, "non-finite"),
        ([[1, 0]], [[1, 0]], {}, "1-D"),
        ([1, 0], [1, 0], {"confidence": 1.5}, "between 0 and 1"),
        ([1, 0], [1, 0], {"n_resamples": 0}, "n_resamples"),
        ([1, 0], [1, 0], {"seed": -1}, "seed"),
    ],
)
def test_bootstrap_validation(ref, cand, kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap_drop(ref, cand, **kwargs)


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([0.0, 0.5, 1.0])), min_size=1, max_size=40
    ),
    seed=st.integers(0, 2**32),
)
def test_bootstrap_properties(pairs, seed):
    ref = [p[0] for p in pairs]
    cand = [p[1] for p in pairs]
    r = paired_bootstrap_drop(ref, cand, n_resamples=300, seed=seed)
    assert -1.0 <= r.interval.low <= r.interval.high <= 1.0
    assert r.drop == pytest.approx(r.reference_mean - r.candidate_mean)
    assert r.within_noise == (r.interval.low <= 0.0 <= r.interval.high)
    swapped = paired_bootstrap_drop(cand, ref, n_resamples=300, seed=seed)
    assert swapped.interval.low == pytest.approx(-r.interval.high, abs=1e-12)
    assert swapped.interval.high == pytest.approx(-r.interval.low, abs=1e-12)
    assert swapped.discordant_ref_only == r.discordant_cand_only


# ------------------------------------------------------------------ helpers


def test_paired_difference_sd():
    ref = [1, 1, 0, 1]
    cand = [0, 1, 0, 1]
    assert paired_difference_sd(ref, cand) == pytest.approx(np.std([1, 0, 0, 0], ddof=1))
    assert paired_difference_sd([1], [0]) == 0.0
    with pytest.raises(ValueError, match="4.*3"):
        paired_difference_sd(ref, cand[:3])


def test_mean_interval_basic():
    rng = np.random.default_rng(3)
    values = rng.beta(2, 5, 400)
    iv = mean_interval(values)
    assert iv.contains(float(values.mean()))
    half = norm.ppf(0.975) * values.std(ddof=1) / math.sqrt(400)
    assert iv.width == pytest.approx(2 * half, rel=0.15)
    assert mean_interval(values, seed=0) == iv
    assert mean_interval(values, seed=1) != iv


def test_mean_interval_constant_and_single():
    const = mean_interval([0.1] * 7)
    assert const.width == 0.0 and const.low == pytest.approx(0.1, abs=1e-15)
    assert mean_interval([0.3]) == Interval(0.3, 0.3, 0.95)


@pytest.mark.parametrize("values, match", [([], "at least one"), ([0.1, float("inf")], "non-finite")])
def test_mean_interval_validation(values, match):
    with pytest.raises(ValueError, match=match):
        mean_interval(values)
