"""Typed records that cross module boundaries.

Every record is a frozen pydantic model: validated when read back from disk, serialised to
canonical JSON, and documented field by field (attribute docstrings become field descriptions).
Nothing here imports torch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, ValidationInfo, field_validator

Status = Literal["ok", "overlength", "oom", "error"]
"""ok: generated and scored; overlength: the sample could not fit its target length (nothing was
cut); oom: the engine ran out of memory at this length; error: the engine failed otherwise."""
SampleStatus = Literal["ok", "overlength"]
"""A frozen sample either fits its length or is overlength (oom and error happen to records)."""

# Constrained types shared by every model read back from disk (records, samples, run.json): a value
# no qlongbench writes is refused when the file is read, naming the field and what is allowed.
Name = Annotated[str, Field(min_length=1)]
"""A label or id: never empty."""
Count = Annotated[int, Field(ge=0)]
"""Tokens, bytes, positions: never negative."""
Finite = Annotated[float, Field(allow_inf_nan=False)]
"""A measured number: NaN and infinities are refused."""
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
"""A wall time."""
Depth = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]
"""Percent of the haystack: 0 (start) .. 100 (end)."""
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""A score or a rate in 0..1."""


def _iso_time(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be an ISO-8601 time such as 2026-01-01T00:00:00+00:00, not {value!r}") from None
    return value


IsoTime = Annotated[str, AfterValidator(_iso_time)]
"""A UTC ISO-8601 time, as datetime.isoformat writes it."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class GenerationConfig(Frozen):
    """Decoding settings; identical for every precision of a run (its hash is on each record)."""

    max_new_tokens: Count
    """Answer budget in tokens; reserved inside the target length when samples are built."""
    do_sample: bool = False
    """Greedy decoding unless the user asks for sampling."""
    temperature: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = 1.0
    """Only used when do_sample is true."""
    top_p: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] = 1.0
    """Only used when do_sample is true."""
    seed: int = 0
    """Sampling seed (ignored by greedy decoding)."""
    stop_on_eos: bool = True
    """Stop at the tokenizer's end-of-sequence (or end-of-turn) token ids."""


class Sample(Frozen):
    """One frozen prompt: built once with the reference tokenizer, read by every precision."""

    sample_id: Name
    """Stable id, unique inside its samples file (task-language-length-index)."""
    task: Name
    """Registered task name, e.g. niah-single."""
    language: Name
    """Language of the haystack (ISO 639-1)."""
    instruction_language: Name
    """Language of the instruction and question (differs from `language` in cross-lingual mode)."""
    length: int = Field(ge=1)
    """Target length in tokens: prompt tokens + answer budget."""
    index: Count
    """Position of the sample in its cell."""
    seed: int
    """Seed the sample was built from."""
    status: SampleStatus
    """ok, or overlength when the fixed parts alone exceed the target length."""
    prompt_ids: tuple[Count, ...]
    """The exact token ids every engine receives (empty when overlength)."""
    prefix_len: Count
    """prompt_ids[:prefix_len] is the shared context (system + user turn up to the document's
    end); the rest is the per-question suffix. Lets a backend prefill a context once."""
    max_new_tokens: Count
    """The answer budget reserved for this sample."""
    expected: tuple[str, ...]
    """Gold answers (needle values, the none word, gold answer strings, fact ids)."""
    depth: Depth | None = None
    """Requested needle / gold depth in percent of the haystack (0 = start)."""
    metadata: dict[str, JsonValue] = {}
    """Task-specific facts about the sample (needle token positions, distractors, keys), read by the
    task that wrote them; `reason` says why an overlength sample could not fit."""
    prompt_sha256: str
    """sha256 of the prompt ids (see hashing.ids_sha256)."""

    def overlength_reason(self) -> str | None:
        """Why the sample could not fit its length (None when it fits)."""
        reason = self.metadata.get("reason") if self.status == "overlength" else None
        return str(reason) if reason is not None else None


class Generation(Frozen):
    """What an engine produced for one prompt."""

    text: str
    """Decoded output (special tokens skipped)."""
    token_ids: tuple[int, ...]
    """Generated token ids."""
    n_prompt_tokens: int
    """Prompt tokens the engine saw."""
    finish_reason: Literal["eos", "length"]
    """Why decoding stopped."""
    prefill_seconds: float
    """Wall time of the prompt's forward pass (0 when the context was reused)."""
    decode_seconds: float
    """Wall time of token-by-token decoding."""
    n_prefilled_tokens: int
    """Tokens actually run through the model for this prompt (less than the prompt when a
    cached context was reused)."""
    kv_cache_bytes: int | None = None
    """Measured KV-cache bytes at the end of the prompt (None when the engine cannot say)."""
    kv_cache_allocator_bytes: int | None = None
    """CUDA only: bytes the allocator gained since the empty cache, at the end of the prompt."""
    peak_bytes: int | None = None
    """Peak memory while this prompt ran (CUDA max allocated, reset per prompt; or process peak RSS)."""
    peak_source: str | None = None
    """What peak_bytes measured: cuda-max-allocated, process-peak-rss, ..."""
    decode_rows: int = 1
    """Questions decoded together with this one over their shared context (1: alone). Decode time is
    then the batch's, shared equally between its rows."""


class QuantRecipe(Frozen):
    """Everything that defines how the weights were (or were not) quantized."""

    method: str
    """none, bitsandbytes, gptq, gguf."""
    bits: Annotated[float, Field(gt=0.0, le=64.0, allow_inf_nan=False)] | None = None
    """Nominal weight bits (16 for bf16)."""
    quant_type: str | None = None
    """nf4 / fp4 / int8 / Q4_K_M / ... spelled out, never left to an engine default."""
    group_size: Annotated[int, Field(ge=-1)] | None = None
    """GPTQ group size (-1 = per column)."""
    double_quant: bool | None = None
    """bitsandbytes nested quantization of the scales."""
    compute_dtype: str | None = None
    """dtype the matmuls run in."""
    desc_act: bool | None = None
    """GPTQ activation-order."""
    sym: bool | None = None
    """GPTQ symmetric quantization."""
    calibration: str | None = None
    """Calibration source (file path, dataset id, or 'qlongbench-synthetic')."""
    calibration_samples: Count | None = None
    """Number of calibration sequences."""
    calibration_seq_len: Count | None = None
    """Tokens per calibration sequence."""
    options: dict[str, JsonValue] = {}
    """Any further engine options that change numerics (flash_attn, KV cache type, ...)."""


class BackendInfo(Frozen):
    """What a loaded precision is: recorded in run.json per precision."""

    precision: str
    """Precision label, e.g. bnb-nf4."""
    engine: str
    """transformers, llama.cpp, ..."""
    engine_version: str
    """Version of the engine library."""
    device: str
    """cpu, cuda, cuda:0 ..."""
    dtype: str
    """Activation / compute dtype."""
    recipe: QuantRecipe
    """How the weights were quantized."""
    weight_bytes: Count
    """Bytes held by the loaded weights."""
    artifact_path: str | None = None
    """Quantized file or directory that was loaded, when one was built or given."""
    artifact_sha256: str | None = None
    """sha256 of that artifact."""
    versions: dict[str, str] = {}
    """Versions of every library involved (torch, bitsandbytes, gptqmodel, llama_cpp ...)."""
    memory_baseline_bytes: Count | None = None
    """What the process held (RSS, or CUDA allocated bytes) just before this precision loaded: peak
    memory is reported as the increase over it, so libraries loaded and memory kept by earlier
    precisions are not charged to this one."""
    attention: str | None = None
    """Attention implementation the engine ran (transformers: sdpa, or qlongbench_sdpa3 = SDPA with
    one-query CPU steps in float32 and chunks after a cached past split in two softmax parts, the
    cached keys read once per KV head, see backends/hf_attention.py; qlongbench_sdpa2 in older runs,
    the cached keys repeated per query head; qlongbench_sdpa before that, without the split);
    llama.cpp on CPU: flash_attn_tiled where every prefill batch holds at least 64 query rows, so its
    flash attention runs one kernel whatever the split (backends/gguf_session.py; None in older runs
    and where it does not apply: flash_attn off, a quantized or bf16 cache, GPU offload); None for
    engines that offer no choice."""

    OUTPUT_FIELDS: ClassVar[tuple[str, ...]] = ("engine", "engine_version", "device", "dtype", "recipe",
                                                "artifact_sha256", "attention", "versions")
    """What decides a precision's outputs (not where its file lies or how much memory it held)."""

    MACHINE_KEYS: ClassVar[tuple[str, ...]] = ("llama_cpp_system",)
    """Entries of `versions` that describe the machine, not a library (llama.cpp's system info names the
    CPU features it found). Another CPU is recorded and flagged (run.json executor.cpus, the report),
    as it is for torch, whose versions name no CPU: it is not a different model."""

    def differs_from(self, other: BackendInfo) -> list[str]:
        """The output-deciding fields in which two loads of one precision differ: records made by
        both cannot stand under one label (a GPTQ file quantized again on another machine differs)."""
        def value(info: BackendInfo, f: str) -> object:
            got = getattr(info, f)
            return {k: v for k, v in got.items() if k not in self.MACHINE_KEYS} if f == "versions" else got

        return [f for f in self.OUTPUT_FIELDS if value(self, f) != value(other, f)]


class Record(Frozen):
    """One line of records.jsonl: one sample run at one precision."""

    run_id: Name
    """Run this record belongs to."""
    precision: Name
    """Precision label."""
    engine: Name
    """Engine that produced the output (transformers, llama.cpp; '-' when nothing ran)."""
    task: Name
    """Task name."""
    language: Name
    """Haystack language."""
    instruction_language: Name
    """Instruction language."""
    length: int = Field(ge=1)
    """Target length in tokens."""
    n_prompt_tokens: Count
    """Prompt tokens actually fed."""
    sample_id: Name
    """Sample id inside the run."""
    depth: Depth | None
    """Needle / gold depth in percent."""
    prompt_sha256: str
    """Hash of the exact prompt ids."""
    gen_config_sha256: str
    """Hash of the generation config."""
    output: str
    """Decoded output ('' when not generated)."""
    expected: tuple[str, ...]
    """Gold answers."""
    score: Unit | None
    """Task metric in 0..1: set when status is ok, None otherwise."""
    parsed: bool | None = None
    """Whether the scorer could parse an answer from the output."""
    status: Status
    """ok, overlength, oom, error."""
    error: str | None = None
    """One-line error message for oom / error / overlength."""
    metrics: dict[str, Finite] = {}
    """Secondary metrics (token F1, false-fact share, ...)."""
    n_generated_tokens: Count = 0
    """Tokens generated."""
    prefill_seconds: Seconds | None = None
    """Prefill wall time."""
    decode_seconds: Seconds | None = None
    """Decode wall time."""
    n_prefilled_tokens: Count | None = None
    """Tokens actually prefilled for this record (context reuse lowers it)."""
    kv_cache_bytes: Count | None = None
    """Measured KV-cache bytes at the end of the prompt."""
    kv_cache_allocator_bytes: Count | None = None
    """CUDA only: allocator bytes held by the cache at the end of the prompt."""
    peak_bytes: Count | None = None
    """Peak memory while this record ran (CUDA max allocated, or process peak RSS)."""
    peak_source: str | None = None
    """What peak_bytes measured: cuda-max-allocated, process-peak-rss, ..."""
    decode_rows: Annotated[int, Field(ge=1)] | None = None
    """Questions decoded together with this one over their shared context (1: alone; None: records
    written before it was recorded, all decoded alone). Above 1, decode_seconds is the batch's time
    shared equally between its rows."""
    created_at: IsoTime
    """UTC ISO-8601 time the record was written."""

    @field_validator("status")
    @classmethod
    def _scored_when_ok(cls, status: str, info: ValidationInfo) -> str:
        if "score" in info.data and (status == "ok") != (info.data["score"] is not None):
            raise ValueError("status ok needs a score in 0..1 (score is null)" if status == "ok" else
                             f"a record with status {status} carries no score (score must be null)")
        return status

    def key(self) -> tuple[str, str]:
        """Identity of a record inside a run: one per (precision, sample)."""
        return (self.precision, self.sample_id)


class Score(Frozen):
    """A task's verdict on one output (pure function of sample and output)."""

    score: float
    """Main metric in 0..1."""
    parsed: bool
    """Whether an answer could be extracted at all."""
    metrics: dict[str, float] = {}
    """Secondary metrics."""


class TokenPrompt(Frozen):
    """Token ids handed to an engine; never re-tokenized."""

    ids: tuple[int, ...]
    """The prompt."""
    prefix_len: int = 0
    """ids[:prefix_len] is a context other prompts may share (0 = nothing shared)."""

    @classmethod
    def of(cls, sample: Sample) -> "TokenPrompt":
        return cls(ids=sample.prompt_ids, prefix_len=sample.prefix_len)


class ScoredGeneration(Frozen):
    """A task that scores from log-probabilities (kld) hands the runner its timing and its verdict
    together: there is no text to score."""

    generation: Generation
    """Timing and token counts of the forward passes (text and token_ids empty)."""
    score: Score
    """The task's verdict on the sample."""
