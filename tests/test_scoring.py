"""Table-driven tests of the pure metric functions in qlongbench.tasks.scoring."""

from __future__ import annotations

import pytest

from qlongbench.tasks.scoring import (
    answer_tokens,
    contains_word,
    exact_match,
    extract_numbers,
    fact_coverage,
    list_items,
    none_score,
    normalize_answer,
    numbers_recall,
    qa_score,
    rouge_l,
    says_none,
    substring_match,
    token_f1,
    words_recall,
)

# --- numbers -------------------------------------------------------------------------------

NUMBERS = [
    # (expected values, output, score)
    (("4821937",), "The special magic number is 4821937.", 1.0),
    (("4821937",), "14821937", 0.0),  # a number inside a longer number is not the number
    (("4821937",), "48219370 and 482193", 0.0),
    (("4821937",), "4,821,937", 1.0),  # thousands separators
    (("4821937",), "4 821 937", 0.0),  # plain spaces split numbers
    (("4821937",), "４８２１９３７", 1.0),  # full-width digits
    (("4821937",), "数字是４８２１９３７。", 1.0),  # CJK around full-width digits
    (("4821937",), "संख्या ४८२१९३७ है", 1.0),  # Devanagari digits
    (("4821937",), "الرقم ٤٨٢١٩٣٧", 1.0),  # Arabic-Indic digits
    (("4821937",), "", 0.0),  # empty output
    (("1111111", "2222222"), "1111111, then 2222222", 1.0),
    (("1111111", "2222222"), "only 2222222", 0.5),
    (("1111111", "2222222"), "12222222 and 11111112", 0.0),
]


@pytest.mark.parametrize("expected,output,score", NUMBERS)
def test_numbers_recall(expected, output, score):
    assert numbers_recall(expected, output).score == pytest.approx(score)


def test_numbers_recall_parsed_flag():
    assert numbers_recall(("1",), "").parsed is False
    assert numbers_recall(("1",), "no idea").parsed is False
    assert numbers_recall(("1",), "2").parsed is True


def test_extract_numbers_keeps_whole_runs():
    assert extract_numbers("a12b345 6") == ["12", "345", "6"]
    assert extract_numbers("１２３") == ["123"]


# --- words (cwe, fwe, vt: RULER's string_match_all) ----------------------------------------

WORDS = [
    # (expected words, output, score, all_found)
    (("apple", "river", "lantern"), "1. apple 2. river 3. lantern", 1.0, 1.0),
    (("apple", "river", "lantern"), "Apple, RIVER and a Lantern.", 1.0, 1.0),  # any case
    (("apple", "river", "lantern"), "apples, rivers", 0.0, 0.0),  # a longer word is another word
    (("cat", "dog"), "category dogma", 0.0, 0.0),  # RULER's substring match would count both
    (("cat", "dog"), "cat; dog-like", 1.0, 1.0),  # punctuation and hyphens end a word
    (("apple", "river"), "river", 0.5, 0.0),
    (("apple",), "", 0.0, 0.0),
    (("QPWOE", "ZKDMA"), "QPWOE ZKDMAX", 0.5, 0.0),  # a variable inside a longer name is not named
    (("QPWOE", "ZKDMA"), "qpwoe, zkdma", 1.0, 1.0),  # RULER lowercases both sides
    (("QPWOE",), "VAR QPWOE = 52810", 1.0, 1.0),
    (("ardrkf", "qcofkf", "dzehmh"), "ardrkf qcofkf ... dzehmh", 1.0, 1.0),
    (("ardrkf",), "ardrkff", 0.0, 0.0),
    (("苹果", "香蕉"), "最常见的是苹果和香蕉。", 1.0, 1.0),  # no spaces in Chinese: substring
    (("苹果", "香蕉"), "苹果、葡萄", 0.5, 0.0),
    (("苹果",), "ＡＢ苹果", 1.0, 1.0),  # NFKC (full-width forms)
    (("कल", "घर"), "कला और घर", 0.5, 0.0),  # a vowel sign continues the word: कल is not in कला
    (("किताब", "कलम"), "किताब, कलम", 1.0, 1.0),
    (("दरवाज़ा",), "दरवाज़ा", 1.0, 1.0),  # precomposed and decomposed nukta are one letter after NFKC
    (("Straße",), "STRASSE", 1.0, 1.0),  # casefold
    (("кошка", "собака"), "Кошка, собаки", 0.5, 0.0),
    (("بيت",), "البيت", 0.0, 0.0),  # a word inside a longer Arabic word is not the word
    (("แมว", "หมา"), "แมวและหมา", 1.0, 1.0),  # no spaces in Thai: substring
    (("사과", "바나나"), "사과를 좋아하고 바나나도", 1.0, 1.0),  # Korean particles attach to the word
    (("사과",), "사자", 0.0, 0.0),
]


@pytest.mark.parametrize("expected,output,score,all_found", WORDS)
def test_words_recall(expected, output, score, all_found):
    verdict = words_recall(expected, output)
    assert verdict.score == pytest.approx(score)
    assert verdict.metrics["all_found"] == all_found
    assert verdict.metrics["n_found"] == round(score * len(expected))


