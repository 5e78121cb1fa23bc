"""--project-memory reads a model from its config alone: parameter count and attention geometry."""

from __future__ import annotations

import pytest

from qlongbench.analysis.projection import named_model
from qlongbench.errors import UserError


def test_config_only_model_gives_parameters_and_geometry(tmp_path):
    from transformers import LlamaConfig

    cfg = LlamaConfig(hidden_size=96, intermediate_size=256, num_hidden_layers=3, num_attention_heads=6,
                      num_key_value_heads=2, vocab_size=1000, tie_word_embeddings=False)
    cfg.save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.safetensors"))  # config only
    params, geometry = named_model(str(tmp_path))
    per_layer = 96 * 96 * 2 + 96 * 32 * 2 + 3 * 96 * 256 + 2 * 96  # q,o + k,v (2 heads of 16) + MLP + norms
    assert params == 3 * per_layer + 2 * 1000 * 96 + 96
    assert (geometry.layers, geometry.kv_heads, geometry.head_dim) == (3, 2, 16)


def test_a_directory_without_a_config_is_one_line(tmp_path):
    with pytest.raises(UserError, match="--project-memory: cannot read the config of"):
        named_model(str(tmp_path))
