"""Aggregation: answer with the most frequent words of a long list. A model cannot copy one line;
it has to count over the whole context, which is where RULER and OneRuler see the steepest drops.

- cwe-easy / cwe-hard: OneRuler's common-word extraction (OneRuler/synthetic/common_words_extraction.py
  and config/synthetic.yaml). A numbered list ("1. lantern 2. brave 3. lantern ...") of words from
  the haystack language's word list: 10 common words appear `freq_common` times each, every other
  word `freq_uncommon` times; asked for the 10 most common. OneRuler's frequencies: easy 30 / 3 and
  hard 20 / 10, cut to 10 / 1 and 10 / 5 at lengths up to 8000 tokens (its own rule, which keeps the
  ratio). The list grows by distinct uncommon words until the prompt fills the length. When the
  language's word list runs out first (its lists are written by this project, a few hundred words,
  where OneRuler drew on dictionaries), every word repeats `repeat_scale` times as often, the ratio
  unchanged; the sample's metadata says so.
- fwe: RULER's frequent-word extraction (scripts/data/synthetic/freq_words_extraction.py). Coded
  words (random strings of 6 letters; 3 characters in scripts whose characters are syllables) with
  Zipf counts: the k-th word of a vocabulary of (length - answer budget) // 50 appears
  int(N k^-alpha / zeta(alpha)) times, alpha 2, for the largest N that fits; the first word is the
  noise word '...', to be ignored; asked for the three most frequent coded words. The letters are
  the haystack language's (those of its keys), or ASCII lowercase as in RULER (letters=ascii).

Scoring follows RULER's string_match_all (scripts/eval/synthetic/constants.py): the share of the
expected words named in the output, case-insensitive, here as whole words (scoring.words_recall);
metrics['all_found'] is OneRuler's verdict (eval/evaluate.py: every common word named), and
cwe's scoring=all makes it the score. Answer budgets: RULER's, 120 tokens for cwe (OneRuler's
constants say 50, too few for ten words in a non-Latin script on a small vocabulary) and 50 for fwe.

No context reuse: every sample is its own list with one question, and a shorter list is not a
prefix of a longer one with the same answer (the counts would differ), so neither several
questions on one context nor a nested sweep over lengths fits these tasks' structure."""

from __future__ import annotations

import logging
import random
import string
import unicodedata
from collections import Counter
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from qlongbench.errors import OverlengthError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, Task, TaskOptions
from qlongbench.tasks.haystack import FIT_TOLERANCE
from qlongbench.tasks.languages import Language, get_language, languages
from qlongbench.tasks.scoring import words_recall
from qlongbench.tasks.wordlist import ListFit, ListLayout, fill, largest
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)

SHORT_LENGTH = 8000
"""OneRuler cuts the cwe frequencies at lengths up to this many tokens."""
SYLLABIC_SCRIPTS = ("Hans", "Hant", "Jpan", "Kore")
"""Scripts whose characters are syllables or morphemes: fwe's coded words are 3 of them long."""
NOISE_WORD = "..."
"""fwe's most frequent word, which the question says to ignore (RULER)."""


def synthetic_languages(*, words: bool = False) -> tuple[str, ...]:
    """Codes of the languages with synthetic templates (and, with words=True, a cwe word list)."""
    return tuple(code for code, lang in languages().items()
                 if lang.synthetic_templates is not None and (not words or lang.synthetic_templates.words))


def _sample(task: Task, ctx: BuildContext, index: int, fitted: ListFit | None, expected: tuple[str, ...],
            metadata: dict[str, Any]) -> Sample:
    lang = ctx.language if ctx.instruction_language == ctx.language else f"{ctx.instruction_language}_{ctx.language}"
    base = dict(sample_id=f"{task.name}-{lang}-{ctx.length}-{index:04d}", task=task.name, language=ctx.language,
                instruction_language=ctx.instruction_language, length=ctx.length, index=index, seed=ctx.seed,
                max_new_tokens=ctx.max_new_tokens, expected=expected, depth=None)
    if fitted is None:
        return Sample(**base, status="overlength", prompt_ids=(), prefix_len=0, prompt_sha256=ids_sha256(()),
                      metadata=metadata)
    p = fitted.prompt
    metadata.update(document_tokens=p.prefix_len - p.document_start, list_entries=len(fitted.items),
                    extra_entries=len(fitted.extras), slack=fitted.slack)
    if fitted.replaced:
        metadata["replaced_entries"] = fitted.replaced
    return Sample(**base, status="ok", prompt_ids=p.ids, prefix_len=p.prefix_len, prompt_sha256=ids_sha256(p.ids),
                  metadata=metadata)


