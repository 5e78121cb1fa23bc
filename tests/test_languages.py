"""Checks on the per-language text shipped in qlongbench.tasks.languages: every literal of every
language, the fact templates where written, the error naming the file where not, and the filler
shapes (data, not code)."""

from __future__ import annotations

import dataclasses
import random
import string
import unicodedata
from pathlib import Path

import pytest

from qlongbench.errors import UserError
from qlongbench.tasks.facts import fact_languages
from qlongbench.tasks.aggregation import CommonWordsEasy, CommonWordsHard, FreqWords, synthetic_languages
from qlongbench.tasks.languages import (FactTemplates, Filler, Language, MissingLiteralError, SyntheticTemplates,
                                        get_language, languages)
from qlongbench.tasks.rag import Rag
from qlongbench.tasks.summarize import SummDoc, SummFacts
from qlongbench.tasks.tracing import VariableTracking

REPO = Path(__file__).resolve().parents[1]

REQUIRED_CODES = ("en", "de", "fr", "es", "it", "pl", "fi", "ru", "zh", "ja", "ko", "hi", "ar", "ta", "sw")

# Code-point ranges that characters of each declared script fall into (main blocks only).
SCRIPT_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "Latn": ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F), (0x1E00, 0x1EFF)),
    "Cyrl": ((0x0400, 0x04FF),),
    "Grek": ((0x0370, 0x03FF), (0x1F00, 0x1FFF)),
    "Hans": ((0x4E00, 0x9FFF),),
    "Jpan": ((0x3040, 0x309F), (0x30A0, 0x30FF), (0x4E00, 0x9FFF)),
    "Kore": ((0xAC00, 0xD7AF),),
    "Deva": ((0x0900, 0x097F),),
    "Beng": ((0x0980, 0x09FF),),
    "Arab": ((0x0600, 0x06FF),),
    "Hebr": ((0x0590, 0x05FF),),
    "Taml": ((0x0B80, 0x0BFF),),
    "Thai": ((0x0E00, 0x0E7F),),
}
# Scripts that need at least one character outside the shared Han block (Japanese has kana).
SCRIPT_REQUIRED_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "Jpan": ((0x3040, 0x309F), (0x30A0, 0x30FF)),
}
UNSPACED_SCRIPTS = {"Hans", "Jpan", "Thai"}
SENTENCE_END = {"Hans": "。", "Jpan": "。", "Deva": "।", "Beng": "।", "Thai": " "}
CASED_SCRIPTS = {"Latn", "Cyrl", "Grek"}

# Fields each template may use (str.format), and those it must contain.
TEMPLATE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "instruction": (set(), set()),
    "needle": ({"key", "value"}, {"key", "value"}),
    "question": ({"key"}, {"key"}),
    "question_multivalue": ({"key"}, {"key"}),
    "question_multiquery": ({"keys"}, {"keys"}),
    "none_rule": ({"key", "none"}, {"key", "none"}),
    "answer_prefix": ({"key"}, {"key"}),
}

# The languages with fact templates (rag, summ-facts, summ-doc); the others have fact_templates=None.
FACT_CODES = ("de", "en", "es", "fr", "hi", "it", "ja", "ko", "nl", "pl", "pt", "ru", "sv", "zh")

# Fact template fields: the str.format fields each may use (and must: a template is all of them).
FACT_TEMPLATE_FIELDS: dict[str, set[str]] = {
    "name_format": {"given", "family"},
    "city_fact": {"name", "city"},
    "pet_fact": {"name", "pet"},
    "number_fact": {"name", "number"},
    "city_question": {"name"},
    "pet_question": {"name"},
    "number_question": {"name"},
    "rag_instruction": set(),
    "question_label": set(),
    "answer_label": set(),
    "facts_instruction": set(),
    "facts_question": set(),
    "summary_instruction": set(),
    "summary_question": set(),
}
# Word lists of the fact corpus and the fewest distinct items each needs.
FACT_LISTS = {"given_names": 20, "family_names": 20, "cities": 16, "pets": 16}

