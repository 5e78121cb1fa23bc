"""Per-language text written by this project: one module per language holds all of it.

Each language lives in its own module in this package that defines ``LANGUAGE``, one typed
``Language`` record: the niah templates, "none" words, filler sentences (as data, a ``Filler``)
and, where written, the fact templates of rag / summ-facts / summ-doc (a ``FactTemplates``) and the
word list and prompts of cwe-easy / cwe-hard / fwe / vt (a ``SyntheticTemplates``).
Modules are discovered, so adding a language touches one file. Templates use ``str.format``
fields: ``{key}``, ``{value}``, ``{keys}``, ``{none}``; fact templates ``{name}``, ``{city}``,
``{pet}``, ``{number}``. Asking a language for text it does not have raises
``MissingLiteralError``, which names the file to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from qlongbench.errors import UserError

TIME_SHARE = 0.5
"""Share of filler sentences that carry a time phrase."""
CLAUSE_SHARE = 0.4
"""Share of filler sentences that carry a clause."""


class MissingLiteralError(UserError, KeyError):
    """A language lacks text a task asks for; the one-line message names the file to edit.
    A UserError (the CLI prints it as one line) and a KeyError (a lookup that failed)."""

    def __init__(self, code: str, literal: str, tasks: str):
        super().__init__(f"language {code!r} has no {literal} ({tasks}); add them to tasks/languages/{code}.py")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class Filler:
    """A filler sentence shape, as data: one item drawn from each slot in sentence order, a time
    phrase half the time (before ``slots[time_at]``) and a clause 40 % of the time (closing the
    sentence, or opening it where ``clause_first``). The rng draws follow the sentence order, the
    clause's coin first where it opens the sentence, so a shape fixes the sentences of a seed."""

    slots: tuple[tuple[str, ...], ...]
    """Word lists in sentence order (subject, verb, object, place in some order), each item
    carrying its own articles, case endings or particles so any combination agrees."""
    times: tuple[str, ...]
    """Optional time phrases."""
    clauses: tuple[str, ...]
    """Optional clauses, usually carrying their own punctuation (", because ...", "...、")."""
    time_at: int | None = None
    """Index of the slot the time phrase goes before; None: after the last slot."""
    clause_first: bool = False
    """Whether the clause opens the sentence (ja, ko, ta) rather than closing it."""
    joiner: str = " "
    """Joins the slots and the time phrase ("" for zh, ja, th)."""
    clause_joiner: str = ""
    """Joins the clause to the rest of the sentence (", " for en, " " for ko, ta, th)."""
    end: str = "."
    """Closes the sentence ("。", "।", " " for th)."""

    def __call__(self, rng: random.Random) -> str:
        """One filler sentence."""
        clause = None
        if self.clause_first and rng.random() < CLAUSE_SHARE:
            clause = rng.choice(self.clauses)
        at = len(self.slots) if self.time_at is None else self.time_at
        parts = [rng.choice(slot) for slot in self.slots[:at]]
        if rng.random() < TIME_SHARE:
            parts.append(rng.choice(self.times))
        parts += [rng.choice(slot) for slot in self.slots[at:]]
        sentence = self.joiner.join(parts)
        if clause is not None:
            sentence = clause + self.clause_joiner + sentence
        elif not self.clause_first and rng.random() < CLAUSE_SHARE:
            sentence += self.clause_joiner + rng.choice(self.clauses)
        return sentence + self.end


@dataclass(frozen=True)
class FactTemplates:
    """A language's text for the fact corpus (invented people, each living in a city, with a dog
    and a favourite number) and for the rag / summ-facts / summ-doc prompts. Templates use the
    str.format fields {name}, {city}, {pet}, {number}; they are chosen so that no word agrees
    with the person's (unknown) gender and the name stays in the nominative."""

    given_names: tuple[str, ...]
    """Given names (any gender: no template agrees with gender)."""
    family_names: tuple[str, ...]
    """Family names that do not change with gender."""
    name_format: str
    """How a full name is written: "{given} {family}" or "{family}{given}"."""
    family_name_alone: bool
    """Whether the family name alone identifies a person in a summary (False for one-character
    Chinese surnames and the like, where only the full name counts)."""
    cities: tuple[str, ...]
    """City names as they appear in the city sentence."""
    pets: tuple[str, ...]
    """Dog names."""
    city_fact: str
    """{name} lives in {city}."""
    pet_fact: str
    """{name} has a dog called {pet}."""
    number_fact: str
    """{name}'s favourite number is {number}."""
    city_question: str
    """Asks which city {name} lives in."""
    pet_question: str
    """Asks the name of {name}'s dog."""
    number_question: str
    """Asks {name}'s favourite number."""
    rag_instruction: str
    """Answer the question from the documents; answer only."""
    question_label: str
    """"Question:" (placed before the question)."""
    answer_label: str
    """"Answer:" (starts the answer when no chat template is used)."""
    facts_instruction: str
    """summ-facts: the text mixes everyday sentences with key facts about named people."""
    facts_question: str
    """summ-facts: list every key fact about a named person, one per line."""
    summary_instruction: str
    """summ-doc: summarise the following document."""
    summary_question: str
    """summ-doc: now write a summary of the document above."""

    def fact_template(self, attribute: str) -> str:
        """The fact sentence about one attribute (city, pet or number)."""
        return {"city": self.city_fact, "pet": self.pet_fact, "number": self.number_fact}[attribute]

    def question_template(self, attribute: str) -> str:
        """The question about one attribute (city, pet or number)."""
        return {"city": self.city_question, "pet": self.pet_question, "number": self.number_question}[attribute]


