"""Progress as the CLI shows it: a rich bar on a terminal; otherwise one plain line per precision and
per finished cell, with the elapsed time (CI logs and nohup show the run moving)."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from qlongbench.run.progress import Progress as Event


class Feedback:
    """The run's ProgressFn (a context manager around the run)."""

    def __init__(self, tty: bool, quiet: bool):
        self.tty, self.quiet, self.t0 = tty, quiet, time.monotonic()
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Feedback:
        if self.tty and not self.quiet:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), transient=False)
            self._progress.start()
        return self

    def elapsed(self) -> str:
        s = int(time.monotonic() - self.t0)
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            name = "samples" if event.kind == "samples" else "records"
            if event.kind not in ("samples", "record"):
                return
            if name not in self._tasks:
                self._tasks[name] = self._progress.add_task("", total=event.total)
            desc = "building samples" if name == "samples" else f"running {event.precision}"
            self._progress.update(self._tasks[name], completed=event.done, total=event.total, description=desc)
            return
        if event.kind == "samples" and event.done == event.total:
            print(f"[{self.elapsed()}] samples frozen: {event.total} cells", flush=True)
        elif event.kind == "precision":
            print(f"[{self.elapsed()}] precision {event.done}/{event.total}: {event.precision} ({event.detail})",
                  flush=True)
        elif event.kind == "cell":
            print(f"[{self.elapsed()}]   {event.precision} {event.cell} done ({event.done}/{event.total} cells; "
                  f"{event.detail})", flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
