"""The HF context session against a fresh prefill: crop correctness, reuse equals naive."""

import numpy as np
import pytest

from qlongbench.types import GenerationConfig


@pytest.fixture(scope="module")
def fp32_backend(tiny_hf):
    return tiny_hf("fp32")


def _ids(tok, n, seed=0):
    rng = np.random.default_rng(seed)
    return [int(x) for x in rng.integers(3, len(tok.hf), size=n)]


def test_logits_after_crop_and_extend_equal_a_fresh_prefill(fp32_backend, tiny_tokenizer):
    ids = _ids(tiny_tokenizer, 300)
    other = _ids(tiny_tokenizer, 40, seed=1)
    fresh = fp32_backend.session()
    fresh.extend(ids)
    want = fresh._next_logits().numpy()
    sess = fp32_backend.session()
    sess.extend(ids[:200] + other)
    sess.crop(200)
    assert sess.n_tokens == 200 and sess.tokens == tuple(ids[:200])
    sess.extend(ids[200:])
    got = sess._next_logits().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # cropping to the very end and asking again recomputes the last token's logits
    sess.crop(150)
    sess.extend(ids[150:])
    np.testing.assert_allclose(sess._next_logits().numpy(), want, rtol=1e-4, atol=1e-4)


def test_session_generate_leaves_the_context_as_it_was(fp32_backend, tiny_tokenizer):
    ctx_ids = _ids(tiny_tokenizer, 120)
    cfg = GenerationConfig(max_new_tokens=6, stop_on_eos=False)
    sess = fp32_backend.session()
    sess.extend(ctx_ids)
    a = sess.generate([5, 6, 7], cfg)
    assert sess.n_tokens == 120
    b = sess.generate([5, 6, 7], cfg)
    assert a.token_ids == b.token_ids and len(a.token_ids) == 6
    naive = fp32_backend.generate([__import__("qlongbench.types", fromlist=["TokenPrompt"]).TokenPrompt(
        ids=tuple(ctx_ids + [5, 6, 7]))], cfg)[0]
    assert naive.token_ids == a.token_ids
    assert a.kv_cache_bytes == fp32_backend.kv_formula_bytes(123)


def test_runner_reuse_equals_naive_outputs(tiny_model, tmp_path):
    from qlongbench.spec.config import build_spec
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    outs = {}
    for mode in ("exact", "none"):
        spec = build_spec({"model": str(tiny_model), "precisions": "fp32", "lengths": [256, 512], "samples": 3,
                           "reuse": mode, "out": str(tmp_path / mode)})
        Runner(spec).run()
        outs[mode] = {r.sample_id: r.output for r in RunDir(spec.out).records()}
    assert outs["exact"] == outs["none"] and len(outs["exact"]) == 6
