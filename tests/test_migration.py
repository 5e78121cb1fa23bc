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
    assert header.version == HEADER_VERSION == 4
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


V3 = Path(__file__).resolve().parents[1] / "reports" / "smollm2" / "records" / "nested-rows10" / "run.json"
"""A committed version-3 header (its placements name no CPU)."""


def test_a_version_3_header_migrates_with_the_cpu_unknown():
    data = json.loads(V3.read_text(encoding="utf-8"))
    assert data["version"] == 3 and all("cpu" not in p for p in data["executor"]["placements"].values())
    header = RunHeader.load(data)
    assert header.version == HEADER_VERSION == 4
    assert header.executor.placements and all(p.cpu == "" for p in header.executor.placements.values())
    assert set(header.executor.placements) == set(data["executor"]["placements"])
    assert set(header.precisions) == set(data["precisions"]) and header.run_id == data["run_id"]


def test_a_placement_with_a_field_no_version_has_is_refused():
    data = json.loads(V3.read_text(encoding="utf-8"))
    label, placement = next(iter(data["executor"]["placements"].items()))
    data["executor"]["placements"][label] = placement | {"cpu_model": "x"}
    with pytest.raises(Exception, match="cpu_model"):
        RunHeader.load(data)


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    ("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n\n"
     "processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu\n", "AMD EPYC [avx2 avx512f avx512_vnni avx512_bf16]"),
    ("model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t: avx2 avx_vnni amx_bf16 amx_int8 amx_tile\n",
     "Intel(R) Xeon(R) Platinum 8481C [avx2 avx_vnni amx_bf16 amx_int8]"),
    ("model name\t: Old CPU\nflags\t: fpu sse2\n", "Old CPU"),
    ("processor\t: 0\nFeatures\t: fp asimd sve\nModel\t: Graviton\n", "Graviton [asimd sve]"),
])
def test_the_cpu_is_named_with_the_features_that_choose_kernels(cpuinfo, expected):
    from qlongbench.run.device import cpu_model

    assert cpu_model(cpuinfo) == expected
