"""Records -> per-cell accuracy with intervals, paired drops versus the reference, memory and
throughput, positional KL, and the files a user reads: index.html (self-contained, charts
embedded), summary.md (CI comments), results.json (machines) and the charts as PNG."""

from __future__ import annotations

import json
import logging
import statistics
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qlongbench import stats
from qlongbench.errors import UserError
from qlongbench.memory import AttentionGeometry, crossover_tokens, format_bytes, kv_element_bytes
from qlongbench.store import RunDir, atomic_write_text
from qlongbench.types import Record

log = logging.getLogger(__name__)

HF_REFERENCES = ("bf16", "fp16", "fp32")
ENGINE_BASELINE_SUFFIXES = ("-bf16", "-f16", "-fp16", "-f32", "-fp32")
"""A precision of a non-reference engine with one of these suffixes is that engine's full-precision
baseline (e.g. gguf-bf16 for gguf-q4_k_m): engine differences are not blamed on quantization."""
ALL_LANGUAGES = "all"
"""Language label of cells and drops pooled over every language of a task."""
NOISE_STATEMENT = ("With n = 50 items a 95 % interval on an accuracy is about ±11 points (at 80 % accuracy; "
                   "±14 at 50 %): differences smaller than that are noise unless many more items are run.")
EXAMPLES_PER_PRECISION = 3
"""Failure examples shown per precision and task."""


@dataclass(frozen=True)
class CellKey:
    precision: str
    """Precision label."""
    task: str
    """Task name."""
    language: str
    """Language label: `xx`, or `ii_hh` for instructions ii over a haystack in hh ('all' = pooled)."""
    length: int
    """Target length."""


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
    prefill_tokens_per_s: float | None
    """Prefilled tokens over prefill seconds, summed over the cell."""
    decode_tokens_per_s: float | None
    """Generated tokens over decode seconds, summed over the cell."""
    peak_bytes: int | None = None
    """Largest peak memory of the cell's records (CUDA max allocated or process peak RSS)."""
    kv_cache_allocator_bytes: int | None = None
    """Median CUDA-allocator bytes of the cache (CUDA runs only)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Mean of each secondary metric over ok records."""

    @property
    def overlength_rate(self) -> float | None:
        """Share of the cell's samples that could not fit the length."""
        return self.n_overlength / self.n if self.n else None

    @property
    def oom_rate(self) -> float | None:
        """Share of the cell's records that ran out of memory."""
        return self.n_oom / self.n if self.n else None

    @property
    def error_rate(self) -> float | None:
        """Share of the cell's records the engine failed on otherwise."""
        return self.n_error / self.n if self.n else None


@dataclass(frozen=True)
class DropStats:
    candidate: str
    """Candidate precision."""
    reference: str
    """Reference precision."""
    task: str
    """Task name."""
    language: str
    """Language label ('all' = pooled over the task's languages)."""
    length: int
    """Target length."""
    paired: stats.PairedDrop
    """Paired drop (positive = candidate worse) with bootstrap interval, McNemar p, within-noise flag
    and the minimum detectable drop for this n."""

    @property
    def verdict(self) -> str:
        """'within noise', 'worse' or 'better'."""
        p = self.paired
        return "within noise" if p.within_noise else ("worse" if p.drop > 0 else "better")


@dataclass(frozen=True)
class MemoryRow:
    """Measured memory and throughput of one precision at one target length (pooled over tasks)."""

    precision: str
    """Precision label."""
    engine: str
    """Engine."""
    length: int
    """Target length."""
    n: int
    """Records measured."""
    tokens: float | None
    """Median tokens in the cache when the KV bytes were measured (the prompt)."""
    kv_cache_bytes: int | None
    """Median measured KV-cache bytes."""
    kv_cache_bytes_formula: int | None
    """Median of 2·layers·kv_heads·head_dim·tokens·bytes over the same records."""
    kv_cache_allocator_bytes: int | None
    """Median CUDA-allocator bytes of the cache (CUDA only)."""
    weight_bytes: int | None
    """Bytes of the loaded weights."""
    peak_bytes: int | None
    """Largest peak memory measured."""
    peak_source: str | None
    """cuda-max-allocated or process-peak-rss."""
    prefill_tokens_per_s: float | None
    """Prefill throughput."""
    decode_tokens_per_s: float | None
    """Decode throughput."""


