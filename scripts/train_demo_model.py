"""Train the bundled demo model (qlongbench/demo_model) from a seed, on CPU, in one command.

    python scripts/train_demo_model.py                 # retrain into qlongbench/demo_model (~1 h on one core)
    python scripts/train_demo_model.py --out /tmp/dm --languages en --set max_steps=300 --no-card  # quick check
    python scripts/train_demo_model.py --rewrite-card  # render MODEL_CARD.md again from training.json

The exact command that made the committed model is at the end of its MODEL_CARD.md.

What it does, in order:
1. trains a SentencePiece BPE tokenizer (byte fallback, digits split, identity normalisation) on
   text from the project's own language modules (filler sentences, needles, instructions, questions)
   for every language qlongbench ships;
2. builds every training example with the real task builder (`NiahSingle.build`) through
   `PromptTokenizer(use_chat_template=False)`, so the model sees exactly the prompts a run freezes,
   and appends the answer (" " + the needle's digits + EOS);
3. trains a small Llama from scratch with the loss on the answer tokens (and, at a lower weight, on
   the question and answer prefix, which copy the key from the needle: the same induction skill),
   on a length curriculum (short prompts first), evaluating greedy answers on fresh seeds every 100
   steps, moving to longer prompts as accuracy allows and stopping once the target is reached;
4. saves bf16 safetensors, the tokenizer (tokenizer.model included: llama.cpp's converter reads it),
   the training record (training.json) and MODEL_CARD.md with the measured accuracy curve.

Everything is seeded and runs on one CPU thread; the same command gives the same weights on the same
software versions. Early stopping is decided by evaluation results at fixed steps, never by the clock,
so it does not break reproducibility (the clock limit only guards against a runaway run)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger("train_demo_model")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "qlongbench" / "demo_model"
TASK_ANSWER_BUDGET = 24
"""Answer budget the task reserves (NiahSingle.default_max_new_tokens): keeps prompts identical to a run's."""
OWN_FILE_PREFIXES = ("model", "config.json", "generation_config.json", "tokenizer", "special_tokens_map",
                     "chat_template", "MODEL_CARD.md", "training.json")
"""Files of the output directory that this script writes (and so may replace)."""
EVAL_SEED_TAG = "eval"
TRAIN_SEED_TAG = "train"


