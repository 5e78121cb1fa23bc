"""How a llama.cpp session splits what it feeds (backends/gguf_session.py prefill_chunks): every prefill
batch at most n_batch rows and, where the tokens allow, at least min_rows (llama.cpp's CPU flash
attention runs its tiled kernel from 64 query rows). A table of tricky cases."""

from __future__ import annotations

import pytest

from qlongbench.backends.gguf_session import prefill_chunks


@pytest.mark.parametrize("n_new,n_cached,n_batch,min_rows,expected", [
    (0, 100, 512, 64, (0, [])),                    # nothing to feed
    (22, 8000, 512, 64, (42, [64])),               # a question after a kept context: 42 cached tokens fed again
    (1, 8000, 512, 64, (63, [64])),                # one token (a prompt's last, fed again for its logits)
    (64, 8000, 512, 64, (0, [64])),                # exactly enough rows
    (22, 10, 512, 64, (10, [32])),                 # too few cached tokens to reach 64: all of them
    (22, 0, 512, 64, (0, [22])),                   # an empty cache: a short prompt is what it is
    (8166, 0, 512, 64, (0, [512] * 15 + [486])),   # a long prompt whose tail is already long enough
    (8200, 0, 512, 64, (0, [512] * 15 + [456, 64])),  # a tail of 8 takes 56 rows from the batch before
    (1024, 0, 512, 64, (0, [512, 512])),           # whole batches
    (22, 8000, 512, 1, (0, [22])),                 # min_rows 1: plain batches (no tiled kernel to reach)
    (1100, 0, 512, 1, (0, [512, 512, 76])),
    (100, 0, 96, 64, (0, [96, 4])),                # n_batch below 2 x 64: both cannot hold, plain batches
    (130, 5, 128, 64, (0, [66, 64])),              # n_batch 128: the tail of 2 takes 62 rows
])
def test_prefill_chunks(n_new, n_cached, n_batch, min_rows, expected):
    back, sizes = prefill_chunks(n_new, n_cached, n_batch, min_rows)
    assert (back, sizes) == expected
    assert sum(sizes) == n_new + back and all(0 < s <= n_batch for s in sizes)
