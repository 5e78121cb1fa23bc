"""What a chunked prefill's attention costs on the CPU, against one causal call, and what the split into
two softmax parts saves (issue #26: where the 8K prefill's time goes).

qlongbench's transformers engines prefill in chunks of 4096 tokens (backends/hf.py: PREFILL_CHUNK);
every chunk after the first attends to the cache through an explicit mask, which torch's CPU flash
kernel cannot skip: it scores the chunk's queries against every key, masked ones included. Since
2026-12-06 such a chunk runs as two calls instead (backends/hf_attention.py attend_after_past). One
attention layer of the bundled SmolLM2-135M (9 query heads, 3 KV heads, head_dim 64, bf16; random
inputs of that shape), three ways per length, alternating order round by round:

  causal   one causal SDPA call over the whole prompt (the lower bound; what an unchunked prefill runs)
  masked   chunks of 4096, later chunks through an explicit mask (torch's own; qlongbench before the split)
  split    chunks of 4096, each later chunk in two SDPA calls (past keys unmasked, its own keys causal)
           merged by their log-sum-exp in float32 (attend_after_past: what qlongbench runs; the past
           call takes each KV head's query heads as one block over the cached keys as they are)
  split-repeated  the same with the cached keys first repeated per query head (repeat_kv, a copy):
           qlongbench_sdpa2, what ran from the split until the fold

A second table times a 22-token question appended to a cached prompt of each length (one layer):
split against split-repeated, where the fold saves most (the copy is of the whole past).

Errors are the largest absolute difference from a float32 causal call. With --model, the whole
bundled model too: an 8K prefill in chunks of 4096 and a log-prob pass in chunks of 512 (kld's),
with transformers' SDPA (masked chunks) and with qlongbench's attention (split chunks), alternating.
Ratios are measured in one process, so other load moves both alike; run it on a quiet machine for
absolute seconds.

    python benchmarks/prefill_attention.py                     # 4K, 8K, 16K; 3 rounds; 2 threads
    python benchmarks/prefill_attention.py --lengths 8k --rounds 5 --model
"""

from __future__ import annotations

import argparse
import statistics
import time

HEADS, KV_HEADS, DIM, CHUNK = 9, 3, 64, 4096


def layer_inputs(n: int):
    import torch

    g = torch.Generator().manual_seed(n)
    q = torch.randn(1, HEADS, n, DIM, generator=g).to(torch.bfloat16)
    k = torch.randn(1, KV_HEADS, n, DIM, generator=g).to(torch.bfloat16)
    v = torch.randn(1, KV_HEADS, n, DIM, generator=g).to(torch.bfloat16)
    rep = HEADS // KV_HEADS
    return q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)


def causal(q, k, v):
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def masked(q, k, v):
    import torch
    import torch.nn.functional as F

    n, out = q.shape[2], []
    for s in range(0, n, CHUNK):
        e = min(n, s + CHUNK)
        if s == 0:
            out.append(F.scaled_dot_product_attention(q[:, :, :e], k[:, :, :e], v[:, :, :e], is_causal=True))
        else:
            mask = torch.ones(e - s, e, dtype=torch.bool).tril(diagonal=s)
            out.append(F.scaled_dot_product_attention(q[:, :, s:e], k[:, :, :e], v[:, :, :e], attn_mask=mask))
    return torch.cat(out, 2)


