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
    assert_one_line(err, f"records.jsonl:{len(lines) + 1}:", "'bf16:threads'", "it plans bf16, bnb-nf4")
    assert tree(run) == before and not (tmp_path / "report").exists()


def test_a_resumed_run_records_every_planned_label(capsys, tiny_model, tmp_path):
    """run.json's plan holds every label a run planned, so records of a precision that never loaded (all its
    samples overlength, or out of memory at load) still belong to the run after a resume that drops it."""
    from qlongbench.run.header import RunHeader
    from tests.reliability_helpers import run_argv

    out = tmp_path / "run"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--precisions", "bf16,fp32", "--max-new-tokens", "2"))
    assert rc == 0, err
    header = RunHeader.load(json.loads((out / "run.json").read_text(encoding="utf-8")))
    assert header.plan.labels == ("bf16", "fp32")
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--precisions", "bf16", "--max-new-tokens", "2"))
    assert rc == 0, err
    header = RunHeader.load(json.loads((out / "run.json").read_text(encoding="utf-8")))
    assert set(header.plan.labels) == {"bf16", "fp32"} and "fp32" in header.precision_labels()


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
    header["plan"]["model"]["num_hidden_layers"] = -2
    text = json.dumps(header, indent=2, sort_keys=True) + "\n"
    (run / "run.json").write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"num_hidden_layers": -2' in t)
    rc, _, err = cli(capsys, ["report", run, "--out", tmp_path / "report"])
    assert rc == 2
    assert_one_line(err, f"run.json:{line}: not a valid run header: plan.model.num_hidden_layers")


# --- task data files: a bad row is one line naming file, row and field, never skipped ------------------

def _squad(i: int, **change) -> dict:
    context = f"The lighthouse on island {i} was painted red by its keepers."
    return {"title": f"Island {i}", "context": context, "question": f"What colour is lighthouse {i}?",
            "answers": {"text": ["red"], "answer_start": [context.index("red")]}} | change


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
@pytest.mark.parametrize("bad, field", [({"answers": 5}, "answers"), ({"answers": {"text": [], "answer_start": []}},
                                                                     "answers"), ({"question": ""}, "question")])
