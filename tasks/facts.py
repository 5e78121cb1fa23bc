"""A generated fact corpus for RAG and summarization, written by the project.

Invented people, each with three attributes (the city they live in, their dog's name, their
favourite number), stated in sentences of each language; questions ask for one attribute of one
person. The per-language text (names, cities, dogs, sentence and question templates, and the
instructions of the rag, summ-facts and summ-doc tasks) lives with the rest of each language's
text in ``tasks/languages/<code>.py`` (``Language.facts``, a ``FactTemplates``); this module holds
the logic only."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from qlongbench.tasks.languages import FactTemplates, Language, get_language, languages

ATTRIBUTES = ("city", "pet", "number")
"""What a fact or question can be about."""


@cache
def fact_languages() -> tuple[str, ...]:
    """Codes of the languages that have fact templates (the languages of rag, summ-facts, summ-doc)."""
    return tuple(code for code, lang in languages().items() if lang.fact_templates is not None)


def fact_templates(code: str) -> FactTemplates:
    """A language's fact templates: KeyError for an unknown code, MissingLiteralError (a UserError
    naming tasks/languages/<code>.py) for a language without them."""
    return get_language(code).facts


@dataclass(frozen=True)
class Person:
    """An invented person and their attributes."""

    given: str
    """Given name."""
    family: str
    """Family name."""
    name: str
    """Full name as written in the text."""
    city: str
    """Where they live."""
    pet: str
    """Their dog's name."""
    number: str
    """Their favourite number (2-3 digits)."""

    def value(self, attribute: str) -> str:
        return {"city": self.city, "pet": self.pet, "number": self.number}[attribute]


@dataclass(frozen=True)
class Fact:
    """One stated fact and how to recognise it in a model's list."""

    person: Person
    """Whom it is about."""
    attribute: str
    """city, pet or number."""
    text: str
    """The sentence planted in the document."""
    terms: tuple[tuple[str, ...], ...]
    """Key terms: (name alternatives, (value,)); an item covers the fact when it has both."""


class FactCorpus:
    """Generates people, their passages and questions in one language."""

    def __init__(self, language: Language):
        self.code = language.code
        self.templates = language.facts
        """The language's fact templates (MissingLiteralError where it has none)."""
        self.separator = language.word_separator
        """Joins the sentences of a passage."""

    def person(self, rng: random.Random, exclude: set[str] = frozenset(),
               exclude_families: set[str] = frozenset()) -> Person:
        """A new person whose full name is not in `exclude` and family name not in `exclude_families`."""
        T = self.templates
        for _ in range(1000):
            given, family = rng.choice(T.given_names), rng.choice(T.family_names)
            name = T.name_format.format(given=given, family=family)
            if name not in exclude and family not in exclude_families:
                break
        else:
            raise ValueError(f"no free name left in {self.code}")
        return Person(given, family, name, rng.choice(T.cities), rng.choice(T.pets), str(rng.randint(10, 999)))

    def fact(self, person: Person, attribute: str) -> Fact:
        text = self.templates.fact_template(attribute).format(name=person.name,
                                                              **{attribute: person.value(attribute)})
        names = (person.name, person.family) if self.templates.family_name_alone else (person.name,)
        return Fact(person, attribute, text, (names, (person.value(attribute),)))

    def passage(self, person: Person, rng: random.Random) -> str:
        """Everything about one person, sentences in a seeded order."""
        attrs = list(ATTRIBUTES)
        rng.shuffle(attrs)
        return self.separator.join(self.fact(person, a).text for a in attrs)

    def question(self, person: Person, attribute: str, itemplates: FactTemplates) -> str:
        """The question in the instruction language about a person of this corpus."""
        return itemplates.question_template(attribute).format(name=person.name)
