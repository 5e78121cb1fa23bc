"""Compact Markdown tables for reading several runs side by side (the committed reference reports
and the README's measured section, regenerated from records by scripts/regenerate_reports.py):
drops per length for one task, KL per precision, and the stability of verdicts between two runs of
the same job."""

from __future__ import annotations

from collections.abc import Sequence

from qlongbench.analysis.answers import wording_between
from qlongbench.analysis.data import ReportData
from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.floor import changes
from qlongbench.analysis.questions import QUESTIONS
from qlongbench.render.prose import changes_text, fmt_length, fmt_p, question_detail, question_title
from qlongbench.render.text import md_escape, pct


def drop_cell(d: DropStats | None) -> str:
    """'**+20.0** (+4.1…+35.9), p 0.0029, Holm 0.012' — bold when it survives Holm."""
    if d is None or d.paired is None:
        return "–"
    if d.verdict == "not measured":
        return "not measured"
    iv = d.adjusted_interval
    ci = f" ({100 * iv.low:+.1f}…{100 * iv.high:+.1f})" if iv else ""
    value = f"{100 * d.paired.drop:+.1f}"
    value = f"**{value}**" if d.significant else value
    return f"{value}{ci}, p {fmt_p(d.paired.p_value)}, Holm {fmt_p(d.p_adjusted)}"


def drop_matrix(data: ReportData, task: str, language: str, *, engine: bool = True) -> list[str]:
    """One row per candidate: its drop at each length versus the reference (and, for engines other
    than the reference's, versus its engine's full-precision run), with the answers it changed."""
    mine = [d for d in data.drops if d.task == task and d.language == language]
    lengths = sorted({d.length for d in mine})
    ref_cells = {c.key.length: c for c in data.cells
                 if c.key.task == task and c.key.language == language and c.key.precision == data.reference}
    head = ["| precision | " + " | ".join(fmt_length(n) for n in lengths) + " | answers changed |",
            "|---|" + "---:|" * len(lengths) + "---:|",
            f"| {md_escape(data.reference or '?')} accuracy % | "
            + " | ".join(pct(ref_cells[n].accuracy) if n in ref_cells else "–" for n in lengths) + " | – |"]
    rows = []
    for cand in [p for p in data.precisions if p != data.reference]:
        cells = {d.length: d for d in mine if d.candidate == cand}
        if not cells:
            continue
        label = md_escape(cand) + (" (noise-floor control)" if cand in data.controls else
                                   " (its engine against the reference's: the engine's own floor)"
                                   if cand in data.header.plan.added else "")
        rows.append(f"| {label} | " + " | ".join(drop_cell(cells.get(n)) for n in lengths)
                    + f" | {changes_text(changes(mine, cand, data.reference or ''))} |")
    if engine:
        for d_cand, base in sorted(data.engine_baselines.items()):
            eng = [d for d in data.engine_drops if d.candidate == d_cand and d.task == task and d.language == language]
            if eng:
                cells = {d.length: d for d in eng}
                rows.append(f"| {md_escape(d_cand)} vs {md_escape(base)} | "
                            + " | ".join(drop_cell(cells.get(n)) for n in lengths)
                            + f" | {changes_text(changes(eng, d_cand, base))} |")
    return head + rows


def kl_table(data: ReportData) -> list[str]:
    """KL from the reference (and from the engine baseline) on the longest kld documents, with the
    position trend (last bucket over first)."""
    rows = [k for k in data.kld]
    if not rows:
        return []
    longest = max(k.length for k in rows)
    out = ["| precision | versus | documents | mean KL (nats) | interval | top-1 agree % | KL first bucket | "
           "KL last bucket | position trend (last / first) |",
           "|---|---|---:|---:|---|---:|---:|---:|---|"]
    trend = {q.candidate: q for q in data.questions if q.name == "kl_position_trend"}
    for k in (k for k in rows if k.length == longest):
        iv = f"{k.mean_kl_interval.low:.3g}…{k.mean_kl_interval.high:.3g}" if k.mean_kl_interval else "–"
        q = trend.get(k.precision) if k.versus == data.reference else None
        out.append(f"| {md_escape(k.precision)} | {md_escape(k.versus)} | {k.n} | {k.mean_kl:.3g} | {iv} | "
                   f"{100 * k.top1:.1f} | {k.bucket_kl[0]:.3g} | {k.bucket_kl[-1]:.3g} | "
                   f"{md_escape(q.answer + ': ' + question_detail(q)) if q else '–'} |")
    return out


