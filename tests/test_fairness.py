"""The fairness rules across engines, end to end on a tiny model with the real engines:
1. every precision of a run gets the same frozen ids and generation config (identical hashes);
2. an artifact whose tokenizer differs from the reference's is refused, naming the difference;
3. a gguf quant brings its engine-matched baseline (gguf-bf16) along;
plus the artifact cache (a second run builds nothing) and `qlongbench quantize`."""

from __future__ import annotations

import json
import logging
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from qlongbench.cli import main
from qlongbench.errors import UserError
from tests.engine_fixtures import (
    GPTQ_TEST_OPTIONS,
    artifact_cache,
    engine_model,
    load_context,
    open_backend,
    swapped_vocab_tokenizer,
    use_converter,
)

for extra in ("bitsandbytes", "gptqmodel", "optimum", "llama_cpp"):
    pytest.importorskip(extra, reason=f"the engine tests need {extra} (pip install 'qlongbench[all]')")

GPTQ = "gptq-int4:" + ",".join(f"{k}={v}" for k, v in GPTQ_TEST_OPTIONS.items())
PRECISIONS = f"bf16,bnb-nf4,bnb-int8,{GPTQ},gguf-q4_k_m"


@pytest.fixture(scope="session")
def fair_setup(tmp_path_factory: pytest.TempPathFactory):
    why = use_converter()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.getbasetemp()
    return engine_model(root), artifact_cache(root)


def run_cli(model: Path, cache: Path, out: Path, precisions: str = PRECISIONS) -> int:
    return main(["run", "--model", str(model), "--precisions", precisions, "--lengths", "256", "--samples", "2",
                 "--cache-dir", str(cache), "--out", str(out), "--no-report", "-q"])


@pytest.fixture(scope="session")
def first_run(fair_setup, tmp_path_factory):
    model, cache = fair_setup
    out = tmp_path_factory.mktemp("fair") / "run1"
    assert run_cli(model, cache, out) == 0
    return out


def read_run(out: Path) -> tuple[dict, list[dict]]:
    meta = json.loads((out / "run.json").read_text())
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines() if line.strip()]
    return meta, records


def test_all_precisions_get_identical_prompts_and_config(first_run):
    meta, records = read_run(first_run)
    labels = {r["precision"] for r in records}
    assert labels == {"bf16", "bnb-nf4", "bnb-int8", GPTQ, "gguf-bf16", "gguf-q4_k_m"}
    assert all(r["status"] == "ok" for r in records), [(r["precision"], r["error"]) for r in records if r["status"] != "ok"]
    by_sample = defaultdict(list)
    for r in records:
        by_sample[r["sample_id"]].append(r)
    assert len(by_sample) == 2
    for rows in by_sample.values():
        assert len(rows) == len(labels)
        assert len({r["prompt_sha256"] for r in rows}) == 1
        assert len({r["gen_config_sha256"] for r in rows}) == 1
        assert len({r["n_prompt_tokens"] for r in rows}) == 1
    engines = {r["precision"]: r["engine"] for r in records}
    assert engines["gguf-bf16"] == engines["gguf-q4_k_m"] == "llama.cpp"
    assert engines["bf16"] == engines["bnb-nf4"] == engines[GPTQ] == "transformers"


def test_run_json_records_each_recipe(first_run):
    meta, _ = read_run(first_run)
    p = meta["precisions"]
    assert p["bnb-nf4"]["recipe"]["quant_type"] == "nf4" and p["bnb-nf4"]["recipe"]["double_quant"] is False
    assert p["bnb-int8"]["recipe"]["quant_type"] == "int8"
    g = p[GPTQ]
    assert g["recipe"]["calibration"] == "qlongbench-synthetic" and g["recipe"]["group_size"] == 128
    assert g["recipe"]["calibration_samples"] == GPTQ_TEST_OPTIONS["n_samples"]
    for label in (GPTQ, "gguf-bf16", "gguf-q4_k_m"):
        assert Path(p[label]["artifact_path"]).exists() and len(p[label]["artifact_sha256"]) == 64
        assert p[label]["versions"]
    assert p["gguf-q4_k_m"]["recipe"]["quant_type"] == "Q4_K_M"
    assert p["gguf-q4_k_m"]["engine_version"] and p["gguf-q4_k_m"]["weight_bytes"] < p["gguf-bf16"]["weight_bytes"]
    assert p["bnb-nf4"]["weight_bytes"] < p["bf16"]["weight_bytes"]


