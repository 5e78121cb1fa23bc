"""niah-nested: one haystack serves every length of a sweep.

A single haystack of the longest length holds needles for every length; the prompt at length L is
that haystack's token ids cut to fit L, followed by a question about one of the needles placed
for L (at depths spread over L's prefix). Every shorter prompt's context is a prefix of every
longer one's, so an engine prefills the longest context once and answers all lengths and depths
by cropping its KV cache (qlongbench.run.scheduler chains them).

How it differs from niah-single: the haystack holds the needles of every length (up to
samples x lengths needles, each with its own key), so the other needles act as distractors, as in
niah-multikey; and the context is cut by token count, so it can end inside a word. Compare
precisions on it like any other task, not with niah-single numbers.

With across_lengths=false every length gets haystacks of its own, each shared by
`questions_per_context` questions: the shape of "several questions about one document"."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from pydantic import Field

from qlongbench.errors import OverlengthError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, Task, TaskOptions, cell_seed, spread_depths
from qlongbench.tasks.haystack import Haystack, Insertion, fit, token_position
from qlongbench.tasks.languages import Language, get_language
from qlongbench.tasks.scoring import numbers_recall
from qlongbench.tokenizer import ChatFrame, PromptTokenizer
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)

MARGIN = 0.97
"""Needles for a length are placed within this share of its prefix, so a cut never splits one."""


class NestedOptions(TaskOptions):
    across_lengths: bool = True
    """One haystack for every length (the nested sweep); false: haystacks per length."""
    questions_per_context: int = Field(default=0, ge=0)
    """With across_lengths=false: questions sharing one haystack (0 = all samples of the length)."""
    value_digits: int = Field(default=7, ge=1, le=18)
    """Digits of the magic numbers."""


@dataclass(frozen=True)
class _Planted:
    key: str
    value: str
    needle: str
    serves: tuple[tuple[int, float], ...]
    """(length, depth percent) of every question that asks about this needle: a needle near the
    start serves depth 0 % of every length; length L's 100 % needle may be 2L's 50 % one."""


@dataclass(frozen=True)
class _Context:
    """A fitted haystack: the document prefix ids and where each needle landed."""

    prefix: tuple[int, ...]
    document_start: int
    needle_pos: tuple[int, ...]
    needle_end: tuple[int, ...]
    planted: tuple[_Planted, ...]
    frame_head: str


class NiahNested(Task):
    name: ClassVar[str] = "niah-nested"
    description: ClassVar[str] = ("Nested sweep: one haystack of the longest length, cut at every length, "
                                  "needles for each length inside its prefix; one prefill serves all lengths.")
    metric: ClassVar[str] = "exact whole-number match of the asked needle's value (1/0)"
    default_max_new_tokens: ClassVar[int] = 24
    Options = NestedOptions

    @classmethod
    def lm_eval_name(cls) -> str | None:
        """Not in the lm-eval plugin: one haystack serves every length of a sweep, while lm-eval
        builds each length's documents on their own (niah-single is the per-length form)."""
        return None

    def build(self, ctx: BuildContext) -> list[Sample]:
        lang = get_language(ctx.language)
        ilang = get_language(ctx.instruction_language)
        try:
            if self.options.across_lengths:
                lengths = tuple(sorted(set(ctx.lengths) | {ctx.length}))
                master = _master(self, ctx.tokenizer, lang.code, ilang.code, lengths, ctx.n_samples,
                                 ctx.family_seed, ctx.max_new_tokens)
                contexts = [(master, [p for p in master.planted if any(L == ctx.length for L, _ in p.serves)])]
            else:
                contexts = self._own_contexts(ctx, lang, ilang)
        except OverlengthError as err:
            return [self._overlength(ctx, i, d, str(err)) for i, d in enumerate(spread_depths(ctx.n_samples))]
        samples: list[Sample] = []
        for context, planted in contexts:
            samples.extend(self._cut(ctx, ilang, context, planted))
        return sorted(samples, key=lambda s: s.index)

    # --- haystacks ---------------------------------------------------------------------------
    def _own_contexts(self, ctx: BuildContext, lang: Language, ilang: Language) -> list[tuple[_Context, list[_Planted]]]:
        per = self.options.questions_per_context or ctx.n_samples
        n_ctx = math.ceil(ctx.n_samples / per)
        depths = spread_depths(ctx.n_samples)
        out = []
        for k in range(n_ctx):
            mine = [i for i in range(ctx.n_samples) if i % n_ctx == k]
            seed = cell_seed(ctx.seed, "context", k)
            built = _build_context(self, ctx.tokenizer, lang.code, ilang.code, ctx.length,
                                   tuple((ctx.length, depths[i]) for i in mine), seed, ctx.max_new_tokens)
            out.append((built, list(built.planted)))
        return out

    def _cut(self, ctx: BuildContext, ilang: Language, context: _Context, planted: list[_Planted]) -> list[Sample]:
        tok = ctx.tokenizer
        asks = [(depth, p) for p in planted for length, depth in p.serves if length == ctx.length]
        suffixes = {p.key: _suffix_ids(tok, context.frame_head, ilang, p.key) for _, p in asks}
        budget = ctx.length - ctx.max_new_tokens - max(len(v) for v in suffixes.values())
        cut = min(budget, len(context.prefix))
        samples = []
        depths = spread_depths(ctx.n_samples)
        for depth, p in asks:
            k = context.planted.index(p)
            pos, end = context.needle_pos[k], context.needle_end[k]
            if end > cut:
                raise AssertionError(f"needle for {p.key} ends at token {end}, past the cut at {cut}")
            ids = context.prefix[:cut] + tuple(suffixes[p.key])
            doc_tokens = cut - context.document_start
            others = sum(1 for q in context.needle_end if q <= cut) - 1
            index = depths.index(depth)
            samples.append(Sample(
                sample_id=self._sid(ctx, index), task=self.name, language=ctx.language,
                instruction_language=ctx.instruction_language, length=ctx.length, index=index,
                seed=ctx.seed, status="ok", prompt_ids=ids, prefix_len=cut, max_new_tokens=ctx.max_new_tokens,
                expected=(p.value,), depth=depth, prompt_sha256=ids_sha256(ids),
                metadata={"key": p.key, "needle": p.needle, "needle_token_pos": pos, "needle_token_end": end,
                          "needle_depth_actual": round(100.0 * (pos - context.document_start) / max(1, doc_tokens), 3),
                          "document_tokens": doc_tokens, "distractor_needles": others,
                          "context_tokens": len(context.prefix), "slack": ctx.length - ctx.max_new_tokens - len(ids)},
            ))
        return samples

    def _sid(self, ctx: BuildContext, index: int) -> str:
        lang = ctx.language if ctx.instruction_language == ctx.language else f"{ctx.instruction_language}_{ctx.language}"
        return f"{self.name}-{lang}-{ctx.length}-{index:04d}"

    def _overlength(self, ctx: BuildContext, index: int, depth: float, reason: str) -> Sample:
        return Sample(sample_id=self._sid(ctx, index), task=self.name, language=ctx.language,
                      instruction_language=ctx.instruction_language, length=ctx.length, index=index, seed=ctx.seed,
                      status="overlength", prompt_ids=(), prefix_len=0, max_new_tokens=ctx.max_new_tokens,
                      expected=(), depth=depth, prompt_sha256=ids_sha256(()),
                      metadata={"reason": reason})

    def score(self, sample: Sample, output: str) -> Score:
        return numbers_recall(sample.expected, output)


