"""Progress as the CLI shows it: on a terminal a rich bar per precision with its records per second,
elapsed time and ETA; otherwise (CI logs, nohup) one plain line per step: per record written (with
the same pace figures), per precision started and per finished cell, each with the run's elapsed
time."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from qlongbench.run.progress import Pace, plain_line
from qlongbench.run.progress import Progress as Event


class Feedback:
    """The run's ProgressFn (a context manager around the run)."""

    def __init__(self, tty: bool, quiet: bool):
        self.tty, self.quiet, self.t0 = tty, quiet, time.monotonic()
        self.pace = Pace()
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Feedback:
        if self.tty and not self.quiet:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[pace]}"), TimeElapsedColumn(), transient=False)
            self._progress.start()
        return self

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if event.kind == "precision" and event.precision:
            self.pace.start(event.precision)
        if self._progress is not None:
            self._draw(self._progress, event)
            return
        line = plain_line(event, self.pace, time.monotonic() - self.t0)
        if line:
            print(line, flush=True)

    def _draw(self, progress: Progress, event: Event) -> None:
        """The rich bars: one for freezing samples, one per precision (its pace in the text column)."""
        if event.kind == "samples":
            key, desc, fields = "samples", "building samples", ""
        elif event.kind == "record":
            key, desc = f"precision:{event.precision}", f"running {event.precision}"
            fields = self.pace.read(event).text()
        else:
            return
        if key not in self._tasks:
            self._tasks[key] = progress.add_task(desc, total=event.total, pace=fields)
        progress.update(self._tasks[key], completed=event.done, total=event.total, description=desc, pace=fields)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
