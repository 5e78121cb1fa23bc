"""Aggregation tasks: OneRuler's common-word extraction (cwe-easy, cwe-hard) and RULER's frequent-word
extraction (fwe). Lists read back from the frozen ids have the counts the sample says, the answer is
the unique top k, prompts fill their length, samples follow from the seed, and a list that cannot
fit is overlength."""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from qlongbench.errors import UserError
from qlongbench.tasks.aggregation import (NOISE_WORD, CommonWordsEasy, CommonWordsHard, FreqWords, alphabet,
                                          min_total, zeta, zipf_counts)
from qlongbench.tasks.base import BuildContext
from qlongbench.tasks.haystack import FIT_TOLERANCE
from qlongbench.tasks.languages import get_language
from qlongbench.tasks.wordlist import subset_sum

ENTRY = re.compile(r"(\d+)\. (\S+)")


def build(task, tok, length=2048, language="en", *, ilang=None, n=3, seed=0, options=None):
    ctx = BuildContext(tokenizer=tok, length=length, language=language, instruction_language=ilang or language,
                       n_samples=n, seed=seed, max_new_tokens=task.default_max_new_tokens)
    return task(options).build(ctx)


def document(tok, sample) -> str:
    start = sample.prefix_len - sample.metadata["document_tokens"]
    return tok.decode(sample.prompt_ids[start:sample.prefix_len])


def assert_fits(sample):
    budget = sample.length - sample.max_new_tokens
    assert budget - FIT_TOLERANCE <= len(sample.prompt_ids) <= budget
    assert sample.metadata["slack"] == budget - len(sample.prompt_ids)


# --- pure parts -----------------------------------------------------------------------------------
SUBSETS = [
    # (costs, target, best total)
    ((5, 6, 7), 4, 0),
    ((5, 6, 7), 12, 12),
    ((5, 6, 7), 17, 13),  # 5+7 or 6+7 = 13; 18 would overshoot
    ((1,) * 10, 7, 7),
    ((3, 3, 3), 8, 6),
    ((0, -1, 4), 4, 4),  # costs that are not positive are never chosen
    ((), 5, 0),
]


@pytest.mark.parametrize("costs,target,total", SUBSETS)
def test_subset_sum_takes_the_largest_total_within_target(costs, target, total):
    chosen = subset_sum(costs, target)
    assert len(set(chosen)) == len(chosen) and sum(costs[i] for i in chosen) == total


def test_zipf_counts_are_rulers():
    assert zeta(2.0) == pytest.approx(math.pi ** 2 / 6, abs=1e-9)
    assert zeta(3.0) == pytest.approx(1.2020569031595942, abs=1e-9)
    # RULER: int(num_words * k**-alpha / zeta(alpha)) for k = 1 ... vocab
    assert zipf_counts(1000, 6, 2.0) == [607, 151, 67, 37, 24, 16]
    n = min_total(2.0)
    for total in range(n, n + 400):
        c = zipf_counts(total, 8, 2.0)
        assert c[3] > c[4] >= c[5] and c[3] >= 1, total


def test_fwe_alphabet_is_the_languages_letters_or_ascii():
    assert alphabet(get_language("en"), "ascii") == list("abcdefghijklmnopqrstuvwxyz")
    hi = alphabet(get_language("hi"), "language")
    assert hi and all("\u0900" <= c <= "\u097f" and c.isalpha() for c in hi)
    assert all(c == c.lower() for c in alphabet(get_language("de"), "language"))


def test_cwe_frequencies_follow_oneruler():
    assert CommonWordsEasy().counts(4096) == (10, 1) and CommonWordsEasy().counts(8000) == (10, 1)
    assert CommonWordsEasy().counts(8192) == (30, 3)
    assert CommonWordsHard().counts(4096) == (10, 5) and CommonWordsHard().counts(16384) == (20, 10)
    assert CommonWordsHard({"freq_common": 7, "freq_uncommon": 2}).counts(4096) == (7, 2)


@pytest.mark.parametrize("options,needle", [
    ({"freq_common": 5}, "together"),
    ({"freq_common": 5, "freq_uncommon": 5}, "below"),
    ({"scoring": "most"}, "scoring"),
    ({"common": "10"}, "common"),
])
def test_cwe_bad_options_are_one_line_errors(options, needle):
    with pytest.raises(UserError) as info:
        CommonWordsEasy(options)
    assert needle in str(info.value) and "\n" not in str(info.value).strip()


