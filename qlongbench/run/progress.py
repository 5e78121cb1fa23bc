"""What the runner tells its caller as it goes: the events (the CLI draws them; the library only
reports) and the counter that turns written records into record and cell events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qlongbench.run.plan import Cell
from qlongbench.run.scheduler import Cost
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
    work_done: float | None = None
    """record events: the precision's work written so far, for an ETA that knows an 8K record is not
    a 1K one — in seconds (the written records' own prefill and decode seconds) once the counter has
    measured a rate, else in Unit.costs' relative units."""
    work_total: float | None = None
    """record events: all the precision's work this run writes, in work_done's units (measured seconds
    plus the records still to come at the rates measured so far)."""
    measured: bool = False
    """record events: work_done and work_total are seconds (a rate has been measured)."""


ProgressFn = Callable[[Progress], None]


class CellCounter:
    """One precision's records and cells in this invocation, across its slices: reports each record
    with the precision's count and work so far, and a cell as done when its last sample's record is
    written (whichever slice wrote it).

    The work left is priced by each sample's Cost (prefill and answer parts) at the seconds per unit
    this precision's written records took for each part: how much an answer costs against a prefill
    differs tenfold between engines and machines (a transformers answer on one CPU, a llama.cpp one on
    another), so no fixed ratio prices both."""

    def __init__(self, progress: ProgressFn, precision: str, todo: Sequence[Sample], cell_of: dict[str, Cell],
                 cost: dict[str, Cost]):
        self.progress, self.precision, self.cell_of = progress, precision, cell_of
        self.left: dict[Cell, int] = defaultdict(int)
        for s in todo:
            self.left[cell_of[s.sample_id]] += 1
        self.total, self.done, self.records = len(self.left), 0, 0
        self.scores: dict[Cell, list[float]] = defaultdict(list)
        self.n_todo = len(todo)
        self.cost = cost
        """Relative cost of each sample (Unit.costs)."""
        self.units_left = Cost(sum(c.prefill for c in cost.values()), sum(c.answer for c in cost.values()))
        self.units_all = self.units_left.total
        self.units_measured = [0.0, 0.0]
        """Relative units of the written records whose seconds were measured: prefill, answer."""
        self.seconds = [0.0, 0.0]
        """Measured seconds of the written records: spent prefilling a priced context, answering."""

    def _learn(self, cost: Cost, record: Record | None) -> None:
        if record is None or record.prefill_seconds is None:
            return
        prefill, decode = record.prefill_seconds, record.decode_seconds or 0.0
        if cost.prefill > 0:
            self.units_measured[0] += cost.prefill
            self.seconds[0] += prefill
        else:  # a question's own few tokens, prefilled on a cached context, belong to its answer
            decode += prefill
        self.units_measured[1] += cost.answer
        self.seconds[1] += decode

    def work(self) -> tuple[float, float, bool]:
        """(work done, work in all, whether in seconds): in measured seconds once a rate is known,
        else in relative units."""
        rates = [s / u if u > 0 else None for s, u in zip(self.seconds, self.units_measured)]
        prefill_rate, answer_rate = (r if r is not None else rates[1 - i] for i, r in enumerate(rates))
        if prefill_rate is None or answer_rate is None:
            return self.units_all - self.units_left.total, self.units_all, False
        spent = sum(self.seconds)
        return spent, spent + self.units_left.prefill * prefill_rate + self.units_left.answer * answer_rate, True

    def add(self, sample: Sample, record: Record | None) -> None:
        cell = self.cell_of[sample.sample_id]
        self.records += 1
        cost = self.cost.get(sample.sample_id, Cost(0.0, 0.0))
        self.units_left = Cost(self.units_left.prefill - cost.prefill, self.units_left.answer - cost.answer)
        self._learn(cost, record)
        if record is not None and record.score is not None:
            self.scores[cell].append(record.score)
        work_done, work_total, measured = self.work()
        self.progress(Progress("record", self.records, self.n_todo, precision=self.precision, cell=cell.stem(),
                               work_done=work_done, work_total=work_total, measured=measured))
        self.left[cell] -= 1
        if self.left[cell] == 0:
            self.done += 1
            scores = self.scores[cell]
            detail = f"mean score {sum(scores) / len(scores):.2f} over {len(scores)}" if scores else "no scored record"
            self.progress(Progress("cell", self.done, self.total, precision=self.precision, cell=cell.stem(),
                                   detail=detail))


def clock_text(seconds: float | None) -> str:
    """h:mm:ss, or '?' when not known yet."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class PaceReading:
    """Where one precision stands: its records written, its pace and when it should end."""

    done: int
    total: int
    elapsed: float
    """Seconds since the precision started (its model load included)."""
    work_done: float | None = None
    """Relative cost of the records written (Progress.work_done); None: every record counts alike."""
    work_total: float | None = None
    """Relative cost of all the precision's records."""
    since_first: tuple[float, float] | None = None
    """(seconds, work in seconds) since the precision's first record measured in seconds: the pace
    without the model load before it."""

    @property
    def rate(self) -> float | None:
        """Records per second over the precision so far (None before the first record)."""
        return self.done / self.elapsed if self.done and self.elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far (0 when done; None before the first record). With the
        work in seconds (CellCounter.work: the records still to come priced at the prefill and answer
        seconds measured so far), the pace is that work per second of clock since the precision's
        first such record, so the long contexts still to come count as long, the time around the
        engine (scoring, writing) is spread over the rest, and the model load before the first record
        is left out. Replayed on two committed runs (benchmarks/eta_replay.py) it errs short by about
        a tenth: work outside the engine's timers that only the last records do (the KL of 8K
        documents) is not priced. Before that, work in relative units over the precision's clock (its
        load included: an early ETA errs long), else records alike."""
        if self.done >= self.total:
            return 0.0
        if self.since_first and self.since_first[0] > 0 and self.since_first[1] > 0 and self.work_total is not None \
                and self.work_done is not None:
            return (self.work_total - self.work_done) * self.since_first[0] / self.since_first[1]
        if self.work_done and self.work_total is not None and self.elapsed > 0:
            return (self.work_total - self.work_done) / (self.work_done / self.elapsed)
        rate = self.rate
        return (self.total - self.done) / rate if rate else None

    def text(self) -> str:
        rate = self.rate
        pace = "– rec/s" if rate is None else f"{rate:.2f} rec/s" if rate < 10 else f"{rate:.0f} rec/s"
        return f"{pace}, elapsed {clock_text(self.elapsed)}, ETA {clock_text(self.eta)}"


class Pace:
    """Records per second, elapsed time and ETA per precision, from the runner's events. A
    precision's clock starts at its first `precision` event (so its model load counts: an early ETA
    errs long; a second slice of it starting later does not restart the clock) and the pace is its
    records over that time; records of a resumed run that were already there are not counted (the
    events count what this run writes)."""

    def __init__(self, clock: Callable[[], float] | None = None):
        import time

        self.clock = clock or time.monotonic
        self.started: dict[str, float] = {}
        self.first: dict[str, tuple[float, float]] = {}
        """precision -> (clock, work done) at its first record whose work was in seconds."""

    def start(self, precision: str) -> None:
        self.started.setdefault(precision, self.clock())

    def reading(self, precision: str, done: int, total: int, work_done: float | None = None,
                work_total: float | None = None, measured: bool = False) -> PaceReading:
        now = self.clock()
        t0 = self.started.setdefault(precision, now)
        since = None
        if measured and work_done is not None:
            t1, w1 = self.first.setdefault(precision, (now, work_done))
            since = (now - t1, work_done - w1)
        return PaceReading(done=done, total=total, elapsed=now - t0, work_done=work_done, work_total=work_total,
                           since_first=since)

    def read(self, event: Progress) -> PaceReading:
        """The reading at a record event."""
        return self.reading(event.precision or "", event.done, event.total, event.work_done, event.work_total,
                            event.measured)


def plain_line(event: Progress, pace: Pace, run_elapsed: float) -> str | None:
    """The log line of one event when there is no terminal to draw on (None: no line for it)."""
    head = f"[{clock_text(run_elapsed)}]"
    if event.kind == "samples":
        return f"{head} samples frozen: {event.total} cells" if event.done == event.total else None
    if event.kind == "precision":
        return f"{head} precision {event.done}/{event.total}: {event.precision} ({event.detail})"
    if event.kind == "record":
        reading = pace.read(event)
        return f"{head}   {event.precision} {event.done}/{event.total} records, {reading.text()}"
    if event.kind == "cell":
        return f"{head}   {event.precision} {event.cell} done ({event.done}/{event.total} cells; {event.detail})"
    return None
