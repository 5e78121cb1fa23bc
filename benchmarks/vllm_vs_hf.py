"""vLLM against transformers on the same frozen ids: throughput, a sweep with and without reuse, outputs.

Both engines run through qlongbench's own runner on samples frozen once (the same prompt hashes):

  throughput  niah-single, every sample prefilled from scratch (--reuse none; vLLM's prefix cache
              off): median prefill and decode tokens/s per length, KV bytes, outputs equal or not
  sweep       niah-nested (N questions per shared context): transformers naive vs exact reuse
              (qlongbench's context sessions); vLLM with prefix caching off, on with naive
              scheduling (vLLM's own automatic reuse), and on with qlongbench's exact order.
              Tokens computed vs the naive count, engine seconds, wall seconds (engine start
              included, shown apart), outputs equal to the naive run or not.

    python benchmarks/vllm_vs_hf.py                      # bundled SmolLM2-135M, 1K-8K, 2 samples, 2 threads
    python benchmarks/vllm_vs_hf.py --lengths 1k,2k --samples 1 --threads 1

One round: the numbers carry the machine's noise (shared CPU); the vLLM environment is found as
qlongbench finds it (./.venv-vllm, $QLONGBENCH_VLLM_PYTHON, or --python)."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run(model: str, out: Path, precision: str, task: str, lengths: list[int], samples: int, reuse: str,
        seed: int) -> dict:
    """One precision over one frozen sweep: its records and timings."""
    import logging

    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir
    from qlongbench.spec.config import build_spec

    spec = build_spec({"model": model, "precisions": precision, "tasks": task, "lengths": lengths,
                       "samples": samples, "reuse": reuse, "seed": seed, "out": str(out), "device": "cpu",
                       "engine_baseline": False})
    Runner(spec).freeze()  # not timed: every engine is timed on frozen ids only
    started: dict[str, float] = {}
    reuse: dict[str, int] = {}

    class Loaded(logging.Handler):
        """The vLLM backend's own lines: its start (start-up is shown apart) and, at close, the prompt
        tokens vLLM computed (num_cached_tokens): a record counts a context on its first question
        as the runner sends it, which overstates vLLM's work when its cache already held it."""

        def emit(self, record: logging.LogRecord) -> None:
            started.setdefault("t", time.perf_counter())
            if "computed %d of %d" in str(record.msg):
                reuse["computed"], reuse["prompt"] = int(record.args[1]), int(record.args[2])

    handler = Loaded()
    logging.getLogger("qlongbench.backends.vllm").addHandler(handler)
    logging.getLogger("qlongbench.backends.vllm").setLevel(logging.INFO)
    t0 = time.perf_counter()
    try:
        Runner(spec).run()
    finally:
        logging.getLogger("qlongbench.backends.vllm").removeHandler(handler)
    wall = time.perf_counter() - t0
    records = [r for r in RunDir(out).records() if r.status == "ok"]
    bad = [r for r in RunDir(out).records() if r.status != "ok"]
    if bad:
        print(f"  ! {precision} {reuse}: {len(bad)} records failed: {bad[0].error}")
    return {"records": records, "wall": wall, "start": (started["t"] - t0) if "t" in started else None, "reuse": reuse,
            "engine": sum((r.prefill_seconds or 0) + (r.decode_seconds or 0) for r in records)}


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "n/a" if v is None else format(v, spec)


