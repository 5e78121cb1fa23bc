"""Positional KL divergence versus the reference (no labels needed).

On long documents every precision's next-token distribution is compared with the reference's at
every position: mean KL(ref‖quant), top-1 agreement and Δp of the reference's top token, bucketed by
position so damage that grows with context shows up.

Only the reference's top-k log-probabilities and the log of its remaining (tail) mass are kept
per position (the runner keeps them in RUN_DIR/logprobs/): 128K positions × k=32 is about 32 MiB, where a
full-vocabulary dump would be tens of GB. The KL is computed over the k reference tokens plus
one tail bucket. Merging outcomes never increases a KL divergence, so this is a lower bound of
the full-vocabulary KL, and equal to it when k is the vocabulary size."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from qlongbench.errors import OverlengthError, UserError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, LogprobRole, LogprobScorer, Task, TaskOptions
from qlongbench.tasks.haystack import Haystack, fit
from qlongbench.tasks.languages import get_language
from qlongbench.tokenizer import ChatFrame
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)

ROW_BLOCK = 64
"""Positions reduced at a time (bounds temporaries to ROW_BLOCK x vocabulary)."""
_LOG_FLOOR = -1.0e4
"""Log-probabilities are clamped here so an underflowed candidate gives a large, finite KL."""


class KLDOptions(TaskOptions):
    top_k: int = Field(32, ge=1)
    """Reference log-probs kept per position (plus one tail bucket)."""
    buckets: int = Field(8, ge=1, le=64)
    """Equal position ranges the metrics are averaged over (kl_b0 is the start of the document)."""
    chunk: int = Field(512, ge=1)
    """Positions per forward pass: bounds memory to chunk × vocabulary floats."""
    haystack: str = "filler"
    """'filler' (the language's generated sentences) or 'file:PATH' (a UTF-8 text file)."""
    sentences_per_chunk: int = Field(256, ge=1)
    """Filler sentences generated at a time while the document grows."""


@dataclass(frozen=True)
class TopK:
    """The reference's next-token distributions, reduced to what the KL needs."""

    indices: np.ndarray
    """[positions, k] int32 token ids, most probable first."""
    logprobs: np.ndarray
    """[positions, k] float32 log-probabilities of those ids."""
    tail_logmass: np.ndarray
    """[positions] float32 log of the probability of every other token (-inf when none is left)."""


@dataclass(frozen=True)
class PositionMetrics:
    """Per-position comparison of a candidate with the reference."""

    kl: np.ndarray
    """KL(ref‖cand) over the top-k + tail buckets, nats."""
    top1_agree: np.ndarray
    """Whether the candidate's most probable token is the reference's."""
    delta_p: np.ndarray
    """p_ref(ref top token) - p_cand(ref top token)."""


# --- pure functions -------------------------------------------------------------------------------
def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    from scipy.special import logsumexp

    return logsumexp(x, axis=axis)


def reduce_topk(logprobs: np.ndarray, k: int) -> TopK:
    """Top-k log-probs of each row and the log of the mass left outside them.

    The tail is summed over the excluded entries themselves (not 1 - sum of the top-k), so it keeps
    full relative precision when it is tiny. `logprobs` is modified in place."""
    n, vocab = logprobs.shape
    k = min(k, vocab)
    part = np.argpartition(-logprobs, k - 1, axis=1)[:, :k] if k < vocab else np.tile(np.arange(vocab), (n, 1))
    vals = np.take_along_axis(logprobs, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    top = np.take_along_axis(vals, order, axis=1)
    np.put_along_axis(logprobs, idx, -np.inf, axis=1)
    tail = _logsumexp(logprobs.astype(np.float64), axis=1) if k < vocab else np.full(n, -np.inf)
    return TopK(idx.astype(np.int32), top.astype(np.float32), np.asarray(tail, dtype=np.float32))


def compare_with_reference(ref: TopK, cand_logprobs: np.ndarray) -> PositionMetrics:
    """KL(ref‖cand) over the reference's top-k tokens plus one tail bucket, top-1 agreement and Δp,
    for rows of candidate full-vocabulary log-probs aligned with the reference's rows.
    `cand_logprobs` is modified in place."""
    if cand_logprobs.shape[0] != ref.indices.shape[0]:
        raise ValueError(f"{cand_logprobs.shape[0]} candidate rows for {ref.indices.shape[0]} reference rows")
    cand_top1 = np.argmax(cand_logprobs, axis=1)
    lq = np.take_along_axis(cand_logprobs, ref.indices.astype(np.int64), axis=1).astype(np.float64)
    if ref.indices.shape[1] < cand_logprobs.shape[1]:
        np.put_along_axis(cand_logprobs, ref.indices.astype(np.int64), -np.inf, axis=1)
        lq_tail = _logsumexp(cand_logprobs.astype(np.float64), axis=1)
    else:
        lq_tail = np.full(cand_logprobs.shape[0], -np.inf)
    return kl_topk_tail(ref.logprobs, ref.tail_logmass, lq, lq_tail, ref.indices[:, 0], cand_top1)


def kl_topk_tail(lp: np.ndarray, lp_tail: np.ndarray, lq: np.ndarray, lq_tail: np.ndarray,
                 ref_top1: np.ndarray | None = None, cand_top1: np.ndarray | None = None) -> PositionMetrics:
    """Σ_i p_i (log p_i − log q_i) + p_tail (log p_tail − log q_tail), per row.

    lp, lq: [n, k] log-probs of the same k tokens under reference and candidate; lp_tail, lq_tail:
    [n] log of the remaining mass. Terms with p = 0 contribute 0 (0 · log 0 = 0)."""
    lp = np.asarray(lp, dtype=np.float64)
    lq = np.maximum(np.asarray(lq, dtype=np.float64), _LOG_FLOOR)
    lp_tail = np.asarray(lp_tail, dtype=np.float64)
    lq_tail = np.maximum(np.asarray(lq_tail, dtype=np.float64), _LOG_FLOOR)
    p = np.exp(lp)
    kl = np.sum(p * np.where(p > 0, lp - lq, 0.0), axis=1)
    p_tail = np.exp(lp_tail)
    kl += p_tail * np.where(p_tail > 0, lp_tail - lq_tail, 0.0)
    # A KL is never negative; rounding of near-identical distributions can give -1e-9.
    kl = np.maximum(kl, 0.0)
    agree = (np.asarray(ref_top1) == np.asarray(cand_top1)) if ref_top1 is not None and cand_top1 is not None \
        else np.argmax(lq, axis=1) == 0
    delta_p = np.exp(lp[:, 0]) - np.exp(lq[:, 0])
    return PositionMetrics(kl=kl, top1_agree=agree.astype(bool), delta_p=delta_p)


def bucket_edges(n: int, buckets: int) -> np.ndarray:
    """Boundaries of `buckets` equal position ranges over n positions (first 0, last n)."""
    return np.linspace(0, n, buckets + 1).round().astype(int)


def summarize(m: PositionMetrics, buckets: int) -> Score:
    """Score = top-1 agreement; metrics: mean_kl, delta_p, delta_p_abs, p99_kl, kl_b*, top1_b*."""
    n = len(m.kl)
    if n == 0:
        raise ValueError("no positions to summarize")
    metrics = {"mean_kl": float(m.kl.mean()), "top1": float(m.top1_agree.mean()),
               "delta_p": float(m.delta_p.mean()), "delta_p_abs": float(np.abs(m.delta_p).mean()),
               "p99_kl": float(np.quantile(m.kl, 0.99)), "n_buckets": float(buckets), "n_positions": float(n)}
    edges = bucket_edges(n, buckets)
    for b in range(buckets):
        lo, hi = edges[b], max(edges[b + 1], edges[b] + 1)
        metrics[f"kl_b{b}"] = float(m.kl[lo:hi].mean()) if lo < n else float("nan")
        metrics[f"top1_b{b}"] = float(m.top1_agree[lo:hi].mean()) if lo < n else float("nan")
    metrics = {k: v for k, v in metrics.items() if np.isfinite(v)}
    return Score(score=metrics["top1"], parsed=True, metrics=metrics)


# --- the task --------------------------------------------------------------------------------------
class KLDivergence(Task):
    name: ClassVar[str] = "kld"
    description: ClassVar[str] = ("Positional KL(ref‖quant), top-1 agreement and Δp of the reference's top "
                                  "token on long documents, bucketed by position (no labels needed).")
    metric: ClassVar[str] = "top-1 agreement with the reference (mean_kl, delta_p and kl_b* in metrics)"
    default_max_new_tokens: ClassVar[int] = 0
    uses_logprobs: ClassVar[bool] = True
    """The runner calls run_logprobs instead of generating text."""
    Options = KLDOptions

    # --- samples ------------------------------------------------------------------------------
    def build(self, ctx: BuildContext) -> list[Sample]:
        # Nothing is generated, so every token of the target length is a scored position.
        budget = ctx.length
        frame = ChatFrame(head="", tail="", add_special_tokens=True)
        rng = random.Random(ctx.seed)
        out = []
        for i in range(ctx.n_samples):
            sub = random.Random(rng.getrandbits(64))
            haystack, more = self._haystack(ctx, sub, i)
            sample_id = f"{self.name}-{ctx.language}-{ctx.length}-{i:04d}"
            base = dict(sample_id=sample_id, task=self.name, language=ctx.language,
                        instruction_language=ctx.instruction_language, length=ctx.length, index=i, seed=ctx.seed,
                        max_new_tokens=0, expected=())
            try:
                fitted = fit(ctx.tokenizer, frame, haystack, budget, (), more=more)
            except OverlengthError as err:
                out.append(Sample(**base, status="overlength", prompt_ids=(), prefix_len=0,
                                  prompt_sha256=ids_sha256(()), metadata={"reason": str(err)}))
                continue
            ids = fitted.prompt.ids
            out.append(Sample(**base, status="ok", prompt_ids=ids, prefix_len=len(ids), prompt_sha256=ids_sha256(ids),
                              metadata={"document_tokens": len(ids), "haystack": self.options.haystack,
                                        "top_k": self.options.top_k, "buckets": self.options.buckets,
                                        "slack": fitted.slack}))
        return out

    def _haystack(self, ctx: BuildContext, rng: random.Random, index: int) -> tuple[Haystack, Any]:
        lang = get_language(ctx.language)
        src = self.options.haystack
        if src == "filler":
            n = self.options.sentences_per_chunk
            return (Haystack([lang.filler(rng) for _ in range(n)], lang.word_separator),
                    lambda _: [lang.filler(rng) for _ in range(n)])
        if not src.startswith("file:"):
            raise UserError(f"task kld option haystack={src!r}: use 'filler' or 'file:PATH'")
        path = Path(src.removeprefix("file:")).expanduser()
        try:
            paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").splitlines() if p.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"task kld: cannot read haystack file {path}: {err}") from None
        if not paragraphs:
            raise UserError(f"task kld: haystack file {path} is empty")
        # Each sample starts at another paragraph; the file is read once around, never repeated.
        start = (index * len(paragraphs)) // max(1, ctx.n_samples)
        order = paragraphs[start:] + paragraphs[:start]
        state = {"given": min(64, len(order))}

        def more(_: int) -> list[str]:
            if state["given"] >= len(order):
                raise UserError(f"task kld: haystack file {path} holds fewer than {ctx.length} tokens; give a "
                                "longer file or shorter --lengths")
            nxt = order[state["given"]: state["given"] + 256]
            state["given"] += len(nxt)
            return nxt

        return Haystack(order[: state["given"]], lang.word_separator), more

    def score(self, sample: Sample, output: str) -> Score:
        raise UserError("task kld is scored from log-probabilities (run_logprobs), not from generated text")

    def logprob_scorer(self, sample: Sample, role: LogprobRole) -> LogprobScorer:
        scorer = KLDScorer(sample, role, self.options.top_k, self.options.buckets)
        scorer.chunk = self.options.chunk
        return scorer


class KLDScorer(LogprobScorer):
    """One precision on one document: a reference keeps its top-k; a candidate is compared with
    each reference it is given (the HF reference, and its engine's full-precision baseline)."""

    def __init__(self, sample: Sample, role: LogprobRole, top_k: int, buckets: int):
        self.sample, self.role, self.k, self.buckets = sample, role, top_k, buckets
        self.refs = {prefix: TopK(np.asarray(a["indices"]), np.asarray(a["logprobs"]), np.asarray(a["tail_logmass"]))
                     for prefix, a in role.compare_with.items()}
        for prefix, ref in self.refs.items():
            if len(ref.indices) != len(sample.prompt_ids) or ref.indices.shape[1] != min(top_k, ref.indices.shape[1]):
                raise UserError(f"kld: the kept distributions of {sample.sample_id} ({prefix or 'reference'}) do not fit "
                                "this document or top_k; start the run over with --new")
        self.kept: list[TopK] = []
        self.parts: dict[str, list[PositionMetrics]] = {prefix: [] for prefix in self.refs}
        self.done = 0

    def feed(self, start: int, logprobs: Any) -> None:
        if start != self.done:
            raise RuntimeError(f"the engine returned log-probs from position {start}, expected {self.done}")
        self.done += logprobs.shape[0]
        # A few rows at a time: the reductions need row x vocabulary temporaries (int64 indices,
        # float64 sums), and the engine's array is copied, never modified in place.
        for b0 in range(0, logprobs.shape[0], ROW_BLOCK):
            block = logprobs[b0:b0 + ROW_BLOCK]
            rows = slice(start + b0, start + b0 + block.shape[0])
            if self.role.keep:
                self.kept.append(reduce_topk(np.array(block, dtype=np.float32, copy=True), self.k))
            for prefix, ref in self.refs.items():
                lp = np.array(block, dtype=np.float32, copy=True)
                self.parts[prefix].append(compare_with_reference(
                    TopK(ref.indices[rows], ref.logprobs[rows], ref.tail_logmass[rows]), lp))

    def finish(self) -> tuple[Score, dict[str, Any] | None]:
        n = len(self.sample.prompt_ids)
        if self.done != n:
            raise RuntimeError(f"the engine returned {self.done} positions of log-probs for {n} tokens")
        kept = None
        if self.role.keep:
            kept = {"indices": np.concatenate([p.indices for p in self.kept]),
                    "logprobs": np.concatenate([p.logprobs for p in self.kept]),
                    "tail_logmass": np.concatenate([p.tail_logmass for p in self.kept]), "top_k": np.array(self.k)}
        if "" not in self.parts:  # the HF reference itself: identical to itself by definition
            return summarize(PositionMetrics(kl=np.zeros(n), top1_agree=np.ones(n, dtype=bool),
                                             delta_p=np.zeros(n)), self.buckets), kept
        score = summarize(_joined(self.parts[""]), self.buckets)
        metrics = dict(score.metrics)
        for prefix, parts in self.parts.items():
            if prefix:
                metrics |= {prefix + k: v for k, v in summarize(_joined(parts), self.buckets).metrics.items()}
        return Score(score=score.score, parsed=True, metrics=metrics), kept


def _joined(parts: list[PositionMetrics]) -> PositionMetrics:
    return PositionMetrics(kl=np.concatenate([p.kl for p in parts]),
                           top1_agree=np.concatenate([p.top1_agree for p in parts]),
                           delta_p=np.concatenate([p.delta_p for p in parts]))
