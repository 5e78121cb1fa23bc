"""The gate policy of `qlongbench check`: how much drop versus the reference is tolerated, per task,
length and language, at what confidence, with how many samples, for which candidate precisions.

A policy is a YAML mapping; top-level tolerances are the defaults and `rules` override them for the
cells they match, top to bottom (a later matching rule wins for the fields it sets):

    reference: bf16
    candidates: [bnb-nf4, gguf-q4_k_m]
    confidence: 0.95          # one-sided; --alpha 0.05 means the same
    min_samples: 50
    max_drop: 3               # points of accuracy (0-100 scale)
    max_relative_drop: 5      # percent of the reference's accuracy
    rules:
      - {min_length: 32k, max_drop: 5}
      - {language: [zh, ja], max_drop: 8}
      - {task: summ-facts, max_drop: null, max_relative_drop: 10}
      - {task: niah-none, skip: true}

Unknown keys are errors; every error is one line naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qlongbench.spec.config import format_validation_error, load_yaml
from qlongbench.spec.yaml_lines import Origin, origins_of
from qlongbench.spec.lengths import parse_length
from qlongbench.errors import UserError


StrictNumber = Annotated[float, Field(strict=True)]
"""A number as YAML writes one: `true` or "5" is refused, not read as 1 or 5."""
StrictCount = Annotated[int, Field(strict=True)]


def _as_list(v: Any) -> Any:
    """YAML may give one value or a list; a string may be a comma list."""
    if isinstance(v, str):
        return join_options(v.split(","))
    if isinstance(v, int):
        return [v]
    return v


def join_options(pieces: Sequence[str]) -> list[str]:
    """Comma-split names, with a precision label's own options put back together:
    'bnb-nf4:compute_dtype=bf16,double_quant=True,gguf-q4_k_m' holds two labels."""
    out: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        if out and "=" in piece and ":" not in piece and "+" not in piece.partition("=")[0] and ":" in out[-1]:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


def _length(v: Any) -> int:
    try:
        return parse_length(v)
    except UserError as err:  # a ValueError lets pydantic name the field
        raise ValueError(str(err)) from None


def _lengths(v: Any) -> Any:
    v = _as_list(v)
    if isinstance(v, list):
        return [_length(x) for x in v]
    return v


def _percent(name: str, v: float | None) -> float | None:
    if v is not None and not 0.0 <= v <= 100.0:
        raise ValueError(f"{name} is in points/percent and must lie in 0..100, got {v}")
    return v


class Rule(BaseModel):
    """Overrides for the cells it matches. A match field left out matches every cell."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    task: list[str] | None = None
    """Task names (aliases such as niah are resolved)."""
    language: list[str] | None = None
    """Language labels as the report shows them (`de`, or `en_de` in cross-lingual runs)."""
    length: list[int] | None = None
    """Exact lengths (4k = 4096)."""
    min_length: int | None = None
    """Lengths at or above this."""
    max_length: int | None = None
    """Lengths at or below this."""
    candidate: list[str] | None = None
    """Candidate precision labels."""
    kv: list[str] | None = None
    """KV-cache precisions (the +kv= part of a label: q8_0, int4 ...; 'default' = the engine's own
    cache), e.g. {kv: q8_0, min_length: 8k, max_drop: 2}."""
    max_drop: StrictNumber | None = None
    """Tolerated drop in accuracy points (null switches the absolute criterion off)."""
    max_relative_drop: StrictNumber | None = None
    """Tolerated drop in percent of the reference's accuracy (null switches it off)."""
    min_samples: StrictCount | None = None
    """Fewer paired samples than this makes the cell `insufficient`."""
    skip: bool = Field(default=False, strict=True)
    """Leave the matched cells out of the gate."""

    @field_validator("task", "language", "candidate", "kv", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("length", mode="before")
    @classmethod
    def _length_list(cls, v: Any) -> Any:
        return _lengths(v)

    @field_validator("min_length", "max_length", mode="before")
    @classmethod
    def _one_length(cls, v: Any) -> Any:
        return None if v is None else _length(v)

    @field_validator("max_drop")
    @classmethod
    def _max_drop(cls, v: float | None) -> float | None:
        return _percent("max_drop", v)

    @field_validator("max_relative_drop")
    @classmethod
    def _max_rel(cls, v: float | None) -> float | None:
        return _percent("max_relative_drop", v)

    @field_validator("min_samples")
    @classmethod
    def _min_samples(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("min_samples must be at least 1")
        return v

    @model_validator(mode="after")
    def _something_to_do(self) -> Rule:
        if not ({"max_drop", "max_relative_drop", "min_samples"} & self.model_fields_set) and not self.skip:
            raise ValueError("a rule must set max_drop, max_relative_drop, min_samples or skip")
        return self

    def matches(self, candidate: str, kv: str, task: str, language: str, length: int) -> bool:
        """Whether the rule applies to a cell of `candidate` (whose KV precision is `kv`, 'default'
        without one)."""
        return ((self.candidate is None or candidate in self.candidate)
                and (self.kv is None or kv in self.kv)
                and (self.task is None or task in self.task)
                and (self.language is None or language in self.language)
                and (self.length is None or length in self.length)
                and (self.min_length is None or length >= self.min_length)
                and (self.max_length is None or length <= self.max_length))


class Policy(BaseModel):
    """Everything `qlongbench check` decides with; CLI flags override the top-level fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    reference: str | None = None
    """Reference precision (default: the first of bf16, fp16, fp32 in the run)."""
    candidates: list[str] | None = None
    """Precisions to gate (default: every precision in the run except the reference)."""
    confidence: StrictNumber = 0.95
    """One-sided confidence of each bound (1 - alpha): a cell passes when the drop's upper bound at
    this confidence is within tolerance and fails when its lower bound is beyond it."""
    min_samples: StrictCount = 20
    """Cells with fewer paired samples are `insufficient` (an inconclusive verdict)."""
    max_drop: StrictNumber | None = None
    """Default tolerated drop in accuracy points (0-100 scale)."""
    max_relative_drop: StrictNumber | None = None
    """Default tolerated drop in percent of the reference's accuracy."""
    lengths: list[int] | None = None
    """Only gate these lengths (default: all lengths in the run)."""
    tasks: list[str] | None = None
    """Only gate these tasks (default: all)."""
    languages: list[str] | None = None
    """Only gate these language labels (default: all)."""
    strict: bool = Field(default=False, strict=True)
    """Count inconclusive (and insufficient, not measured) cells as failures."""
    allow_no_pass: bool = Field(default=False, strict=True)
    """Exit 0 even when no cell passed. Off: a gate in which nothing passed fails, so a CI job can
    never go green on cells that were all inconclusive or unmeasurable."""
    min_reference_accuracy: StrictNumber = 10.0
    """Points: a cell whose reference scores at most this (or its task's chance level) cannot show a
    drop and is 'not measured', never a pass."""
    min_parsed: StrictNumber = 50.0
    """Percent of the reference's answers that must parse for a cell to be measured."""
    rules: list[Rule] = Field(default_factory=list)
    """Per task / length / language / candidate overrides, applied top to bottom."""

    @field_validator("candidates", "tasks", "languages", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("lengths", mode="before")
    @classmethod
    def _length_list(cls, v: Any) -> Any:
        return _lengths(v)

    @field_validator("confidence")
    @classmethod
    def _confidence(cls, v: float) -> float:
        if not 0.5 < v < 1.0:
            raise ValueError(f"confidence must lie strictly between 0.5 and 1 (e.g. 0.95), got {v}")
        return v

    @field_validator("max_drop")
    @classmethod
    def _max_drop(cls, v: float | None) -> float | None:
        return _percent("max_drop", v)

    @field_validator("max_relative_drop")
    @classmethod
    def _max_rel(cls, v: float | None) -> float | None:
        return _percent("max_relative_drop", v)

    @field_validator("min_reference_accuracy", "min_parsed")
    @classmethod
    def _floor(cls, v: float, info: Any) -> float:
        return _percent(info.field_name, v)  # type: ignore[return-value]

    @field_validator("min_samples")
    @classmethod
    def _min_samples(cls, v: int) -> int:
        if v < 1:
            raise ValueError("min_samples must be at least 1")
        return v

    def tolerance(self, candidate: str, kv: str, task: str, language: str, length: int) -> Tolerance | None:
        """The tolerance of one cell after the rules, or None when a rule skips it."""
        values: dict[str, Any] = {"max_drop": self.max_drop, "max_relative_drop": self.max_relative_drop,
                                  "min_samples": self.min_samples}
        for rule in self.rules:
            if not rule.matches(candidate, kv, task, language, length):
                continue
            if rule.skip:
                return None
            for name in ("max_drop", "max_relative_drop", "min_samples"):
                if name in rule.model_fields_set:
                    values[name] = getattr(rule, name)
        if values["min_samples"] is None:
            values["min_samples"] = self.min_samples
        return Tolerance(
            max_drop=None if values["max_drop"] is None else values["max_drop"] / 100.0,
            max_relative_drop=None if values["max_relative_drop"] is None else values["max_relative_drop"] / 100.0,
            min_samples=values["min_samples"],
        )

    def canonical(self) -> Policy:
        """Task aliases (niah -> niah-single) resolved to the names records carry."""
        def canon(names: list[str] | None) -> list[str] | None:
            return None if names is None else [canonical_task(n) for n in names]

        rules = [r.model_copy(update={"task": canon(r.task)}) for r in self.rules]
        return self.model_copy(update={"tasks": canon(self.tasks), "rules": rules})


@dataclass(frozen=True)
class Tolerance:
    """What one cell may lose; drops are in score units (0..1), relative drops are fractions."""

    max_drop: float | None
    """Tolerated absolute drop (0.03 = 3 points); None = no absolute criterion."""
    max_relative_drop: float | None
    """Tolerated drop as a fraction of the reference mean (0.05 = 5 %); None = no relative criterion."""
    min_samples: int
    """Minimum paired samples for a decisive verdict."""

    def describe(self) -> str:
        parts = []
        if self.max_drop is not None:
            parts.append(f"≤ {100 * self.max_drop:g} pts")
        if self.max_relative_drop is not None:
            parts.append(f"≤ {100 * self.max_relative_drop:g} %")
        return " and ".join(parts) or "none"


def canonical_task(name: str) -> str:
    """The task's registered canonical name; the name itself when the task cannot be loaded (a
    policy may name a task whose optional module is not installed here)."""
    from qlongbench import registry

    try:
        return registry.canonical_task_name(name)
    except (UserError, ImportError, AttributeError):
        return name


def build_policy(values: dict[str, Any], source: str, origins: dict[str, Origin | None] | None = None) -> Policy:
    try:
        return Policy.model_validate(values)
    except ValidationError as err:
        raise UserError(format_validation_error(err, source, origins)) from None


def load_policy(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Policy:
    """The policy file (if any) with CLI overrides (None values are 'not given') on top; a bad value
    from the file names its line."""
    data = load_yaml(path, "policy file") if path else {}
    values, origins = dict(data), origins_of(data)
    source = f"policy {path}" if path else "options"
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if given and path:
        source = f"policy {path} + options"
    values.update(given)
    origins.update(dict.fromkeys(given))
    return build_policy(values, source, origins).canonical()


def alpha_to_confidence(alpha: float) -> float:
    if not 0.0 < alpha < 0.5:
        raise UserError(f"--alpha must lie strictly between 0 and 0.5 (e.g. 0.05), got {alpha}")
    return 1.0 - alpha


def split_list(items: Sequence[str] | None) -> list[str] | None:
    """Repeated and comma-separated CLI values as one list (None when not given)."""
    if not items:
        return None
    return [name for item in items for name in join_options(item.split(","))]
