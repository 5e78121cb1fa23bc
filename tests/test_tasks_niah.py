"""The NIAH family: needles are where the metadata says, exactly once; the none control; multi-key,
multi-value and multi-query variants; cross-lingual prompts; and an end-to-end CLI run of the
task families on the tiny model."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from qlongbench.tasks.base import BuildContext
from qlongbench.tasks.languages import get_language
from qlongbench.tasks.niah import NiahMultiKey, NiahMultiQuery, NiahMultiValue, NiahNone, NiahSingle
from qlongbench.tokenizer import PromptTokenizer


def build(task, tok, length=900, language="en", *, ilang=None, n=4, seed=0, options=None):
    ctx = BuildContext(tokenizer=tok, length=length, language=language, instruction_language=ilang or language,
                       n_samples=n, seed=seed, max_new_tokens=task.default_max_new_tokens)
    return task(options).build(ctx)


def assert_needle_at(tok, sample, text, pos):
    """The needle's text starts at token pos of the prompt and nowhere before it."""
    assert tok.decode(sample.prompt_ids[pos:]).lstrip().startswith(text)
    assert text not in tok.decode(sample.prompt_ids[:pos])


@pytest.mark.parametrize("language", ["en", "zh", "hi", "ar", "ja"])
def test_single_needle_present_exactly_once_where_metadata_says(tiny_tokenizer, language):
    samples = build(NiahSingle, tiny_tokenizer, language=language, n=5)
    for s in samples:
        m = s.metadata
        text = tiny_tokenizer.decode(s.prompt_ids)
        assert text.count(m["needle"]) == 1
        assert text.count(s.expected[0]) == 1
        assert_needle_at(tiny_tokenizer, s, m["needle"], m["needle_token_pos"])
        assert m["needle_token_pos"] < s.prefix_len  # the needle is in the shared context, not the question
    depths = [s.depth for s in samples]
    actual = [s.metadata["needle_depth_actual"] for s in samples]
    assert depths == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert actual == sorted(actual) and actual[0] == 0.0 and actual[-1] > 75.0


def test_single_keeps_its_sample_format(tiny_tokenizer):
    s = build(NiahSingle, tiny_tokenizer, n=1)[0]
    assert s.sample_id == "niah-single-en-900-0000"
    assert set(s.metadata) - {"filler_partial_chars"} == {
        "key", "needle", "needle_token_pos", "needle_depth_actual", "document_tokens", "filler_units", "slack"}
    assert s.metadata["needle"] == get_language("en").needle.format(key=s.metadata["key"], value=s.expected[0])
    assert len(s.expected) == 1 and len(s.expected[0]) == 7


def test_multikey_distractors_hold_other_keys_and_are_all_planted(tiny_tokenizer):
    for s in build(NiahMultiKey, tiny_tokenizer, n=3, options={"distractors": 4}):
        needles = s.metadata["needles"]
        assert [n["role"] for n in needles] == ["target"] + ["distractor"] * 4
        assert len({n["key"] for n in needles}) == 5 and len({n["value"] for n in needles}) == 5
        assert needles[0]["key"] == s.metadata["key"] and needles[0]["value"] == s.expected[0]
        assert s.metadata["distractors"] == 4
        text = tiny_tokenizer.decode(s.prompt_ids)
        for n in needles:
            assert text.count(n["text"]) == 1
            assert_needle_at(tiny_tokenizer, s, n["text"], n["token_pos"])
        # Needles appear in the order of their requested depths.
        by_depth = sorted(needles, key=lambda n: n["depth"])
        assert [n["token_pos"] for n in by_depth] == sorted(n["token_pos"] for n in needles)


def test_multikey_scoring_counts_distractor_values(tiny_tokenizer):
    task = NiahMultiKey()
    s = build(NiahMultiKey, tiny_tokenizer, n=1)[0]
    wrong = s.metadata["distractor_values"][0]
    assert task.score(s, s.expected[0]).score == 1.0
    verdict = task.score(s, f"It is {wrong}.")
    assert verdict.score == 0.0 and verdict.metrics["distractor_hits"] == 1.0


def test_multivalue_plants_every_value_of_one_key(tiny_tokenizer):
    task = NiahMultiValue({"values": 3})
    for s in build(NiahMultiValue, tiny_tokenizer, n=3, options={"values": 3}):
        needles = s.metadata["needles"]
        assert {n["key"] for n in needles} == {s.metadata["key"]}
        assert tuple(n["value"] for n in needles) == s.expected and len(set(s.expected)) == 3
        for n in needles:
            assert_needle_at(tiny_tokenizer, s, n["text"], n["token_pos"])
        assert task.score(s, ", ".join(s.expected)).score == 1.0
        assert task.score(s, s.expected[1]).score == pytest.approx(1 / 3)


def test_multiquery_asks_every_key_at_once(tiny_tokenizer):
    lang = get_language("en")
    for s in build(NiahMultiQuery, tiny_tokenizer, n=2):
        keys = s.metadata["keys"]
        question = tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])
        assert lang.question_multiquery.format(keys=", ".join(keys)) in question
        assert [n["key"] for n in s.metadata["needles"]] == keys
        assert NiahMultiQuery().score(s, " ".join(reversed(s.expected))).score == 1.0


