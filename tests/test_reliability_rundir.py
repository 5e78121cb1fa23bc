"""The run directory's integrity and the runner's failures: a tampered, incomplete or mixed run
directory is refused by report, check and resume alike, in one line naming the file (and a refused
resume leaves every byte as it was); error records are retried, OOM is a result, a precision that
cannot load makes the run exit non-zero. All on the tiny model, in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qlongbench.hashing import ids_sha256
from qlongbench.run.runner import Runner
from qlongbench.run.store import RunDir
from qlongbench.spec.config import build_spec
from tests.reliability_helpers import assert_one_line, cli, run_argv, tree

MADE = ("--lengths", "256", "--samples", "2", "--precisions", "bf16,fp32", "--no-report", "-q", "--device", "cpu")
SAMPLES = "samples/niah-single-en-256.jsonl"


@pytest.fixture(scope="module")
def made_run(tiny_model, tmp_path_factory) -> Path:
    """A finished run: bf16 and fp32 over two samples (4 records)."""
    from qlongbench.cli import main

    out = tmp_path_factory.mktemp("made") / "run"
    assert main(run_argv(tiny_model, out, fast=MADE)) == 0
    assert len(RunDir(out).records()) == 4
    return out


@pytest.fixture
def run(made_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(made_run, dst)
    return dst


def command(name: str, model: Path, run: Path) -> list[object]:
    """The three readers of a run directory."""
    return {"report": ["report", run, "--out", run.parent / "report", "-q"],
            "check": ["check", run, "-q"],
            "resume": run_argv(model, run, fast=MADE)}[name]


def refused(capsys, name: str, model: Path, run: Path, *needles: str) -> str:
    """The command exits 2 with one line, and leaves the run directory (and any report) untouched."""
    before = tree(run)
    rc, _, err = cli(capsys, command(name, model, run))
    assert rc == 2, err
    line = assert_one_line(err, *needles)
    assert tree(run) == before
    assert not (run.parent / "report").exists()
    return line


READERS = ["report", "check", "resume"]


def _edit_first_sample(path: Path, rehash: bool) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    sample = json.loads(lines[0])
    sample["prompt_ids"][5] += 1
    if rehash:  # a careful forger recomputes the sample's own hash: run.json's binding still catches it
        sample["prompt_sha256"] = ids_sha256(sample["prompt_ids"])
    lines[0] = json.dumps(sample, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize("rehash", [False, True], ids=["token", "token+hash"])
@pytest.mark.parametrize("reader", READERS)
def test_an_edited_token_of_a_frozen_sample_is_refused(capsys, tiny_model, run, reader, rehash):
    _edit_first_sample(run / SAMPLES, rehash)
    refused(capsys, reader, tiny_model, run, "niah-single-en-256.jsonl")


@pytest.mark.parametrize("reader", READERS)
def test_a_deleted_samples_file_is_refused(capsys, tiny_model, run, reader):
    (run / SAMPLES).unlink()
    refused(capsys, reader, tiny_model, run, "niah-single-en-256.jsonl", "missing")


@pytest.mark.parametrize("reader", READERS)
def test_a_duplicate_record_is_refused_naming_its_line(capsys, tiny_model, run, reader):
    records = run / "records.jsonl"
    first = records.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    with open(records, "a", encoding="utf-8") as fh:
        fh.write(first)
    refused(capsys, reader, tiny_model, run, "records.jsonl:5", "second record", "line 1")


@pytest.mark.parametrize("reader", READERS)
def test_a_garbage_line_amid_the_records_is_refused_naming_it(capsys, tiny_model, run, reader):
    records = run / "records.jsonl"
    lines = records.read_text(encoding="utf-8").splitlines(keepends=True)
    records.write_text("".join([lines[0], '{"run_id": "x", oops\n', *lines[1:]]), encoding="utf-8")
    refused(capsys, reader, tiny_model, run, "records.jsonl:2")


@pytest.mark.parametrize("content", ["[]", '"a string"', "42"])
@pytest.mark.parametrize("reader", READERS)
def test_a_run_json_that_is_not_an_object_is_refused(capsys, tiny_model, run, reader, content):
    (run / "run.json").write_text(content, encoding="utf-8")
    refused(capsys, reader, tiny_model, run, "run.json", "JSON object")


@pytest.mark.parametrize("seed", ["0", "1"])
def test_a_run_without_run_json_is_never_adopted(capsys, tiny_model, run, seed):
    (run / "run.json").unlink()
    before = tree(run)
    rc, _, err = cli(capsys, run_argv(tiny_model, run, "--seed", seed, fast=MADE))
    assert rc == 2
    assert_one_line(err, "holds samples or records but no run.json")
    assert tree(run) == before and not (run / "run.json").exists()


def test_a_refused_resume_does_not_append_resumed_at(capsys, tiny_model, run):
    """A resume with another spec is refused; run.json (resumed_at included) keeps every byte."""
    before = tree(run)
    rc, _, err = cli(capsys, run_argv(tiny_model, run, "--lengths", "256", "--samples", "3", fast=MADE))
    assert rc == 2
    assert_one_line(err, "different spec", "samples")
    assert tree(run) == before
    # an accepted resume does append it (so the test above can fail)
    rc, _, _ = cli(capsys, command("resume", tiny_model, run))
    assert rc == 0 and len(RunDir(run).read_header().resumed_at) == 1


def test_one_task_with_two_option_sets_runs_both(capsys, tiny_model, tmp_path):
    text = tmp_path / "haystack.txt"
    text.write_text(" ".join(f"The lighthouse keeper wrote entry number {i} in the grey logbook." for i in range(400)),
                    encoding="utf-8")
    out = tmp_path / "two"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--tasks", f"niah-single:haystack=file:{text},niah-single"))
    assert rc == 0, err
    files = sorted(p.name for p in (out / "samples").iterdir())
    assert len(files) == 2 and "niah-single-en-256.jsonl" in files
    records = RunDir(out).records()
    assert len(records) == 2
    assert len({r.sample_id for r in records}) == 2 and len({r.task for r in records}) == 2
    assert len({r.prompt_sha256 for r in records}) == 2  # different haystacks really were built
    header = RunDir(out).read_header()
    assert set(header.plan.tasks) == {r.task for r in records} and set(header.samples) == set(files)


def test_one_task_listed_twice_identically_is_refused(capsys, tiny_model, tmp_path):
    out = tmp_path / "twice"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--tasks", "niah-single,niah-single"))
    assert rc == 2
    assert_one_line(err, "niah-single is listed twice")
    assert not out.exists()


READER_TYPOS = {  # name -> (argv given the run and the tmp dir, the line's needle)
    "check-candidate-without-records": (lambda r, t: ["check", r, "--candidate", "fp16", "-q"],
                                        "candidate fp16 has no records"),
    "report-reference-without-records": (lambda r, t: ["report", r, "--reference", "fp16", "--out", t / "rep"],
                                         "reference 'fp16' has no records"),
    "check-not-a-run": (lambda r, t: ["check", t / "nowhere", "-q"], "not a qlongbench run directory"),
    "report-out-is-a-file": (lambda r, t: ["report", r, "--out", r / "records.jsonl", "-q"],
                             "cannot create the report directory"),
    "check-alpha-out-of-range": (lambda r, t: ["check", r, "--alpha", "2", "-q"], "--alpha must lie"),
    "check-at-length-abc": (lambda r, t: ["check", r, "--at-length", "abc", "-q"], "bad length 'abc'"),
    "check-policy-missing": (lambda r, t: ["check", r, "--policy", t / "nope.yaml", "-q"], "does not exist"),
    "check-max-drop-negative": (lambda r, t: ["check", r, "--max-drop", "-5", "-q"], "max_drop"),
}


@pytest.mark.parametrize("name", list(READER_TYPOS))
def test_a_reader_typo_is_one_line_and_writes_nothing(capsys, made_run, tmp_path, name):
    make, needle = READER_TYPOS[name]
    before, around = tree(made_run), tree(tmp_path)
    rc, _, err = cli(capsys, make(made_run, tmp_path))
    assert rc == 2
    assert_one_line(err, needle)
    assert tree(made_run) == before and tree(tmp_path) == around


@pytest.mark.parametrize("reader", ["report", "check"])
def test_a_run_with_no_records_yet_is_one_line(capsys, tiny_model, tmp_path, reader):
    out = tmp_path / "frozen"
    Runner(_spec(tiny_model, out)).freeze()
    before = tree(out)
    rc, _, err = cli(capsys, {"report": ["report", out, "--out", tmp_path / "rep", "-q"],
                              "check": ["check", out, "-q"]}[reader])
    assert rc == 2
    assert_one_line(err, "has no records yet")
    assert tree(out) == before and not (tmp_path / "rep").exists()


# --- failures ---------------------------------------------------------------------------------

def _spec(model: Path, out: Path, **kw):
    return build_spec({"model": str(model), "lengths": [256], "samples": 2, "precisions": "bf16,fp32",
                       "device": "cpu", "out": str(out)} | kw)


def _explode(event, **info):
    if event == "forward":
        raise RuntimeError("engine exploded (injected)")


@pytest.mark.parametrize("keep", [False, True], ids=["retried", "kept"])
def test_error_records_are_retried_unless_kept(capsys, tiny_model, tmp_path, keep):
    out = tmp_path / "err"
    Runner(_spec(tiny_model, out), fault_hook=_explode).run()
    assert {r.status for r in RunDir(out).records()} == {"error"}
    before = (out / "records.jsonl").read_bytes()
    rc, stdout, _ = cli(capsys, run_argv(tiny_model, out, *(["--keep-errors"] if keep else []), fast=MADE))
    assert rc == 0
    rows = RunDir(out).records()
    assert len(rows) == 4 and len({r.key() for r in rows}) == 4
    if keep:
        assert (out / "records.jsonl").read_bytes() == before and "0 records written" in stdout
    else:
        assert {r.status for r in rows} == {"ok"} and "4 error records retried" in stdout


def _fail_to_load(monkeypatch, label: str, error: BaseException) -> None:
    from qlongbench.backends.hf import HFBackend

    real = HFBackend.__init__

    def init(self, precision, ctx):
        if precision.name == label:
            raise error
        real(self, precision, ctx)

    monkeypatch.setattr(HFBackend, "__init__", init)


def test_a_precision_that_cannot_load_makes_the_run_exit_non_zero(capsys, monkeypatch, tiny_model, tmp_path):
    _fail_to_load(monkeypatch, "fp32", RuntimeError("weights file vanished (injected)"))
    out = tmp_path / "load"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, fast=MADE))
    assert rc == 1
    assert "precision fp32 did not run: RuntimeError: weights file vanished" in err and "Traceback" not in err
    status = {(r.precision, r.status) for r in RunDir(out).records()}
    assert status == {("bf16", "ok"), ("fp32", "error")}
    assert "fp32" in RunDir(out).read_header().precision_errors


def _oom_at_load(event, precision=None, **info):
    if event == "load" and precision == "bf16":
        raise MemoryError("no room for the weights (injected)")


def test_oom_while_loading_is_a_result_and_the_sweep_goes_on(capsys, monkeypatch, tiny_model, tmp_path):
    import torch

    # through the runner's fault hook ...
    out = tmp_path / "hook"
    result = Runner(_spec(tiny_model, out), fault_hook=_oom_at_load).run()
    status = {(r.precision, r.status) for r in RunDir(out).records()}
    assert status == {("bf16", "oom"), ("fp32", "ok")}
    assert list(result.failed_precisions) == ["bf16"] and "out of memory while loading" in result.failed_precisions["bf16"]
    # ... and through an engine class that raises in __init__, from the CLI
    _fail_to_load(monkeypatch, "bf16", torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB"))
    out = tmp_path / "class"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, fast=MADE))
    assert rc == 1 and "Traceback" not in err and "could not run at all" in err  # the other precision ran
    rows = RunDir(out).records()
    assert {(r.precision, r.status) for r in rows} == {("bf16", "oom"), ("fp32", "ok")}
    assert all("out of memory" in r.error for r in rows if r.status == "oom")


def _cpu_allocator_fails(event, n_tokens=0, **info):
    if event == "forward":
        import torch

        torch.empty(2**62, dtype=torch.uint8)  # the real DefaultCPUAllocator failure, not a copy of its text


def test_a_cpu_allocation_failure_while_generating_is_oom(tiny_model, tmp_path):
    out = tmp_path / "cpu"
    Runner(_spec(tiny_model, out, precisions="bf16"), fault_hook=_cpu_allocator_fails).run()
    rows = RunDir(out).records()
    assert [r.status for r in rows] == ["oom", "oom"]
    assert "DefaultCPUAllocator" in rows[0].error


def _reload_one(run: Path, field: str, value: object) -> str:
    """Drop the run's last record (so resuming loads its precision again) and make run.json say that
    precision was loaded with FIELD = VALUE; returns the precision's label."""
    lines = (run / "records.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    label = json.loads(lines[-1])["precision"]
    (run / "records.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")
    header = json.loads((run / "run.json").read_text(encoding="utf-8"))
    header["precisions"][label][field] = value
    (run / "run.json").write_text(json.dumps(header), encoding="utf-8")
    return label


def test_a_resume_that_loads_another_model_under_the_same_label_is_refused(capsys, tiny_model, run):
    """Records made by two loads that differ in what decides outputs (here the engine's version; on
    a cluster, a GPTQ file quantized again on another machine) cannot stand under one label."""
    label = _reload_one(run, "engine_version", "0.0.1")
    records = (run / "records.jsonl").read_bytes()
    rc, _, err = cli(capsys, run_argv(tiny_model, run, fast=MADE))
    assert rc == 2
    assert_one_line(err, f"precision {label} cannot resume", "its 1 records", "engine_version 0.0.1 ->",
                    "QLONGBENCH_CACHE")
    assert (run / "records.jsonl").read_bytes() == records
    assert json.loads((run / "run.json").read_text())["precisions"][label]["engine_version"] == "0.0.1"


def test_a_resume_whose_load_differs_only_in_its_weight_bytes_goes_on(capsys, tiny_model, run):
    label = _reload_one(run, "weight_bytes", 1)
    rc, _, err = cli(capsys, run_argv(tiny_model, run, fast=MADE))
    assert rc == 0, err
    assert len(RunDir(run).records()) == 4
    assert RunDir(run).read_header().precisions[label].weight_bytes > 1


@pytest.mark.parametrize(("change", "differs"), [
    ({}, []),
    ({"artifact_sha256": "b" * 64}, ["artifact_sha256"]),
    ({"artifact_path": "/elsewhere/model.gguf", "weight_bytes": 7, "memory_baseline_bytes": 9}, []),
    ({"device": "cuda:0", "versions": {"torch": "2.13.0", "llama_cpp": "0.3.37"}}, ["device", "versions"]),
    ({"attention": "sdpa"}, ["attention"]),
    ({"versions": {"torch": "2.13.0", "llama_cpp": "0.3.36", "llama_cpp_system": "CPU : AVX512 = 1"}}, []),
])
def test_what_decides_a_loads_outputs(change, differs):
    from qlongbench.types import BackendInfo, QuantRecipe

    info = BackendInfo(precision="gguf-q8_0", engine="llama.cpp", engine_version="0.3.36", device="cpu",
                       dtype="q8_0", recipe=QuantRecipe(method="gguf"), weight_bytes=5,
                       artifact_path="/cache/model.gguf", artifact_sha256="a" * 64,
                       versions={"torch": "2.13.0", "llama_cpp": "0.3.36"}, attention=None)
    assert info.differs_from(info.model_copy(update=change)) == differs


def test_a_precision_finished_on_another_cpu_keeps_both_cpus_on_record(capsys, monkeypatch, tiny_model, tmp_path):
    """The placement keeps only the latest attempt of a unit; the label's list keeps every CPU that
    wrote its records, and a resume that writes nothing adds none."""
    import qlongbench.run.units as units
    from qlongbench.run.device import cpu_model

    out, other = tmp_path / "run", "Another CPU [avx2]"
    monkeypatch.setattr(units, "cpu_model", lambda: other)
    rc, _, err = cli(capsys, run_argv(tiny_model, out, fast=MADE))
    assert rc == 0, err
    monkeypatch.undo()
    rc, _, err = cli(capsys, run_argv(tiny_model, out, fast=MADE))  # nothing left to run: no CPU added
    assert rc == 0, err
    assert all(RunDir(out).read_header().cpus(label) == [other] for label in ("bf16", "fp32"))
    label = _reload_one(out, "weight_bytes", 1)  # one record of one precision to make again, here
    rc, _, err = cli(capsys, run_argv(tiny_model, out, fast=MADE))
    assert rc == 0, err
    after = RunDir(out).read_header()
    assert after.executor.placements[label].cpu == cpu_model() != other
    assert after.cpus(label) == sorted([other, cpu_model()])
    assert after.cpus(({"bf16", "fp32"} - {label}).pop()) == [other]
