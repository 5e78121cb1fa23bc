"""False-positive rates of the old and the new drop rule under the null, as a table.

    python scripts/calibration_rates.py [--reps 1000]

Each family is one candidate identical in distribution to the reference over nine cells (answers
differing at random with discordance psi, accuracy 50 %), simulated by tests/test_calibration.py's
`null_family`. "old" is the rule qlongbench used before (a 95 % percentile bootstrap interval of the
paired drop excluding 0, no multiplicity control); "new" is the report's rule through
`compare_cells` (exact paired test, Holm within the family). Per cell: the share of comparisons
called worse or better; per family: the share of families with at least one such cell.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qlongbench.analysis.drops import compare_cells  # noqa: E402
from tests.test_calibration import CELLS, RULE, null_family, old_rule_flags, rates  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="families per setting")
    args = parser.parse_args()
    print("| n | psi | old per cell | old per family | new per cell | new per family |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, psi in ((8, 0.3), (20, 0.3), (50, 0.3), (50, 0.1)):
        rng = np.random.default_rng(n * 100 + int(psi * 10))
        old_cells = old_fams = 0
        new = []
        for _ in range(args.reps):
            fam = null_family(rng, n, psi)
            flags = [old_rule_flags(c.reference_scores, c.candidate_scores, rng) for c in fam]
            old_cells += sum(flags)
            old_fams += any(flags)
            new.append(compare_cells(fam, RULE))
        per, family = rates(new)
        print(f"| {n} | {psi} | {100 * old_cells / (args.reps * CELLS):.1f} % | {100 * old_fams / args.reps:.1f} % | "
              f"{100 * per:.2f} % | {100 * family:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
