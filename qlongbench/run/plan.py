"""The run plan: every decision about a run, made once by the planner (run/planner.py) before anything
is measured, and stored in run.json (`RunHeader.plan`). The model and its provenance, the tasks with
their generation configs and where they run, the precisions parsed into typed `Precision`s, the
reference, each engine's full-precision baseline, the noise-floor controls, which tasks are scored
from log-probabilities, and the rule that says when a cell is measured. Units, executors, the
analysis, the report and the gate read it; none of them plans again."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from qlongbench.errors import UserError
from qlongbench.hashing import sha256_json
from qlongbench.spec.measure import MeasureRule
from qlongbench.spec.precision import Precision
from qlongbench.spec.rope import RopeScaling
from qlongbench.tasks.base import Task
from qlongbench.types import GenerationConfig, Name, Sample, Unit


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


Positive = Annotated[int, Field(ge=1, strict=True)]
"""Layers, heads, widths, positions: at least one."""
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""A sha256 in hex, as hashlib writes it."""


class ModelInfo(_Model):
    """The reference model: where it came from, its files' hash and its attention geometry."""

    source: str
    """Local directory or hub id as given."""
    local: bool = False
    """Whether the source is a local directory."""
    revision: str | None = None
    """Hub revision."""
    files_sha256: str | None = None
    """Hash of every file an engine may read (weights of any format, configs, tokenizer, code)."""
    files_hash_rule: Literal["all-files"] = "all-files"
    """How files_sha256 was computed: every non-hidden file."""
    architecture: str | None = None
    """config.architectures[0]."""
    num_hidden_layers: Positive | None = None
    """Decoder layers."""
    num_attention_heads: Positive | None = None
    """Query heads."""
    num_key_value_heads: Positive | None = None
    """KV heads (fewer than query heads under GQA/MQA)."""
    head_dim: Positive | None = None
    """Per-head dimension."""
    hidden_size: Positive | None = None
    """Model width."""
    vocab_size: Positive | None = None
    """Vocabulary size."""
    max_position_embeddings: Positive | None = None
    """Positions the model was trained for."""
    sliding_window: Positive | None = None
    """Tokens a sliding-window layer attends to (Gemma 3: 512); None when no layer has a window."""
    sliding_layers: Annotated[int, Field(ge=0, strict=True)] | None = None
    """How many layers have that window (the config's layer_types; Gemma 3 270M: 15 of 18): their cache
    holds min(tokens, window) tokens, which the KV formula counts."""
    rope_scaling: dict[str, JsonValue] | None = None
    """RoPE scaling config, when set."""
    tokenizer: dict[str, JsonValue] = Field(default_factory=dict)
    """Tokenizer fingerprint (class, vocabulary hash, special tokens)."""
    chat_template_sha256: str | None = None
    """Hash of the chat template."""
    chat_template_used: bool = False
    """Whether prompts were rendered with the chat template."""
    prompt_form: Literal["chat_template", "plain"] | None = None
    """How every prompt was framed, as --chat-template resolved on this model: its chat template, or
    plain completion (a base model, or --chat-template off: instruction, document, question and an
    answer prefix as text, BOS from the tokenizer: RULER's base-model form). Part of the run's sample
    identity; None in runs made before it was recorded (chat_template_used says the same)."""
    origin: str | None = None
    """Where the weights themselves come from when that matters to the reading (the bundled model:
    a published Q4_1 GGUF dequantized to bf16, so every drop is relative to a 4-bit model)."""


PROMPT_FORMS = {
    "chat_template": "the model's chat template (instruction, document and question as the user turn)",
    "plain": ("plain completion, no chat template (instruction, document, question, then an answer prefix "
              "such as 'Answer:'; BOS from the tokenizer): RULER's base-model form"),
}
"""What each prompt form means, as reports say it."""


def prompt_form_text(model: ModelInfo) -> str:
    """The prompt form of a run in words (runs before it was recorded: from chat_template_used)."""
    return PROMPT_FORMS[model.prompt_form or ("chat_template" if model.chat_template_used else "plain")]


class GenerationConfigRecord(GenerationConfig):
    """A task's generation config with its hash (the hash every record of the task carries)."""

    sha256: Sha256
    """sha256 of the config (hashing.sha256_json of the config fields)."""

    @classmethod
    def of(cls, cfg: GenerationConfig) -> GenerationConfigRecord:
        return cls(**cfg.model_dump(), sha256=sha256_json(cfg))


class PlannedTask(_Model):
    """One task of the run: what it is, how it generates, and where it runs."""

    label: Name
    """Canonical name, plus ':key=value,...' when it has options: two runs of one task with
    different options are different tasks (their samples, records and cells never mix)."""
    name: Name
    """Registered task name."""
    options: dict[str, JsonValue] = Field(default_factory=dict)
    """The task's options (all of them, defaults included), as its options model dumps them."""
    uses_logprobs: bool = False
    """Scored from log-probabilities against a reference (reported as KL, not accuracy): the task's
    declaration (Task.uses_logprobs)."""
    chance_level: Unit = 0.0
    """Score without reading the context; a reference at or below it cannot show a drop."""
    metric: str = ""
    """What the score means."""
    generation: GenerationConfigRecord
    """The generation config every precision uses on it (and its hash)."""
    lengths: tuple[int, ...]
    """Its target lengths (the run's unless the task names its own)."""
    languages: tuple[str, ...]
    """Its haystack languages."""
    samples: Positive
    """Its samples per cell."""

    @property
    def tag(self) -> str | None:
        """Short hash of the label's options (what follows `name:`), put into sample ids and file
        names (None without options)."""
        return None if self.label == self.name else sha256_json(self.label.removeprefix(self.name + ":"))[:8]

    def task(self) -> Task:
        """The task, configured with its options (built once per process)."""
        return _task(self.name, json.dumps(self.options, sort_keys=True))

    def relabel(self, samples: list[Sample]) -> list[Sample]:
        """Samples carry their task's label, and ids that differ between option sets of one task."""
        tag = self.tag
        if tag is None:
            return samples
        return [s.model_copy(update={"task": self.label,
                                     "sample_id": f"{self.name}.{tag}" + s.sample_id.removeprefix(self.name)})
                for s in samples]


