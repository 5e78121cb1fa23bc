"""Positional KL divergence versus the reference (no labels needed).

On long documents every precision's next-token distribution is compared with the reference's at
every position: mean KL(ref‖quant), top-1 agreement and Δp of the reference's top token, bucketed by
position so damage that grows with context shows up.

What the reference keeps per position (the runner stores it in RUN_DIR/logprobs/): its top-k
log-probabilities, the log of the remaining (tail) mass, and `tail_samples` token ids drawn from its
renormalised tail with their log-probs (tasks/kld_estimate.py). The KL over the top-k and the tail
bucket is exact; the tail's own KL is estimated from the draws, unbiased, with its Monte-Carlo
variance reported. With the defaults (k = 32, 32 draws: 516 bytes per position, 66 MB for a 128K
document) the mean matches llama.cpp's `llama-perplexity --kl-divergence`, which keeps the whole
vocabulary (98 KB per position), within 0.5 % (docs/kld.md). With tail_samples=0 the figure is the
old k + 1 bucket KL, a lower bound, and the report says so.

Definitions beside llama-perplexity's: every position of the document is scored (llama-perplexity
scores the second half of each n_ctx chunk); Δp = p_ref(reference's top token) − p_cand(that
token), positive when the candidate is less sure (llama-perplexity: p_cand − p_base of the actual
next token)."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from qlongbench.errors import OverlengthError, UserError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, LogprobRole, LogprobScorer, Task, TaskOptions
from qlongbench.tasks.haystack import Haystack, fit
from qlongbench.tasks.kld_estimate import KLEstimate, TailSampledRef, estimate_kl, reduce_reference
from qlongbench.tasks.languages import get_language
from qlongbench.tokenizer import ChatFrame
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)

ROW_BLOCK = 64
"""Positions reduced at a time (bounds temporaries to ROW_BLOCK x vocabulary)."""


class KLDOptions(TaskOptions):
    top_k: int = Field(32, ge=1)
    """Reference log-probs kept per position (their KL terms are exact)."""
    tail_samples: int = Field(32, ge=0, le=1024)
    """Tokens drawn from the reference's tail per position for an unbiased full-vocabulary KL
    (0: only one tail bucket, a lower bound)."""
    buckets: int = Field(8, ge=1, le=64)
    """Equal position ranges the metrics are averaged over (kl_b0 is the start of the document)."""
    chunk: int = Field(512, ge=1)
    """Positions per forward pass: bounds memory to chunk × vocabulary floats (an engine passes fewer
    where 2^25 floats would be exceeded: 128 for Gemma 3's 262,144-entry vocabulary)."""
    haystack: str = "filler"
    """'filler' (the language's generated sentences) or 'file:PATH' (a UTF-8 text file)."""
    sentences_per_chunk: int = Field(256, ge=1)
    """Filler sentences generated at a time while the document grows."""


def bucket_edges(n: int, buckets: int) -> np.ndarray:
    """Boundaries of `buckets` equal position ranges over n positions (first 0, last n)."""
    return np.linspace(0, n, buckets + 1).round().astype(int)


def summarize(est: KLEstimate, buckets: int, *, is_bound: bool = False) -> Score:
    """Score = top-1 agreement; metrics: mean_kl, kl_var (variance of mean_kl from the tail draws),
    bound_kl, delta_p, delta_p_abs, p99_kl, kl_b*, top1_b*, and kl_is_bound when mean_kl is the
    k + 1 bucket lower bound."""
    n = len(est.kl)
    if n == 0:
        raise ValueError("no positions to summarize")
    metrics = {"mean_kl": float(est.kl.mean()), "kl_var": float(est.kl_var.sum()) / n ** 2,
               "bound_kl": float(est.bound.mean()), "top1": float(est.top1_agree.mean()),
               "delta_p": float(est.delta_p.mean()), "delta_p_abs": float(np.abs(est.delta_p).mean()),
               "p99_kl": float(np.quantile(est.kl, 0.99)), "n_buckets": float(buckets), "n_positions": float(n),
               "kl_is_bound": 1.0 if is_bound else 0.0}
    edges = bucket_edges(n, buckets)
    for b in range(buckets):
        lo, hi = edges[b], max(edges[b + 1], edges[b] + 1)
        metrics[f"kl_b{b}"] = float(est.kl[lo:hi].mean()) if lo < n else float("nan")
        metrics[f"top1_b{b}"] = float(est.top1_agree[lo:hi].mean()) if lo < n else float("nan")
    metrics = {k: v for k, v in metrics.items() if np.isfinite(v)}
    return Score(score=metrics["top1"], parsed=True, metrics=metrics)


def identical(n: int) -> KLEstimate:
    """The reference compared with itself."""
    zeros = np.zeros(n)
    return KLEstimate(kl=zeros, kl_var=zeros, bound=zeros, top1_agree=np.ones(n, dtype=bool), delta_p=zeros)


def joined(parts: list[KLEstimate]) -> KLEstimate:
    return KLEstimate(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                        ("kl", "kl_var", "bound", "top1_agree", "delta_p")))


