"""The decoding loop every engine shares."""

import numpy as np
import pytest

from qlongbench.backends.session import decode_loop, sample_token
from qlongbench.types import GenerationConfig


def _step_from(table):
    return lambda tok: np.asarray(table[tok], dtype=np.float32)


TABLE = {  # next logits after each token: a 3-token vocabulary, token 2 is EOS
    0: [0.0, 5.0, 1.0],
    1: [0.0, 0.0, 9.0],
}


@pytest.mark.parametrize("max_new,eos,expected,finish", [
    (5, {2}, (0, 1), "eos"),          # 0 -> 1 -> eos
    (1, {2}, (0,), "length"),         # budget of one token: no step after it
    (3, set(), (0, 1, 2), "length"),  # no eos: the budget stops it
    (0, {2}, (), "length"),
])
def test_greedy_loop(max_new, eos, expected, finish):
    cfg = GenerationConfig(max_new_tokens=max_new)
    first = np.asarray([3.0, 1.0, 0.0])
    got = decode_loop(first, _step_from(TABLE), cfg, eos, argmax=lambda a: int(np.argmax(a)), to_numpy=lambda a: a)
    assert got.tokens == expected and got.finish == finish


def test_sampling_is_seeded_and_top_p_narrows_to_the_top_token():
    logits = np.asarray([2.0, 1.9, -5.0])
    draws = lambda seed, top_p: [sample_token(logits, GenerationConfig(max_new_tokens=1, do_sample=True,  # noqa: E731
                                                                       top_p=top_p), np.random.default_rng(seed))
                                 for _ in range(1)]
    assert draws(1, 1.0) == draws(1, 1.0)
    cfg = GenerationConfig(max_new_tokens=1, do_sample=True, top_p=0.01)
    rng = np.random.default_rng(0)
    assert {sample_token(logits, cfg, rng) for _ in range(50)} == {0}
    cfg = GenerationConfig(max_new_tokens=1, do_sample=True, temperature=1.0)
    rng = np.random.default_rng(0)
    seen = {sample_token(logits, cfg, rng) for _ in range(200)}
    assert seen == {0, 1}
