"""niah-nested: needles inside the prefix they are asked about, one prefill for the sweep."""

import pytest

from qlongbench.run.scheduler import group_by_prefix, order_groups, tokens_to_prefill
from qlongbench.tasks.base import BuildContext
from qlongbench.tasks.nested import NiahNested

LENGTHS = (512, 1024, 2048)


def build(tok, task, n=4, lengths=LENGTHS, lang="en", ilang="en", family_seed=7):
    out = []
    for length in lengths:
        ctx = BuildContext(tokenizer=tok, length=length, language=lang, instruction_language=ilang, n_samples=n,
                           seed=length, max_new_tokens=24, lengths=lengths, family_seed=family_seed)
        out.extend(task.build(ctx))
    return out


@pytest.mark.parametrize("lang", ["en", "zh", "hi"])
def test_needles_sit_inside_the_prefix_they_are_asked_about(tiny_tokenizer, lang):
    samples = build(tiny_tokenizer, NiahNested(), lang=lang, ilang=lang)
    assert len(samples) == 4 * len(LENGTHS)
    for s in samples:
        assert s.status == "ok"
        assert len(s.prompt_ids) + s.max_new_tokens <= s.length
        meta = s.metadata
        assert meta["needle_token_end"] <= s.prefix_len
        needle_text = tiny_tokenizer.decode(s.prompt_ids[meta["needle_token_pos"]:meta["needle_token_end"]])
        assert s.expected[0] in needle_text
        assert tiny_tokenizer.decode(s.prompt_ids[: s.prefix_len]).count(s.expected[0]) == 1
        assert meta["key"] in tiny_tokenizer.decode(s.prompt_ids[s.prefix_len:])


def test_shorter_contexts_are_prefixes_of_longer_ones(tiny_tokenizer):
    samples = build(tiny_tokenizer, NiahNested())
    prefixes = sorted({tuple(s.prompt_ids[: s.prefix_len]) for s in samples}, key=len)
    assert [len(p) for p in prefixes] == sorted(len(p) for p in prefixes) and len(prefixes) == len(LENGTHS)
    for short, long in zip(prefixes, prefixes[1:]):
        assert long[: len(short)] == short
    plan = order_groups(group_by_prefix(samples))
    assert tokens_to_prefill(plan) == len(prefixes[-1])


def test_depths_spread_over_each_prefix(tiny_tokenizer):
    samples = build(tiny_tokenizer, NiahNested(), n=4)
    for length in LENGTHS:
        cell = sorted((s for s in samples if s.length == length), key=lambda s: s.index)
        actual = [s.metadata["needle_depth_actual"] for s in cell]
        assert actual == sorted(actual)
        assert actual[0] < 5 and actual[-1] > 80


def test_deterministic_per_seed(tiny_tokenizer):
    a = build(tiny_tokenizer, NiahNested())
    b = build(tiny_tokenizer, NiahNested())
    assert [s.model_dump_json() for s in a] == [s.model_dump_json() for s in b]
    c = build(tiny_tokenizer, NiahNested(), family_seed=8)
    assert [s.prompt_sha256 for s in a] != [s.prompt_sha256 for s in c]


def test_questions_per_context_share_one_haystack(tiny_tokenizer):
    task = NiahNested({"across_lengths": False, "questions_per_context": 4})
    samples = build(tiny_tokenizer, task, n=8, lengths=(1024,))
    groups = group_by_prefix(samples)
    assert sorted(len(g.samples) for g in groups) == [4, 4]
    assert tokens_to_prefill(order_groups(groups)) < sum(len(s.prompt_ids) for s in samples) / 3


def test_runner_nested_reuse_equals_naive(tiny_model, tmp_path):
    from qlongbench.spec.config import build_spec
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    outs, prefilled = {}, {}
    for mode in ("exact", "none"):
        spec = build_spec({"model": str(tiny_model), "precisions": "fp32", "tasks": "niah-nested",
                           "lengths": [512, 768], "samples": 3, "reuse": mode, "out": str(tmp_path / mode)})
        Runner(spec).run()
        records = RunDir(spec.out).records()
        outs[mode] = {r.sample_id: r.output for r in records}
        prefilled[mode] = sum(r.n_prefilled_tokens for r in records)
    assert outs["exact"] == outs["none"] and len(outs["exact"]) == 6
    assert prefilled["exact"] < prefilled["none"] / 3


def test_too_many_needles_for_a_short_length_is_overlength_not_cut(tiny_tokenizer):
    samples = build(tiny_tokenizer, NiahNested(), n=12, lengths=(160, 1024))
    short = [s for s in samples if s.length == 160]
    assert short and all(s.status == "overlength" and "needles do not fit" in s.metadata["reason"] for s in short)
