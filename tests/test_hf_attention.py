"""The transformers engines' CPU attention (one-query steps in float32) and the rule that decides
when a cached prefix is worth keeping."""

from __future__ import annotations

import pytest
import torch

from qlongbench.backends.hf import worth_keeping
from qlongbench.backends.hf_attention import NAME, _forward, attend_after_past, merge_by_lse, use_fast_decode
from qlongbench.types import GenerationConfig


@pytest.fixture(scope="module")
def bf16(tiny_hf):
    return tiny_hf("bf16")


def test_cpu_backends_run_it_and_record_it(bf16):
    assert bf16.model.config._attn_implementation == NAME
    assert bf16.info().attention == NAME


def _qkv(q_len: int, kv_len: int, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 4, q_len, 16, generator=g).to(dtype)
    k = torch.randn(1, 2, kv_len, 16, generator=g).to(dtype)
    v = torch.randn(1, 2, kv_len, 16, generator=g).to(dtype)
    return q, k, v


def _ulps(x: torch.Tensor, exact: torch.Tensor) -> float:
    """Largest error of x against exact, in bf16 units in the last place of the exact value."""
    ulp = torch.ldexp(torch.ones_like(exact), torch.frexp(exact.abs().clamp(min=2**-30))[1] - 8)
    return float(((x.double() - exact) / ulp).abs().max())


@pytest.mark.parametrize("kv_len", [1, 7, 300, 2048])
@pytest.mark.parametrize("mask", ["none", "bool", "float"])
def test_one_query_step_is_correctly_rounded(bf16, kv_len, mask):
    """The float32 step is within half a bf16 ulp of a float64 computation (rounded once, at the
    output) and never further from it than torch's bf16 kernel."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = bf16.model.model.layers[0].self_attn  # num_key_value_groups = 2 (GQA)
    q, k, v = _qkv(1, kv_len, torch.bfloat16)
    attn = None
    if mask != "none":
        keep = torch.ones(1, 1, 1, kv_len, dtype=torch.bool)
        keep[..., : kv_len // 3] = False  # a padded row (batched decode) hides its first keys
        attn = keep if mask == "bool" else torch.where(keep, 0.0, torch.finfo(torch.bfloat16).min).to(torch.bfloat16)
    stock, _ = sdpa_attention_forward(module, q, k, v, attn, scaling=0.25)
    exact, _ = sdpa_attention_forward(module, q.double(), k.double(), v.double(),
                                      None if attn is None else attn if mask == "bool" else attn.double(), scaling=0.25)
    got, _ = _forward(module, q, k, v, attn, scaling=0.25)
    assert got.dtype == torch.bfloat16 and got.shape == stock.shape
    assert _ulps(got, exact) <= 0.51
    assert _ulps(got, exact) <= _ulps(stock, exact)


@pytest.mark.parametrize("dtype,q_len", [(torch.bfloat16, 5), (torch.bfloat16, 64), (torch.float32, 1),
                                         (torch.float64, 1)])
def test_prefill_and_full_precision_are_stock_sdpa_bit_for_bit(bf16, dtype, q_len):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = bf16.model.model.layers[0].self_attn
    q, k, v = _qkv(q_len, 200, dtype, seed=3)
    want, _ = sdpa_attention_forward(module, q, k, v, None, scaling=0.25)
    got, _ = _forward(module, q, k, v, None, scaling=0.25)
    assert torch.equal(got, want)


def _after_past(q_len: int, kv_len: int) -> torch.Tensor:
    """transformers' mask for a chunk of q_len queries after kv_len - q_len cached tokens."""
    return (torch.arange(q_len)[:, None] + kv_len - q_len >= torch.arange(kv_len)[None, :])[None, None]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("q_len,kv_len", [(2, 3), (5, 300), (64, 65), (256, 2048)])
