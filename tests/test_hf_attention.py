"""The transformers engines' CPU attention (one-query steps in float32) and the rule that decides
when a cached prefix is worth keeping."""

from __future__ import annotations

import pytest
import torch

from qlongbench.backends.hf import worth_keeping
from qlongbench.backends.hf_attention import NAME, _forward, use_fast_decode
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


def test_only_sdpa_models_on_cpu_are_switched(tiny_model):
    from transformers import AutoModelForCausalLM

    eager = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.bfloat16, attn_implementation="eager")
    assert use_fast_decode(eager, "cpu") == "eager" and eager.config._attn_implementation == "eager"
    sdpa = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.bfloat16)
    assert use_fast_decode(sdpa, "cuda") == "sdpa" and sdpa.config._attn_implementation == "sdpa"


def test_real_model_answers_the_same_with_either_attention(smollm2):
    """On the bundled SmolLM2-135M-Instruct, greedy answers to real NIAH prompts are the same tokens
    with torch's bf16 kernel and with float32 decode steps."""
    from transformers import AutoModelForCausalLM, DynamicCache

    from qlongbench.tasks.base import BuildContext
    from qlongbench.tasks.niah import NiahSingle
    from qlongbench.tokenizer import PromptTokenizer

    tok = PromptTokenizer.load(str(smollm2))
    ctx = BuildContext.for_cell(tok, task="niah-single", length=1024, language="en", instruction_language="en",
                                n_samples=4, run_seed=0, max_new_tokens=24, lengths=[1024])
    samples = NiahSingle().build(ctx)
    model = AutoModelForCausalLM.from_pretrained(str(smollm2), dtype=torch.bfloat16)

    def answer(ids):
        cache, out = DynamicCache(config=model.config), []
        x = torch.tensor([list(ids)])
        with torch.inference_mode():
            for _ in range(12):
                logits = model(input_ids=x, cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1]
                nxt = int(torch.argmax(logits))
                if nxt == model.config.eos_token_id:
                    break
                out.append(nxt)
                x = torch.tensor([[nxt]])
        return out

    stock = [answer(s.prompt_ids) for s in samples]
    assert use_fast_decode(model, "cpu") == NAME
    fast = [answer(s.prompt_ids) for s in samples]
    # On a real model a near-tied token may flip between the two numerics (the float32 step is the
    # more exact one, tested above); the verdicts must not.
    task = NiahSingle()
    assert [task.score(s, tok.decode(a)).score for s, a in zip(samples, fast)] == \
        [task.score(s, tok.decode(a)).score for s, a in zip(samples, stock)]
    assert sum(a == b for a, b in zip(fast, stock)) >= 3
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
