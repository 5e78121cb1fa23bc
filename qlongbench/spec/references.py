"""Which precision is the reference, and which is an engine's own full-precision baseline.

One place for the rule: the runner orders precisions by it, the analysis pairs records by it and
the gate chooses its reference and default candidates by it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from qlongbench import registry
from qlongbench.errors import UserError

if TYPE_CHECKING:
    from qlongbench.spec.precision import Precision

HF_REFERENCES = ("bf16", "fp16", "fp32")
"""The transformers precisions that can be the reference, in order of preference."""


def base_name(label: str) -> str:
    """The registered name of a precision label (options and KV precision stripped)."""
    return label.split(":", 1)[0].split("+", 1)[0]


def choose_reference(precisions: Sequence[str], requested: str | None = None) -> str | None:
    """The requested reference (which must be present), else the first of bf16, fp16, fp32."""
    if requested:
        if requested not in precisions:
            raise UserError(f"reference {requested!r} has no records in this run; precisions: {', '.join(precisions)}")
        return requested
    for name in HF_REFERENCES:
        if name in precisions:
            return name
    return None


def full_precision_names(label: str) -> tuple[str, ...]:
    """The full-precision names its backend declares for a label's engine (Backend.full_precision_names:
    gguf-bf16, gguf-f16 for any gguf label), most preferred first; () for the reference engine and
    for a label no registered backend answers to (a record of a backend since removed)."""
    try:
        return registry.backend_class(base_name(label)).full_precision_names()
    except UserError:
        return ()


def pick_engine_baseline(precisions: Sequence[Precision], controls: Collection[str] = ()) -> Precision | None:
    """The full-precision baseline among one engine's precisions: the first whose name comes earliest
    in the full-precision names its backend declares (gguf-bf16 before gguf-f16), with no KV
    precision, and never a noise-floor control."""
    preferred = list(dict.fromkeys(n for p in precisions for n in registry.backend_class(p.name).full_precision_names()))
    return next((p for name in preferred for p in precisions
                 if p.name == name and p.kv is None and p.label not in controls), None)


def _pick_label(labels: Sequence[str], controls: Collection[str] = ()) -> str | None:
    preferred = list(dict.fromkeys(n for p in labels for n in full_precision_names(p)))
    return next((p for name in preferred for p in labels
                 if base_name(p) == name and "+" not in p and p not in controls), None)


def engine_baselines(engines: Mapping[str, str], reference: str | None,
                     controls: Collection[str] = ()) -> dict[str, str]:
    """candidate -> the full-precision baseline of its engine, for engines other than the reference's.

    `engines` maps each precision label to its engine (transformers, llama.cpp ...). A label in
    `controls` (a noise-floor twin, gguf-bf16:n_threads=1) is never chosen as the baseline; it is a
    member like any other, so it is compared with the precision it perturbs."""
    ref_engine = engines.get(reference or "")
    by_engine: dict[str, list[str]] = defaultdict(list)
    for prec, eng in engines.items():
        by_engine[eng].append(prec)
    out: dict[str, str] = {}
    for eng, precs in by_engine.items():
        if eng == ref_engine:
            continue
        base = _pick_label(precs, controls)
        if base:
            out.update({p: base for p in precs if p != base})
    return out


DEFAULT_KV = "default"
"""KV precision of a label without +kv= (the engine's own cache: bf16 in transformers, f16 in llama.cpp)."""


def split_label(label: str) -> tuple[str, str]:
    """'gguf-q4_k_m+kv=q8_0:n_threads=1' -> ('gguf-q4_k_m:n_threads=1', 'q8_0'); no KV -> 'default'."""
    head, colon, options = label.partition(":")
    name, plus, kv = head.partition("+kv=")
    return name + (colon + options if colon else ""), (kv if plus else DEFAULT_KV)
