"""qlongbench's llama.cpp path against llama.cpp's own llama-bench: prefill and decode tokens/s per depth.

For each depth, KV-cache type and flash-attention setting, llama-bench (built from the vendored
llama.cpp of the installed llama-cpp-python) measures a prefill of `depth` tokens from an empty cache
(`-p <depth> -n 0`) and --decode-tokens single-token decodes after `depth` cached tokens
(`-p 0 -n 32 -d <depth>`), `-o json` parsed, with the same threads, batch and ubatch as qlongbench.
qlongbench's path loads the same GGUF file as a gguf-* precision through its backend (the label's
options: type_k, type_v, flash_attn, n_threads, n_batch), opens a session and generates greedily
from `depth` token ids: Generation.prefill_seconds times the prefill, Generation.decode_seconds the
decode steps (max_new_tokens = decode tokens + 1: the first token comes from the prefill's logits,
so both sides time the same number of llama_decode calls). Ratio = llama-bench speed / qlongbench's.

    python benchmarks/llamacpp_vs_llamabench.py --llama-bench /path/to/build/bin/llama-bench
    python benchmarks/llamacpp_vs_llamabench.py --llama-bench BIN --precisions gguf-q8_0,gguf-bf16 --depths 1k,4k
    python benchmarks/llamacpp_vs_llamabench.py --llama-bench BIN --gguf model.gguf --precisions gguf-q8_0 --kv f16
    python benchmarks/llamacpp_vs_llamabench.py --llama-bench BIN --sweep   # + llama-bench's ubatch / threads / repack sweep
    python benchmarks/llamacpp_vs_llamabench.py --llama-bench BIN --sweep-only --sweep-depth 2k
    python benchmarks/llamacpp_vs_llamabench.py --table-from results.json     # a --json-out file as the table

llama-bench from the same sources as the installed llama-cpp-python (its wheel's flags on this machine:
Release, shared libraries, GGML_NATIVE, OpenMP, llamafile, no BLAS; compare llama_print_system_info):

    pip download --no-deps --no-binary :all: llama_cpp_python==0.3.36 -d /tmp/lcp && tar xzf /tmp/lcp/*.tar.gz -C /tmp/lcp
    cd /tmp/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp && cmake -B build -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_BLAS=OFF -DGGML_LLAMAFILE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        && cmake --build build --target llama-bench -j2          # -> build/bin/llama-bench

The GGUF is, by default, the one qlongbench itself loads for the precision: the bundled
SmolLM2-135M-Instruct converted and quantized through backends/build/gguf_convert.prepare_gguf
(cached as an artifact; built on first use). Both sides take the mean of --repetitions rounds after
a warm-up, as llama-bench reports avg_ts; llama-bench runs with --repack 0 (qlongbench's repack=false).
Run it on a quiet machine: llama.cpp's threads wait for each other."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FULL_PRECISION_CACHES = ("f16", "f32", "bf16")


def llama_bench(binary: str, gguf: Path, args: list[str], threads: int, batch: int, kv: str, fa: bool,
                reps: int, extra: list[str] | None = None) -> list[dict]:
    """One llama-bench invocation (-o json); its result objects."""
    cmd = [binary, "-m", str(gguf), "-t", str(threads), "-b", str(batch), "-ub", str(batch),
           "-fa", "on" if fa else "off", "-ctk", kv, "-ctv", kv, "-r", str(reps), "--repack", "0", "-o", "json",
           *args, *(extra or [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"llama-bench failed ({' '.join(cmd)}):\n{tail}")
    return json.loads(done.stdout)


def bench_llamabench(binary: str, gguf: Path, depth: int, n_gen: int, threads: int, batch: int, kv: str,
                     fa: bool, reps: int) -> dict[str, float]:
    """{prefill, decode} tokens/s at `depth` (llama-bench's avg_ts: the mean over reps)."""
    (pre,) = llama_bench(binary, gguf, ["-p", str(depth), "-n", "0"], threads, batch, kv, fa, reps)
    (dec,) = llama_bench(binary, gguf, ["-p", "0", "-n", str(n_gen), "-d", str(depth)], threads, batch, kv, fa, reps)
    return {"prefill": float(pre["avg_ts"]), "decode": float(dec["avg_ts"])}


class QlongbenchSide:
    """One gguf-* precision loaded through qlongbench's backend; measure(depth) times sessions on it."""

    def __init__(self, label: str, ctx, n_gen: int):
        from qlongbench.backends.gguf import GGUFBackend
        from qlongbench.spec.labels import parse_label

        self.backend = GGUFBackend(parse_label(label), ctx)
        self.n_gen = n_gen

    def measure(self, depth: int, reps: int) -> tuple[dict[str, float], tuple[int, ...]]:
        """{prefill, decode} tokens/s (mean over reps) at `depth`, and the last round's greedy tokens."""
        from qlongbench.types import GenerationConfig

        backend, n_gen = self.backend, self.n_gen
        cfg = GenerationConfig(max_new_tokens=n_gen + 1, stop_on_eos=False)
        ids = [(7 + i * 31) % 20000 + 100 for i in range(depth)]
        # Sized up front (untimed), as llama-bench sizes n_ctx = prompt + gen + depth: a run that
        # grows its context mid-decode re-prefills once per doubling, which no table here measures.
        backend.ensure_context(depth + n_gen + 1)
        warm = backend.session()  # warm-up, as llama-bench's (one batch and two decodes)
        warm.generate(ids[:min(depth, backend.n_batch)], GenerationConfig(max_new_tokens=3, stop_on_eos=False))
        warm.close()
        pre, dec, tokens = [], [], ()
        for _ in range(reps):
            sess = backend.session()
            gen = sess.generate(ids, cfg)
            sess.close()
            assert gen.n_prefilled_tokens == depth and len(gen.token_ids) == n_gen + 1
            pre.append(depth / gen.prefill_seconds)
            dec.append(n_gen / gen.decode_seconds)
            tokens = gen.token_ids
        return {"prefill": statistics.mean(pre), "decode": statistics.mean(dec)}, tokens

    def close(self) -> None:
        self.backend.close()


def sweep(binary: str, gguf: Path, depth: int, n_gen: int, threads: int, batch: int, reps: int) -> None:
    """llama-bench alone over the settings qlongbench picks defaults for: ubatch (prefill), threads,
    repack, flash attention (f16 cache)."""
    print(f"\nllama-bench settings sweep ({gguf.name}, f16 cache, prefill {depth} tokens / {n_gen} decodes "
          f"at depth {depth}; {reps} rounds):\n")
    print("| setting | prefill t/s | decode t/s |")
    print("|---|---:|---:|")
    rows: list[tuple[str, list[str], dict]] = []
    for ub in (128, 256, 512, 1024, 2048):
        rows.append((f"-b {max(ub, batch)} -ub {ub}", ["-b", str(max(ub, batch)), "-ub", str(ub)], {"decode": False}))
    for t in sorted({1, threads}):
        rows.append((f"-t {t}", ["-t", str(t)], {}))
    rows.append(("--repack 1", ["--repack", "1"], {}))
    rows.append(("-fa off", ["-fa", "off"], {}))
    for name, extra, opts in rows:
        pre = llama_bench(binary, gguf, ["-p", str(depth), "-n", "0"], threads, batch, "f16", True, reps, extra)
        dec = (llama_bench(binary, gguf, ["-p", "0", "-n", str(n_gen), "-d", str(depth)], threads, batch, "f16", True,
                           reps, extra) if opts.get("decode", True) else None)
        print(f"| {name} | {pre[0]['avg_ts']:.1f} | {dec[0]['avg_ts'] if dec else float('nan'):.2f} |", flush=True)


def print_table(rows: list[dict]) -> None:
    """The comparison as a markdown table and the worst ratios (llama-bench speed / qlongbench's)."""
    print("| precision | depth | kv | fa | llama-bench prefill t/s | qlongbench prefill t/s | ratio "
          "| llama-bench decode t/s | qlongbench decode t/s | ratio |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    worst_p = worst_d = 0.0
    for r in rows:
        lb, ql = r["llama_bench"], r["qlongbench"]
        rp, rd = lb["prefill"] / ql["prefill"], lb["decode"] / ql["decode"]
        worst_p, worst_d = max(worst_p, rp), max(worst_d, rd)
        print(f"| {r['precision']} | {r['depth']} | {r['kv']} | {'on' if r['fa'] else 'off'} | {lb['prefill']:.1f} "
              f"| {ql['prefill']:.1f} | {rp:.2f}x | {lb['decode']:.2f} | {ql['decode']:.2f} | {rd:.2f}x |")
    print(f"\nllama.cpp path within 1.3x of llama-bench: prefill worst {worst_p:.2f}x, decode worst {worst_d:.2f}x"
          f" ({'yes' if max(worst_p, worst_d) <= 1.3 else 'no'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-bench", help="the llama-bench binary (built from the same llama.cpp)")
    parser.add_argument("--gguf", default=None, help="a GGUF file (default: qlongbench's own file for each precision)")
    parser.add_argument("--model", default=None, help="reference model dir (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--precisions", default="gguf-q8_0", help="gguf-* labels, comma-separated")
    parser.add_argument("--depths", default="1k,2k,4k,8k")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kv", default="f16,q8_0", help="KV-cache types (K and V alike)")
    parser.add_argument("--fa", default="on,off", help="flash attention settings (off is skipped for a quantized V)")
    parser.add_argument("--batch", type=int, default=None, help="n_batch = n_ubatch (default: qlongbench's n_batch)")
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--repetitions", type=int, default=2, help="timed rounds per cell, both sides")
    parser.add_argument("--sweep", action="store_true", help="also sweep llama-bench's ubatch, threads, repack, fa")
    parser.add_argument("--sweep-only", action="store_true", help="only the llama-bench sweep (no comparison)")
    parser.add_argument("--sweep-depth", default="4k")
    parser.add_argument("--json-out", default=None, help="write every measured number here")
    parser.add_argument("--table-from", default=None, help="print the table of a --json-out file and exit")
    args = parser.parse_args()
    if args.table_from:
        print_table(json.loads(Path(args.table_from).read_text()))
        return
    if not args.llama_bench:
        parser.error("--llama-bench is required")

    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.build.gguf_convert import prepare_gguf
    from qlongbench.backends.gguf_options import GGUFOptions
    from qlongbench.backends.llama_lib import _llama_cpp, llama_cpp_version
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.lengths import parse_lengths
    from qlongbench.tokenizer import PromptTokenizer

    cache = default_cache_dir()
    model = args.model or str(bundled_model_dir(cache))
    ctx = LoadContext(model=model, revision=None, device="cpu", cache_dir=cache, tokenizer=PromptTokenizer.load(model))
    depths = parse_lengths(args.depths)
    batch = args.batch or GGUFOptions.model_fields["n_batch"].default
    fas = [s.strip().lower() in ("on", "1", "true") for s in args.fa.split(",") if s.strip()]
    kvs = [k.strip() for k in args.kv.split(",") if k.strip()]
    version = subprocess.run([args.llama_bench, "--version"], capture_output=True, text=True).stderr.strip().splitlines()
    print(f"model: {model}; llama-cpp-python {llama_cpp_version()} "
          f"({_llama_cpp().llama_print_system_info().decode().strip()}); llama-bench: "
          f"{version[0] if version else '?'}; {args.threads} threads, n_batch = n_ubatch = {batch}, "
          f"{args.decode_tokens} decode tokens, {args.repetitions} rounds each side, one run; "
          f"load average at start {os.getloadavg()[0]:.2f}\n")
    rows: list[dict] = []
    t_start = time.perf_counter()
    for precision in [] if args.sweep_only else [p.strip() for p in args.precisions.split(",") if p.strip()]:
        gguf = Path(args.gguf) if args.gguf else prepare_gguf(precision, ctx).path
        file_opt = f",file={gguf}" if args.gguf else ""
        print(f"{precision}: {gguf}", flush=True)
        for kv in kvs:
            for fa in fas:
                if not fa and kv not in FULL_PRECISION_CACHES:
                    continue
                label = (f"{precision}:type_k={kv},type_v={kv},flash_attn={str(fa).lower()},"
                         f"n_threads={args.threads},n_batch={batch}{file_opt}")
                side = QlongbenchSide(label, ctx, args.decode_tokens)
                try:
                    for d in depths:  # the two sides cell by cell, so a change in load hits both alike
                        lb = bench_llamabench(args.llama_bench, gguf, d, args.decode_tokens, args.threads, batch, kv,
                                              fa, args.repetitions)
                        ql, tokens = side.measure(d, args.repetitions)
                        row = {"precision": precision, "depth": d, "kv": kv, "fa": fa, "llama_bench": lb,
                               "qlongbench": ql, "tokens": list(tokens), "load": os.getloadavg()[0]}
                        rows.append(row)
                        print(f"  d={d} kv={kv} fa={int(fa)}: llama-bench {lb['prefill']:.0f} / {lb['decode']:.1f}, "
                              f"qlongbench {ql['prefill']:.0f} / {ql['decode']:.1f} t/s (prefill / decode); "
                              f"load {row['load']:.2f}", flush=True)
                        if args.json_out:  # after every cell: an interrupted run keeps what it measured
                            Path(args.json_out).write_text(json.dumps(rows, indent=1))
                finally:
                    side.close()
    print(f"\n({time.perf_counter() - t_start:.0f} s; load average at end {os.getloadavg()[0]:.2f})\n")
    if rows:
        print_table(rows)
    if args.sweep or args.sweep_only:
        first = [p.strip() for p in args.precisions.split(",") if p.strip()][0]
        gguf = Path(args.gguf) if args.gguf else prepare_gguf(first, ctx).path
        sweep(args.llama_bench, gguf, parse_lengths(args.sweep_depth)[0], args.decode_tokens, args.threads, batch,
              args.repetitions)


if __name__ == "__main__":
    main()
