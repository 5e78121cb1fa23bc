"""Writing a report: summary.md, results.json, the charts and index.html, into reports/<name>/
unless told otherwise. A name never leaves reports/.

A report is finished when its directory holds results.json. Everything is drawn first into a
hidden staging folder inside the report directory (`.partial-<pid>-…`), then moved into place one
file at a time, each move an atomic rename: the old results.json goes first (the old report stops
being finished), with the old index.html and summary.md; then the charts, summary.md, index.html
and, last, the new results.json. A report killed at any moment leaves the previous finished report,
or files without results.json (unfinished: a later `report` writes them again), or the new finished
report — never a results.json beside pages of another report. The next report sweeps the staging
folders that dead processes left."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qlongbench.analysis.build import build
from qlongbench.analysis.data import ReportData
from qlongbench.errors import UserError
from qlongbench.files import atomic_write_text, safe_name, write_error
from qlongbench.render.markdown import summary_markdown
from qlongbench.render.results_json import results_json

REPORTS = Path("reports")
STAGING = ".partial-"
"""Prefix of the staging folder a report is drawn in (followed by the writer's pid)."""
FINISHED = "results.json"
"""Present only in a finished report: written last, removed first."""
PAGES = ("summary.md", "index.html")


def default_out_dir(data: ReportData) -> Path:
    """reports/<run name> (the name made safe: `--name ../../x` stays inside reports/)."""
    return REPORTS / safe_name(data.header.name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_staging(out_dir: Path) -> None:
    """Remove the staging folders of report writers that died (their pid is gone)."""
    for path in out_dir.glob(f"{STAGING}*"):
        pid = path.name[len(STAGING):].partition("-")[0]
        if path.is_dir() and not path.is_symlink() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def write(run_dir: str | Path, out: str | Path | None = None, reference: str | None = None, *,
          floor: float | None = None, min_parsed: float | None = None, project: str | None = None) -> Path:
    """Write index.html, summary.md, results.json and the PNG charts; returns the directory.
    `project` ('CONFIG:LENGTH') adds the memory projection onto a named model."""
    from qlongbench.analysis.projection import ProjectionTarget

    charts, html = report_libraries()  # before anything is read or written: a refused report writes nothing
    kwargs: dict = {k: v for k, v in (("floor", floor), ("min_parsed", min_parsed)) if v is not None}
    if project:
        kwargs["project"] = ProjectionTarget.parse(project)
    data = build(run_dir, reference, **kwargs)
    out_dir = Path(out) if out else default_out_dir(data)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        sweep_staging(out_dir)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-", dir=out_dir))
    except OSError as err:
        raise UserError(f"cannot create the report directory {out_dir}: {err.strerror or err}") from None
    try:
        atomic_write_text(staging / "summary.md", summary_markdown(data))
        atomic_write_text(staging / FINISHED, results_json(data))
        made = charts.make_charts(data)
        for chart in made:
            chart.write(staging)
        atomic_write_text(staging / "index.html", html.render(data, made))
        _commit(staging, out_dir, [c.filename for c in made], lambda: charts.remove_stale(out_dir, made))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def report_libraries() -> tuple[Any, Any]:
    """The chart and page modules (matplotlib and jinja2 imported); one UserError line naming what
    is missing and how to install it, raised before the report touches any file."""
    try:
        from qlongbench.render import charts, html
    except ImportError as err:
        raise UserError(f"the report needs matplotlib and jinja2 ({err}); install them with: pip install "
                        "'qlongbench[report]' (nothing was written)") from None
    return charts, html


def _commit(staging: Path, out_dir: Path, chart_names: Sequence[str], remove_stale: Callable[[], None]) -> None:
    """Move the drawn files into out_dir in the order that keeps results.json meaning finished;
    reports committing into one directory at once take turns (a lock on the directory itself)."""
    import fcntl

    try:
        fd = os.open(out_dir, os.O_RDONLY)
    except OSError as err:
        raise write_error(out_dir, err) from None
    path = out_dir
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for name in (FINISHED, *PAGES):
            path = out_dir / name
            path.unlink(missing_ok=True)
        for name in [*chart_names, *(p for p in PAGES if (staging / p).exists()), FINISHED]:
            path = out_dir / name
            (staging / name).chmod(0o644)  # a report is meant to be read (and served) by others
            os.replace(staging / name, path)
        path = out_dir
        remove_stale()
        with contextlib.suppress(OSError):  # the renames reach the disk (where the file system can say so)
            os.fsync(fd)
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        os.close(fd)
