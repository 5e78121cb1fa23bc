"""Executors hand units of work to whatever runs them and pass what comes back to the ledger, the
driver's side of every executor and the only writer of records.jsonl. Local: the units run here,
one after another. Ray (run/ray_executor.py): each unit is a Ray task."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qlongbench.errors import UserError
from qlongbench.run.header import ExecutorInfo
from qlongbench.run.plan import Cell
from qlongbench.run.progress import CellCounter, Progress, ProgressFn
from qlongbench.run.store import HeaderBook, RecordWriter
from qlongbench.run.units import Event, Loaded, LoadFailed, Unit, UnitContext, run_unit
from qlongbench.spec.config import RunSpec
from qlongbench.spec.precision import Precision
from qlongbench.tokenizer import PromptTokenizer
from qlongbench.types import BackendInfo, Record, Sample

log = logging.getLogger(__name__)


def _change(field: str, before: object, after: object) -> str:
    """One changed field for a one-line message (hashes cut to 12 characters, libraries by name)."""
    if isinstance(before, dict) and isinstance(after, dict):
        libs = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in libs)

    def short(value: object) -> str:
        text = str(value)
        return text[:12] if len(text) == 64 else text

    return f"{field} {short(before)} -> {short(after)}"


@dataclass
class Tally:
    """What an invocation did (RunResult's counts)."""

    written: int = 0
    """Records written."""
    duplicates: int = 0
    """Records that came back for a key already written (a retried unit) and were dropped."""
    failed_precisions: dict[str, str] = field(default_factory=dict)
    """Precisions (or units of them) that produced nothing, with the reason."""


class Ledger:
    """The driver's bookkeeping: writes each record once (fsynced, keys already written skipped),
    keeps run.json up to date with what each unit loaded and where, and reports progress."""

    def __init__(self, book: HeaderBook, writer: RecordWriter, progress: ProgressFn,
                 samples: dict[Cell, list[Sample]], done: set[tuple[str, str]], units: Sequence[Unit]):
        self.book, self.writer, self.progress = book, writer, progress
        self.by_id = {s.sample_id: s for ss in samples.values() for s in ss}
        self.cell_of = {s.sample_id: cell for cell, ss in samples.items() for s in ss}
        self.done = done
        self.tally = Tally()
        self._counters: dict[str, CellCounter] = {}  # one per precision, across its slices
        for label in dict.fromkeys(u.label for u in units):
            mine = [u for u in units if u.label == label]
            self._counters[label] = CellCounter(
                progress, label, [self.by_id[i] for u in mine for i in u.sample_ids], self.cell_of,
                {i: c for u in mine for i, c in zip(u.sample_ids, u.costs)})

    def set_executor(self, info: ExecutorInfo) -> None:
        """The executor of this invocation (placements of earlier ones kept)."""
        before = self.book.header.executor
        info = info.model_copy(update={"placements": before.placements | info.placements, "cpus": before.cpus})
        self.book.update(executor=info)

    def start(self, unit: Unit, how: str = "") -> None:
        """A unit is handed out: progress says so (and how many of the precision's samples are there)."""
        n_all = len(self.by_id)
        there = sum(1 for sid in self.by_id if (unit.label, sid) in self.done)
        detail = f"{len(unit.sample_ids)} to run, {there} already there" if unit.of == 1 else \
            f"slice {unit.index + 1}/{unit.of}: {len(unit.sample_ids)} to run, {there} of {n_all} already there"
        self.progress(Progress("precision", unit.position, unit.n_precisions, precision=unit.label,
                               detail=detail + how))

    def apply(self, unit: Unit, event: Event) -> None:
        if isinstance(event, Record):
            key = event.key()
            if key in self.done:  # a retried unit re-sent it, or two invocations raced: written once
                self.tally.duplicates += 1
                return
            self.writer.append(event)
            self.done.add(key)
            self.tally.written += 1
            self._note_cpu(unit, event.precision)
            counter = self._counters.get(unit.label)
            if counter is not None and event.sample_id in self.by_id:
                counter.add(self.by_id[event.sample_id], event)
        elif isinstance(event, Loaded):
            h = self.book.header
            label = event.placement.precision
            self._check_same_load(label, h.precisions.get(label), event)
            placements = h.executor.placements | {unit.name: event.placement}
            self.book.update(precisions=h.precisions | {label: event.info},
                             precision_errors={k: v for k, v in h.precision_errors.items() if k != label},
                             executor=h.executor.model_copy(update={"placements": placements}))
        elif isinstance(event, LoadFailed):
            # Out of memory while loading is a result (oom records: it does not fit), and still a
            # precision that produced nothing: the run exits non-zero either way.
            self.tally.failed_precisions[event.label] = (
                "out of memory while loading: " if event.status == "oom" else "") + event.message
            if event.status == "error":
                self.book.update(precision_errors=self.book.header.precision_errors | {event.label: event.message})

    def _note_cpu(self, unit: Unit, label: str) -> None:
        """A record written adds the CPU of its unit's placement (this invocation's load) to the label's
        list in run.json, once."""
        ex = self.book.header.executor
        placement = ex.placements.get(unit.name)
        cpu = placement.cpu if placement is not None else ""
        if cpu and cpu not in ex.cpus.get(label, []):
            self.book.update(executor=ex.model_copy(update={"cpus": ex.cpus | {label: [*ex.cpus.get(label, []), cpu]}}))

    def _check_same_load(self, label: str, before: BackendInfo | None, event: Loaded) -> None:
        """Records already written for a precision were made by what it loaded then: a load that
        differs in what decides outputs (another quantized file, engine, device or library) would
        put two models' answers under one label. Refused: the run stops, what it wrote stays whole."""
        kept = sum(1 for p, _ in self.done if p == label)
        changed = before.differs_from(event.info) if before is not None and kept else []
        if changed:
            what = "; ".join(_change(f, getattr(before, f), getattr(event.info, f)) for f in changed)
            raise UserError(f"precision {label} cannot resume: its {kept} records were made by another load ({what}); "
                            "a quantization rebuilt elsewhere gives other weights. Put the earlier artifact back in the "
                            "artifact cache (QLONGBENCH_CACHE), or run the precision under another --out")

    def lost(self, unit: Unit, message: str) -> None:
        """A unit that ended without finishing (its worker lost past the retries, or an unexpected
        failure): the samples it did not write stay to be run by the next invocation."""
        missing = sum(1 for i in unit.sample_ids if (unit.label, i) not in self.done)
        log.error("unit %s failed with %d samples unwritten: %s", unit.name, missing, message)
        if missing:
            self.tally.failed_precisions[unit.name] = f"{message} ({missing} samples left to a rerun)"


class Executor(Protocol):
    """Runs units and passes what they yield to the ledger."""

    name: str

    def driver_device(self, spec: RunSpec, precisions: Sequence[Precision]) -> str:
        """The device the driver checks precisions against before anything runs."""

    def info(self) -> ExecutorInfo:
        """What run.json records about this executor."""

    def run(self, units: Sequence[Unit], ctx: UnitContext, samples: dict[Cell, list[Sample]], ledger: Ledger,
            *, tokenizer: PromptTokenizer) -> None:
        """Run every unit; each record reaches ledger.apply exactly once per key."""


class LocalExecutor:
    """The units run in this process, one after another (one model loaded at a time)."""

    name = "local"

    def __init__(self, spec: RunSpec):
        self.spec = spec
        self.device = ""

    def driver_device(self, spec: RunSpec, precisions: Sequence[Precision]) -> str:
        from qlongbench.run.device import resolve_device

        self.device = resolve_device(spec.device)
        return self.device

    def info(self) -> ExecutorInfo:
        return ExecutorInfo(name="local")

    def run(self, units: Sequence[Unit], ctx: UnitContext, samples: dict[Cell, list[Sample]], ledger: Ledger,
            *, tokenizer: PromptTokenizer) -> None:
        by_id = {s.sample_id: s for ss in samples.values() for s in ss}
        for unit in units:
            ledger.start(unit)
            if not unit.sample_ids:
                continue
            for event in run_unit(unit, ctx, [by_id[i] for i in unit.sample_ids], tokenizer=tokenizer,
                                  device=self.device or None):
                ledger.apply(unit, event)
