"""Tracing: RULER's variable tracking (scripts/data/synthetic/variable_tracking.py, defaults of
scripts/synthetic.yaml `vt`). A chain of assignments `VAR QPWOE = 52810`, `VAR ZKDMA = VAR QPWOE`,
... (4 hops: 5 variables, names of 5 capital letters, a 5-digit value) is hidden line by line in
a haystack that fills the length, each line at a seeded random depth, the chain in order; the
model names every variable that holds the value. Extra chains (`chains`) are distractors with
values of their own. As in RULER, one worked example (a short haystack with its own chain,
question and answer) comes before the task: RULER fits it to 500 tokens, here 500 or a quarter
of the prompt, whichever is less, so that short lengths keep room for the task.

Differences from RULER: the haystack is the language's filler (or a file / dataset, like the
niah tasks) instead of RULER's repeated English "noise" sentences, so it can be any language;
instructions and questions are in the instruction language. Scored as RULER scores it:
string_match_all, the share of the chain's variables named (whole words, any case);
metrics.distractor_hits counts variables of other chains named. Answer budget: RULER's 30 tokens.

Context reuse: with questions_per_context=q a haystack holds at least q chains and q samples ask
about one chain each over the same context (the same prefix ids: one prefill answers all); the
other chains are each question's distractors, as with RULER's num_chains > 1. A nested sweep
over lengths does not fit: the worked example and the chain's depths are fitted to each length."""

from __future__ import annotations

import logging
import random
import string
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from qlongbench.errors import OverlengthError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.aggregation import synthetic_languages
from qlongbench.tasks.base import BuildContext, Task
from qlongbench.tasks.haystack import Haystack, Insertion, fit, fit_shared, start_haystack
from qlongbench.tasks.haystack_sources import HaystackOptions
from qlongbench.tasks.languages import Language, SyntheticTemplates, get_language
from qlongbench.tasks.scoring import contains_word, words_recall
from qlongbench.tokenizer import ChatFrame, PromptTokenizer
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)

EXAMPLE_SHARE = 4
"""The worked example takes at most 1/EXAMPLE_SHARE of the prompt."""


class VtOptions(HaystackOptions):
    hops: int = Field(default=4, ge=1, le=20)
    """Assignments after the first in each chain (RULER: 4, so 5 variables hold the value)."""
    chains: int = Field(default=1, ge=1, le=20)
    """Chains per haystack; the others are distractors (RULER: 1). At least questions_per_context."""
    questions_per_context: int = Field(default=1, ge=1, le=20)
    """Samples asking about different chains of one haystack (same prefix ids, one prefill)."""
    name_letters: int = Field(default=5, ge=2, le=12)
    """Capital letters per variable name (RULER: 5)."""
    example_tokens: int = Field(default=500, ge=0)
    """Tokens of the worked example before the task (RULER: 500), at most a quarter of the prompt;
    0: no example."""


@dataclass(frozen=True)
class Chain:
    """One chain of assignments."""

    names: tuple[str, ...]
    """Variables in assignment order: names[0] = value, names[i] = names[i - 1]."""
    value: str
    """The 5-digit value."""

    def statements(self) -> list[str]:
        return [f"VAR {self.names[0]} = {self.value}"] + [
            f"VAR {b} = VAR {a}" for a, b in zip(self.names, self.names[1:])]


def make_chains(rng: random.Random, n: int, hops: int, letters: int, taken: set[str]) -> list[Chain]:
    """n chains of distinct variables (none in `taken`) and distinct values."""
    out: list[Chain] = []
    values: set[str] = set()
    for _ in range(n):
        names: list[str] = []
        while len(names) < hops + 1:
            name = "".join(rng.choice(string.ascii_uppercase) for _ in range(letters))
            if name not in taken:
                taken.add(name)
                names.append(name)
        value = str(rng.randint(10000, 99999))
        while value in values:
            value = str(rng.randint(10000, 99999))
        values.add(value)
        out.append(Chain(tuple(names), value))
    return out


def chain_insertions(chains: list[Chain], rng: random.Random) -> list[Insertion]:
    """Each chain's lines at seeded random depths, in chain order (RULER: sorted random positions)."""
    out = []
    for chain in chains:
        lines = chain.statements()
        depths = sorted(rng.random() for _ in lines)
        out.extend(Insertion(round(d, 6), line) for d, line in zip(depths, lines))
    return out