# --- cwe ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", [CommonWordsEasy, CommonWordsHard])
@pytest.mark.parametrize("language,length", [("en", 2048), ("zh", 3072), ("hi", 3072)])
def test_cwe_list_holds_the_counts_it_claims(tiny_tokenizer, task, language, length):
    samples = build(task, tiny_tokenizer, length, language)
    words = set(get_language(language).synthetic.words)
    assert len(samples) == 3 and len({s.expected for s in samples}) == 3
    for s in samples:
        assert s.status == "ok", s.metadata
        assert_fits(s)
        m = s.metadata
        entries = ENTRY.findall(document(tiny_tokenizer, s))
        assert [int(i) for i, _ in entries] == list(range(1, len(entries) + 1)) and len(entries) == m["list_entries"]
        counts = Counter(w for _, w in entries)
        assert set(counts) <= words and len(counts) == m["distinct_words"]
        fc, fu = m["freq_common"], m["freq_uncommon"]
        assert (fc, fu) == tuple(x * m["repeat_scale"] for x in task().counts(length))
        assert len(s.expected) == 10 and all(counts[w] == fc for w in s.expected)
        others = [c for w, c in counts.items() if w not in s.expected]
        assert others and max(others) == m["max_other_count"] <= fu + 1 < fc
        assert Counter(others).most_common(1)[0][0] == fu  # the extras are few: most words appear fu times
        assert counts.most_common(10) and {w for w, _ in counts.most_common(10)} == set(s.expected)


def test_cwe_samples_follow_the_seed(tiny_tokenizer):
    a = build(CommonWordsHard, tiny_tokenizer, seed=5)
    b = build(CommonWordsHard, tiny_tokenizer, seed=5)
    c = build(CommonWordsHard, tiny_tokenizer, seed=6)
    assert [s.model_dump() for s in a] == [s.model_dump() for s in b]
    assert [s.prompt_sha256 for s in a] != [s.prompt_sha256 for s in c]


def test_cwe_repeats_words_more_often_when_the_word_list_runs_out(tiny_tokenizer):
    """The easy list at 8000 tokens needs more distinct words than the language ships: every count
    is multiplied, OneRuler's 10:1 ratio kept, and the sample says so."""
    (s,) = build(CommonWordsEasy, tiny_tokenizer, 8000, n=1)
    m = s.metadata
    assert s.status == "ok" and m["repeat_scale"] > 1
    assert (m["freq_common"], m["freq_uncommon"]) == (10 * m["repeat_scale"], m["repeat_scale"])
    assert_fits(s)


def test_cwe_too_short_is_overlength_not_cut(tiny_tokenizer):
    samples = build(CommonWordsEasy, tiny_tokenizer, 512, n=2)
    assert all(s.status == "overlength" and s.prompt_ids == () for s in samples)
    assert "10 common words x 10" in samples[0].metadata["reason"]


def test_cwe_cross_lingual_question_and_scoring(tiny_tokenizer):
    (s,) = build(CommonWordsHard, tiny_tokenizer, 3072, "zh", ilang="en", n=1)
    text = tiny_tokenizer.decode(s.prompt_ids)
    assert s.sample_id == "cwe-hard-en_zh-3072-0000"
    assert text.lstrip().startswith(get_language("en").synthetic.cwe_instruction)
    assert all("\u4e00" <= w[0] <= "\u9fff" for w in s.expected)
    task = CommonWordsHard()
    assert task.score(s, "、".join(s.expected)).score == 1.0
    half = task.score(s, " ".join(s.expected[:5]))
    assert half.score == 0.5 and half.metrics["all_found"] == 0.0
    assert CommonWordsHard({"scoring": "all"}).score(s, " ".join(s.expected[:5])).score == 0.0


# --- fwe ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("language,length,letters", [("en", 1024, "language"), ("zh", 2048, "language"),
                                                     ("hi", 2048, "language"), ("en", 2048, "ascii")])
def test_fwe_text_has_zipf_counts_and_one_clear_top_three(tiny_tokenizer, language, length, letters):
    samples = build(FreqWords, tiny_tokenizer, length, language, options={"letters": letters})
    lang = get_language(language)
    for s in samples:
        assert s.status == "ok", s.metadata
        assert_fits(s)
        words = document(tiny_tokenizer, s).split(" ")
        counts = Counter(words)
        assert len(words) == s.metadata["total_words"] and counts.most_common(1)[0][0] == NOISE_WORD
        coded = [(w, c) for w, c in counts.most_common() if w != NOISE_WORD]
        assert {w for w, _ in coded[:3]} == set(s.expected)
        assert coded[2][1] > coded[3][1]
        assert [counts[w] for w in (NOISE_WORD, *s.expected)] == s.metadata["top_counts"][:4]
        assert s.metadata["vocab_size"] == (length - 50) // 50
        size = 3 if lang.script == "Hans" and letters == "language" else 6
        letters_of = set(alphabet(lang, letters))
        assert all(len(w) == size and set(w) <= letters_of for w, _ in coded)


