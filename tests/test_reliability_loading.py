"""Hand-picked cases of "every file is validated on load, one line, exit 2, nothing written" that the
fuzzing suites reach only by chance: line numbers in YAML and run.json errors, records of a
precision run.json does not list, task data files with a bad row, records and samples that are not
UTF-8, and a report refused for want of matplotlib that must leave nothing behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.fuzz_helpers import make_run
from tests.reliability_helpers import assert_one_line, cli, tree


# --- a report that cannot be drawn writes nothing ----------------------------------------------------

@pytest.mark.parametrize("missing", ["matplotlib", "jinja2"])
def test_a_report_without_its_libraries_writes_nothing(capsys, tmp_path, monkeypatch, missing):
    """`report` without matplotlib (or jinja2) is exit 2 with the pip command, and neither the report
    directory nor a summary.md or results.json in it is made (it used to write both, then exit 2)."""
    run = make_run(tmp_path / "run")
    for name in [m for m in sys.modules if m == missing or m.startswith(missing + ".")]:
        monkeypatch.delitem(sys.modules, name)
    import qlongbench.render

    for name in ("charts", "html", "chart_base", "charts_quality", "charts_memory"):  # imported afresh
        monkeypatch.delitem(sys.modules, f"qlongbench.render.{name}", raising=False)
        monkeypatch.delattr(qlongbench.render, name, raising=False)
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` raises ImportError
    before = tree(run)
    out = tmp_path / "report"
    rc, _, err = cli(capsys, ["report", run, "--out", out])
    assert rc == 2
    assert_one_line(err, "qlongbench[report]", missing)
    assert not out.exists()
    assert tree(run) == before
