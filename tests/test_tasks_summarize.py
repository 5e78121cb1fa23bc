"""Summarization: planted facts are where the metadata says and scored by coverage; real documents
(local JSONL read with `datasets`) are chosen to fill a length, never cut, and scored with ROUGE-L."""

from __future__ import annotations

import json
import random

import pytest

from qlongbench.errors import UserError
from qlongbench.tasks.base import BuildContext
from qlongbench.tasks.facts import fact_templates
from qlongbench.tasks.haystack import FIT_TOLERANCE
from qlongbench.tasks.languages import get_language
from qlongbench.tasks.summarize import SummDoc, SummFacts


def build(task, tok, length=1200, language="en", *, ilang=None, n=3, seed=0, options=None, budget=None):
    ctx = BuildContext(tokenizer=tok, length=length, language=language, instruction_language=ilang or language,
                       n_samples=n, seed=seed, max_new_tokens=budget or task.default_max_new_tokens)
    return task(options).build(ctx)


# --- summ-facts ----------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "zh", "hi", "ja", "de"])
def test_planted_facts_are_where_the_metadata_says(tiny_tokenizer, language):
    for s in build(SummFacts, tiny_tokenizer, language=language, n=2, options={"facts": 4}):
        facts = s.metadata["facts"]
        assert len(facts) == 4 and s.expected == tuple(f["text"] for f in facts)
        document = tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len])
        for j, f in enumerate(facts):
            assert document.count(f["text"]) == 1
            assert tiny_tokenizer.decode(s.prompt_ids[f["token_pos"]:]).lstrip().startswith(f["text"])
            assert 25.0 * j <= f["depth"] < 25.0 * (j + 1)  # fact j in the j-th quarter
            assert f["value"] in f["text"] and f["entity"] in f["text"]
        positions = [f["token_pos"] for f in facts]
        assert positions == sorted(positions)
        assert len({f["entity"] for f in facts}) == 4
        if fact_templates(language).family_name_alone:
            # Family names differ, so a family name alone is unambiguous.
            assert len({f["terms"][0][1] for f in facts}) == 4
        assert 1200 - FIT_TOLERANCE <= len(s.prompt_ids) + s.max_new_tokens <= 1200


def test_fact_coverage_scoring(tiny_tokenizer):
    task = SummFacts()
    s = build(SummFacts, tiny_tokenizer, n=1)[0]
    facts = s.metadata["facts"]
    listed = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(s.expected))
    verdict = task.score(s, "Key facts:\n" + listed)
    assert verdict.score == 1.0 and verdict.metrics["unmatched_share"] == 0.0
    partial = task.score(s, f"- {s.expected[0]}\n- {s.expected[1]}\n- The baker sold apples.\n- Nobody owns 4.")
    assert partial.score == pytest.approx(2 / 5) and partial.metrics["unmatched_share"] == pytest.approx(0.5)
    family = facts[2]["terms"][0][1]
    short = task.score(s, f"{family}: {facts[2]['value']}")  # the family name and the value are enough
    assert short.score == pytest.approx(1 / 5)
    wrong_value = task.score(s, f"{facts[2]['entity']}: {facts[2]['value']}0")
    assert wrong_value.score == 0.0
    assert task.score(s, "").score == 0.0 and not task.score(s, "").parsed


def test_cjk_summary_scoring(tiny_tokenizer):
    s = build(SummFacts, tiny_tokenizer, language="zh", n=1)[0]
    run_on = "".join(s.expected[:3])  # one line, sentences without spaces
    verdict = SummFacts().score(s, run_on)
    assert verdict.score == pytest.approx(3 / 5) and verdict.metrics["n_items"] == 3


def test_cross_lingual_summ_facts(tiny_tokenizer):
    s = build(SummFacts, tiny_tokenizer, language="zh", ilang="en", n=1)[0]
    text = tiny_tokenizer.decode(s.prompt_ids)
    assert text.startswith(fact_templates("en").facts_instruction)
    assert fact_templates("en").facts_question in tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])
    assert all(f["text"].endswith("。") for f in s.metadata["facts"])


@pytest.mark.parametrize("task", [SummFacts, SummDoc])
@pytest.mark.parametrize("language,ilang", [("fi", "fi"), ("en", "fi")])
def test_a_language_without_fact_templates_is_refused_naming_its_file(tiny_tokenizer, task, language, ilang):
    assert "fi" not in task.languages()
    with pytest.raises(UserError) as info:
        build(task, tiny_tokenizer, language=language, ilang=ilang, n=1)
    assert str(info.value) == ("language 'fi' has no fact templates (rag, summ-facts, summ-doc); "
                               "add them to tasks/languages/fi.py")


