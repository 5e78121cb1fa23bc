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


# --- words (aggregation and tracing tasks) -----------------------------------------------

def _word_char(ch: str) -> bool:
    """A character that continues a word: a letter, a digit, "_" or a combining mark (Devanagari
    and Tamil vowel signs are marks, not letters: "कल" is not a whole word inside "कला")."""
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def contains_word(text: str, word: str) -> bool:
    """The word occurs in the text after NFKC and casefolding: as a whole word (no letter, digit or
    combining mark right before or after it) where the word's script uses spaces, as a substring
    where it does not (CJK, Thai) and in Hangul, whose particles attach to the word ("사과를" names
    사과). "cat" is not in "category"; "ABCDE" is not in "ABCDEF"."""
    t, w = normalize(text), normalize(word)
    if not w:
        return False
    if not _spaced(w) or all(_char_token(ch) for ch in w if ch.isalpha()):
        return w in t
    start = t.find(w)
    while start >= 0:
        end = start + len(w)
        if (start == 0 or not _word_char(t[start - 1])) and (end == len(t) or not _word_char(t[end])):
            return True
        start = t.find(w, start + 1)
    return False


def words_recall(expected: Sequence[str], output: str) -> Score:
    """RULER's string_match_all over words: the share of the expected words that the output names
    (contains_word: whole words, case-insensitive). metrics['all_found'] is OneRuler's cwe verdict
    (1 only when every expected word is named); metrics['n_found'] the count. `parsed`: the output
    holds any letter at all."""
    found = sum(1 for e in expected if contains_word(output, e))
    share = found / len(expected) if expected else 0.0
    return Score(score=share, parsed=any(ch.isalpha() for ch in output),
                 metrics={"all_found": float(bool(expected) and found == len(expected)), "n_found": float(found)})


# --- none words (hallucination control) ---------------------------------------------------

def says_none(output: str, none_words: Iterable[str]) -> bool:
    """The output contains one of the localized "none" words, on word boundaries where the script
    uses spaces ("None.", "The answer is none" count; "nonetheless" does not)."""
    return any_phrase(output, none_words)


def none_score(none_words: Sequence[str], output: str) -> Score:
    """1 when the output says "none" and names no number at all; any number scores 0 (answering
    with a made-up or distractor value is the hallucination this task measures)."""
    numbers = extract_numbers(output)
    said = says_none(output, none_words)
    return Score(score=1.0 if said and not numbers else 0.0, parsed=said or bool(numbers),
                 metrics={"said_none": float(said), "n_numbers": float(len(numbers))})


# --- SQuAD-style answers ------------------------------------------------------------------

# Articles removed before comparing answers, after SQuAD (English) and MLQA (per language).
# Elided articles (l', dell') are cut before punctuation is removed.
_ARTICLES: dict[str, str] = {
    "en": r"a|an|the",
    "de": r"ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des",
    "es": r"un|una|unos|unas|el|la|los|las",
    "fr": r"le|la|les|un|une|des",
    "it": r"il|lo|la|i|gli|le|un|uno|una",
    "pt": r"o|a|os|as|um|uma|uns|umas",
    "nl": r"de|het|een",
}
_ELIDED = re.compile(r"(?<!\w)(?:l|dell|dall|nell|sull|all|un)['\u2019](?=\w)")


def _strip_punctuation(text: str, replacement: str = "") -> str:
    # SQuAD deletes punctuation (so "don't" -> "dont"); symbols ($, %, +) go too.
    return "".join(replacement if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in text)


def normalize_answer(text: str, language: str | None = "en", *, split_punctuation: bool = False) -> str:
    """SQuAD normalisation made Unicode-aware: NFKC (full-width forms), digits of any script as
    ASCII, casefold, articles of `language` removed, punctuation removed (or, with
    split_punctuation, turned into spaces so that "Ives's" still holds "Ives"), whitespace collapsed."""
    text = ascii_digits(unicodedata.normalize("NFKC", text)).casefold()
    if language in ("fr", "it"):
        text = _ELIDED.sub(" ", text)
    articles = _ARTICLES.get(language or "")
    if articles:
        text = re.sub(rf"(?<!\w)(?:{articles})(?!\w)", " ", text)
    text = _strip_punctuation(text, " " if split_punctuation else "")
    return _SPACE.sub(" ", text).strip()


def _char_token(ch: str) -> bool:
    """Characters compared one by one: scripts without spaces, and Hangul, whose particles attach
    to the word before them (김민준은 still holds 김민준; KorQuAD scores characters too)."""
    cp = ord(ch)
    return _unspaced_char(ch) or 0xAC00 <= cp <= 0xD7A3 or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F


def script_tokens(text: str) -> list[str]:
    """Tokens of already-normalised text: whitespace-separated words, except that characters of
    scripts written without spaces (CJK, kana, Thai, Lao, Myanmar, Khmer) and Hangul syllables are
    one token each, and digit runs inside them are tokens of their own ("北京2008年" -> 北 京 2008 年).
    Combining marks stay with the character they modify."""
    tokens: list[str] = []
    for word in text.split():
        run = ""
        for ch in word:
            if unicodedata.category(ch).startswith("M") and (run or tokens):
                if run:
                    run += ch
                else:
                    tokens[-1] += ch
            elif _char_token(ch):
                if run:
                    tokens.append(run)
                    run = ""
                tokens.append(ch)
            else:
                run += ch
        if run:
            tokens.append(run)
    return tokens