# --- common-word extraction (OneRuler) ---------------------------------------------------------

class CweOptions(TaskOptions):
    common: int = Field(default=10, ge=1, le=50)
    """Common words planted and asked for (OneRuler and RULER: 10)."""
    freq_common: int | None = Field(default=None, ge=2)
    """Times each common word appears; None: OneRuler's value for the task and length."""
    freq_uncommon: int | None = Field(default=None, ge=1)
    """Times each other word appears; None: OneRuler's value for the task and length."""
    scoring: Literal["share", "all"] = "share"
    """share: RULER's string_match_all (share of the common words named); all: OneRuler's
    evaluate.py (1 only when every common word is named)."""

    @model_validator(mode="after")
    def _frequencies(self) -> CweOptions:
        if (self.freq_common is None) != (self.freq_uncommon is None):
            raise ValueError("give freq_common and freq_uncommon together")
        if self.freq_common is not None and self.freq_uncommon >= self.freq_common:  # type: ignore[operator]
            raise ValueError("freq_uncommon must be below freq_common")
        return self


class _CommonWords(Task):
    """OneRuler's cwe. No context reuse: each sample is its own list with its one question, and a
    shorter list is not a prefix of a longer one with the same answer (see the module docstring)."""

    default_max_new_tokens: ClassVar[int] = 120
    Options = CweOptions
    frequencies: ClassVar[tuple[tuple[int, int], tuple[int, int]]]
    """OneRuler's (common, uncommon) counts at lengths up to SHORT_LENGTH, and above."""

    @classmethod
    def languages(cls) -> tuple[str, ...]:
        return synthetic_languages(words=True)

    def counts(self, length: int) -> tuple[int, int]:
        o = self.options
        if o.freq_common is not None and o.freq_uncommon is not None:
            return o.freq_common, o.freq_uncommon
        return self.frequencies[0] if length <= SHORT_LENGTH else self.frequencies[1]

    def build(self, ctx: BuildContext) -> list[Sample]:
        words = get_language(ctx.language).synthetic.words
        t = get_language(ctx.instruction_language).synthetic
        k = self.options.common
        frame = ctx.tokenizer.frame(t.cwe_instruction + "\n", "\n" + t.cwe_question.format(n=k),
                                    t.cwe_answer_prefix.format(n=k))
        rng = random.Random(ctx.seed)
        return [self._one(ctx, i, frame, words, random.Random(rng.getrandbits(64))) for i in range(ctx.n_samples)]

    def _one(self, ctx: BuildContext, index: int, frame, words: tuple[str, ...], rng: random.Random) -> Sample:
        k = self.options.common
        order = list(words)
        rng.shuffle(order)
        common, rest = order[:k], order[k:]
        fc0, fu0 = self.counts(ctx.length)
        budget = ctx.length - ctx.max_new_tokens
        layout: ListLayout[str] = ListLayout(lambda i, w: f"{i + 1}. {w}")
        shuffle_seed = rng.getrandbits(64)

        def core_of(m: int):
            def core(n: int) -> list[str]:
                seq = common * (fc0 * m) + [w for w in rest[:n] for _ in range(fu0 * m)]
                random.Random(shuffle_seed).shuffle(seq)
                return seq
            return core

        meta: dict[str, Any] = {"common_words": len(common)}
        chosen: tuple[int, int, int] | None = None  # (scale, uncommon words, tokens)
        m = 1
        while True:
            found = largest(ctx.tokenizer, frame, layout, core_of(m), 0, len(rest), budget)
            if found is None:
                break
            chosen = (m, *found)
            n, tokens = found
            if n < len(rest) or budget - tokens <= FIT_TOLERANCE:
                break
            m += 1  # the whole word list fits with room: repeat every word more often, same ratio
        if chosen is None:
            meta["reason"] = f"{k} common words x {fc0} do not fit in {budget} tokens"
            return _sample(self, ctx, index, None, tuple(common), meta)
        m, n, _ = chosen
        fc, fu = fc0 * m, fu0 * m
        items = core_of(m)(n)
        fresh = rest[n:]
        bumps = rest[:n] if fu + 1 < fc else []  # one more occurrence still leaves them below fc
        pool = (fresh + bumps)[:400]
        fitted = fill(ctx.tokenizer, frame, layout, items, pool, budget, rng,
                      replaceable=lambda w: w not in common)
        counts = Counter(fitted.items)
        others = [c for w, c in counts.items() if w not in common]
        if fitted.slack > FIT_TOLERANCE:
            log.warning("%s: a list is %d tokens short of its budget (no extra word fits)", self.name, fitted.slack)
        meta.update(freq_common=fc, freq_uncommon=fu, repeat_scale=m, distinct_words=len(counts),
                    max_other_count=max(others, default=0))
        return _sample(self, ctx, index, fitted, tuple(common), meta)

    def score(self, sample: Sample, output: str) -> Score:
        verdict = words_recall(sample.expected, output)
        if self.options.scoring == "all":
            return verdict.model_copy(update={"score": verdict.metrics["all_found"]})
        return verdict


