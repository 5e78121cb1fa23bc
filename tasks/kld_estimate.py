"""Full-vocabulary KL(ref‖cand) from a compact reference record: top-k + sampled tail.

tasks/kld.py keeps the reference's top-k log-probs and one tail bucket per position and reports
KL over those k + 1 outcomes: a lower bound that reads 17-27 % low on a 49K-vocabulary model
(a third of the reference's mass sits in the tail). This module keeps the same top-k part and adds
m token ids drawn from the reference's *renormalised* tail π_i = p_i / P_tail (i outside the top-k)
with their reference log-probs. With the candidate's full log-probs q the KL splits exactly as

    KL(p‖q) = Σ_top p_i log(p_i/q_i) + P_tail log(P_tail/Q_tail) + P_tail · KL(π‖ρ),  ρ_i = q_i/Q_tail,

where the first two terms are the old bound (computed exactly) and the last is estimated from the
m draws x_j ~ π with the control-variate ("k3") form

    KL(π‖ρ) = E_π[ r + e^{-r} − 1 ],  r = log π(x) − log ρ(x),

(E_π[e^{-r}] = Σ ρ_i = 1 over the tail), which is unbiased, never negative per draw (so the estimate
never falls below the bound) and second-order small when ρ ≈ π, so it has far lower variance
than the plain E_π[r]. Its per-position variance is estimated from the m draws and returned, so a
mean over N positions carries a Monte-Carlo standard error sqrt(Σ var_i) / N.

Top-1 agreement and Δp (p_ref(ref top-1) − p_cand(ref top-1)) are computed exactly as in
tasks/kld.py: they only need the reference's top-1 id and log-prob.

Pure numpy; no engine, file or qlongbench import, so tasks/kld.py can plug it in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_FLOOR = -1.0e4
"""Candidate log-probs are clamped here (as in tasks/kld.py): an underflowed candidate gives a large,
finite KL."""
MAX_EXP = 60.0
"""e^{-r} is evaluated with -r clipped here, so one absurd draw cannot overflow to inf."""
SCHEMES = ("iid", "systematic")


@dataclass(frozen=True)
class TailSampledRef:
    """The reference's next-token distributions, reduced to what an unbiased full-vocabulary KL needs."""

    indices: np.ndarray
    """[n, k] int32 top-k token ids, most probable first (index 0 is the reference's top-1)."""
    logprobs: np.ndarray
    """[n, k] float32 reference log-probs of those ids."""
    tail_logmass: np.ndarray
    """[n] float32 log P_tail, the log of the mass outside the top-k (-inf when none is left)."""
    sample_indices: np.ndarray
    """[n, m] int32 token ids drawn from the reference's renormalised tail (with replacement;
    meaningless where tail_logmass is -inf)."""
    sample_logprobs: np.ndarray
    """[n, m] float32 reference log-probs log p_i of the drawn ids (not renormalised)."""

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    @property
    def m(self) -> int:
        return int(self.sample_indices.shape[1])

    def rows(self, sl: slice) -> TailSampledRef:
        return TailSampledRef(self.indices[sl], self.logprobs[sl], self.tail_logmass[sl],
                              self.sample_indices[sl], self.sample_logprobs[sl])

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.indices, self.logprobs, self.tail_logmass,
                                          self.sample_indices, self.sample_logprobs)))


@dataclass(frozen=True)
class KLEstimate:
    """Per-position comparison of a candidate with the reference."""

    kl: np.ndarray
    """[n] float64 estimate of the full-vocabulary KL(ref‖cand), nats; unbiased over the tail draws."""
    kl_var: np.ndarray
    """[n] float64 estimated variance of `kl` due to the tail draws (0 where the tail is empty or m < 2)."""
    bound: np.ndarray
    """[n] float64 KL over the top-k + one tail bucket (the old lower bound; kl ≥ bound always)."""
    top1_agree: np.ndarray
    """[n] bool: the candidate's most probable token is the reference's."""
    delta_p: np.ndarray
    """[n] float64 p_ref(ref top-1) − p_cand(ref top-1)."""


def record_bytes_per_position(k: int, m: int) -> int:
    """Bytes one position's record takes as stored arrays: int32 id + float32 log-prob per top-k entry
    and per draw, plus the float32 tail log-mass."""
    return 8 * k + 8 * m + 4


