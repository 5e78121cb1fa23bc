"""llama.cpp with and without flash attention on this machine, through llama-cpp-python on one GGUF
file: the prefill of a context from empty, a 12-token append to it (a question on a cached context)
and one-token decode steps, at each depth. qlongbench runs flash attention on (backends/gguf_options.py
GGUFOptions.flash_attn), which llama-bench measured as fast as off on one machine; this script is how
to see whether it is on the one you have. Both settings run in one process, one after the other; the
ratios are what carry (run it quiet for absolute figures).

    python benchmarks/llamacpp_flash_attn.py --gguf ~/.cache/qlongbench/gguf/<sha>/model-BF16.gguf
"""

from __future__ import annotations

import argparse
import time


def measure(path: str, flash_attn: bool, depths: list[int], threads: int, steps: int) -> list[tuple[float, float, float]]:
    """(prefill tokens/s, append seconds, decode ms/token) per depth."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=path, n_ctx=max(depths) + 256, n_threads=threads, n_threads_batch=threads,
                          n_batch=512, n_ubatch=512, flash_attn=flash_attn, verbose=False)
    ids = [(i * 7919) % 40000 + 100 for i in range(max(depths))]
    out = []
    for depth in depths:
        llm.reset()
        t = time.perf_counter()
        llm.eval(ids[:depth])
        prefill = depth / (time.perf_counter() - t)
        t = time.perf_counter()
        llm.eval(list(range(11, 23)))
        append = time.perf_counter() - t
        t = time.perf_counter()
        for k in range(steps):
            llm.eval([300 + k])
        out.append((prefill, append, (time.perf_counter() - t) / steps * 1000))
    del llm
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True, help="a GGUF file (qlongbench's own conversion, in its artifact cache)")
    ap.add_argument("--depths", default="1k,8k")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=16, help="decode steps timed at each depth")
    args = ap.parse_args()

    from qlongbench.run.device import cpu_model
    from qlongbench.spec.lengths import parse_lengths

    depths = parse_lengths(args.depths)
    on, off = (measure(args.gguf, fa, depths, args.threads, args.steps) for fa in (True, False))
    print(f"CPU: {cpu_model()}; {args.threads} threads; n_batch = n_ubatch = 512; f16 KV cache\n")
    print("| depth | prefill t/s on / off | 12-token append s on / off | decode ms/token on / off | decode on / off |")
    print("|---:|---:|---:|---:|---:|")
    for d, a, b in zip(depths, on, off):
        print(f"| {d} | {a[0]:.0f} / {b[0]:.0f} | {a[1]:.3f} / {b[1]:.3f} | {a[2]:.1f} / {b[2]:.1f} | {a[2] / b[2]:.2f}x |")
    d, a, b = depths[-1], on[-1], off[-1]
    print(f"at depth {d}: a decode step with flash attention takes {a[2] / b[2]:.2f}x the time without; "
          f"its prefill runs {a[0] / b[0]:.2f}x as fast")


if __name__ == "__main__":
    main()