# The languages with synthetic templates (cwe-easy, cwe-hard, fwe, vt): all of them.
SYNTHETIC_CODES = tuple(sorted(languages()))

# Synthetic template fields: the str.format fields each uses (all of them).
SYNTHETIC_FIELDS: dict[str, set[str]] = {
    "cwe_instruction": set(),
    "cwe_question": {"n"},
    "cwe_answer_prefix": {"n"},
    "fwe_instruction": set(),
    "fwe_question": set(),
    "fwe_answer_prefix": set(),
    "vt_instruction": set(),
    "vt_question": {"value"},
    "vt_answer_prefix": {"n", "value"},
}
MIN_WORDS = 100

ALL = languages()
CODES = sorted(ALL)
N_SENTENCES = 50


def _in_script(ch: str, script: str, table: dict[str, tuple[tuple[int, int], ...]] = SCRIPT_RANGES) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in table[script])


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _sentences(lang: Language, seed: int, n: int = N_SENTENCES) -> list[str]:
    rng = random.Random(seed)
    return [lang.filler(rng) for _ in range(n)]


@pytest.fixture(params=CODES)
def lang(request: pytest.FixtureRequest) -> Language:
    return ALL[request.param]


# ---- the collection as a whole ----------------------------------------------------------------


def test_enough_languages_and_scripts() -> None:
    assert len(ALL) >= 14
    assert len({lang.script for lang in ALL.values()}) >= 6


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_required_language_present(code: str) -> None:
    assert code in ALL
    assert get_language(code) is ALL[code]


def test_unknown_code_raises_key_error_naming_known_codes() -> None:
    with pytest.raises(KeyError) as info:
        get_language("xx")
    message = str(info.value)
    assert "xx" in message
    for code in ("en", "de", "zh"):
        assert code in message


def test_codes_match_modules() -> None:
    for code, lang in ALL.items():
        assert lang.code == code
        assert lang.__class__ is Language


def test_fact_languages_are_exactly_those_with_templates() -> None:
    assert fact_languages() == FACT_CODES
    for task in (Rag, SummFacts, SummDoc):
        assert task.languages() == FACT_CODES, task.name


# ---- per language --------------------------------------------------------------------------------


def test_every_literal_is_present(lang: Language) -> None:
    """Each field of the typed record holds text (fact templates: a FactTemplates or None)."""
    for field in dataclasses.fields(Language):
        value = getattr(lang, field.name)
        if field.name == "fact_templates":
            assert value is None or type(value) is FactTemplates
        elif field.name == "synthetic_templates":
            assert value is None or type(value) is SyntheticTemplates
        elif field.name == "filler":
            assert type(value) is Filler, "declare the filler as data (a Filler)"
        elif isinstance(value, str):
            assert value.strip() or field.name == "word_separator", field.name
        else:
            assert isinstance(value, tuple) and value and all(isinstance(v, str) and v for v in value), field.name


@pytest.mark.parametrize("code", FACT_CODES)
def test_fact_templates_complete_and_format(code: str) -> None:
    lang = ALL[code]
    facts = lang.facts
    assert type(facts) is FactTemplates and facts is lang.fact_templates
    assert set(FACT_TEMPLATE_FIELDS) | set(FACT_LISTS) | {"family_name_alone"} == {
        f.name for f in dataclasses.fields(FactTemplates)}, "a new FactTemplates field needs a row here"
    for attr, least in FACT_LISTS.items():
        items = getattr(facts, attr)
        assert len(set(items)) >= least and len(set(items)) == len(items), attr
        for item in items:
            assert item == item.strip() and not any(c.isdigit() for c in item), (attr, item)
            assert any(_in_script(c, lang.script) for c in item), (attr, item)
    assert isinstance(facts.family_name_alone, bool)
    for attr, fields in FACT_TEMPLATE_FIELDS.items():
        text = getattr(facts, attr)
        assert isinstance(text, str) and text.strip() and text == text.strip(), attr
        assert _fields(text) == fields, attr
        assert any(_in_script(c, lang.script) for c in text) or attr == "name_format", attr
    for attr in ("city", "pet", "number"):
        fact = facts.fact_template(attr).format(name="QNAME", **{attr: "QVALUE"})
        assert "QNAME" in fact and "QVALUE" in fact, attr
        assert "QNAME" in facts.question_template(attr).format(name="QNAME"), attr


