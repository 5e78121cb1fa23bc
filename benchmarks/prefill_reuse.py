"""Prefill each long context once: the same NIAH sweep three ways, in one process.

  naive   a fresh prompt per question (what lm-eval / RULER / HELMET do)
  exact   the same samples, each shared context prefilled once (qlongbench's default)
  nested  niah-nested: one haystack of the longest length serves every length and depth

Prints one table: tokens prefilled, wall time, peak memory, and whether greedy outputs equal the
naive path's on the same samples; then the harness overhead (qlongbench's wall time over a raw
transformers loop doing the same forward passes) and, when lm-eval is installed, the wall time per
sample of lm-eval's own `ruler` niah_single_1 on the same model and lengths.

    python benchmarks/prefill_reuse.py                     # the bundled demo model, CPU
    python benchmarks/prefill_reuse.py --model DIR --lengths 1k,2k,3k,4k,6k --depths 12
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class PeakRSS:
    """Samples the process's resident set every 5 ms (ru_maxrss cannot be reset between modes)."""

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class ModeResult:
    mode: str
    """naive, exact or nested."""
    samples: int
    """Questions answered."""
    prefilled: int
    """Tokens run through the model for contexts and questions."""
    context_prefilled: int
    """Of those, the context tokens (the per-question suffixes left out)."""
    seconds: float
    """Wall time of the run (model load included, samples already frozen)."""
    peak_rss: int
    """Peak resident memory during the run."""
    outputs: dict[str, str]
    """sample id -> greedy output."""
    engine_seconds: float
    """Prefill + decode seconds the records account to the engine."""


def run_mode(model: str, out: Path, task: str, lengths: list[int], depths: int, reuse: str, name: str,
             seed: int) -> ModeResult:
    from qlongbench.config import build_spec
    from qlongbench.runner import Runner
    from qlongbench.store import RunDir

    spec = build_spec({"model": model, "precisions": "bf16", "tasks": task, "lengths": lengths, "samples": depths,
                       "reuse": reuse, "seed": seed, "out": str(out), "device": "cpu"})
    # Freeze the samples first (not timed): every mode times engine work on frozen ids only.
    _freeze(spec)
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        Runner(spec).run()
        seconds = time.perf_counter() - t0
    records = RunDir(spec.out).records()
    suffix = {s.sample_id: len(s.prompt_ids) - s.prefix_len for s in RunDir(spec.out).all_samples()}
    context = sum(max(0, (r.n_prefilled_tokens or 0) - suffix[r.sample_id]) for r in records)
    return ModeResult(name, len(records), sum(r.n_prefilled_tokens or 0 for r in records), context, seconds, rss.peak,
                      {r.sample_id: r.output for r in records},
                      sum((r.prefill_seconds or 0) + (r.decode_seconds or 0) for r in records))


def _freeze(spec) -> None:
    """Build and store the samples without running any precision."""
    from qlongbench.runner import Runner, _load_tokenizer, resolve_model

    runner = Runner(spec)
    tasks = runner._tasks()
    tok = _load_tokenizer(resolve_model(spec), spec)
    runner.run_dir.root.mkdir(parents=True, exist_ok=True)
    runner._freeze_samples(tok, tasks)


