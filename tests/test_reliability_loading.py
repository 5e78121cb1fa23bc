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


# --- a record of a precision run.json does not list ---------------------------------------------------

@pytest.mark.parametrize("command", ["check", "report"])
def test_a_record_of_a_precision_run_json_does_not_list_is_refused(capsys, tmp_path, command):
    """A record relabelled "bf16:threads" (a key of its own, so no duplicate) used to be gated as a
    candidate. It is refused in one line naming the file, the line (blank lines counted), the label
    and the labels run.json lists."""
    run = make_run(tmp_path / "run")
    path = run / "records.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[-1])
    row["precision"] = "bf16:threads"
    path.write_text("".join(["\n", *lines[:-1], json.dumps(row) + "\n"]), encoding="utf-8")
    before = tree(run)
    argv = {"check": ["check", run, "--max-drop", "50", "--min-samples", "1"],
            "report": ["report", run, "--out", tmp_path / "report"]}[command]
    rc, _, err = cli(capsys, argv)
    assert rc == 2
    assert_one_line(err, f"records.jsonl:{len(lines) + 1}:", "'bf16:threads'", "it lists bf16, bnb-nf4")
    assert tree(run) == before and not (tmp_path / "report").exists()


def test_a_resumed_run_records_every_planned_label(capsys, tiny_model, tmp_path):
    """run.json lists every label a run planned, so records of a precision that never loaded (all its
    samples overlength, or out of memory at load) still belong to the run after a resume that drops it."""
    from qlongbench.run.header import RunHeader
    from tests.reliability_helpers import run_argv

    out = tmp_path / "run"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--precisions", "bf16,fp32", "--max-new-tokens", "2"))
    assert rc == 0, err
    header = RunHeader.load(json.loads((out / "run.json").read_text(encoding="utf-8")))
    assert header.planned_precisions == ["bf16", "fp32"]
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--precisions", "bf16", "--max-new-tokens", "2"))
    assert rc == 0, err
    header = RunHeader.load(json.loads((out / "run.json").read_text(encoding="utf-8")))
    assert header.planned_precisions == ["bf16", "fp32"] and "fp32" in header.precision_labels()


# --- YAML and run.json errors name the line ----------------------------------------------------------

def test_a_bad_policy_value_names_its_line(capsys, tmp_path):
    run = make_run(tmp_path / "run")
    policy = tmp_path / "policy.yaml"
    policy.write_text("# a policy\nreference: bf16\nrules:\n  - task: niah-single\n    max_drop: 5\n"
                      "  - task: niah-single\n    length: [256]\n    max_drop: lots\n", encoding="utf-8")
    rc, _, err = cli(capsys, ["check", run, "--policy", policy])
    assert rc == 2
    assert_one_line(err, f"{policy}:8: rules.1.max_drop")


def test_a_bad_config_value_names_its_line_unless_a_flag_gave_it(capsys, tiny_model, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {tiny_model}\nout: {tmp_path / 'run'}\nsamples: 2\ntasks:\n  - niah-single\n"
                      "  - name: rag\n    lengths: [256, -3]\n", encoding="utf-8")
    rc, _, err = cli(capsys, ["run", "--config", config, "--no-report"])
    assert rc == 2
    assert_one_line(err, f"{config}:7: tasks.1.lengths")
    config.write_text(f"model: {tiny_model}\nout: {tmp_path / 'run'}\nsamples: 0\n", encoding="utf-8")
    rc, _, err = cli(capsys, ["run", "--config", config, "--no-report"])
    assert_one_line(err, f"{config}:3: samples")
    rc, _, err = cli(capsys, ["run", "--config", config, "--no-report", "--samples", "-1"])
    line = assert_one_line(err, "samples")
    assert f"{config}:" not in line and "options" in line  # the flag's value, not the file's
    assert not (tmp_path / "run").exists()


def test_a_bad_run_json_value_names_its_line_and_field(capsys, tmp_path):
    run = make_run(tmp_path / "run")
    header = json.loads((run / "run.json").read_text(encoding="utf-8"))
    header["model"]["num_hidden_layers"] = -2
    text = json.dumps(header, indent=2, sort_keys=True) + "\n"
    (run / "run.json").write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"num_hidden_layers": -2' in t)
    rc, _, err = cli(capsys, ["report", run, "--out", tmp_path / "report"])
    assert rc == 2
    assert_one_line(err, f"run.json:{line}: not a valid run header: model.num_hidden_layers")