@dataclass(frozen=True)
class Recipe:
    """Every knob of a training run; saved to training.json and quoted in the model card."""

    seed: int = 0
    """Seeds the tokenizer, the initial weights, the data stream and the evaluation sets."""
    languages: tuple[str, ...] = ()
    """Haystack/instruction languages of the training data (empty: every shipped language)."""
    english_share: float = 0.3
    """Share of training batches in English (the rest cycles through the other languages)."""
    vocab_size: int = 8000
    """SentencePiece vocabulary size (trained on every shipped language)."""
    tokenizer_sentences_per_language: int = 4000
    """Filler sentences per language in the tokenizer corpus."""
    hidden_size: int = 256
    """Model width."""
    layers: int = 4
    """Decoder layers."""
    heads: int = 4
    """Attention heads (head_dim = hidden_size / heads; 8 heads of 32 stalled in trials)."""
    kv_heads: int = 2
    """Key/value heads (grouped-query attention)."""
    intermediate_size: int = 768
    """MLP width: a multiple of 256 so GGUF K-quants and GPTQ group 128 apply."""
    max_position_embeddings: int = 4096
    """Longest context the config admits (RoPE; nothing is trained this far)."""
    rope_theta: float = 10000.0
    """RoPE base."""
    train_length: int = 1024
    """The length the model is trained for and judged at (the accuracy target applies here)."""
    stages: tuple[tuple[int, ...], ...] = ((128, 256), (256, 512), (256, 512, 1024), (256, 512, 1024, 2048))
    """Length curriculum: target lengths (prompt + answer budget) drawn uniformly in each stage. Retrieval
    is found fastest on short prompts; the last stage is the final mix and must include train_length."""
    advance_accuracy: float = 0.8
    """Move to the next stage once accuracy at the stage's longest length reaches this (checked at
    each evaluation, so the schedule is a function of the seed, not of the clock)."""
    tokens_per_step: int = 4096
    """Batch size in tokens: batch = tokens_per_step // length (at least 1)."""
    builds_per_step: int = 4
    """Prompts built per step; a batch larger than this reuses each with fresh needle values."""
    max_steps: int = 4000
    """Upper bound on optimizer steps (the cosine schedule spans it)."""
    lr: float = 1e-3
    """Peak AdamW learning rate."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a share of the peak."""
    warmup_steps: int = 150
    """Linear learning-rate warmup."""
    weight_decay: float = 0.05
    """AdamW weight decay (not on norms)."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    tail_loss_weight: float = 0.25
    """Weight of the loss on the question + answer prefix (their key tokens are copied from the needle
    and the question: the same induction skill) relative to the answer's."""
    tail_loss_per_token: bool = False
    """False: the whole tail weighs tail_loss_weight times the answer (the answer dominates); True: each
    tail token weighs tail_loss_weight times an answer token (the tail dominates: fine in one language,
    slow in many, where the templates of every language must be learnt first)."""
    eval_every: int = 100
    """Steps between evaluations."""
    eval_samples: int = 16
    """Evaluation samples in English at train_length (fresh seeds)."""
    eval_samples_other: int = 2
    """Evaluation samples per other language at train_length."""
    target_accuracy: float = 0.95
    """Stop once English accuracy at train_length reaches this ..."""
    target_accuracy_all: float = 0.9
    """... and the mean over all trained languages reaches this."""
    max_minutes: float = 75.0
    """Wall-clock guard against a runaway run. A run it stops is reproduced with stop_after set to the
    steps taken (the model card's command says so)."""
    stop_after: int = 0
    """Stop after this many steps without changing the schedule (0: never)."""
    card_lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    """Lengths of the accuracy curve written to the model card."""
    card_languages: tuple[str, ...] = ("en", "de", "fr", "es", "ru", "zh", "hi", "ar", "ja")
    """Languages of the model-card curve (every trained language is also measured at train_length)."""
    card_samples: int = 20
    """Samples per (language, length) cell of the model-card curve."""
    card_samples_all: int = 10
    """Samples per language in the every-language table at train_length."""


@dataclass(frozen=True)
class Example:
    """One training sequence: a frozen task prompt followed by its answer."""

    ids: tuple[int, ...]
    """prompt ids + answer ids (answer ends with EOS)."""
    tail_start: int
    """First token after the document (question and answer prefix start here)."""
    answer_start: int
    """First answer token."""


@dataclass(frozen=True)
class EvalResult:
    """Greedy accuracy of one (language, length) cell."""

    language: str
    length: int
    n: int
    """Samples scored (overlength ones excluded)."""
    accuracy: float
    """Mean task score."""
    digit_accuracy: float = float("nan")
    """Share of answer digits right in place (progress signal while exact accuracy is still 0)."""


@dataclass
class TrainingLog:
    """What happened, for training.json and the model card."""

    steps: int = 0
    """Optimizer steps taken."""
    seconds: float = 0.0
    """Wall time of the training loop (tokenizer and card evaluation excluded)."""
    stopped_by: str = ""
    """target | max_steps | clock."""
    stage_steps: list[int] = field(default_factory=list)
    """Step at which each later curriculum stage began."""
    evals: list[dict] = field(default_factory=list)
    """Evaluation history: step, per-language accuracy, loss."""
    curve: list[EvalResult] = field(default_factory=list)
    """Final accuracy curve of the saved bf16 model (card languages x card lengths)."""
    every_language: list[EvalResult] = field(default_factory=list)
    """Accuracy of the saved bf16 model in every trained language at train_length."""


# --- languages and tokenizer -------------------------------------------------------------------
def shipped_languages() -> dict:
    from qlongbench.tasks.languages import languages

    return languages()


def resolve_languages(recipe: Recipe) -> tuple[str, ...]:
    known = shipped_languages()
    if not recipe.languages:
        return tuple(known)
    missing = [c for c in recipe.languages if c not in known]
    if missing:
        sys.exit(f"error: unknown language(s) {', '.join(missing)}; shipped: {', '.join(known)}")
    return recipe.languages