FACT_TASKS = "rag, summ-facts, summ-doc"
"""The tasks that need a language's fact templates."""


@dataclass(frozen=True)
class SyntheticTemplates:
    """A language's text for RULER's synthetic aggregation and tracing tasks (cwe-easy, cwe-hard,
    fwe, vt): the words of the common-word lists and each task's instruction, question and answer
    start. Fields: {n} (how many words are asked for), {value} (the tracked value)."""

    words: tuple[str, ...]
    """At least 100 everyday words (nouns, adjectives, verbs), one word each, no digits: the
    items of the cwe lists. In scripts written without spaces no word holds another."""
    cwe_instruction: str
    """Below is a numbered list of words; some appear more often than others; memorize the ones
    that appear most often."""
    cwe_question: str
    """"Question:" asking for the {n} most common words in the list above."""
    cwe_answer_prefix: str
    """Starts the answer when no chat template is used: "Answer: the top {n} words are:"."""
    fwe_instruction: str
    """Read the coded text, track how often each coded word appears, find the three most
    frequent ones."""
    fwe_question: str
    """"Question:" no explanation, ignore the dots '....', which three coded words appear most often?"""
    fwe_answer_prefix: str
    """Starts the answer when no chat template is used: the three most frequent words are:"""
    vt_instruction: str
    """Memorize and track the chain(s) of variable assignment hidden in the following text."""
    vt_question: str
    """"Question:" find all variables that are assigned the value {value} in the text above."""
    vt_answer_prefix: str
    """Starts the answer: according to the chain(s), {n} variables are assigned the value {value};
    they are:"""


SYNTHETIC_TASKS = "cwe-easy, cwe-hard, fwe, vt"
"""The tasks that need a language's synthetic templates."""

@dataclass(frozen=True)
class Language:
    code: str
    """ISO 639-1 code (en, zh, hi ...)."""
    name: str
    """English name of the language."""
    script: str
    """ISO 15924 script code (Latn, Cyrl, Hans, Jpan, Kore, Deva, Arab, Taml ...)."""
    word_separator: str
    """" " for languages written with spaces, "" for zh/ja (and the joiner of filler sentences)."""
    list_separator: str
    """How items of a list are joined in running text (", ", "、", "، ")."""
    instruction: str
    """Tells the model a number is hidden in the text and it will be asked about it."""
    needle: str
    """The needle sentence: {key} and {value}."""
    question: str
    """Asks for the one number of {key}."""
    question_multivalue: str
    """Asks for all the numbers of {key}."""
    question_multiquery: str
    """Asks for the numbers of several keys, {keys} (already joined with list_separator)."""
    none_rule: str
    """Tells the model to answer {none} when the key does not appear in the text."""
    answer_prefix: str
    """Start of the answer, used when no chat template is applied (RULER's base-model style): {key}."""
    none_words: tuple[str, ...]
    """Localized words meaning "none"; the first is the one the prompt asks for."""
    keys: tuple[str, ...]
    """At least 40 distinct nouns usable as needle keys."""
    filler: Filler
    """Draws one natural filler sentence from an rng; successive calls vary (never one sentence repeated)."""
    fact_templates: FactTemplates | None
    """Fact corpus and rag / summ-* prompts; None where not written yet (those tasks then refuse
    the language). Read it through ``facts``."""
    synthetic_templates: SyntheticTemplates | None = None
    """Word list and prompts of cwe-easy / cwe-hard / fwe / vt; None where not written yet (those
    tasks then refuse the language). Read it through ``synthetic``."""

    @property
    def facts(self) -> FactTemplates:
        """The fact templates; MissingLiteralError naming this language's file where there are none."""
        if self.fact_templates is None:
            raise MissingLiteralError(self.code, "fact templates", FACT_TASKS)
        return self.fact_templates

    @property
    def synthetic(self) -> SyntheticTemplates:
        """The synthetic-task templates; MissingLiteralError naming this language's file where there
        are none."""
        if self.synthetic_templates is None:
            raise MissingLiteralError(self.code, "synthetic templates", SYNTHETIC_TASKS)
        return self.synthetic_templates

    def filler_sentences(self, rng: random.Random) -> Iterator[str]:
        """Endless stream of filler sentences, reproducible from the rng's seed."""
        while True:
            yield self.filler(rng)


def _discover() -> dict[str, Language]:
    found: dict[str, Language] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        lang = module.LANGUAGE  # every module of this package holds one language
        if isinstance(lang, Language):
            found[lang.code] = lang
    return dict(sorted(found.items()))


@cache
def languages() -> dict[str, Language]:
    """All languages shipped with qlongbench, by code."""
    return _discover()


def get_language(code: str) -> Language:
    """The language for an ISO code; KeyError listing the known codes otherwise."""
    table = languages()
    if code not in table:
        raise KeyError(f"unknown language {code!r}; known: {', '.join(table)}")
    return table[code]
