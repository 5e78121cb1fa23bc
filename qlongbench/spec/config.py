"""Run specification: from CLI flags or a YAML file, validated, hashed.

Errors are raised as `UserError` with one line naming the field and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qlongbench.errors import InvalidValue, UserError
from qlongbench.spec.rope import RopeScaling
from qlongbench.hashing import sha256_json
from qlongbench.spec.lengths import parse_length, parse_lengths
from qlongbench.spec.yaml_lines import Origin, load_yaml, located_problem, origins_of  # noqa: F401 - load_yaml re-exported

OptionValue = bool | int | float | str

DEFAULT_SUITE = Path(__file__).with_name("default_suite.yaml")
"""What `qlongbench run` runs when no model is named anywhere: a suite on the bundled model."""
HOW_FIELDS = ("reuse", "batch_size", "decode_rows")  # how prompts are driven: outside a run's identity
EXECUTION_FIELDS = ("executor", "ray_address", "replicas", "gpus", "cpus_per_unit")
"""Where and on what a run executes: never part of its identity (the same records either way)."""
MAX_SAMPLES = 10_000
"""Samples per cell: far past any honest need (n = 1,000 gives ±3 points); larger values are typos
that would freeze gigabytes of prompts before anything runs."""

def parse_value(text: str) -> OptionValue:
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class _Named(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str
    """Registered name (precision label or task name)."""
    options: dict[str, OptionValue] = {}
    """name:key=value options from the CLI or the YAML file."""

    def label(self) -> str:
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))


class PrecisionSpec(_Named):
    """One precision to run: a registered label, the KV-cache precision, and engine options.

    Written `name[+kv=TYPE][:key=value,...]`: `gguf-q4_k_m+kv=q8_0`, `bf16+kv=int4`. The KV
    precision is a second axis beside the weights': `bf16+kv=int4` against `bf16` changes only the
    cache. Which KV types an engine can hold is declared by its backend (kv_cache_types)."""

    kv: str | None = None
    """KV-cache precision (None: the engine's default cache, bf16 / f16)."""

    @model_validator(mode="before")
    @classmethod
    def _kv_in_name(cls, data: Any) -> Any:
        """`{"name": "bf16+kv=int4"}` (YAML lists, policy files) means name bf16, kv int4."""
        if isinstance(data, dict) and isinstance(data.get("name"), str) and "+" in data["name"]:
            name, _, rest = data["name"].partition("+")
            key, eq, value = rest.partition("=")
            if key.strip() != "kv" or not eq or not value.strip():
                raise ValueError(f"bad precision {data['name']!r}: the only suffix is +kv=TYPE (e.g. bf16+kv=int4)")
            if data.get("kv") not in (None, value.strip()):
                raise ValueError(f"precision {data['name']!r} names two KV types")
            data = {**data, "name": name.strip(), "kv": value.strip().lower()}
        return data

    def label(self) -> str:
        base = self.name + (f"+kv={self.kv}" if self.kv else "")
        if not self.options:
            return base
        return base + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))


class TaskSpec(_Named):
    """One task to run: a registered name, task options, and where it runs when that differs from
    the run's: `{name: rag, lengths: [1k, 2k], languages: [en, zh], samples: 8}` in YAML, or
    `rag:lengths=1k/2k,languages=en/zh,samples=8` on the command line ('/' separates list items)."""

    lengths: list[int] | None = None
    """This task's lengths (default: the run's)."""
    languages: list[str] | None = None
    """This task's haystack languages (default: the run's)."""
    samples: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    """This task's samples per cell (default: the run's)."""

    @model_validator(mode="before")
    @classmethod
    def _where_in_options(cls, data: Any) -> Any:
        """`lengths`, `languages` and `samples` given among the options are where the task runs."""
        if isinstance(data, dict) and isinstance(data.get("options"), dict):
            options = dict(data["options"])
            moved = {k: options.pop(k) for k in ("lengths", "languages", "samples") if k in options}
            for key in ("lengths", "languages"):
                if isinstance(moved.get(key), (str, int)):
                    moved[key] = [v for v in str(moved[key]).split("/") if v.strip()]
            data = {**data, **moved, "options": options}
        return data

    @field_validator("lengths", mode="before")
    @classmethod
    def _task_lengths(cls, v: Any) -> Any:
        if v is None:
            return v
        return [parse_length(x) for x in (v if isinstance(v, list) else str(v).split(","))]

    @field_validator("languages", mode="before")
    @classmethod
    def _task_languages(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.replace("/", ",").split(",") if p.strip()]
        return v