# --- reference side --------------------------------------------------------------------------------
def reduce_reference(logprobs: np.ndarray, k: int, m: int, rng: np.random.Generator,
                     scheme: str = "iid") -> TailSampledRef:
    """Top-k log-probs, the log of the tail mass, and m draws from the renormalised tail, per row.

    logprobs: [n, V] full-vocabulary log-probs (normalised; not modified). scheme 'iid' draws m
    independent tokens (any prefix of the draws is itself an iid sample); 'systematic' takes the m
    stratified points (j + u)/m, one uniform u per row, of the tail's cumulative distribution in
    vocabulary order (unbiased; estimate_kl's variance figure is then conservative). Both are O(V)
    per row; entries with zero weight (the top-k) are never drawn."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme {scheme!r}: use one of {SCHEMES}")
    lp = np.asarray(logprobs)
    n, vocab = lp.shape
    k = min(int(k), vocab)
    m = int(m)
    if k < vocab:
        part = np.argpartition(-lp, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(vocab), (n, 1))
    vals = np.take_along_axis(lp, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    top = np.take_along_axis(vals, order, axis=1)

    tail_log = np.full(n, -np.inf)
    s_idx = np.zeros((n, m), dtype=np.int64)
    s_lp = np.full((n, m), -np.inf)
    if k < vocab:
        # Tail weights relative to the largest tail entry (no underflow of the whole row).
        w = lp.astype(np.float64, copy=True)
        np.put_along_axis(w, idx, -np.inf, axis=1)
        wmax = w.max(axis=1, keepdims=True)
        finite = np.isfinite(wmax[:, 0])
        wmax[~finite] = 0.0
        w = np.exp(w - wmax)
        tot = w.sum(axis=1)
        with np.errstate(divide="ignore"):
            tail_log = np.where(tot > 0, np.log(tot) + wmax[:, 0], -np.inf)
        if m > 0:
            cums = np.cumsum(w, axis=1)
            for i in range(n):
                if not tot[i] > 0:
                    continue
                # Uniform points on the tail's cumulative distribution (vocabulary order): m
                # independent ones ('iid') or one offset and m equally spaced ones ('systematic').
                u = rng.random(m) if scheme == "iid" else (np.arange(m) + rng.random()) / m
                s_idx[i] = np.searchsorted(cums[i] / cums[i, -1], u, side="right")
            s_idx = np.minimum(s_idx, vocab - 1)
            s_lp = np.take_along_axis(lp, s_idx, axis=1)
    return TailSampledRef(idx.astype(np.int32), top.astype(np.float32), tail_log.astype(np.float32),
                          s_idx.astype(np.int32), np.asarray(s_lp, dtype=np.float32))


# --- candidate side ----------------------------------------------------------------------------------
def _logsumexp_rows(x: np.ndarray) -> np.ndarray:
    mx = np.max(x, axis=1)
    safe = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        s = np.log(np.sum(np.exp(x - safe[:, None]), axis=1)) + safe
    return np.where(np.isfinite(mx), s, -np.inf)


def estimate_kl(ref: TailSampledRef, cand_logprobs: np.ndarray, control_variate: bool = True) -> KLEstimate:
    """KL(ref‖cand) per row from the reference record and the candidate's full-vocabulary log-probs
    (rows aligned with the record's; not modified)."""
    cand = np.asarray(cand_logprobs)
    if cand.shape[0] != ref.indices.shape[0]:
        raise ValueError(f"{cand.shape[0]} candidate rows for {ref.indices.shape[0]} reference rows")
    n, vocab = cand.shape
    cand_top1 = np.argmax(cand, axis=1)
    ref_idx = ref.indices.astype(np.int64)
    lq = np.take_along_axis(cand, ref_idx, axis=1).astype(np.float64)
    if ref.k < vocab:
        masked = cand.astype(np.float64, copy=True)
        np.put_along_axis(masked, ref_idx, -np.inf, axis=1)
        lq_tail = _logsumexp_rows(masked)
    else:
        lq_tail = np.full(n, -np.inf)
    slq = np.take_along_axis(cand, ref.sample_indices.astype(np.int64), axis=1).astype(np.float64) \
        if ref.m else np.zeros((n, 0))
    return kl_sampled_tail(ref.logprobs, ref.tail_logmass, lq, lq_tail, ref.sample_logprobs, slq,
                           ref_top1=ref.indices[:, 0], cand_top1=cand_top1, control_variate=control_variate)


def kl_sampled_tail(lp: np.ndarray, lp_tail: np.ndarray, lq: np.ndarray, lq_tail: np.ndarray,
                    slp: np.ndarray, slq: np.ndarray, ref_top1: np.ndarray | None = None,
                    cand_top1: np.ndarray | None = None, control_variate: bool = True) -> KLEstimate:
    """The arithmetic of estimate_kl on gathered values.

    lp, lq: [n, k] reference / candidate log-probs of the top-k tokens; lp_tail, lq_tail: [n] log of
    the mass outside them; slp, slq: [n, m] reference / candidate log-probs of the tail draws
    (m may be 0: then kl == bound). control_variate=False uses the plain mean of r (unbiased too,
    much noisier)."""
    lp = np.asarray(lp, dtype=np.float64)
    lq = np.maximum(np.asarray(lq, dtype=np.float64), LOG_FLOOR)
    lp_tail = np.asarray(lp_tail, dtype=np.float64)
    lq_tail = np.maximum(np.asarray(lq_tail, dtype=np.float64), LOG_FLOOR)
    slp = np.asarray(slp, dtype=np.float64)
    slq = np.maximum(np.asarray(slq, dtype=np.float64), LOG_FLOOR)
    p = np.exp(lp)
    head = np.sum(p * np.where(p > 0, lp - lq, 0.0), axis=1)
    p_tail = np.exp(lp_tail)
    has_tail = p_tail > 0
    bucket = np.where(has_tail, p_tail * (np.where(has_tail, lp_tail, 0.0) - lq_tail), 0.0)
    bound = np.maximum(head + bucket, 0.0)
    n, m = slp.shape
    if m:
        r = (slp - np.where(has_tail, lp_tail, 0.0)[:, None]) - (slq - lq_tail[:, None])
        d = r + np.expm1(np.minimum(-r, MAX_EXP)) if control_variate else r
        d = np.where(has_tail[:, None], d, 0.0)
        tail_kl = d.mean(axis=1)
        var = p_tail ** 2 * d.var(axis=1, ddof=1) / m if m > 1 else np.zeros(n)
        kl = head + bucket + p_tail * tail_kl
        kl_var = np.where(has_tail, var, 0.0)
    else:
        kl = head + bucket
        kl_var = np.zeros(n)
    if control_variate:
        # Every draw's term is ≥ 0, so kl ≥ bound up to rounding; clamping only removes -1e-16 noise.
        # (The plain estimator is left unclamped: clamping its noise would bias it.)
        kl = np.maximum(kl, bound)
    if ref_top1 is not None and cand_top1 is not None:
        agree = np.asarray(ref_top1) == np.asarray(cand_top1)
    else:
        agree = np.argmax(lq, axis=1) == 0
    delta_p = np.exp(lp[:, 0]) - np.exp(lq[:, 0])
    return KLEstimate(kl=kl, kl_var=kl_var, bound=bound, top1_agree=agree.astype(bool), delta_p=delta_p)


def mean_with_se(est: KLEstimate) -> tuple[float, float, float]:
    """(mean KL, Monte-Carlo standard error of that mean from the tail draws, total standard error of
    the mean over positions — the figure llama-perplexity prints after ±, which includes the MC part)."""
    n = len(est.kl)
    if n == 0:
        raise ValueError("no positions")
    mc_se = float(np.sqrt(np.sum(est.kl_var)) / n)
    tot_se = float(np.std(est.kl, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return float(np.mean(est.kl)), mc_se, tot_se


def kl_full(ref_logprobs: np.ndarray, cand_logprobs: np.ndarray) -> np.ndarray:
    """Exact full-vocabulary KL(ref‖cand) per row (float64; 0·log 0 = 0), for checks."""
    lp = np.asarray(ref_logprobs, dtype=np.float64)
    lq = np.maximum(np.asarray(cand_logprobs, dtype=np.float64), LOG_FLOOR)
    p = np.exp(lp)
    return np.maximum(np.sum(p * np.where(p > 0, lp - lq, 0.0), axis=1), 0.0)
