"""Tests for qlongbench.analysis.stats against independently computed reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from qlongbench.analysis import stats
from qlongbench.analysis.stats import (
    Interval,
    mean_interval,
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
