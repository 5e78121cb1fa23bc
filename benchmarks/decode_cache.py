"""Decode steps with the float32 mirror cache (backends/hf_mirror.py) against the per-step copy it replaces.

The two paths in one process on the same model and ids, in ABBA order per length: `copy` is
transformers' DynamicLayer (a token appended by concatenating the layer cache) with the whole cache
converted to float32 on every one-query step, as main did before; `mirror` writes the token in place
and extends a kept float32 mirror by one row. Per length: ms per decoded token (median over rounds),
the ratio copy / mirror, whether the greedy tokens are equal, the bf16 cache's bytes (the record's
kv_cache_bytes) and the mirror's extra bytes.

    python benchmarks/decode_cache.py                               # bundled SmolLM2-135M, 1K-8K, 2 threads
    python benchmarks/decode_cache.py --lengths 8k --tokens 32 --rounds 3 --precision bnb-nf4
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--precision", default="bf16", help="a transformers-based precision label")
    parser.add_argument("--lengths", default="1k,2k,4k,8k", help="context tokens before the question")
    parser.add_argument("--tokens", type=int, default=24, help="tokens decoded per answer")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA pairs per length")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from qlongbench.backends.hf_mirror import mirror_bytes
    from qlongbench.registry import backend_class
    from qlongbench.backends.base import LoadContext
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.labels import parse_label
    from qlongbench.spec.lengths import parse_lengths
    from qlongbench.tokenizer import PromptTokenizer
    from qlongbench.types import GenerationConfig

    torch.set_num_threads(args.threads)
    model_dir = args.model or str(bundled_model_dir(default_cache_dir()))
    precision = parse_label(args.precision)
    backend = backend_class(precision.name)(precision, LoadContext(
        model=model_dir, revision=None, device="cpu", cache_dir=Path(tempfile.mkdtemp()),
        tokenizer=PromptTokenizer.load(model_dir)))
    if not backend.mirror_decode:
        raise SystemExit(f"{args.precision} does not run the float32 one-query path here: nothing to compare")
    cfg = GenerationConfig(max_new_tokens=args.tokens, stop_on_eos=False)
    g = torch.Generator().manual_seed(0)
    question = torch.randint(100, 40000, (24,), generator=g).tolist()

    def answer(context: list[int], mirror: bool) -> tuple[float, tuple[int, ...], int, int]:
        backend.mirror_decode = mirror
        session = backend.session()
        try:
            session.extend(context)
            gen = session.generate(question, cfg)
            return gen.decode_seconds / args.tokens * 1000, gen.token_ids, int(gen.kv_cache_bytes or 0), \
                mirror_bytes(session.cache)
        finally:
            session.close()

    print(f"{args.precision}, {args.threads} threads, {args.tokens} tokens per answer, {args.rounds} ABBA pairs\n")
    print("| context | copy ms/token | mirror ms/token | copy / mirror | tokens equal | kv_cache_bytes MiB | mirror extra MiB |")
    print("|---:|---:|---:|---:|---|---:|---:|")
    ratios = []
    for length in parse_lengths(args.lengths):
        context = torch.randint(100, 40000, (length,), generator=g).tolist()
        times: dict[bool, list[float]] = {False: [], True: []}
        tokens: dict[bool, set[tuple[int, ...]]] = {False: set(), True: set()}
        kv = extra = 0
        for _ in range(args.rounds):
            for mirror in (False, True, True, False):
                ms, toks, kv_bytes, extra_bytes = answer(context, mirror)
                times[mirror].append(ms)
                tokens[mirror].add(toks)
                if mirror:
                    kv, extra = kv_bytes, extra_bytes
        copy_ms, mirror_ms = statistics.median(times[False]), statistics.median(times[True])
        ratios.append(copy_ms / mirror_ms)
        equal = "yes" if tokens[False] == tokens[True] and len(tokens[True]) == 1 else "no"
        print(f"| {length} | {copy_ms:.1f} | {mirror_ms:.1f} | {copy_ms / mirror_ms:.2f}x | {equal} | "
              f"{kv / 2**20:.1f} | {extra / 2**20:.1f} |")
    backend.close()
    print(f"\nmirror decode step vs per-step copy: {min(ratios):.2f}x-{max(ratios):.2f}x faster")


if __name__ == "__main__":
    main()