def _split_chunk(q, k, v, repeat: bool):
    """One chunk after its past, as attend_after_past (repeat=False) or as qlongbench_sdpa2 ran it:
    the cached keys repeated per query head first (repeat=True). Inputs hold the KV heads ungrouped;
    returns [1, heads, q, d]."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv

    from qlongbench.backends.hf_attention import attend_after_past, merge_by_lse

    if not repeat:
        return attend_after_past(q, k, v, DIM ** -0.5).transpose(1, 2)
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    past, rep = k.shape[2] - q.shape[2], HEADS // KV_HEADS
    k, v = repeat_kv(k, rep), repeat_kv(v, rep)
    o1, l1 = flash(q, k[:, :, :past], v[:, :, :past], 0.0, False, scale=DIM ** -0.5)
    o2, l2 = flash(q, k[:, :, past:], v[:, :, past:], 0.0, True, scale=DIM ** -0.5)
    return merge_by_lse(o1, l1, o2, l2).to(q.dtype)


def split(q, k, v, repeat: bool = False):
    import torch

    n, out = q.shape[2], []
    for s in range(0, n, CHUNK):
        e = min(n, s + CHUNK)
        if s == 0:
            out.append(causal(q[:, :, :e], k[:, :, :e], v[:, :, :e]))
        else:  # the split takes the KV heads ungrouped
            kv = slice(None, None, HEADS // KV_HEADS)
            out.append(_split_chunk(q[:, :, s:e], k[:, kv, :e], v[:, kv, :e], repeat))
    return torch.cat(out, 2)


def split_repeated(q, k, v):
    return split(q, k, v, repeat=True)


def questions(lengths: list[int], rounds: int, question: int = 22, reps: int = 20) -> None:
    """A question of `question` tokens after a cached prompt of each length, one layer: split
    (the fold) against split-repeated, `reps` calls per timing after one untimed call of each."""
    import torch

    print(f"\nA {question}-token question after a cached prompt, one layer ({reps} calls per timing; {rounds} "
          "rounds, medians)\n")
    print("| cached tokens | split ms | split-repeated ms | split-repeated / split | outputs equal |")
    print("|---:|---:|---:|---:|---|")
    last = 0.0
    for n in lengths:
        q, k, v = layer_inputs(n + question)
        kv = slice(None, None, HEADS // KV_HEADS)
        q, k, v = q[:, :, n:], k[:, kv], v[:, kv]
        took: dict[bool, list[float]] = {False: [], True: []}
        for repeat in (False, True):  # a new shape's first call pays one-time set-up (~0.6 s measured), untimed
            _split_chunk(q, k, v, repeat)
        for r in range(rounds):
            for repeat in ((False, True) if r % 2 == 0 else (True, False)):
                t0 = time.perf_counter()
                for _ in range(reps):
                    _split_chunk(q, k, v, repeat)
                took[repeat].append((time.perf_counter() - t0) / reps * 1000)
        same = torch.equal(_split_chunk(q, k, v, False), _split_chunk(q, k, v, True))
        a, b = statistics.median(took[False]), statistics.median(took[True])
        last = b / a
        print(f"| {n} | {a:.2f} | {b:.2f} | {last:.2f}x | {'yes' if same else 'no'} |", flush=True)
    print(f"\nat {lengths[-1]} cached tokens: a question's attention {last:.2f}x faster without repeating the "
          "cached keys")


def whole_model(n: int, rounds: int) -> None:
    """The bundled model's prefill of n tokens in chunks of 4096 and in chunks of 512, with
    transformers' SDPA and with qlongbench's attention (the only difference at prefill: the split)."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from qlongbench.backends.hf_attention import NAME, register
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir

    model = AutoModelForCausalLM.from_pretrained(str(bundled_model_dir(default_cache_dir())), dtype=torch.bfloat16)
    register()
    ids = torch.randint(100, 40000, (1, n), generator=torch.Generator().manual_seed(n))

    def prefill(chunk: int) -> float:
        cache = DynamicCache(config=model.config)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for s in range(0, n, chunk):
                model(input_ids=ids[:, s:s + chunk], cache=cache, use_cache=True, logits_to_keep=1)
        return time.perf_counter() - t0

    ways = [("sdpa", "torch's masked chunks"), (NAME, "split chunks")]
    print(f"\nThe bundled SmolLM2-135M-Instruct (bf16), a {n}-token prefill; {rounds} rounds (medians)\n")
    print("| chunk | attention | seconds | vs masked |")
    print("|---:|---|---:|---:|")
    for chunk in (4096, 512):
        took: dict[str, list[float]] = {w: [] for w, _ in ways}
        for r in range(rounds):
            for w, _ in (ways if r % 2 == 0 else ways[::-1]):
                model.set_attn_implementation(w)
                took[w].append(prefill(chunk))
        med = {w: statistics.median(t) for w, t in took.items()}
        for w, label in ways:
            print(f"| {chunk} | {label} | {med[w]:.2f} | {med['sdpa'] / med[w]:.2f}x |", flush=True)
        if chunk == 4096:
            whole = med["sdpa"] / med[NAME]
    print(f"\nthe whole {n}-token prefill in chunks of 4096: split {whole:.2f}x faster than masked chunks")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", default="4k,8k,16k")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", action="store_true", help="also time the bundled model's whole prefill")
    args = ap.parse_args()

    import torch

    from qlongbench.spec.lengths import parse_lengths

    torch.set_num_threads(args.threads)
    ways = {"causal": causal, "masked": masked, "split": split, "split-repeated": split_repeated}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; one attention layer "
          f"({HEADS} heads, {KV_HEADS} KV heads, head_dim {DIM}, bf16), chunks of {CHUNK}; {args.rounds} rounds "
          "(medians)\n")
    print("| length | way | s per layer | vs masked | max abs error vs float32 causal |")
    print("|---:|---|---:|---:|---:|")
    last = {}
    for n in parse_lengths(args.lengths):
        q, k, v = layer_inputs(n)
        ref = causal(q.float(), k.float(), v.float())
        took: dict[str, list[float]] = {w: [] for w in ways}
        err = {}
        for r in range(args.rounds):
            for w in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
                t0 = time.perf_counter()
                out = ways[w](q, k, v)
                took[w].append(time.perf_counter() - t0)
                err[w] = float((out.float() - ref).abs().max())
        med = {w: statistics.median(t) for w, t in took.items()}
        for w in ways:
            print(f"| {n} | {w} | {med[w]:.3f} | {med['masked'] / med[w]:.2f}x | {err[w]:.2e} |", flush=True)
        last = {"n": n, **med}
    print(f"\nat {last['n']} tokens: split {last['masked'] / last['split']:.2f}x faster than masked chunks "
          f"(one causal call {last['masked'] / last['causal']:.2f}x; split-repeated "
          f"{last['masked'] / last['split-repeated']:.2f}x)")
    questions(parse_lengths(args.lengths), args.rounds)
    if args.model:
        whole_model(last["n"], args.rounds)


if __name__ == "__main__":
    main()
