"""tasks/kld_estimate.py: full-vocabulary KL from top-k + sampled-tail reference records."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

from qlongbench.tasks.kld_estimate import (
    TailSampledRef,
    estimate_kl,
    kl_full,
    kl_sampled_tail,
    mean_with_se,
    record_bytes_per_position,
    reduce_reference,
)


def _pair(n: int, vocab: int, noise: float, seed: int = 0, temp: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, vocab)) * temp
    ref = log_softmax(logits, axis=1)
    cand = log_softmax(logits + noise * rng.standard_normal((n, vocab)), axis=1)
    return ref.astype(np.float32), cand.astype(np.float32)


def _bucket_bound(ref: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """The top-k + one tail bucket KL of tasks/kld.py, written out independently."""
    out = []
    for lp, lq in zip(ref.astype(np.float64), cand.astype(np.float64)):
        top = np.argsort(-lp)[:k]
        rest = np.setdiff1d(np.arange(len(lp)), top)
        p, q = np.exp(lp), np.exp(lq)
        v = float(np.sum(p[top] * (lp[top] - lq[top])))
        if len(rest):
            pt, qt = p[rest].sum(), q[rest].sum()
            v += pt * np.log(pt / qt)
        out.append(v)
    return np.array(out)


# --- exactness where nothing is sampled -------------------------------------------------------------
@pytest.mark.parametrize("vocab,k,m,noise", [
    (40, 40, 0, 0.3),    # k = V: the record is the whole distribution
    (40, 40, 8, 0.3),    # k = V with draws requested: nothing to draw from
    (40, 64, 4, 1.0),    # k > V is clipped to V
    (300, 7, 0, 0.5),    # m = 0: exactly the bucket bound
    (300, 1, 0, 2.0),
])
def test_exact_cases(vocab, k, m, noise):
    ref, cand = _pair(6, vocab, noise)
    rec = reduce_reference(ref, k, m, np.random.default_rng(1))
    est = estimate_kl(rec, cand)
    want = kl_full(ref, cand) if k >= vocab else _bucket_bound(ref, cand, k)
    np.testing.assert_allclose(est.kl, want, rtol=1e-5, atol=1e-8)  # float32 record
    np.testing.assert_allclose(est.bound, _bucket_bound(ref, cand, min(k, vocab)), rtol=1e-5, atol=1e-8)
    assert np.all(est.kl_var == 0)


@pytest.mark.parametrize("k,m,scheme", [(3, 16, "iid"), (3, 16, "systematic"), (1, 2, "iid")])
def test_identical_distributions_give_zero(k, m, scheme):
    ref, _ = _pair(5, 100, 0.0)
    est = estimate_kl(reduce_reference(ref, k, m, np.random.default_rng(0), scheme), ref.copy())
    np.testing.assert_allclose(est.kl, 0.0, atol=1e-7)
    np.testing.assert_allclose(est.kl_var, 0.0, atol=1e-12)
    assert est.top1_agree.all() and np.allclose(est.delta_p, 0.0)


# --- the arithmetic, by hand ----------------------------------------------------------------------
def test_hand_computed_row():
    # V = 4, p = [.5, .25, .125, .125], top-2 kept, tail {2, 3} with P_tail = .25 (π = [.5, .5]).
    p = np.array([0.5, 0.25, 0.125, 0.125])
    q = np.array([0.4, 0.3, 0.2, 0.1])
    lp, lq = np.log(p), np.log(q)
    # Draws: token 2 twice. r = log(π2/ρ2) = log(.5 / (2/3)); term = r + e^{-r} - 1.
    r = np.log(0.5 / (0.2 / 0.3))
    want = 0.5 * np.log(0.5 / 0.4) + 0.25 * np.log(0.25 / 0.3) + 0.25 * np.log(0.25 / 0.3) \
        + 0.25 * (r + np.exp(-r) - 1)
    est = kl_sampled_tail(lp[None, :2], np.log([0.25]), lq[None, :2], np.log([0.3]),
                          lp[None, [2, 2]], lq[None, [2, 2]])
    np.testing.assert_allclose(est.kl, [want], rtol=1e-12)
    np.testing.assert_allclose(est.kl_var, [0.0], atol=1e-15)  # two equal draws: no spread
    # The plain estimator uses r alone.
    plain = kl_sampled_tail(lp[None, :2], np.log([0.25]), lq[None, :2], np.log([0.3]),
                            lp[None, [2, 2]], lq[None, [2, 2]], control_variate=False)
    np.testing.assert_allclose(plain.kl, [want - 0.25 * (np.exp(-r) - 1)], rtol=1e-12)
    # One draw of each tail token: the estimate is the exact full KL.
    both = kl_sampled_tail(lp[None, :2], np.log([0.25]), lq[None, :2], np.log([0.3]),
                           lp[None, [2, 3]], lq[None, [2, 3]])
    np.testing.assert_allclose(both.kl, kl_full(lp[None], lq[None]), rtol=1e-12)
    np.testing.assert_allclose(both.delta_p, [0.5 - 0.4])


@pytest.mark.parametrize("tail_size", [2, 5, 16])
def test_systematic_over_uniform_tail_is_exact(tail_size):
    # A tail with equal probabilities and m = tail size: systematic sampling takes every token once.
    vocab = 4 + tail_size
    lp = np.log(np.r_[[0.4, 0.2, 0.1, 0.1], np.full(tail_size, 0.2 / tail_size)])[None]
    lq = log_softmax(np.log(np.exp(lp)) + np.random.default_rng(3).standard_normal((1, vocab)), axis=1)
    rec = reduce_reference(lp, 4, tail_size, np.random.default_rng(0), "systematic")
    assert sorted(rec.sample_indices[0].tolist()) == list(range(4, vocab))
    np.testing.assert_allclose(estimate_kl(rec, lq).kl, kl_full(lp, lq), rtol=1e-6)


# --- the reference record ---------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["iid", "systematic"])
def test_record_contents(scheme):
    ref, _ = _pair(8, 500, 0.0)
    rec = reduce_reference(ref, 10, 12, np.random.default_rng(5), scheme)
    assert rec.indices.shape == (8, 10) and rec.sample_indices.shape == (8, 12)
    assert rec.indices.dtype == np.int32 and rec.sample_indices.dtype == np.int32
    assert rec.logprobs.dtype == np.float32 and rec.sample_logprobs.dtype == np.float32
    for i in range(8):
        assert rec.indices[i, 0] == np.argmax(ref[i])
        assert np.all(np.diff(rec.logprobs[i]) <= 0)
        assert not set(rec.sample_indices[i]) & set(rec.indices[i])  # draws come from the tail only
        np.testing.assert_array_equal(rec.sample_logprobs[i], ref[i, rec.sample_indices[i]])
        tail = np.setdiff1d(np.arange(500), rec.indices[i])
        np.testing.assert_allclose(np.exp(rec.tail_logmass[i]), np.exp(ref[i, tail].astype(np.float64)).sum(),
                                   rtol=1e-5)
    assert rec.nbytes == 8 * record_bytes_per_position(10, 12)
    assert record_bytes_per_position(32, 32) == 516


def test_iid_draws_follow_the_renormalised_tail():
    lp = log_softmax(np.array([[5.0, 4.0, 1.0, 0.5, 0.0, -1.0]]), axis=1)
    rec = reduce_reference(lp, 2, 40000, np.random.default_rng(0), "iid")
    freq = np.bincount(rec.sample_indices[0], minlength=6)[2:] / 40000
    pi = np.exp(lp[0, 2:]) / np.exp(lp[0, 2:]).sum()
    np.testing.assert_allclose(freq, pi, atol=0.01)


# --- unbiasedness and the variance estimate --------------------------------------------------------
@pytest.mark.parametrize("k,m,scheme,noise", [
    (4, 4, "iid", 0.5),
    (4, 4, "systematic", 0.5),
    (1, 8, "iid", 1.5),
    (16, 2, "iid", 0.2),
])
def test_unbiased_and_variance_estimate(k, m, scheme, noise):
    ref1, cand1 = _pair(1, 200, noise, seed=7)
    reps = 4000
    ref, cand = np.repeat(ref1, reps, axis=0), np.repeat(cand1, reps, axis=0)
    est = estimate_kl(reduce_reference(ref, k, m, np.random.default_rng(11), scheme), cand)
    truth = kl_full(ref1, cand1)[0]
    mean, mc_se, tot_se = mean_with_se(est)
    emp_se = est.kl.std(ddof=1) / np.sqrt(reps)
    assert abs(mean - truth) < 4 * emp_se + 1e-12, (mean, truth, emp_se)
    assert np.all(est.kl >= est.bound - 1e-12)
    assert est.bound[0] < truth  # the old figure really is low here
    np.testing.assert_allclose(tot_se, emp_se, rtol=1e-9)
    if scheme == "iid":  # the per-draw variance estimate is right on average
        assert 0.85 < mc_se / emp_se < 1.15, (mc_se, emp_se)
    else:  # systematic: the iid-style variance estimate is conservative
        assert mc_se >= 0.9 * emp_se


def test_control_variate_reduces_noise():
    ref1, cand1 = _pair(1, 300, 0.3, seed=2)
    ref, cand = np.repeat(ref1, 2000, axis=0), np.repeat(cand1, 2000, axis=0)
    rec = reduce_reference(ref, 8, 8, np.random.default_rng(0))
    cv = estimate_kl(rec, cand, control_variate=True)
    plain = estimate_kl(rec, cand, control_variate=False)
    assert cv.kl.std() < 0.5 * plain.kl.std()
    assert (plain.kl < plain.bound).any() and not (cv.kl < cv.bound - 1e-12).any()


# --- guards ------------------------------------------------------------------------------------------
def test_underflowed_candidate_is_finite():
    ref, cand = _pair(3, 50, 0.5)
    cand = cand.copy()
    cand[:, :] = -np.inf
    cand[:, 0] = 0.0
    est = estimate_kl(reduce_reference(ref, 4, 4, np.random.default_rng(0)), cand)
    assert np.all(np.isfinite(est.kl)) and np.all(est.kl > 10)


def test_errors():
    ref, cand = _pair(3, 50, 0.5)
    rec = reduce_reference(ref, 4, 4, np.random.default_rng(0))
    with pytest.raises(ValueError):
        estimate_kl(rec, cand[:2])
    with pytest.raises(ValueError):
        reduce_reference(ref, 4, 4, np.random.default_rng(0), "stratified")
    with pytest.raises(ValueError):
        mean_with_se(estimate_kl(rec.rows(slice(0, 0)), cand[:0]))


def test_rows_slices_every_field():
    ref, _ = _pair(5, 60, 0.0)
    rec = reduce_reference(ref, 3, 2, np.random.default_rng(0))
    sub = rec.rows(slice(1, 3))
    assert isinstance(sub, TailSampledRef) and sub.k == 3 and sub.m == 2
    np.testing.assert_array_equal(sub.sample_indices, rec.sample_indices[1:3])
