"""Needle in a haystack (RULER / OneRuler): "special magic numbers" for keys are hidden at controlled
depths inside filler text that fills the target length; the model is asked for them.

- niah-single: one needle, asked for it.
- niah-multikey: the target needle among distractor needles that hold other keys.
- niah-multivalue: several needles with the same key; every value must be returned.
- niah-multiquery: needles for several keys, all asked at once (or, with split=true, one question
  per key over one shared haystack, so a backend prefills the haystack once).
- niah-none: the asked key is absent (distractor needles hold other keys); the right answer is the
  language's "none" word and any number is wrong (OneRuler's hallucination control).

Instructions and questions are in the instruction language, haystack and needles in the haystack
language (they differ in cross-lingual mode)."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from qlongbench.errors import OverlengthError, UserError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, SampleMetadata, Task, spread_depths
from qlongbench.tasks.haystack import Insertion, fit_shared, start_haystack
from qlongbench.tasks.haystack_sources import HaystackOptions, HaystackSource, TextSource
from qlongbench.tasks.languages import Language, get_language
from qlongbench.tasks.scoring import none_score, numbers_recall
from qlongbench.tokenizer import ChatFrame, PromptTokenizer
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)


class NiahOptions(HaystackOptions):
    value_digits: int = Field(default=7, ge=1, le=18)
    """Digits of the magic number (RULER uses 7)."""
    none_option: bool = False
    """Add the "answer none when the key is absent" rule to the question (OneRuler); always on in niah-none."""


class MultiKeyOptions(NiahOptions):
    distractors: int = Field(default=3, ge=1, le=30)
    """Distractor needles with other keys (RULER niah_multikey_1 uses 3)."""


class MultiValueOptions(NiahOptions):
    values: int = Field(default=4, ge=2, le=30)
    """Values hidden for the one key; all must be returned."""


class MultiQueryOptions(NiahOptions):
    queries: int = Field(default=4, ge=2, le=30)
    """Keys asked about."""
    split: bool = False
    """Ask each key in its own sample over one shared haystack (same prefix ids, one prefill)."""


class NoneOptions(NiahOptions):
    distractors: int = Field(default=3, ge=0, le=30)
    """Needles with other keys in the haystack (0 = filler only)."""


class NiahMetadata(SampleMetadata):
    """What the needle tasks read back when they score."""

    distractor_values: list[str] = []
    """Numbers of the needles not asked for (niah-multikey and niah-none count them in an answer)."""
    none_words: list[str] = []
    """The localized words that say "none" (niah-none)."""


@dataclass(frozen=True)
class Needle:
    """One needle to plant."""

    key: str
    """The key the number belongs to."""
    value: str
    """The number."""
    depth: float
    """Requested depth in percent of the haystack."""
    role: str
    """target, value (one of several to return), query, or distractor."""


@dataclass(frozen=True)
class Question:
    """What one sample asks about its haystack."""

    index: int
    """Sample index in the cell."""
    text: str
    """Question (instruction language), placed after the document."""
    answer_prefix: str
    """Start of the answer when no chat template is used."""
    expected: tuple[str, ...]
    """Gold answers."""
    depth: float | None
    """The sample's depth (of its target needle)."""
    metadata: dict[str, Any]
    """Question-specific metadata (asked key(s), none words)."""
    target: int | None = None
    """Index of the needle this question is about (its position goes in the sample's metadata)."""


@dataclass(frozen=True)
class Plan:
    """One haystack: the needles planted in it and the questions asked about it."""

    needles: tuple[Needle, ...]
    """Needles in the haystack."""
    questions: tuple[Question, ...]
    """One per sample built on this haystack."""


def _values(rng: random.Random, digits: int, n: int) -> list[str]:
    """n distinct numbers of `digits` digits."""
    if n > 9 * 10 ** (digits - 1):
        raise UserError(f"{n} distinct {digits}-digit numbers do not exist; raise value_digits")
    seen: list[str] = []
    while len(seen) < n:
        v = str(rng.randint(10 ** (digits - 1), 10**digits - 1))
        if v not in seen:
            seen.append(v)
    return seen


def _around(depth: float, k: int, n: int) -> float:
    """The k-th of n depths spread evenly round the haystack from `depth` (k=0 is depth itself)."""
    return depth if k == 0 else round((depth + 100.0 * k / n) % 100.0, 4)


def _join(lang: Language, *parts: str) -> str:
    return lang.word_separator.join(p for p in parts if p)


