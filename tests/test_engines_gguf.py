"""GGUF through llama-cpp-python on a tiny model: real conversion (llama.cpp's convert_hf_to_gguf.py),
real quantization (llama_model_quantize), real llama.cpp kernels. No mocks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from qlongbench.errors import UserError
from qlongbench.types import GenerationConfig, TokenPrompt
from tests.engine_fixtures import artifact_cache, engine_model, load_context, open_backend, prompt_ids, use_converter

pytest.importorskip("llama_cpp", reason="the gguf extra (llama-cpp-python) is not installed")

LABELS = ["gguf-bf16", "gguf-f16", "gguf-q8_0", "gguf-q6_k", "gguf-q5_k_m", "gguf-q4_k_m", "gguf-q3_k_m", "gguf-q2_k"]


@pytest.fixture(scope="session")
def hf_fp32_logprobs(gguf_setup):
    """The transformers reference at fp32 on the test ids: [positions, vocab] log-softmax."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = prompt_ids(gguf_setup.tokenizer, 300)
    model = AutoModelForCausalLM.from_pretrained(gguf_setup.model, dtype=torch.float32)
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0].float()
    return ids, torch.log_softmax(logits, dim=-1).numpy()


def gguf_logprobs(backend, ids, chunk=512) -> np.ndarray:
    chunks = list(backend.iter_logprobs(ids, chunk=chunk))
    assert [c.start for c in chunks] == list(range(0, len(ids), chunk))
    return np.concatenate([c.logprobs for c in chunks])


def mean_kl(p_log: np.ndarray, q_log: np.ndarray) -> float:
    return float((np.exp(p_log) * (p_log - q_log)).sum(-1).mean())


@pytest.mark.parametrize("label", LABELS)
def test_each_precision_loads_and_generates(gguf_setup, label):
    b = open_backend(label, gguf_setup)
    try:
        info = b.info()
        assert info.engine == "llama.cpp" and info.precision == label
        assert info.recipe.method == "gguf" and info.recipe.quant_type == label.removeprefix("gguf-").upper()
        assert Path(info.artifact_path).is_file() and len(info.artifact_sha256) == 64
        assert info.weight_bytes > 0 and info.recipe.bits > 1
        ids = prompt_ids(gguf_setup.tokenizer)
        (gen,) = b.generate([TokenPrompt(ids=tuple(ids))], GenerationConfig(max_new_tokens=6))
        assert gen.n_prompt_tokens == len(ids) and gen.n_prefilled_tokens == len(ids)
        assert 1 <= len(gen.token_ids) <= 6 or gen.finish_reason == "eos"
        assert gen.text == gguf_setup.tokenizer.decode(list(gen.token_ids))  # decoded by the reference tokenizer
        assert gen.kv_cache_bytes and gen.kv_cache_bytes > 0
    finally:
        b.close()


def test_quantized_weights_are_smaller(gguf_setup):
    sizes = {}
    for label in ("gguf-bf16", "gguf-q8_0", "gguf-q4_k_m", "gguf-q2_k"):
        b = open_backend(label, gguf_setup)
        sizes[label] = b.info().weight_bytes
        b.close()
    assert sizes["gguf-q4_k_m"] < sizes["gguf-q8_0"] < sizes["gguf-bf16"]
    assert sizes["gguf-q2_k"] < sizes["gguf-q4_k_m"]
    assert sizes["gguf-q4_k_m"] < 0.45 * sizes["gguf-bf16"]


def test_f16_logits_match_hf_fp32_and_q4_k_m_differs(gguf_setup, hf_fp32_logprobs):
    ids, ref = hf_fp32_logprobs
    kl = {}
    for label in ("gguf-f16", "gguf-q4_k_m"):
        b = open_backend(label, gguf_setup)
        try:
            lp = gguf_logprobs(b, ids, chunk=128)
        finally:
            b.close()
        assert lp.shape == ref.shape and lp.dtype == np.float32
        kl[label] = mean_kl(ref, lp)
    assert kl["gguf-f16"] < 1e-4, kl
    assert kl["gguf-q4_k_m"] > 20 * kl["gguf-f16"] and kl["gguf-q4_k_m"] > 1e-4, kl