def raw_loop_seconds(model: str, run_dir: Path, reuse: str, max_new: int) -> float:
    """The same forward passes as qlongbench's run, written as a bare transformers loop."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from qlongbench.scheduler import PrefixGroup, common_prefix_len, group_by_prefix, order_groups
    from qlongbench.store import RunDir

    samples = [s for s in RunDir(run_dir).all_samples() if s.status == "ok"]
    t0 = time.perf_counter()
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16, device_map="cpu")
    eos = lm.config.eos_token_id
    plan = [PrefixGroup((), (s,)) for s in samples] if reuse == "none" else order_groups(group_by_prefix(samples))
    cache, held = DynamicCache(config=lm.config), ()

    def forward(ids):
        with torch.inference_mode():
            return lm(input_ids=torch.tensor([list(ids)]), cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1]

    for group in plan:
        keep = common_prefix_len(held, group.prefix)
        if reuse == "none":
            cache, keep = DynamicCache(config=lm.config), 0
        elif keep < len(held):
            cache.crop(keep - len(held))
        if len(group.prefix) > keep:
            forward(group.prefix[keep:])
        held = group.prefix
        for s in group.samples:
            logits = forward(s.prompt_ids[len(group.prefix):])
            for step in range(max_new):
                tok = int(torch.argmax(logits))
                if tok == eos or step == max_new - 1:
                    break
                logits = forward([tok])
            cache.crop(len(group.prefix) - cache.get_seq_length())
    return time.perf_counter() - t0


def lm_eval_seconds_per_sample(model: str, lengths: list[int], limit: int) -> float | None:
    try:
        import lm_eval
    except ImportError:
        return None
    t0 = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model},dtype=bfloat16,device=cpu", tasks=["niah_single_1"],
        limit=limit, batch_size=1,
        metadata={"max_seq_lengths": lengths, "pretrained": model, "tokenizer": model},
        gen_kwargs="max_gen_toks=24")
    seconds = time.perf_counter() - t0
    n = sum(v.get("effective", v.get("original", 0)) for v in (out or {}).get("n-samples", {}).values())
    return seconds / max(1, n) if n else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir (default: the bundled demo model)")
    parser.add_argument("--lengths", default="512,768,1024,1536,2048")
    parser.add_argument("--depths", type=int, default=12, help="depths (questions) per length")
    parser.add_argument("--per-context", type=int, default=4, help="questions per shared context in exact mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lm-eval-limit", type=int, default=4, help="samples per length for lm-eval's ruler (0: skip)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = parser.parse_args()

    import torch

    from qlongbench.config import parse_lengths
    from qlongbench.runner import demo_model_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model or str(demo_model_dir())
    lengths = parse_lengths(args.lengths)
    shared = f"niah-nested:across_lengths=false,questions_per_context={args.per_context}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        naive = run_mode(model, root / "naive", shared, lengths, args.depths, "none", "naive", args.seed)
        exact = run_mode(model, root / "exact", shared, lengths, args.depths, "exact", "exact", args.seed)
        nested_naive = run_mode(model, root / "nested-naive", "niah-nested", lengths, args.depths, "none",
                                "nested (naive)", args.seed)
        nested = run_mode(model, root / "nested", "niah-nested", lengths, args.depths, "exact", "nested", args.seed)
        raw = raw_loop_seconds(model, root / "exact", "exact", 24)
        harness = exact.seconds
    longest = max(lengths)
    print(f"model: {model}\nsweep: lengths {lengths} x {args.depths} depths "
          f"({args.per_context} questions per context in exact mode); torch threads {torch.get_num_threads()}\n")
    print("| mode | questions | tokens prefilled | context tokens prefilled | context / longest context | wall s "
          "| speed-up vs naive | peak RSS MiB | outputs = naive |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r, base in ((naive, naive), (exact, naive), (nested_naive, nested_naive), (nested, nested_naive)):
        same = "yes" if r.outputs == base.outputs else f"no ({sum(r.outputs[k] != base.outputs.get(k) for k in r.outputs)} differ)"
        speed = naive.seconds / r.seconds
        print(f"| {r.mode} | {r.samples} | {r.prefilled} | {r.context_prefilled} | {r.context_prefilled / longest:.2f} | {r.seconds:.1f} | "
              f"{speed:.2f}x | {r.peak_rss / 2**20:.0f} | {same} |")
    print(f"\nharness overhead (exact mode): qlongbench {harness:.2f} s vs raw transformers loop {raw:.2f} s "
          f"on the same forward passes -> {100 * (harness / raw - 1):+.1f} %")
    if args.lm_eval_limit:
        try:
            per = lm_eval_seconds_per_sample(model, lengths, args.lm_eval_limit)
        except Exception as err:  # noqa: BLE001 - the comparison is optional; say why it did not run
            print(f"lm-eval: comparison did not run: {type(err).__name__}: {str(err).splitlines()[0]}")
            return
        if per is None:
            print("lm-eval: not installed (or no samples ran); comparison skipped")
        else:
            ours = exact.seconds / exact.samples
            print(f"lm-eval ruler niah_single_1 (noise haystack, same lengths): {per:.2f} s/sample; "
                  f"qlongbench exact {ours:.2f} s/sample, nested {nested.seconds / nested.samples:.2f} s/sample "
                  f"-> lm-eval / qlongbench(exact) = {per / ours:.1f}x")


if __name__ == "__main__":
    main()
