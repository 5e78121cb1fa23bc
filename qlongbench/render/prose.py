"""The sentences every report format shares: the verdict of each precision, what was compared with
what, and what the noise means at this run's cell sizes."""

from __future__ import annotations

from qlongbench.analysis import stats
from qlongbench.analysis.data import PrecisionVerdict, ReportData
from qlongbench.analysis.drops import DropStats, describe_family
from qlongbench.analysis.floor import Changes, KLSummary, NoiseFloor
from qlongbench.analysis.paired_test import McNemarEvidence
from qlongbench.analysis.pairing import ALL_LANGUAGES
from qlongbench.analysis.questions import Question
from qlongbench.memory import AttentionGeometry, format_bytes
from qlongbench.run.plan import prompt_form_text

NOISE_STATEMENT = ("With n = 50 items a 95 % interval on an accuracy is about ±11 points (at 80 % accuracy; "
                   "±14 at 50 %): differences smaller than that are noise unless many more items are run. "
                   "'min. detectable' is the drop the cell's own test would catch 80 % of the time at its family's "
                   "first Holm level.")


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


def fmt_p(p: float | None) -> str:
    """0.0213 -> '0.021'; tiny values as '<0.0001'."""
    if p is None:
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.2g}" if p < 0.01 else f"{p:.3g}"


def fmt_level(level: float | None) -> str:
    """The confidence of an interval drawn at a Holm level: 0.0125 -> '98.75 %'."""
    if level is None:
        return "–"
    return f"{100 * (1 - level):.4g} %"


def interval_text(d: DropStats) -> str:
    """'+4.0 … +36.0 (98.75 %)': the interval that agrees with the verdict (drawn at its Holm level)."""
    iv = d.adjusted_interval
    if iv is None:
        iv = d.paired.interval if d.paired else None
        return "–" if iv is None else f"{100 * iv.low:+.1f} … {100 * iv.high:+.1f}"
    return f"{100 * iv.low:+.1f} … {100 * iv.high:+.1f} ({fmt_level(d.tested_level)})"


def mdd_text(d: DropStats) -> str:
    """The minimum detectable drop in points; 'none at this n' when no drop could be detected at the
    family's level (0/1 scores), '–' when it cannot be estimated (graded scores without spread)."""
    if d.min_detectable_drop is not None:
        return f"{100 * d.min_detectable_drop:.1f}"
    return "none at this n" if d.family_size and isinstance(d.evidence, McNemarEvidence) else "–"


def drop_phrase(d: DropStats) -> str:
    """'+20.0 points (+4.0 … +36.0 at 98.75 %; p 0.0029, Holm 0.012 over 4; n = 50)'."""
    p = d.paired
    assert p is not None
    return (f"{100 * p.drop:+.1f} points ({interval_text(d)}; p {fmt_p(p.p_value)}, Holm {fmt_p(d.p_adjusted)} over "
            f"{d.family_size}; n = {p.n})")


def changes_text(c: Changes | None) -> str:
    return "–" if c is None else f"{c.changed} of {c.compared}"


def kl_text(k: KLSummary | None) -> str:
    if k is None:
        return "–"
    ci = f" ({k.interval.low:.3g}…{k.interval.high:.3g})" if k.interval else ""
    return f"{k.mean_kl:.3g}{ci} nats, top-1 {100 * k.top1:.1f} %"


def floor_text(f: NoiseFloor | None) -> str:
    """'floor (bf16:threads=1): 9 of 200 changed, KL 0.0009'."""
    if f is None:
        return ""
    kl = f" KL {f.kl.mean_kl:.2g}" if f.kl else ""
    return f"floor ({f.control}): {changes_text(f.changes)} changed{',' if kl else ''}{kl}"


QUESTION_UNITS = {"length_trend": " pts per doubling", "language_contrast": " pts", "kl_position_trend": "×",
                  "changes_above_floor": " pts of answers"}


QUESTION_TITLES = {"length_trend": "drop grows with length", "language_contrast": "larger outside English",
                   "kl_position_trend": "KL grows with position",
                   "changes_above_floor": "changes more answers than the floor"}


def question_title(name: str) -> str:
    """The question as a reader asks it: 'KL grows with position' for kl_position_trend."""
    return QUESTION_TITLES.get(name, name.replace("_", " "))


def question_detail(q: Question) -> str:
    """'+1.2 pts per doubling, −3.0 … +5.4 at 97.5 %; p 0.41, Holm 0.82' (or why it is not measured)."""
    if q.answer == "not measured":
        return q.unmeasured or "no test"
    ratio = q.name == "kl_position_trend"
    unit = QUESTION_UNITS.get(q.name, "")
    scale = 1.0 if ratio else 100.0
    est = f"{q.estimate:.2f}{unit}" if ratio else f"{scale * q.estimate:+.1f}{unit}"
    iv = ((q.interval_note or "no interval") if q.interval is None else
          f"{scale * q.interval.low:.3g} … {scale * q.interval.high:.3g} at {fmt_level(q.tested_level)}")
    return f"{est}, {iv}; p {fmt_p(q.p_value)}, Holm {fmt_p(q.p_adjusted)}"


def question_text(q: Question) -> str:
    """'length trend: no evidence (+1.2 pts per doubling, −3.0 … +5.4 at 97.5 %; p 0.41, Holm 0.82)'."""
    return f"{question_title(q.name)}: {q.answer} ({question_detail(q)})"


