"""Needle in a haystack (RULER-style): a 7-digit "special magic number" for a key is hidden at a
controlled depth inside filler text that fills the target length; the model is asked for it."""

from __future__ import annotations

import random
from typing import ClassVar

from qlongbench.errors import OverlengthError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, Task, TaskOptions, spread_depths
from qlongbench.tasks.haystack import Haystack, Insertion, fit, token_position
from qlongbench.tasks.languages import Language, get_language
from qlongbench.tasks.scoring import numbers_recall
from qlongbench.types import Sample, Score


class NiahOptions(TaskOptions):
    value_digits: int = 7
    """Digits of the magic number (RULER uses 7)."""
    sentences_per_chunk: int = 256
    """Filler sentences generated at a time while the haystack grows."""


class NiahSingle(Task):
    name: ClassVar[str] = "niah-single"
    description: ClassVar[str] = ("One needle ('the special magic number for <key> is <7 digits>') at a depth "
                                  "spread over 0-100 %; asked for it at the end (RULER niah_single).")
    metric: ClassVar[str] = "exact whole-number match of the needle value (1/0)"
    default_max_new_tokens: ClassVar[int] = 24
    Options = NiahOptions

    def build(self, ctx: BuildContext) -> list[Sample]:
        lang = get_language(ctx.language)
        ilang = get_language(ctx.instruction_language)
        rng = random.Random(ctx.seed)
        samples = []
        for i, depth in enumerate(spread_depths(ctx.n_samples)):
            samples.append(self._one(ctx, lang, ilang, i, depth, random.Random(rng.getrandbits(64))))
        return samples

    def _value(self, rng: random.Random) -> str:
        d = self.options.value_digits
        return str(rng.randint(10 ** (d - 1), 10**d - 1))

    def _one(self, ctx: BuildContext, lang: Language, ilang: Language, index: int, depth: float,
             rng: random.Random) -> Sample:
        key = rng.choice(lang.keys)
        value = self._value(rng)
        needle = lang.needle.format(key=key, value=value)
        frame = ctx.tokenizer.frame(
            ilang.instruction + "\n\n",
            "\n\n" + ilang.question.format(key=key),
            ilang.answer_prefix.format(key=key),
        )
        chunk = self.options.sentences_per_chunk
        haystack = Haystack([lang.filler(rng) for _ in range(chunk)], lang.word_separator)
        budget = ctx.length - ctx.max_new_tokens
        sample_id = f"{self.name}-{ctx.language}-{ctx.length}-{index:04d}"
        if ctx.instruction_language != ctx.language:
            sample_id = f"{self.name}-{ctx.instruction_language}_{ctx.language}-{ctx.length}-{index:04d}"
        base = dict(sample_id=sample_id, task=self.name, language=ctx.language,
                    instruction_language=ctx.instruction_language, length=ctx.length, index=index,
                    seed=ctx.seed, max_new_tokens=ctx.max_new_tokens, expected=(value,), depth=depth)
        try:
            fitted = fit(ctx.tokenizer, frame, haystack, budget, [Insertion(depth / 100.0, needle)],
                         more=lambda n: [lang.filler(rng) for _ in range(chunk)])
        except OverlengthError as err:
            return Sample(**base, status="overlength", prompt_ids=(), prefix_len=0,
                          prompt_sha256=ids_sha256(()), metadata={"reason": str(err), "key": key})
        doc = fitted.rendered.document
        pos = token_position(ctx.tokenizer, frame, doc, fitted.rendered.insertion_offsets[0])
        doc_start = fitted.prompt.document_start
        doc_tokens = fitted.prompt.prefix_len - doc_start
        return Sample(
            **base, status="ok", prompt_ids=fitted.prompt.ids, prefix_len=fitted.prompt.prefix_len,
            prompt_sha256=ids_sha256(fitted.prompt.ids),
            metadata={
                "key": key, "needle": needle, "needle_token_pos": pos,
                "needle_depth_actual": round(100.0 * (pos - doc_start) / max(1, doc_tokens), 3),
                "document_tokens": doc_tokens, "filler_units": fitted.n_units, "slack": fitted.slack,
            },
        )

    def score(self, sample: Sample, output: str) -> Score:
        return numbers_recall(sample.expected, output)
