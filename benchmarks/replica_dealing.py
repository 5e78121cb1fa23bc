"""How long each precision of a committed run would take under `--replicas N`, replayed from its
records: the dealing qlongbench does now (run/units.py plan_units: a chain of shared contexts at a
time, by a cost quadratic in context length) against the one it replaced (whole cells, by prompt
tokens, as of commit 80bc681), each slice's time being the sum of its records' measured engine
seconds (prefill + decode). A replay, not a timing: model loads and the neighbour's load are left
out, and each record keeps the seconds it took in the run. What it answers is how evenly the work
is shared, i.e. how long the slowest slice keeps the precision going.

    python benchmarks/replica_dealing.py reports/smollm2/records/niah-single-n50 --replicas 2
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence

from qlongbench.run.plan import Cell
from qlongbench.run.store import load_run
from qlongbench.run.units import plan_units
from qlongbench.spec.labels import parse_label
from qlongbench.types import Sample


def cell_dealing(samples: dict[Cell, list[Sample]], replicas: int) -> list[list[str]]:
    """The dealing before: whole cells, longest first, to the slice with the fewest prompt tokens."""
    cells = [c for c in samples if samples[c]]
    k = max(1, min(replicas, len(cells)))
    slices: list[list[str]] = [[] for _ in range(k)]
    load = [0] * k
    for cell in sorted(cells, key=lambda c: -c.length * len(samples[c])):
        i = load.index(min(load))
        slices[i].extend(s.sample_id for s in samples[cell])
        load[i] += cell.length * len(samples[cell])
    return slices


def makespan(slices: Sequence[Sequence[str]], seconds: dict[str, float]) -> float:
    return max(sum(seconds[i] for i in part) for part in slices)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run directory with records")
    ap.add_argument("--replicas", type=int, default=2)
    args = ap.parse_args()

    contents = load_run(args.run)
    by_cell: dict[Cell, list[Sample]] = defaultdict(list)
    for s in contents.samples.values():
        by_cell[Cell(s.task, s.language, s.instruction_language, s.length)].append(s)
    seconds: dict[str, dict[str, float]] = defaultdict(dict)
    for r in contents.records:
        if r.status == "ok" and r.prefill_seconds is not None and r.decode_seconds is not None:
            seconds[r.precision][r.sample_id] = r.prefill_seconds + r.decode_seconds

    print(f"| precision | records | engine s | cell dealing: slowest slice s | chain dealing: slowest slice s | "
          f"ideal (engine s / {args.replicas}) | cell / chain |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for label, secs in seconds.items():
        cells = {c: [s for s in ss if s.sample_id in secs] for c, ss in by_cell.items()}
        if sum(len(ss) for ss in cells.values()) < sum(len(ss) for ss in by_cell.values()):
            continue  # a precision still running: its replay would not be the whole precision
        units, _ = plan_units([parse_label(label)], cells, set(), replicas=args.replicas)
        new = makespan([u.sample_ids for u in units], secs)
        old = makespan(cell_dealing(cells, args.replicas), secs)
        ratios.append(old / new)
        print(f"| {label} | {len(secs)} | {sum(secs.values()):.0f} | {old:.0f} | {new:.0f} | "
              f"{sum(secs.values()) / args.replicas:.0f} | {old / new:.2f}x |")
    if ratios:
        print(f"chain dealing ends each precision {min(ratios):.2f}x-{max(ratios):.2f}x sooner than cell dealing "
              f"at --replicas {args.replicas} (replayed from {len(ratios)} precisions' measured record times)")
    else:
        print("no precision has all its records: nothing to replay")


if __name__ == "__main__":
    main()
