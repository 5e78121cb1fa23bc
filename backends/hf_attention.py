"""Attention for the transformers engines on CPU: torch's SDPA, with one-query steps in float32.

torch's CPU flash kernel is slow for a single bf16/fp16 query: on this project's machines (torch
2.13, one thread) attention for one bf16 query over 4096 cached keys took 1.42 ms in the bf16
kernel and 0.23 ms when q, k and v were converted to float32 first (conversion included), and a
whole decode step of the demo model went from 8.2 ms to 3.7 ms at 4K tokens
(`python benchmarks/decode_attention.py`). Decode steps are most of what an
evaluation spends once contexts are reused, so this is where the time goes. (ExecuTorch routes
single-query SDPA away from its tiled flash kernel for the same reason: pytorch/executorch#18648.)

The float32 step is also the more exact of the two: it is within half a bf16 ulp of a float64
computation (rounded once, at the output), where torch's bf16 kernel, which rounds intermediate
results to bf16, was off by up to a few hundred ulps on small outputs (tests/test_hf_attention.py).
Prefill (several queries) keeps torch's kernel in the model's dtype (there bf16 is as fast as
float32, or faster), with one change: a chunk that follows cached tokens (the second 4096 tokens
of an 8K prefill, a question appended to a cached document, a log-prob pass of 512 positions) is
attended in two calls, its queries over the cached keys with no mask and over its own keys causal,
merged in float32 by their log-sum-exp (`attend_after_past`). torch's CPU kernel cannot skip
masked blocks, so the one masked call it replaces scored every chunk query against every key and
read the mask besides: one SmolLM2-135M attention layer at 8K in chunks of 4096, 0.40 s masked,
0.24 s split, 0.29 s for one causal call; the model's whole 8K prefill 1.34x faster
(`python benchmarks/prefill_attention.py --lengths 8k --model`, docs/performance.md). The call
over the cached keys takes each KV head's query heads as one block of queries (it has no mask, so
the rows are independent) and reads the cached keys as they are, where repeating them per query
head first (transformers' repeat_kv) copied the whole past for every chunk: a 22-token question
after 8K cached tokens attends 1.69x faster that way. Every transformers-based precision (the
reference, bitsandbytes, GPTQ) runs the same function on CPU, so a comparison still changes one
variable; run.json records the implementation (NAME; runs made before the split recorded
`qlongbench_sdpa`, runs with the split but the keys repeated `qlongbench_sdpa2`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

NAME = "qlongbench_sdpa3"
"""The attention implementation registered with transformers (recorded in run.json)."""

_registered = False


def upcasts(t: Any) -> bool:
    """Whether a one-query step over t (a query, or a cache it reads) runs in float32: bf16 / fp16 on
    the CPU. The rule of this module, also used by the cache that keeps a float32 mirror (hf_mirror)."""
    import torch

    return t.dtype in (torch.bfloat16, torch.float16) and t.device.type == "cpu"


@dataclass(frozen=True)
class ForkedKV:
    """What a shared-prefix cache layer (backends/hf_fork.py) returns as its keys and values: the
    context once, shared by every row, and each row's own question and answer so far."""

    prefix_keys: Any
    """[1, kv_heads, n, head_dim] float32 (the context, read once per step for all rows)."""
    prefix_values: Any
    suffix_keys: Any
    """[rows, kv_heads, capacity, head_dim] float32 (each row's question and answer tokens)."""
    suffix_values: Any
    valid: Any
    """bool [rows, capacity]: which suffix positions each row sees (its own tokens so far)."""