def test_words_recall_parsed_flag():
    assert words_recall(("a",), "").parsed is False
    assert words_recall(("a",), " ... ").parsed is False
    assert words_recall(("apple",), "pear").parsed is True
    assert words_recall((), "pear").score == 0.0


def test_contains_word_finds_a_later_whole_occurrence():
    assert contains_word("category, then cat", "cat")
    assert not contains_word("anything", "")


# --- none words ----------------------------------------------------------------------------

NONE_WORDS_EN = ("none", "no number", "not mentioned", "nothing")
NONE = [
    # (none words, output, score)
    (NONE_WORDS_EN, "none", 1.0),
    (NONE_WORDS_EN, "None.", 1.0),
    (NONE_WORDS_EN, "The answer is none, the key is absent.", 1.0),  # inside a sentence
    (NONE_WORDS_EN, "NONE", 1.0),
    (NONE_WORDS_EN, "Ｎｏｎｅ", 1.0),  # full-width letters
    (NONE_WORDS_EN, "The number is not mentioned in the text.", 1.0),
    (NONE_WORDS_EN, "nonetheless it is 4821937", 0.0),  # no none word, a number
    (NONE_WORDS_EN, "nonetheless", 0.0),  # "none" inside a word does not count
    (NONE_WORDS_EN, "none... actually 4821937", 0.0),  # any number is a hallucination
    (NONE_WORDS_EN, "none 0", 0.0),
    (NONE_WORDS_EN, "4821937", 0.0),
    (NONE_WORDS_EN, "", 0.0),
    (("没有", "无"), "文中没有提到这个数字。", 1.0),  # CJK: no word boundaries
    (("没有", "无"), "没有，是４８２１９３７", 0.0),  # full-width digits still count as a number
    (("कोई नहीं", "नहीं"), "इसका उत्तर कोई नहीं है।", 1.0),  # Devanagari
    (("कोई नहीं", "नहीं"), "उत्तर ४८२१९३७ है, नहीं", 0.0),  # Devanagari digits
    (("なし",), "答え：なし", 1.0),
]


@pytest.mark.parametrize("words,output,score", NONE)
def test_none_score(words, output, score):
    assert none_score(words, output).score == score


def test_says_none_parsed_flag():
    assert says_none("None.", NONE_WORDS_EN)
    assert not says_none("nonetheless", NONE_WORDS_EN)
    assert none_score(NONE_WORDS_EN, "").parsed is False
    assert none_score(NONE_WORDS_EN, "42").parsed is True  # a number is an answer, a wrong one


# --- SQuAD-style answers -------------------------------------------------------------------

NORMALIZE = [
    ("The Eiffel Tower!", "en", "eiffel tower"),
    ("  an   Apple  ", "en", "apple"),
    ("Der Hund", "de", "hund"),
    ("l'Italie", "fr", "italie"),
    ("ＡＢＣ　１２３", "en", "abc 123"),  # NFKC: full-width letters, digits and space
    ("北京。", None, "北京"),
    ("१९५७", None, "1957"),
    ("The", None, "the"),  # articles are removed only for a language that has them
]


@pytest.mark.parametrize("text,language,normalized", NORMALIZE)
def test_normalize_answer(text, language, normalized):
    assert normalize_answer(text, language) == normalized


TOKENS = [
    ("北京2008年", ["北", "京", "2008", "年"]),
    ("東京タワー", ["東", "京", "タ", "ワ", "ー"]),
    ("김민준 씨는", ["김", "민", "준", "씨", "는"]),
    ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),  # Devanagari is written with spaces: words
    ("สวัสดี", ["ส", "วั", "ส", "ดี"]),  # Thai: characters, combining vowels kept with their base
    ("Hello, World", ["hello", "world"]),
]


@pytest.mark.parametrize("text,tokens", TOKENS)
def test_answer_tokens(text, tokens):
    assert answer_tokens(text, None) == tokens


QA = [
    # (gold answers, output, language, substring match, exact match, f1)
    (("Lisbon",), "Lisbon", "en", 1, 1, 1.0),
    (("Lisbon",), "She lives in Lisbon.", "en", 1, 0, 0.4),
    (("Lisbon",), "lisbon!", "en", 1, 1, 1.0),
    (("1957",), "19575", "en", 0, 0, 0.0),  # numbers inside numbers
    (("1957",), "１９５７", "en", 1, 1, 1.0),  # full-width digits
    (("the Beatles",), "Beatles", "en", 1, 1, 1.0),  # articles
    (("New York City",), "New York", "en", 0, 0, 0.8),
    (("杭州",), "王伟住在杭州。", "zh", 1, 0, 0.5),  # CJK character tokens
    (("杭州",), "杭", "zh", 0, 0, 2 / 3),
    (("जयपुर",), "अनिल शर्मा जयपुर में रहते हैं।", "hi", 1, 0, 2 / 7),  # Devanagari words
    (("जयपुर",), "जयपुरी", "hi", 0, 0, 0.0),
    (("Lisbon",), "", "en", 0, 0, 0.0),  # empty output
    (("Lisbon", "Lisboa"), "Lisboa", "en", 1, 1, 1.0),  # best over gold answers
]