@lru_cache(maxsize=None)
def _task(name: str, options: str) -> Task:
    from qlongbench import registry

    return registry.task_class(name)(json.loads(options))


@dataclass(frozen=True)
class Cell:
    """One (task, instruction language, language, length) group of samples."""

    task: str
    """Task label."""
    instruction_language: str
    language: str
    length: int
    name: str = ""
    """The task's registered name ('' : the label is the name, a task without options)."""
    tag: str | None = None
    """The task's options hash (PlannedTask.tag), None without options."""

    def stem(self) -> str:
        """Name of the cell's samples file (without .jsonl)."""
        lang = self.language if self.instruction_language == self.language else f"{self.instruction_language}_{self.language}"
        return f"{self.name or self.task}{'.' + self.tag if self.tag else ''}-{lang}-{self.length}"


class RunPlan(_Model):
    """Everything decided about a run before anything is measured (see the module docstring)."""

    model: ModelInfo
    """The reference model and its provenance."""
    seed: int
    """Run seed (samples are built from it)."""
    instruction_language: str | None = None
    """Cross-lingual mode: instructions and questions in this language."""
    tasks: dict[str, PlannedTask]
    """The tasks by label, in run order."""
    precisions: tuple[Precision, ...]
    """Every precision, parsed, in run order (the log-prob reference first when a log-prob task runs)."""
    reference: str | None = None
    """The precision every other is compared with: the first of the reference engine's names
    (bf16, fp16, fp32) among the precisions (None when none is there)."""
    logprob_reference: str | None = None
    """The precision log-prob tasks compared with when their files were kept (None when no log-prob
    task ran); fixed when the first log-prob task runs."""
    engine_baselines: dict[str, str] = Field(default_factory=dict)
    """engine -> its full-precision run (gguf-bf16 for llama.cpp), for engines that declare one."""
    added: tuple[str, ...] = ()
    """Precisions added automatically as an engine's baseline (not gated by default)."""
    controls: dict[str, str] = Field(default_factory=dict)
    """Noise-floor controls (--noise-floor): control label -> the precision it perturbs (the same
    precision at another thread count)."""
    measure: MeasureRule = Field(default_factory=MeasureRule)
    """When a cell counts as measured (thresholds a reader may change, chance level per task)."""
    rope_scaling: RopeScaling | None = None
    """RoPE scaling the user asked for (--rope-scaling), its original window filled in: every engine
    runs the model with it, so the run measures a different model from the published one (reports
    say so)."""

    # --- lookups ---------------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(p.label for p in self.precisions)

    def precision(self, label: str) -> Precision:
        for p in self.precisions:
            if p.label == label:
                return p
        raise UserError(f"precision {label} is not one this run planned ({', '.join(self.labels)})")

    @property
    def logprob_tasks(self) -> tuple[str, ...]:
        """Tasks scored from log-probabilities (a Task capability, recorded per task)."""
        return tuple(label for label, t in self.tasks.items() if t.uses_logprobs)

    def cells(self) -> list[Cell]:
        """Task × language × length, in run order."""
        ilang = self.instruction_language
        return [Cell(t.label, ilang or lang, lang, n, t.name, t.tag) for t in self.tasks.values()
                for lang in t.languages for n in t.lengths]

    # --- comparisons -----------------------------------------------------------------------------
    def reference_for(self, present: Collection[str], requested: str | None = None) -> str | None:
        """The reference of a report or a gate over the precisions `present` in its records: the one
        a reader names (it must have records), else the plan's (None when it has none)."""
        if requested:
            if requested not in present:
                raise UserError(f"reference {requested!r} has no records in this run; precisions: "
                                f"{', '.join(present)}")
            return requested
        return self.reference if self.reference in present else None

    def engine_baselines_for(self, reference: str | None, present: Collection[str] | None = None) -> dict[str, str]:
        """candidate -> its engine's full-precision baseline, for engines other than the reference's
        (a noise-floor control is compared with the precision it perturbs, like any member)."""
        ref_engine = next((p.engine for p in self.precisions if p.label == reference), None)
        out = {}
        for p in self.precisions:
            base = self.engine_baselines.get(p.engine)
            if p.engine != ref_engine and base and base != p.label:
                out[p.label] = base
        if present is not None:
            out = {c: b for c, b in out.items() if c in present and b in present}
        return out

    def logprob_role(self, label: str) -> tuple[bool, dict[str, str]]:
        """How a precision takes part in the log-prob tasks: whether it keeps its distributions for
        others (the reference, an engine's baseline), and whose it is compared with by metric prefix
        ('' the reference, 'eb_' its engine's baseline)."""
        ref = self.logprob_reference
        baselines = self.engine_baselines_for(ref)
        keep = label == ref or label in set(baselines.values())
        compare = {} if label == ref or ref is None else {"": ref}
        if label in baselines:
            compare["eb_"] = baselines[label]
        return keep, compare

    def generation(self, task: str) -> GenerationConfig:
        """The generation config of a task (its hash stripped)."""
        return GenerationConfig(**self.tasks[task].generation.model_dump(exclude={"sha256"}))
