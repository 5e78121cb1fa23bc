"""Run headers of earlier formats. qlongbench 0.1.0's unversioned run.json (tests/data/run_v010: `qlongbench run
--model <bundled SmolLM2> --precisions bf16 --tasks niah-single,kld:top_k=8 --lengths 256 --samples 2`, made by
the 0.1.0 release) is no longer read: every reader refuses it with one line naming the release, exit 2, and
nothing in the directory is changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qlongbench.cli import main
from qlongbench.errors import UserError
from qlongbench.run.header import HEADER_VERSION, RunHeader
from qlongbench.run.store import RunDir, load_run

FIXTURE = Path(__file__).parent / "data" / "run_v010"


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run_v010"
    shutil.copytree(FIXTURE, run)
    return run


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_fixture_is_what_0_1_0_wrote():
    raw = json.loads((FIXTURE / "run.json").read_text(encoding="utf-8"))
    assert "version" not in raw and raw["environment"]["versions"]["qlongbench"] == "0.1.0"


def test_the_header_is_refused_naming_the_release(old_run):
    with pytest.raises(UserError) as err:
        RunDir(old_run).read_header()
    assert "qlongbench 0.1.0" in str(err.value) and "\n" not in str(err.value) and "--new" in str(err.value)
    with pytest.raises(UserError, match="0.1.0"):
        load_run(old_run)


@pytest.mark.parametrize("command", [["report"], ["check", "--max-drop", "5"]])
def test_report_and_check_exit_2_with_one_line(old_run, tmp_path, capsys, command):
    before = snapshot(old_run)
    args = [command[0], str(old_run), *command[1:]] + (["--out", str(tmp_path / "report")] if command[0] == "report" else [])
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "qlongbench 0.1.0" in err[0]
    assert snapshot(old_run) == before


def test_a_resume_is_refused_before_anything_is_written(old_run):
    from qlongbench.run.runner import Runner
    from qlongbench.spec.config import build_spec

    before = snapshot(old_run)
    spec = build_spec({"model": str(old_run), "precisions": "bf16,fp32", "tasks": "niah-single",
                       "lengths": [256], "samples": 2, "out": str(old_run)})
    with pytest.raises(UserError, match="0.1.0"):
        Runner(spec).run()
    assert snapshot(old_run) == before


def test_an_unknown_version_is_refused():
    data = json.loads((Path(__file__).parent / "data" / "report_run" / "run.json").read_text(encoding="utf-8"))
    with pytest.raises(Exception, match="version"):
        RunHeader.load(data | {"version": HEADER_VERSION + 1})


V2 = Path(__file__).resolve().parents[1] / "reports" / "smollm2" / "records" / "suite" / "run.json"
"""A committed version-2 header (the default job's)."""


def test_a_version_2_header_migrates_into_the_plan():
    data = json.loads(V2.read_text(encoding="utf-8"))
    assert data["version"] == 2
    header = RunHeader.load(data)
    plan = header.plan
    assert header.version == HEADER_VERSION == 3
    assert plan.reference == "bf16" and plan.logprob_reference == "bf16" and plan.logprob_tasks == ("kld",)
    assert plan.added == ("gguf-bf16",) and plan.engine_baselines == {"llama.cpp": "gguf-bf16"}
    assert set(plan.labels) == set(data["precisions"]) and plan.model.source == data["model"]["source"]
    kld = plan.tasks["kld"]
    assert (kld.lengths, kld.languages, kld.samples) == ((8192,), ("en",), 2)
    assert kld.generation.sha256 == data["generation_configs"]["kld"]["sha256"]
    gptq = plan.precision("gptq-int4:group_size=64,n_samples=16,seq_len=256")
    assert gptq.options.group_size == 64 and gptq.options.n_samples == 16 and gptq.engine == "transformers"
    assert plan.measure.chance == {label: t["chance_level"] for label, t in data["tasks"].items()}


def test_a_version_2_header_of_a_resumed_0_1_0_run_is_refused_in_one_line():
    data = json.loads(V2.read_text(encoding="utf-8")) | {"task_labels": "name"}
    with pytest.raises(UserError) as err:
        RunHeader.load(data)
    assert "0.1.0" in str(err.value) and "\n" not in str(err.value)