class CommonWordsEasy(_CommonWords):
    name: ClassVar[str] = "cwe-easy"
    description: ClassVar[str] = ("OneRuler's common-word extraction, easy: a numbered list of words where 10 "
                                  "appear 30 times and the others 3 (10 / 1 up to 8K tokens); name the 10 most "
                                  "common.")
    metric: ClassVar[str] = ("share of the 10 common words named (RULER string_match_all); "
                             "metrics.all_found: all 10 (OneRuler)")
    frequencies = ((10, 1), (30, 3))


class CommonWordsHard(_CommonWords):
    name: ClassVar[str] = "cwe-hard"
    description: ClassVar[str] = ("OneRuler's common-word extraction, hard: a numbered list of words where 10 "
                                  "appear 20 times and the others 10 (10 / 5 up to 8K tokens); name the 10 most "
                                  "common.")
    metric: ClassVar[str] = ("share of the 10 common words named (RULER string_match_all); "
                             "metrics.all_found: all 10 (OneRuler)")
    frequencies = ((10, 5), (20, 10))


# --- frequent-word extraction (RULER) ----------------------------------------------------------

class FweOptions(TaskOptions):
    alpha: float = Field(default=2.0, gt=1.0, le=10.0)
    """Zipf exponent of the word counts (RULER: 2.0)."""
    vocab_size: int | None = Field(default=None, ge=5)
    """Coded words drawn (the noise word included); None: RULER's (length - answer budget) // 50."""
    coded_length: int | None = Field(default=None, ge=1, le=20)
    """Letters per coded word; None: 6 (RULER), 3 in Han, Japanese and Hangul script."""
    letters: Literal["language", "ascii"] = "language"
    """language: letters of the haystack language (those of its keys); ascii: a-z as in RULER."""


def zeta(alpha: float) -> float:
    """Riemann zeta for alpha > 1: a partial sum and its Euler-Maclaurin tail (error below 1e-9)."""
    n = 1000
    return sum(k ** -alpha for k in range(1, n + 1)) + (n + 0.5) ** (1.0 - alpha) / (alpha - 1.0)


def zipf_counts(total: int, vocab: int, alpha: float) -> list[int]:
    """RULER's counts: the k-th word (k = 1 ... vocab) appears int(total * k^-alpha / zeta(alpha)) times."""
    z = zeta(alpha)
    return [int(total * k ** -alpha / z) for k in range(1, vocab + 1)]


def min_total(alpha: float) -> int:
    """Fewest words from which on the 4th word (the 3rd coded one) always outnumbers the 5th:
    total * (4^-alpha - 5^-alpha) / zeta(alpha) >= 1."""
    import math

    return math.ceil(zeta(alpha) / (4.0 ** -alpha - 5.0 ** -alpha))


