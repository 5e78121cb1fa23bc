"""Summarization at long context.

- summ-facts (offline, after Salesforce's Summary of a Haystack): a long document of filler with K
  planted key facts about named people; the model lists the key facts. Score: the share of facts
  covered (an item covers a fact when it holds the person's name and the fact's value); the share
  of listed items that match no fact is reported beside it.
- summ-doc: real long documents with reference summaries (GovReport / MultiNews style via
  `datasets`, or a local JSONL with document/summary), scored with ROUGE-L (rouge-score) on
  script-aware tokens. A real document cannot be padded or cut, so a cell takes the documents whose
  prompt fills between min_fill and 100 % of the length budget; the fill is recorded per sample."""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from qlongbench.errors import OverlengthError, UserError
from qlongbench.hashing import ids_sha256
from qlongbench.tasks.base import BuildContext, SampleMetadata, Task, TaskOptions
from qlongbench.tasks.facts import ATTRIBUTES, FactCorpus, fact_languages, fact_templates
from qlongbench.tasks.haystack import Insertion, fit, start_haystack, token_position
from qlongbench.tasks.haystack_sources import HaystackOptions, TextSource, load_dataset_rows, parse_dataset_spec
from qlongbench.tasks.languages import get_language
from qlongbench.tasks.scoring import fact_coverage, rouge_l
from qlongbench.types import Sample, Score

log = logging.getLogger(__name__)


def _sample_id(task: str, ctx: BuildContext, index: int) -> str:
    langs = (f"{ctx.instruction_language}_{ctx.language}" if ctx.instruction_language != ctx.language
             else ctx.language)
    return f"{task}-{langs}-{ctx.length}-{index:04d}"


def _base(task: str, ctx: BuildContext, index: int, expected: tuple[str, ...], depth: float | None) -> dict[str, Any]:
    return dict(sample_id=_sample_id(task, ctx, index), task=task, language=ctx.language,
                instruction_language=ctx.instruction_language, length=ctx.length, index=index, seed=ctx.seed,
                max_new_tokens=ctx.max_new_tokens, expected=expected, depth=depth)


class SummFactsOptions(HaystackOptions):
    facts: int = Field(default=5, ge=1, le=50)
    """Key facts planted per document (one per person, each at its own depth)."""


Text = Annotated[str, Field(min_length=1)]


class FactMetadata(BaseModel):
    """One planted fact as the scorer reads it back."""

    model_config = ConfigDict(extra="allow", strict=True)

    terms: list[Annotated[list[Text], Field(min_length=1)]] = Field(min_length=1)
    """Groups of alternatives; an item covers the fact when it holds one alternative of every group."""


class SummFactsMetadata(SampleMetadata):
    facts: list[FactMetadata] = Field(min_length=1)
    """The planted facts, in document order."""


