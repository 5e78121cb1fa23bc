"""summary.md: the report for a CI comment. It opens with one verdict row per precision; the drops
outside the noise and the unmeasured cells follow; cells inside the noise and the full tables sit
in collapsed <details> blocks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qlongbench.analysis.data import ReportData
from qlongbench.analysis.drops import DropStats, describe_family
from qlongbench.analysis.examples import Example
from qlongbench.memory import format_bytes
from qlongbench.render.prose import (
    changes_text, comparison_statements, floor_text, fmt_length, fmt_p, interval_text, kl_text, mdd_text, measure_rule,
    noise_statement, question_detail, question_title, rope_note, verdict_sentence, where,
    batch_note,
)
from qlongbench.render.kv import grid_markdown, projection_markdown
from qlongbench.render.text import kv_formula, md_code, md_escape, md_excerpt, num, pct

_DROP_HEAD = ["| task | lang | length | precision | n | ref % | cand % | drop | interval (level) | changed | p | Holm p | verdict | min. detectable |",
              "|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|"]


def drop_line(d: DropStats, *, show_reference: bool = False) -> str:
    who = f"{d.candidate} vs {d.reference}" if show_reference else d.candidate
    p = d.paired
    if p is None:
        return (f"| {md_escape(d.task)} | {md_escape(d.language)} | {d.length} | {md_escape(who)} | 0 | – | – | – | – | – | "
                f"– | – | not measured | – |")
    verdict = d.verdict + (f" ({len(d.failures)} crashed)" if d.failures else "")
    changed = f"{p.discordant_ref_only} lost / {p.discordant_cand_only} gained" if p.changed and (
        p.discordant_ref_only or p.discordant_cand_only) else str(p.changed)
    return (f"| {md_escape(d.task)} | {md_escape(d.language)} | {d.length} | {md_escape(who)} | {p.n} | "
            f"{pct(p.reference_mean)} | {pct(p.candidate_mean)} | {100 * p.drop:+.1f} | {interval_text(d)} | "
            f"{changed} | {fmt_p(p.p_value)} | {fmt_p(d.p_adjusted)} | {verdict} | {mdd_text(d)} |")


def glance_lines(data: ReportData) -> list[str]:
    """The at-a-glance table and one sentence per precision (without a heading)."""
    if not data.verdicts:
        return ["Only one precision in this run: nothing to compare.", ""]
    lines = ["| precision | KL from the reference | answers changed | accuracy cells: worse / within noise / not measured "
              "(comparisons) | largest drop that survives Holm | study questions | weights (saved) | KV cache = saving at |",
              "|---|---|---|---|---|---|---:|---:|"]
    for v in data.verdicts:
        worst = (f"**{100 * v.worst.paired.drop:+.1f}** pts ({interval_text(v.worst)}) on {md_escape(where(v.worst))}"
                 if v.worst and v.worst.paired else "none")
        if v.worst_engine and v.worst_engine.paired:
            worst += (f"; vs {md_escape(v.worst_engine.reference)}: {100 * v.worst_engine.paired.drop:+.1f} pts on "
                      f"{md_escape(where(v.worst_engine))}")
        counts = (f"{v.n_worse} / {v.n_within} / {v.n_unmeasured} ({v.comparisons})"
                  + (f" (crashed in {v.n_failed})" if v.n_failed else ""))
        changed = changes_text(v.changes) + (f"; {floor_text(v.floor)}" if v.floor else "")
        kl = kl_text(v.kl) + (f"; {floor_text(v.floor)}" if v.floor and v.kl and v.floor.kl else "")
        questions = "; ".join(f"{question_title(q.name)}: {q.answer}" for q in v.questions) or "–"
        saved = format_bytes(v.weight_bytes) + ("" if v.saved_bytes is None else
                                                f" ({format_bytes(v.saved_bytes)})" if v.saved_bytes > 0 else " (no saving)")
        cross = f"{fmt_length(v.crossover_tokens)} tokens" if v.crossover_tokens else "–"
        name = md_escape(v.precision) + (" (engine baseline: the engine's own floor)" if v.is_engine_baseline else "") + (
            " (noise-floor control)" if v.is_control else "")
        lines.append(f"| {name} | {md_escape(kl)} | {md_escape(changed)} | {counts} | {worst} | {md_escape(questions)} | "
                     f"{saved} | {cross} |")
    lines += ["", *[f"- {md_escape(verdict_sentence(v, data))}" for v in data.verdicts], ""]
    return lines


def _questions(data: ReportData) -> list[str]:
    if not data.questions:
        return []
    lines = ["## The study's questions", "",
             "Per candidate against the reference, Holm-adjusted over its questions; an interval is drawn at "
             "the level Holm tested it.", "",
             "| precision | question | answer | estimate and interval | p | Holm p | over |", "|---|---|---|---|---:|---:|---|"]
    for q in data.questions:
        text = question_detail(q)
        lines.append(f"| {md_escape(q.candidate)} | {question_title(q.name)} | {q.answer} | {md_escape(text)} | "
                     f"{fmt_p(q.p_value)} | {fmt_p(q.p_adjusted)} | {md_escape(q.scope or '–')} |")
    return lines + [""]


EXAMPLES_SHOWN = 20
"""Rows of the examples table in summary.md (the HTML report shows every example)."""


def example_rows(examples: Sequence[Example], limit: int = EXAMPLES_SHOWN) -> list[str]:
    """A Markdown table of records worth reading: what a candidate answered (or the engine's error)
    beside the gold answers and the reference's answer, each output cut to its first characters and
    escaped (a model's output is data: it never becomes Markdown, HTML or math)."""
    rows = ["| precision | task | lang | length | sample | expected | answered | reference answered |",
            "|---|---|---|---:|---|---|---|---|"]
    for e in examples[:limit]:
        answered = md_excerpt(e.output) if e.status == "ok" else f"{e.status}: {md_excerpt(e.error or '')}"
        ref = "–" if e.reference_output is None else md_excerpt(e.reference_output)
        rows.append(f"| {md_escape(e.precision)} | {md_escape(e.task)} | {md_escape(e.language)} | {e.length} | "
                    f"{md_escape(e.sample_id)} | {md_excerpt(' / '.join(e.expected))} | {answered} | {ref} |")
    return rows


def _details(title: str, body: list[str]) -> list[str]:
    return ["<details><summary>" + md_escape(title) + "</summary>", "", *body, "", "</details>", ""]


def summary_markdown(data: ReportData) -> str:
    header = data.header
    model = header.plan.model.source
    # from the header alone (not from what exists on this machine), so a report regenerates byte for byte
    name = Path(model).name if header.plan.model.local else model
    lines = [f"# qlongbench report: {md_escape(data.run_id)}", "",
             f"Model: {md_code(name)} · reference: **{md_escape(data.reference or 'none')}** · "
             f"{int(100 * data.confidence)} % intervals", ""]
    if header.plan.model.origin:
        lines += [f"> {md_escape(header.plan.model.origin)}", ""]
    if rope_note(data):
        lines += [f"> **{md_escape(rope_note(data) or '')}**", ""]
    if batch_note(data):
        lines += [f"> {md_escape(batch_note(data) or '')}", ""]
    lines += ["## At a glance", "", *glance_lines(data)]
    lines += _questions(data)
    drops = data.pooled_drops + data.drops
    outside = [d for d in drops if d.significant]
    lines += [f"## Drops that survive Holm ({describe_family(drops + data.engine_drops)})", ""]
    lines += [*_DROP_HEAD, *[drop_line(d) for d in outside], ""] if outside else ["None.", ""]
    unmeasured = [d for d in data.drops if d.verdict == "not measured"]
    if unmeasured:
        lines += ["## Not measured (the reference cannot show a drop here)", "", "| task | lang | length | precision | why |",
                  "|---|---|---:|---|---|"]
        lines += [f"| {md_escape(d.task)} | {md_escape(d.language)} | {d.length} | {md_escape(d.candidate)} | "
                  f"{md_escape(d.unmeasured or 'nothing paired')} |" for d in unmeasured]
        lines.append("")
    within = [d for d in drops if d.verdict == "within noise"]
    if within:
        lines += _details(f"{len(within)} cells within the noise", [*_DROP_HEAD, *[drop_line(d) for d in within]])
    if data.examples:
        shown = min(len(data.examples), EXAMPLES_SHOWN)
        lines += _details(f"Answers to read: a candidate wrong where the reference was right, and engine errors "
                          f"({shown} of {len(data.examples)})", example_rows(data.examples))
    if data.engine_drops:
        lines += _details("Drops versus the same engine at full precision",
                          [*_DROP_HEAD, *[drop_line(d, show_reference=True) for d in data.engine_drops]])
    lines += grid_markdown(data)
    lines += projection_markdown(data)
    if data.kld:
        kl = ["| task | lang | length | precision | vs | n | mean KL (nats) | top-1 agree % | Δp | KL first bucket | KL last bucket | note |",
              "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for k in data.kld:
            first = f"{k.bucket_kl[0]:.3g}" if k.bucket_kl else "–"
            last = f"{k.bucket_kl[-1]:.3g}" if k.bucket_kl else "–"
            note = k.bound or (f"± {k.kl_stderr:.2g} (estimator)" if k.kl_stderr else "")
            kl.append(f"| {md_escape(k.task)} | {md_escape(k.language)} | {k.length} | {md_escape(k.precision)} | "
                      f"{md_escape(k.versus)} | {k.n} | {k.mean_kl:.3g} | {100 * k.top1:.1f} | {k.delta_p:+.3g} | "
                      f"{first} | {last} | {md_escape(note)} |")
        lines += ["## KL divergence", "", *kl, ""]
    if data.accuracy_cells:
        acc = ["| task | lang | length | precision | engine | n | acc % | 95 % CI | parse fail % | overlength | oom | error |",
               "|---|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|"]
        for c in data.accuracy_cells:
            ci = f"{pct(c.interval.low)}–{pct(c.interval.high)}" if c.interval else "–"
            acc.append(f"| {md_escape(c.key.task)} | {md_escape(c.key.language)} | {c.key.length} | "
                       f"{md_escape(c.key.precision)} | {md_escape(c.engine)} | {c.n_ok} | {pct(c.accuracy)} | {ci} | "
                       f"{pct(c.parse_failure_rate)} | {c.n_overlength} | {c.n_oom} | {c.n_error} |")
        lines += _details(f"Accuracy per cell ({len(data.accuracy_cells)} cells)", acc)
    if data.memory:
        mem = ["| precision | length | tokens | KV measured | KV formula | weights | weights + KV | peak increase | prefill tok/s | decode tok/s |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m in data.memory:
            mem.append(f"| {md_escape(m.precision)} | {m.length} | {num(m.tokens)} | {format_bytes(m.kv_cache_bytes)} | "
                       f"{kv_formula(m.kv_cache_bytes_formula, m.kv_formula_by_layer_type)} | {format_bytes(m.weight_bytes)} | "
                       f"{format_bytes(m.total_bytes)} | {format_bytes(m.peak_increase_bytes)} | "
                       f"{num(m.throughput.prefill_tokens_per_s)} | {num(m.throughput.decode_tokens_per_s)} |")
        lines += _details("Memory and throughput per precision and length", mem)
    lines += ["## What was compared", "", *[f"- {md_escape(c)}" for c in comparison_statements(data)],
              f"- {md_escape(measure_rule(data))}", "", noise_statement(data)]
    return "\n".join(lines) + "\n"