@pytest.mark.parametrize("code", sorted(set(CODES) - set(FACT_CODES)))
def test_missing_fact_templates_name_the_file_to_edit(code: str) -> None:
    lang = ALL[code]
    assert lang.fact_templates is None
    with pytest.raises(MissingLiteralError) as info:
        lang.facts  # noqa: B018
    message = str(info.value)
    assert message == (f"language {code!r} has no fact templates (rag, summ-facts, summ-doc); "
                       f"add them to tasks/languages/{code}.py")
    assert "\n" not in message
    assert (REPO / f"tasks/languages/{code}.py").is_file()  # the file named is the one to edit
    # One line through the CLI (a UserError), and still a failed lookup (a KeyError).
    assert isinstance(info.value, UserError) and isinstance(info.value, KeyError)


def test_synthetic_languages_are_exactly_those_with_templates() -> None:
    assert synthetic_languages() == synthetic_languages(words=True) == SYNTHETIC_CODES
    for task in (CommonWordsEasy, CommonWordsHard, FreqWords, VariableTracking):
        assert task.languages() == SYNTHETIC_CODES, task.name


@pytest.mark.parametrize("code", SYNTHETIC_CODES)
def test_synthetic_templates_complete_and_format(code: str) -> None:
    lang = ALL[code]
    t = lang.synthetic
    assert type(t) is SyntheticTemplates and t is lang.synthetic_templates
    assert set(SYNTHETIC_FIELDS) | {"words"} == {f.name for f in dataclasses.fields(SyntheticTemplates)}, (
        "a new SyntheticTemplates field needs a row here")
    for attr, fields in SYNTHETIC_FIELDS.items():
        text = getattr(t, attr)
        assert isinstance(text, str) and text.strip() and text == text.strip(), attr
        assert _fields(text) == fields, attr
        assert any(_in_script(c, lang.script) for c in text), attr
        assert not any(c.isdigit() for c in text), attr
        text.format(n=10, value=12345)  # never KeyError / IndexError
    assert "12345" in t.vt_question.format(value=12345)


@pytest.mark.parametrize("code", SYNTHETIC_CODES)
def test_synthetic_word_list(code: str) -> None:
    """At least MIN_WORDS words, one word each, written in the script, no digits or numerals, none
    twice (whatever the case); where the script has no spaces (and is matched as a substring) no
    word holds another."""
    lang = ALL[code]
    words = lang.synthetic.words
    assert len(words) >= MIN_WORDS
    folded = [unicodedata.normalize("NFKC", w).casefold() for w in words]
    assert len(set(folded)) == len(folded), sorted(w for w in folded if folded.count(w) > 1)
    for w in words:
        assert w and not any(c.isspace() for c in w), w
        assert unicodedata.normalize("NFKC", w) == w, w
        assert not any(c.isnumeric() for c in w), w
        assert all(_in_script(c, lang.script) or unicodedata.category(c).startswith("M") or c in "-'‌‍"
                   for c in w), w
        assert not w.startswith(("-", "'")) and not w.endswith(("-", "'")), w
    if lang.script in UNSPACED_SCRIPTS | {"Kore"}:  # matched as substrings (Hangul: particles attach)
        for a in folded:
            for b in folded:
                assert a == b or a not in b, f"word {a!r} is inside word {b!r}"


