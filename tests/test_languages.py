"""Checks on the per-language text shipped in qlongbench.tasks.languages."""

from __future__ import annotations

import random
import string
import unicodedata

import pytest

from qlongbench.tasks.languages import Language, get_language, languages

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


# ---- per language --------------------------------------------------------------------------------


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


def test_filler_composes_from_many_parts(lang: Language) -> None:
    """Many distinct sentences from a long run: the slot lists really combine."""
    assert len(set(_sentences(lang, 5, 500))) >= 300
