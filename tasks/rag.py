"""RAG: a question whose gold passage sits at a controlled depth among distractor passages that
fill the target length (RULER's qa tasks, fitted exactly).

Offline default (source=facts): the project's generated fact corpus — passages about invented
people; the question asks one attribute of one person; distractors are passages about other
people with the same kinds of attributes, so only the gold passage answers it.

Real data (source=hf:<dataset>[:<config>] or file:<rows.jsonl>): SQuAD-style rows (question,
context, answers) or HotpotQA-style rows (question, answer, context with titles and sentences,
supporting_facts); a row's own distractor paragraphs come first, then passages of other rows
extend the haystack to the target length."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qlongbench.errors import OverlengthError, UserError, validation_problem
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, Task, TaskOptions, spread_depths
from qlongbench.tasks.facts import ATTRIBUTES, FactCorpus, Person, fact_languages, fact_templates
from qlongbench.tasks.haystack import Haystack, Insertion, SentenceFeed, fit_shared
from qlongbench.tasks.haystack_sources import load_dataset_rows, parse_dataset_spec
from qlongbench.tasks.languages import FactTemplates, get_language
from qlongbench.tasks.scoring import qa_score
from qlongbench.tokenizer import ChatFrame, PromptTokenizer
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)

PASSAGE_JOINER = "\n\n"
"""Between passages."""


class RagOptions(TaskOptions):
    source: str = "facts"
    """facts (generated corpus), hf:<dataset>[:<config>] (e.g. hf:hotpot_qa:distractor) or file:<rows.jsonl>."""
    split: str = "validation"
    """Dataset split for source=hf:..."""
    max_rows: int = Field(default=2000, ge=1)
    """Rows read from the dataset (questions to draw from; their passages are the distractor pool)."""
    questions_per_context: int = Field(default=1, ge=1, le=32)
    """Questions sharing one passage set and prompt prefix (source=facts); each gold sits at its sample's depth."""
    passages_per_chunk: int = Field(default=64, ge=1)
    """Distractor passages taken at a time while the haystack grows."""


@dataclass(frozen=True)
class QAItem:
    """One question of a real dataset."""

    question: str
    """The question."""
    answers: tuple[str, ...]
    """Accepted answers."""
    gold: tuple[str, ...]
    """Passages needed to answer (one for SQuAD, the supporting ones for HotpotQA)."""
    distractors: tuple[str, ...]
    """The row's own non-supporting passages (HotpotQA distractor setting)."""
    row: int
    """Row index in the loaded slice."""


@dataclass(frozen=True)
class QACorpus:
    """Questions and the pool of passages of a dataset slice."""

    spec: str
    """source option as given."""
    items: tuple[QAItem, ...]
    """Questions with gold passages."""
    passages: tuple[str, ...]
    """Every distinct passage of the slice (the distractor pool)."""
    sha256: str
    """Hash of the items (identifies the data used)."""


@dataclass(frozen=True)
class RagQuestion:
    """One sample's question on a shared passage set."""

    index: int
    """Sample index."""
    question: str
    """Question text."""
    answers: tuple[str, ...]
    """Gold answers."""
    gold: tuple[str, ...]
    """Gold passage(s), placed at the sample's depth."""
    depth: float
    """Requested depth of the gold passage(s), percent."""
    metadata: dict[str, Any]
    """Question-specific metadata."""


@dataclass(frozen=True)
class ContextPlan:
    """The questions asked over one passage set and where its distractors come from."""

    questions: tuple[RagQuestion, ...]
    """One per sample sharing the context."""
    distractors: Iterator[str]
    """Endless stream of distractor passages (seeded)."""
    info: dict[str, Any]
    """Metadata shared by the samples (source, data hash)."""


def _passage(title: str, text: str) -> str:
    text = " ".join(text.split())
    return f"{title}\n{text}" if title else text


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")  # datasets carry more columns (id, type, level ...)


class _Texts(_Row):
    text: list[str]
    """datasets' layout of SQuAD answers: {"text": [...], "answer_start": [...]}."""


