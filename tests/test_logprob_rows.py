"""Log-prob passes stay within a memory budget whatever the vocabulary: the rule as a table, and a real
engine (the tiny transformers model) cutting its passes by it with the same log-probs either way."""

from __future__ import annotations

import numpy as np
import pytest

from qlongbench.backends import base
from qlongbench.backends.base import logprob_rows


@pytest.mark.parametrize("chunk, vocab, rows", [
    (512, 49_152, 512),       # SmolLM2: the chunk as asked (2^25 / 49,152 = 682)
    (512, 262_144, 128),      # Gemma 3: 2^25 / 262,144
    (64, 262_144, 64),        # a smaller chunk than the budget allows is kept
    (512, 2 ** 26, 1),        # a vocabulary past the budget: one position at a time, never zero
    (1, 10, 1),
    (512, 0, 512),            # a degenerate vocabulary count does not divide by zero
])
def test_positions_per_pass(chunk, vocab, rows):
    assert logprob_rows(chunk, vocab) == rows


def test_transformers_passes_follow_the_budget_and_give_the_same_logprobs(tiny_hf, tiny_tokenizer, monkeypatch):
    backend = tiny_hf("fp32")
    ids = [int(x) for x in np.random.default_rng(0).integers(3, len(tiny_tokenizer.hf), size=100)]
    vocab = backend.model.get_output_embeddings().weight.shape[0]
    whole = list(backend.iter_logprobs(ids, chunk=512))
    assert [c.start for c in whole] == [0]
    monkeypatch.setattr(base, "LOGPROB_FLOATS", vocab * 30)  # 30 positions per pass
    cut = list(backend.iter_logprobs(ids, chunk=512))
    assert [c.start for c in cut] == [0, 30, 60, 90]
    np.testing.assert_allclose(np.concatenate([c.logprobs for c in cut]), whole[0].logprobs, atol=1e-4)