def test_a_bad_rag_row_in_a_local_file_is_refused_not_skipped(tmp_path, fmt, bad, field):
    import pandas as pd

    from qlongbench.errors import UserError
    from qlongbench.tasks.rag import load_qa_corpus

    rows = [_squad(i) for i in range(4)]
    rows[2] = _squad(2, **bad)
    path = tmp_path / f"qa.{fmt}"
    if fmt == "parquet":
        if not isinstance(bad.get("answers", {}), dict):
            pytest.skip("a Parquet column holds one type")
        pd.DataFrame(rows).to_parquet(path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_qa_corpus(f"file:{path}", "train", 100)
    where = f"{path}:3" if fmt == "jsonl" else f"{path} row 3"
    assert where in str(err.value) and field in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("value, got", [(None, "null"), (7, "a int"), ("missing", "null")])  # datasets: absent = null
def test_a_bad_haystack_row_in_a_local_file_is_refused_not_skipped(tmp_path, value, got):
    from qlongbench.errors import UserError
    from qlongbench.tasks.haystack_sources import load_hf_text

    rows = [{"text": f"Sentence {i} of the logbook. Another one follows."} for i in range(5)]
    rows[3] = {"other": 1} if value == "missing" else {"text": value}
    path = tmp_path / "corpus.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_hf_text(str(path), None, "train", "text", 100)
    assert f"{path} row 4: text must be a string of text, not {got}" in str(err.value)


def test_a_bad_summary_row_in_a_local_csv_is_refused_not_skipped(tmp_path):
    from qlongbench.errors import UserError
    from qlongbench.tasks.summarize import load_documents

    path = tmp_path / "docs.csv"
    path.write_text("document,summary\nA long report about ships.,Ships.\nAnother report.,\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_documents(f"file:{path}", "train", 10, "", "")
    assert f"{path} row 2: summary must be a string, not null" in str(err.value)


def test_an_unreadable_haystack_file_is_one_line(capsys, tiny_model, tmp_path, monkeypatch):
    text = tmp_path / "haystack.txt"
    text.write_text("Entry one was written at dawn. " * 50, encoding="utf-8")
    real = Path.read_bytes

    def denied(self):
        if self == text:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    from tests.reliability_helpers import run_argv

    out = tmp_path / "run"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--tasks", f"niah-single:haystack=file:{text}"))
    assert rc == 2
    assert_one_line(err, "cannot read", "haystack.txt", "Permission denied")
    assert not (out / "run.json").exists()


@pytest.mark.parametrize("what", ["records", "samples"])
def test_a_byte_that_is_not_utf8_names_its_line(capsys, tmp_path, what):
    run = make_run(tmp_path / "run")
    path = run / ("records.jsonl" if what == "records" else "samples/niah-single-en-256.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][:10] + b"\xff" + lines[2][10:]
    path.write_bytes(b"".join(lines))
    if what == "samples":  # bound again in run.json, as a careful forger would
        import hashlib

        header = json.loads((run / "run.json").read_text(encoding="utf-8"))
        header["samples"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        (run / "run.json").write_text(json.dumps(header), encoding="utf-8")
    rc, _, err = cli(capsys, ["report", run, "--out", tmp_path / "report"])
    assert rc == 2
    assert_one_line(err, f"{path.name}:3: not UTF-8 text")


# --- sample metadata -----------------------------------------------------------------------------------

def test_a_scorer_failing_on_its_metadata_is_one_line():
    """The last guard (metadata is validated when a samples file is read): a task's scorer that fails on
    a sample's metadata is a UserError naming the task and the sample, not a traceback."""
    from qlongbench.errors import UserError
    from qlongbench.hashing import ids_sha256
    from qlongbench.run.units import score_output
    from qlongbench.tasks.summarize import SummFacts
    from qlongbench.types import Sample

    s = Sample(sample_id="summ-facts-en-256-0000", task="summ-facts", language="en", instruction_language="en",
               length=256, index=0, seed=0, status="ok", prompt_ids=(3, 4), prefix_len=0, max_new_tokens=2,
               expected=("x",), metadata={"facts": [{"terms": 5}]}, prompt_sha256=ids_sha256((3, 4)))
    with pytest.raises(UserError, match="task summ-facts cannot score sample summ-facts-en-256-0000"):
        score_output(SummFacts(), s, "- Ann has a red car")


@pytest.mark.parametrize("task, metadata, field", [
    ("summ-facts", {"facts": [{"terms": [["Ann"], 3]}]}, "metadata.facts.0.terms.1"),
    ("summ-facts", {"document_tokens": 5}, "metadata.facts"),
    ("niah-none", {"none_words": "none"}, "metadata.none_words"),
    ("niah-multikey", {"distractor_values": [1234567]}, "metadata.distractor_values.0"),
    ("niah-single", {"reason": False}, "metadata.reason")])
def test_sample_metadata_is_validated_on_load(capsys, tmp_path, task, metadata, field):
    """A samples file edited and bound again in run.json: the keys its task reads are checked when it
    is read (report, check and a resumed run alike), naming the file, the line and the key."""
    import hashlib

    run = make_run(tmp_path / "run", task=task)
    path = next((run / "samples").glob("*.jsonl"))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:  # what the task itself writes, then one line forged
        row["metadata"] = {"facts": [{"terms": [["Ann"], ["red"]]}]} if task == "summ-facts" else {}
    rows[1]["metadata"] = metadata
    lines = [json.dumps(row) + "\n" for row in rows]
    path.write_text("".join(lines), encoding="utf-8")
    header = json.loads((run / "run.json").read_text(encoding="utf-8"))
    header["samples"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (run / "run.json").write_text(json.dumps(header), encoding="utf-8")
    rc, _, err = cli(capsys, ["check", run, "--max-drop", "50", "--min-samples", "1"])
    assert rc == 2
    assert_one_line(err, f"{path.name}:2: not a valid sample: {field}")
