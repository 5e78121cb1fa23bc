"""The one parser of precision labels: `name[+kv=TYPE][:key=value,...]` (a PrecisionSpec, as the CLI
and YAML give it) -> a typed Precision, its options validated by the model its backend declares
(found by name in the registry)."""

from __future__ import annotations

from typing import Any

from qlongbench import registry
from qlongbench.errors import UserError
from qlongbench.spec.config import PrecisionSpec, parse_named_list
from qlongbench.spec.precision import OPTIONS_MODELS, BackendOptions, Precision, typed_options


def options_model(name: str) -> type[BackendOptions]:
    """The options model of the backend registered under a precision name."""
    return registry.backend_class(name).Options


OPTIONS: dict[str, Any] = {OPTIONS_MODELS: options_model}
"""The validation context that types a precision's options when a file is read (RunHeader.load)."""


def parse_precision(spec: PrecisionSpec) -> Precision:
    """The backend registered under the name, its options model, its KV types: one UserError line for
    an unknown name, option, value or KV type."""
    backend = registry.backend_class(spec.name)
    options = typed_options(backend.Options, spec.name, spec.kv, dict(spec.options))
    if spec.kv and spec.kv not in backend.kv_cache_types:
        can = (f"it holds {', '.join(backend.kv_cache_types)}" if backend.kv_cache_types else
               "its engine offers no quantized KV cache")
        raise UserError(f"precision {spec.label()}: no KV cache type {spec.kv!r}; {can}")
    return Precision(label=spec.label(), weights=PrecisionSpec(name=spec.name, options=spec.options).label(),
                     name=spec.name, engine=backend.engine, kv=spec.kv, options=options)


def parse_label(text: str) -> Precision:
    """One label as written on the command line (`gptq-int4:group_size=64`)."""
    items = parse_named_list(text, "precision")
    if len(items) != 1:
        raise UserError(f"{text!r} is not one precision label")
    return parse_precision(PrecisionSpec.model_validate(items[0]))
