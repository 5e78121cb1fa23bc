"""RAG: the gold passage is in the prompt exactly where the metadata says, distractors never answer
the question, several questions can share one context, and real QA data (SQuAD- and
HotpotQA-style rows read with `datasets` from local files) fits the same way."""

from __future__ import annotations

import json
import random

import pytest

from qlongbench.errors import UserError
from qlongbench.tasks.base import BuildContext
from qlongbench.tasks.facts import fact_languages, fact_templates
from qlongbench.tasks.haystack import FIT_TOLERANCE
from qlongbench.tasks.rag import Rag


def build(tok, length=900, language="en", *, ilang=None, n=4, seed=0, options=None):
    ctx = BuildContext(tokenizer=tok, length=length, language=language, instruction_language=ilang or language,
                       n_samples=n, seed=seed, max_new_tokens=Rag.default_max_new_tokens)
    return Rag(options).build(ctx)


def assert_at(tok, sample, text, pos):
    assert tok.decode(sample.prompt_ids[pos:]).lstrip().startswith(text)
    assert text not in tok.decode(sample.prompt_ids[:pos])


@pytest.mark.parametrize("language", ["en", "hi", "ru", "zh", "ko"])
def test_gold_passage_is_where_the_metadata_says(tiny_tokenizer, language):
    samples = build(tiny_tokenizer, language=language, n=5)
    for s in samples:
        m = s.metadata
        (gold,) = m["gold_passages"]
        (pos,) = m["gold_token_pos"]
        document = tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len])
        assert document.count(gold) == 1
        assert_at(tiny_tokenizer, s, gold, pos)
        assert s.expected[0] in gold and m["attribute"] in ("city", "pet", "number")
        assert m["question"] in tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])
        assert m["distractors"] >= 1
        if language in ("en", "hi", "ru"):  # spaced scripts: no other passage is about the same person
            assert document.count(m["entity"]) == 3
    actual = [s.metadata["gold_depth_actual"][0] for s in samples]
    assert [s.depth for s in samples] == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert actual == sorted(actual) and actual[0] == 0.0


def test_every_fact_language_is_complete_and_formats():
    assert len(fact_languages()) >= 14
    for code in fact_languages():
        fl = fact_templates(code)
        assert len(set(fl.given_names)) >= 20 and len(set(fl.family_names)) >= 20, code
        assert len(set(fl.cities)) >= 16 and len(set(fl.pets)) >= 16, code
        for attr, value in (("city", "Qcity"), ("pet", "Qpet"), ("number", "4242")):
            fact = fl.fact_template(attr).format(name="Qname", **{attr: value})
            assert "Qname" in fact and value in fact, (code, attr)
            question = fl.question_template(attr).format(name="Qname")
            assert "Qname" in question and value not in question, (code, attr)
        for text in (fl.rag_instruction, fl.facts_instruction, fl.facts_question, fl.summary_instruction):
            assert text.strip() and "{" not in text, code


@pytest.mark.parametrize("language,ilang", [("fi", "fi"), ("en", "sw"), ("sw", "en")])
def test_a_language_without_fact_templates_is_refused_naming_its_file(tiny_tokenizer, language, ilang):
    missing = ilang if ilang != "en" else language
    assert missing not in Rag.languages()
    with pytest.raises(UserError, match=rf"^language '{missing}' has no fact templates .*; "
                                        rf"add them to tasks/languages/{missing}\.py$"):
        build(tiny_tokenizer, language=language, ilang=ilang, n=1)


def test_scoring_uses_squad_normalisation(tiny_tokenizer):
    task = Rag()
    for s in build(tiny_tokenizer, n=3):
        answer = s.expected[0]
        assert task.score(s, answer).score == 1.0
        assert task.score(s, f"The answer is {answer}.").score == 1.0
        assert task.score(s, f"The answer is {answer}.").metrics["f1"] < 1.0
        assert task.score(s, "I do not know").score == 0.0
        assert task.score(s, "").score == 0.0


def test_cjk_answers_score_by_characters(tiny_tokenizer):
    s = build(tiny_tokenizer, language="zh", n=1)[0]
    verdict = Rag().score(s, f"答案是{s.expected[0]}。")
    assert verdict.score == 1.0 and 0.0 < verdict.metrics["f1"] < 1.0


def test_questions_share_one_context(tiny_tokenizer):
    samples = build(tiny_tokenizer, n=6, options={"questions_per_context": 3})
    groups: dict[tuple[int, ...], list] = {}
    for s in samples:
        groups.setdefault(s.prompt_ids[: s.prefix_len], []).append(s)
    assert sorted(len(g) for g in groups.values()) == [3, 3]
    for group in groups.values():
        assert len({s.metadata["entity"] for s in group}) == 3
        document = tiny_tokenizer.decode(group[0].prompt_ids[: group[0].prefix_len])
        for s in group:
            assert s.metadata["questions_on_context"] == 3
            assert_at(tiny_tokenizer, s, s.metadata["gold_passages"][0], s.metadata["gold_token_pos"][0])
            assert document.count(s.metadata["gold_passages"][0]) == 1
            assert 900 - FIT_TOLERANCE <= len(s.prompt_ids) + s.max_new_tokens <= 900
        positions = [s.metadata["gold_token_pos"][0] for s in sorted(group, key=lambda s: s.depth)]
        assert positions == sorted(positions)