def attend_forked(query: Any, kv: ForkedKV, scaling: float) -> Any:
    """One-query attention of every row over the shared prefix and its own suffix, float32, in two
    parts merged by their log-sum-exp (the softmax over the concatenation, computed in two pieces):
    the prefix's scores for all rows come from one matrix product per KV head, so the context is
    read once per step whatever the number of rows. Returns [rows, 1, heads, head_dim] in the
    query's dtype (transformers' layout for attention outputs).

    Not bit-equal to SDPA over the concatenated cache (another order of summation): a near-tied
    greedy token can differ from the one-row path; the benchmark counts how many answers did."""
    import torch

    rows, heads, q_len, dim = query.shape
    if q_len != 1:
        raise ValueError("attend_forked takes one query per row")
    kv_heads = kv.prefix_keys.shape[1]
    groups = heads // kv_heads  # query heads per KV head (grouped-query attention)
    q = query.float().view(rows, kv_heads, groups, dim)
    qp = q.transpose(0, 1).reshape(kv_heads, rows * groups, dim)  # all rows' queries of a KV head
    s1 = torch.bmm(qp, kv.prefix_keys[0].transpose(1, 2)).mul_(scaling)  # [kvh, rows*g, n]
    m1 = s1.amax(-1, keepdim=True)
    p1 = s1.sub_(m1).exp_()
    l1 = p1.sum(-1, keepdim=True)
    o1 = torch.bmm(p1, kv.prefix_values[0])  # [kvh, rows*g, d]
    s2 = torch.matmul(q, kv.suffix_keys.transpose(-1, -2)).mul_(scaling)  # [rows, kvh, g, cap]
    s2.masked_fill_(~kv.valid[:, None, None, :], float("-inf"))
    m2 = s2.amax(-1, keepdim=True)  # finite: a row always sees its own token
    p2 = s2.sub_(m2).exp_()
    l2 = p2.sum(-1, keepdim=True)
    o2 = torch.matmul(p2, kv.suffix_values)  # [rows, kvh, g, d]

    def prefix_layout(t: Any) -> Any:
        return t.transpose(0, 1).reshape(kv_heads, rows * groups, t.shape[-1])

    m2, l2, o2 = prefix_layout(m2), prefix_layout(l2), prefix_layout(o2)
    m = torch.maximum(m1, m2)
    a1, a2 = torch.exp(m1 - m), torch.exp(m2 - m)
    out = (o1 * a1 + o2 * a2) / (l1 * a1 + l2 * a2)  # [kvh, rows*g, d]
    out = out.view(kv_heads, rows, groups, dim).permute(1, 0, 2, 3).reshape(rows, 1, heads, dim)
    return out.to(query.dtype)


def plain_softmax(kwargs: dict[str, Any]) -> bool:
    """Whether a layer's attention is plain scaled softmax attention (no soft-capping, sinks or
    position bias, which transformers' SDPA path would apply): what attend_forked computes."""
    return (kwargs.get("softcap") is None and kwargs.get("s_aux") is None and kwargs.get("sinks") is None
            and kwargs.get("position_bias") is None and not kwargs.get("output_attentions", False))


class _MaskCheck:
    """Whether the last mask seen is causal attention after a cached past, every key before the chunk
    visible. transformers builds one mask per forward and hands the same tensor to every layer, so
    it is compared with the pattern once per forward (4096 x 8192: about 60 ms), not once per layer."""

    def __init__(self) -> None:
        self._mask: Any = None
        self._answer = False

    def __call__(self, mask: Any) -> bool:
        import torch

        if self._mask is not None and self._mask() is mask:
            return self._answer
        q_len, kv_len = mask.shape[-2], mask.shape[-1]
        answer = (mask.dtype == torch.bool and mask.dim() == 4 and mask.shape[0] == 1 and mask.shape[1] == 1
                  and kv_len > q_len)
        if answer:
            rows = torch.arange(q_len, device=mask.device)[:, None] + (kv_len - q_len)
            answer = torch.equal(mask[0, 0], rows >= torch.arange(kv_len, device=mask.device)[None, :])
        self._mask, self._answer = weakref.ref(mask), bool(answer)
        return self._answer


_causal_after_past = _MaskCheck()


def splits(query: Any, key: Any, attention_mask: Any, kwargs: dict[str, Any]) -> bool:
    """Whether a chunk of several queries is attended by attend_after_past: one sequence on the CPU,
    plain softmax attention without dropout, after cached keys, under the plain causal mask (not a
    padded batch, a sliding window or a model's own pattern: those keep torch's masked call)."""
    return (query.device.type == "cpu" and query.shape[0] == 1 and key.shape[2] > query.shape[2]
            and attention_mask is not None and not kwargs.get("dropout") and plain_softmax(kwargs)
            and _causal_after_past(attention_mask))


