"""Writing a report: summary.md, results.json, the charts and index.html, into reports/<name>/
unless told otherwise. A name never leaves reports/; files appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

from qlongbench.analysis.build import build
from qlongbench.analysis.data import ReportData
from qlongbench.errors import UserError
from qlongbench.files import atomic_write_text, safe_name
from qlongbench.render.markdown import summary_markdown
from qlongbench.render.results_json import results_json

REPORTS = Path("reports")


def default_out_dir(data: ReportData) -> Path:
    """reports/<run name> (the name made safe: `--name ../../x` stays inside reports/)."""
    return REPORTS / safe_name(data.header.name)


def write(run_dir: str | Path, out: str | Path | None = None, reference: str | None = None, *,
          floor: float | None = None, min_parsed: float | None = None, project: str | None = None) -> Path:
    """Write index.html, summary.md, results.json and the PNG charts; returns the directory.
    `project` ('CONFIG:LENGTH') adds the memory projection onto a named model."""
    from qlongbench.analysis.projection import ProjectionTarget

    kwargs: dict = {k: v for k, v in (("floor", floor), ("min_parsed", min_parsed)) if v is not None}
    if project:
        kwargs["project"] = ProjectionTarget.parse(project)
    data = build(run_dir, reference, **kwargs)
    out_dir = Path(out) if out else default_out_dir(data)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the report directory {out_dir}: {err.strerror or err}") from None
    atomic_write_text(out_dir / "summary.md", summary_markdown(data))
    atomic_write_text(out_dir / "results.json", results_json(data))
    try:
        from qlongbench.render import charts, html
    except ImportError as err:
        raise UserError(f"the charted report needs matplotlib and jinja2 ({err}); install them with: "
                        "pip install 'qlongbench[report]' (summary.md and results.json were written)") from None
    made = charts.make_charts(data)
    charts.remove_stale(out_dir, made)
    for chart in made:
        chart.write(out_dir)
    atomic_write_text(out_dir / "index.html", html.render(data, made))
    for name in ("summary.md", "results.json", "index.html"):
        # A report is meant to be read (and served) by others; temp files are created 0600.
        (out_dir / name).chmod(0o644)
    return out_dir