def questions_table(data: ReportData) -> list[str]:
    out = ["| precision | " + " | ".join(question_title(n) for n in QUESTIONS) + " |",
           "|---|" + "---|" * len(QUESTIONS)]
    for cand in [p for p in data.precisions if p != data.reference]:
        qs = {q.name: q for q in data.questions if q.candidate == cand}
        if qs:
            out.append(f"| {md_escape(cand)} | " + " | ".join(
                md_escape(f"{qs[n].answer} ({question_detail(qs[n])})") if n in qs else "–"
                for n in QUESTIONS) + " |")
    return out


def verdicts_of(data: ReportData) -> dict[tuple[str, str], str]:
    """Every verdict a report states, by (precision, what): its drops versus the reference (per language
    and pooled), versus its engine's full-precision run, and its answers to the study's questions."""
    out = {(d.candidate, f"{d.task} {d.language} {fmt_length(d.length)}"): d.verdict
           for d in data.drops + data.pooled_drops}
    out |= {(d.candidate, f"{d.task} {d.language} {fmt_length(d.length)} vs {d.reference}"): d.verdict
            for d in data.engine_drops}
    out |= {(q.candidate, question_title(q.name)): q.answer for q in data.questions}
    return out


def stability_table(a: ReportData, b: ReportData, label_a: str, label_b: str) -> list[str]:
    """The same job run twice: per precision, every verdict the report states (drops, engine drops,
    the study's questions) in each run and the ones that differ; the answers that changed between the
    two runs (same precision, same ids)."""
    va, vb = verdicts_of(a), verdicts_of(b)
    out = [f"| precision | same weights file | verdicts | same | flipped ({md_escape(label_a)} → {md_escape(label_b)}) | "
           f"answers worded differently in the two runs | of them scored differently |", "|---|---|---:|---:|---|---:|---:|"]
    for prec in a.precisions:
        keys = sorted(k for k in va if k[0] == prec and k in vb)
        flipped = [k for k in keys if va[k] != vb[k]]
        what = "; ".join(f"{k[1]}: {va[k]} → {vb[k]}" for k in flipped)
        out.append(f"| {md_escape(prec)} | {_same_artifact(a, b, prec)} | {len(keys)} | {len(keys) - len(flipped)} | {md_escape(what) or '–'} | "
                   f"{_answers_between(a, b, prec)} |")
    return out


def _same_artifact(a: ReportData, b: ReportData, precision: str) -> str:
    """Whether both runs read the same quantized file (its recomputed sha256 in each header): GPTQ's
    calibration sums depend on the thread count, so the same recipe can make another file."""
    ia, ib = a.header.precisions.get(precision), b.header.precisions.get(precision)
    if ia is None or ib is None:
        return "–"
    if ia.artifact_sha256 is None and ib.artifact_sha256 is None:
        return "no file (quantized while loading)" if ia.recipe.method != "none" else "no file (the model itself)"
    if ia.artifact_sha256 == ib.artifact_sha256:
        return f"yes ({ia.artifact_sha256[:12]})"
    return f"no ({(ia.artifact_sha256 or '–')[:12]} / {(ib.artifact_sha256 or '–')[:12]})"


def _answers_between(a: ReportData, b: ReportData, precision: str) -> str:
    """Items whose output, and whose score, differ between the two runs for one precision (the runs
    share sample ids): two cells of the stability table."""
    w = wording_between(precision, a.answers.get(precision, {}), b.answers.get(precision, {}))
    return f"{w.worded} of {w.paired} | {w.scored}" if w else "– | –"