def test_logprob_chunks_do_not_change_the_numbers(gguf_setup):
    # Our chunking (positions, boundaries) must not change the numbers. With flash attention on,
    # llama.cpp's own CPU kernel is not invariant to the batch shape (measured here: up to 0.23 nats
    # between chunks of 7 and 512 on this tiny model), so the property is checked with it off.
    b = open_backend("gguf-q8_0:flash_attn=false", gguf_setup)
    try:
        ids = prompt_ids(gguf_setup.tokenizer, 120)
        whole = gguf_logprobs(b, ids, chunk=512)
        pieces = gguf_logprobs(b, ids, chunk=7)
    finally:
        b.close()
    np.testing.assert_allclose(whole, pieces, atol=2e-4)


def test_context_session_reuse_equals_fresh_prompt(gguf_setup):
    """Prefill a context once, ask twice, crop: the answers are those of fresh prompts, and a
    context that outgrows its KV allocation is refilled without changing the answer."""
    b = open_backend("gguf-q4_k_m", gguf_setup)
    cfg = GenerationConfig(max_new_tokens=8)
    try:
        ids = prompt_ids(gguf_setup.tokenizer, 600)  # > 512: the session's context must grow
        assert len(ids) > 600
        prefix, q1, q2 = ids[:300], ids[300:], ids[300:400]
        fresh1 = b.session().generate(ids, cfg)
        fresh2 = b.session().generate(prefix + q2, cfg)
        sess = b.session()
        sess.extend(prefix)
        reuse2 = sess.generate(q2, cfg)
        assert sess.n_tokens == len(prefix) and sess.tokens == tuple(prefix)
        reuse1 = sess.generate(q1, cfg)
        assert sess.n_tokens == len(prefix)
        sess.crop(100)
        again = sess.generate(prefix[100:] + q2, cfg)
        sess.close()
        assert len(set(fresh1.token_ids)) > 1  # not a degenerate model: the comparison can fail
        assert reuse1.token_ids == fresh1.token_ids
        assert reuse2.token_ids == fresh2.token_ids == again.token_ids
        assert reuse1.n_prefilled_tokens == len(q1) and reuse1.n_prompt_tokens == len(ids)
    finally:
        b.close()


@pytest.mark.parametrize("label", ["gguf-f16", "gguf-q4_k_m"])
@pytest.mark.parametrize("n_context,n_question", [(540, 10), (600, 70), (1100, 1)])
def test_an_appended_question_has_the_fresh_prompts_logits(gguf_setup, label, n_context, n_question):
    """A question appended to a kept context gets the logits of the whole prompt prefilled fresh, bit
    for bit: both are fed in batches of at least 64 rows, which llama.cpp's CPU flash attention
    computes row by row in its tiled kernel (fed as they come, the 10-token question ran its
    row-at-a-time kernel and the fresh prompt's 38-row tail too, each summing in its own order).
    Cases: a short question (cached tokens fed again), a long one (no cut), a one-token question."""
    b = open_backend(label, gguf_setup)
    try:
        assert b.info().attention == "flash_attn_tiled"
        ids = prompt_ids(gguf_setup.tokenizer, 1200)[: n_context + n_question]
        assert len(ids) == n_context + n_question
        context, question = ids[:n_context], ids[n_context:]
        sess = b.session()
        fresh = sess.forward_all(ids)[-n_question:]
        sess.close()
        sess = b.session()
        sess.extend(context)
        appended = sess.forward_all(question)
        assert sess.refed == max(0, 64 - n_question)
        sess.crop(n_context)
        gen = sess.generate(question, GenerationConfig(max_new_tokens=2))
        sess.close()
    finally:
        b.close()
    assert appended.shape == fresh.shape
    np.testing.assert_array_equal(appended, fresh)
    assert gen.n_prefilled_tokens == n_question + max(0, 64 - n_question)  # the tokens fed again count
    assert gen.n_prompt_tokens == len(ids)


