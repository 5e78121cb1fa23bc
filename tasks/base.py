"""The Task contract. A task builds frozen samples with the reference tokenizer and scores
outputs with pure functions; it never sees an engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from qlongbench.spec.config import format_validation_error
from qlongbench.errors import UserError
from qlongbench.tokenizer import PromptTokenizer
from qlongbench.types import Sample, Score


class TaskOptions(BaseModel):
    """Base for a task's options (name:key=value on the CLI); unknown keys are errors, and values
    are strict: `value_digits=true` or `haystack=5` is refused naming the option, not read as 1."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, strict=True)


class SampleMetadata(BaseModel):
    """A sample's metadata as its task reads it back: the keys qlongbench reads are typed (a samples
    file edited and bound again is refused on load, naming the key, never a traceback while scoring);
    the other keys are kept as written, for people reading the file. Each task declares its own."""

    model_config = ConfigDict(extra="allow", strict=True, use_attribute_docstrings=True)

    reason: str | None = None
    """Why an overlength sample could not fit (it becomes its records' error)."""


@dataclass(frozen=True)
class BuildContext:
    """What a task needs to build the samples of one cell."""

    tokenizer: PromptTokenizer
    """The reference tokenizer (chat template decided already)."""
    length: int
    """Target length: prompt tokens + answer budget."""
    language: str
    """Haystack language."""
    instruction_language: str
    """Language of instruction and question."""
    n_samples: int
    """How many samples to build."""
    seed: int
    """Seed of this cell (derived from the run seed and the cell)."""
    max_new_tokens: int
    """Answer budget to reserve."""
    lengths: tuple[int, ...] = ()
    """Every length of the run (a nested sweep builds one haystack for all of them)."""
    family_seed: int = 0
    """Seed shared by the cells of one task and language across lengths."""

    @classmethod
    def for_cell(cls, tokenizer: PromptTokenizer, *, task: str, length: int, language: str,
                 instruction_language: str, n_samples: int, run_seed: int, max_new_tokens: int,
                 lengths: Sequence[int]) -> BuildContext:
        """The context of one cell, its seeds derived from the run seed: `qlongbench run` and the
        lm-eval plugin both build samples through here, so they build the same samples."""
        return cls(tokenizer=tokenizer, length=length, language=language, instruction_language=instruction_language,
                   n_samples=n_samples, seed=cell_seed(run_seed, task, instruction_language, language, length),
                   max_new_tokens=max_new_tokens, lengths=tuple(sorted(lengths)),
                   family_seed=cell_seed(run_seed, task, instruction_language, language))


class LogprobScorer(ABC):
    """Reduces one precision's next-token distributions over one sample, fed a chunk of positions
    at a time by the runner (which drives the engine and keeps the files)."""

    chunk: int = 512
    """Positions per engine pass: bounds memory to chunk × vocabulary floats."""

    @abstractmethod
    def feed(self, start: int, logprobs: Any) -> None:
        """Rows of full-vocabulary log-probs (numpy [rows, vocab]) for positions start, start+1, ..."""

    @abstractmethod
    def finish(self) -> tuple[Score, dict[str, Any] | None]:
        """The verdict on the sample, and the arrays to keep when this precision is a reference."""


@dataclass(frozen=True)
class LogprobRole:
    """How one precision takes part in a log-prob task on one sample."""

    keep: bool
    """This precision is a reference (the HF reference, or an engine's full-precision baseline):
    its reduced distributions are kept for the others to compare with."""
    compare_with: dict[str, dict[str, Any]]
    """Kept arrays of the references this precision is compared with, by metric prefix ('' for the
    HF reference, 'eb_' for the engine-matched baseline)."""


class Task(ABC):
    """A task family. Optional capabilities are declared here with safe defaults: a task scored
    from log-probabilities sets `uses_logprobs` and overrides `logprob_scorer`; a task's place in the
    lm-eval plugin is `lm_eval_name` (every text task by default)."""

    name: ClassVar[str]
    """Registered name."""
    description: ClassVar[str]
    """One line for `qlongbench tasks`."""
    metric: ClassVar[str]
    """What the score means."""
    default_max_new_tokens: ClassVar[int] = 32
    """Answer budget unless the run overrides it."""
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    """Options model."""
    Metadata: ClassVar[type[SampleMetadata]] = SampleMetadata
    """What `score` (and the runner) read back from a sample's metadata, validated when a samples
    file is loaded."""
    uses_logprobs: ClassVar[bool] = False
    """Scored from next-token distributions compared with a reference (logprob_scorer), not from
    generated text."""
    chance_level: ClassVar[float] = 0.0
    """Score a model gets without reading the context (guessing): a reference at or below it cannot
    show a drop."""

    def __init__(self, options: dict[str, Any] | None = None):
        try:
            self.options = self.Options.model_validate(options or {})
        except ValidationError as err:
            raise UserError(format_validation_error(err, f"task {self.name} option")) from None

    @classmethod
    def lm_eval_name(cls) -> str | None:
        """The task's name in the lm-eval plugin (qlongbench/harness, generated from the registry):
        qlongbench_<name> by default; None keeps it out (log-prob tasks: lm-eval's generate_until
        cannot score them)."""
        return None if cls.uses_logprobs else "qlongbench_" + cls.name.replace("-", "_")

    @classmethod
    def languages(cls) -> tuple[str, ...]:
        """Languages this task has text for."""
        from qlongbench.tasks.languages import languages

        return tuple(languages())

    @abstractmethod
    def build(self, ctx: BuildContext) -> list[Sample]:
        """Samples of one cell, fitted to ctx.length exactly (or status overlength)."""

    @abstractmethod
    def score(self, sample: Sample, output: str) -> Score:
        """Pure scoring of one output."""

    def logprob_scorer(self, sample: Sample, role: LogprobRole) -> LogprobScorer:
        """A scorer for one precision on one sample (tasks with uses_logprobs)."""
        raise NotImplementedError(f"task {self.name} is scored from generated text")


def cell_seed(run_seed: int, *parts: Any) -> int:
    """A stable per-cell seed (hash, not Python's randomized hash())."""
    import hashlib

    text = ":".join([str(run_seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def spread_depths(n: int) -> list[float]:
    """n depths evenly over 0..100 percent (one sample: the middle)."""
    if n == 1:
        return [50.0]
    return [round(100.0 * i / (n - 1), 4) for i in range(n)]
