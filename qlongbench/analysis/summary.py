"""The 30-second read: per candidate precision, the signals with power first — its KL from the
reference and how many answers it changed, each beside the noise floor — then its accuracy verdicts
(the largest drop that survives the family's Holm adjustment, the cells that could not be measured),
the study's questions, and the memory it saved on weights."""

from __future__ import annotations

from collections.abc import Sequence

from qlongbench.analysis.data import PrecisionVerdict, ReportData
from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.floor import changes, kl_summary


def _worst(drops: Sequence[DropStats]) -> DropStats | None:
    worse = [d for d in drops if d.verdict == "worse" and d.paired is not None]
    return max(worse, key=lambda d: (d.paired.drop, d.length)) if worse else None  # type: ignore[union-attr]


def precision_verdicts(data: ReportData) -> list[PrecisionVerdict]:
    savings = {s.precision: s for s in data.savings}
    auto = set(data.header.plan.added)
    ref = data.reference or ""
    out = []
    for prec in data.precisions:
        if prec == data.reference:
            continue
        drops = [d for d in data.drops if d.candidate == prec]
        pooled = [d for d in data.pooled_drops if d.candidate == prec]
        engine = [d for d in data.engine_drops if d.candidate == prec]
        if not drops and not engine and prec not in savings:
            continue
        unmeasured = [d for d in drops if d.verdict == "not measured"]
        reasons = tuple(dict.fromkeys(d.unmeasured or "nothing paired" for d in unmeasured))[:3]
        info = data.header.precisions.get(prec)
        s = savings.get(prec)
        base = data.engine_baselines.get(prec)
        out.append(PrecisionVerdict(
            precision=prec, engine=info.engine if info else "?", worst=_worst(drops + pooled), worst_engine=_worst(engine),
            n_worse=sum(d.verdict == "worse" for d in drops), n_better=sum(d.verdict == "better" for d in drops),
            n_within=sum(d.verdict == "within noise" for d in drops), n_unmeasured=len(unmeasured),
            n_failed=sum(bool(d.failures) for d in drops), unmeasured_reasons=reasons,
            weight_bytes=info.weight_bytes if info else None, saved_bytes=s.saved_bytes if s else None,
            crossover_tokens=s.crossover_tokens if s else None, is_engine_baseline=prec in auto,
            is_control=prec in data.controls,
            comparisons=max((d.family_size for d in drops + pooled), default=0),
            changes=changes(data.drops, prec, ref), kl=kl_summary(data.kld, prec, ref),
            floor=data.floors.get(ref) if data.controls.get(prec) != ref else None,
            engine_floor=data.floors.get(base) if base and data.controls.get(prec) != base else None,
            questions=tuple(q for q in data.questions if q.candidate == prec),
        ))
    return out
