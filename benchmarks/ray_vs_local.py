"""The same sweep three ways: in one process (--executor local), on a local Ray with two worker
slots (--executor ray, one unit per precision), and on the same Ray with each precision cut in two
(--replicas 2). Each runs in a fresh process, one after another.

Prints one table: wall time of the process, time to the first "precision" event (imports, Ray's
start), and per unit the time from its hand-out to its first record (worker start, imports, model
load, first answer) and from its first to its last record; then whether every record equals the
one-process run's (output, score, prompt and generation-config hashes, bound samples files), and
the driver's cost per record under Ray (a worker sending records through the sink, timed apart).
Every engine runs one thread (OMP_NUM_THREADS=1), as each Ray unit does with its one CPU.

    python benchmarks/ray_vs_local.py                          # tiny random Llama, 256/512 tokens
    python benchmarks/ray_vs_local.py --model DIR --lengths 1k,2k --samples 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per engine, as each Ray unit gets (num_cpus=1)

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from qlongbench.spec.config import build_spec
from qlongbench.run.runner import Runner
events = []
def progress(e):
    if e.kind in ("precision", "record"):
        events.append((time.perf_counter() - t0, e.kind, e.precision))
spec = build_spec(json.loads(sys.argv[1]))
r = Runner(spec, progress=progress).run()
print(json.dumps({"wall_s": time.perf_counter() - t0, "events": events, "written": r.written,
                  "failed": r.failed_precisions}))
"""

SINK = r"""
import json, sys, time, ray
from qlongbench.run.ray_executor import _Sink
from qlongbench.run.store import RunDir
records = RunDir(sys.argv[1]).records()
n = int(sys.argv[2])
ray.init(address="local", include_dashboard=False, log_to_driver=False)
sink = ray.remote(num_cpus=0)(_Sink).remote()

@ray.remote
def send(sink, records, n):
    t0 = time.perf_counter()
    for i in range(n):
        r = records[i % len(records)]
        ray.get(sink.put.remote("u", (r.precision, f"{r.sample_id}-{i}"), r))
    return time.perf_counter() - t0

ray.get(send.remote(sink, records, 20))  # warm-up: the worker started, the actor reached
print(json.dumps({"per_record_ms": 1000 * ray.get(send.remote(sink, records, n)) / n}))
ray.shutdown()
"""


def run_child(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def phases(events: list) -> tuple[float, dict[str, tuple[float, float]]]:
    """Time to the first hand-out, and per precision (hand-out -> first record, first -> last record)."""
    first_start = min(t for t, kind, _ in events if kind == "precision")
    out = {}
    for label in dict.fromkeys(p for _, _, p in events):
        start = min(t for t, kind, p in events if p == label and kind == "precision")
        recs = [t for t, kind, p in events if p == label and kind == "record"]
        if recs:
            out[label] = (min(recs) - start, max(recs) - min(recs))
    return first_start, out


def comparable(run_dir: Path) -> tuple[dict, dict]:
    from qlongbench.run.store import load_run

    run = load_run(run_dir)
    recs = {r.key(): (r.output, r.score, r.status, r.prompt_sha256, r.gen_config_sha256, r.n_generated_tokens)
            for r in run.records}
    return recs, dict(run.header.samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: the tests' tiny random Llama, built here)")
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--lengths", default="256,512")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--sink-records", type=int, default=500, help="records sent through the sink to time it")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qlr-bench-"))
    model = args.model
    if model is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.tinymodel import build_tiny_llama

        model = str(build_tiny_llama(work / "tiny"))
    base = {"model": model, "precisions": args.precisions, "lengths": args.lengths, "samples": args.samples}
    modes = {"local": {}, "ray": {"executor": "ray"}, "ray x2": {"executor": "ray", "replicas": 2}}
    rows, runs = [], {}
    for name, extra in modes.items():
        out = work / name.replace(" ", "")
        got = run_child(base | extra | {"out": str(out)})
        if got["failed"]:
            raise SystemExit(f"{name}: {got['failed']}")
        start, per = phases(got["events"])
        runs[name] = comparable(out)
        rows.append({"mode": name, "wall_s": got["wall_s"], "first_handout_s": start, "records": got["written"],
                     "to_first_record_s": statistics.mean(a for a, _ in per.values()),
                     "first_to_last_s": statistics.mean(b for _, b in per.values())})
    ref_records, ref_samples = runs["local"]
    for row in rows:
        records, samples = runs[row["mode"]]
        row["same_records"] = records == ref_records
        row["same_samples"] = samples == ref_samples
    sink = subprocess.run([sys.executable, "-c", SINK, str(work / "local"), str(args.sink_records)],
                          capture_output=True, text=True)
    per_record = json.loads(sink.stdout.strip().splitlines()[-1])["per_record_ms"] if sink.returncode == 0 else None
    local = rows[0]
    print(f"{'mode':8s} {'wall s':>7s} {'1st hand-out s':>14s} {'hand-out->1st rec s':>19s} "
          f"{'1st->last rec s':>15s} {'records':>7s}  same records / samples as local")
    for r in rows:
        print(f"{r['mode']:8s} {r['wall_s']:7.1f} {r['first_handout_s']:14.1f} {r['to_first_record_s']:19.1f} "
              f"{r['first_to_last_s']:15.2f} {r['records']:7d}  {r['same_records']} / {r['same_samples']}")
    for r in rows[1:]:
        r["overhead_per_unit_s"] = r["to_first_record_s"] - local["to_first_record_s"]
        print(f"{r['mode']}: executor overhead per unit (hand-out -> first record, over local's) "
              f"{r['overhead_per_unit_s']:+.1f} s; Ray start and connect {r['first_handout_s'] - local['first_handout_s']:+.1f} s")
    if per_record is not None:
        print(f"sink: {per_record:.2f} ms per record from a worker to the driver's queue ({args.sink_records} records)")
    print(f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; run directories in {work})")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "sink_ms_per_record": per_record}, indent=2) + "\n")
    if not all(r["same_records"] and r["same_samples"] for r in rows):
        raise SystemExit("records differ between executors")


if __name__ == "__main__":
    main()
