"""One decode step on CPU: torch's bf16 SDPA kernel against qlongbench's float32 one-query step.

Times, in one process, (1) the attention call alone for one bf16 query over N cached keys and
(2) a whole greedy decode step of a model at N tokens of context, with the model's stock SDPA and
with backends/hf_attention.py switched on; prints milliseconds and the ratio.

    python benchmarks/decode_attention.py                       # the bundled SmolLM2-135M-Instruct, 1 thread
    python benchmarks/decode_attention.py --contexts 1k,4k --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def per_call_ms(fn, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--contexts", default="1k,2k,4k", help="tokens already in the cache")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from qlongbench.backends.hf_attention import NAME, _forward, use_fast_decode
    from qlongbench.spec.lengths import parse_lengths
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir

    torch.set_num_threads(args.threads)
    model_dir = args.model or str(bundled_model_dir(default_cache_dir()))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map="cpu")
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    attn = model.model.layers[0].self_attn
    cfg = model.config
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    contexts = parse_lengths(args.contexts)
    print(f"model: {model_dir}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"median of {args.rounds} calls\n")
    print("| context | attention: bf16 kernel ms | attention: float32 step ms | ratio "
          "| decode step: stock sdpa ms | decode step: qlongbench ms | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in contexts:
        q = torch.randn(1, heads, 1, head_dim).bfloat16()
        k = torch.randn(1, kv_heads, n, head_dim).bfloat16()
        v = torch.randn(1, kv_heads, n, head_dim).bfloat16()
        stock_attn = per_call_ms(lambda: sdpa_attention_forward(attn, q, k, v, None, scaling=head_dim**-0.5),
                                 args.rounds)
        fast_attn = per_call_ms(lambda: _forward(attn, q, k, v, None, scaling=head_dim**-0.5), args.rounds)
        steps = {}
        for impl in ("sdpa", NAME):
            if impl == NAME:
                use_fast_decode(model, "cpu")
            else:
                model.set_attn_implementation("sdpa")
            cache = DynamicCache(config=cfg)
            ids = torch.randint(3, cfg.vocab_size, (1, n))
            with torch.inference_mode():
                model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)

                def step() -> None:
                    model(input_ids=torch.tensor([[5]]), cache=cache, use_cache=True, logits_to_keep=1)
                    cache.crop(-1)  # keep the context at n tokens

                steps[impl] = per_call_ms(step, args.rounds)
        print(f"| {n} | {stock_attn:.3f} | {fast_attn:.3f} | {stock_attn / fast_attn:.2f}x "
              f"| {steps['sdpa']:.2f} | {steps[NAME]:.2f} | {steps['sdpa'] / steps[NAME]:.2f}x |")


if __name__ == "__main__":
    main()