class VariableTracking(Task):
    name: ClassVar[str] = "vt"
    description: ClassVar[str] = ("RULER's variable tracking: a chain of 'VAR X = Y' assignments (4 hops) hidden "
                                  "line by line in the haystack after one worked example; name every variable "
                                  "that holds the value.")
    metric: ClassVar[str] = ("share of the chain's variables named (RULER string_match_all); "
                             "metrics.distractor_hits: other chains' variables named")
    default_max_new_tokens: ClassVar[int] = 30
    Options = VtOptions

    @classmethod
    def languages(cls) -> tuple[str, ...]:
        return synthetic_languages()

    def build(self, ctx: BuildContext) -> list[Sample]:
        lang = get_language(ctx.language)
        t = get_language(ctx.instruction_language).synthetic
        rng = random.Random(ctx.seed)
        per = self.options.questions_per_context
        samples: list[Sample] = []
        for start in range(0, ctx.n_samples, per):
            indices = list(range(start, min(ctx.n_samples, start + per)))
            samples.extend(self._context(ctx, lang, t, indices, random.Random(rng.getrandbits(64))))
        return samples

    # --- prompt ---------------------------------------------------------------------------------
    def _question(self, t: SyntheticTemplates, chain: Chain) -> tuple[str, str]:
        n = len(chain.names)
        return t.vt_question.format(value=chain.value), t.vt_answer_prefix.format(n=n, value=chain.value)

    def _example(self, tok: PromptTokenizer, lang: Language, t: SyntheticTemplates, budget: int,
                 rng: random.Random, taken: set[str]) -> tuple[str, int]:
        """RULER's worked example as plain text, fitted to `budget` tokens (at least its fixed parts)."""
        if self.options.example_tokens == 0:
            return "", 0
        (chain,) = make_chains(rng, 1, self.options.hops, self.options.name_letters, taken)
        question, prefix = self._question(t, chain)
        frame = ChatFrame(head=t.vt_instruction + "\n\n",
                          tail="\n" + question + " " + prefix.rstrip() + " " + " ".join(chain.names) + "\n",
                          add_special_tokens=False)
        source = self.options.source(lang)
        growing = start_haystack(source, rng, lang.word_separator, self.options.sentences_per_chunk, joiner="\n")
        lines = chain_insertions([chain], rng)
        empty = len(tok.build(frame, Haystack([], lang.word_separator, "\n").render(0, lines).document).ids)
        fitted = fit(tok, frame, growing.haystack, max(budget, empty), lines, more=growing.feed.more)
        text = frame.head + fitted.rendered.document + frame.tail
        return text, len(fitted.prompt.ids)

    def _context(self, ctx: BuildContext, lang: Language, t: SyntheticTemplates, indices: list[int],
                 rng: random.Random) -> list[Sample]:
        o = self.options
        tok = ctx.tokenizer
        budget = ctx.length - ctx.max_new_tokens
        taken: set[str] = set()
        chains = make_chains(rng, max(o.chains, len(indices)), o.hops, o.name_letters, taken)
        example, example_tokens = self._example(tok, lang, t, min(o.example_tokens, budget // EXAMPLE_SHARE), rng,
                                                taken)
        frames = []
        for chain in chains[: len(indices)]:
            question, prefix = self._question(t, chain)
            frames.append(tok.frame(example + t.vt_instruction + "\n\n", "\n" + question, prefix))
        source = o.source(lang)
        growing = start_haystack(source, rng, lang.word_separator, o.sentences_per_chunk, joiner="\n")
        insertions = chain_insertions(chains, rng)
        meta: dict[str, Any] = {"chains": [{"names": list(c.names), "value": c.value} for c in chains],
                                "example_tokens": example_tokens}

        def base(j: int, i: int) -> dict[str, Any]:
            return dict(sample_id=self._sid(ctx, i), task=self.name, language=ctx.language,
                        instruction_language=ctx.instruction_language, length=ctx.length, index=i, seed=ctx.seed,
                        max_new_tokens=ctx.max_new_tokens, expected=chains[j].names, depth=None)

        try:
            shared = fit_shared(tok, frames, growing.haystack, budget, insertions, more=growing.feed.more)
        except OverlengthError as err:
            return [Sample(**base(j, i), status="overlength", prompt_ids=(), prefix_len=0,
                           prompt_sha256=ids_sha256(()), metadata={**meta, "chain": j, "reason": str(err)})
                    for j, i in enumerate(indices)]
        lines = len(chains[0].names)
        positions = [shared.depth_actual(p) for p in shared.positions]
        out = []
        for j, (i, prompt, slack) in enumerate(zip(indices, shared.prompts, shared.slacks)):
            m = dict(meta, chain=j, line_depths_actual=positions[j * lines:(j + 1) * lines],
                     document_tokens=shared.document_tokens, filler_units=shared.fitted.n_units, slack=slack)
            if len(indices) > 1:
                m["questions_on_context"] = len(indices)
            m.update(source.describe())
            out.append(Sample(**base(j, i), status="ok", prompt_ids=prompt.ids, prefix_len=prompt.prefix_len,
                              prompt_sha256=ids_sha256(prompt.ids), metadata=m))
        return out

    def _sid(self, ctx: BuildContext, index: int) -> str:
        lang = ctx.language if ctx.instruction_language == ctx.language else f"{ctx.instruction_language}_{ctx.language}"
        return f"{self.name}-{lang}-{ctx.length}-{index:04d}"

    def score(self, sample: Sample, output: str) -> Score:
        verdict = words_recall(sample.expected, output)
        own = set(sample.expected)
        others = [n for c in sample.metadata.get("chains", ()) for n in c["names"] if n not in own]
        hits = sum(1 for n in others if contains_word(output, n))
        return verdict.model_copy(update={"metrics": {**verdict.metrics, "distractor_hits": float(hits)}})
