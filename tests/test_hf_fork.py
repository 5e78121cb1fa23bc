"""Shared-prefix decoding (backends/hf_fork.py): the questions of one context decoded together, one
row each. The attention's two-part softmax against a float64 computation over the concatenation; the
rows' logits against the one-row path's at every step (fp32: within float32 rounding; bf16: the
first step bit for bit, the rest within bf16 noise); the session's cache left as it was; engines
that cannot fork answering one after another; and the run's `decode_rows` reaching every record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qlongbench.backends import hf as hf_module
from qlongbench.backends import hf_fork
from qlongbench.backends.hf_attention import ForkedKV, attend_forked
from qlongbench.types import GenerationConfig


def _ids(n: int, seed: int, vocab: int = 250) -> list[int]:
    return [int(x) for x in np.random.default_rng(seed).integers(5, vocab, size=n)]


def _reference(query, kv: ForkedKV, lengths, scaling, groups):
    """Softmax attention in float64 of each row over prefix + its first lengths[r] + 1 suffix keys."""
    rows, heads, _, dim = query.shape
    out = torch.empty(rows, 1, heads, dim, dtype=torch.float64)
    for r in range(rows):
        k = torch.cat([kv.prefix_keys[0], kv.suffix_keys[r, :, : lengths[r] + 1]], dim=1).double()
        v = torch.cat([kv.prefix_values[0], kv.suffix_values[r, :, : lengths[r] + 1]], dim=1).double()
        for h in range(heads):
            s = (k[h // groups] @ query[r, h, 0].double()) * scaling
            out[r, 0, h] = torch.softmax(s, 0) @ v[h // groups]
    return out


@pytest.mark.parametrize("rows,prefix,lengths,scale", [
    (1, 7, [0], 1.0),                # one row, only its own token in the suffix
    (3, 300, [0, 5, 11], 1.0),       # ragged suffixes
    (4, 64, [3, 3, 3, 3], 30.0),     # large scores: the max shift must keep exp finite
    (2, 1, [9, 2], 0.01),            # a one-token prefix, nearly uniform weights
])
def test_attend_forked_is_softmax_over_the_concatenation(rows, prefix, lengths, scale):
    g = torch.Generator().manual_seed(rows * 100 + prefix)
    kv_heads, groups, dim, cap = 3, 3, 8, 16
    kv = ForkedKV(torch.randn(1, kv_heads, prefix, dim, generator=g) * scale,
                  torch.randn(1, kv_heads, prefix, dim, generator=g),
                  torch.randn(rows, kv_heads, cap, dim, generator=g) * scale,
                  torch.randn(rows, kv_heads, cap, dim, generator=g),
                  torch.arange(cap)[None, :] <= torch.tensor(lengths)[:, None])
    query = torch.randn(rows, kv_heads * groups, 1, dim, generator=g)
    got = attend_forked(query, kv, dim ** -0.5)
    want = _reference(query, kv, lengths, dim ** -0.5, groups)
    assert got.shape == (rows, 1, kv_heads * groups, dim) and got.dtype == torch.float32
    assert torch.allclose(got.double(), want, atol=1e-5, rtol=1e-5)  # float32: scores up to ~100 here


def test_attend_forked_ignores_what_a_row_does_not_see():
    g = torch.Generator().manual_seed(5)
    kv = ForkedKV(torch.randn(1, 1, 4, 8, generator=g), torch.randn(1, 1, 4, 8, generator=g),
                  torch.randn(1, 1, 8, 8, generator=g), torch.randn(1, 1, 8, 8, generator=g),
                  torch.tensor([[True, True, False, False, False, False, False, False]]))
    q = torch.randn(1, 2, 1, 8, generator=g)
    before = attend_forked(q, kv, 0.3)
    kv.suffix_keys[:, :, 2:] = 1e6  # beyond the row's length: must not count
    kv.suffix_values[:, :, 2:] = -1e6  # (the buffers hold zeros or a row's stale tokens there, never NaN)
    assert torch.equal(attend_forked(q, kv, 0.3), before)


@pytest.fixture
def steps(monkeypatch):
    """Every step's logits of both paths: `one` (a list per generate call) and `rows` (per row)."""
    seen: dict[str, list] = {"one": [], "rows": []}
    orig_loop, orig_rows = hf_module.decode_loop, hf_fork.decode_rows

    def loop(logits, step, cfg, eos, argmax, to_numpy):
        got = [logits.clone()]
        seen["one"].append(got)

        def recording(tok):
            out = step(tok)
            got.append(out.clone())
            return out

        return orig_loop(logits, recording, cfg, eos, argmax, to_numpy)

    def rows(first, step, cfgs, eos, argmax, to_numpy):
        got = [[t.clone()] for t in first]
        seen["rows"] = got

        def recording(live, tokens):
            out = step(live, tokens)
            for i, t in zip(live, out):
                got[i].append(t.clone())
            return out

        return orig_rows(first, recording, cfgs, eos, argmax, to_numpy)

    monkeypatch.setattr(hf_module, "decode_loop", loop)
    monkeypatch.setattr(hf_fork, "decode_rows", rows)
    return seen


QUESTIONS = [_ids(n, seed=10 + n) for n in (5, 12, 22, 1, 17)]
BUDGETS = [14, 3, 14, 9, 1]  # rows leave the batch at different steps