@pytest.mark.parametrize("golds,output,language,sub,em,f1", QA)
def test_qa_metrics(golds, output, language, sub, em, f1):
    verdict = qa_score(golds, output, language)
    assert verdict.score == sub
    assert verdict.metrics["substring_match"] == sub
    assert verdict.metrics["exact_match"] == em
    assert verdict.metrics["f1"] == pytest.approx(f1)


def test_qa_primitives_agree():
    assert substring_match("born in 1957.", "1957")
    assert not substring_match("", "1957")
    assert exact_match("The answer", "answer")
    assert not exact_match("", "")
    assert token_f1("", "") == 1.0  # SQuAD: both empty
    assert token_f1("x", "") == 0.0
    assert qa_score(("a",), "").parsed is False


# --- fact coverage -------------------------------------------------------------------------

FACTS_EN = [
    (("Amara Ashdown", "Ashdown"), ("Lisbon",)),
    (("Bruno Vance", "Vance"), ("Biscuit",)),
    (("Clara Ives", "Ives"), ("417",)),
]

COVERAGE = [
    # (facts, output, coverage, unmatched share, items)
    (FACTS_EN, "- Amara Ashdown lives in Lisbon.\n- Bruno Vance has a dog named Biscuit.\n- Clara Ives likes 417.",
     1.0, 0.0, 3),
    (FACTS_EN, "Key facts:\n1. Ashdown lives in Lisbon.\n2) Vance's dog: Biscuit", 2 / 3, 0.0, 2),  # family names
    (FACTS_EN, "1. Amara Ashdown lives in Lisbon.\n2. Dmitri Oakhurst owns a boat.", 1 / 3, 0.5, 2),  # invented item
    (FACTS_EN, "Clara Ives: 4170", 0.0, 1.0, 1),  # numbers inside numbers
    (FACTS_EN, "Clara Ives's favourite number is 417.", 1 / 3, 0.0, 1),  # possessive after the name
    (FACTS_EN, "Amara Ashdown lives in Lisbon. Clara Ives likes ４１７.", 2 / 3, 0.0, 2),  # one line, sentences
    (FACTS_EN, "Lisbon, Biscuit, 417", 0.0, 1.0, 1),  # values without names cover nothing
    (FACTS_EN, "", 0.0, 0.0, 0),  # empty output
    ([(("王伟",), ("杭州",)), (("李娜",), ("旺财",))], "1. 王伟住在杭州。\n2. 李娜养了一只狗。", 0.5, 0.5, 2),
    ([(("王伟",), ("杭州",))], "王伟住在杭州。李娜住在成都。", 1.0, 0.5, 2),  # CJK sentences on one line
    ([(("अनिल शर्मा", "शर्मा"), ("जयपुर",))], "• शर्मा जी जयपुर में रहते हैं।", 1.0, 0.0, 1),  # Devanagari
    ([(("김민준",), ("서울",))], "김민준 씨는 서울에 삽니다.", 1.0, 0.0, 1),  # Hangul with particles
]


@pytest.mark.parametrize("facts,output,coverage,unmatched,items", COVERAGE)
def test_fact_coverage(facts, output, coverage, unmatched, items):
    verdict = fact_coverage(facts, output)
    assert verdict.score == pytest.approx(coverage)
    assert verdict.metrics["unmatched_share"] == pytest.approx(unmatched)
    assert verdict.metrics["n_items"] == items
    assert verdict.parsed is (items > 0)


def test_list_items_strips_bullets_and_headers():
    assert list_items("Facts:\n* one\n• two\n3) three\n(4) four\n\n") == ["one", "two", "three", "four"]


# --- ROUGE-L -------------------------------------------------------------------------------

ROUGE = [
    # (reference, prediction, F1)
    ("the cat sat on the mat", "the cat sat on the mat", 1.0),
    ("the cat sat on the mat", "the cat sat", 2 * (1.0 * 0.5) / 1.5),
    ("the cat sat on the mat", "", 0.0),  # empty output
    ("the cat sat on the mat", "dogs bark", 0.0),
    ("北京是中国的首都", "北京是中国的首都", 1.0),  # CJK: rouge-score's own tokenizer would give 0
    ("北京是中国的首都", "中国的首都是北京", 0.625),
    ("दिल्ली भारत की राजधानी है", "भारत की राजधानी दिल्ली है", 0.8),  # Devanagari words
    ("Москва столица России", "Москва столица", 0.8),  # Cyrillic
    ("ＡＢＣ", "abc", 1.0),  # NFKC + case
]


@pytest.mark.parametrize("reference,prediction,f1", ROUGE)
def test_rouge_l(reference, prediction, f1):
    assert rouge_l(reference, prediction).score == pytest.approx(f1)