def throughput_table(results: dict[str, dict], ref: dict) -> None:
    print("| engine | length | samples | prompt tokens | prefill tok/s | decode tok/s | KV bytes (measured) "
          "| outputs = transformers |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    ref_out = {r.sample_id: r.output for r in ref["records"]}
    for name, res in results.items():
        by_len: dict[int, list] = defaultdict(list)
        for r in res["records"]:
            by_len[r.length].append(r)
        for length, rs in sorted(by_len.items()):
            pre = [r.n_prefilled_tokens / r.prefill_seconds for r in rs if r.prefill_seconds]
            dec = [r.n_generated_tokens / r.decode_seconds for r in rs if r.decode_seconds and r.n_generated_tokens]
            same = sum(r.output == ref_out.get(r.sample_id) for r in rs)
            print(f"| {name} | {length} | {len(rs)} | {fmt(med([r.n_prompt_tokens for r in rs]))} | {fmt(med(pre))} "
                  f"| {fmt(med(dec), '.1f')} | {fmt(med([r.kv_cache_bytes for r in rs]))} | {same} of {len(rs)} |")


def sweep_table(rows: list[tuple[str, str, dict, dict]]) -> None:
    print("| engine | mode | questions | tokens computed / naive | engine s | wall s (start) | outputs = its naive |")
    print("|---|---|---:|---:|---:|---:|---|")
    for engine, mode, res, naive in rows:
        rs = res["records"]
        computed = sum(r.n_prefilled_tokens or 0 for r in rs)
        prompt = sum(r.n_prompt_tokens for r in rs)
        if res["reuse"]:  # vLLM's own count (num_cached_tokens), not the records'
            computed, prompt = res["reuse"]["computed"], res["reuse"]["prompt"]
        base = {r.sample_id: r.output for r in naive["records"]}
        same = sum(r.output == base.get(r.sample_id) for r in rs)
        start = f" ({res['start']:.1f})" if res["start"] is not None else ""
        print(f"| {engine} | {mode} | {len(rs)} | {computed} / {prompt} ({100 * computed / max(prompt, 1):.0f} %) "
              f"| {res['engine']:.1f} | {res['wall']:.1f}{start} | {same} of {len(rs)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--lengths", default="1k,2k,4k,8k")
    parser.add_argument("--samples", type=int, default=2, help="niah-single samples per length (throughput)")
    parser.add_argument("--questions", type=int, default=3, help="niah-nested questions per shared context (sweep)")
    parser.add_argument("--depths", type=int, default=3, help="niah-nested depths per length (sweep)")
    parser.add_argument("--threads", type=int, default=2, help="threads for both engines (torch / vLLM's OMP bind)")
    parser.add_argument("--python", default=None, help="the vLLM environment's Python (default: as qlongbench finds it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep-lengths", default=None, help="lengths of the sweep (default: --lengths)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--sweep-engines", default="hf,vllm", help="engines in the sweep (hf, vllm)")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()

    import torch

    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.lengths import parse_lengths

    torch.set_num_threads(args.threads)
    model = args.model or str(bundled_model_dir(default_cache_dir()))
    lengths = parse_lengths(args.lengths)
    vllm = f"vllm-bf16:threads={args.threads}" + (f",python={args.python}" if args.python else "")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"model: {model}; lengths {lengths}; {args.threads} threads per engine; one round\n")
        if not args.skip_throughput:
            hf = run(model, root / "tp-hf", "bf16", "niah-single", lengths, args.samples, "none", args.seed)
            vl = run(model, root / "tp-vllm", f"{vllm},prefix_caching=false", "niah-single", lengths, args.samples,
                     "none", args.seed)
            hashes = {(r.sample_id, r.prompt_sha256) for r in hf["records"]}
            assert all((r.sample_id, r.prompt_sha256) in hashes for r in vl["records"]), "prompt hashes differ"
            print("throughput (every prompt prefilled from scratch; same frozen ids, same prompt hashes):\n")
            throughput_table({"transformers bf16": hf, "vllm-bf16": vl}, hf)
        if args.skip_sweep:
            return
        lengths = parse_lengths(args.sweep_lengths) if args.sweep_lengths else lengths
        task = f"niah-nested:across_lengths=false,questions_per_context={args.questions}"
        engines = set(args.sweep_engines.split(","))
        modes = [("hf naive", "bf16", "none", "transformers", "naive (fresh prompt per question)", "hf naive"),
                 ("hf exact", "bf16", "exact", "transformers", "exact reuse (context sessions)", "hf naive"),
                 ("vllm off", f"{vllm},prefix_caching=false", "none", "vllm", "prefix caching off, naive", "vllm off"),
                 ("vllm on naive", vllm, "none", "vllm", "prefix caching on, naive order", "vllm off"),
                 ("vllm on exact", vllm, "exact", "vllm", "prefix caching on, exact order", "vllm off")]
        modes = [m for m in modes if m[0].split()[0] in engines]
        sweep = {key: run(model, root / key.replace(" ", "-"), precision, task, lengths, args.depths, reuse, args.seed)
                 for key, precision, reuse, *_ in modes}
        print(f"\nsweep ({task}, {args.depths} depths per length; vLLM rows count tokens as vLLM computed them):\n")
        sweep_table([(engine, mode, sweep[key], sweep[base]) for key, _, _, engine, mode, base in modes])
        if {"hf naive", "vllm off"} <= set(sweep):
            hf_out = {r.sample_id: r.output for r in sweep["hf naive"]["records"]}
            same = sum(r.output == hf_out.get(r.sample_id) for r in sweep["vllm off"]["records"])
            print(f"\nvLLM (caching off) = transformers (naive) on {same} of {len(hf_out)} sweep outputs")


if __name__ == "__main__":
    main()
