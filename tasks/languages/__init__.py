"""Per-language text written by this project: task templates, "none" words, filler sentences.

Each language lives in its own module in this package that defines ``LANGUAGE``; modules are
discovered, so adding a language touches one file. Templates use ``str.format`` fields:
``{key}``, ``{value}``, ``{keys}``, ``{none}``.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache


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
    filler: Callable[[random.Random], str]
    """Returns one natural filler sentence; successive calls vary (never one sentence repeated)."""

    def filler_sentences(self, rng: random.Random) -> Iterator[str]:
        """Endless stream of filler sentences, reproducible from the rng's seed."""
        while True:
            yield self.filler(rng)


def slot_sentence(rng: random.Random, slots: tuple[tuple[str, ...], ...], times: tuple[str, ...],
                  clauses: tuple[str, ...], end: str = ".") -> str:
    """One filler sentence: a choice from each slot joined by spaces, then a time phrase half the
    time and a clause (carrying its own leading punctuation) 40 % of the time. Shared by the
    languages whose word order and punctuation fit this shape; the rng draws stay in that order."""
    sentence = " ".join(rng.choice(slot) for slot in slots)
    if rng.random() < 0.5:
        sentence += " " + rng.choice(times)
    if rng.random() < 0.4:
        sentence += rng.choice(clauses)
    return sentence + end


def _discover() -> dict[str, Language]:
    found: dict[str, Language] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        lang = getattr(module, "LANGUAGE", None)
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