def test_multiquery_split_shares_one_haystack_per_group(tiny_tokenizer):
    samples = build(NiahMultiQuery, tiny_tokenizer, n=8, options={"split": True, "queries": 4})
    groups: dict[tuple[int, ...], list] = {}
    for s in samples:
        groups.setdefault(s.prompt_ids[: s.prefix_len], []).append(s)
    assert sorted(len(g) for g in groups.values()) == [4, 4]
    for group in groups.values():
        # Samples j, j+2, j+4, j+6 share a haystack: each haystack's questions span the depths.
        assert len({s.index % 2 for s in group}) == 1
        assert len({s.metadata["key"] for s in group}) == 4
        for s in group:
            assert len(s.expected) == 1
            target = next(n for n in s.metadata["needles"] if n["key"] == s.metadata["key"])
            assert target["value"] == s.expected[0] and target["depth"] == s.depth
            assert_needle_at(tiny_tokenizer, s, s.metadata["needle"], s.metadata["needle_token_pos"])
            assert s.metadata["key"] in tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])


@pytest.mark.parametrize("language", ["en", "zh", "hi", "ko"])
def test_none_asks_for_an_absent_key(tiny_tokenizer, language):
    lang = get_language(language)
    task = NiahNone()
    for s in build(NiahNone, tiny_tokenizer, language=language, n=3):
        asked = s.metadata["key"]
        assert asked not in {n["key"] for n in s.metadata["needles"]}
        document = tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len])
        for value in s.metadata["distractor_values"]:
            assert document.count(value) == 1
        # No needle for the asked key, whatever its value (the key word itself may occur in filler).
        assert lang.needle.format(key=asked, value="\x00").split("\x00")[0] not in document
        question = tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])
        assert lang.none_rule.format(key=asked, none=lang.none_words[0]) in question
        assert s.expected == (lang.none_words[0],)
        assert task.score(s, lang.none_words[0]).score == 1.0
        assert task.score(s, s.metadata["distractor_values"][0]).score == 0.0
        assert task.score(s, f"{lang.none_words[0]} 1234567").score == 0.0
        assert task.score(s, "").score == 0.0


def test_none_option_adds_the_rule_to_other_niah_tasks(tiny_tokenizer):
    lang = get_language("en")
    plain = build(NiahSingle, tiny_tokenizer, n=1)[0]
    ruled = build(NiahSingle, tiny_tokenizer, n=1, options={"none_option": True})[0]
    rule = lang.none_rule.format(key=ruled.metadata["key"], none=lang.none_words[0])
    assert rule not in tiny_tokenizer.decode(plain.prompt_ids)
    assert rule in tiny_tokenizer.decode(ruled.prompt_ids[ruled.prefix_len:])


def test_cross_lingual_instructions_and_haystack(tiny_tokenizer):
    zh, en = get_language("zh"), get_language("en")
    for task in (NiahSingle, NiahMultiKey, NiahNone):
        s = build(task, tiny_tokenizer, language="en", ilang="zh", n=1)[0]
        assert s.sample_id.startswith(f"{task.name}-zh_en-")
        assert (s.language, s.instruction_language) == ("en", "zh")
        text = tiny_tokenizer.decode(s.prompt_ids)
        assert text.startswith(zh.instruction)
        assert zh.question.format(key=s.metadata["key"]) in tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])
        assert s.metadata["key"] in en.keys
        needle = s.metadata.get("needle") or s.metadata["needles"][0]["text"]
        assert needle.startswith("One of the special magic numbers")
    s = build(NiahNone, tiny_tokenizer, language="en", ilang="zh", n=1)[0]
    assert NiahNone().score(s, "none").score == 1.0  # the haystack language's none word counts too
    assert NiahNone().score(s, zh.none_words[1]).score == 1.0


def test_chat_template_prompts_share_prefix_ids(tiny_chat_model):
    tok = PromptTokenizer.load(str(tiny_chat_model))
    assert tok.use_chat_template
    samples = build(NiahMultiQuery, tok, n=4, options={"split": True})
    assert len({s.prompt_ids[: s.prefix_len] for s in samples}) == 1
    for s in samples:
        assert tok.decode(s.prompt_ids[s.prefix_len:]).rstrip().endswith("assistant|>")
        assert 900 - 4 <= len(s.prompt_ids) + s.max_new_tokens <= 900


def test_cli_runs_every_cell_of_the_task_families(tiny_model, tmp_path, monkeypatch):
    from qlongbench import cli

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "run"
    rc = cli.main(["run", "--model", str(tiny_model), "--tasks", "niah-multikey,niah-none,rag,summ-facts",
                   "--languages", "en,zh,hi", "--lengths", "512", "--samples", "2", "--out", str(out),
                   "--no-report", "-q"])
    assert rc == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    cells = Counter((r["task"], r["language"], r["length"]) for r in records)
    tasks = ("niah-multikey", "niah-none", "rag", "summ-facts")
    expected = {(t, lang, 512) for t in tasks for lang in ("en", "zh", "hi")}
    assert set(cells) == expected and set(cells.values()) == {2}
    for r in records:
        assert r["status"] == "ok", r
        assert 0.0 <= r["score"] <= 1.0
        assert 512 - 4 - 192 <= r["n_prompt_tokens"] <= 512
    for task, lang, length in expected:
        assert (out / "samples" / f"{task}-{lang}-{length}.jsonl").is_file()