def _frame(tok: PromptTokenizer, ilang: Language, key: str) -> ChatFrame:
    return tok.frame(ilang.instruction + "\n\n", "\n\n" + ilang.question.format(key=key),
                     ilang.answer_prefix.format(key=key))


def _suffix_ids(tok: PromptTokenizer, head: str, ilang: Language, key: str) -> list[int]:
    """The question's ids as they follow a document (taken from a whole prompt, so the tokenizer
    sees the same boundary it sees in every other task)."""
    frame = _frame(tok, ilang, key)
    built = tok.build(frame, "x")
    return list(built.ids[built.prefix_len:])


@lru_cache(maxsize=8)
def _master(task: NiahNested, tok: PromptTokenizer, lang: str, ilang: str, lengths: tuple[int, ...], n: int,
            seed: int, max_new: int) -> _Context:
    """One haystack for all lengths (cached: every length's cell rebuilds the same one)."""
    wanted = tuple((length, d) for length in lengths for d in spread_depths(n))
    return _build_context(task, tok, lang, ilang, max(lengths), wanted, seed, max_new)


def _build_context(task: NiahNested, tok: PromptTokenizer, lang_code: str, ilang_code: str, longest: int,
                   wanted: tuple[tuple[int, float], ...], seed: int, max_new: int) -> _Context:
    """Fit one haystack to `longest` with a needle for every (length, depth) in `wanted`; targets
    closer together than a needle's length share one needle."""
    lang, ilang = get_language(lang_code), get_language(ilang_code)
    rng = random.Random(seed)
    more = lambda k: [lang.filler(rng) for _ in range(256)]  # noqa: E731
    haystack = Haystack(more(0), lang.word_separator)
    longest_key = max(lang.keys, key=lambda k: len(_suffix_ids(tok, "", ilang, k)))
    frame = _frame(tok, ilang, longest_key)
    budget = longest - max_new
    plain = fit(tok, frame, haystack, budget, more=more)
    doc_start = plain.prompt.document_start
    doc_tokens = max(1, plain.prompt.prefix_len - doc_start)
    suffix_len = len(plain.prompt.ids) - plain.prompt.prefix_len
    cuts = {length: length - max_new - suffix_len for length, _ in wanted}
    if any(cut <= doc_start for cut in cuts.values()):
        raise OverlengthError(f"the instruction and question leave no room for a document at length {min(cuts)}")
    sample_needle = lang.needle.format(key=longest_key, value="9" * task.options.value_digits)
    gap = 1.5 * len(tok.encode(sample_needle))
    # Target token offsets inside the document, merged where closer than a needle.
    targets = sorted(((depth / 100.0) * MARGIN * (cuts[length] - doc_start), length, depth) for length, depth in wanted)
    groups: list[list[tuple[float, int, float]]] = []
    for t in targets:
        if groups and t[0] - groups[-1][0][0] < gap:
            groups[-1].append(t)
        else:
            groups.append([t])
    keys = rng.sample(lang.keys, k=min(len(lang.keys), len(groups)))
    while len(keys) < len(groups):  # more needles than keys: number the extra ones apart
        keys.append(f"{rng.choice(lang.keys)}{lang.word_separator}{len(keys)}")
    d = task.options.value_digits
    planted = []
    for key, group in zip(keys, groups):
        value = str(rng.randint(10 ** (d - 1), 10**d - 1))
        planted.append(_Planted(key, value, lang.needle.format(key=key, value=value),
                                tuple((length, depth) for _, length, depth in group)))
    fraction = [g[0][0] / doc_tokens for g in groups]
    # Needles add tokens the plain fit did not count: pull needles in until each length's
    # needles end before that length's cut.
    for _ in range(12):
        fitted = fit(tok, frame, haystack, budget, [Insertion(f, p.needle) for f, p in zip(fraction, planted)],
                     more=more)
        doc = fitted.rendered.document
        offsets = fitted.rendered.insertion_offsets
        starts = [token_position(tok, frame, doc, off) for off in offsets]
        ends = [token_position(tok, frame, doc, off + len(p.needle)) for off, p in zip(offsets, planted)]
        over = False
        for length, cut in cuts.items():
            mine = [i for i, p in enumerate(planted) if any(L == length for L, _ in p.serves)]
            worst = max(ends[i] for i in mine)
            if worst > cut:
                over = True
                scale = MARGIN * (cut - fitted.prompt.document_start) / max(1, worst - fitted.prompt.document_start)
                for i in mine:
                    fraction[i] *= scale
        log.debug("nested fit: over=%s", over)
        if not over:
            return _Context(prefix=fitted.prompt.ids[: fitted.prompt.prefix_len],
                            document_start=fitted.prompt.document_start, needle_pos=tuple(starts),
                            needle_end=tuple(ends), planted=tuple(planted), frame_head=frame.head)
    shortest = min(cuts)
    raise OverlengthError(f"{sum(1 for p in planted if any(L == shortest for L, _ in p.serves))} needles do not fit "
                          f"inside length {shortest} with this tokenizer; use fewer samples or longer lengths")
