"""The transformers session's cache on CPU (backends/hf_mirror.py): tokens written in place, a float32
mirror for one-query steps — and the same numbers as transformers' DynamicLayer, bit for bit."""

from __future__ import annotations

import pytest
import torch

from qlongbench.backends import hf_mirror
from qlongbench.backends.hf_mirror import GROW, MirrorLayer
from qlongbench.types import GenerationConfig


@pytest.fixture(scope="module")
def bf16(tiny_hf):
    return tiny_hf("bf16")


def _ids(n: int, seed: int) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, 250, (n,), generator=g).tolist()


def _script(backend, mirror: bool) -> tuple[list[torch.Tensor], list[tuple[int, ...]], int, object]:
    """One context, two questions with crops between, a decode across a buffer's growth: every step's
    logits, the answers, the measured cache bytes and the session's cache."""
    backend.mirror_decode = mirror
    sess = backend.session()
    logits: list[torch.Tensor] = []
    context = _ids(2 * GROW - 12, 1)  # room for 3 * GROW tokens
    sess.extend(context)
    for tok in _ids(GROW + 30, 2):  # one-query steps across the growth of the buffers (and the mirror)
        logits.append(sess._forward([tok]))
    sess.crop(len(context))  # below what the mirror holds: it must be rebuilt from the buffers
    cfg = GenerationConfig(max_new_tokens=12, stop_on_eos=False)
    answers = [sess.generate(_ids(9, 3), cfg).token_ids, sess.generate(_ids(5, 4), cfg).token_ids]
    sess.crop(len(context) - 17)  # into the context: the kept logits are recomputed
    logits.append(sess._next_logits())
    for tok in _ids(20, 5):
        logits.append(sess._forward([tok]))
    kv = sess.cache_bytes()
    return logits, answers, kv, sess.cache


def test_mirror_gives_dynamic_layers_numbers_bit_for_bit(bf16):
    plain_logits, plain_answers, plain_kv, plain_cache = _script(bf16, mirror=False)
    got_logits, got_answers, got_kv, got_cache = _script(bf16, mirror=True)
    bf16.mirror_decode = True
    assert all(type(layer).__name__ == "DynamicLayer" for layer in plain_cache.layers)
    assert all(isinstance(layer, MirrorLayer) for layer in got_cache.layers)
    assert len(got_logits) == len(plain_logits)
    assert all(torch.equal(a, b) for a, b in zip(got_logits, plain_logits))
    assert got_answers == plain_answers
    assert got_kv == plain_kv  # the bf16 cache the model holds, not the buffers' room or the mirror


def test_the_backend_mirrors_on_cpu_at_bf16(bf16):
    assert bf16.mirror_decode  # the float32 one-query path is in use (hf_attention.NAME)
    assert all(isinstance(layer, MirrorLayer) for layer in bf16.session().cache.layers)


def _layer() -> tuple[MirrorLayer, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    k = torch.randn(1, 2, 300, 8, generator=g).to(torch.bfloat16)
    v = torch.randn(1, 2, 300, 8, generator=g).to(torch.bfloat16)
    return MirrorLayer(), k, v


def test_prefill_reads_bf16_views_and_one_query_steps_read_the_float32_mirror():
    layer, k, v = _layer()
    pk, pv = layer.update(k[:, :, :250], v[:, :, :250])
    assert pk.dtype == torch.bfloat16 and torch.equal(pk, k[:, :, :250]) and torch.equal(pv, v[:, :, :250])
    for t in range(250, 300):  # the room is 512 tokens: steps write in place
        sk, sv = layer.update(k[:, :, t:t + 1], v[:, :, t:t + 1])
        assert sk.dtype == torch.float32 and sk.shape[-2] == t + 1
        assert torch.equal(sk, k[:, :, :t + 1].float()) and torch.equal(sv, v[:, :, :t + 1].float())
    assert layer.get_seq_length() == 300
    assert int(layer.keys.nbytes) == int(k.nbytes)


@pytest.mark.parametrize("cut", [0, 1, 120, 299])
def test_crop_then_append_holds_the_kept_prefix_and_the_new_rows(cut):
    layer, k, v = _layer()
    layer.update(k, v)
    layer.update(k[:, :, :1], v[:, :, :1])  # a one-query step: the mirror holds 301 rows
    layer.crop(-(301 - cut))
    assert layer.get_seq_length() == cut
    new_k, new_v = torch.ones(1, 2, 1, 8, dtype=torch.bfloat16), torch.zeros(1, 2, 1, 8, dtype=torch.bfloat16)
    sk, sv = layer.update(new_k, new_v)
    assert torch.equal(sk, torch.cat([k[:, :, :cut], new_k], dim=-2).float())
    assert torch.equal(sv, torch.cat([v[:, :, :cut], new_v], dim=-2).float())


def test_a_float32_cache_gets_no_mirror():
    layer = MirrorLayer()
    k = torch.randn(1, 2, 5, 8)
    layer.update(k, k)
    sk, _ = layer.update(k[:, :, :1], k[:, :, :1])
    assert sk.dtype == torch.float32 and torch.equal(sk, torch.cat([k, k[:, :, :1]], dim=-2))
    assert layer._k32 is None  # nothing converted: the cache already is what the kernel reads
    assert layer.mirror_bytes() == 2 * (2 * 8 * 4) * (GROW + GROW - 6)  # the buffers' room only


def test_mirror_bytes_count_the_float32_copy_and_the_room():
    layer, k, v = _layer()
    layer.update(k, v)
    assert layer.mirror_bytes() == 2 * (2 * 8 * 2) * (768 - 300)  # room only (300 + GROW, rounded up): no mirror yet
    layer.update(k[:, :, :1], v[:, :, :1])
    room = 2 * (2 * 8 * 2) * (768 - 301)  # keys and values, 2 heads x 8 dims x 2 bytes, 467 tokens
    mirror = 2 * (2 * 8 * 4) * 768  # float32 keys and values over the whole room
    assert layer.mirror_bytes() == room + mirror


@pytest.mark.parametrize("call", ["batch_repeat_interleave", "batch_select_indices", "reorder_cache"])
def test_batch_operations_are_refused(call):
    layer, k, v = _layer()
    layer.update(k, v)
    with pytest.raises(NotImplementedError, match="one row"):
        getattr(layer, call)(torch.tensor([0]) if call != "batch_repeat_interleave" else 2)


def test_install_leaves_other_layers_alone():
    from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

    cache = DynamicCache()
    cache.layers = [DynamicSlidingWindowLayer(sliding_window=4), DynamicLayer()]
    hf_mirror.install(cache)
    assert type(cache.layers[0]) is DynamicSlidingWindowLayer
    assert type(cache.layers[1]) is MirrorLayer