def kept_reference(arrays: dict[str, Any]) -> TailSampledRef:
    """The reference record a precision kept (run.logprobs checked its arrays)."""
    return TailSampledRef(*(np.asarray(arrays[k]) for k in ("indices", "logprobs", "tail_logmass", "sample_indices",
                                                             "sample_logprobs")))


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
        return KLDScorer(sample, role, self.options)


class KLDScorer(LogprobScorer):
    """One precision on one document: a reference keeps its record (top-k, tail mass, tail draws); a
    candidate is compared with each reference it is given (the HF reference, and its engine's
    full-precision baseline)."""

    def __init__(self, sample: Sample, role: LogprobRole, options: KLDOptions):
        self.sample, self.role = sample, role
        self.k, self.m, self.buckets = options.top_k, options.tail_samples, options.buckets
        self.chunk = options.chunk
        # The tail draws are seeded by the document, so a rerun keeps the same record.
        self.rng = np.random.default_rng(int(sample.prompt_sha256[:16], 16))
        self.refs = {prefix: kept_reference(a) for prefix, a in role.compare_with.items()}
        for prefix, ref in self.refs.items():
            if len(ref.indices) != len(sample.prompt_ids):
                raise UserError(f"kld: the kept distributions of {sample.sample_id} ({prefix or 'reference'}) do not "
                                "fit this document; start the run over with --new")
        self.kept: list[TailSampledRef] = []
        self.parts: dict[str, list[KLEstimate]] = {prefix: [] for prefix in self.refs}
        self.done = 0

    def feed(self, start: int, logprobs: Any) -> None:
        if start != self.done:
            raise RuntimeError(f"the engine returned log-probs from position {start}, expected {self.done}")
        self.done += logprobs.shape[0]
        # A few rows at a time: the reductions need row x vocabulary temporaries.
        for b0 in range(0, logprobs.shape[0], ROW_BLOCK):
            block = np.asarray(logprobs[b0:b0 + ROW_BLOCK], dtype=np.float32)
            rows = slice(start + b0, start + b0 + block.shape[0])
            if self.role.keep:
                self.kept.append(reduce_reference(block, self.k, self.m, self.rng))
            for prefix, ref in self.refs.items():
                self.parts[prefix].append(estimate_kl(ref.rows(rows), block))

    def finish(self) -> tuple[Score, dict[str, Any] | None]:
        n = len(self.sample.prompt_ids)
        if self.done != n:
            raise RuntimeError(f"the engine returned {self.done} positions of log-probs for {n} tokens")
        kept = None
        if self.role.keep:
            kept = {f: np.concatenate([getattr(p, f) for p in self.kept]) for f in
                    ("indices", "logprobs", "tail_logmass", "sample_indices", "sample_logprobs")}
            kept |= {"top_k": np.array(self.k), "tail_samples": np.array(self.m)}
        if "" not in self.parts:  # the HF reference itself: identical to itself by definition
            return summarize(identical(n), self.buckets), kept
        score = summarize(joined(self.parts[""]), self.buckets, is_bound=self.refs[""].m == 0)
        metrics = dict(score.metrics)
        for prefix, parts in self.parts.items():
            if prefix:
                extra = summarize(joined(parts), self.buckets, is_bound=self.refs[prefix].m == 0).metrics
                metrics |= {prefix + k: v for k, v in extra.items()}
        return Score(score=score.score, parsed=True, metrics=metrics), kept
