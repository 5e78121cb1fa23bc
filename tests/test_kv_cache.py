"""KV-cache precision as a second axis: the label, the bytes each engine's cache really holds
(measured from the engine, per type), exact crop and reuse with quantized caches, the policy rule
and the weights × KV grid of the report."""

from __future__ import annotations

import pytest

from qlongbench.spec.labels import parse_label
from qlongbench.errors import UserError
from qlongbench.spec.config import build_spec


# --- labels --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, labels", [
    ("bf16,bf16+kv=int4", ["bf16", "bf16+kv=int4"]),
    ("gguf-q4_k_m+kv=q8_0:n_threads=1,flash_attn=true,gguf-bf16", ["gguf-q4_k_m+kv=q8_0:flash_attn=True,n_threads=1",
                                                                    "gguf-bf16"]),
    ("gguf-q8_0+kv=Q4_0", ["gguf-q8_0+kv=q4_0"]),
])
def test_kv_labels_parse_and_print_back(text, labels):
    assert [p.label() for p in build_spec({"precisions": text}).precisions] == labels


@pytest.mark.parametrize("text, needle", [("bf16+foo=1", "the only suffix is +kv=TYPE"), ("bf16+kv=", "+kv=TYPE")])
def test_bad_kv_labels_are_one_line(text, needle):
    with pytest.raises(UserError, match=needle.replace("+", r"\+")):
        build_spec({"precisions": text})


@pytest.mark.parametrize("label, split", [
    ("bf16", ("bf16", "default")), ("bf16+kv=int4", ("bf16", "int4")),
    ("gguf-q4_k_m+kv=q8_0:n_threads=1", ("gguf-q4_k_m:n_threads=1", "q8_0")),
])
def test_a_label_is_parsed_into_weights_and_kv(label, split):
    p = parse_label(label)
    assert (p.weights, p.kv_label) == split


@pytest.mark.parametrize("precision, needle", [
    ("bf16+kv=q8_0", "holds int4, int2"), ("bnb-nf4+kv=fp8", "no KV cache type 'fp8'"),
    ("gguf-q4_k_m+kv=int4", "no KV cache type 'int4'"),
    ("gguf-q4_k_m+kv=q8_0:type_k=q4_0", "give the KV cache type once"),
])
def test_unsupported_kv_types_are_refused_before_loading(precision, needle):
    from qlongbench.spec.labels import parse_precision

    p = build_spec({"precisions": precision}).precisions[0]
    with pytest.raises(UserError, match=needle):
        parse_precision(p)


def test_engine_baseline_of_a_kv_precision_is_the_engine_at_its_default_cache():
    from tests.plan_helpers import labels, planned

    plan = planned("bf16,gguf-q4_k_m+kv=q8_0,gguf-q4_k_m+kv=q4_0")
    assert labels(plan) == ["bf16", "gguf-bf16", "gguf-q4_k_m+kv=q8_0", "gguf-q4_k_m+kv=q4_0"]
    assert plan.engine_baselines_for("bf16") == {"gguf-q4_k_m+kv=q8_0": "gguf-bf16", "gguf-q4_k_m+kv=q4_0": "gguf-bf16"}
    assert planned("bf16,gguf-bf16+kv=q8_0,gguf-q4_k_m", engine_baseline=False).engine_baselines == {}


def test_policy_rules_can_name_the_kv_precision():
    from qlongbench.spec.policy import load_policy

    p = load_policy(None, {"max_drop": 5, "rules": [{"kv": "q8_0", "min_length": "8k", "max_drop": 2}]})
    assert p.tolerance("gguf-q4_k_m+kv=q8_0", "q8_0", "niah-single", "en", 8192).max_drop == 0.02
    assert p.tolerance("gguf-q4_k_m+kv=q8_0", "q8_0", "niah-single", "en", 4096).max_drop == 0.05
    assert p.tolerance("gguf-q4_k_m", "default", "niah-single", "en", 8192).max_drop == 0.05
    default = load_policy(None, {"max_drop": 5, "rules": [{"kv": "default", "max_drop": 1}]})
    assert default.tolerance("bf16", "default", "t", "en", 1).max_drop == 0.01


# --- transformers' quantized cache -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hf_int4(tiny_model, tiny_tokenizer, tmp_path_factory):
    import torch

    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.hf import HFBackend

    torch.set_num_threads(1)
    p = parse_label("bf16+kv=int4")
    b = HFBackend(p, LoadContext(model=str(tiny_model), revision=None, device="cpu",
                                 cache_dir=tmp_path_factory.mktemp("c"), tokenizer=tiny_tokenizer))
    yield b
    b.close()