def alphabet(lang: Language, letters: str) -> list[str]:
    if letters == "ascii":
        return list(string.ascii_lowercase)
    chars = {ch.lower() for key in lang.keys for ch in key
             if ch.isalpha() and not unicodedata.category(ch).startswith("M")}
    return sorted(c for c in chars if len(c) == 1)


class FreqWords(Task):
    """RULER's fwe. No context reuse, for the reasons cwe has none: one question per text, and a
    shorter text's counts are not a prefix of a longer one's."""

    name: ClassVar[str] = "fwe"
    description: ClassVar[str] = ("RULER's frequent-word extraction: coded words with Zipf counts (alpha 2) and "
                                  "the noise word '...'; name the three most frequent coded words.")
    metric: ClassVar[str] = "share of the 3 most frequent coded words named (RULER string_match_all)"
    default_max_new_tokens: ClassVar[int] = 50
    Options = FweOptions

    @classmethod
    def languages(cls) -> tuple[str, ...]:
        return synthetic_languages()

    def build(self, ctx: BuildContext) -> list[Sample]:
        lang = get_language(ctx.language)
        t = get_language(ctx.instruction_language).synthetic
        frame = ctx.tokenizer.frame(t.fwe_instruction + " ", "\n" + t.fwe_question, t.fwe_answer_prefix)
        rng = random.Random(ctx.seed)
        return [self._one(ctx, i, frame, lang, random.Random(rng.getrandbits(64))) for i in range(ctx.n_samples)]

    def _vocab(self, lang: Language, size: int, rng: random.Random) -> list[str]:
        o = self.options
        letters = alphabet(lang, o.letters)
        length = o.coded_length or (3 if lang.script in SYLLABIC_SCRIPTS and o.letters == "language" else 6)
        if len(letters) ** length < 2 * size:
            raise OverlengthError(f"{len(letters)} letters make too few coded words of {length}")
        seen: dict[str, None] = {}
        while len(seen) < size - 1:
            seen.setdefault("".join(rng.choice(letters) for _ in range(length)))
        return [NOISE_WORD, *seen]

    def _one(self, ctx: BuildContext, index: int, frame, lang: Language, rng: random.Random) -> Sample:
        o = self.options
        budget = ctx.length - ctx.max_new_tokens
        size = o.vocab_size or max(5, budget // 50)
        meta: dict[str, Any] = {"alpha": o.alpha, "vocab_size": size}
        try:
            vocab = self._vocab(lang, size, rng)
        except OverlengthError as err:
            return _sample(self, ctx, index, None, (), {**meta, "reason": str(err)})
        expected = tuple(vocab[1:4])
        shuffle_seed = rng.getrandbits(64)
        layout: ListLayout[str] = ListLayout(lambda i, w: w)

        def core(total: int) -> list[str]:
            seq = [w for w, c in zip(vocab, zipf_counts(total, size, o.alpha)) for _ in range(c)]
            random.Random(shuffle_seed).shuffle(seq)
            return seq

        lo = min_total(o.alpha)
        found = largest(ctx.tokenizer, frame, layout, core, lo, max(lo, budget), budget)
        if found is None:
            meta["reason"] = f"{lo} coded words (the fewest with one clear top three) do not fit in {budget} tokens"
            return _sample(self, ctx, index, None, expected, meta)
        total, _ = found
        counts = zipf_counts(total, size, o.alpha)
        items = core(total)
        # Extras: the noise word, and unused coded words once while once stays below the third answer.
        unused = [w for w, c in zip(vocab, counts) if c == 0][:32] if counts[3] >= 2 else []
        fitted = fill(ctx.tokenizer, frame, layout, items, [NOISE_WORD] * 64 + unused, budget, rng)
        final = Counter(fitted.items)
        meta.update(total_words=len(fitted.items), zipf_total=total,
                    top_counts=[final[w] for w in vocab[:5]], coded_words=len(final) - 1)
        return _sample(self, ctx, index, fitted, expected, meta)

    def score(self, sample: Sample, output: str) -> Score:
        return words_recall(sample.expected, output)