@dataclass(frozen=True)
class MemorySaving:
    """What quantizing the weights saved, and the context length at which the KV cache eats it."""

    precision: str
    """Candidate precision."""
    reference: str
    """Reference precision."""
    weight_bytes: int
    """Candidate weights."""
    reference_weight_bytes: int
    """Reference weights."""
    saved_bytes: int
    """reference − candidate weights (negative: the candidate is larger)."""
    kv_bytes_per_token: float | None
    """KV-cache bytes one token adds at the candidate's KV dtype (formula, or measured slope)."""
    crossover_tokens: int | None
    """Context length at which the KV cache alone is as large as the saving (None if nothing saved)."""


@dataclass(frozen=True)
class KLRow:
    """Positional KL of one precision versus the reference, for one kld cell."""

    precision: str
    """Candidate precision."""
    task: str
    """Log-prob task (kld)."""
    language: str
    """Language label."""
    length: int
    """Target length."""
    n: int
    """Documents compared."""
    mean_kl: float
    """Mean KL(ref‖cand) over documents and positions (nats)."""
    mean_kl_interval: stats.Interval | None
    """Bootstrap interval over documents (None for one document)."""
    top1: float
    """Top-1 agreement with the reference."""
    top1_interval: stats.Interval | None
    """Bootstrap interval over documents."""
    delta_p: float
    """Mean p_ref(top) − p_cand(top) of the reference's top token."""
    p99_kl: float | None
    """Mean over documents of the 99th percentile of per-position KL."""
    positions: tuple[float, ...]
    """Centre token position of each bucket."""
    bucket_kl: tuple[float, ...]
    """Mean KL per position bucket."""
    bucket_top1: tuple[float, ...]
    """Top-1 agreement per position bucket."""
    bucket_kl_low: tuple[float, ...] = ()
    """Lower bootstrap bound per bucket (empty for one document)."""
    bucket_kl_high: tuple[float, ...] = ()
    """Upper bootstrap bound per bucket."""


@dataclass(frozen=True)
class Example:
    """One record shown in the report: a candidate failure the reference got right, or an engine error."""

    precision: str
    task: str
    language: str
    length: int
    sample_id: str
    status: str
    """ok, oom, error."""
    expected: tuple[str, ...]
    """Gold answers."""
    output: str
    """The candidate's output (escaped when rendered)."""
    reference_output: str | None
    """The reference's output on the same prompt."""
    error: str | None
    """Error message for oom / error."""


@dataclass
class ReportData:
    run_id: str
    """Run id."""
    reference: str | None
    """Reference precision used for drops."""
    cells: list[CellStats] = field(default_factory=list)
    drops: list[DropStats] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    """run.json."""
    pooled_cells: list[CellStats] = field(default_factory=list)
    """Cells pooled over languages (language 'all'), for tasks run in more than one language."""
    pooled_drops: list[DropStats] = field(default_factory=list)
    """Drops pooled over languages (paired on the same items), for tasks run in more than one language."""
    engine_drops: list[DropStats] = field(default_factory=list)
    """Drops versus the same engine's full-precision baseline (e.g. gguf-q4_k_m vs gguf-bf16)."""
    memory: list[MemoryRow] = field(default_factory=list)
    savings: list[MemorySaving] = field(default_factory=list)
    kld: list[KLRow] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    logprob_tasks: tuple[str, ...] = ()
    """Tasks scored from log-probabilities (kld): reported as KL, not as accuracy."""
    precisions: tuple[str, ...] = ()
    """Precisions in run order."""
    comparisons: list[str] = field(default_factory=list)
    """Plain sentences saying what was compared with what."""
    confidence: float = 0.95
    """Confidence of every interval."""

    @property
    def accuracy_cells(self) -> list[CellStats]:
        return [c for c in self.cells if c.key.task not in self.logprob_tasks]

    def weight_bytes(self, precision: str) -> int | None:
        v = (self.meta.get("precisions", {}).get(precision) or {}).get("weight_bytes")
        return int(v) if v is not None else None


def language_label(r: Record) -> str:
    return r.language if r.instruction_language == r.language else f"{r.instruction_language}_{r.language}"


def cell_key(r: Record) -> CellKey:
    return CellKey(r.precision, r.task, language_label(r), r.length)


def check_comparable(records: Sequence[Record]) -> None:
    """Every precision must have seen the same prompt ids and generation config per sample."""
    seen: dict[str, tuple[str, str, str]] = {}
    bad: set[str] = set()
    for r in records:
        if r.status == "overlength":
            continue
        prev = seen.setdefault(r.sample_id, (r.prompt_sha256, r.gen_config_sha256, r.precision))
        if prev[:2] != (r.prompt_sha256, r.gen_config_sha256):
            bad.add(f"{r.sample_id} ({prev[2]} vs {r.precision})")
    if bad:
        raise UserError(f"records disagree on prompt_sha256 or gen_config_sha256 for {len(bad)} samples, e.g. "
                        f"{', '.join(sorted(bad)[:3])}: they were not run on identical inputs and cannot be compared")