def parse_named_list(text: str, kind: str) -> list[dict[str, Any]]:
    """'bf16,bnb-nf4:double_quant=true,compute_dtype=bf16,gguf-q4_k_m' -> named option dicts.

    A comma-separated item with '=' and no name before it continues the previous item's options.
    """
    items: list[dict[str, Any]] = []
    for raw in (p.strip() for p in text.split(",")):
        if not raw:
            continue
        name, _, first_opt = raw.partition(":")
        if "=" in name and not _ and "+" not in name.partition("=")[0]:
            if not items:
                raise InvalidValue(f"bad {kind} list {text!r}: option {raw!r} comes before any {kind} name")
            _add_option(items[-1], raw, kind)
            continue
        item: dict[str, Any] = {"name": name.strip(), "options": {}}
        items.append(item)
        if first_opt:
            _add_option(item, first_opt, kind)
    return items


def _add_option(item: dict[str, Any], text: str, kind: str) -> None:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise InvalidValue(f"bad {kind} option {text!r} for {item['name']}: write key=value")
    item["options"][key.strip()] = parse_value(value.strip())


class RunSpec(BaseModel):
    """Everything that defines a run. Two runs with the same identity hash produce the same samples
    and are comparable; `out` and `name` are where and what to call it, not part of the identity.
    Numbers and switches are strict: `samples: "20"` or `trust_remote_code: 1` in a YAML file is
    refused naming the field, not read as 20 or true."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    model: str | None = None
    """HF hub id or local directory of the reference model (default: the bundled SmolLM2-135M-Instruct
    and its default suite)."""
    revision: str | None = None
    """Hub revision (commit, tag, branch) of the reference model."""
    precisions: list[PrecisionSpec] = Field(default_factory=lambda: [PrecisionSpec(name="bf16")])
    """Precisions to compare, a comma list, options as name:key=value (`qlongbench precisions` lists
    them); the reference is the first of bf16, fp16, fp32 among them."""
    tasks: list[TaskSpec] = Field(default_factory=lambda: [TaskSpec(name="niah-single")])
    """Tasks to run, a comma list, options as name:key=value (`qlongbench tasks` lists them)."""
    lengths: list[int] = Field(default_factory=lambda: [1024, 2048, 4096])
    """Target context lengths in tokens, a comma list (4k = 4096)."""
    languages: list[str] = Field(default_factory=lambda: ["en"])
    """Haystack languages, a comma list."""
    instruction_language: str | None = None
    """Cross-lingual mode: instructions/questions in this language, haystack in `languages`."""
    samples: int = Field(default=20, strict=True)
    """Samples per cell (task x language x length)."""
    seed: int = Field(default=0, strict=True)
    """Seed for sample building (and sampling, when enabled)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where HF engines run; llama.cpp uses n_gpu_layers."""
    chat_template: Literal["auto", "on", "off"] = "auto"
    """auto: apply the tokenizer's chat template when it has one; on: require one (error if the
    model has none); off: plain text prompts (RULER's base-model format)."""
    max_new_tokens: int | None = Field(default=None, ge=1, strict=True)
    """Override every task's answer budget (at least one token)."""
    trust_remote_code: bool = Field(default=False, strict=True)
    """Allow the model's own Python code to run (off unless asked)."""
    allow_pickle: bool = Field(default=False, strict=True)
    """Allow loading weights from pickle files (.bin/.pt); safetensors only otherwise."""
    allow_extrapolation: bool = Field(default=False, strict=True)
    """Allow lengths beyond the model's max_position_embeddings, its positions unscaled."""
    rope_scaling: RopeScaling | None = None
    """RoPE scaling as TYPE:FACTOR (linear, dynamic or yarn, such as yarn:4) for lengths past the
    model's window: a different model from the published one, recorded and labelled as such."""
    reuse: Literal["exact", "none"] = "exact"
    """exact: prefill each shared context once (identical ids, identical results); none: a fresh
    prompt per question (the naive harness, for benchmarks)."""
    batch_size: int = Field(default=1, ge=1, strict=True)
    """Prompts that share no context are answered this many at a time, bucketed by length, by engines
    whose numbers do not depend on the batch (transformers; not LLM.int8()); worth raising on a GPU."""
    decode_rows: int = Field(default=1, ge=1, le=256, strict=True)
    """Questions sharing a prefilled context decoded this many at a time, a row each, where the engine can
    (hf_fork.py, vLLM; records say how many). Neither option is bit-exact: keep both equal across runs."""
    engine_baseline: bool = Field(default=True, strict=True)
    """Add an engine's full-precision run beside its quantized precisions (gguf-bf16 beside a gguf quant)."""
    noise_floor: bool = Field(default=False, strict=True)
    """Add a control of the reference and of each engine baseline: the same precision at another
    thread count (bf16:threads=1, gguf-bf16:n_threads=1). Its changed answers and KL are the noise
    floor a quantized precision's are read against."""
    cache_dir: str | None = None
    """Where quantized artifacts are cached (default ~/.cache/qlongbench)."""
    name: str | None = None
    """Run name (defaults to the output directory's name); given on a resumed run, it renames the run
    (the report goes to reports/<name>)."""
    out: str = "runs/latest"
    """Run directory."""
    executor: Literal["local", "ray"] = "local"
    """Where precisions run: local (this process, one after another) or ray (each unit of work a
    Ray task; this process stays the only writer of the run directory). Not part of the identity."""
    ray_address: str | None = None
    """Ray cluster to join (default: $RAY_ADDRESS, else a local Ray started for the run)."""
    replicas: int = Field(default=1, ge=1, le=1024, strict=True)
    """Units per precision under Ray: its prompts dealt to this many slices (a shared context's
    questions kept together), each loading the model once (the same records)."""
    gpus: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(default_factory=dict)
    """GPUs each unit of a precision asks Ray for, by precision label or name, "*" for any other
    (default: 0 with --device cpu or on a cluster without GPUs, else the engine's own need: 1, or
    a vLLM precision's tensor_parallel_size). On the command line: `--gpus 1` or `--gpus bf16=2,*=1`."""
    cpus_per_unit: float = Field(default=1.0, gt=0, allow_inf_nan=False, strict=True)
    """CPUs each unit asks Ray for (a GPU unit still needs one for its Python process)."""

    @field_validator("lengths", mode="before")
    @classmethod
    def _lengths(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = parse_lengths(v)
        elif isinstance(v, list):
            v = [parse_length(x) for x in v]
        return _once(v, "length")

    @field_validator("precisions", "tasks", mode="before")
    @classmethod
    def _named(cls, v: Any, info: Any) -> Any:
        kind = info.field_name[:-1]
        if isinstance(v, str):
            return parse_named_list(v, kind)
        if isinstance(v, list):
            out = []
            for item in v:
                if isinstance(item, str):
                    out.extend(parse_named_list(item, kind))
                else:
                    out.append(item)
            return out
        return v

    @field_validator("languages", mode="before")
    @classmethod
    def _langs(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [p.strip() for p in v.split(",") if p.strip()]
        return _once(v, "language")

    @field_validator("model", "out")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty (an unset shell variable?)")
        return v

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return {"*": v}
        if isinstance(v, str):
            out: dict[str, Any] = {}
            for item in (p.strip() for p in v.split(",") if p.strip()):
                name, eq, n = item.rpartition("=")
                out[name.strip() if eq else "*"] = n.strip()
            return out
        return v

    @field_validator("gpus")
    @classmethod
    def _gpus_not_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, n in v.items() if n < 0]
        if bad:
            raise ValueError(f"GPUs for {bad[0]} must be 0 or more")
        return v

    @field_validator("rope_scaling", mode="before")
    @classmethod
    def _rope(cls, v: Any) -> Any:
        return RopeScaling.parse(v) if isinstance(v, str) else v

    @field_validator("chat_template", mode="before")
    @classmethod
    def _chat(cls, v: Any) -> Any:
        if isinstance(v, bool):
            return "auto" if v else "off"
        return v

    @field_validator("samples")
    @classmethod
    def _samples(cls, v: int) -> int:
        if v < 1:
            raise ValueError("samples must be at least 1")
        if v > MAX_SAMPLES:
            raise ValueError(f"{v:,} samples per cell is past the limit of {MAX_SAMPLES:,}; split the sweep "
                             "into several runs if you really need more")
        return v

    @field_validator("lengths", "precisions", "tasks", "languages")
    @classmethod
    def _non_empty(cls, v: list[Any]) -> list[Any]:
        if not v:
            raise ValueError("must name at least one")
        return v

    def identity(self) -> dict[str, Any]:
        """The fields that decide which samples and records a run holds."""
        ident = self.model_dump(mode="json", exclude={"out", "name", "cache_dir", *HOW_FIELDS, *EXECUTION_FIELDS})
        if ident.get("rope_scaling") is None:  # unset: the identity of runs made before the option existed
            ident.pop("rope_scaling", None)
        return ident

    def identity_sha256(self) -> str:
        return sha256_json(self.identity())

    def sample_identity(self) -> dict[str, Any]:
        """The fields that decide the frozen samples (precisions may be added on a resume). The model
        is identified by its files' hash (or hub id), not by the path it was given under."""
        ident = self.identity()
        for key in ("model", "precisions", "engine_baseline", "noise_floor", "device", "allow_pickle"):
            ident.pop(key, None)
        return ident


def _once(values: Any, what: str) -> Any:
    """A list given twice the same item is a typo (`--lengths 1k,1024`): refused, as a precision or
    task listed twice is."""
    if isinstance(values, list):
        seen = set()
        for x in (v for v in values if isinstance(v, (str, int))):  # other items: the field's type refuses them
            if x in seen:
                raise ValueError(f"{what} {x} is listed twice; list it once")
            seen.add(x)
    return values


def format_validation_error(err: ValidationError, source: str, origins: Mapping[str, Origin | None] | None = None
                            ) -> str:
    """One line: the first problem, with the field path (and `FILE:LINE` when the field came from a
    YAML file, see spec/yaml_lines.py)."""
    return located_problem(err, source, origins)


def layered(config: Mapping[str, Any], flags: dict[str, Any], config_path: str | None = None
            ) -> tuple[dict[str, Any], str, dict[str, Origin | None]]:
    """Flags over the config file over, when neither names a model, the default suite — whose name
    gives way to a run directory the user chose (the run and its report are then named after it, as
    for any model). Returns the values, where they came from (for error messages) and the file each
    top-level field came from (None for a flag)."""
    values, origins = dict(config), origins_of(config)
    source = f"config {config_path}" if config_path else "options"
    if values.get("model") is None and flags.get("model") is None:
        suite = load_yaml(DEFAULT_SUITE)
        if "out" in values or "out" in flags:
            suite.pop("name", None)
        values, origins = dict(suite) | values, origins_of(suite) | origins
        source = "default suite" + (f" + config {config_path}" if config_path else "")
    if flags:
        values |= flags
        origins |= dict.fromkeys(flags)
        source += " + options" if "options" not in source else ""
    return values, source, origins


def layered_values(config: Mapping[str, Any], flags: dict[str, Any], config_path: str | None = None
                   ) -> tuple[dict[str, Any], str]:
    """`layered` without the origins."""
    values, source, _ = layered(config, flags, config_path)
    return values, source


def build_spec(values: dict[str, Any], source: str = "options",
               origins: Mapping[str, Origin | None] | None = None) -> RunSpec:
    try:
        return RunSpec.model_validate(values)
    except ValidationError as err:
        raise UserError(format_validation_error(err, source, origins)) from None