@pytest.mark.parametrize("code", ["en", "ta"])
def test_missing_synthetic_templates_name_the_file_to_edit(code: str) -> None:
    """A language written without them (every shipped one has them) is refused naming its file."""
    with pytest.raises(MissingLiteralError) as info:
        dataclasses.replace(ALL[code], synthetic_templates=None).synthetic  # noqa: B018
    assert str(info.value) == (f"language {code!r} has no synthetic templates (cwe-easy, cwe-hard, fwe, vt); "
                               f"add them to tasks/languages/{code}.py")


def test_filler_is_data(lang: Language) -> None:
    shape = lang.filler
    assert len(shape.slots) >= 4 and all(shape.slots) and shape.times and shape.clauses
    assert shape.time_at is None or 0 <= shape.time_at <= len(shape.slots)
    assert shape.joiner == lang.word_separator or lang.script == "Thai"


def test_metadata(lang: Language) -> None:
    assert len(lang.code) == 2 and lang.code.islower()
    assert lang.name
    assert lang.script in SCRIPT_RANGES, f"add {lang.script} to SCRIPT_RANGES"
    expected_sep = "" if lang.script in UNSPACED_SCRIPTS else " "
    assert lang.word_separator == expected_sep
    assert lang.list_separator.strip() or lang.list_separator == "、"
    assert lang.list_separator in (", ", "、", "، ")


def test_templates_format(lang: Language) -> None:
    values = {"key": "KEYWORD", "value": 7654321, "keys": lang.list_separator.join(["KA", "KB"]),
              "none": lang.none_words[0]}
    for attr, (allowed, required) in TEMPLATE_FIELDS.items():
        template = getattr(lang, attr)
        assert isinstance(template, str) and template.strip(), attr
        fields = _fields(template)
        assert fields <= allowed, f"{attr} uses unknown fields {fields - allowed}"
        assert required <= fields, f"{attr} lacks {required - fields}"
        text = template.format(**values)  # never KeyError / IndexError
        for name in required:
            assert str(values[name]) in text
    # The value is inserted as plain ASCII digits; the templates themselves hold no digits.
    needle = lang.needle.format(key="KEYWORD", value=7654321)
    assert "7654321" in needle
    for attr in TEMPLATE_FIELDS:
        assert not any(c.isdigit() for c in getattr(lang, attr)), attr


def test_templates_written_in_script(lang: Language) -> None:
    for attr in TEMPLATE_FIELDS:
        text = getattr(lang, attr)
        assert any(_in_script(c, lang.script) for c in text), attr


def test_keys(lang: Language) -> None:
    keys = lang.keys
    assert len(keys) >= 40
    assert len(set(keys)) == len(keys), "duplicate keys"
    folded = [k.casefold() for k in keys]
    assert len(set(folded)) == len(folded), "keys differing only by case"
    for key in keys:
        assert key and key == key.strip()
        assert not any(c.isdigit() for c in key), key
        assert unicodedata.normalize("NFKC", key) == key, key
        assert any(_in_script(c, lang.script) for c in key), key
        if lang.script in UNSPACED_SCRIPTS:
            assert " " not in key, key
    for a in folded:
        for b in folded:
            assert a == b or a not in b, f"key {a!r} is inside key {b!r}"
    if lang.script in {"Hans", "Jpan"}:
        assert all(2 <= len(k) <= 3 for k in keys)


def test_none_words(lang: Language) -> None:
    words = lang.none_words
    assert 1 <= len(words) <= 5
    assert len(set(words)) == len(words)
    for word in words:
        assert word and word == word.strip()
        assert unicodedata.normalize("NFKC", word) == word, word
        assert word == word.lower(), word
        assert not any(c.isdigit() for c in word), word
    assert words[0] in lang.none_rule.format(key="K", none=words[0])


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_filler_deterministic(lang: Language, seed: int) -> None:
    assert _sentences(lang, seed) == _sentences(lang, seed)


def test_filler_seeds_differ(lang: Language) -> None:
    assert _sentences(lang, 1) != _sentences(lang, 2)


