"""How well the progress ETA would have predicted each precision's end, replayed from a committed run's
records: the counter qlongbench runs now (run/progress.py CellCounter: the work left priced at the
prefill and answer seconds measured so far) against pricing it in the fixed relative units alone (the
counter before, scheduler.chain_costs' ratio). A replay, not a timing: each record arrives at its own
timestamp, a precision's clock starting at the previous precision's last record (or the run's start),
as the run's own clock would (its model load included). Only runs made by one process, one precision
after another, replay faithfully (not Ray slices side by side).

    python benchmarks/eta_replay.py reports/smollm2/records/suite-rerun
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from datetime import datetime

from qlongbench.run.plan import Cell
from qlongbench.run.progress import CellCounter, Pace, Progress
from qlongbench.run.store import load_run
from qlongbench.run.units import plan_units
from qlongbench.spec.labels import parse_label
from qlongbench.types import Record, Sample

CHECKPOINTS = (0.1, 0.25, 0.5, 0.75)
"""Shares of a precision's records at which the predicted end is read."""


def predicted_ends(label: str, records: list[Record], samples: dict[Cell, list[Sample]], start: datetime,
                   learned: bool) -> list[float]:
    """Seconds from the precision's start at which the ETA said it would end, after each record."""
    units, _ = plan_units([parse_label(label)], samples, set())
    cell_of = {s.sample_id: c for c, ss in samples.items() for s in ss}
    by_id = {s.sample_id: s for ss in samples.values() for s in ss}
    now = [0.0]
    pace = Pace(clock=lambda: now[0])
    pace.start(label)
    events: list[Progress] = []
    counter = CellCounter(events.append, label, [by_id[i] for u in units for i in u.sample_ids], cell_of,
                          {i: c for u in units for i, c in zip(u.sample_ids, u.costs)})
    ends = []
    for r in records:
        now[0] = (datetime.fromisoformat(r.created_at) - start).total_seconds()
        counter.add(by_id[r.sample_id], r if learned else None)
        reading = pace.read(next(e for e in reversed(events) if e.kind == "record"))
        ends.append(reading.elapsed + (reading.eta or 0.0))
    return ends


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run directory with records")
    args = ap.parse_args()

    contents = load_run(args.run)
    by_cell: dict[Cell, list[Sample]] = defaultdict(list)
    for s in contents.samples.values():
        by_cell[Cell(s.task, s.language, s.instruction_language, s.length)].append(s)
    order = sorted(contents.records, key=lambda r: r.created_at)
    mine: dict[str, list[Record]] = defaultdict(list)
    for r in order:
        mine[r.precision].append(r)
    previous = datetime.fromisoformat(contents.header.created_at)
    cols = " | ".join(f"at {int(c * 100)} %: fixed / measured" for c in CHECKPOINTS)
    print(f"| precision | records | actual end s | {cols} |")
    print("|---|---:|---:|" + "---:|" * len(CHECKPOINTS))
    errors: dict[bool, list[float]] = {False: [], True: []}
    for label, recs in mine.items():
        ids = {r.sample_id for r in recs}
        cells = {c: [s for s in ss if s.sample_id in ids] for c, ss in by_cell.items()}
        start, previous = previous, datetime.fromisoformat(recs[-1].created_at)
        actual = (previous - start).total_seconds()
        ends = {learned: predicted_ends(label, recs, cells, start, learned) for learned in (False, True)}
        row = []
        for c in CHECKPOINTS:
            k = max(0, int(round(c * len(recs))) - 1)
            for learned in (False, True):
                errors[learned].append(abs(ends[learned][k] - actual) / actual)
            row.append(f"{ends[False][k]:.0f} / {ends[True][k]:.0f}")
        print(f"| {label} | {len(recs)} | {actual:.0f} | " + " | ".join(row) + " |")
    fixed, measured = (statistics.median(errors[x]) for x in (False, True))
    print(f"predicted end off by a median {measured:.0%} with measured rates against {fixed:.0%} with fixed units "
          f"({len(errors[True])} readings, {len(mine)} precisions)")


if __name__ == "__main__":
    main()
