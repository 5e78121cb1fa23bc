"""A precision label, parsed once into a typed `Precision`: its registered name, its engine, its KV
precision and its options, validated by the options model its backend declares (`Backend.Options`,
a `BackendOptions` subclass with a docstring per field, as tasks declare theirs).

    gguf-q4_k_m+kv=q8_0:n_threads=4   ->   Precision(label=..., name="gguf-q4_k_m", engine="llama.cpp",
                                                      kv="q8_0", options=GGUFOptions(n_threads=4, ...))

The one parser is spec/labels.py: it finds the backend by name and types the options, refusing an
unknown or ill-typed one with one line naming the option and what it takes; nothing past it reads an
option as a string or a dict. A precision read back from run.json is typed again by its backend's
model, which the reader passes in the validation context (this module imports no backend)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny, ValidationError, ValidationInfo, model_validator,
)

from qlongbench.errors import UserError
from qlongbench.types import Name

OPTIONS_MODELS = "options_models"
"""Validation-context key of the function that names a backend's options model (spec.labels.options_model)."""
DEFAULT_KV = "default"
"""KV precision of a label without +kv= (the engine's own cache: bf16 in transformers, f16 in llama.cpp)."""


def _text(value: Any) -> Any:
    """A number typed where text is expected (`checkpoint=123`) is that text; true / false are not."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_text)]
"""An option that holds text (a path, a hub id, a dtype name)."""
Positive = Annotated[int, Field(ge=1)]
"""An option that counts something: at least one."""


def lower(value: Any) -> Any:
    """Names of dtypes and cache types are read case-blind (BF16 = bf16)."""
    return value.lower() if isinstance(value, str) else value


class BackendOptions(BaseModel):
    """Base of a backend's options (name:key=value). Unknown keys are errors, and values are strict:
    `double_quant=1` or `n_threads=true` is refused naming the option, not read as true or 1. A
    validator may read the precision's name and KV type from the validation context ({"name", "kv"}).

    Optional capabilities of the options, each declared here with a safe default."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, strict=True)

    def given_artifact(self) -> str | None:
        """A file or checkpoint the user gave (then nothing is built into the artifact cache); None
        by default."""
        return None

    def gpus_per_unit(self) -> int:
        """GPUs one load of the precision needs (vLLM: its tensor_parallel_size); 1 by default."""
        return 1


class Precision(BaseModel):
    """One precision of a run, as every stage after the parser sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    label: Name
    """The label as records and reports carry it: name[+kv=TYPE][:key=value,...] (options as given,
    sorted)."""
    weights: Name
    """The label without its KV precision: the same weights with the engine's default cache."""
    name: Name
    """Registered name (gguf-q4_k_m)."""
    engine: Name
    """Engine of its backend (transformers, llama.cpp, vllm)."""
    kv: str | None = None
    """KV-cache precision (None: the engine's default cache)."""
    options: SerializeAsAny[BackendOptions] = Field(default_factory=BackendOptions)
    """The options, typed by the backend's options model (its defaults filled in)."""

    @model_validator(mode="before")
    @classmethod
    def _typed_options(cls, data: Any, info: ValidationInfo) -> Any:
        """Options read back from a file (a mapping) are typed by their backend's model, which the
        reader hands over in the validation context (RunHeader.load does: spec.labels.OPTIONS); a
        problem is one line (a ValueError, so pydantic names the field it sits in)."""
        if isinstance(data, dict) and isinstance(data.get("options"), dict) and isinstance(data.get("name"), str):
            name = data["name"]
            models = (info.context or {}).get(OPTIONS_MODELS)
            if models is None:
                raise ValueError("a precision's options are typed by its backend's model: read it with "
                                 "context={OPTIONS_MODELS: ...} (RunHeader.load does)")
            try:
                model = models(name)
                options = model.model_validate(data["options"], context={"name": name, "kv": data.get("kv")})
            except UserError as err:
                raise ValueError(str(err)) from None
            except ValidationError as err:
                raise ValueError(option_problem(name, model, err)) from None
            data = {**data, "options": options}
        return data

    @property
    def kv_label(self) -> str:
        """The KV precision as the report's KV grid names its column ('default' without +kv=)."""
        return self.kv or DEFAULT_KV


def typed_options(model: type[BackendOptions], name: str, kv: str | None, given: dict[str, Any]) -> BackendOptions:
    """`given` validated by the options model; one UserError line naming the option otherwise."""
    try:
        return model.model_validate(given, context={"name": name, "kv": kv})
    except ValidationError as err:
        raise UserError(option_problem(name, model, err)) from None


def option_problem(name: str, model: type[BackendOptions], err: ValidationError) -> str:
    """One line: the first bad option of a label, with what it takes (every alternative of a union)."""
    problems = err.errors()
    first = problems[0]
    key = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == "extra_forbidden":
        known = ", ".join(model.model_fields)
        return f"precision {name} takes no option {key}" + (f"; options: {known}" if known else "")
    msgs = [BOOL if p["type"] in ("bool_type", "bool_parsing") else p["msg"].removeprefix("Value error, ")
            for p in problems if (str(p["loc"][0]) if p["loc"] else "") == key]
    msg = " or ".join(dict.fromkeys(m[:1].lower() + m[1:] for m in msgs))
    if not key:  # a rule across options
        return f"precision {name}: {msg}"
    return f"precision {name}: option {key}={first['input']!r}: {msg}"


BOOL = "input should be true or false"


def options_help(model: type[BackendOptions]) -> list[str]:
    """`key=default  what it is` per option of a backend, for `qlongbench precisions`."""
    out = []
    for key, field in model.model_fields.items():
        default = "unset" if field.default is None else repr(field.default)
        doc = " ".join((field.description or "").split())
        out.append(f"{key}={default}" + (f"  {doc}" if doc else ""))
    return out