def test_filler_stream_matches_filler(lang: Language) -> None:
    stream = lang.filler_sentences(random.Random(3))
    assert [next(stream) for _ in range(10)] == _sentences(lang, 3, 10)


@pytest.mark.parametrize("seed", [0, 7, 2024])
def test_filler_varied(lang: Language, seed: int) -> None:
    sentences = _sentences(lang, seed)
    assert len(set(sentences)) >= 30


@pytest.mark.parametrize("seed", [0, 99])
def test_filler_sentences_well_formed(lang: Language, seed: int) -> None:
    end = SENTENCE_END.get(lang.script, ".")
    for s in _sentences(lang, seed, 200):
        assert isinstance(s, str) and s.strip()
        assert not any(c.isdigit() for c in s), s
        # Nor numerals of any script (一, 两, ௧ ...): nothing in the haystack may read as a number.
        assert not any(c.isnumeric() for c in s), s
        assert any(_in_script(c, lang.script) for c in s), s
        if lang.script in SCRIPT_REQUIRED_RANGES:
            assert any(_in_script(c, lang.script, SCRIPT_REQUIRED_RANGES) for c in s), s
        assert s.endswith(end), s
        assert s[0] != " " and "  " not in s, repr(s)
        if lang.script not in UNSPACED_SCRIPTS:
            assert not s.endswith(" " + end), repr(s)
            assert " ," not in s and " ." not in s, repr(s)
        if lang.script in CASED_SCRIPTS:
            first = next(c for c in s if c.isalpha())
            assert first.isupper(), s
        if lang.script in {"Hans", "Jpan"}:
            assert " " not in s, s


class ScriptedRng:
    """Answers random() from a script and choice() with the first item, logging every draw."""

    def __init__(self, coins: list[float]):
        self.coins, self.log = list(coins), []

    def random(self) -> float:
        self.log.append("coin")
        return self.coins.pop(0)

    def choice(self, seq):
        self.log.append(seq[0])
        return seq[0]


# (Filler options, coins (time first; clause first where it opens the sentence), sentence, draws)
SHAPES = [
    ({}, [0.1, 0.1], "A B C T,K.", ["A", "B", "C", "coin", "T", "coin", ",K"]),
    ({}, [0.9, 0.9], "A B C.", ["A", "B", "C", "coin", "coin"]),
    ({"time_at": 1}, [0.1, 0.9], "A T B C.", ["A", "coin", "T", "B", "C", "coin"]),
    ({"time_at": 2, "end": "।"}, [0.1, 0.1], "A B T C,K।", ["A", "B", "coin", "T", "C", "coin", ",K"]),
    ({"time_at": 0}, [0.9, 0.9], "A B C.", ["coin", "A", "B", "C", "coin"]),
    ({"clause_joiner": " ", "joiner": ""}, [0.1, 0.1], "ABCT ,K.", ["A", "B", "C", "coin", "T", "coin", ",K"]),
    ({"clause_first": True, "time_at": 1, "clause_joiner": " "}, [0.1, 0.1], ",K A T B C.",
     ["coin", ",K", "A", "coin", "T", "B", "C"]),
    ({"clause_first": True, "time_at": 1}, [0.9, 0.9], "A B C.", ["coin", "A", "coin", "B", "C"]),
]


@pytest.mark.parametrize("options,coins,sentence,draws", SHAPES)
def test_filler_shape(options: dict, coins: list[float], sentence: str, draws: list[str]) -> None:
    shape = Filler(slots=(("A",), ("B",), ("C",)), times=("T",), clauses=(",K",), **options)
    rng = ScriptedRng(coins)
    assert shape(rng) == sentence
    assert rng.log == draws and not rng.coins


def test_filler_composes_from_many_parts(lang: Language) -> None:
    """Many distinct sentences from a long run: the slot lists really combine."""
    assert len(set(_sentences(lang, 5, 500))) >= 300