def test_cross_lingual_question_names_a_haystack_person(tiny_tokenizer):
    en = fact_templates("en")
    s = build(tiny_tokenizer, language="hi", ilang="en", n=1)[0]
    assert s.sample_id.startswith("rag-en_hi-")
    question = tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])
    assert en.question_label in question and s.metadata["entity"] in question
    assert tiny_tokenizer.decode(s.prompt_ids).startswith(en.rag_instruction)


# --- real data through datasets, from local files -----------------------------------------

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black", "grey", "brown"]


@pytest.fixture(scope="module")
def squad_file(tmp_path_factory):
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("qa") / "squad.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(30):
            colour = COLOURS[i % len(COLOURS)]
            context = (f"Island {i} lies far to the north and its harbour is quiet in winter. "
                       f"The lighthouse on island {i} was painted {colour} by the keepers. "
                       f"Fishing boats number {rng.randint(3, 9)} there.")
            fh.write(json.dumps({"id": str(i), "title": f"Island {i}", "context": context,
                                 "question": f"What colour was the lighthouse on island {i} painted?",
                                 "answers": {"text": [colour], "answer_start": [context.index(colour)]}}) + "\n")
    return path


@pytest.fixture(scope="module")
def hotpot_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("qa") / "hotpot.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(12):
            titles = [f"Composer {i}", f"Opera {i}", f"River {i}", f"Mountain {i}"]
            sentences = [[f"Composer {i} was born in the town of Vell{i}a.", " He wrote many songs."],
                         [f"Opera {i} was written by Composer {i}.", " It premiered in spring."],
                         [f"River {i} flows east.", " It floods in May."],
                         [f"Mountain {i} is high.", " Snow covers it."]]
            fh.write(json.dumps({
                "id": f"h{i}", "question": f"In which town was the composer of Opera {i} born?",
                "answer": f"Vell{i}a", "type": "bridge", "level": "easy",
                "supporting_facts": {"title": [f"Opera {i}", f"Composer {i}"], "sent_id": [0, 0]},
                "context": {"title": titles, "sentences": sentences}}) + "\n")
    return path


def test_squad_style_rows_fit_with_the_gold_context(tiny_tokenizer, squad_file):
    samples = build(tiny_tokenizer, n=4, options={"source": f"file:{squad_file}"})
    for s in samples:
        assert s.status == "ok"
        assert 900 - FIT_TOLERANCE <= len(s.prompt_ids) + s.max_new_tokens <= 900
        (gold,) = s.metadata["gold_passages"]
        assert_at(tiny_tokenizer, s, gold, s.metadata["gold_token_pos"][0])
        assert s.expected[0] in gold and s.metadata["source"] == f"file:{squad_file}"
        island = gold.split("\n")[0]
        document = tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len])
        assert document.count(f"{island}\n") == 1  # distractors are the other rows' contexts
        assert s.metadata["distractors"] >= 2
        assert Rag().score(s, s.expected[0]).score == 1.0
    assert len({s.metadata["row"] for s in samples}) == 4


def test_hotpot_style_rows_put_both_supporting_passages_at_the_depth(tiny_tokenizer, hotpot_file):
    samples = build(tiny_tokenizer, n=3, options={"source": f"hf:{hotpot_file}", "split": "train"})
    for s in samples:
        golds = s.metadata["gold_passages"]
        assert len(golds) == 2 and {g.split("\n")[0] for g in golds} == {f"Opera {s.metadata['row']}",
                                                                           f"Composer {s.metadata['row']}"}
        for g, pos in zip(golds, s.metadata["gold_token_pos"]):
            assert_at(tiny_tokenizer, s, g, pos)
        document = tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len])
        # The row's own distractor paragraphs come first among the distractors.
        assert f"River {s.metadata['row']}\n" in document
        assert 900 - FIT_TOLERANCE <= len(s.prompt_ids) + s.max_new_tokens <= 900


def test_data_sources_fail_with_one_clear_line(tiny_tokenizer, tmp_path, squad_file):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "completion": "y"}) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="rows need question/context/answers"):
        build(tiny_tokenizer, n=1, options={"source": f"file:{bad}"})
    with pytest.raises(UserError, match="needs source=facts"):
        build(tiny_tokenizer, n=2, options={"source": f"file:{squad_file}", "questions_per_context": 2})
    with pytest.raises(UserError, match="bad rag source"):
        build(tiny_tokenizer, n=1, options={"source": "squad"})
    with pytest.raises(UserError):
        Rag({"questions_per_context": 0})