def attend_after_past(query: Any, key: Any, value: Any, scaling: float) -> Any:
    """Causal attention of a chunk of queries [1, heads, q, d] over keys [1, kv_heads, past + q, d]
    whose first `past` are cached: torch's CPU flash kernel over the past (no mask) and over the
    chunk's own keys (causal), merged in float32 by their log-sum-exp. Returns [1, q, heads, d] in
    the query's dtype (transformers' layout for attention outputs).

    Not bit-equal to one masked call: each part is rounded to the dtype before the merge, a second
    rounding. The largest error of an 8K bf16 layer against float32 stays torch's 6.95e-3
    (benchmarks/prefill_attention.py); tests/test_hf_attention.py bounds it against torch's own."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv

    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    _, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    past = key.shape[2] - q_len
    groups = heads // kv_heads
    # The past part has no mask, so a KV head's query heads can go as one longer query block: the
    # cached keys are read as they are, not repeated per query head (repeat_kv copies them).
    folded = query.reshape(1, kv_heads, groups * q_len, dim)
    o1, lse1 = flash(folded, key[:, :, :past], value[:, :, :past], 0.0, False, scale=scaling)
    o1, lse1 = o1.reshape(1, heads, q_len, dim), lse1.reshape(1, heads, q_len)
    o2, lse2 = flash(query, repeat_kv(key[:, :, past:], groups), repeat_kv(value[:, :, past:], groups), 0.0, True,
                     scale=scaling)
    return merge_by_lse(o1, lse1, o2, lse2).to(query.dtype).transpose(1, 2).contiguous()


def merge_by_lse(o1: Any, lse1: Any, o2: Any, lse2: Any) -> Any:
    """Softmax attention over two sets of keys from each set's own output [..., q, d] and log-sum-exp
    [..., q] (what torch's flash kernel returns), weighted in float32: the one formula the split
    (attend_after_past) and its benchmark's and tests' references merge by."""
    import torch

    top = torch.maximum(lse1, lse2)
    w1, w2 = (lse1 - top).exp_().unsqueeze(-1), (lse2 - top).exp_().unsqueeze(-1)
    return (o1.float() * w1 + o2.float() * w2).div_(w1 + w2)


def _scaling(query: Any, kwargs: dict[str, Any]) -> float:
    """The layer's softmax scale: the model's own, else SDPA's default 1/sqrt(head_dim)."""
    scaling = kwargs.get("scaling")
    return scaling if scaling is not None else query.shape[-1] ** -0.5


def _forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any) -> tuple[Any, Any]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if isinstance(key, ForkedKV):
        if not plain_softmax(kwargs):
            raise NotImplementedError("this model's attention is not plain softmax attention: its questions cannot "
                                      "be decoded together (run with --decode-rows 1)")
        return attend_forked(query, key, _scaling(query, kwargs)), None
    if query.shape[2] > 1 and splits(query, key, attention_mask, kwargs):
        return attend_after_past(query, key, value, _scaling(query, kwargs)), None
    if query.shape[2] != 1 or not upcasts(query):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.is_floating_point():
        attention_mask = attention_mask.float()
    out, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(), attention_mask, **kwargs)
    return out.to(query.dtype), weights


def register() -> None:
    """Make NAME known to transformers (attention function and its mask builder, SDPA's)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _forward)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    _registered = True


def use_fast_decode(model: Any, device: str) -> str:
    """Switch a model that runs SDPA on the CPU to NAME; returns the implementation in use.

    Models that run anything other than SDPA (eager, flash, a model's own) are left as they are."""
    current = getattr(model.config, "_attn_implementation", None)
    if current != "sdpa" or not device.startswith("cpu"):
        return str(current)
    register()
    model.set_attn_implementation(NAME)
    return NAME