class _Text(_Row):
    text: str


class SquadRow(_Row):
    """A SQuAD-style row: one context answers the question."""

    question: Annotated[str, Field(min_length=1)]
    context: str
    answers: _Texts | list[str | _Text]
    title: str | None = None


class _Paragraphs(_Row):
    title: list[str]
    sentences: list[list[str]]
    """datasets' layout of a HotpotQA context: titles beside their sentences."""


class _Facts(_Row):
    title: list[str]


class HotpotRow(_Row):
    """A HotpotQA-style row: the supporting paragraphs among the row's own distractors."""

    question: Annotated[str, Field(min_length=1)]
    answer: str
    context: _Paragraphs | list[tuple[str, list[str]]]
    supporting_facts: _Facts | list[tuple[str, int]] | None = None


def _hotpot_item(row: HotpotRow, i: int) -> QAItem:
    ctx = row.context
    paragraphs = list(zip(ctx.title, ctx.sentences)) if isinstance(ctx, _Paragraphs) else list(ctx)
    sf = row.supporting_facts or []
    titles = set(sf.title if isinstance(sf, _Facts) else [f[0] for f in sf])
    passages = [(t, _passage(t, "".join(sents))) for t, sents in paragraphs]
    gold = tuple(p for t, p in passages if t in titles)
    distractors = tuple(p for t, p in passages if t not in titles)
    if not gold:
        raise ValueError("supporting_facts: no title among the row's context paragraphs")
    return QAItem(row.question, (row.answer,), gold, distractors, i)


def _squad_item(row: SquadRow, i: int) -> QAItem:
    answers = row.answers
    texts = answers.text if isinstance(answers, _Texts) else [a.text if isinstance(a, _Text) else a for a in answers]
    texts = tuple(dict.fromkeys(t for t in texts if t.strip()))
    if not texts:
        raise ValueError("answers: no answer text (an unanswerable question cannot be asked)")  # SQuAD 2.0
    return QAItem(row.question, texts, (_passage(row.title or "", row.context),), (), i)


@lru_cache(maxsize=4)
def load_qa_corpus(spec: str, split: str, max_rows: int) -> QACorpus:
    """Rows of a QA dataset as questions with gold and distractor passages. A hub dataset's row the
    task cannot ask is skipped; a row of a local file (JSONL, JSON, CSV, Parquet) that is not of its
    kind or cannot be asked is refused, naming the file, the row and the field."""
    kind, _, rest = spec.partition(":")
    if kind not in ("hf", "file") or not rest:
        raise UserError(f"bad rag source {spec!r}: use facts, hf:<dataset>[:<config>] or file:<rows.jsonl>")
    dataset, config = parse_dataset_spec(rest) if kind == "hf" else (rest, None)
    rows = load_dataset_rows(dataset, config, split, max_rows, f"rag source={spec}")
    cols = set(rows.items[0])
    if {"question", "context", "supporting_facts", "answer"} <= cols:
        model, make, style = HotpotRow, _hotpot_item, "HotpotQA"
    elif {"question", "context", "answers"} <= cols:
        model, make, style = SquadRow, _squad_item, "SQuAD"
    else:
        raise UserError(f"rag source={spec}: rows need question/context/answers (SQuAD) or question/answer/"
                        f"context/supporting_facts (HotpotQA); found columns {', '.join(sorted(cols))}")
    items = []
    for i, (row, place) in enumerate(zip(rows.items, rows.places)):
        try:
            items.append(make(model.model_validate(row), i))  # type: ignore[operator]
        except ValidationError as err:
            if rows.local:
                raise UserError(f"rag source={spec}: {place}: not a {style}-style row: {validation_problem(err)}"
                                ) from None
            log.debug("rag source %s: %s skipped (%s)", spec, place, validation_problem(err))
        except ValueError as err:
            if rows.local:
                raise UserError(f"rag source={spec}: {place}: {err}; fix the row or remove it") from None
            log.debug("rag source %s: %s skipped (%s)", spec, place, err)
    if not items:
        raise UserError(f"rag source={spec}: no usable question in the first {len(rows)} rows")
    passages = tuple(dict.fromkeys(p for it in items for p in (*it.gold, *it.distractors)))
    digest = hashlib.sha256(repr([(it.question, it.answers, it.gold) for it in items]).encode()).hexdigest()
    return QACorpus(spec, tuple(items), passages, digest)


