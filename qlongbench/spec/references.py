"""Which precision is the reference, and which is an engine's own full-precision baseline.

One place for the rule, applied once, by the planner (and by the migration of older run headers):
the plan records what it chose; the analysis and the gate read the plan. Both rules ask the backends
what they declare (Backend.reference_names, Backend.full_precision_names): no precision name is
written here."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from qlongbench import registry
from qlongbench.spec.precision import Precision


def choose_reference(precisions: Sequence[Precision]) -> str | None:
    """The reference: the first of the names a backend declares as reference candidates, in its
    order of preference (transformers: bf16, fp16, fp32), that a precision of the run carries with
    no option and no KV precision; None when none is there."""
    plain = {p.label for p in precisions if p.label == p.name}
    names = dict.fromkeys(n for p in precisions for n in registry.backend_class(p.name).reference_names())
    return next((n for n in names if n in plain), None)


def pick_engine_baseline(precisions: Sequence[Precision], controls: Collection[str] = ()) -> Precision | None:
    """The full-precision baseline among one engine's precisions: the first whose name comes earliest
    in the full-precision names its backend declares (gguf-bf16 before gguf-f16), with no KV
    precision, and never a noise-floor control."""
    preferred = dict.fromkeys(n for p in precisions for n in registry.backend_class(p.name).full_precision_names())
    return next((p for name in preferred for p in precisions
                 if p.name == name and p.kv is None and p.label not in controls), None)