class SummFacts(Task):
    name: ClassVar[str] = "summ-facts"
    description: ClassVar[str] = ("A long filler document with K planted key facts about named people, one in "
                                  "each K-th of the document at a seeded position; the model lists the key facts "
                                  "(after Summary of a Haystack).")
    metric: ClassVar[str] = ("share of planted facts covered by a listed item (name + value); "
                             "metrics.unmatched_share = listed items matching no fact")
    default_max_new_tokens: ClassVar[int] = 192
    Options = SummFactsOptions
    Metadata = SummFactsMetadata

    @classmethod
    def languages(cls) -> tuple[str, ...]:
        return fact_languages()

    def build(self, ctx: BuildContext) -> list[Sample]:
        lang = get_language(ctx.language)
        ilang = fact_templates(ctx.instruction_language)
        corpus = FactCorpus(lang)
        source = self.options.source(lang)
        tok = ctx.tokenizer
        frame = tok.frame(ilang.facts_instruction + "\n\n", "\n\n" + ilang.facts_question)
        rng = random.Random(ctx.seed)
        k = self.options.facts
        samples = []
        for index in range(ctx.n_samples):
            srng = random.Random(rng.getrandbits(64))
            people = []
            for _ in range(k):
                # Distinct family names where a family name alone names a person in a summary.
                families = {p.family for p in people} if corpus.templates.family_name_alone and k <= 12 else set()
                people.append(corpus.person(srng, exclude={p.name for p in people}, exclude_families=families))
            facts = [corpus.fact(p, srng.choice(ATTRIBUTES)) for p in people]
            # Fact j lies in the j-th K-th of the document, at a seeded place inside it.
            depths = [round(100.0 * (j + srng.random()) / k, 4) for j in range(k)]
            growing = start_haystack(source, srng, lang.word_separator, self.options.sentences_per_chunk)
            haystack = growing.haystack
            insertions = [Insertion(d / 100.0, f.text) for d, f in zip(depths, facts)]
            expected = tuple(f.text for f in facts)
            facts_meta = [{"text": f.text, "entity": f.person.name, "attribute": f.attribute,
                           "value": f.person.value(f.attribute), "terms": [list(t) for t in f.terms], "depth": d}
                          for f, d in zip(facts, depths)]
            try:
                fitted = fit(tok, frame, haystack, ctx.length - ctx.max_new_tokens, insertions,
                             more=growing.feed.more)
            except OverlengthError as err:
                samples.append(Sample(**_base(self.name, ctx, index, expected, None), status="overlength",
                                      prompt_ids=(), prefix_len=0, prompt_sha256=ids_sha256(()),
                                      metadata={"reason": str(err), "facts": facts_meta}))
                continue
            doc = fitted.rendered.document
            start = fitted.prompt.document_start
            doc_tokens = fitted.prompt.prefix_len - start
            for meta, off in zip(facts_meta, fitted.rendered.insertion_offsets):
                pos = token_position(tok, frame, doc, off)
                meta["token_pos"] = pos
                meta["depth_actual"] = round(100.0 * (pos - start) / max(1, doc_tokens), 3)
            meta = {"facts": facts_meta, "document_tokens": doc_tokens, "filler_units": fitted.n_units,
                    "slack": ctx.length - ctx.max_new_tokens - len(fitted.prompt.ids), **source.describe()}
            if isinstance(source, TextSource) and haystack.sentences_used(fitted.n_units) > len(source.sentences):
                meta["haystack_wrapped"] = True
            samples.append(Sample(**_base(self.name, ctx, index, expected, None), status="ok",
                                  prompt_ids=fitted.prompt.ids, prefix_len=fitted.prompt.prefix_len,
                                  prompt_sha256=ids_sha256(fitted.prompt.ids), metadata=meta))
        return samples

    def score(self, sample: Sample, output: str) -> Score:
        terms = [[tuple(group) for group in f["terms"]] for f in sample.metadata["facts"]]
        return fact_coverage(terms, output)


class SummDocOptions(TaskOptions):
    source: str = "hf:ccdv/govreport-summarization"
    """hf:<dataset>[:<config>] or file:<rows.jsonl> with a document and a summary column."""
    split: str = "test"
    """Dataset split for source=hf:..."""
    document_field: str = ""
    """Document column (empty: the first of document, report, article, text, input)."""
    summary_field: str = ""
    """Reference summary column (empty: the first of summary, abstract, highlights, target, output)."""
    max_rows: int = Field(default=500, ge=1)
    """Rows read from the dataset (documents to choose from)."""
    min_fill: float = Field(default=0.75, gt=0.0, le=1.0)
    """Shortest prompt accepted for a length, as a share of its budget (documents are never cut or padded)."""


_DOC_FIELDS = ("document", "report", "article", "text", "input")
_SUMMARY_FIELDS = ("summary", "abstract", "highlights", "target", "output")


@dataclass(frozen=True)
class Document:
    """One long document and its reference summary."""

    text: str
    """The document."""
    summary: str
    """Reference summary."""
    row: int
    """Row in the loaded slice."""


@lru_cache(maxsize=4)
def load_documents(source: str, split: str, max_rows: int, document_field: str,
                   summary_field: str) -> tuple[Document, ...]:
    """Documents with reference summaries; columns picked by name unless given."""
    kind, _, rest = source.partition(":")
    if kind not in ("hf", "file") or not rest:
        raise UserError(f"bad summ-doc source {source!r}: use hf:<dataset>[:<config>] or file:<rows.jsonl>")
    dataset, config = parse_dataset_spec(rest) if kind == "hf" else (rest, None)
    rows = load_dataset_rows(dataset, config, split, max_rows, f"summ-doc source={source}")
    cols = list(rows.items[0])

    def pick(given: str, options: tuple[str, ...], what: str) -> str:
        if given:
            if given not in cols:
                raise UserError(f"summ-doc source={source} has no column {given!r} (columns: {', '.join(cols)})")
            return given
        for c in options:
            if c in cols:
                return c
        raise UserError(f"summ-doc source={source}: no {what} column among {', '.join(cols)}; "
                        f"set {what}_field=<column>")

    doc_col = pick(document_field, _DOC_FIELDS, "document")
    sum_col = pick(summary_field, _SUMMARY_FIELDS, "summary")
    docs = []
    for i, (row, place) in enumerate(zip(rows.items, rows.places)):
        text, summary = row.get(doc_col), row.get(sum_col)
        if rows.local:  # the user's own file: a value of another kind is refused, naming its line
            for col, value, kinds in ((doc_col, text, "a string or a list of strings"), (sum_col, summary, "a string")):
                ok = value is None or isinstance(value, str) or (
                    col == doc_col and isinstance(value, list) and all(isinstance(v, str) for v in value))
                if not ok or not value:  # a row without its text is refused, never skipped
                    got = ("missing" if col not in row else "null" if value is None else
                           "empty" if ok else f"a {type(value).__name__}")
                    raise UserError(f"summ-doc source={source}: {place}: {col} must be {kinds}, not {got}; fix "
                                    "the row or remove it")
        if isinstance(text, list):  # MultiNews-style lists of source documents
            text = "\n\n".join(map(str, text))
        if text and summary:
            docs.append(Document(str(text).strip(), str(summary).strip(), i))
    if not docs:
        raise UserError(f"summ-doc source={source}: no row has both {doc_col} and {sum_col}")
    return tuple(docs)