def _cfgs():
    return [GenerationConfig(max_new_tokens=m, stop_on_eos=False) for m in BUDGETS]


def _both(backend, context_len: int):
    sess = backend.session()
    sess.extend(_ids(context_len, seed=1))
    before = sess.tokens
    one = [sess.generate(q, c) for q, c in zip(QUESTIONS, _cfgs())]
    many = sess.generate_many(QUESTIONS, _cfgs())
    assert sess.tokens == before  # the cache ends as it started
    again = sess.generate(QUESTIONS[0], _cfgs()[0])
    assert again.token_ids == one[0].token_ids  # and still answers as before
    return one, many


def test_rows_at_fp32_follow_the_one_row_path(tiny_hf, steps):
    one, many = _both(tiny_hf("fp32"), 700)
    assert [g.decode_rows for g in many] == [5] * 5 and [g.decode_rows for g in one] == [1] * 5
    assert [g.token_ids for g in many] == [g.token_ids for g in one]
    assert [len(g.token_ids) for g in many] == BUDGETS
    for r, alone in enumerate(steps["one"][:5]):
        together = steps["rows"][r]
        assert len(together) == len(alone) == BUDGETS[r]
        for a, b in zip(alone, together):
            assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    for g, alone, q in zip(many, one, QUESTIONS):
        assert g.n_prefilled_tokens == len(q) and g.n_prompt_tokens == 700 + len(q)
        assert g.kv_cache_bytes == alone.kv_cache_bytes  # the cache with its own question, as alone
    assert many[0].decode_seconds == pytest.approx(many[1].decode_seconds)  # the batch's time, shared


def test_rows_at_bf16_start_bit_equal_and_stay_within_bf16_noise(tiny_hf, steps):
    one, many = _both(tiny_hf("bf16"), 700)
    for r, alone in enumerate(steps["one"][:5]):
        together = steps["rows"][r]
        assert torch.equal(alone[0], together[0])  # the question's prefill is the one-row path's
        shared = min(len(alone), len(together))
        for a, b in zip(alone[1:shared], together[1:shared]):
            if not torch.equal(a.argmax(), b.argmax()):
                break  # a moved token: from here the rows feed different tokens
            assert float((a - b).abs().max()) < 0.25 * float(a.abs().max())
    assert all(g.decode_rows == 5 for g in many)


def test_an_engine_that_cannot_fork_answers_one_after_another(tiny_hf):
    backend = tiny_hf("fp32")
    backend.mirror_decode = False  # DynamicLayer cache: no float32 mirror to share
    try:
        sess = backend.session()
        sess.extend(_ids(300, seed=2))
        assert not hf_fork.forkable(sess)
        many = sess.generate_many(QUESTIONS, _cfgs())
        one = [sess.generate(q, c) for q, c in zip(QUESTIONS, _cfgs())]
    finally:
        backend.mirror_decode = True
    assert [g.decode_rows for g in many] == [1] * 5
    assert [g.token_ids for g in many] == [g.token_ids for g in one]


def test_generate_many_wants_one_config_per_question(tiny_hf):
    sess = tiny_hf("fp32").session()
    sess.extend(_ids(50, seed=3))
    with pytest.raises(ValueError, match="one generation config per question"):
        sess.generate_many(QUESTIONS, _cfgs()[:2])


@pytest.mark.parametrize("precision,forks", [("fp32", True), ("bnb-int8", False)])
def test_a_run_decodes_a_contexts_questions_together(tiny_model, tmp_path, precision, forks):
    """Through the runner: --decode-rows 4 on the nested sweep gives the one-row answers (fp32), each
    record says how many rows it decoded with, and the option is not part of the run's identity."""
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir
    from qlongbench.spec.config import build_spec

    if precision.startswith("bnb"):
        pytest.importorskip("bitsandbytes", reason="the bnb extra (bitsandbytes) is not installed")
    outs, rows, specs = {}, {}, {}
    for n in (1, 4):
        spec = build_spec({"model": str(tiny_model), "precisions": precision, "tasks": "niah-nested",
                           "lengths": [512, 768], "samples": 4, "decode_rows": n, "out": str(tmp_path / f"r{n}"),
                           "cache_dir": str(tmp_path / "cache")})
        Runner(spec).run()
        records = RunDir(spec.out).records()
        assert len(records) == 8 and all(r.status == "ok" for r in records)
        outs[n] = {r.sample_id: r.output for r in records}
        rows[n] = sorted({r.decode_rows for r in records})
        specs[n] = spec
    assert rows[1] == [1]
    assert rows[4] == ([4] if forks else [1])  # LLM.int8() is not batch-invariant: one at a time
    if precision == "fp32":
        assert outs[4] == outs[1]
    assert specs[1].identity_sha256() == specs[4].identity_sha256()
    from qlongbench.analysis.build import build
    from qlongbench.render.prose import batch_note

    assert batch_note(build(specs[1].out)) is None
    note = batch_note(build(specs[4].out))  # the report says the records were batched, and how
    assert (note is not None and f"{precision} 8 records (up to 4 rows)" in note) if forks else note is None
    with pytest.raises(Exception, match="decode_rows"):
        build_spec({"model": "m", "decode_rows": 0})
