"""Memory: the KV formula and its inputs (table-tested), the peak-RSS reset, and the KV bytes HF
measures on the tiny model, which must equal the formula exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from qlongbench import memory
from qlongbench.memory import AttentionGeometry, crossover_tokens, dtype_bytes, format_bytes


@pytest.mark.parametrize(
    "layers, kv_heads, head_dim, tokens, elem, expected",
    [
        (32, 8, 128, 4096, 2, 2 * 32 * 8 * 128 * 4096 * 2),  # Llama-3-8B at 4k, bf16: 512 MiB
        (32, 8, 128, 131072, 2, 16 * 2**30),                 # ... at 128k: 16 GiB
        (2, 2, 16, 488, 2, 2 * 2 * 2 * 16 * 488 * 2),         # the tiny test model
        (2, 2, 16, 488, 4, 2 * 2 * 2 * 16 * 488 * 4),         # fp32 cache doubles it
        (2, 2, 16, 0, 2, 0),
        (40, 8, 128, 1024, 34 / 32, 2 * 40 * 8 * 128 * 1024 * 34 // 32),  # llama.cpp q8_0 KV
    ],
)
def test_kv_formula_table(layers, kv_heads, head_dim, tokens, elem, expected):
    assert AttentionGeometry(layers, kv_heads, head_dim).kv_bytes(tokens, elem) == expected


def test_kv_formula_with_other_k_and_v_types():
    """llama.cpp may keep K and V in different types (and dimensions): one formula covers both."""
    geo = AttentionGeometry(layers=30, kv_heads=3, head_dim=64, head_dim_v=32)
    assert geo.kv_bytes(1000, 2.0, 34 / 32) == round(30 * 3 * (64 * 2.0 + 32 * 34 / 32) * 1000)


@pytest.mark.parametrize(
    "meta, expected",
    [
        ({"num_hidden_layers": 4, "num_key_value_heads": 2, "head_dim": 64, "num_attention_heads": 8}, (4, 2, 64)),
        # No head_dim: hidden / heads. No KV heads (MHA): the attention heads.
        ({"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 64}, (2, 4, 16)),
        ({"num_hidden_layers": 2, "num_key_value_heads": None, "num_attention_heads": 4, "hidden_size": 64}, (2, 4, 16)),
        ({"num_attention_heads": 4, "hidden_size": 64}, None),
        ({}, None),
        ({"num_hidden_layers": "x", "num_attention_heads": 4, "hidden_size": 64}, None),
    ],
)
def test_geometry_from_run_json(meta, expected):
    geo = AttentionGeometry.from_config(meta)
    assert (None if geo is None else (geo.layers, geo.kv_heads, geo.head_dim)) == expected


@pytest.mark.parametrize(
    "name, expected",
    [("bfloat16", 2), ("torch.bfloat16", 2), ("float32", 4), ("FP16", 2), ("q8_0", 34 / 32), ("q4_0", 18 / 32),
     ("int8", 1), ("", None), (None, None), ("complex128", None)],
)
def test_dtype_bytes(name, expected):
    assert dtype_bytes(name) == expected


@pytest.mark.parametrize(
    "name, precision_meta, expected",
    [
        ("bf16", {"dtype": "bfloat16", "recipe": {"method": "none", "compute_dtype": "bfloat16"}}, 2),
        ("fp32", {"dtype": "float32", "recipe": {"method": "none", "compute_dtype": "float32"}}, 4),
        # Weight quantization leaves the cache in the compute dtype.
        ("bnb-nf4", {"dtype": "bfloat16", "recipe": {"method": "bitsandbytes", "bits": 4, "compute_dtype": "bfloat16"}}, 2),
        # llama.cpp keeps an f16 cache whatever the weights are, unless a KV type is set.
        ("gguf-q4_k_m", {"dtype": "float32", "recipe": {"method": "gguf", "quant_type": "Q4_K_M"}}, 2),
        ("gguf-q4_k_m", {"recipe": {"method": "gguf", "options": {"type_k": "q8_0"}}}, 34 / 32),
        # vLLM names its cache's own dtype.
        ("vllm-fp8", {"dtype": "bfloat16", "recipe": {"method": "fp8", "compute_dtype": "bfloat16",
                                                      "options": {"kv_cache_dtype": "fp8"}}}, 1),
    ],
)
def test_kv_element_bytes_are_what_each_engine_declares(name, precision_meta, expected):
    from qlongbench import registry
    from qlongbench.types import BackendInfo

    info = BackendInfo(precision=name, engine="e", engine_version="1", device="cpu",
                       dtype=precision_meta.get("dtype") or "float32", recipe={"method": "none"} | precision_meta["recipe"],
                       weight_bytes=1)
    assert registry.backend_class(name).kv_element_bytes(info) == expected


@pytest.mark.parametrize(
    "saved, per_token, expected",
    [(34 * 2**20, 2048, 17408), (1, 2048, 1), (2049, 2048, 2), (0, 2048, None), (-5, 2048, None), (100, 0, None)],
)
def test_crossover_tokens(saved, per_token, expected):
    assert crossover_tokens(saved, per_token) == expected


@pytest.mark.parametrize(
    "n, text",
    [(None, "–"), (0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (50 * 2**20, "50 MiB"),
     (50 * 2**20 + 1024, "50.0 MiB"), (16 * 2**30, "16 GiB"), (-34 * 2**20, "-34 MiB"), (3 * 2**40, "3 TiB")],
)
def test_format_bytes(n, text):
    assert format_bytes(n) == text


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc")
def test_peak_rss_reset_forgets_an_earlier_peak():
    import numpy as np

    block = np.ones(80 * 2**20 // 8)  # 80 MiB, touched
    high = memory.peak_rss_bytes()
    del block
    now = memory.current_rss_bytes()
    assert now is not None and high >= now
    assert memory.reset_peak_rss()
    after = memory.peak_rss_bytes()
    # The peak starts again from what the process holds now: everything before the reset is
    # forgotten (in a long test session the allocator may keep the freed block, so `now` is the bar).
    assert after <= now + 8 * 2**20, (high, now, after)
    if high - now > 40 * 2**20:
        assert after < high - 30 * 2**20
    device_peak, source = memory.read_peak("cpu")
    assert source == "process-peak-rss" and device_peak >= after


def test_import_qlongbench_memory_does_not_import_torch():
    import subprocess

    code = "import sys, qlongbench.memory, qlongbench.analysis.build; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- measured on the tiny model ------------------------------------------------------------------
@pytest.fixture(scope="module")
def geometry(tiny_model) -> AttentionGeometry:
    cfg = json.loads((tiny_model / "config.json").read_text())
    geo = AttentionGeometry.from_config(cfg)
    assert geo is not None
    return geo


@pytest.mark.parametrize("precision, elem", [("bf16", 2), ("fp32", 4)])
def test_hf_measured_kv_bytes_equal_the_formula(tiny_model, tiny_tokenizer, tmp_path, geometry, precision, elem):
    import torch

    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.hf import HFBackend
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision
    from qlongbench.types import GenerationConfig

    torch.set_num_threads(1)
    backend = HFBackend(parse_precision(PrecisionSpec(name=precision)),
                        LoadContext(model=str(tiny_model), revision=None, device="cpu", cache_dir=tmp_path,
                                    tokenizer=tiny_tokenizer))
    cfg = GenerationConfig(max_new_tokens=3, stop_on_eos=False)
    try:
        sess = backend.session()
        try:
            for n in (7, 100, 333):
                gen = sess.generate(list(range(5, 5 + n)), cfg)
                assert gen.n_prompt_tokens == n
                assert gen.kv_cache_bytes == geometry.kv_bytes(n, elem) == backend.kv_formula_bytes(n)
                assert gen.peak_source == "process-peak-rss" and gen.peak_bytes > backend.weight_bytes()
                assert gen.kv_cache_allocator_bytes is None  # CPU: no CUDA allocator
            # A kept context plus a question: the cache holds both when the answer starts.
            sess.extend(list(range(10, 210)))
            gen = sess.generate([11, 12, 13], cfg)
            assert gen.n_prompt_tokens == 203
            assert gen.kv_cache_bytes == geometry.kv_bytes(203, elem)
        finally:
            sess.close()
        sess = backend.session()
        try:
            sess.extend([backend.pad_id()] * 64)
            assert sess.cache_bytes() == backend.kv_formula_bytes(64) == geometry.kv_bytes(64, elem)
        finally:
            sess.close()
    finally:
        backend.close()