@pytest.mark.parametrize("label", ["gguf-q4_k_m+kv=q8_0", "gguf-q4_k_m:flash_attn=false"])
def test_no_tokens_fed_again_where_no_tiled_kernel_runs(gguf_setup, label):
    """A quantized cache or flash attention off has no tiled kernel to reach: a short question is fed
    as it is, and the precision records no attention of its own."""
    b = open_backend(label, gguf_setup)
    try:
        assert b.info().attention is None
        ids = prompt_ids(gguf_setup.tokenizer, 600)
        sess = b.session()
        sess.extend(ids[:500])
        gen = sess.generate(ids[500:510], GenerationConfig(max_new_tokens=2))
        assert sess.refed == 0 and gen.n_prefilled_tokens == 10
        sess.close()
    finally:
        b.close()


@pytest.mark.parametrize("label", ["gguf-f16", "gguf-q4_k_m"])
def test_questions_decoded_together_as_sequences(gguf_setup, label):
    """generate_many with rows: each question a sequence sharing the context's cells. The context's
    cache ends as it started; each row's prompt, prefilled tokens and KV bytes are the one-row
    path's; rows of different lengths and budgets finish apart. The questions' prefill runs the
    one-row path's kernel (batches of at least 64 rows both ways), so every row's first token is the
    one-row path's; the decode steps do not (a step of several rows runs llama.cpp's row-at-a-time
    kernel, a step of one row splits the keys between threads), so later tokens may move: on this
    random-weight model one answer in four moves at its fourth token at f16 and one at q4_k_m."""
    import dataclasses

    ids = prompt_ids(gguf_setup.tokenizer, 500)
    prefix = ids[:400]
    questions = [ids[400:420], ids[420:427], ids[430:470], ids[470:471]]
    cfgs = [GenerationConfig(max_new_tokens=m) for m in (6, 12, 3, 9)]
    one = open_backend(label, gguf_setup)
    try:
        sess = one.session()
        sess.extend(prefix)
        alone = [sess.generate(q, c) for q, c in zip(questions, cfgs)]
    finally:
        one.close()
    b = open_backend(label, dataclasses.replace(gguf_setup, decode_rows=4))
    try:
        sess = b.session()
        sess.extend(prefix)
        together = sess.generate_many(questions, cfgs)
        assert sess.tokens == tuple(prefix)
        after = sess.generate(questions[0], cfgs[0])  # the rows left nothing behind in the cache
        sess.close()
    finally:
        b.close()
    assert [g.decode_rows for g in together] == [4] * 4 and alone[0].decode_rows == 1
    assert [len(g.token_ids) for g in alone] == [6, 12, 3, 9]  # a budget each, not eos: the rows leave apart
    for a, t, q in zip(alone, together, questions):
        assert t.n_prompt_tokens == a.n_prompt_tokens == len(prefix) + len(q)
        assert t.n_prefilled_tokens == len(q) and t.kv_cache_bytes == a.kv_cache_bytes
    assert [t.token_ids[0] for t in together] == [a.token_ids[0] for a in alone]
    assert after.token_ids == alone[0].token_ids
    assert len({a.token_ids for a in alone}) > 1  # not a degenerate model: the comparison can fail