def answer_tokens(text: str, language: str | None = "en", *, split_punctuation: bool = False) -> list[str]:
    return script_tokens(normalize_answer(text, language, split_punctuation=split_punctuation))


def _contains_run(tokens: Sequence[str], run: Sequence[str]) -> bool:
    """run occurs as a contiguous run of whole tokens (so "1957" is not inside "19575")."""
    n = len(run)
    if n == 0:
        return False
    return any(list(tokens[i:i + n]) == list(run) for i in range(len(tokens) - n + 1))


def exact_match(prediction: str, gold: str, language: str | None = "en") -> bool:
    return normalize_answer(prediction, language) == normalize_answer(gold, language) != ""


def substring_match(prediction: str, gold: str, language: str | None = "en") -> bool:
    """The normalised gold answer appears in the normalised prediction as whole tokens."""
    return _contains_run(answer_tokens(prediction, language), answer_tokens(gold, language))


def token_f1(prediction: str, gold: str, language: str | None = "en") -> float:
    """SQuAD token F1, with character tokens for scripts written without spaces."""
    from collections import Counter

    pred, ref = answer_tokens(prediction, language), answer_tokens(gold, language)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def qa_score(golds: Sequence[str], output: str, language: str | None = "en") -> Score:
    """Main score: substring exact match (any gold answer inside the output, 1/0); secondary:
    strict exact match and token F1, each the best over the gold answers."""
    sub = max((substring_match(output, g, language) for g in golds), default=False)
    em = max((exact_match(output, g, language) for g in golds), default=False)
    f1 = max((token_f1(output, g, language) for g in golds), default=0.0)
    return Score(score=float(sub), parsed=bool(normalize_answer(output, language)),
                 metrics={"substring_match": float(sub), "exact_match": float(em), "f1": f1})


# --- planted-fact coverage ----------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*\u2022\u00b7\u25cf\u30fb>]+|\(?\d+[.)\u3001:]|\(?[a-zA-Z][.)]|[\u2460-\u2473])\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f\u0964\u061f])\s+|(?<=[\u3002\uff01\uff1f])")


def list_items(output: str) -> list[str]:
    """The items of a listed answer: one per line (bullets and numbering stripped); a single line
    holding several sentences is split into sentences. Header lines ending in a colon are not items."""
    lines = [_BULLET.sub("", line).strip() for line in unicodedata.normalize("NFKC", output).splitlines()]
    lines = [line for line in lines if line and not line.endswith(":")]
    if len(lines) == 1:
        lines = [s.strip() for s in _SENTENCE_END.split(lines[0]) if s.strip()]
    return [line for line in lines if normalize_answer(line, None)]


FactTerms = Sequence[Sequence[str]]
"""A fact's key terms: every group must be matched by one of its alternatives
(e.g. ((full name, family name), (value,)))."""


def item_covers(item: str, terms: FactTerms) -> bool:
    """Every term group has an alternative in the item, as whole tokens. Punctuation separates
    tokens here (possessives: "Ives's dog" names Ives), unlike SQuAD's answer comparison."""
    toks = answer_tokens(item, None, split_punctuation=True)
    return all(any(_contains_run(toks, answer_tokens(alt, None, split_punctuation=True)) for alt in group)
               for group in terms)


def fact_coverage(facts: Sequence[FactTerms], output: str) -> Score:
    """Share of facts covered by some listed item (score), and the share of listed items that
    match no fact (metrics['unmatched_share']: invented or irrelevant items)."""
    items = list_items(output)
    covered = [any(item_covers(item, f) for item in items) for f in facts]
    unmatched = [item for item in items if not any(item_covers(item, f) for f in facts)]
    coverage = sum(covered) / len(facts) if facts else 0.0
    return Score(score=coverage, parsed=bool(items),
                 metrics={"coverage": coverage, "n_items": float(len(items)),
                          "unmatched_share": len(unmatched) / len(items) if items else 0.0})


# --- ROUGE-L ------------------------------------------------------------------------------

def _rouge_scorer():
    from rouge_score import rouge_scorer, tokenizers

    class ScriptTokenizer(tokenizers.Tokenizer):
        """rouge-score's default tokenizer keeps only [a-z0-9] and so scores any CJK, Devanagari or
        Cyrillic summary 0; this one keeps every script (character tokens where there are no spaces)."""

        def tokenize(self, text: str) -> list[str]:
            return answer_tokens(text, None)

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=ScriptTokenizer())


_SCORER = None


def rouge_l(reference: str, prediction: str) -> Score:
    """ROUGE-L F-measure (rouge-score library) on script-aware tokens; precision/recall as metrics."""
    global _SCORER
    if _SCORER is None:
        _SCORER = _rouge_scorer()
    if not answer_tokens(prediction, None) or not answer_tokens(reference, None):
        return Score(score=0.0, parsed=bool(answer_tokens(prediction, None)),
                     metrics={"rougeL_precision": 0.0, "rougeL_recall": 0.0})
    s = _SCORER.score(reference, prediction)["rougeL"]
    return Score(score=s.fmeasure, parsed=True,
                 metrics={"rougeL_precision": s.precision, "rougeL_recall": s.recall})
