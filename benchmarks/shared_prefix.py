"""Shared-prefix batched decoding against one question after another, on the nested sweep (issue #26
item 1 and its target: batched >= 3x the sequential path's records per second at 8K).

On the bundled SmolLM2-135M-Instruct (bf16 by default, or --precision, CPU) the nested sweep's samples at one length
(`niah-nested:across_lengths=false,questions_per_context=10`, the committed n = 50 run's task, built
as `qlongbench run` builds them). Each haystack is prefilled once; its questions are then answered
both ways, in alternating order round by round:
  sequential  one after another (`ContextSession.generate`: what `--decode-rows 1` runs)
  batched     together, one row per question (`generate_many`: what `--decode-rows 10` runs)
Timed apart: the context's prefill (the same for both), the questions' prefill and the decoding.
Records per second of the sweep count the context's prefill once per haystack, as a run does; the
table also gives questions + decoding alone. Outputs: how many answers the batch shape moved (tokens
not equal to the sequential path's) and how many were scored differently.

Ratios are measured in one process, round by round, so other load on the machine moves both sides
alike; absolute seconds are not comparable across machines or loads. Run it on a quiet machine.

    python benchmarks/shared_prefix.py                            # 8K, 2 haystacks (20 questions), 2 rounds
    python benchmarks/shared_prefix.py --length 4k --contexts 1 --repeat 3
    python benchmarks/shared_prefix.py --precision gguf-q8_0 --length 1k   # llama.cpp: rows as sequences
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGET = 3.0
"""Issue #26: batched >= 3x the sequential path's records per second on the nested sweep at 8K."""


def build_groups(tok, length: int, contexts: int, per_context: int) -> list[tuple[list[int], list]]:
    """(prefix ids, samples) per haystack, as `qlongbench run` builds them."""
    from qlongbench.tasks.base import BuildContext
    from qlongbench.tasks.nested import NiahNested

    task = NiahNested({"across_lengths": False, "questions_per_context": per_context})
    ctx = BuildContext.for_cell(tok, task="niah-nested", length=length, language="en", instruction_language="en",
                                n_samples=per_context * contexts, run_seed=0, max_new_tokens=task.default_max_new_tokens,
                                lengths=[length])
    groups: dict[tuple[int, ...], list] = {}
    for s in task.build(ctx):
        if s.status == "ok":
            groups.setdefault(tuple(s.prompt_ids[: s.prefix_len]), []).append(s)
    return [(list(p), ss) for p, ss in groups.items()], task


def measure(backend, groups, repeat: int):
    """Per mode and round: seconds of questions + decoding (all haystacks); the context prefills;
    each mode's generations from round 0."""
    from qlongbench.types import GenerationConfig

    modes = ["sequential", "batched"]
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    prefill_s: dict[str, list[float]] = {m: [] for m in modes}
    decode_s: dict[str, list[float]] = {m: [] for m in modes}
    gens: dict[str, list] = {m: [] for m in modes}
    context: list[float] = []
    for r in range(repeat):
        order = modes if r % 2 == 0 else modes[::-1]
        took = {m: [0.0, 0.0, 0.0] for m in modes}
        round_context = 0.0
        for prefix, samples in groups:
            sess = backend.session()
            round_context += sess.extend(prefix)
            questions = [list(s.prompt_ids[len(prefix):]) for s in samples]
            cfgs = [GenerationConfig(max_new_tokens=s.max_new_tokens) for s in samples]
            for mode in order:
                t0 = time.perf_counter()
                out = (sess.generate_many(questions, cfgs) if mode == "batched" else
                       [sess.generate(q, c) for q, c in zip(questions, cfgs)])
                took[mode][0] += time.perf_counter() - t0
                took[mode][1] += sum(g.prefill_seconds for g in out)
                took[mode][2] += sum(g.decode_seconds for g in out)
                if r == 0:
                    gens[mode].extend(out)
            sess.close()
        context.append(round_context)
        for m in modes:
            seconds[m].append(took[m][0])
            prefill_s[m].append(took[m][1])
            decode_s[m].append(took[m][2])
    return seconds, prefill_s, decode_s, gens, context


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--length", default="8k", help="context length (8k, 4096, ...)")
    ap.add_argument("--contexts", type=int, default=2, help="haystacks (each with --per-context questions)")
    ap.add_argument("--per-context", type=int, default=10, help="questions per haystack (the nested run's 10)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds; medians reported")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--precision", default="bf16", help="precision label (bf16, gguf-q8_0, ...)")
    args = ap.parse_args()

    import torch

    from qlongbench import registry
    from qlongbench.backends.base import LoadContext
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.lengths import parse_length
    from qlongbench.spec.labels import parse_precision
    from qlongbench.tokenizer import PromptTokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    length = parse_length(args.length)
    model = bundled_model_dir(default_cache_dir())
    tok = PromptTokenizer.load(str(model))
    ctx = LoadContext(model=str(model), revision=None, device="cpu", cache_dir=default_cache_dir(), tokenizer=tok,
                      decode_rows=args.per_context)
    precision = parse_precision(PrecisionSpec(name=args.precision))
    backend = registry.backend_class(precision.name)(precision, ctx)
    groups, task = build_groups(tok, length, args.contexts, args.per_context)
    n = sum(len(ss) for _, ss in groups)
    print(f"SmolLM2-135M-Instruct {args.precision} ({backend.engine}), cpu, {torch.get_num_threads()} torch threads; nested sweep at {length} "
          f"tokens: {len(groups)} haystacks, {n} questions, {args.repeat} rounds (medians)")
    seconds, prefill_s, decode_s, gens, context = measure(backend, groups, args.repeat)
    ctx_s = statistics.median(context)

    def med(d, m):
        return statistics.median(d[m])

    print("\n| path | context prefill s | questions' prefill s | decoding s | questions + decoding s | "
          "records/s (sweep) | ratio (sweep) | ratio (questions + decoding) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = med(seconds, "sequential")
    for m in ("sequential", "batched"):
        s = med(seconds, m)
        rate = n / (ctx_s + s)
        print(f"| {m} | {ctx_s:.2f} | {med(prefill_s, m):.2f} | {med(decode_s, m):.2f} | {s:.2f} | {rate:.3f} | "
              f"{(ctx_s + base) / (ctx_s + s):.2f}x | {base / s:.2f}x |")
    seq, bat = gens["sequential"], gens["batched"]
    samples = [s for _, ss in groups for s in ss]
    moved = sum(a.token_ids != b.token_ids for a, b in zip(seq, bat))
    scored = sum(task.score(s, a.text).score != task.score(s, b.text).score for s, a, b in zip(samples, seq, bat))
    acc = {m: sum(task.score(s, g.text).score for s, g in zip(samples, gens[m])) / n for m in gens}
    rows = sorted({g.decode_rows for g in bat})
    print(f"\nrows per batched decode: {rows}; answers the batch shape moved: {moved} of {n} "
          f"(scored differently: {scored}); accuracy sequential {acc['sequential']:.3f}, batched {acc['batched']:.3f}")
    ratio = (ctx_s + base) / (ctx_s + med(seconds, "batched"))
    print(f"shared-prefix batched decode: {ratio:.2f}x the sequential path's records/s on the nested sweep at "
          f"{length} (target {TARGET:g}x, {'met' if ratio >= TARGET else 'not met'}); questions + decoding alone "
          f"{base / med(seconds, 'batched'):.2f}x; {moved} of {n} answers moved by the batch shape")


if __name__ == "__main__":
    main()