def tokenizer_corpus(seed: int, per_language: int) -> list[str]:
    """Lines of every shipped language: filler, needles, every template (so task text tokenizes compactly)."""
    rng = random.Random(seed)
    lines: list[str] = []
    for lang in shipped_languages().values():
        templates = (lang.instruction, lang.question, lang.question_multivalue, lang.question_multiquery,
                     lang.none_rule, lang.answer_prefix, lang.needle)
        for i in range(per_language):
            lines.append(lang.filler(rng))
            if i % 4 == 0:
                key = rng.choice(lang.keys)
                keys = lang.list_separator.join(rng.sample(lang.keys, 3))
                template = templates[(i // 4) % len(templates)]
                lines.append(template.format(key=key, value=rng.randint(10**6, 10**7 - 1), keys=keys,
                                             none=lang.none_words[0]))
        lines.extend(lang.none_words)
        lines.extend(lang.keys)
    return lines


def train_tokenizer(work: Path, recipe: Recipe) -> Path:
    """SentencePiece BPE model written to work/tokenizer.model; returns work."""
    import io

    import sentencepiece as spm

    lines = tokenizer_corpus(recipe.seed, recipe.tokenizer_sentences_per_language)
    spm.set_random_generator_seed(recipe.seed)
    model = io.BytesIO()
    # Sentences and model pass through memory, so no temporary path is recorded in the model's
    # trainer spec: the same seed gives a byte-identical tokenizer.model.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=recipe.vocab_size,
        model_type="bpe", byte_fallback=True, split_digits=True, normalization_rule_name="identity",
        character_coverage=0.9999, bos_id=1, eos_id=2, unk_id=0, pad_id=-1, num_threads=1,
        input_sentence_size=len(lines) + 1, shuffle_input_sentence=False, hard_vocab_limit=False,
        max_sentence_length=8192, minloglevel=2,
    )
    (work / "tokenizer.model").write_bytes(model.getvalue())
    log.info("tokenizer: %d corpus lines, vocab %d", len(lines), recipe.vocab_size)
    return work


# --- data ----------------------------------------------------------------------------------------
class ExampleSource:
    """Training examples from the real NiahSingle builder, seeded per step."""

    def __init__(self, hf_tokenizer, recipe: Recipe, train_languages: Sequence[str]):
        from qlongbench.tasks.niah import NiahSingle

        from qlongbench.tokenizer import PromptTokenizer

        self.hf = hf_tokenizer
        self.prompts = PromptTokenizer(hf_tokenizer, use_chat_template=False)
        self.task = NiahSingle()
        self.recipe = recipe
        self.languages = tuple(train_languages)
        self.others = tuple(c for c in self.languages if c != "en") or self.languages
        self.digit_ids = {d: hf_tokenizer.convert_tokens_to_ids(d) for d in "0123456789"}
        probe = "1234567890"
        if list(hf_tokenizer.encode(probe, add_special_tokens=False))[-10:] != [self.digit_ids[d] for d in probe]:
            raise RuntimeError("the tokenizer does not split digits into one token each (split_digits)")

    def samples(self, language: str, length: int, n: int, seed: int):
        from qlongbench.tasks.base import BuildContext

        ctx = BuildContext(tokenizer=self.prompts, length=length, language=language, instruction_language=language,
                           n_samples=n, seed=seed, max_new_tokens=TASK_ANSWER_BUDGET)
        return [s for s in self.task.build(ctx) if s.status == "ok"]

    def answer_ids(self, value: str) -> list[int]:
        # What the tokenizer makes of the value written after the answer prefix: "▁" + one token per digit.
        return list(self.hf.encode(value, add_special_tokens=False)) + [int(self.hf.eos_token_id)]

    def batch(self, step: int, stage: int) -> list[Example]:
        from qlongbench.tasks.base import cell_seed

        rng = random.Random(cell_seed(self.recipe.seed, TRAIN_SEED_TAG, step))
        r = self.recipe
        length = rng.choice(r.stages[stage])
        language = "en" if ("en" in self.languages and rng.random() < r.english_share) else rng.choice(self.others)
        n = max(1, r.tokens_per_step // length)
        # Building a prompt costs more than training on it at short lengths, so each built prompt is
        # reused with fresh values: digits are single tokens, so swapping them gives exactly the ids the
        # builder would have produced had it drawn that value.
        reuse = max(1, n // self.recipe.builds_per_step)
        samples = self.samples(language, length, max(1, n // reuse), rng.getrandbits(63))
        while not samples:  # the prompt frame alone does not fit this short length in this language
            length *= 2
            samples = self.samples(language, length, 1, rng.getrandbits(63))
        examples = []
        for s in samples:
            at = self.value_position(s)
            for variant in range(reuse):
                value = s.expected[0] if variant == 0 else str(rng.randint(10**6, 10**7 - 1))
                ids = list(s.prompt_ids)
                ids[at: at + len(value)] = [self.digit_ids[d] for d in value]
                examples.append(Example(ids=tuple(ids) + tuple(self.answer_ids(value)), tail_start=s.prefix_len,
                                        answer_start=len(ids)))
        return examples

    def value_position(self, sample) -> int:
        """Index of the needle value's first digit in the prompt ids."""
        want = [self.digit_ids[d] for d in sample.expected[0]]
        ids = sample.prompt_ids
        for at in range(sample.metadata["needle_token_pos"], len(ids) - len(want) + 1):
            if list(ids[at: at + len(want)]) == want:
                return at
        raise RuntimeError(f"needle value of {sample.sample_id} is not a run of single-digit tokens")


def loss_on(model, examples: Sequence[Example], tail_weight: float, per_token: bool):
    """Cross-entropy on the answer (+ weighted question/prefix) positions only: the LM head runs on
    those positions alone, which makes a step several times cheaper than a full LM loss."""
    import torch
    import torch.nn.functional as F

    width = max(len(e.ids) for e in examples)
    # Right padding is harmless under causal attention: no real position attends to a later pad.
    ids = torch.zeros((len(examples), width), dtype=torch.long)
    rows, cols, targets, weights = [], [], [], []
    for b, e in enumerate(examples):
        ids[b, : len(e.ids)] = torch.tensor(e.ids)
        n_answer = len(e.ids) - e.answer_start
        n_tail = n_answer if per_token else e.answer_start - e.tail_start
        for t in range(e.tail_start, len(e.ids)):
            rows.append(b)
            cols.append(t - 1)
            targets.append(e.ids[t])
            weights.append(1.0 / n_answer if t >= e.answer_start else tail_weight / n_tail)
    hidden = model.model(input_ids=ids).last_hidden_state
    logits = model.lm_head(hidden[torch.tensor(rows), torch.tensor(cols)]).float()
    per_token = F.cross_entropy(logits, torch.tensor(targets), reduction="none")
    return (per_token * torch.tensor(weights)).sum() / len(examples)


# --- evaluation ----------------------------------------------------------------------------------
def greedy_answer(model, prompt_ids: Sequence[int], eos_id: int, max_new_tokens: int = 12) -> list[int]:
    """Greedy decoding over a DynamicCache, as backends/hf.py does it."""
    import inspect

    import torch
    from transformers import DynamicCache

    # transformers 5.2x renamed `past_key_values` to `cache`; the cache object is updated in place.
    cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    cache = DynamicCache(config=model.config)
    produced: list[int] = []
    with torch.no_grad():
        x = torch.tensor([list(prompt_ids)])
        while True:
            out = model(input_ids=x, use_cache=True, logits_to_keep=1, **{cache_kwarg: cache})
            nxt = int(out.logits[0, -1].argmax())
            if nxt == eos_id or len(produced) >= max_new_tokens:
                return produced
            produced.append(nxt)
            x = torch.tensor([[nxt]])


def evaluate(model, source: ExampleSource, language: str, length: int, n: int, seed: int) -> EvalResult:
    """Greedy accuracy with the task's own scorer on samples from seeds the training never draws."""
    from qlongbench.tasks.base import cell_seed

    samples = source.samples(language, length, n, cell_seed(seed, EVAL_SEED_TAG, language, length))
    scores, digits = [], []
    for s in samples:
        text = source.hf.decode(greedy_answer(model, s.prompt_ids, int(source.hf.eos_token_id)),
                                skip_special_tokens=True)
        scores.append(source.task.score(s, text).score)
        got = "".join(ch for ch in text if ch.isdigit())
        digits.append(sum(a == b for a, b in zip(got, s.expected[0])) / len(s.expected[0]))
    mean = (lambda xs: sum(xs) / len(xs) if xs else float("nan"))
    return EvalResult(language=language, length=length, n=len(scores), accuracy=mean(scores),
                      digit_accuracy=mean(digits))


# --- model and training --------------------------------------------------------------------------
def build_model(recipe: Recipe, hf_tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(hf_tokenizer), hidden_size=recipe.hidden_size, intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.layers, num_attention_heads=recipe.heads, num_key_value_heads=recipe.kv_heads,
        max_position_embeddings=recipe.max_position_embeddings, rope_theta=recipe.rope_theta,
        bos_token_id=int(hf_tokenizer.bos_token_id), eos_token_id=int(hf_tokenizer.eos_token_id),
        tie_word_embeddings=True, attn_implementation="sdpa",
    )
    torch.manual_seed(recipe.seed)
    return LlamaForCausalLM(cfg)


def learning_rate(step: int, recipe: Recipe) -> float:
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = min(1.0, (step - recipe.warmup_steps) / max(1, recipe.max_steps - recipe.warmup_steps))
    floor = recipe.lr * recipe.min_lr_ratio
    return floor + (recipe.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model, recipe: Recipe):
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.95))


def run_evals(model, source: ExampleSource, recipe: Recipe, length: int) -> dict[str, float]:
    import torch

    model.eval()
    result, digits = {}, []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for lang in source.languages:
            n = recipe.eval_samples if lang == "en" else recipe.eval_samples_other
            res = evaluate(model, source, lang, length, n, recipe.seed)
            result[lang] = res.accuracy
            digits.append(res.digit_accuracy)
    log.info("digit accuracy (mean over languages): %.3f", sum(digits) / len(digits))
    model.train()
    return result


def reached(acc: dict[str, float], english_floor: float, mean_floor: float) -> bool:
    english = acc.get("en", min(acc.values()))
    return english >= english_floor and sum(acc.values()) / len(acc) >= mean_floor


def train(model, source: ExampleSource, recipe: Recipe) -> TrainingLog:
    import torch

    record = TrainingLog()
    opt = make_optimizer(model, recipe)
    model.train()
    start = time.monotonic()
    running = 0.0
    stage = 0
    last = len(recipe.stages) - 1
    for step in range(recipe.max_steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, recipe)
        examples = source.batch(step, stage)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_on(model, examples, recipe.tail_loss_weight, recipe.tail_loss_per_token)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step else value
        record.steps = step + 1
        elapsed = time.monotonic() - start
        if (step + 1) % 25 == 0:
            log.info("step %d  len %d  loss %.4f  lr %.2e  %.0fs", step + 1, len(examples[0].ids), running,
                     learning_rate(step, recipe), elapsed)
        if (step + 1) % recipe.eval_every == 0:
            length = recipe.train_length if stage == last else max(recipe.stages[stage])
            acc = run_evals(model, source, recipe, length)
            record.evals.append({"step": step + 1, "stage": stage, "length": length, "loss": round(running, 5),
                                 "seconds": round(elapsed, 1), "accuracy": {k: round(v, 4) for k, v in acc.items()}})
            log.info("eval step %d stage %d at %d tokens: %s", step + 1, stage, length,
                     " ".join(f"{k}={v:.2f}" for k, v in acc.items()))
            if stage == last and reached(acc, recipe.target_accuracy, recipe.target_accuracy_all):
                record.stopped_by = "target"
                break
            if stage < last and reached(acc, recipe.advance_accuracy, recipe.advance_accuracy):
                stage += 1
                record.stage_steps.append(step + 1)
                log.info("curriculum: stage %d, lengths %s", stage, recipe.stages[stage])
        if recipe.stop_after and step + 1 >= recipe.stop_after:
            record.stopped_by = "stop_after"
            break
        if elapsed > recipe.max_minutes * 60:
            log.warning("clock limit reached at step %d: reproduce with --set stop_after=%d", step + 1, step + 1)
            record.stopped_by = "clock"
            break
    else:
        record.stopped_by = "max_steps"
    record.seconds = time.monotonic() - start
    return record


# --- saving and the model card -------------------------------------------------------------------
def save(model, hf_tokenizer, sp_dir: Path, out: Path) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    # Remove what an earlier training wrote (a stale shard or tokenizer file would be loaded beside the
    # new ones); files that belong to others, such as the default suite (suite.yaml), stay.
    for old in out.iterdir():
        if old.is_file() and old.name.startswith(OWN_FILE_PREFIXES):
            old.unlink()
    model = model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.generation_config.do_sample = False
    model.generation_config.bos_token_id = model.config.bos_token_id
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.save_pretrained(str(out), safe_serialization=True)
    hf_tokenizer.save_pretrained(str(out))
    # llama.cpp's HF->GGUF converter reads the SentencePiece model itself.
    shutil.copyfile(sp_dir / "tokenizer.model", out / "tokenizer.model")


def measure_curve(out: Path, recipe: Recipe, languages: Sequence[str]) -> tuple[list[EvalResult], list[EvalResult]]:
    """Accuracy of the saved model, loaded back the way a run loads it (bf16 safetensors): the curve
    over card_lengths for card_languages, and every trained language at train_length."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.bfloat16, use_safetensors=True).eval()
    source = ExampleSource(tok, recipe, languages)
    curve, every = [], []
    for lang in [c for c in recipe.card_languages if c in languages]:
        for length in recipe.card_lengths:
            res = evaluate(model, source, lang, length, recipe.card_samples, recipe.seed + 1)
            log.info("curve %s @ %d: %.2f (n=%d)", lang, length, res.accuracy, res.n)
            curve.append(res)
    for lang in languages:
        res = evaluate(model, source, lang, recipe.train_length, recipe.card_samples_all, recipe.seed + 2)
        log.info("every language %s @ %d: %.2f (n=%d)", lang, recipe.train_length, res.accuracy, res.n)
        every.append(res)
    return curve, every


def card_table(curve: Sequence[EvalResult], recipe: Recipe) -> str:
    langs = list(dict.fromkeys(r.language for r in curve))
    head = "| language | " + " | ".join(f"{n}" + (" (trained)" if n == recipe.train_length else "")
                                       for n in recipe.card_lengths) + " |"
    rule = "|---|" + "---|" * len(recipe.card_lengths)
    rows = []
    for lang in langs:
        cells = {r.length: r for r in curve if r.language == lang}
        rows.append(f"| {lang} | " + " | ".join(f"{cells[n].accuracy:.2f}" for n in recipe.card_lengths) + " |")
    return "\n".join([head, rule, *rows])


def write_card(out: Path, recipe: Recipe, languages: Sequence[str], record: TrainingLog, n_params: int,
               command: str) -> None:
    import torch
    import transformers

    size_mb = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 1e6
    lines = [
        "# qlongbench demo model",
        "",
        ("A toy Llama-architecture model shipped inside qlongbench so that `qlongbench run` with no `--model` "
        "shows real accuracy-versus-length curves offline, on CPU, in minutes."),
        "",
        "## What it is and is not",
        "",
        (f"- **Is**: a {n_params / 1e6:.1f} M-parameter decoder trained from scratch *only* on qlongbench's own "
        "synthetic needle-in-a-haystack prompts (`niah-single`: find the 7-digit \"special magic number\" "
        "in filler text and say it). It retrieves; its accuracy falls with context length and with "
        "quantization, which is what the benchmark measures."),
        ("- **Is not**: a language model. It never saw natural text, cannot chat, follow other instructions, "
        "summarize or answer questions; on any other task expect nothing. Its filler text is the "
        "project's template sentences. Do not draw conclusions about real models from its numbers: it "
        "exists to show the tool working and to catch a broken scorer (a random model scores 0)."),
        ("- No chat template: prompts use the base-model format (instruction, blank line, document, "
        "blank line, question, newline, answer prefix), as qlongbench builds it without a template."),
        "",
        "## Accuracy (bf16, greedy, `niah-single`, fresh seeds never used in training)",
        "",
        (f"{recipe.card_samples} samples per cell, needle depths spread over 0-100 %; trained at lengths up to "
        f"{max(recipe.stages[-1])} (judged at {recipe.train_length}). Lengths above "
        f"{max(recipe.stages[-1])} were never seen in training: the drop there is real extrapolation failure."),
        "",
        card_table(record.curve, recipe),
        "",
        f"Every trained language at {recipe.train_length} tokens ({recipe.card_samples_all} samples each):",
        "",
        "| " + " | ".join(r.language for r in record.every_language) + " |",
        "|" + "---|" * len(record.every_language),
        "| " + " | ".join(f"{r.accuracy:.1f}" for r in record.every_language) + " |",
        "",
        "## Architecture",
        "",
        (f"LlamaForCausalLM: hidden {recipe.hidden_size}, {recipe.layers} layers, {recipe.heads} heads, "
        f"{recipe.kv_heads} KV heads, MLP {recipe.intermediate_size}, RoPE theta {recipe.rope_theta:g}, "
        f"max_position_embeddings {recipe.max_position_embeddings}, tied embeddings, "
        f"{n_params:,} parameters, weights bf16 safetensors ({size_mb:.1f} MB for the whole directory)."),
        (f"Tokenizer: SentencePiece BPE, vocab {recipe.vocab_size} (+ byte fallback), digits split, identity "
        "normalisation, trained on filler, needles and templates of every language qlongbench ships."),
        "",
        "## Training",
        "",
        (f"- Data: prompts built by `qlongbench.tasks.niah.NiahSingle.build` (the exact token ids a run "
        f"freezes), languages {', '.join(languages)} ({recipe.english_share:.0%} of batches English), "
        f"length curriculum {' -> '.join('/'.join(map(str, st)) for st in recipe.stages)} (next stage once "
        f"accuracy at the stage's longest length reaches {recipe.advance_accuracy:g}; it moved at steps "
        f"{', '.join(map(str, record.stage_steps)) or 'never'}); about {recipe.tokens_per_step} tokens per step. "
        "The answer is \" <value>\" + EOS."),
        (f"- Loss: cross-entropy on the answer tokens; the question and answer prefix at weight "
        f"{recipe.tail_loss_weight:g} ({'per token' if recipe.tail_loss_per_token else 'for the whole tail'}, "
        "relative to the answer). Nothing else: the filler is never modelled."),
        (f"- Optimiser: AdamW (betas 0.9/0.95, weight decay {recipe.weight_decay:g}), peak lr {recipe.lr:g}, "
        f"{recipe.warmup_steps} warmup steps, cosine to {recipe.min_lr_ratio:g}x over {recipe.max_steps} steps, "
        f"grad clip {recipe.grad_clip:g}, bf16 autocast on CPU, one thread, seed {recipe.seed}."),
        (f"- Ran {record.steps} steps in {record.seconds / 60:.1f} min of wall time on one thread (stopped by: {record.stopped_by}; "
        f"evaluation every {recipe.eval_every} steps, target English >= {recipe.target_accuracy:g} and all "
        f"languages >= {recipe.target_accuracy_all:g} at {recipe.train_length} tokens) on {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}."),
        "- Full recipe and evaluation history: `training.json`.",
        "",
        "## Retrain",
        "",
        "```",
        command,
        "```",
        "",
        "Same seed, same software versions, same CPU kind: same weights (one thread, deterministic data).",
        "",
    ]
    (out / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")


# --- command line --------------------------------------------------------------------------------
def parse_override(recipe: Recipe, text: str) -> Recipe:
    """field=value for any Recipe field; tuples comma-separated, stages as 128,256/256,512/..."""
    import dataclasses

    key, eq, value = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    if not eq or key not in fields:
        sys.exit(f"error: --set {text!r}: write field=value with a field of {', '.join(fields)}")
    current = getattr(recipe, key)
    if key == "stages":
        parsed = tuple(tuple(int(x) for x in st.split(",")) for st in value.split("/"))
    elif isinstance(current, tuple):
        kind = type(current[0]) if current else str
        parsed = tuple(kind(x) for x in value.split(",") if x)
    else:
        parsed = type(current)(value)
    return dataclasses.replace(recipe, **{key: parsed})


def retrain_command(recipe: Recipe, languages: Sequence[str], record: TrainingLog) -> str:
    """The command line that reproduces this recipe (defaults left out; languages always spelled out,
    since the default, every shipped language, grows when languages are added)."""
    import dataclasses

    parts = ["python scripts/train_demo_model.py"]
    if recipe.seed != Recipe.seed:
        parts.append(f"--seed {recipe.seed}")
    parts.append(f"--languages {','.join(languages)}")
    for f in dataclasses.fields(Recipe):
        value, default = getattr(recipe, f.name), getattr(Recipe(), f.name)
        if f.name in ("seed", "languages") or value == default:
            continue
        if f.name == "stages":
            text = "/".join(",".join(map(str, st)) for st in value)
        elif isinstance(value, tuple):
            text = ",".join(map(str, value))
        else:
            text = str(value)
        parts.append(f"--set {f.name}={text}")
    if record.stopped_by == "clock":
        parts.append(f"--set stop_after={record.steps}")
    return " ".join(parts)


def rewrite_card(out: Path) -> None:
    """Render MODEL_CARD.md again from training.json (after a change to the card's wording)."""
    saved = json.loads((out / "training.json").read_text(encoding="utf-8"))
    as_tuple = (lambda v: tuple(as_tuple(x) for x in v) if isinstance(v, list) else v)
    recipe = Recipe(**{k: as_tuple(v) for k, v in saved["recipe"].items()})
    raw = saved["log"]
    record = TrainingLog(**{**raw, "curve": [EvalResult(**c) for c in raw["curve"]],
                            "every_language": [EvalResult(**c) for c in raw["every_language"]]})
    write_card(out, recipe, saved["languages"], record, saved["parameters"],
               retrain_command(recipe, saved["languages"], record))


def parse_args(argv: Sequence[str] | None) -> tuple[Recipe, Path, bool]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=Recipe.seed)
    p.add_argument("--languages", default="", help="comma list of training languages (default: every shipped one)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any recipe field (see Recipe in this file), e.g. --set max_steps=300")
    p.add_argument("--no-card", action="store_true", help="skip the final accuracy curve (quick checks)")
    p.add_argument("--rewrite-card", action="store_true",
                   help="only render MODEL_CARD.md in --out again from its training.json (no training)")
    a = p.parse_args(argv)
    if a.rewrite_card:
        rewrite_card(a.out)
        sys.exit(0)
    recipe = Recipe(seed=a.seed, languages=tuple(c.strip() for c in a.languages.split(",") if c.strip()))
    for item in a.set:
        recipe = parse_override(recipe, item)
    if recipe.train_length not in recipe.stages[-1]:
        sys.exit(f"error: train_length {recipe.train_length} is not among the last stage's lengths {recipe.stages[-1]}")
    return recipe, a.out, a.no_card


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    recipe, out, no_card = parse_args(argv)
    import torch
    from transformers import LlamaTokenizer

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    random.seed(recipe.seed)
    languages = resolve_languages(recipe)
    log.info("training languages: %s", ", ".join(languages))
    with tempfile.TemporaryDirectory(prefix="qlb-demo-sp-") as tmp:
        sp_dir = train_tokenizer(Path(tmp), recipe)
        hf_tok = LlamaTokenizer.from_pretrained(str(sp_dir))
        model = build_model(recipe, hf_tok)
        n_params = sum(p.numel() for p in model.parameters())
        log.info("model: %.2f M parameters, vocab %d", n_params / 1e6, len(hf_tok))
        source = ExampleSource(hf_tok, recipe, languages)
        record = train(model, source, recipe)
        log.info("trained %d steps in %.1f min (%s)", record.steps, record.seconds / 60, record.stopped_by)
        save(model, hf_tok, sp_dir, out)
    if not no_card:
        record.curve, record.every_language = measure_curve(out, recipe, languages)
    (out / "training.json").write_text(json.dumps(
        {"recipe": asdict(recipe), "languages": list(languages), "parameters": n_params,
         "log": asdict(record)}, indent=1, ensure_ascii=False),
        encoding="utf-8")
    command = retrain_command(recipe, languages, record)
    if not no_card:
        write_card(out, recipe, languages, record, n_params, command)
    log.info("saved to %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