class Rag(Task):
    name: ClassVar[str] = "rag"
    description: ClassVar[str] = ("A question whose gold passage sits at a depth spread over 0-100 % among "
                                  "distractor passages filling the length; offline a generated corpus about "
                                  "invented people, or SQuAD/HotpotQA-style data via datasets.")
    metric: ClassVar[str] = ("substring exact match of a gold answer after SQuAD normalisation (1/0); "
                             "metrics: exact_match, token f1 (character tokens for CJK/Thai)")
    default_max_new_tokens: ClassVar[int] = 32
    Options = RagOptions

    @classmethod
    def languages(cls) -> tuple[str, ...]:
        return fact_languages()

    # --- prompt ---------------------------------------------------------------------------------
    def frame(self, tok: PromptTokenizer, ilang: FactTemplates, isep: str, question: str) -> ChatFrame:
        """RULER's qa prompt: instruction, documents, the instruction again, the question."""
        return tok.frame(ilang.rag_instruction + "\n\n",
                         "\n\n" + ilang.rag_instruction + "\n\n" + ilang.question_label + (isep or "") + question,
                         ilang.answer_label)

    # --- building -------------------------------------------------------------------------------
    def build(self, ctx: BuildContext) -> list[Sample]:
        ilang = fact_templates(ctx.instruction_language)  # MissingLiteralError (a UserError) names the file
        isep = get_language(ctx.instruction_language).word_separator
        rng = random.Random(ctx.seed)
        depths = spread_depths(ctx.n_samples)
        q = self.options.questions_per_context
        if self.options.source != "facts" and q > 1:
            raise UserError("rag questions_per_context>1 needs source=facts (dataset questions differ in length, so "
                            "they cannot share one exactly fitted context)")
        n_ctx = -(-ctx.n_samples // q)
        groups = [list(range(j, ctx.n_samples, n_ctx)) for j in range(n_ctx)]
        corpus = None if self.options.source == "facts" else load_qa_corpus(
            self.options.source, self.options.split, self.options.max_rows)
        order = list(range(len(corpus.items))) if corpus else []
        rng.shuffle(order)
        samples: list[Sample] = []
        for group in groups:
            grng = random.Random(rng.getrandbits(64))
            if corpus is None:
                plan = self._facts_plan(ctx, ilang, isep, group, depths, grng)
            else:
                plan = self._data_plan(corpus, order, group, depths, grng)
            samples.extend(self._build_group(ctx, ilang, isep, plan))
        return sorted(samples, key=lambda s: s.index)

    def _facts_plan(self, ctx: BuildContext, ilang: FactTemplates, isep: str, group: Sequence[int],
                    depths: Sequence[float], rng: random.Random) -> ContextPlan:
        corpus = FactCorpus(get_language(ctx.language))
        tok = ctx.tokenizer
        people: list[Person] = []
        attrs: list[str] = []
        target_len = None
        for _ in group:
            best = None
            # Questions on one context are chosen with equal token counts, so each fits exactly.
            for _try in range(200):
                person = corpus.person(rng, exclude={p.name for p in people})
                attr = rng.choice(ATTRIBUTES)
                n = tok.count(self.frame(tok, ilang, isep, corpus.question(person, attr, ilang)).tail)
                gap = 0 if target_len is None else abs(n - target_len)
                if best is None or gap < best[0]:
                    best = (gap, person, attr, n)
                if gap == 0:
                    break
            _, person, attr, n = best
            target_len = n if target_len is None else target_len
            people.append(person)
            attrs.append(attr)
        questions = [
            RagQuestion(i, corpus.question(p, a, ilang), (p.value(a),), (corpus.passage(p, rng),), depths[i],
                        {"entity": p.name, "attribute": a})
            for i, p, a in zip(group, people, attrs)]
        gold_names = {p.name for p in people}

        def distractors() -> Iterator[str]:
            while True:
                yield corpus.passage(corpus.person(rng, exclude=gold_names), rng)

        return ContextPlan(tuple(questions), distractors(), {"source": "facts"})

    def _data_plan(self, corpus: QACorpus, order: Sequence[int], group: Sequence[int], depths: Sequence[float],
                   rng: random.Random) -> ContextPlan:
        (i,) = group
        item = corpus.items[order[i % len(order)]]
        own = list(item.distractors)
        rng.shuffle(own)
        exclude = set(item.gold) | set(own)
        pool = [p for p in corpus.passages if p not in exclude]
        if not pool and not own:
            raise UserError(f"rag source={corpus.spec} has no passages besides the gold ones; raise max_rows")

        def distractors() -> Iterator[str]:
            yield from own
            if pool:
                k = rng.randrange(len(pool))
                while True:
                    yield pool[k]
                    k = (k + 1) % len(pool)

        q = RagQuestion(i, item.question, item.answers, item.gold, depths[i], {"row": item.row})
        info = {"source": corpus.spec, "source_sha256": corpus.sha256, "distractor_pool": len(pool) + len(own)}
        return ContextPlan((q,), distractors(), info)

    def _build_group(self, ctx: BuildContext, ilang: FactTemplates, isep: str, plan: ContextPlan) -> list[Sample]:
        tok = ctx.tokenizer
        questions, info = plan.questions, plan.info
        frames = [self.frame(tok, ilang, isep, q.question) for q in questions]
        feed = SentenceFeed(plan.distractors, self.options.passages_per_chunk)
        haystack = Haystack(feed.first(), get_language(ctx.language).word_separator, PASSAGE_JOINER)
        insertions = [Insertion(q.depth / 100.0, g) for q in questions for g in q.gold]
        owner = [j for j, q in enumerate(questions) for _ in q.gold]

        def base(q: RagQuestion) -> dict[str, Any]:
            sid = (f"{self.name}-{ctx.instruction_language}_{ctx.language}" if ctx.instruction_language != ctx.language
                   else f"{self.name}-{ctx.language}")
            return dict(sample_id=f"{sid}-{ctx.length}-{q.index:04d}", task=self.name, language=ctx.language,
                        instruction_language=ctx.instruction_language, length=ctx.length, index=q.index,
                        seed=ctx.seed, max_new_tokens=ctx.max_new_tokens, expected=q.answers, depth=q.depth)

        try:
            fit = fit_shared(tok, frames, haystack, ctx.length - ctx.max_new_tokens, insertions, more=feed.more)
        except OverlengthError as err:
            return [Sample(**base(q), status="overlength", prompt_ids=(), prefix_len=0, prompt_sha256=ids_sha256(()),
                           metadata={"reason": str(err), "question": q.question, **q.metadata, **info})
                    for q in questions]
        n_distractors = haystack.sentences_used(fit.fitted.n_units + (1 if fit.fitted.partial_chars else 0))
        out = []
        for j, (q, prompt, slack) in enumerate(zip(questions, fit.prompts, fit.slacks)):
            pos = [p for p, o in zip(fit.positions, owner) if o == j]
            meta = {"question": q.question, **q.metadata, "gold_passages": list(q.gold), "gold_token_pos": pos,
                    "gold_depth_actual": [fit.depth_actual(p) for p in pos], "distractors": n_distractors,
                    "document_tokens": fit.document_tokens, "filler_units": fit.fitted.n_units, "slack": slack, **info}
            if len(questions) > 1:
                meta["questions_on_context"] = len(questions)
            out.append(Sample(**base(q), status="ok", prompt_ids=prompt.ids, prefix_len=prompt.prefix_len,
                              prompt_sha256=ids_sha256(prompt.ids), metadata=meta))
        return out

    def score(self, sample: Sample, output: str) -> Score:
        return qa_score(sample.expected, output, sample.language)