def test_fwe_samples_follow_the_seed_and_too_short_is_overlength(tiny_tokenizer):
    assert [s.prompt_sha256 for s in build(FreqWords, tiny_tokenizer, 1024)] == [
        s.prompt_sha256 for s in build(FreqWords, tiny_tokenizer, 1024)]
    short = build(FreqWords, tiny_tokenizer, 256, n=1)[0]
    assert short.status == "overlength" and "clear top three" in short.metadata["reason"]


def test_fwe_scoring_is_the_share_of_the_top_three(tiny_tokenizer):
    (s,) = build(FreqWords, tiny_tokenizer, 1024, n=1)
    task = FreqWords()
    assert task.score(s, " ".join(s.expected)).score == 1.0
    assert task.score(s, f"{s.expected[0]}, {NOISE_WORD}").score == pytest.approx(1 / 3)
    assert task.score(s, s.expected[0] + "x").score == 0.0


# --- every build path on a real tokenizer -------------------------------------------------------------
def test_real_tokenizer_fills_each_length(smollm2):
    from qlongbench.tokenizer import PromptTokenizer

    tok = PromptTokenizer.load(str(smollm2))
    for task, length, language in ((CommonWordsEasy, 1024, "en"), (CommonWordsHard, 4096, "zh"),
                                   (FreqWords, 2048, "hi")):
        for s in build(task, tok, length, language, n=2):
            assert s.status == "ok", (task.name, s.metadata)
            assert_fits(s)


# --- end to end -------------------------------------------------------------------------------------
def test_cli_run_report_and_check_with_the_new_tasks(tiny_model, tmp_path, monkeypatch):
    """`qlongbench run` on the tiny model builds, answers and scores every cell of cwe-easy, cwe-hard,
    fwe and vt (a non-Latin language included); the report and the gate take them like any task. The
    random model scores 0, so vt's records are then given graded scores, as a model that names some
    of the variables gets: the report pairs them with the sign-flip test."""
    import json

    from qlongbench.cli import main
    from qlongbench.run.store import RunDir

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "run"
    tasks = ("cwe-easy", "cwe-hard", "fwe", "vt")
    assert main(["run", "--model", str(tiny_model), "--precisions", "bf16,fp32", "--tasks", ",".join(tasks),
                 "--languages", "en,zh", "--lengths", "2048", "--samples", "2", "--out", str(out),
                 "--no-report", "-q"]) == 0
    records = RunDir(out).records()
    assert {(r.task, r.language, r.precision) for r in records} == {
        (t, lang, p) for t in tasks for lang in ("en", "zh") for p in ("bf16", "fp32")}
    assert len(records) == 32 and all(r.status == "ok" and 0.0 <= r.score <= 1.0 for r in records)
    budgets = {"cwe-easy": 120, "cwe-hard": 120, "fwe": 50, "vt": 30}  # RULER's answer budgets
    assert all(r.n_generated_tokens <= budgets[r.task] for r in records)
    header = RunDir(out).read_header()
    assert {t: header.plan.generation(t).max_new_tokens for t in tasks} == budgets

    graded = {"bf16": (1.0, 0.8), "fp32": (0.4, 0.6)}
    lines = []
    for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["task"] == "vt":
            row["score"] = graded[row["precision"]][int(row["sample_id"][-1])]
        lines.append(json.dumps(row, ensure_ascii=False))
    (out / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report), "-q"]) == 0
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert {c["key"]["task"] for c in results["cells"]} == set(tasks)
    drops = {(d["task"], d["language"]): d for d in results["drops"]}
    assert set(drops) == {(t, lang) for t in tasks for lang in ("en", "zh")}
    for lang in ("en", "zh"):
        vt = drops[("vt", lang)]["paired"]
        assert vt["method"].startswith("sign-flip") and vt["drop"] == pytest.approx(0.4)
        assert drops[("cwe-easy", lang)]["paired"]["method"].startswith("exact unconditional McNemar")
    summary = (report / "summary.md").read_text(encoding="utf-8")
    assert all(f"| {t} | zh | 2048 |" in summary for t in tasks)

    gate = tmp_path / "gate.md"
    code = main(["check", str(out), "--max-drop", "10", "--min-samples", "2", "--markdown", str(gate), "-q"])
    assert code in (0, 1)  # a verdict, not a usage error
    assert all(t in gate.read_text(encoding="utf-8") for t in tasks)
