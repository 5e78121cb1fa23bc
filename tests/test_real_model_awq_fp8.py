"""End to end on the bundled real model (SmolLM2-135M-Instruct): `qlongbench run` with no --model over
bf16, awq-int4 (GPTQModel's AWQ quantizing locally, group size picked for the 576-wide layers) and
fp8-wo (torchao's float8 weights), at 1K on a few samples; then, where a vLLM environment exists (CI
makes one), the run resumed with vllm-awq-int4, which must load the same artifact.

AWQ's search is fixed work per layer, so the calibration set here is the smallest that still runs
every layer through it (AWQ_CALIBRATION): the test proves the path on a real 30-layer model; the
accuracy of a properly calibrated AWQ is a measurement, not a test. The converted model comes from
the user's cache (the `smollm2` fixture); the AWQ artifact is built fresh in a temporary cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qlongbench.cli import main

pytest.importorskip("gptqmodel", reason="the gptq extra (gptqmodel) is not installed")
pytest.importorskip("torchao", reason="the fp8 extra (torchao) is not installed")

AWQ_CALIBRATION = "n_samples=2,seq_len=64"
PRECISIONS = ["bf16", f"awq-int4:{AWQ_CALIBRATION}", "fp8-wo"]
SAMPLES = 2


@pytest.fixture(scope="module")
def real_run(smollm2: Path, tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("real-cache")
    (cache / "models").mkdir()
    (cache / "models" / smollm2.name).symlink_to(smollm2, target_is_directory=True)
    out = tmp_path_factory.mktemp("real-awq-fp8") / "run"
    code = run_in(cache, out, PRECISIONS)
    records, infos = read_run(out)
    return {"code": code, "records": records, "infos": infos, "cache": cache, "out": out}


def run_in(cache: Path, out: Path, precisions: list[str]) -> int:
    """`qlongbench run` on the bundled model with this artifact cache (re-running it resumes the run)."""
    old = os.environ.get("QLONGBENCH_CACHE")
    os.environ["QLONGBENCH_CACHE"] = str(cache)
    try:
        return main(["run", "--precisions", ",".join(precisions), "--tasks", "niah-single", "--languages", "en",
                     "--lengths", "1k", "--samples", str(SAMPLES), "--out", str(out), "--no-report", "-q"])
    finally:
        if old is None:
            os.environ.pop("QLONGBENCH_CACHE")
        else:
            os.environ["QLONGBENCH_CACHE"] = old


def read_run(out: Path) -> tuple[list[dict], dict]:
    from qlongbench.run.header import RunHeader

    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    header = RunHeader.load(json.loads((out / "run.json").read_text()))
    return records, {label.split(":")[0]: info for label, info in header.precisions.items()}


def test_every_precision_answered_on_the_same_ids(real_run):
    assert real_run["code"] == 0
    recs = real_run["records"]
    assert {r["precision"].split(":")[0] for r in recs} == {"bf16", "awq-int4", "fp8-wo"}
    assert len(recs) == 3 * SAMPLES
    assert all(r["status"] == "ok" for r in recs), [(r["precision"], r["error"]) for r in recs if r["status"] != "ok"]
    by_sample: dict[str, set[str]] = {}
    for r in recs:
        by_sample.setdefault(r["sample_id"], set()).add(r["prompt_sha256"])
    assert len(by_sample) == SAMPLES and all(len(h) == 1 for h in by_sample.values())


def test_the_recipes_and_weight_bytes_are_what_the_labels_say(real_run):
    infos = real_run["infos"]
    awq, fp8, bf16 = infos["awq-int4"].recipe, infos["fp8-wo"].recipe, infos["bf16"]
    assert (awq.method, awq.bits, awq.group_size, awq.options["kernel"]) == ("awq", 4, 64, "TorchAtenAwqLinear")
    assert (fp8.method, fp8.quant_type, fp8.options["fp8_layers"]) == ("fp8", "float8_e4m3fn", 30 * 7)
    ref = bf16.weight_bytes
    # SmolLM2's decoder linears are ~106M of its 135M parameters; its tied embedding stays bf16.
    assert 0.55 * ref < infos["fp8-wo"].weight_bytes < 0.65 * ref
    assert infos["awq-int4"].weight_bytes < 0.45 * ref
    assert {infos[k].engine for k in infos} == {"transformers"}


def test_vllm_loads_the_same_awq_artifact_on_the_same_ids(real_run):
    """vllm-awq-int4 added to the run (a resume: only the new precisions run) loads the artifact awq-int4
    built, from the same cache, and answers the same frozen ids; vllm-bf16 comes along as its baseline."""
    from qlongbench.errors import UserError

    try:
        from qlongbench.backends.vllm_options import vllm_python

        vllm_python()
    except UserError as err:
        pytest.skip(f"no vLLM environment: {err}")
    vllm = f"vllm-awq-int4:{AWQ_CALIBRATION},threads=1"
    assert run_in(real_run["cache"], real_run["out"], [*PRECISIONS, vllm]) == 0
    records, infos = read_run(real_run["out"])
    new = [r for r in records if r["precision"].startswith("vllm-")]
    assert {r["precision"].split(":")[0] for r in new} == {"vllm-bf16", "vllm-awq-int4"} and len(new) == 2 * SAMPLES
    assert all(r["status"] == "ok" for r in new), [(r["precision"], r["error"]) for r in new if r["status"] != "ok"]
    hashes = {r["sample_id"]: r["prompt_sha256"] for r in real_run["records"]}
    assert all(hashes[r["sample_id"]] == r["prompt_sha256"] for r in new)
    awq, in_vllm = infos["awq-int4"], infos["vllm-awq-int4"]
    assert in_vllm.engine == "vllm" and in_vllm.recipe.method == "awq" and in_vllm.recipe.group_size == 64
    assert in_vllm.artifact_sha256 == awq.artifact_sha256  # the one artifact, not a second build