class SummDoc(Task):
    name: ClassVar[str] = "summ-doc"
    description: ClassVar[str] = ("Real long-document summarization (GovReport / MultiNews style via datasets, or "
                                  "a local JSONL with document/summary); each length takes documents filling "
                                  "min_fill..100 % of it, never cut or padded.")
    metric: ClassVar[str] = "ROUGE-L F1 (rouge-score) against the reference summary, script-aware tokens"
    default_max_new_tokens: ClassVar[int] = 256
    Options = SummDocOptions

    @classmethod
    def lm_eval_name(cls) -> str | None:
        """Not in the lm-eval plugin: its documents come from a dataset the user names (a hub
        dataset by default), while the plugin's YAMLs must build offline from the task alone."""
        return None

    @classmethod
    def languages(cls) -> tuple[str, ...]:
        return fact_languages()

    def build(self, ctx: BuildContext) -> list[Sample]:
        o = self.options
        ilang = fact_templates(ctx.instruction_language)  # MissingLiteralError (a UserError) names the file
        tok = ctx.tokenizer
        frame = tok.frame(ilang.summary_instruction + "\n\n", "\n\n" + ilang.summary_question)
        docs = load_documents(o.source, o.split, o.max_rows, o.document_field, o.summary_field)
        budget = ctx.length - ctx.max_new_tokens
        floor = int(o.min_fill * budget)
        order = list(range(len(docs)))
        random.Random(ctx.seed).shuffle(order)
        fixed = len(tok.build(frame, "").ids)
        samples: list[Sample] = []
        too_long = too_short = 0
        for i in order:
            if len(samples) == ctx.n_samples:
                break
            doc = docs[i]
            # A token holds at least one byte: a document with fewer bytes than the floor cannot reach it.
            if fixed + len(doc.text.encode("utf-8")) < floor:
                too_short += 1
                continue
            prompt = tok.build(frame, doc.text)
            n = len(prompt.ids)
            if n > budget:
                too_long += 1
                continue
            if n < floor:
                too_short += 1
                continue
            index = len(samples)
            meta = {"source": o.source, "row": doc.row, "document_tokens": prompt.prefix_len - prompt.document_start,
                    "slack": budget - n, "fill": round(n / budget, 4),
                    "source_sha256": hashlib.sha256(doc.text.encode("utf-8")).hexdigest()}
            samples.append(Sample(**_base(self.name, ctx, index, (doc.summary,), None), status="ok",
                                  prompt_ids=prompt.ids, prefix_len=prompt.prefix_len,
                                  prompt_sha256=ids_sha256(prompt.ids), metadata=meta))
        if len(samples) < ctx.n_samples:
            reason = (f"only {len(samples)} of {len(docs)} documents from {o.source} fill "
                      f"{int(o.min_fill * 100)}-100 % of a {ctx.length}-token prompt ({too_long} too long, {too_short} too short); raise max_rows, "
                      "lower min_fill or choose other lengths")
            log.warning("summ-doc: %s", reason)
            if fixed > budget:
                reason = f"the prompt without any document needs {fixed} tokens, more than the {budget} available"
            for index in range(len(samples), ctx.n_samples):
                samples.append(Sample(**_base(self.name, ctx, index, (), None), status="overlength", prompt_ids=(),
                                      prefix_len=0, prompt_sha256=ids_sha256(()),
                                      metadata={"reason": reason, "source": o.source}))
        return samples

    def score(self, sample: Sample, output: str) -> Score:
        return rouge_l(sample.expected[0], output)
