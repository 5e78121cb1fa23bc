"""What the runner tells its caller as it goes: the events (the CLI draws them; the library only
reports) and the counter that turns written records into record and cell events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qlongbench.run.plan import Cell
from qlongbench.types import Record, Sample


@dataclass(frozen=True)
class Progress:
    """What the runner tells its caller as it goes (the CLI draws it; the library only reports)."""

    kind: str
    """samples (a cell's samples frozen), precision (a precision starts), cell (a precision finished
    a cell), record (one more record written)."""
    done: int
    """Units of this kind done so far."""
    total: int
    """Units of this kind in the run."""
    precision: str | None = None
    """The precision concerned."""
    cell: str | None = None
    """The cell concerned (task/language/length)."""
    detail: str | None = None
    """One more fact for the line (accuracy so far, a failure)."""


ProgressFn = Callable[[Progress], None]


class CellCounter:
    """Reports a precision's cell as done when its last sample's record is written."""

    def __init__(self, progress: ProgressFn, precision: str, todo: Sequence[Sample], cell_of: dict[str, Cell]):
        self.progress, self.precision, self.cell_of = progress, precision, cell_of
        self.left: dict[Cell, int] = defaultdict(int)
        for s in todo:
            self.left[cell_of[s.sample_id]] += 1
        self.total, self.done, self.records = len(self.left), 0, 0
        self.scores: dict[Cell, list[float]] = defaultdict(list)
        self.n_todo = len(todo)

    def add(self, sample: Sample, record: Record | None) -> None:
        cell = self.cell_of[sample.sample_id]
        self.records += 1
        if record is not None and record.score is not None:
            self.scores[cell].append(record.score)
        self.progress(Progress("record", self.records, self.n_todo, precision=self.precision, cell=cell.stem()))
        self.left[cell] -= 1
        if self.left[cell] == 0:
            self.done += 1
            scores = self.scores[cell]
            detail = f"mean score {sum(scores) / len(scores):.2f} over {len(scores)}" if scores else "no scored record"
            self.progress(Progress("cell", self.done, self.total, precision=self.precision, cell=cell.stem(),
                                   detail=detail))