def test_a_chunk_after_cached_keys_is_split_and_as_exact_as_one_masked_call(bf16, dtype, q_len, kv_len):
    """A chunk after a cached past runs as two unmasked/causal calls merged by log-sum-exp: the same
    attention as torch's masked call, its largest error against float64 about torch's own."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = bf16.model.model.layers[0].self_attn
    q, k, v = _qkv(q_len, kv_len, dtype, seed=q_len)
    mask = _after_past(q_len, kv_len)
    stock, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.25)
    exact, _ = sdpa_attention_forward(module, q.double(), k.double(), v.double(), mask, scaling=0.25)
    got, _ = _forward(module, q, k, v, mask, scaling=0.25)
    assert torch.equal(got, attend_after_past(q, k, v, 0.25))  # the split path ran
    assert got.dtype == dtype and got.shape == stock.shape
    ulp = torch.finfo(dtype).eps * exact.abs().clamp(min=2**-6)  # a unit in the last place, floored

    def worst(x: torch.Tensor) -> float:
        return float(((x.double() - exact).abs() / ulp).max())

    assert worst(got) <= 1.5 * worst(stock) + 1  # measured: 0.76x-1.37x torch's largest error


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("q_len,kv_len", [(22, 600), (64, 1088), (512, 1024)])
def test_the_cached_keys_are_not_repeated_per_query_head(dtype, q_len, kv_len):
    """The past part runs each KV head's query heads as one block of queries over the cached keys as
    they are (no repeat_kv copy); the attention is the one over repeated keys, a rounding away at
    most (bit for bit on these random inputs; on the real model a few elements per call differ by a
    few units, docs/performance.md), and a query in transformers' own strided layout ([1, q, heads, d]
    transposed) gives the same result as a contiguous one."""
    from transformers.integrations.sdpa_attention import repeat_kv

    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    g = torch.Generator().manual_seed(q_len)
    strided = torch.randn(1, q_len, 4, 16, generator=g).to(dtype).transpose(1, 2)  # as q_proj(x).view().transpose()
    k = torch.randn(1, 2, kv_len, 16, generator=g).to(dtype)
    v = torch.randn(1, 2, kv_len, 16, generator=g).to(dtype)
    past = kv_len - q_len
    o1, l1 = flash(strided, repeat_kv(k[:, :, :past], 2), repeat_kv(v[:, :, :past], 2), 0.0, False, scale=0.25)
    o2, l2 = flash(strided, repeat_kv(k[:, :, past:], 2), repeat_kv(v[:, :, past:], 2), 0.0, True, scale=0.25)
    repeated = merge_by_lse(o1, l1, o2, l2).to(dtype).transpose(1, 2)
    got = attend_after_past(strided, k, v, 0.25)
    assert got.shape == repeated.shape == (1, q_len, 4, 16)
    assert torch.equal(got, attend_after_past(strided.contiguous(), k, v, 0.25))
    ulp = torch.finfo(dtype).eps * repeated.float().abs().clamp(min=2**-6)
    assert float(((got.float() - repeated.float()).abs() / ulp).max()) <= 1.0


@pytest.mark.parametrize("case", ["a hidden cached key", "a sliding window", "two sequences", "a float mask",
                                  "no past"])
def test_any_other_mask_keeps_torchs_masked_call_bit_for_bit(bf16, case):
    """The split is taken only for the plain causal pattern of one sequence: a padded batch, a window,
    a changed entry or an additive mask keep torch's own call, bit for bit."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    module = bf16.model.model.layers[0].self_attn
    q_len, kv_len = 16, 80
    q, k, v = _qkv(q_len, kv_len, torch.bfloat16, seed=7)
    mask = _after_past(q_len, kv_len).clone()
    if case == "a hidden cached key":
        mask[0, 0, 3, 10] = False
    elif case == "a sliding window":
        mask &= ~_after_past(q_len, kv_len).roll(-32, dims=-1)  # each query sees its last 32 keys
    elif case == "two sequences":
        q, k, v, mask = q.expand(2, -1, -1, -1), k.expand(2, -1, -1, -1), v.expand(2, -1, -1, -1), mask.expand(2, -1, -1, -1)
    elif case == "a float mask":
        mask = torch.where(mask, 0.0, torch.finfo(torch.bfloat16).min).to(torch.bfloat16)
    else:
        q_len = kv_len = 16
        q, k, v = q[:, :, :16], k[:, :, :16], v[:, :, :16]
        mask = _after_past(16, 16)
    want, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.25)
    got, _ = _forward(module, q, k, v, mask, scaling=0.25)
    assert torch.equal(got, want)


def test_only_sdpa_models_on_cpu_are_switched(tiny_model):
    from transformers import AutoModelForCausalLM

    eager = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.bfloat16, attn_implementation="eager")
    assert use_fast_decode(eager, "cpu") == "eager" and eager.config._attn_implementation == "eager"
    sdpa = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.bfloat16)
    assert use_fast_decode(sdpa, "cuda") == "sdpa" and sdpa.config._attn_implementation == "sdpa"