def verdict_sentence(v: PrecisionVerdict, data: ReportData) -> str:
    """One line a reader gets the answer from: the signals with power first, then the verdicts."""
    parts = []
    if v.kl is not None:
        parts.append(f"KL from {data.reference} {kl_text(v.kl)} on {v.kl.documents} documents of "
                     f"{fmt_length(v.kl.length)}")
    if v.changes is not None:
        parts.append(f"{changes_text(v.changes)} answers changed" + (f" ({floor_text(v.floor)})" if v.floor else ""))
    if v.worst is not None:
        parts.append(f"worse after Holm: {drop_phrase(v.worst)} on {where(v.worst)}")
    elif v.n_within:
        parts.append(f"no cell worse or better after Holm over {v.comparisons} comparison"
                     f"{'s' * (v.comparisons != 1)}")
    else:
        parts.append("no measured cell")
    if v.worst_engine is not None:
        parts.append(f"versus {v.worst_engine.reference}: {drop_phrase(v.worst_engine)} on {where(v.worst_engine)}")
    if v.n_unmeasured:
        parts.append(f"{v.n_unmeasured} cell{'s' * (v.n_unmeasured != 1)} not measured ({'; '.join(v.unmeasured_reasons[:1])})")
    if v.n_failed:
        parts.append(f"crashed (oom / error) in {v.n_failed} cell{'s' * (v.n_failed != 1)}")
    answered = [q for q in v.questions if q.answer in ("yes", "the opposite")]
    for q in answered:
        parts.append(question_text(q))
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
    configs = ", ".join(f"{label}: sha256 {t.generation.sha256[:12]}" for label, t in sorted(header.plan.tasks.items()))
    out = [f"Every precision was fed the same frozen token ids (each record's prompt hash checked against its "
           f"frozen sample in {len(header.samples)} samples files) with the same generation config per task "
           f"({configs or 'none recorded'})."]
    if header.plan.model.origin:
        out.append(f"Reference model: {header.plan.model.origin}.")
    if header.plan.model.prompt_form:  # recorded since runs of base models (older runs: chat_template_used)
        out.append(f"Prompts: {prompt_form_text(header.plan.model)}.")
    cands = [p for p in data.precisions if p != data.reference]
    if data.reference:
        info = header.precisions.get(data.reference)
        eng = info.engine if info else "?"
        if cands:
            out.append(f"Accuracy drops: {', '.join(cands)} each compared with the reference {data.reference} ({eng}) "
                       "on the same items with an exact paired test — the exact unconditional McNemar test for 0/1 "
                       "scores, a sign-flip permutation test for graded ones — and the interval that inverts it. "
                       f"{describe_family(data.drops + data.pooled_drops + data.engine_drops)}: 'worse' / 'better' "
                       f"need the Holm-adjusted p at most {1 - data.confidence:g}, and each interval is drawn at the "
                       "level Holm tested it, so it excludes 0 exactly when the verdict says so.")
    else:
        out.append("No HF reference precision (bf16, fp16, fp32) has records in this run: no drops are computed.")
    for cand, base in sorted(data.engine_baselines.items()):
        out.append(f"Engine-matched: {cand} is also compared with {base}, the same engine at full precision, "
                   "so differences between engines are not blamed on quantization.")
    if data.logprob_tasks and data.reference:
        out.append(f"KL divergence ({', '.join(data.logprob_tasks)}): every precision's next-token distribution "
                   f"compared with {header.plan.logprob_reference or data.reference}'s at the scored positions of the same "
                   "documents (and, for other engines, with the same engine at full precision).")
    geo = AttentionGeometry.from_config(header.plan.model)
    if geo:
        out.append(f"Memory: the KV cache measured by each engine at the end of every prompt, beside the formula "
                   f"2 · {geo.layers} layers · {geo.kv_heads} KV heads · {geo.head_dim} head dim · tokens · bytes "
                   "per element, and each precision's weight bytes. Peak memory is the increase over what the "
                   "process held just before the precision loaded.")
        if geo.sliding_layers:
            out.append(f"{geo.sliding_layers} of the {geo.layers} layers attend to the last {geo.window} tokens only: "
                       f"in the formula they hold min(tokens, {geo.window}) where the engine keeps only those "
                       "(transformers; llama.cpp with swa_full=false) and every token where it keeps all of them "
                       "(llama.cpp with swa_full=true); results.json splits the formula by layer type.")
    return out


def rope_note(data: ReportData) -> str | None:
    """The banner of a run made with RoPE scaling: it measured a different model from the published one."""
    rope = data.header.plan.rope_scaling
    if rope is None:
        return None
    return (f"RoPE-scaled: every precision ran the model with {rope.describe()} (--rope-scaling {rope}) — a "
            "different model from the one published; these results are not the published model's")


def batch_note(data: ReportData) -> str | None:
    """The note of a run whose questions were decoded together (--decode-rows): not bit-exact."""
    if not data.batched:
        return None
    each = ", ".join(f"{p} {n} records (up to {most} rows)" for p, (n, most) in data.batched.items())
    return (f"Questions sharing a context were decoded together, one row each (--decode-rows): {each}. A batch "
            "can move a near-tied greedy token against one-at-a-time decoding (benchmarks/shared_prefix.py counts "
            "how many); compare only runs made with the same --decode-rows.")
