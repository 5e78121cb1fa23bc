"""Positional KL of each precision versus the HF reference and, for engines other than the
reference's, versus the same engine at full precision (metrics prefixed eb_ on the records)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from qlongbench.analysis import stats
from qlongbench.analysis.pairing import language_label
from qlongbench.types import Record

ENGINE_PREFIX = "eb_"
"""Record metrics measured against the engine-matched baseline carry this prefix."""


@dataclass(frozen=True)
class KLRow:
    """Positional KL of one precision versus one reference, for one kld cell."""

    precision: str
    """Candidate precision."""
    versus: str
    """The reference it is compared with (the HF reference, or its engine's full-precision run)."""
    task: str
    """Log-prob task label."""
    language: str
    """Language label."""
    length: int
    """Target length."""
    n: int
    """Documents compared."""
    mean_kl: float
    """Mean KL(ref‖cand) over documents and scored positions (nats)."""
    mean_kl_interval: stats.Interval | None
    """Student's t interval across documents (None for one document): documents are the independent
    units; positions within one document are not."""
    top1: float
    """Top-1 agreement with the reference."""
    top1_interval: stats.Interval | None
    """Student's t interval across documents, within [0, 1]."""
    delta_p: float
    """Mean p_ref(ref's top token) − p_cand(same token): positive when the candidate is less sure."""
    p99_kl: float | None
    """Mean over documents of the 99th percentile of per-position KL."""
    positions: tuple[float, ...]
    """Centre token position of each bucket."""
    bucket_kl: tuple[float, ...]
    """Mean KL per position bucket."""
    bucket_top1: tuple[float, ...]
    """Top-1 agreement per position bucket."""
    bucket_kl_low: tuple[float, ...] = ()
    """Lower bound per bucket, Student's t across documents (empty for one document)."""
    bucket_kl_high: tuple[float, ...] = ()
    """Upper bootstrap bound per bucket."""
    kl_stderr: float | None = None
    """Standard error of mean_kl from the estimator itself (sampled tail), when it has one."""
    bound: str | None = None
    """Set when mean_kl is a bound rather than an estimate of the full-vocabulary KL, saying which."""


def _bucket_positions(r: Record, prefix: str, buckets: int) -> list[float]:
    n = int(r.metrics.get(prefix + "n_positions", r.n_prompt_tokens))
    first = int(r.metrics.get(prefix + "first_position", 0))
    edges = [first + round((n) * i / buckets) for i in range(buckets + 1)]
    return [(edges[i] + edges[i + 1]) / 2 for i in range(buckets)]


def kl_rows(records: Sequence[Record], tasks: Collection[str], reference: str | None, order: Sequence[str],
            baselines: Mapping[str, str], confidence: float = 0.95) -> list[KLRow]:
    """One row per candidate and cell versus the HF reference, and one versus its engine baseline."""
    groups: dict[tuple[str, str, str, str, int], list[Record]] = defaultdict(list)
    for r in records:
        if r.task not in tasks or r.status != "ok" or r.precision == reference:
            continue
        if "mean_kl" in r.metrics:
            groups[("", r.precision, r.task, language_label(r), r.length)].append(r)
        if ENGINE_PREFIX + "mean_kl" in r.metrics:
            groups[(ENGINE_PREFIX, r.precision, r.task, language_label(r), r.length)].append(r)
    out = []
    for (prefix, prec, task, lang, length), rows in sorted(
            groups.items(), key=lambda kv: (kv[0][2], kv[0][3], kv[0][4], order.index(kv[0][1]), kv[0][0])):
        m = lambda r, k: r.metrics[prefix + k]  # noqa: E731
        has = lambda r, k: prefix + k in r.metrics  # noqa: E731
        buckets = int(min(m(r, "n_buckets") for r in rows))
        kl = [m(r, "mean_kl") for r in rows]
        top1 = [m(r, "top1") for r in rows]
        interval = (lambda v, top=float("inf"): stats.t_interval(v, confidence, bounds=(0.0, top)))
        b_kl = [[m(r, f"kl_b{b}") for r in rows if has(r, f"kl_b{b}")] for b in range(buckets)]
        b_top = [[m(r, f"top1_b{b}") for r in rows if has(r, f"top1_b{b}")] for b in range(buckets)]
        b_int = [interval(v) if v else None for v in b_kl]
        pos = [statistics.fmean(p) for p in zip(*(_bucket_positions(r, prefix, buckets) for r in rows))] if buckets else []
        p99 = [m(r, "p99_kl") for r in rows if has(r, "p99_kl")]
        var = [m(r, "kl_var") for r in rows if has(r, "kl_var")]
        bounds = {r.metrics.get(prefix + "kl_is_bound", 0.0) for r in rows}
        out.append(KLRow(
            precision=prec, versus=baselines.get(prec, "?") if prefix else (reference or "?"), task=task,
            language=lang, length=length, n=len(rows), mean_kl=statistics.fmean(kl), mean_kl_interval=interval(kl),
            top1=statistics.fmean(top1), top1_interval=interval(top1, 1.0),
            delta_p=statistics.fmean(m(r, "delta_p") for r in rows if has(r, "delta_p")) if any(has(r, "delta_p") for r in rows) else 0.0,
            p99_kl=statistics.fmean(p99) if p99 else None,
            positions=tuple(pos), bucket_kl=tuple(statistics.fmean(v) if v else float("nan") for v in b_kl),
            bucket_top1=tuple(statistics.fmean(v) if v else float("nan") for v in b_top),
            bucket_kl_low=tuple(i.low for i in b_int) if all(b_int) else (),
            bucket_kl_high=tuple(i.high for i in b_int) if all(b_int) else (),
            kl_stderr=(sum(var) ** 0.5) / len(rows) if len(var) == len(rows) else None,
            bound=("lower bound: top-k + one tail bucket" if 1.0 in bounds else None),
        ))
    return out
