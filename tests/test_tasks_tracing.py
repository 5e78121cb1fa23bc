"""Variable tracking (RULER's vt): every assignment line sits in the haystack once and in chain
order, the worked example comes first, several questions can share one context, prompts fill their
length, samples follow from the seed, and scoring is the share of the chain's variables."""

from __future__ import annotations

import re

import pytest

from qlongbench.errors import UserError
from qlongbench.run.scheduler import group_by_prefix
from qlongbench.tasks.base import BuildContext
from qlongbench.tasks.haystack import FIT_TOLERANCE
from qlongbench.tasks.languages import get_language
from qlongbench.tasks.tracing import Chain, VariableTracking
from qlongbench.tokenizer import PromptTokenizer

ASSIGN = re.compile(r"VAR ([A-Z]+) = (?:VAR ([A-Z]+)|(\d+))")


def build(tok, length=1024, language="en", *, ilang=None, n=3, seed=0, options=None):
    ctx = BuildContext(tokenizer=tok, length=length, language=language, instruction_language=ilang or language,
                       n_samples=n, seed=seed, max_new_tokens=VariableTracking.default_max_new_tokens)
    return VariableTracking(options).build(ctx)


def document(tok, sample) -> str:
    start = sample.prefix_len - sample.metadata["document_tokens"]
    return tok.decode(sample.prompt_ids[start:sample.prefix_len])


def test_chain_statements_are_rulers():
    chain = Chain(("AAAAA", "BBBBB", "CCCCC"), "12345")
    assert chain.statements() == ["VAR AAAAA = 12345", "VAR BBBBB = VAR AAAAA", "VAR CCCCC = VAR BBBBB"]


@pytest.mark.parametrize("language,length", [("en", 1024), ("en", 2048), ("zh", 1024), ("hi", 2048)])
def test_every_line_once_in_chain_order_and_the_answer_is_the_chain(tiny_tokenizer, language, length):
    samples = build(tiny_tokenizer, length, language)
    assert len(samples) == 3
    for s in samples:
        assert s.status == "ok", s.metadata
        budget = length - s.max_new_tokens
        assert budget - FIT_TOLERANCE <= len(s.prompt_ids) <= budget == len(s.prompt_ids) + s.metadata["slack"]
        (chain,) = s.metadata["chains"]
        assert tuple(chain["names"]) == s.expected and len(s.expected) == 5
        assert all(len(v) == 5 and v.isupper() for v in s.expected) and len(chain["value"]) == 5
        found = ASSIGN.findall(document(tiny_tokenizer, s))
        assert [(a, b or c) for a, b, c in found] == [(s.expected[0], chain["value"])] + list(
            zip(s.expected[1:], s.expected[:-1]))
        depths = s.metadata["line_depths_actual"]
        assert depths == sorted(depths) and 0 <= depths[0] and depths[-1] <= 100
        question = tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])
        assert chain["value"] in question


def test_the_worked_example_comes_first_with_its_answer(tiny_tokenizer):
    (s,) = build(tiny_tokenizer, 2048, n=1)
    t = get_language("en").synthetic
    head = tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len - s.metadata["document_tokens"]])
    assert head.count(t.vt_instruction) == 2  # the example's and the task's
    example = ASSIGN.findall(head)
    assert len(example) == 5 and not set(a for a, _, _ in example) & set(s.expected)
    names = [a for a, _, _ in example]
    assert " ".join(names) + "\n" + t.vt_instruction in head  # the example ends with its answer
    assert 0 < s.metadata["example_tokens"] <= 500
    (bare,) = build(tiny_tokenizer, 2048, n=1, options={"example_tokens": 0})
    head = tiny_tokenizer.decode(bare.prompt_ids[: bare.prefix_len - bare.metadata["document_tokens"]])
    assert head.count(t.vt_instruction) == 1 and not ASSIGN.findall(head) and bare.metadata["example_tokens"] == 0


def test_questions_per_context_share_one_prefix_and_ask_about_different_chains(tiny_tokenizer):
    samples = build(tiny_tokenizer, 2048, n=4, options={"questions_per_context": 2})
    groups = group_by_prefix(samples)
    assert sorted(len(g.samples) for g in groups) == [2, 2]
    for g in groups:
        a, b = g.samples
        assert a.metadata["chains"] == b.metadata["chains"] and len(a.metadata["chains"]) == 2
        assert a.expected != b.expected and a.metadata["questions_on_context"] == 2
        text = document(tiny_tokenizer, a)
        assert len(ASSIGN.findall(text)) == 10  # both chains in the one haystack


def test_distractor_chains_and_scoring(tiny_tokenizer):
    (s,) = build(tiny_tokenizer, 2048, n=1, options={"chains": 3})
    chains = s.metadata["chains"]
    assert len(chains) == 3 and len({c["value"] for c in chains}) == 3
    assert len({n for c in chains for n in c["names"]}) == 15
    assert len(ASSIGN.findall(document(tiny_tokenizer, s))) == 15
    task = VariableTracking()
    assert task.score(s, " ".join(s.expected)).score == 1.0
    other = chains[1]["names"]
    verdict = task.score(s, f"{s.expected[0]} {s.expected[1].lower()} {other[0]} {other[1]}")
    assert verdict.score == pytest.approx(0.4) and verdict.metrics["distractor_hits"] == 2.0
    assert task.score(s, s.expected[0] + "X").score == 0.0


def test_samples_follow_the_seed(tiny_tokenizer):
    a, b, c = (build(tiny_tokenizer, seed=seed) for seed in (3, 3, 4))
    assert [s.model_dump() for s in a] == [s.model_dump() for s in b]
    assert [s.prompt_sha256 for s in a] != [s.prompt_sha256 for s in c]


def test_too_short_is_overlength_not_cut(tiny_tokenizer):
    samples = build(tiny_tokenizer, 256, n=2, options={"questions_per_context": 2})
    assert all(s.status == "overlength" and s.prompt_ids == () for s in samples)
    assert "without any haystack" in samples[0].metadata["reason"]


def test_cross_lingual_and_bad_options(tiny_tokenizer):
    (s,) = build(tiny_tokenizer, 2048, "zh", ilang="en", n=1)
    assert s.sample_id == "vt-en_zh-2048-0000"
    assert get_language("en").synthetic.vt_instruction in tiny_tokenizer.decode(s.prompt_ids)
    with pytest.raises(UserError):
        VariableTracking({"hops": 0})


def test_chat_template_prompts_share_prefix_ids(tiny_chat_model):
    tok = PromptTokenizer.load(str(tiny_chat_model))
    samples = build(tok, 2048, n=2, options={"questions_per_context": 2})
    assert len({s.prompt_ids[: s.prefix_len] for s in samples}) == 1
    for s in samples:
        assert tok.decode(s.prompt_ids[s.prefix_len:]).rstrip().endswith("assistant|>")


def test_real_tokenizer_fills_each_length(smollm2):
    tok = PromptTokenizer.load(str(smollm2))
    for language, length in (("en", 1024), ("hi", 2048)):
        for s in build(tok, length, language, n=2):
            assert s.status == "ok", s.metadata
            assert length - 30 - FIT_TOLERANCE <= len(s.prompt_ids) <= length - 30