def test_summ_facts_on_a_file_haystack(tiny_tokenizer, tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("\n".join(f"The tide came in at dawn on day {i}. Gulls followed it." for i in range(80)),
                    encoding="utf-8")
    for s in build(SummFacts, tiny_tokenizer, n=2, options={"haystack": f"file:{book}"}):
        assert s.metadata["haystack"] == f"file:{book}"
        assert "The tide came in" in tiny_tokenizer.decode(s.prompt_ids)
        assert 1200 - FIT_TOLERANCE <= len(s.prompt_ids) + s.max_new_tokens <= 1200


# --- summ-doc ------------------------------------------------------------------------------

def _documents(n: int, seed: int = 0) -> list[dict]:
    lang = get_language("en")
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        sentences = [lang.filler(rng) for _ in range(3 + 2 * i)]
        rows.append({"report": f"Report {i}. " + " ".join(sentences), "summary": f"Report {i}: " + sentences[0],
                     "id": i})
    return rows


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs") / "reports.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _documents(40)), encoding="utf-8")
    return path


def test_documents_fill_the_length_and_are_never_cut(tiny_tokenizer, reports):
    rows = {r["id"]: r for r in _documents(40)}
    samples = build(SummDoc, tiny_tokenizer, length=1024, n=3, budget=64,
                    options={"source": f"file:{reports}", "min_fill": 0.6})
    for s in samples:
        assert s.status == "ok"
        assert 0.6 <= s.metadata["fill"] <= 1.0 and len(s.prompt_ids) + 64 <= 1024
        row = rows[s.metadata["row"]]
        assert s.expected == (row["summary"],)
        assert row["report"] in tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len])  # whole document, not cut
        assert SummDoc().score(s, row["summary"]).score == pytest.approx(1.0)
        assert 0.0 < SummDoc().score(s, row["summary"].split(":")[1]).score < 1.0
        assert SummDoc().score(s, "").score == 0.0
    assert len({s.metadata["row"] for s in samples}) == 3
    again = build(SummDoc, tiny_tokenizer, length=1024, n=3, budget=64,
                  options={"source": f"file:{reports}", "min_fill": 0.6})
    assert [s.prompt_ids for s in again] == [s.prompt_ids for s in samples]


def test_too_few_fitting_documents_become_overlength_records(tiny_tokenizer, reports):
    samples = build(SummDoc, tiny_tokenizer, length=1024, n=40, budget=64,
                    options={"source": f"file:{reports}", "min_fill": 0.9})
    ok = [s for s in samples if s.status == "ok"]
    short = [s for s in samples if s.status == "overlength"]
    assert ok and short and len(samples) == 40
    assert "fill 90-100 %" in short[0].metadata["reason"] and short[0].prompt_ids == ()


def test_summ_doc_columns_and_errors(tiny_tokenizer, tmp_path):
    multi = tmp_path / "multi.jsonl"
    multi.write_text(json.dumps({"document": ["First source says hi.", "Second source says bye."],
                                 "summary": "Hi and bye."}) + "\n", encoding="utf-8")
    (s,) = build(SummDoc, tiny_tokenizer, length=600, n=1, budget=64,
                 options={"source": f"file:{multi}", "min_fill": 0.01})
    assert "First source says hi.\n\nSecond source says bye." in tiny_tokenizer.decode(s.prompt_ids)
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"body": "text", "gist": "t"}) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="document_field"):
        build(SummDoc, tiny_tokenizer, options={"source": f"file:{odd}"})
    (s,) = build(SummDoc, tiny_tokenizer, length=600, n=1, budget=64,
                 options={"source": f"file:{odd}", "document_field": "body", "summary_field": "gist", "min_fill": 0.01})
    assert s.expected == ("t",)
    with pytest.raises(UserError, match="no column 'nope'"):
        build(SummDoc, tiny_tokenizer, options={"source": f"file:{odd}", "document_field": "nope"})
    with pytest.raises(UserError, match="cannot load dataset") as err:  # the default hub dataset, offline
        build(SummDoc, tiny_tokenizer)
    assert "\n" not in str(err.value)
