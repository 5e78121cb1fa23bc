"""Where one greedy decode step's time goes at long context: torch's profiler over qlongbench's own
transformers session (the path a run takes), grouped into the model's parts.

Prefills --context tokens once, then profiles --tokens decoded tokens of one question and prints the
operators by self CPU time and the share of the step each part of the model takes (attention, MLP,
lm_head, norms/rotary, the rest). With --prefill it profiles the context's prefill instead (after an
unprofiled warm-up prefill of the same ids), per 1K prefilled tokens.

    python benchmarks/profile_decode.py                        # the bundled SmolLM2-135M-Instruct, 8K, 2 threads
    python benchmarks/profile_decode.py --context 2k --threads 1
    python benchmarks/profile_decode.py --prefill                # the 8K prefill itself
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--context", default="8k", help="tokens prefilled before the question")
    parser.add_argument("--tokens", type=int, default=8, help="decoded tokens profiled")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=15, help="operators listed")
    parser.add_argument("--prefill", action="store_true", help="profile the context's prefill, not decoding")
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.hf import HFBackend
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.labels import parse_label
    from qlongbench.spec.lengths import parse_lengths
    from qlongbench.tokenizer import PromptTokenizer
    from qlongbench.types import GenerationConfig

    torch.set_num_threads(args.threads)
    model_dir = args.model or str(bundled_model_dir(default_cache_dir()))
    context = parse_lengths(args.context)[0]
    tokenizer = PromptTokenizer.load(model_dir)
    backend = HFBackend(parse_label("bf16"), LoadContext(model=model_dir, revision=None, device="cpu",
                                                         cache_dir=Path(tempfile.mkdtemp()), tokenizer=tokenizer))
    model = backend.model
    parts = {"attention": "self_attn", "mlp": "mlp", "lm_head": "lm_head"}
    hooks = []
    for name, module in model.named_modules():
        part = next((p for p, suffix in parts.items() if name.endswith(suffix)), None)
        if part is not None:
            def pre(_m, _a, part=part):
                _m._qlb_rf = record_function(f"part::{part}")
                _m._qlb_rf.__enter__()

            def post(_m, _a, _o):
                _m._qlb_rf.__exit__(None, None, None)
            hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    session = backend.session()
    ids = [(7 + i * 31) % 20000 + 100 for i in range(context)]
    t0 = time.perf_counter()
    session.extend(ids)
    prefill = time.perf_counter() - t0
    cfg = GenerationConfig(max_new_tokens=args.tokens, stop_on_eos=False)
    if args.prefill:
        session.crop(0)
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            session.extend(ids)
        wall = time.perf_counter() - t0
        steps, unit = context / 1024, "1K prefilled tokens"
        print(f"model: {model_dir}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); context {context} "
              f"tokens prefilled in {prefill:.1f} s (warm-up), {wall:.1f} s under the profiler "
              f"({context / wall:.0f} tokens/s)\n")
    else:
        session.generate([11, 12, 13], cfg)  # warm-up
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            gen = session.generate([11, 12, 13], cfg)
        wall = time.perf_counter() - t0
        steps, unit = len(gen.token_ids), "decoded token"
        print(f"model: {model_dir}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); context {context} "
              f"tokens prefilled in {prefill:.1f} s; {steps} tokens decoded in {wall:.2f} s under the profiler "
              f"({1e3 * wall / max(steps, 1):.1f} ms per token, question prefill included)\n")
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    part_time = {e.key.split("::", 1)[1]: e.cpu_time_total for e in events if e.key.startswith("part::")}
    print(f"| part of the model | ms per {unit} | share of profiled CPU time |")
    print("|---|---:|---:|")
    for part, us in sorted(part_time.items(), key=lambda kv: -kv[1]):
        print(f"| {part} | {us / 1e3 / max(steps, 1):.1f} | {100 * us / total:.1f} % |")
    rest = total - sum(part_time.values())
    print(f"| everything else (embedding, norms, rotary, cache bookkeeping, Python) | "
          f"{rest / 1e3 / max(steps, 1):.1f} | {100 * rest / total:.1f} % |\n")
    print(f"| operator | self CPU ms per {unit} | share |")
    print("|---|---:|---:|")
    for e in sorted((e for e in events if not e.key.startswith("part::")),
                    key=lambda e: -e.self_cpu_time_total)[:args.top]:
        print(f"| {e.key} | {e.self_cpu_time_total / 1e3 / max(steps, 1):.2f} | {100 * e.self_cpu_time_total / total:.1f} % |")
    for h in hooks:
        h.remove()
    session.close()
    backend.close()


if __name__ == "__main__":
    main()