@pytest.mark.parametrize("kv, bits", [("int4", 4), ("int2", 2)])
def test_hf_quantized_cache_bytes_are_measured_from_its_tensors(tiny_model, tiny_tokenizer, tmp_path, kv, bits):
    """After a prefill the cache holds packed codes plus a bf16 scale and shift per group (the residual
    window is empty); each decoded token then adds one full-precision row. Measured, never the formula."""
    import json

    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.hf import HFBackend
    from qlongbench.types import GenerationConfig

    cfg = json.loads((tiny_model / "config.json").read_text())
    layers, kv_heads = cfg["num_hidden_layers"], cfg["num_key_value_heads"]
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    group = 64 if head_dim % 64 == 0 else head_dim
    p = parse_label(f"bf16+kv={kv}")
    b = HFBackend(p, LoadContext(model=str(tiny_model), revision=None, device="cpu", cache_dir=tmp_path,
                                 tokenizer=tiny_tokenizer))
    try:
        sess = b.session()
        sess.extend(list(range(5, 205)))
        per_token = 2 * layers * kv_heads * (head_dim * bits // 8 + 2 * 2 * head_dim // group)
        assert sess.cache_bytes() == 200 * per_token
        assert sess.cache_bytes() < 2 * layers * kv_heads * head_dim * 200 * 2  # below bf16's
        gen = sess.generate([7, 8], GenerationConfig(max_new_tokens=3, stop_on_eos=False))
        # the question's two tokens sit in the bf16 residual window when the answer starts
        assert gen.kv_cache_bytes == 200 * per_token + 2 * 2 * layers * kv_heads * head_dim * 2
        info = b.info()
        assert info.recipe.options["kv_cache_dtype"] == kv and info.recipe.options["kv_residual_length"] == 128
        sess.close()
    finally:
        b.close()


def test_hf_quantized_crop_is_exact(hf_int4):
    """Prefill A + B, crop to A, extend C: the same logits as prefilling A then C afresh (the crop lands
    inside the quantized part and inside the residual window)."""
    import torch

    a, b_, c = list(range(5, 105)), list(range(300, 340)), list(range(600, 620))
    s1 = hf_int4.session()
    s1.extend(a)
    s1.extend(b_)
    s1.extend(list(range(700, 710)))  # into the residual window
    s1.crop(len(a) + 5)  # inside the residual: B's first five stay
    s1.crop(len(a))      # inside the quantized part
    s1.extend(c)
    s2 = hf_int4.session()
    s2.extend(a)
    s2.extend(c)
    assert s1.tokens == s2.tokens
    assert torch.equal(s1._next_logits(), s2._next_logits())
    assert s1.cache_bytes() == s2.cache_bytes()
    s1.close()
    s2.close()


@pytest.mark.parametrize("precision", ["bf16+kv=int4", "gguf-q8_0+kv=q4_0"])
def test_reuse_with_a_quantized_cache_equals_the_naive_path(request, tiny_model, tmp_path, precision):
    """Exact reuse (shared contexts prefilled once, nested contexts cropped) gives the naive path's
    outputs with a quantized cache, in transformers and in llama.cpp (on the engine test model, whose
    64-wide heads llama.cpp's 32-value KV blocks divide)."""
    model = tiny_model
    if precision.startswith("gguf"):
        model = request.getfixturevalue("gguf_setup").model
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    outs = {}
    for mode in ("exact", "none"):
        spec = build_spec({"model": str(model), "precisions": precision, "tasks": "niah-nested",
                           "lengths": [256, 512], "samples": 2, "reuse": mode, "device": "cpu",
                           "engine_baseline": False, "cache_dir": str(tmp_path / "cache"),
                           "out": str(tmp_path / mode), "max_new_tokens": 6})
        Runner(spec).run()
        records = RunDir(spec.out).records()
        assert all(r.status == "ok" for r in records), [r.error for r in records]
        outs[mode] = {r.sample_id: r.output for r in records}
    assert outs["exact"] == outs["none"] and len(outs["exact"]) == 4


# --- llama.cpp's quantized cache -------------------------------------------------------------------------------
@pytest.mark.parametrize("kv, ratio", [("q8_0", 34 / 64), ("q4_0", 18 / 64)])
def test_llama_cpp_kv_bytes_follow_the_type(gguf_setup, kv, ratio):
    """llama.cpp's own serialised state of the cells in use shrinks with the KV type: q8_0 = 8.5/16 and
    q4_0 = 4.5/16 of f16 per token (block scales included), beside a fixed header of the state."""
    from tests.engine_fixtures import open_backend

    sizes, formula = {}, {}
    for label in ("gguf-q8_0", f"gguf-q8_0+kv={kv}"):
        b = open_backend(label, gguf_setup)
        try:
            sess = b.session()
            sess.extend(list(range(5, 1029)))
            sizes[label] = sess.cache_bytes()
            formula[label] = b.kv_formula_bytes(1024)
            assert b.info().recipe.options["type_k"] == (kv if "+" in label else "f16")
            sess.close()
        finally:
            b.close()
    quant, f16 = sizes[f"gguf-q8_0+kv={kv}"], sizes["gguf-q8_0"]
    assert formula[f"gguf-q8_0+kv={kv}"] == round(formula["gguf-q8_0"] * ratio)
    # The header is the same whatever the type: the difference is exactly the cache's.
    assert f16 - quant == formula["gguf-q8_0"] - formula[f"gguf-q8_0+kv={kv}"]
    assert quant < f16 * (ratio + 0.05)


# --- the report's grid ------------------------------------------------------------------------------------------
def test_the_report_puts_weights_and_kv_on_one_grid(tiny_model, tmp_path):
    from qlongbench.analysis.build import build
    from qlongbench.run.runner import Runner

    spec = build_spec({"model": str(tiny_model), "precisions": "fp32,bf16,bf16+kv=int4", "lengths": [256],
                       "samples": 2, "device": "cpu", "out": str(tmp_path / "run"), "max_new_tokens": 4})
    Runner(spec).run()
    data = build(spec.out, floor=0.0)
    (grid,) = data.kv_grids
    assert grid.kvs == ("default", "int4") and grid.weights == ("fp32", "bf16")
    cell = grid.cell("bf16", "int4")
    assert cell.kv_drop is not None and cell.kv_drop.reference == "bf16"  # only the cache changed
    assert cell.kv_bytes < grid.cell("bf16", "default").kv_bytes
    assert cell.total_bytes == cell.weight_bytes + cell.kv_bytes