class _Niah(Task):
    """Shared machinery: plan needles and questions, fit one haystack per plan, build samples."""

    default_max_new_tokens: ClassVar[int] = 24
    Options = NiahOptions
    Metadata = NiahMetadata
    extra_metadata: ClassVar[bool] = True
    """Record every needle's position (off for niah-single, whose sample format predates it)."""
    always_none_rule: ClassVar[bool] = False
    """Ask with the none rule whatever none_option says (niah-none)."""

    def groups(self, n_samples: int) -> list[list[int]]:
        """Sample indices that share one haystack (one each unless a task asks several questions)."""
        return [[i] for i in range(n_samples)]

    def plan(self, lang: Language, ilang: Language, depths: Sequence[float], indices: Sequence[int],
             rng: random.Random, tok: PromptTokenizer) -> Plan:
        raise NotImplementedError

    # --- shared helpers ------------------------------------------------------------------------
    def question(self, ilang: Language, text: str, key: str) -> str:
        if self.options.none_option or self.always_none_rule:
            return _join(ilang, text, ilang.none_rule.format(key=key, none=ilang.none_words[0]))
        return text

    def frame(self, tok: PromptTokenizer, ilang: Language, q: Question) -> ChatFrame:
        return tok.frame(ilang.instruction + "\n\n", "\n\n" + q.text, q.answer_prefix)

    # --- building -------------------------------------------------------------------------------
    def build(self, ctx: BuildContext) -> list[Sample]:
        lang = get_language(ctx.language)
        ilang = get_language(ctx.instruction_language)
        source = self.options.source(lang)
        rng = random.Random(ctx.seed)
        depths = spread_depths(ctx.n_samples)
        samples: list[Sample] = []
        for group in self.groups(ctx.n_samples):
            grng = random.Random(rng.getrandbits(64))
            plan = self.plan(lang, ilang, [depths[i] for i in group], group, grng, ctx.tokenizer)
            samples.extend(self._build_plan(ctx, lang, ilang, source, plan, grng))
        return sorted(samples, key=lambda s: s.index)

    def _sample_id(self, ctx: BuildContext, index: int) -> str:
        if ctx.instruction_language != ctx.language:
            return f"{self.name}-{ctx.instruction_language}_{ctx.language}-{ctx.length}-{index:04d}"
        return f"{self.name}-{ctx.language}-{ctx.length}-{index:04d}"

    def _build_plan(self, ctx: BuildContext, lang: Language, ilang: Language, source: HaystackSource,
                    plan: Plan, rng: random.Random) -> list[Sample]:
        tok = ctx.tokenizer
        frames = [self.frame(tok, ilang, q) for q in plan.questions]
        growing = start_haystack(source, rng, lang.word_separator, self.options.sentences_per_chunk)
        haystack = growing.haystack
        texts = [lang.needle.format(key=n.key, value=n.value) for n in plan.needles]
        insertions = [Insertion(n.depth / 100.0, t) for n, t in zip(plan.needles, texts)]

        def base(q: Question) -> dict[str, Any]:
            return dict(sample_id=self._sample_id(ctx, q.index), task=self.name, language=ctx.language,
                        instruction_language=ctx.instruction_language, length=ctx.length, index=q.index,
                        seed=ctx.seed, max_new_tokens=ctx.max_new_tokens, expected=q.expected, depth=q.depth)

        try:
            shared_fit = fit_shared(tok, frames, haystack, ctx.length - ctx.max_new_tokens, insertions,
                                    more=growing.feed.more)
        except OverlengthError as err:
            return [Sample(**base(q), status="overlength", prompt_ids=(), prefix_len=0,
                           prompt_sha256=ids_sha256(()),
                           metadata={"reason": str(err), **q.metadata})
                    for q in plan.questions]
        fitted, positions = shared_fit.fitted, shared_fit.positions
        actual = shared_fit.depth_actual
        shared: dict[str, Any] = {}
        if self.extra_metadata:
            shared["needles"] = [
                {"key": n.key, "value": n.value, "role": n.role, "depth": n.depth, "text": t,
                 "token_pos": p, "depth_actual": actual(p)}
                for n, t, p in zip(plan.needles, texts, positions)]
            shared["distractors"] = sum(1 for n in plan.needles if n.role == "distractor")
            if len(plan.questions) > 1:
                shared["questions_on_context"] = len(plan.questions)
        if self.extra_metadata or self.options.haystack != "filler":
            shared.update(source.describe())
            if isinstance(source, TextSource) and haystack.sentences_used(fitted.n_units) > len(source.sentences):
                shared["haystack_wrapped"] = True
                log.warning("haystack %s (%d sentences) is shorter than a %d-token prompt; it was read "
                            "again from the start", source.spec, len(source.sentences), ctx.length)
        out = []
        for q, prompt, slack in zip(plan.questions, shared_fit.prompts, shared_fit.slacks):
            meta = dict(q.metadata)
            if q.target is not None:
                meta["needle"] = texts[q.target]
                meta["needle_token_pos"] = positions[q.target]
                meta["needle_depth_actual"] = actual(positions[q.target])
            meta.update({"document_tokens": shared_fit.document_tokens, "filler_units": fitted.n_units, "slack": slack})
            if fitted.partial_chars:
                meta["filler_partial_chars"] = fitted.partial_chars
            meta.update(shared)
            out.append(Sample(**base(q), status="ok", prompt_ids=prompt.ids, prefix_len=prompt.prefix_len,
                              prompt_sha256=ids_sha256(prompt.ids), metadata=meta))
        return out

    def score(self, sample: Sample, output: str) -> Score:
        return numbers_recall(sample.expected, output)


