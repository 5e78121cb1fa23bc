"""Records -> per-cell accuracy with intervals, paired drops versus the reference, and the files
a user reads: summary.md (CI comments) and results.json (machines)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qlongbench import stats
from qlongbench.errors import UserError
from qlongbench.store import RunDir, atomic_write_text
from qlongbench.types import Record

log = logging.getLogger(__name__)

HF_REFERENCES = ("bf16", "fp16", "fp32")


@dataclass(frozen=True)
class CellKey:
    precision: str
    """Precision label."""
    task: str
    """Task name."""
    language: str
    """Language label: `xx`, or `ii_hh` for instructions ii over a haystack in hh."""
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


@dataclass(frozen=True)
class DropStats:
    candidate: str
    """Candidate precision."""
    reference: str
    """Reference precision."""
    task: str
    language: str
    length: int
    paired: stats.PairedDrop
    """Paired drop (positive = candidate worse) with bootstrap interval and McNemar p."""


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


def _is_binary(scores: Sequence[float]) -> bool:
    return all(s in (0.0, 1.0) for s in scores)


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
    pre_t = sum(r.prefill_seconds or 0.0 for r in ok)
    pre_n = sum(r.n_prefilled_tokens or 0 for r in ok)
    dec_t = sum(r.decode_seconds or 0.0 for r in ok)
    dec_n = sum(r.n_generated_tokens for r in ok)
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
    )


def paired_drops(records: Sequence[Record], reference: str, confidence: float = 0.95) -> list[DropStats]:
    by_prec: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
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
            a, b = groups[(r.task, language_label(r), r.length)]
            a.append(float(q.score))
            b.append(float(r.score))
        for (task, lang, length), (a, b) in sorted(groups.items()):
            out.append(DropStats(prec, reference, task, lang, length,
                                 stats.paired_bootstrap_drop(a, b, confidence=confidence)))
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
    cells = [cell_stats(k, grouped[k], confidence)
             for k in sorted(grouped, key=lambda k: (k.task, k.language, k.length, order.index(k.precision)))]
    drops = paired_drops(records, ref, confidence) if ref else []
    return ReportData(run_id=meta.get("run_id", rd.root.name), reference=ref, cells=cells, drops=drops, meta=meta)


# --- writers ------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def md_escape(text: str) -> str:
    """Markdown table cells: escape the characters that change meaning, drop raw HTML."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    out = out.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
    return out


def summary_markdown(data: ReportData) -> str:
    lines = [f"# qlongbench report: {md_escape(data.run_id)}", ""]
    model = data.meta.get("model", {}).get("source", "?")
    lines += [f"Model: `{md_escape(Path(str(model)).name if Path(str(model)).exists() else model)}` · "
              f"reference: **{md_escape(data.reference or 'none')}** · 95 % intervals", ""]
    lines += ["## Accuracy", "",
              "| task | lang | length | precision | engine | n | acc % | 95 % CI | parse fail % | overlength | oom | error |",
              "|---|---|---:|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for c in data.cells:
        ci = f"{_pct(c.interval.low)}–{_pct(c.interval.high)}" if c.interval else "–"
        lines.append(f"| {md_escape(c.key.task)} | {md_escape(c.key.language)} | {c.key.length} | "
                     f"{md_escape(c.key.precision)} | {md_escape(c.engine)} | {c.n_ok} | {_pct(c.accuracy)} | {ci} | "
                     f"{_pct(c.parse_failure_rate)} | {c.n_overlength} | {c.n_oom} | {c.n_error} |")
    if data.drops:
        lines += ["", f"## Drop versus {md_escape(data.reference or '')} (points; positive = worse)", "",
                  "| task | lang | length | precision | n | drop | 95 % CI | McNemar p | verdict | min. detectable |",
                  "|---|---|---:|---|---:|---:|---|---:|---|---:|"]
        for d in data.drops:
            p = d.paired
            verdict = "within noise" if p.within_noise else ("worse" if p.drop > 0 else "better")
            mp = "–" if p.mcnemar_p is None else f"{p.mcnemar_p:.3g}"
            lines.append(f"| {md_escape(d.task)} | {md_escape(d.language)} | {d.length} | {md_escape(d.candidate)} | "
                         f"{p.n} | {100 * p.drop:+.1f} | {100 * p.interval.low:+.1f}…{100 * p.interval.high:+.1f} | "
                         f"{mp} | {verdict} | {100 * p.min_detectable_drop:.1f} |")
    lines += ["", f"n is the number of scored samples per cell; with n = 50 a 95 % interval is about ±11 points."]
    return "\n".join(lines) + "\n"


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def results_json(data: ReportData) -> str:
    payload = {
        "run_id": data.run_id, "reference": data.reference,
        "cells": [_jsonable(c) for c in data.cells], "drops": [_jsonable(d) for d in data.drops],
        "provenance": {k: data.meta.get(k) for k in ("model", "precisions", "generation_configs", "environment",
                                                    "seed", "spec", "created_at")},
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n"


def default_out_dir(data: ReportData, run_dir: str | Path) -> Path:
    from qlongbench.store import safe_name

    return Path("reports") / safe_name(data.meta.get("name") or Path(run_dir).resolve().name)


def write(run_dir: str | Path, out: str | Path | None = None, reference: str | None = None) -> Path:
    data = build(run_dir, reference)
    out_dir = Path(out) if out else default_out_dir(data, run_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the report directory {out_dir}: {err.strerror or err}") from None
    atomic_write_text(out_dir / "summary.md", summary_markdown(data))
    atomic_write_text(out_dir / "results.json", results_json(data))
    return out_dir
