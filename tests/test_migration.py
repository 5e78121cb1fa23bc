"""A run directory written by qlongbench 0.1.0 (tests/data/run_v010: `qlongbench run --model <bundled
SmolLM2> --precisions bf16 --tasks niah-single,kld:top_k=8 --lengths 256 --samples 2`, made by the
0.1.0 release) is read through the run header's migration: it reports, and it resumes with more
precisions, the new records compared with the old ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qlongbench.run.header import HEADER_VERSION, RunHeader
from qlongbench.run.store import RunDir, load_run

FIXTURE = Path(__file__).parent / "data" / "run_v010"


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run_v010"
    shutil.copytree(FIXTURE, run)
    return run


def test_the_fixture_is_what_0_1_0_wrote():
    raw = json.loads((FIXTURE / "run.json").read_text(encoding="utf-8"))
    assert "version" not in raw and raw["environment"]["versions"]["qlongbench"] == "0.1.0"
    assert (FIXTURE / "kld").is_dir()  # 0.1.0 kept the reference's top-k there


def test_the_header_migrates(old_run):
    header = RunDir(old_run).read_header()
    assert isinstance(header, RunHeader) and header.version == HEADER_VERSION
    assert header.model.files_hash_rule == "v1-suffixes"
    assert list(header.precisions) == ["bf16"] and header.logprob_reference == "bf16"
    assert header.tasks["niah-single"].uses_logprobs is False
    assert header.samples == {}  # 0.1.0 did not bind its samples: they are bound on the next run
    contents = load_run(old_run)  # prompt hashes recomputed, records verified against the samples
    assert len(contents.records) == 4 and len(contents.samples) == 4


def test_it_reports(old_run, tmp_path):
    from qlongbench.render.write import write

    out = write(old_run, tmp_path / "report")
    assert (out / "index.html").is_file() and "v010" in (out / "summary.md").read_text(encoding="utf-8")


def test_it_resumes_with_another_precision_and_reports(old_run, smollm2, tmp_path):
    from qlongbench.analysis.build import build
    from qlongbench.run.runner import Runner
    from qlongbench.spec.config import build_spec

    spec = build_spec({"model": str(smollm2), "precisions": "bf16,fp32", "tasks": "niah-single,kld:top_k=8",
                       "languages": "en", "lengths": [256], "samples": 2, "out": str(old_run), "name": "v010"})
    result = Runner(spec).run()
    assert (result.written, result.skipped) == (4, 4) and not result.failed_precisions
    rd = RunDir(old_run)
    header = rd.read_header()
    assert set(header.precisions) == {"bf16", "fp32"} and len(header.samples) == 2 and header.resumed_at
    fp32 = [r for r in rd.records() if r.precision == "fp32"]
    assert all(r.status == "ok" for r in fp32)
    kld = [r for r in fp32 if r.task.startswith("kld")]
    assert kld and all(r.metrics["mean_kl"] < 0.05 for r in kld)  # compared with 0.1.0's kept top-k
    data = build(old_run)
    assert {d.candidate for d in data.drops} == {"fp32"}
    again = Runner(spec).run()
    assert again.written == 0