def timing_table(data: ReportData) -> list[str]:
    """Minutes per precision, from the records' timestamps (each precision from the previous one's last
    record, the first from the run's start: loading, quantizing and converting included)."""
    out = ["| precision | records | minutes |", "|---|---:|---:|"]
    for prec, (n, seconds) in data.durations.items():
        out.append(f"| {md_escape(prec)} | {n} | {seconds / 60:.1f} |")
    total = sum(s for _, s in data.durations.values())
    return out + [f"| all | {sum(n for n, _ in data.durations.values())} | {total / 60:.1f} |"]


def phase_table(data: ReportData) -> list[str]:
    """Where each precision's minutes went: prefilling (and of it, the contexts: analysis/timing.py
    prefilled_context) and decoding (the records' own seconds) and the rest of its wall clock (loading,
    quantizing, converting, scoring, writing); then the same seconds by task over every precision.
    The contexts' prefill is what the job takes at these engines' prefill speeds if every question
    appended to a kept context and every answer were free. The CPU comes first: what a minute means
    depends on it."""
    cpus = sorted({c for prec in data.durations for c in data.header.cpus(prec)})
    out = [f"CPU: {md_escape(' / '.join(cpus)) if cpus else 'not recorded (a header written before version 4)'}", "",
           "| precision | minutes | prefill | of it, contexts | decode | the rest |", "|---|---:|---:|---:|---:|---:|"]

    def row(label: str, cols: list[float]) -> str:
        minutes, prefill, contexts, decode = cols
        return f"| {label} | " + " | ".join(f"{c / 60:.1f}" for c in (minutes, prefill, contexts, decode,
                                                                    minutes - prefill - decode)) + " |"

    total = [0.0] * 4
    for prec, (_, seconds) in data.durations.items():
        phase = data.phases[prec]
        cols = [seconds, phase.prefill, phase.contexts, phase.decode]
        total = [a + b for a, b in zip(total, cols)]
        out.append(row(md_escape(prec), cols))
    out.append(row("all", total))
    out += ["", "| task | records | prefill minutes | of it, contexts | decode minutes |", "|---|---:|---:|---:|---:|"]
    for task, phase in data.task_phases.items():
        out.append(f"| {md_escape(task)} | {phase.records} | {phase.prefill / 60:.1f} | {phase.contexts / 60:.1f} | "
                   f"{phase.decode / 60:.1f} |")
    return out


def wording_table(data: ReportData) -> list[str]:
    """Each candidate's answers against its baseline's: worded differently, and of those, scored
    differently (a full-precision engine that words answers differently but scores none differently is
    rounding, not a loss)."""
    out = ["| precision | against | answered by both | worded differently | scored differently |",
           "|---|---|---:|---:|---:|"]
    return out + [f"| {md_escape(w.precision)} | {md_escape(w.versus)} | {w.paired} | {w.worded} | {w.scored} |"
                  for w in data.wording]


def depth_table(data: ReportData) -> list[str]:
    """The reference's misses by needle depth (percent of the context), per task and length."""
    bands = sorted({(m.low, m.high) for m in data.depth_misses})
    out = ["| task | length | " + " | ".join(f"depth {lo:g}–{hi:g} %" for lo, hi in bands) + " |",
           "|---|---:|" + "---:|" * len(bands)]
    rows: dict[tuple[str, int], dict[tuple[float, float], str]] = {}
    for m in data.depth_misses:
        rows.setdefault((m.task, m.length), {})[(m.low, m.high)] = f"{m.misses} of {m.items}"
    return out + [f"| {md_escape(task)} | {length} | " + " | ".join(cells.get(b, "–") for b in bands) + " |"
                  for (task, length), cells in rows.items()]


def run_summary(data: ReportData, tasks: Sequence[str]) -> list[str]:
    lines = []
    for task in tasks:
        langs = sorted({d.language for d in data.drops if d.task == task})
        for lang in langs:
            lines += [f"**{md_escape(task)} · {lang}**", "", *drop_matrix(data, task, lang), ""]
    return lines


def drops_summary(data: ReportData) -> list[str]:
    """run_summary over every task the run compared."""
    return run_summary(data, sorted({d.task for d in data.drops}))
