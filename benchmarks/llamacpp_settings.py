"""qlongbench's llama.cpp path under one changed engine setting at a time, against its defaults, in one
run: the prefill of a context from empty, a question appended to it, and one-token decode steps, and
whether the numbers stay bit-equal (the appended question's logits and the greedy tokens after it).

Each variant is the precision's label with one option added (`n_batch=2048`: n_batch = n_ubatch,
`repack=true`: llama.cpp's CPU extra buffer types, AMX where the CPU has it), or `prefill_rows=1`:
qlongbench's session feeding a short question as it comes instead of in a batch of at least 64 rows
(the way before 2026-12-06, backends/gguf_session.py). All are loaded side by side and measured round
by round in turn (base, variant, base, ...), so a drift of the machine hits every variant alike. A
setting is worth a default only if it is faster by more than the rounds' spread and changes no number
(a default that changes the logits changes every llama.cpp record).

    python benchmarks/llamacpp_settings.py --precisions gguf-q8_0,gguf-q4_k_m --depth 8k --rounds 2
    python benchmarks/llamacpp_settings.py --precisions gguf-bf16 --variants n_batch=2048,flash_attn=false
    python benchmarks/llamacpp_settings.py --precisions gguf-q4_k_m --variants prefill_rows=1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTION = 22
"""Tokens appended after the context: the nested sweep's question length on SmolLM2."""


def measure(backend, context: list[int], question: list[int], steps: int) -> tuple[dict[str, float], object, tuple]:
    """One round on a fresh session: prefill tokens/s, append seconds, decode ms/token; the appended
    question's logits and the greedy tokens decoded after it."""
    from qlongbench.types import GenerationConfig

    sess = backend.session()
    try:
        prefill = sess.extend(context)
        t = time.perf_counter()
        logits = sess.forward_all(question[:-1]).copy()
        append = time.perf_counter() - t
        gen = sess.generate(question[-1:], GenerationConfig(max_new_tokens=steps + 1, stop_on_eos=False))
    finally:
        sess.close()
    assert len(gen.token_ids) == steps + 1
    times = {"prefill t/s": len(context) / prefill, "append s": append, "decode ms/token": gen.decode_seconds / steps * 1000}
    return times, logits, tuple(gen.token_ids)


def load(precision: str, variant: str, threads: int, ctx):
    """The precision's backend with one label option added, or with the session's prefill_rows set."""
    import dataclasses

    from qlongbench.backends.gguf import GGUFBackend
    from qlongbench.spec.labels import parse_label

    if variant.startswith("prefill_rows="):
        backend = GGUFBackend(parse_label(f"{precision}:n_threads={threads}"), ctx)
        backend.settings = dataclasses.replace(backend.settings, prefill_rows=int(variant.split("=", 1)[1]))
        return backend
    option = "" if variant == "defaults" else f",{variant}"
    return GGUFBackend(parse_label(f"{precision}:n_threads={threads}{option}"), ctx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--precisions", default="gguf-q8_0", help="gguf-* labels, comma-separated")
    ap.add_argument("--variants", default="n_batch=2048,repack=true",
                    help="options added to each label one at a time, comma-separated (k=v)")
    ap.add_argument("--depth", default="8k", help="context tokens prefilled before the question")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=16, help="decode steps timed after the question")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.llama_lib import _llama_cpp, llama_cpp_version
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.device import cpu_model
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.lengths import parse_lengths
    from qlongbench.tokenizer import PromptTokenizer

    cache = default_cache_dir()
    model = str(bundled_model_dir(cache))
    ctx = LoadContext(model=model, revision=None, device="cpu", cache_dir=cache, tokenizer=PromptTokenizer.load(model))
    depth = parse_lengths(args.depth)[0]
    context = [(7 + i * 31) % 20000 + 100 for i in range(depth)]
    question = [(11 + i * 53) % 20000 + 100 for i in range(QUESTION)]
    variants = ["defaults"] + [v.strip() for v in args.variants.split(",") if v.strip()]
    print(f"CPU: {cpu_model()}; llama-cpp-python {llama_cpp_version()} "
          f"({_llama_cpp().llama_print_system_info().decode().strip()}); {args.threads} threads; context {depth} "
          f"tokens, a {QUESTION}-token question, {args.steps} decode steps; {args.rounds} rounds, variants in turn; "
          f"load average at start {os.getloadavg()[0]:.2f}\n")
    rows = []
    for precision in [p.strip() for p in args.precisions.split(",") if p.strip()]:
        backends = {v: load(precision, v, args.threads, ctx) for v in variants}
        try:
            for b in backends.values():
                b.ensure_context(depth + QUESTION + args.steps + 1)  # sized up front, untimed
                measure(b, context[:256], question, 2)  # warm-up
            times: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
            seen: dict[str, tuple] = {}
            for r in range(args.rounds):
                for v, b in backends.items():
                    t, logits, tokens = measure(b, context, question, args.steps)
                    times[v].append(t)
                    seen.setdefault(v, (logits, tokens))
                    print(f"  {precision} {v} round {r + 1}: " + ", ".join(f"{k} {x:.3g}" for k, x in t.items()), flush=True)
            base_logits, base_tokens = seen["defaults"]
            for v in variants:
                logits, tokens = seen[v]
                diff = float(abs(logits - base_logits).max())
                rows.append((precision, v, times[v], times["defaults"], diff, tokens == base_tokens))
        finally:
            for b in backends.values():
                b.close()

    print(f"\n(load average at end {os.getloadavg()[0]:.2f}; medians of the rounds, min–max in brackets)\n")
    print("| precision | setting | prefill t/s | append s | decode ms/token | prefill vs defaults | append vs defaults "
          "| decode vs defaults | logits max abs diff | same tokens |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")

    def ratio(ts: list[dict[str, float]], base: list[dict[str, float]], k: str) -> float:
        """How many times faster than the defaults (a rate's ratio, or a time's inverse ratio)."""
        r = statistics.median(t[k] for t in ts) / statistics.median(t[k] for t in base)
        return r if k == "prefill t/s" else 1 / r

    def cell(ts: list[dict[str, float]], k: str, fmt: str) -> str:
        xs = [t[k] for t in ts]
        return f"{statistics.median(xs):{fmt}} [{min(xs):{fmt}}–{max(xs):{fmt}}]"

    for precision, v, ts, base, diff, same in rows:
        print(f"| {precision} | {v} | {cell(ts, 'prefill t/s', '.0f')} | {cell(ts, 'append s', '.3f')} | "
              f"{cell(ts, 'decode ms/token', '.1f')} | {ratio(ts, base, 'prefill t/s'):.2f}x | "
              f"{ratio(ts, base, 'append s'):.2f}x | {ratio(ts, base, 'decode ms/token'):.2f}x | {diff:.3g} | "
              f"{'yes' if same else 'no'} |")
    for precision, v, ts, base, diff, same in rows:
        if v != "defaults":
            print(f"{precision} with {v}: prefill {ratio(ts, base, 'prefill t/s'):.2f}x, question append "
                  f"{ratio(ts, base, 'append s'):.2f}x, decode {ratio(ts, base, 'decode ms/token'):.2f}x the defaults' "
                  f"speed at {depth}; logits {'bit-equal' if diff == 0 else f'differ (max {diff:.3g})'}")


if __name__ == "__main__":
    main()