class NiahSingle(_Niah):
    name: ClassVar[str] = "niah-single"
    description: ClassVar[str] = ("One needle ('the special magic number for <key> is <7 digits>') at a depth "
                                  "spread over 0-100 %; asked for it at the end (RULER niah_single).")
    metric: ClassVar[str] = "exact whole-number match of the needle value (1/0)"
    extra_metadata: ClassVar[bool] = False

    @classmethod
    def lm_eval_name(cls) -> str | None:
        """The plugin's plain NIAH task (its per-language twins are qlongbench_niah_<code>)."""
        return "qlongbench_niah"

    def plan(self, lang, ilang, depths, indices, rng, tok):
        key = rng.choice(lang.keys)
        (value,) = _values(rng, self.options.value_digits, 1)
        q = Question(indices[0], self.question(ilang, ilang.question.format(key=key), key),
                     ilang.answer_prefix.format(key=key), (value,), depths[0], {"key": key}, 0)
        return Plan((Needle(key, value, depths[0], "target"),), (q,))


class NiahMultiKey(_Niah):
    name: ClassVar[str] = "niah-multikey"
    description: ClassVar[str] = ("The target needle at a depth spread over 0-100 % among distractor needles "
                                  "that hold other keys at random depths; asked for the target's number "
                                  "(RULER niah_multikey_1).")
    metric: ClassVar[str] = ("exact whole-number match of the target value (1/0); metrics.distractor_hits "
                             "counts distractor values in the output")
    Options = MultiKeyOptions

    def plan(self, lang, ilang, depths, indices, rng, tok):
        n = self.options.distractors
        keys = rng.sample(lang.keys, n + 1)
        values = _values(rng, self.options.value_digits, n + 1)
        needles = [Needle(keys[0], values[0], depths[0], "target")]
        needles += [Needle(k, v, round(rng.uniform(0.0, 100.0), 4), "distractor") for k, v in zip(keys[1:], values[1:])]
        q = Question(indices[0], self.question(ilang, ilang.question.format(key=keys[0]), keys[0]),
                     ilang.answer_prefix.format(key=keys[0]), (values[0],), depths[0],
                     {"key": keys[0], "distractor_values": values[1:]}, 0)
        return Plan(tuple(needles), (q,))

    def score(self, sample: Sample, output: str) -> Score:
        from qlongbench.tasks.scoring import extract_numbers

        verdict = numbers_recall(sample.expected, output)
        found = set(extract_numbers(output))
        hits = sum(1 for v in sample.metadata.get("distractor_values", ()) if v in found)
        return verdict.model_copy(update={"metrics": {**verdict.metrics, "distractor_hits": float(hits)}})


class NiahMultiValue(_Niah):
    name: ClassVar[str] = "niah-multivalue"
    description: ClassVar[str] = ("Several needles with the same key and different numbers, spread evenly round "
                                  "the haystack from the sample's depth; all numbers must be returned "
                                  "(RULER niah_multivalue).")
    metric: ClassVar[str] = "share of the key's values returned as whole numbers (0..1)"
    default_max_new_tokens: ClassVar[int] = 64
    Options = MultiValueOptions

    def plan(self, lang, ilang, depths, indices, rng, tok):
        n = self.options.values
        key = rng.choice(lang.keys)
        values = _values(rng, self.options.value_digits, n)
        needles = tuple(Needle(key, v, _around(depths[0], k, n), "value") for k, v in enumerate(values))
        q = Question(indices[0], self.question(ilang, ilang.question_multivalue.format(key=key), key),
                     ilang.answer_prefix.format(key=key), tuple(values), depths[0], {"key": key}, 0)
        return Plan(needles, (q,))