def choose_reference(precisions: Sequence[str], requested: str | None = None) -> str | None:
    if requested:
        if requested not in precisions:
            raise UserError(f"reference {requested!r} has no records in this run; precisions: {', '.join(precisions)}")
        return requested
    for name in HF_REFERENCES:
        if name in precisions:
            return name
    return None


def logprob_tasks(records: Sequence[Record]) -> set[str]:
    """Tasks scored from log-probabilities (class attribute uses_logprobs), recognised by their
    kld metrics when the task is not installed here."""
    from qlongbench import registry

    out = set()
    for name in {r.task for r in records}:
        try:
            cls = registry.task_class(name)
        except (UserError, ImportError):
            # Records from a task this installation lacks: judge by what the records hold.
            ok = [r for r in records if r.task == name and r.status == "ok"]
            if ok and all("mean_kl" in r.metrics for r in ok):
                out.add(name)
            continue
        if getattr(cls, "uses_logprobs", False):
            out.add(name)
    return out


def _is_binary(scores: Sequence[float]) -> bool:
    return all(s in (0.0, 1.0) for s in scores)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def cell_stats(key: CellKey, rows: Sequence[Record], confidence: float = 0.95) -> CellStats:
    ok = [r for r in rows if r.status == "ok"]
    scores = [float(r.score) for r in ok if r.score is not None]
    interval = None
    accuracy = None
    if scores:
        accuracy = sum(scores) / len(scores)
        if _is_binary(scores):
            interval = stats.wilson_interval(int(sum(scores)), len(scores), confidence)
        else:
            interval = stats.mean_interval(scores, confidence)
    kv = sorted(r.kv_cache_bytes for r in ok if r.kv_cache_bytes is not None)
    alloc = sorted(r.kv_cache_allocator_bytes for r in ok if r.kv_cache_allocator_bytes is not None)
    peaks = [r.peak_bytes for r in ok if r.peak_bytes is not None]
    pre_t = sum(r.prefill_seconds or 0.0 for r in ok)
    pre_n = sum(r.n_prefilled_tokens or 0 for r in ok)
    dec_t = sum(r.decode_seconds or 0.0 for r in ok)
    dec_n = sum(r.n_generated_tokens for r in ok)
    metric_names = sorted({k for r in ok for k in r.metrics})
    metrics = {}
    for name in metric_names:
        vals = [r.metrics[name] for r in ok if name in r.metrics]
        metrics[name] = sum(vals) / len(vals)
    return CellStats(
        key=key, engine=rows[0].engine, n=len(rows), n_ok=len(ok),
        n_overlength=sum(r.status == "overlength" for r in rows), n_oom=sum(r.status == "oom" for r in rows),
        n_error=sum(r.status == "error" for r in rows), accuracy=accuracy, interval=interval,
        parse_failure_rate=(sum(not r.parsed for r in ok) / len(ok)) if ok else None,
        empty_rate=(sum(not r.output.strip() for r in ok) / len(ok)) if ok else None,
        mean_prompt_tokens=(sum(r.n_prompt_tokens for r in ok) / len(ok)) if ok else None,
        kv_cache_bytes=kv[len(kv) // 2] if kv else None,
        prefill_tokens_per_s=(pre_n / pre_t) if pre_t > 0 else None,
        decode_tokens_per_s=(dec_n / dec_t) if dec_t > 0 else None,
        peak_bytes=max(peaks) if peaks else None,
        kv_cache_allocator_bytes=alloc[len(alloc) // 2] if alloc else None,
        metrics=metrics,
    )


def paired_drops(records: Sequence[Record], reference: str, confidence: float = 0.95, *,
                 exclude_tasks: Collection[str] | None = None, pool_languages: bool = False) -> list[DropStats]:
    """Drop of every other precision versus `reference` per (task, language, length) on the items
    both scored. Log-prob tasks (kld) are left out unless exclude_tasks says otherwise: they are
    reported as KL. pool_languages pairs items over all languages of a task (language 'all')."""
    if exclude_tasks is None:
        exclude_tasks = logprob_tasks(records)
    by_prec: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
        if r.task not in exclude_tasks:
            by_prec[r.precision][r.sample_id] = r
    ref = by_prec.get(reference, {})
    out = []
    for prec, rows in by_prec.items():
        if prec == reference:
            continue
        groups: dict[tuple[str, str, int], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        for sid, r in rows.items():
            q = ref.get(sid)
            if q is None or r.status != "ok" or q.status != "ok" or r.score is None or q.score is None:
                continue
            a, b = groups[(r.task, ALL_LANGUAGES if pool_languages else language_label(r), r.length)]
            a.append(float(q.score))
            b.append(float(r.score))
        for (task, lang, length), (a, b) in sorted(groups.items()):
            out.append(DropStats(prec, reference, task, lang, length,
                                 stats.paired_bootstrap_drop(a, b, confidence=confidence)))
    return out


def engine_baselines(records: Sequence[Record], reference: str | None) -> dict[str, str]:
    """candidate -> full-precision baseline of the same engine, for engines other than the reference's."""
    engines: dict[str, str] = {}
    for r in records:
        if r.engine != "-":
            engines.setdefault(r.precision, r.engine)
    ref_engine = engines.get(reference or "")
    by_engine: dict[str, list[str]] = defaultdict(list)
    for prec, eng in engines.items():
        by_engine[eng].append(prec)
    out = {}
    for eng, precs in by_engine.items():
        if eng == ref_engine:
            continue
        base = next((p for suffix in ENGINE_BASELINE_SUFFIXES for p in precs if p.endswith(suffix)), None)
        if base:
            out.update({p: base for p in precs if p != base})
    return out


# --- memory, KL, examples --------------------------------------------------------------------------
def _geometry(meta: dict[str, Any]) -> AttentionGeometry | None:
    return AttentionGeometry.from_meta(meta.get("model") or {})


def kv_bytes_per_token(meta: dict[str, Any], precision: str) -> float | None:
    """Analytic KV bytes per token of a precision (None when the model's geometry or the KV dtype is unknown)."""
    geo = _geometry(meta)
    elem = kv_element_bytes(meta.get("precisions", {}).get(precision) or {})
    if geo is None or elem is None:
        return None
    return geo.bytes_per_token(elem)


def memory_rows(records: Sequence[Record], meta: dict[str, Any], order: Sequence[str],
                skip_tasks: Collection[str] = ()) -> list[MemoryRow]:
    """Per precision and length, over the text tasks: log-prob passes (kld) compute full-vocabulary
    logits at every position, another workload whose speed and peak would blur these numbers."""
    groups: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for r in records:
        if r.status == "ok" and r.task not in skip_tasks:
            groups[(r.precision, r.length)].append(r)
    out = []
    for (prec, length), rows in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        per_token = kv_bytes_per_token(meta, prec)
        kv_rows = [r for r in rows if r.kv_cache_bytes is not None]
        tokens = _median([float(r.n_prompt_tokens) for r in kv_rows])
        kv = _median([r.kv_cache_bytes for r in kv_rows])
        formula = _median([per_token * r.n_prompt_tokens for r in kv_rows]) if per_token and kv_rows else None
        alloc = _median([r.kv_cache_allocator_bytes for r in rows if r.kv_cache_allocator_bytes is not None])
        peaks = [r for r in rows if r.peak_bytes is not None]
        peak = max(peaks, key=lambda r: r.peak_bytes) if peaks else None
        pre_t = sum(r.prefill_seconds or 0.0 for r in rows)
        pre_n = sum(r.n_prefilled_tokens or 0 for r in rows)
        dec_t = sum(r.decode_seconds or 0.0 for r in rows if r.n_generated_tokens)
        dec_n = sum(r.n_generated_tokens for r in rows)
        w = (meta.get("precisions", {}).get(prec) or {}).get("weight_bytes")
        out.append(MemoryRow(
            precision=prec, engine=rows[0].engine, length=length, n=len(kv_rows), tokens=tokens,
            kv_cache_bytes=int(kv) if kv is not None else None,
            kv_cache_bytes_formula=int(round(formula)) if formula is not None else None,
            kv_cache_allocator_bytes=int(alloc) if alloc is not None else None,
            weight_bytes=int(w) if w is not None else None,
            peak_bytes=peak.peak_bytes if peak else None, peak_source=peak.peak_source if peak else None,
            prefill_tokens_per_s=pre_n / pre_t if pre_t > 0 else None,
            decode_tokens_per_s=dec_n / dec_t if dec_t > 0 else None,
        ))
    return out


def memory_savings(meta: dict[str, Any], reference: str | None, order: Sequence[str],
                   rows: Sequence[MemoryRow]) -> list[MemorySaving]:
    precs = meta.get("precisions", {})
    w_ref = (precs.get(reference or "") or {}).get("weight_bytes")
    if reference is None or w_ref is None:
        return []
    out = []
    for prec in order:
        w = (precs.get(prec) or {}).get("weight_bytes")
        if prec == reference or w is None:
            continue
        per_token = kv_bytes_per_token(meta, prec)
        if per_token is None:
            # No geometry in run.json: use the measured slope (cache bytes per prompt token).
            slopes = [m.kv_cache_bytes / m.tokens for m in rows
                      if m.precision == prec and m.kv_cache_bytes and m.tokens]
            per_token = _median(slopes)
        saved = int(w_ref) - int(w)
        out.append(MemorySaving(prec, reference, int(w), int(w_ref), saved, per_token,
                                crossover_tokens(saved, per_token) if per_token else None))
    return out


def _bucket_positions(r: Record, buckets: int) -> list[float]:
    n = int(r.metrics.get("n_positions", r.n_prompt_tokens))
    edges = [round(n * i / buckets) for i in range(buckets + 1)]
    return [(edges[i] + edges[i + 1]) / 2 for i in range(buckets)]


def kl_rows(records: Sequence[Record], tasks: Collection[str], reference: str | None, order: Sequence[str],
            confidence: float = 0.95) -> list[KLRow]:
    groups: dict[tuple[str, str, str, int], list[Record]] = defaultdict(list)
    for r in records:
        if r.task in tasks and r.status == "ok" and r.precision != reference and "mean_kl" in r.metrics:
            groups[(r.precision, r.task, language_label(r), r.length)].append(r)
    out = []
    for (prec, task, lang, length), rows in sorted(groups.items(),
                                                   key=lambda kv: (kv[0][1], kv[0][2], kv[0][3], order.index(kv[0][0]))):
        buckets = int(min(r.metrics.get("n_buckets", 0) for r in rows))
        kl = [r.metrics["mean_kl"] for r in rows]
        top1 = [r.metrics.get("top1", r.score or 0.0) for r in rows]
        interval = (lambda v: stats.mean_interval(v, confidence) if len(v) > 1 else None)
        b_kl = [[r.metrics[f"kl_b{b}"] for r in rows if f"kl_b{b}" in r.metrics] for b in range(buckets)]
        b_top = [[r.metrics[f"top1_b{b}"] for r in rows if f"top1_b{b}" in r.metrics] for b in range(buckets)]
        b_int = [interval(v) if v else None for v in b_kl]
        pos = [statistics.fmean(p) for p in zip(*(_bucket_positions(r, buckets) for r in rows))] if buckets else []
        p99 = [r.metrics["p99_kl"] for r in rows if "p99_kl" in r.metrics]
        out.append(KLRow(
            precision=prec, task=task, language=lang, length=length, n=len(rows),
            mean_kl=statistics.fmean(kl), mean_kl_interval=interval(kl),
            top1=statistics.fmean(top1), top1_interval=interval(top1),
            delta_p=statistics.fmean(r.metrics.get("delta_p", 0.0) for r in rows),
            p99_kl=statistics.fmean(p99) if p99 else None,
            positions=tuple(pos), bucket_kl=tuple(statistics.fmean(v) if v else float("nan") for v in b_kl),
            bucket_top1=tuple(statistics.fmean(v) if v else float("nan") for v in b_top),
            bucket_kl_low=tuple(i.low for i in b_int) if all(b_int) else (),
            bucket_kl_high=tuple(i.high for i in b_int) if all(b_int) else (),
        ))
    return out


def failure_examples(records: Sequence[Record], reference: str | None, skip_tasks: Collection[str],
                     per_precision: int = EXAMPLES_PER_PRECISION) -> list[Example]:
    """Items the reference got right and a candidate got wrong (first few per precision and task),
    then every engine failure (oom / error)."""
    ref = {r.sample_id: r for r in records if r.precision == reference}
    shown: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for r in records:
        if r.precision == reference or r.task in skip_tasks or r.status != "ok":
            continue
        q = ref.get(r.sample_id)
        if q is None or q.status != "ok" or q.score is None or r.score is None or r.score >= q.score:
            continue
        if shown[(r.precision, r.task)] >= per_precision:
            continue
        shown[(r.precision, r.task)] += 1
        out.append(Example(r.precision, r.task, language_label(r), r.length, r.sample_id, r.status, r.expected,
                           r.output, q.output, None))
    for r in records:
        if r.status in ("oom", "error"):
            q = ref.get(r.sample_id)
            out.append(Example(r.precision, r.task, language_label(r), r.length, r.sample_id, r.status,
                               r.expected, r.output, q.output if q else None, r.error))
    return out


def comparison_statements(data: ReportData, records: Sequence[Record], baselines: dict[str, str]) -> list[str]:
    """What was compared with what, in plain words."""
    meta = data.meta
    samples = {r.sample_id for r in records if r.status != "overlength"}
    gen = meta.get("generation_configs") or {}
    configs = ", ".join(f"{t}: sha256 {str(c.get('sha256', '?'))[:12]}" for t, c in sorted(gen.items()))
    out = [f"Every precision was fed the same frozen token ids for each of the {len(samples)} samples "
           f"(prompt_sha256 checked per sample) with the same generation config per task "
           f"({configs or 'none recorded'})."]
    cands = [p for p in data.precisions if p != data.reference]
    if data.reference:
        eng = next((r.engine for r in records if r.precision == data.reference and r.engine != "-"), "?")
        if cands:
            out.append(f"Accuracy drops: {', '.join(cands)} each compared with the reference {data.reference} ({eng}) "
                       f"on the same items — paired bootstrap interval ({int(100 * data.confidence)} %, 10,000 "
                       "resamples) and exact McNemar p on the discordant items. A drop whose interval contains 0 "
                       "is labelled 'within noise'.")
    else:
        out.append("No HF reference precision (bf16, fp16, fp32) has records in this run: no drops are computed.")
    for cand, base in sorted(baselines.items()):
        out.append(f"Engine-matched: {cand} is also compared with {base}, the same engine at full precision, "
                   "so differences between engines are not blamed on quantization.")
    if data.logprob_tasks and data.reference:
        k = {int(r.metrics.get("n_buckets", 0)) for r in records if r.task in data.logprob_tasks and r.metrics}
        out.append(f"KL divergence ({', '.join(data.logprob_tasks)}): every precision's next-token distribution "
                   f"compared with {data.reference}'s stored top-k log-probabilities plus tail mass at every "
                   f"position of the same documents, averaged in {', '.join(str(b) for b in sorted(k) if b)} "
                   "position buckets.")
    geo = _geometry(meta)
    sources = sorted({r.peak_source for r in records if r.peak_source})
    if geo:
        out.append(f"Memory: the KV cache measured by each engine at the end of every prompt, beside the formula "
                   f"2 · {geo.layers} layers · {geo.kv_heads} KV heads · {geo.head_dim} head dim · tokens · bytes "
                   f"per element, and each precision's weight bytes. Peak memory: {', '.join(sources) or 'not measured'}.")
    return out


def build(run_dir: str | Path, reference: str | None = None, confidence: float = 0.95) -> ReportData:
    rd = RunDir(run_dir)
    meta = rd.read_meta()
    records = rd.records()
    if not records:
        raise UserError(f"{rd.root} has no records yet; run `qlongbench run` first")
    check_comparable(records)
    grouped: dict[CellKey, list[Record]] = defaultdict(list)
    for r in records:
        grouped[cell_key(r)].append(r)
    order = list(dict.fromkeys(r.precision for r in records))
    ref = choose_reference(order, reference)
    lp_tasks = logprob_tasks(records)
    cells = [cell_stats(k, grouped[k], confidence)
             for k in sorted(grouped, key=lambda k: (k.task, k.language, k.length, order.index(k.precision)))]
    multi = {t for t in {r.task for r in records} if len({language_label(r) for r in records if r.task == t}) > 1}
    pooled: dict[CellKey, list[Record]] = defaultdict(list)
    for r in records:
        if r.task in multi:
            pooled[CellKey(r.precision, r.task, ALL_LANGUAGES, r.length)].append(r)
    pooled_cells = [cell_stats(k, pooled[k], confidence)
                    for k in sorted(pooled, key=lambda k: (k.task, k.length, order.index(k.precision)))]
    drops = paired_drops(records, ref, confidence, exclude_tasks=lp_tasks) if ref else []
    pooled_drops = ([d for d in paired_drops(records, ref, confidence, exclude_tasks=lp_tasks, pool_languages=True)
                     if d.task in multi] if ref else [])
    baselines = engine_baselines(records, ref)
    engine_drops = []
    for base in sorted(set(baselines.values())):
        members = {p for p, b in baselines.items() if b == base} | {base}
        engine_drops += paired_drops([r for r in records if r.precision in members], base, confidence,
                                     exclude_tasks=lp_tasks)
    mem = memory_rows(records, meta, order, lp_tasks)
    data = ReportData(
        run_id=meta.get("run_id", rd.root.name), reference=ref, cells=cells, drops=drops, meta=meta,
        pooled_cells=pooled_cells, pooled_drops=pooled_drops, engine_drops=engine_drops, memory=mem,
        savings=memory_savings(meta, ref, order, mem), kld=kl_rows(records, lp_tasks, ref, order, confidence),
        examples=failure_examples(records, ref, lp_tasks), logprob_tasks=tuple(sorted(lp_tasks)),
        precisions=tuple(order), confidence=confidence,
    )
    data.comparisons = comparison_statements(data, records, baselines)
    return data


# --- writers ------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def md_escape(text: str) -> str:
    """Markdown table cells: escape the characters that change meaning, drop raw HTML."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    out = out.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
    return out


def noise_statement(data: ReportData) -> str:
    """The general rule plus what it means for this run's cell sizes."""
    ns = sorted({c.n_ok for c in data.accuracy_cells if c.n_ok})
    if not ns:
        return NOISE_STATEMENT
    n = ns[0]
    half = 100 * (stats.wilson_interval(n // 2, n, data.confidence).width / 2)
    size = f"n = {n}" if len(ns) == 1 else f"n = {ns[0]} to {ns[-1]}"
    return f"{NOISE_STATEMENT} This run's cells have {size} scored items: at n = {n} the interval is up to ±{half:.0f} points."


def drop_line(d: DropStats, *, show_reference: bool = False) -> str:
    p = d.paired
    who = f"{d.candidate} vs {d.reference}" if show_reference else d.candidate
    mp = "–" if p.mcnemar_p is None else f"{p.mcnemar_p:.3g}"
    rel = "–" if p.relative_drop is None else f"{100 * p.relative_drop:+.1f}"
    return (f"| {md_escape(d.task)} | {md_escape(d.language)} | {d.length} | {md_escape(who)} | "
            f"{p.n} | {100 * p.drop:+.1f} | {100 * p.interval.low:+.1f}…{100 * p.interval.high:+.1f} | {rel} | "
            f"{mp} | {d.verdict} | {100 * p.min_detectable_drop:.1f} |")


_DROP_HEAD = ["| task | lang | length | precision | n | drop | 95 % CI | rel. % | McNemar p | verdict | min. detectable |",
              "|---|---|---:|---|---:|---:|---|---:|---:|---|---:|"]


def summary_markdown(data: ReportData) -> str:
    lines = [f"# qlongbench report: {md_escape(data.run_id)}", ""]
    model = data.meta.get("model", {}).get("source", "?")
    lines += [f"Model: `{md_escape(Path(str(model)).name if Path(str(model)).exists() else model)}` · "
              f"reference: **{md_escape(data.reference or 'none')}** · {int(100 * data.confidence)} % intervals", ""]
    if data.accuracy_cells:
        lines += ["## Accuracy", "",
                  "| task | lang | length | precision | engine | n | acc % | 95 % CI | parse fail % | overlength | oom | error |",
                  "|---|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for c in data.accuracy_cells:
        ci = f"{_pct(c.interval.low)}–{_pct(c.interval.high)}" if c.interval else "–"
        lines.append(f"| {md_escape(c.key.task)} | {md_escape(c.key.language)} | {c.key.length} | "
                     f"{md_escape(c.key.precision)} | {md_escape(c.engine)} | {c.n_ok} | {_pct(c.accuracy)} | {ci} | "
                     f"{_pct(c.parse_failure_rate)} | {c.n_overlength} | {c.n_oom} | {c.n_error} |")
    if data.drops:
        lines += ["", f"## Drop versus {md_escape(data.reference or '')} (points; positive = worse)", "", *_DROP_HEAD]
        lines += [drop_line(d) for d in data.drops]
    if data.pooled_drops:
        lines += ["", "## Drop pooled over languages", "", *_DROP_HEAD]
        lines += [drop_line(d) for d in data.pooled_drops]
    if data.engine_drops:
        lines += ["", "## Drop versus the same engine at full precision", "", *_DROP_HEAD]
        lines += [drop_line(d, show_reference=True) for d in data.engine_drops]
    if data.kld:
        lines += ["", f"## KL divergence versus {md_escape(data.reference or '')}", "",
                  "| task | lang | length | precision | n | mean KL (nats) | top-1 agree % | Δp top token | "
                  "KL first bucket | KL last bucket |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for k in data.kld:
            first = f"{k.bucket_kl[0]:.3g}" if k.bucket_kl else "–"
            last = f"{k.bucket_kl[-1]:.3g}" if k.bucket_kl else "–"
            lines.append(f"| {md_escape(k.task)} | {md_escape(k.language)} | {k.length} | {md_escape(k.precision)} | "
                         f"{k.n} | {k.mean_kl:.3g} | {100 * k.top1:.1f} | {k.delta_p:+.3g} | {first} | {last} |")
    if data.memory or data.savings:
        lines += ["", "## Memory and throughput"]
    if data.memory:
        lines += ["",
                  "| precision | length | tokens | KV measured | KV formula | weights | peak | prefill tok/s | decode tok/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m in data.memory:
            lines.append(f"| {md_escape(m.precision)} | {m.length} | {_num(m.tokens)} | {format_bytes(m.kv_cache_bytes)} | "
                         f"{format_bytes(m.kv_cache_bytes_formula)} | {format_bytes(m.weight_bytes)} | "
                         f"{format_bytes(m.peak_bytes)} | {_num(m.prefill_tokens_per_s)} | {_num(m.decode_tokens_per_s)} |")
    if data.savings:
        lines += ["", "| precision | weights | saved vs reference | KV bytes / token | KV cache = saving at |",
                  "|---|---:|---:|---:|---:|"]
        for s in data.savings:
            cross = f"{s.crossover_tokens:,} tokens" if s.crossover_tokens else "nothing saved"
            lines.append(f"| {md_escape(s.precision)} | {format_bytes(s.weight_bytes)} | {format_bytes(s.saved_bytes)} | "
                         f"{_num(s.kv_bytes_per_token)} | {cross} |")
    if data.comparisons:
        lines += ["", "## What was compared", ""] + [f"- {md_escape(c)}" for c in data.comparisons]
    lines += ["", noise_statement(data)]
    return "\n".join(lines) + "\n"


def _num(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        out = {k: _jsonable(v) for k, v in asdict(obj).items()}
        if isinstance(obj, CellStats):
            out.update(overlength_rate=obj.overlength_rate, oom_rate=obj.oom_rate, error_rate=obj.error_rate)
        if isinstance(obj, DropStats):
            out["verdict"] = obj.verdict
        return out
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def results_json(data: ReportData) -> str:
    payload = {
        "run_id": data.run_id, "reference": data.reference, "confidence": data.confidence,
        "precisions": list(data.precisions), "logprob_tasks": list(data.logprob_tasks),
        "cells": [_jsonable(c) for c in data.cells], "drops": [_jsonable(d) for d in data.drops],
        "pooled_cells": [_jsonable(c) for c in data.pooled_cells],
        "pooled_drops": [_jsonable(d) for d in data.pooled_drops],
        "engine_drops": [_jsonable(d) for d in data.engine_drops],
        "memory": [_jsonable(m) for m in data.memory], "savings": [_jsonable(s) for s in data.savings],
        "kld": [_jsonable(k) for k in data.kld],
        "comparisons": data.comparisons, "noise": noise_statement(data),
        "provenance": {k: data.meta.get(k) for k in ("model", "precisions", "generation_configs", "environment",
                                                    "seed", "spec", "created_at")},
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str, allow_nan=False) + "\n"


def default_out_dir(data: ReportData, run_dir: str | Path) -> Path:
    from qlongbench.store import safe_name

    return Path("reports") / safe_name(data.meta.get("name") or Path(run_dir).resolve().name)


def write(run_dir: str | Path, out: str | Path | None = None, reference: str | None = None) -> Path:
    """Write index.html, summary.md, results.json and the PNG charts; returns the directory."""
    data = build(run_dir, reference)
    out_dir = Path(out) if out else default_out_dir(data, run_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the report directory {out_dir}: {err.strerror or err}") from None
    atomic_write_text(out_dir / "summary.md", summary_markdown(data))
    atomic_write_text(out_dir / "results.json", results_json(data))
    try:
        from qlongbench import charts, html_report
    except ImportError as err:
        raise UserError(f"the charted report needs matplotlib and jinja2 ({err}); install them with: "
                        "pip install 'qlongbench[report]' (summary.md and results.json were written)") from None
    made = charts.make_charts(data)
    charts.remove_stale(out_dir, made)
    for chart in made:
        chart.write(out_dir)
    atomic_write_text(out_dir / "index.html", html_report.render(data, made))
    for name in ("summary.md", "results.json", "index.html"):
        # A report is meant to be read (and served) by others; temp files are created 0600.
        (out_dir / name).chmod(0o644)
    return out_dir