def _real_answers(smollm2):
    """Four NIAH prompts at 1K on the bundled SmolLM2-135M-Instruct, the model (torch's SDPA), and
    answer(ids, chunk): 12 greedy tokens after prefilling ids in chunks of `chunk` tokens."""
    from transformers import AutoModelForCausalLM, DynamicCache

    from qlongbench.tasks.base import BuildContext
    from qlongbench.tasks.niah import NiahSingle
    from qlongbench.tokenizer import PromptTokenizer

    tok = PromptTokenizer.load(str(smollm2))
    ctx = BuildContext.for_cell(tok, task="niah-single", length=1024, language="en", instruction_language="en",
                                n_samples=4, run_seed=0, max_new_tokens=24, lengths=[1024])
    samples = NiahSingle().build(ctx)
    model = AutoModelForCausalLM.from_pretrained(str(smollm2), dtype=torch.bfloat16)

    def answer(ids, chunk=1 << 30):
        cache, out = DynamicCache(config=model.config), []
        with torch.inference_mode():
            for start in range(0, len(ids), chunk):
                x = torch.tensor([list(ids[start:start + chunk])])
                logits = model(input_ids=x, cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1]
            for _ in range(12):
                nxt = int(torch.argmax(logits))
                if nxt == model.config.eos_token_id:
                    break
                out.append(nxt)
                logits = model(input_ids=torch.tensor([[nxt]]), cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1]
        return out

    def scores(answers):
        return [NiahSingle().score(s, tok.decode(a)).score for s, a in zip(samples, answers)]

    return samples, model, answer, scores


def test_real_model_answers_the_same_with_either_attention(smollm2):
    """On the bundled SmolLM2-135M-Instruct, greedy answers to real NIAH prompts are the same tokens
    with torch's bf16 kernel and with float32 decode steps, and with a prefill in chunks of 256 (each
    chunk after the first split over the cached keys) as with one call."""
    samples, model, answer, scores = _real_answers(smollm2)
    stock = [answer(s.prompt_ids) for s in samples]
    assert use_fast_decode(model, "cpu") == NAME
    fast = [answer(s.prompt_ids) for s in samples]
    chunked = [answer(s.prompt_ids, 256) for s in samples]
    # On a real model a near-tied token may flip between the two numerics (the float32 step is the
    # more exact one, tested above); the verdicts must not.
    assert scores(fast) == scores(stock) == scores(chunked)
    assert sum(a == b for a, b in zip(fast, stock)) >= 3
    assert sum(a == b for a, b in zip(fast, chunked)) >= 3
    assert sum(len(a) for a in fast) >= 4 * 5  # real answers, not empty outputs


@pytest.mark.parametrize("keep,new,worth", [
    (10, 2000, False),     # a shared chat header: prefill the next context afresh (causal kernel)
    (2000, 40, True),      # a question on a cached document
    (3000, 0, True),       # a shorter nested context: crop only
    (1000, 1000, True),
    (999, 1000, False),
])
def test_worth_keeping(keep, new, worth):
    assert worth_keeping(keep, new) is worth


def test_runner_prefills_a_context_afresh_when_it_shares_only_a_header(tiny_model, tmp_path):
    """Two haystacks per length that share only the instruction: each context is prefilled whole
    (not appended to the other's header), its other question reuses it, and outputs equal naive."""
    from qlongbench.spec.config import build_spec
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    outs = {}
    for mode in ("exact", "none"):
        spec = build_spec({"model": str(tiny_model), "precisions": "fp32",
                           "tasks": "niah-nested:across_lengths=false,questions_per_context=2",
                           "lengths": [512], "samples": 4, "reuse": mode, "out": str(tmp_path / mode)})
        Runner(spec).run()
        outs[mode] = {r.sample_id: r.output for r in RunDir(spec.out).records()}
    rd = RunDir(tmp_path / "exact")
    samples = {s.sample_id: s for s in rd.all_samples()}
    by_prefix: dict[tuple, list] = {}
    for r in rd.records():  # in the order they were answered
        s = samples[r.sample_id]
        by_prefix.setdefault(tuple(s.prompt_ids[: s.prefix_len]), []).append((r, s))
    assert len(by_prefix) == 2
    for members in by_prefix.values():
        (first, s0), (second, s1) = members
        assert first.n_prefilled_tokens == len(s0.prompt_ids)  # the whole prompt, from an empty cache
        assert second.n_prefilled_tokens == len(s1.prompt_ids) - s1.prefix_len  # its question only
    assert outs["exact"] == outs["none"] and len(outs["exact"]) == 4


def test_bf16_session_decodes_and_restores_the_cache(bf16):
    """A session on the switched model decodes one-query steps and crops back to its context."""
    sess = bf16.session()
    sess.extend(list(range(3, 120)))
    gen = sess.generate([5, 6, 7], GenerationConfig(max_new_tokens=5, stop_on_eos=False))
    assert len(gen.token_ids) == 5 and sess.n_tokens == 117
