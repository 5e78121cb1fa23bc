"""The sentences every report format shares: the verdict of each precision, what was compared with
what, and what the noise means at this run's cell sizes."""

from __future__ import annotations

from qlongbench.analysis import stats
from qlongbench.analysis.data import PrecisionVerdict, ReportData
from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.pairing import ALL_LANGUAGES
from qlongbench.memory import AttentionGeometry, format_bytes

NOISE_STATEMENT = ("With n = 50 items a 95 % interval on an accuracy is about ±11 points (at 80 % accuracy; "
                   "±14 at 50 %): differences smaller than that are noise unless many more items are run.")


def fmt_length(n: float) -> str:
    """256 -> '256', 4096 -> '4k', 131072 -> '128k'."""
    n = int(round(n))
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}k"
    if n >= 10_000:
        return f"{n / 1024:.0f}k"
    return str(n)


def where(d: DropStats) -> str:
    lang = "all languages" if d.language == ALL_LANGUAGES else d.language
    return f"{d.task} · {lang} · {fmt_length(d.length)}"


def drop_phrase(d: DropStats, confidence: float) -> str:
    """'−12.5 points (95 % CI +4.0 … +21.0, n = 50)'."""
    p = d.paired
    assert p is not None
    return (f"{100 * p.drop:+.1f} points ({int(100 * confidence)} % CI {100 * p.interval.low:+.1f} … "
            f"{100 * p.interval.high:+.1f}, n = {p.n})")


def verdict_sentence(v: PrecisionVerdict, data: ReportData) -> str:
    """One line a reader gets the answer from."""
    parts = []
    if v.worst is not None:
        parts.append(f"largest drop outside the noise {drop_phrase(v.worst, data.confidence)} on {where(v.worst)}")
    elif v.n_within:
        parts.append(f"no drop outside the noise in {v.n_within} measured cell{'s' * (v.n_within != 1)}")
    else:
        parts.append("no measured cell")
    if v.worst_engine is not None:
        parts.append(f"versus {v.worst_engine.reference}: {drop_phrase(v.worst_engine, data.confidence)} on "
                     f"{where(v.worst_engine)}")
    if v.n_unmeasured:
        parts.append(f"{v.n_unmeasured} cell{'s' * (v.n_unmeasured != 1)} not measured ({'; '.join(v.unmeasured_reasons[:1])})")
    if v.n_failed:
        parts.append(f"crashed (oom / error) in {v.n_failed} cell{'s' * (v.n_failed != 1)}")
    if v.saved_bytes is not None and v.saved_bytes > 0 and v.crossover_tokens:
        parts.append(f"saves {format_bytes(v.saved_bytes)} of weights, which the KV cache takes back at "
                     f"{v.crossover_tokens:,} tokens")
    elif v.saved_bytes is not None:
        parts.append(f"weights {format_bytes(v.weight_bytes)}, no saving over {data.reference}")
    return f"{v.precision}: " + "; ".join(parts) + "."


def noise_statement(data: ReportData) -> str:
    """The general rule plus what it means for this run's cell sizes."""
    ns = sorted({c.n_ok for c in data.accuracy_cells if c.n_ok})
    if not ns:
        return NOISE_STATEMENT
    n = ns[0]
    half = 100 * (stats.wilson_interval(n // 2, n, data.confidence).width / 2)
    size = f"n = {n}" if len(ns) == 1 else f"n = {ns[0]} to {ns[-1]}"
    return (f"{NOISE_STATEMENT} This run's cells have {size} scored items: at n = {n} the interval is up to "
            f"±{half:.0f} points.")


def measure_rule(data: ReportData) -> str:
    rule = data.rule
    return (f"A cell is 'not measured' — never 'no drop' — when the reference scores at most "
            f"{100 * rule.floor:.0f} % (or its task's chance level), when fewer than {100 * rule.min_parsed:.0f} % "
            "of its answers parse, or when nothing could be paired. A candidate's crash (oom / error) on a sample "
            "the reference scored counts as a wrong answer.")


def comparison_statements(data: ReportData) -> list[str]:
    """What was compared with what, in plain words."""
    header = data.header
    configs = ", ".join(f"{t}: sha256 {c.sha256[:12]}" for t, c in sorted(header.generation_configs.items()))
    out = [f"Every precision was fed the same frozen token ids (each record's prompt hash checked against its "
           f"frozen sample in {len(header.samples)} samples files) with the same generation config per task "
           f"({configs or 'none recorded'})."]
    if header.model.origin:
        out.append(f"Reference model: {header.model.origin}.")
    cands = [p for p in data.precisions if p != data.reference]
    if data.reference:
        info = header.precisions.get(data.reference)
        eng = info.engine if info else "?"
        if cands:
            out.append(f"Accuracy drops: {', '.join(cands)} each compared with the reference {data.reference} ({eng}) "
                       f"on the same items — paired bootstrap interval ({int(100 * data.confidence)} %, 10,000 "
                       "resamples) and exact McNemar p on the discordant items. A drop whose interval contains 0 "
                       "is labelled 'within noise'.")
    else:
        out.append("No HF reference precision (bf16, fp16, fp32) has records in this run: no drops are computed.")
    for cand, base in sorted(data.engine_baselines.items()):
        out.append(f"Engine-matched: {cand} is also compared with {base}, the same engine at full precision, "
                   "so differences between engines are not blamed on quantization.")
    if data.logprob_tasks and data.reference:
        out.append(f"KL divergence ({', '.join(data.logprob_tasks)}): every precision's next-token distribution "
                   f"compared with {header.logprob_reference or data.reference}'s at the scored positions of the same "
                   "documents (and, for other engines, with the same engine at full precision).")
    geo = AttentionGeometry.from_config(header.model)
    if geo:
        out.append(f"Memory: the KV cache measured by each engine at the end of every prompt, beside the formula "
                   f"2 · {geo.layers} layers · {geo.kv_heads} KV heads · {geo.head_dim} head dim · tokens · bytes "
                   "per element, and each precision's weight bytes. Peak memory is the increase over what the "
                   "process held just before the precision loaded.")
    return out
