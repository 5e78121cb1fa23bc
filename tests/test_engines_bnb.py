"""bitsandbytes nf4 / fp4 / int8 on CPU through transformers: the real kernels, a tiny model."""

from __future__ import annotations

import logging

import pytest

from qlongbench.errors import UserError
from qlongbench.types import GenerationConfig, TokenPrompt
from tests.engine_fixtures import artifact_cache, engine_model, load_context, open_backend, prompt_ids

pytest.importorskip("bitsandbytes", reason="the bnb extra (bitsandbytes) is not installed")


@pytest.fixture(scope="session")
def bnb_ctx(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.getbasetemp()
    return load_context(engine_model(root), artifact_cache(root))


@pytest.fixture(scope="session")
def bf16_weight_bytes(bnb_ctx) -> int:
    b = open_backend("bf16", bnb_ctx)
    try:
        return b.info().weight_bytes
    finally:
        b.close()


@pytest.mark.parametrize("label, quant_type, bits", [("bnb-nf4", "nf4", 4), ("bnb-fp4", "fp4", 4),
                                                      ("bnb-int8", "int8", 8)])
def test_each_precision_loads_and_generates(bnb_ctx, bf16_weight_bytes, label, quant_type, bits):
    b = open_backend(label, bnb_ctx)
    try:
        info = b.info()
        assert info.recipe.method == "bitsandbytes" and info.recipe.quant_type == quant_type
        assert info.recipe.bits == bits and info.engine == "transformers"
        assert info.versions["bitsandbytes"]
        # Embeddings and lm_head stay bf16 (a third of this tiny model), the linear layers shrink.
        assert info.weight_bytes < bf16_weight_bytes * (0.7 if bits == 4 else 0.85)
        ids = prompt_ids(bnb_ctx.tokenizer)
        (gen,) = b.generate([TokenPrompt(ids=tuple(ids))], GenerationConfig(max_new_tokens=5))
        assert gen.n_prompt_tokens == len(ids) and (len(gen.token_ids) == 5 or gen.finish_reason == "eos")
        assert gen.text == bnb_ctx.tokenizer.decode(list(gen.token_ids))
    finally:
        b.close()


@pytest.mark.parametrize("label, expected", [("bnb-nf4", "nf4"), ("bnb-fp4", "fp4")])
def test_the_4bit_type_loaded_is_the_one_named(bnb_ctx, label, expected):
    """transformers' default 4-bit type is fp4: the label must decide, not the default."""
    b = open_backend(label, bnb_ctx)
    try:
        import bitsandbytes as bnb

        layers = [m for m in b.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        assert layers and {m.weight.quant_type for m in layers} == {expected}
    finally:
        b.close()


def test_options_are_recorded_and_checked(bnb_ctx):
    b = open_backend("bnb-nf4:double_quant=true,compute_dtype=fp16", bnb_ctx)
    try:
        r = b.info().recipe
        assert r.double_quant is True and r.compute_dtype == "float16" and b.info().dtype == "float16"
        import bitsandbytes as bnb

        state = next(m for m in b.model.modules() if isinstance(m, bnb.nn.Linear4bit)).weight.quant_state
        # Double quantization really happened (bitsandbytes' AVX512-BF16 CPU kernel later repacks the
        # weights and keeps the scales dequantized: original_nested remembers).
        assert state.nested or getattr(state, "original_nested", False)
    finally:
        b.close()
    with pytest.raises(UserError, match="double_quant applies to the 4-bit types"):
        open_backend("bnb-int8:double_quant=true", bnb_ctx)
    with pytest.raises(UserError, match="compute_dtype"):
        open_backend("bnb-nf4:compute_dtype=int3", bnb_ctx)
    with pytest.raises(UserError, match="takes no option"):
        open_backend("bnb-nf4:group_size=64", bnb_ctx)


def test_int8_does_not_log_every_matmul(bnb_ctx, caplog):
    b = open_backend("bnb-int8", bnb_ctx)
    try:
        with caplog.at_level(logging.DEBUG):
            b.generate([TokenPrompt(ids=tuple(prompt_ids(bnb_ctx.tokenizer)))], GenerationConfig(max_new_tokens=4))
    finally:
        b.close()
    assert not [r for r in caplog.records if "will be cast" in r.getMessage()]


def test_context_session_reuse_equals_fresh_prompt(bnb_ctx):
    b = open_backend("bnb-nf4", bnb_ctx)
    cfg = GenerationConfig(max_new_tokens=8)
    try:
        ids = prompt_ids(bnb_ctx.tokenizer, 200)
        prefix = ids[:120]
        fresh = b.session().generate(ids, cfg)
        sess = b.session()
        sess.extend(prefix)
        reuse = sess.generate(ids[120:], cfg)
        assert sess.n_tokens == len(prefix)
        sess.close()
        assert len(set(fresh.token_ids)) > 1
        assert reuse.token_ids == fresh.token_ids
    finally:
        b.close()
