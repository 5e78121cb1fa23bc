"""Pure scoring functions: no I/O, no state. Unicode-aware (NFKC, digits of any script)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from qlongbench.types import Score

_SPACE = re.compile(r"\s+")
# A number is a run of digits, or digit groups of three joined by a thousands separator
# (1,234,567 / 1.234.567 / 1 234 567 with narrow no-break spaces). Plain spaces do not join,
# so "12 345" stays two numbers.
_NUMBER = re.compile(r"\d{1,3}(?:[,.'\u00a0\u202f\u2009]\d{3})+(?!\d)|\d+")


def normalize(text: str) -> str:
    """NFKC (full-width forms become ASCII), casefold, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", text).strip()


def ascii_digits(text: str) -> str:
    """Digits of any script (Devanagari, Arabic-Indic, full-width ...) as ASCII 0-9."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def extract_numbers(text: str) -> list[str]:
    """Every whole number in the text, digits normalised, thousands separators removed.
    A number inside a longer digit run is not a match: '12345678' holds no '2345678'."""
    text = ascii_digits(unicodedata.normalize("NFKC", text))
    return [re.sub(r"\D", "", m.group(0)) for m in _NUMBER.finditer(text)]


def numbers_recall(expected: Sequence[str], output: str) -> Score:
    """Share of expected numbers that appear as whole numbers in the output (RULER's
    string_match_all, made strict about digits inside digits)."""
    found = set(extract_numbers(output))
    want = [ascii_digits(e) for e in expected]
    hits = sum(1 for e in want if e in found)
    return Score(score=hits / len(want) if want else 0.0, parsed=bool(found),
                 metrics={"n_numbers": float(len(found))})


def contains_phrase(haystack: str, phrase: str) -> bool:
    """Phrase present in text after normalisation. For scripts written with spaces the match
    must sit on word boundaries; for scripts without spaces a substring match is the only option."""
    h, p = normalize(haystack), normalize(phrase)
    if not p:
        return False
    if _spaced(p):
        return re.search(r"(?<!\w)" + re.escape(p) + r"(?!\w)", h) is not None
    return p in h


def _spaced(text: str) -> bool:
    """True unless the text is mostly in a script written without spaces (CJK, Thai ...)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return True
    unspaced = sum(1 for ch in letters if _unspaced_char(ch))
    return unspaced * 2 < len(letters)


def _unspaced_char(ch: str) -> bool:
    cp = ord(ch)
    return (0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF or 0x0E00 <= cp <= 0x0E7F or 0x0E80 <= cp <= 0x0EFF
            or 0x1000 <= cp <= 0x109F or 0x1780 <= cp <= 0x17FF)


def any_phrase(text: str, phrases: Iterable[str]) -> bool:
    return any(contains_phrase(text, p) for p in phrases)