class NiahMultiQuery(_Niah):
    name: ClassVar[str] = "niah-multiquery"
    description: ClassVar[str] = ("Needles for several keys spread evenly round the haystack from the sample's "
                                  "depth; all keys asked at once (RULER niah_multiquery), or with split=true "
                                  "one key per sample over a shared haystack (one prefill for all).")
    metric: ClassVar[str] = "share of the asked keys' values returned as whole numbers (0..1)"
    default_max_new_tokens: ClassVar[int] = 64
    Options = MultiQueryOptions

    def groups(self, n_samples: int) -> list[list[int]]:
        if not self.options.split:
            return super().groups(n_samples)
        # Haystack j holds samples j, j+H, j+2H ...: each haystack's questions cover the depth range.
        n_hay = -(-n_samples // self.options.queries)
        return [list(range(j, n_samples, n_hay)) for j in range(n_hay)]

    def plan(self, lang, ilang, depths, indices, rng, tok):
        q_n = self.options.queries
        if self.options.split:
            keys = self._equal_length_keys(lang, ilang, len(indices), rng, tok)
            values = _values(rng, self.options.value_digits, len(keys))
            needles = tuple(Needle(k, v, d, "query") for k, v, d in zip(keys, values, depths))
            questions = tuple(
                Question(i, self.question(ilang, ilang.question.format(key=k), k), ilang.answer_prefix.format(key=k),
                         (v,), d, {"key": k}, j)
                for j, (i, k, v, d) in enumerate(zip(indices, keys, values, depths)))
            return Plan(needles, questions)
        keys = rng.sample(lang.keys, q_n)
        values = _values(rng, self.options.value_digits, q_n)
        needles = tuple(Needle(k, v, _around(depths[0], j, q_n), "query") for j, (k, v) in enumerate(zip(keys, values)))
        joined = ilang.list_separator.join(keys)
        q = Question(indices[0], self.question(ilang, ilang.question_multiquery.format(keys=joined), joined),
                     ilang.answer_prefix.format(key=joined), tuple(values), depths[0],
                     {"key": keys[0], "keys": keys}, 0)
        return Plan(needles, (q,))

    def _equal_length_keys(self, lang: Language, ilang: Language, n: int, rng: random.Random,
                           tok: PromptTokenizer) -> list[str]:
        """n keys whose questions have the same token count, so that every question over the shared
        haystack fits the target exactly (the closest lengths when no such group exists)."""
        lengths: dict[str, int] = {}
        for k in lang.keys:
            q = Question(0, self.question(ilang, ilang.question.format(key=k), k), ilang.answer_prefix.format(key=k),
                         (), None, {})
            lengths[k] = tok.count(self.frame(tok, ilang, q).tail)
        ranked = sorted(lang.keys, key=lambda k: lengths[k])
        starts = range(len(ranked) - n + 1)
        spread = {s: lengths[ranked[s + n - 1]] - lengths[ranked[s]] for s in starts}
        if min(spread.values()) == 0:
            # A whole group of equal length, chosen among all such groups, keys drawn from all of it.
            sizes = sorted({lengths[k] for k in ranked if sum(1 for j in ranked if lengths[j] == lengths[k]) >= n})
            size = rng.choice(sizes)
            return rng.sample([k for k in lang.keys if lengths[k] == size], n)
        start = rng.choice([s for s in starts if spread[s] == min(spread.values())])
        return rng.sample(ranked[start:start + n], n)


class NiahNone(_Niah):
    name: ClassVar[str] = "niah-none"
    description: ClassVar[str] = ("The asked key is absent (distractor needles hold other keys); the prompt says "
                                  "to answer the language's 'none' word; any number is wrong (OneRuler's "
                                  "hallucination control).")
    metric: ClassVar[str] = "1 when the output says the none word and holds no number, else 0"
    Options = NoneOptions
    always_none_rule: ClassVar[bool] = True

    def plan(self, lang, ilang, depths, indices, rng, tok):
        n = self.options.distractors
        keys = rng.sample(lang.keys, n + 1)
        asked, others = keys[0], keys[1:]
        values = _values(rng, self.options.value_digits, n)
        needles = tuple(Needle(k, v, depths[0] if j == 0 else round(rng.uniform(0.0, 100.0), 4), "distractor")
                        for j, (k, v) in enumerate(zip(others, values)))
        accepted = list(dict.fromkeys([*ilang.none_words, *lang.none_words]))
        q = Question(indices[0], self.question(ilang, ilang.question.format(key=asked), asked),
                     ilang.answer_prefix.format(key=asked), (ilang.none_words[0],),
                     depths[0] if n else None, {"key": asked, "none_words": accepted, "distractor_values": values})
        return Plan(needles, (q,))

    def score(self, sample: Sample, output: str) -> Score:
        return none_score(sample.metadata.get("none_words") or sample.expected, output)