def test_a_second_run_reuses_the_cached_artifacts(fair_setup, first_run, tmp_path, caplog):
    model, cache = fair_setup
    records = sorted(cache.glob("*/*/artifact.json"))
    assert len(records) >= 3  # gptq-int4, gguf-bf16, gguf-q4_k_m
    before = {p: p.stat().st_mtime_ns for p in records}
    with caplog.at_level(logging.INFO, logger="qlongbench.backends.build.artifacts"):
        assert run_cli(model, cache, tmp_path / "run2") == 0
    assert {p: p.stat().st_mtime_ns for p in sorted(cache.glob("*/*/artifact.json"))} == before
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if m.startswith("building")]
    assert len([m for m in messages if m.startswith("reusing cached")]) >= 3


def test_quantize_command_builds_and_then_reuses(fair_setup, capsys):
    model, cache = fair_setup
    args = ["quantize", "--model", str(model), "--precisions", f"{GPTQ},gguf-q8_0,bnb-nf4", "--cache-dir", str(cache)]
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(args) == 0
    second = capsys.readouterr().out.splitlines()
    assert len(first) == len(second) == 3
    gguf_line = next(line for line in second if line.startswith("gguf-q8_0"))
    assert " cached " in gguf_line and "model-Q8_0.gguf" in gguf_line
    assert Path(gguf_line.split()[2]).is_file()
    assert all(" cached " in line for line in second[:2]) and "nothing to build" in second[2]


def test_gguf_with_another_tokenizer_is_refused(fair_setup, tmp_path):
    model, cache = fair_setup
    ctx = load_context(model, cache)
    gguf = open_backend("gguf-q8_0", ctx)
    path = gguf.info().artifact_path
    gguf.close()
    swapped = swapped_vocab_tokenizer(model, tmp_path / "swapped", 300, 301)
    with pytest.raises(UserError, match=r"2 token\(s\) differ: id 300 is .* \(reference .*\)"):
        open_backend(f"gguf-q8_0:file={path}", load_context(model, cache, tokenizer=swapped))

    from transformers import LlamaTokenizer

    from qlongbench.tokenizer import PromptTokenizer
    from tests.tinymodel import train_tokenizer

    small_dir = tmp_path / "small_vocab"
    train_tokenizer(small_dir, vocab_size=1500)
    small = PromptTokenizer(LlamaTokenizer.from_pretrained(str(small_dir)))
    with pytest.raises(UserError, match="vocabulary size"):
        open_backend(f"gguf-q8_0:file={path}", load_context(model, cache, tokenizer=small))


def test_gptq_checkpoint_with_another_tokenizer_is_refused(fair_setup, tmp_path):
    from qlongbench.backends.gptq import GPTQBackend
    from qlongbench.spec.config import PrecisionSpec, parse_named_list
    from qlongbench.spec.labels import parse_precision

    model, cache = fair_setup
    ctx = load_context(model, cache)
    (item,) = parse_named_list(GPTQ, "precision")
    built = GPTQBackend.prepare_artifact(parse_precision(PrecisionSpec(**item)), ctx)
    ckpt = tmp_path / "ckpt"
    shutil.copytree(built.path, ckpt)  # artifact.path is relative to its cache entry
    swapped_vocab_tokenizer(model, tmp_path / "swapped", 500, 777).hf.save_pretrained(str(ckpt))
    with pytest.raises(UserError, match=r"the tokenizer of checkpoint .* differs .* id 500 is"):
        open_backend(f"gptq-int4:checkpoint={ckpt}", ctx)

    swapped_vocab_tokenizer(model, tmp_path / "same", 5, 5).hf.save_pretrained(str(ckpt))  # vocab restored
    tok_cfg = json.loads((ckpt / "tokenizer_config.json").read_text())
    tok_cfg["eos_token"] = "<unk>"
    (ckpt / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    with pytest.raises(UserError, match="eos"):
        open_backend(f"gptq-int4:checkpoint={ckpt}", ctx)


def test_a_precision_the_device_cannot_run_is_refused_before_anything_is_written(fair_setup, tmp_path, capsys):
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python build can offload to a GPU; the refusal cannot be provoked here")
    model, cache = fair_setup
    out = tmp_path / "partial"
    assert run_cli(model, cache, out, "bf16,gguf-q4_k_m:n_gpu_layers=-1") == 2
    assert "GGML_CUDA" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("label, module, extra", [("gguf-q4_k_m", "llama_cpp", "gguf"), ("bnb-nf4", "bitsandbytes", "bnb"),
                                                  ("gptq-int4", "optimum", "gptq")])
def test_a_missing_extra_is_one_line_naming_it(fair_setup, monkeypatch, label, module, extra):
    import sys

    from qlongbench.errors import EngineUnavailable

    model, cache = fair_setup
    ctx = load_context(model, cache)
    monkeypatch.setitem(sys.modules, module, None)  # what Python does for a package that is not there
    with pytest.raises(EngineUnavailable, match=rf"pip install 'qlongbench\[{extra}\]'") as err:
        open_backend(label, ctx)
    assert "\n" not in str(err.value)
