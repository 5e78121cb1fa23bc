"""lm-eval hooks of the qlongbench tasks: `build_dataset` (custom_dataset) and `process_results`.

The task YAMLs beside this file name `!function utils.build_dataset`; utils.py re-exports these
functions (lm-eval loads utils.py by path, outside the package). lm-eval calls
`build_dataset(**metadata, **dataset_kwargs)`, where metadata is `--model_args` merged with
`--metadata` (the convention of lm-eval's own `ruler` tasks). Recognised metadata keys:

    max_seq_lengths   lengths to build (ints or "4k"; default [4096])
    num_samples       samples per length (default 20, the same as `qlongbench run --samples`)
    seed              run seed (default 0): the same seed, lengths and num_samples give the same samples
                      as `qlongbench run --seed S --lengths ... --samples N --no-chat-template`
    language          haystack language of the tasks without a language in their name (default en)
    instruction_language   cross-lingual mode: instructions and questions in this language
    chat_template     true: render the model's chat template here, so the prompt fits the length exactly
                      (then do not pass --apply_chat_template); default false, like
                      `qlongbench run --no-chat-template`
    allow_extrapolation    allow lengths beyond the model's max_position_embeddings
    tokenizer / pretrained / model, revision, trust_remote_code   taken from --model_args

Samples are built by the same task builders as `qlongbench run` (same tokenizer, seed, answer budget),
so they fit each length exactly; lm-eval receives the prompt as text that re-encodes to the exact same
token ids (checked per sample: `exact_ids` in the logged doc). Each document is scored by the task's
own `score` function and reported under one metric named after its length ("4096"); lengths that
were not run produce no metric at all.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import JsonValue

from qlongbench import registry
from qlongbench.spec.lengths import check_lengths as shared_check_lengths
from qlongbench.spec.lengths import parse_length
from qlongbench.errors import UserError
from qlongbench.memory import text_config
from qlongbench.tasks.base import Task
from qlongbench.tokenizer import PromptTokenizer
from qlongbench.types import Sample

log = logging.getLogger("qlongbench.harness")

DEFAULT_LENGTHS = (4096,)
DEFAULT_SAMPLES = 20
TOKENIZER_KEYS = ("tokenizer", "pretrained", "model")
"""Where the tokenizer's name can arrive in --model_args, in order (as in lm-eval's ruler)."""


@dataclass(frozen=True)
class HarnessOptions:
    """The qlongbench settings of one lm-eval task load, read from metadata + dataset_kwargs."""

    task: str
    """Registered qlongbench task name."""
    task_options: dict[str, JsonValue]
    """Task options (name:key=value in `qlongbench run`)."""
    tokenizer: str
    """Tokenizer name or directory."""
    revision: str | None
    """Hub revision of the tokenizer."""
    trust_remote_code: bool
    """Whether the tokenizer may run its own code."""
    lengths: tuple[int, ...]
    """Target lengths in tokens."""
    language: str
    """Haystack language."""
    instruction_language: str
    """Instruction language."""
    n_samples: int
    """Samples per length."""
    seed: int
    """Run seed."""
    max_new_tokens: int | None
    """Answer budget reserved in each sample (None: the task's default)."""
    chat_template: bool
    """Render the model's chat template into the prompt."""
    allow_extrapolation: bool
    """Allow lengths beyond max_position_embeddings."""
    max_length: int | None
    """HFLM's max_length from --model_args, when given (lm-eval truncates prompts beyond it)."""


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _lengths(value: Any) -> tuple[int, ...]:
    if value is None:
        return DEFAULT_LENGTHS
    if isinstance(value, (str, int)):
        value = [value] if isinstance(value, int) else [v for v in str(value).split(",") if v.strip()]
    lengths = tuple(parse_length(v) for v in value)
    if not lengths:
        raise UserError("max_seq_lengths is empty: pass --metadata '{\"max_seq_lengths\":[4096]}'")
    return lengths


def read_options(kwargs: dict[str, Any]) -> HarnessOptions:
    task = kwargs.get("qlb_task")
    if not task:
        raise UserError("the task YAML lacks dataset_kwargs.qlb_task (regenerate it: python -m qlongbench.harness.generate)")
    tokenizer = next((kwargs[k] for k in TOKENIZER_KEYS if isinstance(kwargs.get(k), str) and kwargs[k]), None)
    if tokenizer is None:
        raise UserError("qlongbench tasks build their prompts with the model's tokenizer: pass --model_args "
                        "pretrained=<model> (or tokenizer=<name> for API models)")
    language = kwargs.get("qlb_language") or kwargs.get("language") or "en"
    n = int(kwargs.get("num_samples", DEFAULT_SAMPLES))
    if n < 1:
        raise UserError(f"num_samples must be at least 1, got {n}")
    max_length = kwargs.get("max_length")
    return HarnessOptions(
        task=str(task), task_options=dict(kwargs.get("qlb_options") or {}), tokenizer=tokenizer,
        revision=kwargs.get("revision"), trust_remote_code=_bool(kwargs.get("trust_remote_code", False)),
        lengths=_lengths(kwargs.get("max_seq_lengths")), language=str(language),
        instruction_language=str(kwargs.get("instruction_language") or language), n_samples=n,
        seed=int(kwargs.get("seed", 0)), max_new_tokens=kwargs.get("qlb_max_new_tokens"),
        chat_template=_bool(kwargs.get("chat_template", False)),
        allow_extrapolation=_bool(kwargs.get("allow_extrapolation", False)),
        max_length=int(max_length) if max_length not in (None, "") else None,
    )


@cache
def load_tokenizer(name: str, revision: str | None, trust_remote_code: bool, chat_template: bool) -> PromptTokenizer:
    return PromptTokenizer.load(name, revision=revision, trust_remote_code=trust_remote_code,
                                use_chat_template=chat_template)


@cache
def load_task(name: str, options_json: str) -> Task:
    return registry.task_class(name)(json.loads(options_json))


def _max_positions(opts: HarnessOptions) -> int | None:
    """The model's max_position_embeddings when its config can be read (None for API model names)."""
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(opts.tokenizer, revision=opts.revision, trust_remote_code=opts.trust_remote_code)
    except Exception:  # noqa: BLE001 - an API model name or a tokenizer-only repo has no config to read
        return None
    text = text_config(cfg)
    return getattr(text, "max_position_embeddings", None)


def check_lengths(opts: HarnessOptions) -> None:
    """Refuse lengths lm-eval would truncate or the model would only reach by extrapolating (the same
    rule as `qlongbench run`: spec.lengths.check_lengths)."""
    longest = max(opts.lengths)
    if opts.max_length is not None and longest > opts.max_length:
        raise UserError(f"length {longest} exceeds max_length={opts.max_length} in --model_args: lm-eval would cut "
                        "the prompt from the left; raise max_length or drop the length")
    if not opts.allow_extrapolation:
        shared_check_lengths(opts.lengths, _max_positions(opts), allow_extrapolation=False,
                             how_to_allow='pass "allow_extrapolation": true in --metadata')


def lm_eval_ids(tok: PromptTokenizer, text: str) -> list[int]:
    """The ids lm-eval's HF model encodes `text` to (it adds the tokenizer's special tokens unless the
    text already starts with the BOS token)."""
    bos = getattr(tok.hf, "bos_token", None)
    add = not (bos and text.startswith(bos))
    return list(tok.hf(text, add_special_tokens=add)["input_ids"])


def prompt_text(tok: PromptTokenizer, ids: tuple[int, ...]) -> str:
    """The text whose lm-eval encoding is `ids`: the ids decoded, without the special tokens the
    tokenizer adds by itself (lm-eval adds those again)."""
    ids_list = list(ids)
    auto = list(tok.hf.encode("", add_special_tokens=True))
    if auto and ids_list[: len(auto)] == auto:
        ids_list = ids_list[len(auto):]
    return tok.hf.decode(ids_list, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def build_docs(opts: HarnessOptions) -> list[dict[str, Any]]:
    """One lm-eval document per ok sample, built exactly as `qlongbench run` builds them."""
    from qlongbench.tasks.base import BuildContext

    options_json = json.dumps(opts.task_options, sort_keys=True)
    task = load_task(opts.task, options_json)
    for code in {opts.language, opts.instruction_language}:
        if code not in task.languages():
            raise UserError(f"task {task.name} has no text in {code!r}; it supports {', '.join(task.languages())}")
    check_lengths(opts)
    tok = load_tokenizer(opts.tokenizer, opts.revision, opts.trust_remote_code, opts.chat_template)
    if opts.chat_template and not tok.use_chat_template:
        raise UserError(f"chat_template is true but the tokenizer of {opts.tokenizer} has no chat template")
    budget = opts.max_new_tokens or task.default_max_new_tokens
    docs: list[dict[str, Any]] = []
    reasons: list[str] = []
    for length in opts.lengths:
        ctx = BuildContext.for_cell(tok, task=task.name, length=length, language=opts.language,
                                    instruction_language=opts.instruction_language, n_samples=opts.n_samples,
                                    run_seed=opts.seed, max_new_tokens=budget, lengths=opts.lengths)
        samples = task.build(ctx)
        skipped = [s for s in samples if s.status != "ok"]
        if skipped:
            reasons.append(f"{length}: {skipped[0].overlength_reason() or skipped[0].status}")
            log.warning("%s at %d tokens: %d of %d samples cannot fit (%s) and are left out", task.name, length,
                        len(skipped), len(samples), skipped[0].overlength_reason() or skipped[0].status)
        inexact = 0
        for s in samples:
            if s.status != "ok":
                continue
            text = prompt_text(tok, s.prompt_ids)
            exact = lm_eval_ids(tok, text) == list(s.prompt_ids)
            inexact += not exact
            docs.append(to_doc(s, text, exact, options_json))
        if inexact:
            log.warning("%s at %d tokens: %d samples do not re-encode to their exact token ids through text "
                        "(doc field exact_ids=false); lm-eval sees a retokenized prompt for them", task.name, length,
                        inexact)
    if not docs:
        raise UserError(f"{task.name} ({opts.language}): no sample fits any of the lengths "
                        f"{list(opts.lengths)} ({'; '.join(reasons)}); use longer lengths")
    return docs


def to_doc(sample: Sample, text: str, exact: bool, options_json: str) -> dict[str, Any]:
    # The prompt ids are not kept in the doc (lm-eval logs every doc; the text is already there);
    # prompt_sha256 identifies them and scoring never reads them.
    light = sample.model_dump(mode="json", exclude={"prompt_ids"})
    return {
        "input": text, "target": ", ".join(sample.expected), "sample_id": sample.sample_id, "task": sample.task,
        "language": sample.language, "instruction_language": sample.instruction_language, "length": sample.length,
        "index": sample.index, "n_prompt_tokens": len(sample.prompt_ids), "max_new_tokens": sample.max_new_tokens,
        "prompt_sha256": sample.prompt_sha256, "exact_ids": exact, "task_options": options_json,
        "sample_json": json.dumps(light, ensure_ascii=False, sort_keys=True),
    }


def doc_sample(doc: dict[str, Any]) -> Sample:
    """The sample a doc was made from (prompt ids left empty: scoring does not read them)."""
    data = json.loads(doc["sample_json"])
    return Sample.model_validate({**data, "prompt_ids": ()})


# --- lm-eval hooks ------------------------------------------------------------------------------
def build_dataset(**kwargs: Any) -> dict[str, Any]:
    """custom_dataset: {"test": datasets.Dataset} of qlongbench samples for every requested length.

    A bad setting (a length past the model's positions, a missing tokenizer ...) ends lm-eval with one
    line on stderr and exit code 2, as `qlongbench run` does, instead of a traceback through lm-eval."""
    import datasets

    try:
        docs = build_docs(read_options(kwargs))
    except UserError as err:
        print(f"qlongbench: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return {"test": datasets.Dataset.from_list(docs, split=datasets.Split.TEST)}


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """The task's own score of the output, under the metric named after the sample's length only."""
    task = load_task(doc["task"], doc["task_options"])
    verdict = task.score(doc_sample(doc), results[0])
    return {str(doc["length"]): float(verdict.score)}
