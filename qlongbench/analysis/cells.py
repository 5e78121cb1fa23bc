"""Per-cell aggregation: accuracy with its interval, failure rates, measured KV bytes and throughput
of one precision on one task × language × length."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from qlongbench.analysis import stats
from qlongbench.analysis.pairing import language_label
from qlongbench.types import Record


@dataclass(frozen=True)
class CellKey:
    precision: str
    """Precision label."""
    task: str
    """Task label."""
    language: str
    """Language label: `xx`, or `ii_hh` for instructions ii over a haystack in hh ('all' = pooled)."""
    length: int
    """Target length."""


def cell_key(r: Record) -> CellKey:
    return CellKey(r.precision, r.task, language_label(r), r.length)


@dataclass(frozen=True)
class Throughput:
    """Tokens per second of a group of records (None where nothing was timed)."""

    prefill_tokens_per_s: float | None
    """Prefilled tokens over prefill seconds (records that prefilled something)."""
    decode_tokens_per_s: float | None
    """Generated tokens over decode seconds (records that generated something)."""


def throughput(records: Sequence[Record]) -> Throughput:
    """The one throughput computation: sums over records, not a mean of per-record rates (a short
    record's noisy rate would weigh as much as a long one's)."""
    pre = [r for r in records if r.status == "ok" and (r.prefill_seconds or 0) > 0 and r.n_prefilled_tokens]
    dec = [r for r in records if r.status == "ok" and (r.decode_seconds or 0) > 0 and r.n_generated_tokens]
    pre_t = sum(r.prefill_seconds or 0.0 for r in pre)
    dec_t = sum(r.decode_seconds or 0.0 for r in dec)
    return Throughput(sum(r.n_prefilled_tokens or 0 for r in pre) / pre_t if pre_t > 0 else None,
                      sum(r.n_generated_tokens for r in dec) / dec_t if dec_t > 0 else None)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class CellStats:
    key: CellKey
    """Which cell."""
    engine: str
    """Engine of the precision."""
    n: int
    """Records in the cell."""
    n_ok: int
    """Records with status ok (scored)."""
    n_overlength: int
    """Samples that could not fit the length."""
    n_oom: int
    """Records that ran out of memory."""
    n_error: int
    """Records that failed otherwise."""
    accuracy: float | None
    """Mean score over ok records."""
    interval: stats.Interval | None
    """95 % Wilson interval (binary scores) or bootstrap interval (graded scores)."""
    parse_failure_rate: float | None
    """Share of ok records where no answer could be parsed."""
    empty_rate: float | None
    """Share of ok records with an empty output."""
    mean_prompt_tokens: float | None
    """Mean prompt tokens of ok records."""
    kv_cache_bytes: int | None
    """Median measured KV-cache bytes at the end of the prompt."""
    throughput: Throughput
    """Prefill and decode tokens per second over the cell."""
    peak_bytes: int | None = None
    """Largest peak memory of the cell's records."""
    kv_cache_allocator_bytes: int | None = None
    """Median CUDA-allocator bytes of the cache (CUDA runs only)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Mean of each secondary metric over ok records."""

    @property
    def overlength_rate(self) -> float | None:
        return self.n_overlength / self.n if self.n else None

    @property
    def oom_rate(self) -> float | None:
        return self.n_oom / self.n if self.n else None

    @property
    def error_rate(self) -> float | None:
        return self.n_error / self.n if self.n else None


def cell_stats(key: CellKey, rows: Sequence[Record], confidence: float = 0.95) -> CellStats:
    ok = [r for r in rows if r.status == "ok"]
    scores = [float(r.score) for r in ok if r.score is not None]
    interval = accuracy = None
    if scores:
        accuracy = sum(scores) / len(scores)
        if all(s in (0.0, 1.0) for s in scores):
            interval = stats.wilson_interval(int(sum(scores)), len(scores), confidence)
        else:
            interval = stats.t_interval(scores, confidence, bounds=(0.0, 1.0))
    kv = sorted(r.kv_cache_bytes for r in ok if r.kv_cache_bytes is not None)
    alloc = sorted(r.kv_cache_allocator_bytes for r in ok if r.kv_cache_allocator_bytes is not None)
    peaks = [r.peak_bytes for r in ok if r.peak_bytes is not None]
    metrics = {}
    for name in sorted({k for r in ok for k in r.metrics}):
        vals = [r.metrics[name] for r in ok if name in r.metrics]
        metrics[name] = sum(vals) / len(vals)
    return CellStats(
        key=key, engine=next((r.engine for r in rows if r.engine != "-"), rows[0].engine), n=len(rows), n_ok=len(ok),
        n_overlength=sum(r.status == "overlength" for r in rows), n_oom=sum(r.status == "oom" for r in rows),
        n_error=sum(r.status == "error" for r in rows), accuracy=accuracy, interval=interval,
        parse_failure_rate=(sum(not r.parsed for r in ok) / len(ok)) if ok else None,
        empty_rate=(sum(not r.output.strip() for r in ok) / len(ok)) if ok else None,
        mean_prompt_tokens=(sum(r.n_prompt_tokens for r in ok) / len(ok)) if ok else None,
        kv_cache_bytes=kv[len(kv) // 2] if kv else None, throughput=throughput(rows),
        peak_bytes=max(peaks) if peaks else None,
        kv_cache_allocator_bytes=alloc[len(alloc) // 2] if alloc else None, metrics=metrics,
    )