def test_a_run_with_decode_rows_makes_its_llama_context_for_them(gguf_setup, tmp_path):
    """Through the runner: --decode-rows 4 reaches the llama.cpp backend (LoadContext.decode_rows), every
    record of the nested sweep says it decoded with 4 rows, and the answers are the one-row run's up to
    the batch's rounding: on this random-weight model near-tied tokens are common and f16 rows move by up
    to 0.03 in logits, which moved 2 of 8 answers after their first tokens; a row fed at a wrong
    position or sequence would change every answer from its first token."""
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir
    from qlongbench.spec.config import build_spec

    outs, rows = {}, {}
    for n in (1, 4):
        spec = build_spec({"model": gguf_setup.model, "precisions": "gguf-f16", "tasks": "niah-nested",
                           "lengths": [512, 768], "samples": 4, "decode_rows": n, "out": str(tmp_path / f"r{n}"),
                           "cache_dir": str(gguf_setup.cache_dir)})
        Runner(spec).run()
        records = RunDir(spec.out).records()
        assert len(records) == 8 and all(r.status == "ok" for r in records), [r.error for r in records]
        outs[n] = {r.sample_id: r.output for r in records}
        rows[n] = sorted({r.decode_rows for r in records})
    assert rows == {1: [1], 4: [4]}
    moved = [k for k in outs[1] if outs[4][k] != outs[1][k]]
    assert len(moved) <= 2, moved
    assert all(outs[4][k][:3] == outs[1][k][:3] for k in outs[1])


@pytest.mark.parametrize("label,rows", [("gguf-q4_k_m", 1), ("gguf-q4_k_m:n_ctx=512", 2)])
def test_rows_that_do_not_fit_are_answered_one_at_a_time(gguf_setup, label, rows):
    """A backend made for one row (the default), or a fixed context too small for every row at once
    (n_ctx=512: 440 tokens of context + 2 x 50 of questions and answers), answers generate_many one
    after another, and says so."""
    import dataclasses

    b = open_backend(label, dataclasses.replace(gguf_setup, decode_rows=rows))
    try:
        sess = b.session()
        ids = prompt_ids(gguf_setup.tokenizer, 600)
        sess.extend(ids[:440])
        gens = sess.generate_many([ids[440:470], ids[470:500]], [GenerationConfig(max_new_tokens=20)] * 2)
        sess.close()
    finally:
        b.close()
    assert [g.decode_rows for g in gens] == [1, 1] and all(len(g.token_ids) > 0 for g in gens)


def test_memory_measured_against_the_formula(gguf_setup):
    b = open_backend("gguf-q4_k_m", gguf_setup)
    try:
        measured, formula = measured_kv(b, 400), b.kv_formula_bytes(400)
        weights = b.weight_bytes()
    finally:
        b.close()
    # 2 (K and V) x 2 layers x 2 kv heads x 64 head dim x 400 tokens x 2 bytes (f16)
    assert formula == 2 * 2 * 2 * 64 * 400 * 2
    assert formula <= measured <= 1.05 * formula + 65536
    assert weights > 0


def measured_kv(b, tokens):
    """The llama.cpp state size after `tokens` tokens in a fresh session."""
    sess = b.session()
    try:
        sess.extend([b.pad_id()] * tokens)
        return sess.cache_bytes()
    finally:
        sess.close()


def test_quantized_kv_cache(gguf_setup):
    b = open_backend("gguf-q4_k_m:type_k=q8_0,type_v=q8_0,flash_attn=true", gguf_setup)
    try:
        info = b.info()
        measured, formula = measured_kv(b, 400), b.kv_formula_bytes(400)
        (gen,) = b.generate([TokenPrompt(ids=tuple(prompt_ids(gguf_setup.tokenizer)))], GenerationConfig(max_new_tokens=4))
    finally:
        b.close()
    assert info.recipe.options["type_k"] == "q8_0" and info.recipe.options["flash_attn"] is True
    assert formula == round(2 * 2 * 64 * 400 * 2 * 34 / 32)
    assert measured < 2 * 2 * 2 * 64 * 400 * 2  # smaller than the f16 cache
    assert gen.token_ids
    with pytest.raises(UserError, match="flash_attn=true"):  # on by default; a quantized V cache needs it
        open_backend("gguf-q4_k_m:type_v=q8_0,flash_attn=false", gguf_setup)
    with pytest.raises(UserError, match="option type_k=.q3.: input should be .f32."):
        open_backend("gguf-q4_k_m:type_k=q3", gguf_setup)


def test_file_option_loads_an_existing_gguf(gguf_setup):
    built = open_backend("gguf-q8_0", gguf_setup)
    path = built.info().artifact_path
    built.close()
    b = open_backend(f"gguf-q8_0:file={path}", gguf_setup)
    try:
        info = b.info()
        assert info.artifact_path == path and info.recipe.options["file"] == path
        assert info.recipe.quant_type == "Q8_0"
    finally:
        b.close()
    with pytest.raises(UserError, match="holds Q8_0 weights but the precision is gguf-q4_k_m"):
        open_backend(f"gguf-q4_k_m:file={path}", gguf_setup)


def test_bad_files_fail_with_one_clear_line(gguf_setup, tmp_path):
    text = tmp_path / "notes.gguf"
    text.write_text("this is not a model\n")
    with pytest.raises(UserError, match="is not a GGUF file"):
        open_backend(f"gguf-q8_0:file={text}", gguf_setup)
    real = open_backend("gguf-q8_0", gguf_setup)
    path = Path(real.info().artifact_path)
    real.close()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(UserError, match="corrupt"):
        open_backend(f"gguf-q8_0:file={truncated}", gguf_setup)
    with pytest.raises(UserError, match="does not exist"):
        open_backend(f"gguf-q8_0:file={tmp_path / 'missing.gguf'}", gguf_setup)
    with pytest.raises(UserError, match="takes no option"):
        open_backend("gguf-q8_0:bits=3", gguf_setup)


def test_gpu_offload_on_a_cpu_build_is_a_clear_error(gguf_setup):
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python build has GPU offload; the CPU-only error cannot occur")
    with pytest.raises(UserError, match="GGML_CUDA"):
        open_backend("gguf-q4_k_m:n_gpu_layers=-1", gguf_setup)


def test_gguf_artifacts_are_cached(gguf_setup):
    from qlongbench.backends.gguf import GGUFBackend
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision

    first = GGUFBackend.prepare_artifact(parse_precision(PrecisionSpec(name="gguf-q5_k_m")), gguf_setup)
    mtime = os.stat(first.path).st_mtime_ns
    second = GGUFBackend.prepare_artifact(parse_precision(PrecisionSpec(name="gguf-q5_k_m")), gguf_setup)
    assert second.built is False and second.artifact == first.artifact
    assert os.stat(second.path).st_mtime_ns == mtime
    assert first.artifact.recipe.options["quantized_from"] == "BF16"


def test_engine_baseline_is_added_for_gguf_quants():
    from tests.plan_helpers import labels, planned

    def names(precisions, **kw):
        return labels(planned(precisions, **kw))

    assert names("bf16,gguf-q4_k_m") == ["bf16", "gguf-bf16", "gguf-q4_k_m"]
    assert names("gguf-q4_k_m,gguf-q8_0") == ["gguf-bf16", "gguf-q4_k_m", "gguf-q8_0"]
    assert names("gguf-q4_k_m:n_threads=1") == ["gguf-bf16:n_threads=1", "gguf-q4_k_m:n_threads=1"]
    assert names("gguf-q4_k_m:file=/x.gguf") == ["gguf-bf16", "gguf-q4_k_m:file=/x.gguf"]
    assert names("gguf-bf16") == ["gguf-bf16"]
    assert names("gguf-f16") == ["gguf-f16"]  # a full-precision GGUF is its own baseline
    assert names("gguf-q4_k_m,gguf-f16") == ["gguf-q4_k_m", "gguf-f16"]
    assert names("gguf-q4_k_m", engine_baseline=False) == ["gguf-q4_k_m"]
    assert names("bf16,bnb-nf4,gptq-int4") == ["bf16", "bnb-nf4", "gptq-int4"]
