"""GPTQ with GPTQModel on CPU: real quantization of a tiny model, saved, reloaded through
transformers (optimum + gptqmodel kernels). No mocks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from qlongbench.errors import UserError
from qlongbench.types import GenerationConfig, TokenPrompt
from tests.engine_fixtures import (
    GPTQ_TEST_OPTIONS,
    artifact_cache,
    engine_model,
    load_context,
    open_backend,
    prompt_ids,
)

pytest.importorskip("gptqmodel", reason="the gptq extra (gptqmodel) is not installed")
pytest.importorskip("optimum", reason="the gptq extra (optimum) is not installed")

OPTS = ",".join(f"{k}={v}" for k, v in GPTQ_TEST_OPTIONS.items())
INT4 = f"gptq-int4:{OPTS}"


@pytest.fixture(scope="session")
def gptq_ctx(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.getbasetemp()
    return load_context(engine_model(root), artifact_cache(root))


@pytest.fixture(scope="session")
def int4(gptq_ctx):
    """The int4 artifact, quantized once for the session."""
    from qlongbench.backends.gptq import GPTQBackend
    from qlongbench.spec.config import PrecisionSpec, parse_named_list
    from qlongbench.spec.labels import parse_precision

    (item,) = parse_named_list(INT4, "precision")
    return GPTQBackend.prepare_artifact(parse_precision(PrecisionSpec(**item)), gptq_ctx)


def logits_of(backend, ids):
    sess = backend.session()
    try:
        return sess.forward_all(ids)
    finally:
        sess.close()


@pytest.mark.parametrize("bits", [4, 8])
def test_quantize_load_and_generate(gptq_ctx, int4, bits):
    b = open_backend(f"gptq-int{bits}:{OPTS}", gptq_ctx)
    bf16 = open_backend("bf16", gptq_ctx)
    try:
        info, ref = b.info(), bf16.info()
        r = info.recipe
        assert (r.method, r.bits, r.quant_type) == ("gptq", bits, f"int{bits}")
        assert (r.group_size, r.desc_act, r.sym) == (128, False, True)
        assert r.calibration == "qlongbench-synthetic"
        assert (r.calibration_samples, r.calibration_seq_len) == (GPTQ_TEST_OPTIONS["n_samples"], GPTQ_TEST_OPTIONS["seq_len"])
        assert len(r.options["calibration_sha256"]) == 64
        assert info.artifact_path and Path(info.artifact_path, "config.json").is_file() and len(info.artifact_sha256) == 64
        assert info.versions["gptqmodel"] and info.engine == "transformers"
        assert info.weight_bytes < ref.weight_bytes * (0.7 if bits == 4 else 0.85)
        ids = prompt_ids(gptq_ctx.tokenizer)
        (gen,) = b.generate([TokenPrompt(ids=tuple(ids))], GenerationConfig(max_new_tokens=5))
        assert len(gen.token_ids) == 5 or gen.finish_reason == "eos"
        assert gen.text == gptq_ctx.tokenizer.decode(list(gen.token_ids))
    finally:
        b.close()
        bf16.close()


def test_quantize_save_reload_round_trip(gptq_ctx, int4):
    """The saved artifact is a GPTQ checkpoint that reloads (checkpoint=) to the same numbers, holds
    packed 4-bit weights, and differs measurably from bf16 while staying close to it."""
    import torch

    art, path = int4.artifact, str(int4.path)  # artifact.path is relative to its cache entry
    cfg = json.loads(Path(path, "config.json").read_text())["quantization_config"]
    assert (cfg["bits"], cfg["group_size"], cfg["quant_method"]) == (4, 128, "gptq")
    built = open_backend(INT4, gptq_ctx)
    again = open_backend(f"gptq-int4:checkpoint={path}", gptq_ctx)
    bf16 = open_backend("bf16", gptq_ctx)
    try:
        assert any(hasattr(m, "qweight") for m in again.model.modules())
        assert not any(isinstance(m, torch.nn.Linear) and "layers" in n for n, m in again.model.named_modules())
        ids = prompt_ids(gptq_ctx.tokenizer, 100)
        a, b, ref = logits_of(built, ids), logits_of(again, ids), logits_of(bf16, ids)
        assert torch.equal(a, b)
        kl = torch.nn.functional.kl_div(a.log_softmax(-1), ref.log_softmax(-1), log_target=True, reduction="batchmean")
        assert 1e-6 < float(kl) < 0.5
        r = again.info().recipe
        assert r.options["checkpoint"] == path and r.group_size == 128 and r.bits == 4
        assert again.info().artifact_sha256 == art.sha256
    finally:
        for x in (built, again, bf16):
            x.close()


def test_artifact_is_reused_not_rebuilt(gptq_ctx, int4):
    from qlongbench.backends.gptq import GPTQBackend
    from qlongbench.spec.config import PrecisionSpec, parse_named_list
    from qlongbench.spec.labels import parse_precision

    mtime = os.stat(Path(int4.path, "model.safetensors")).st_mtime_ns
    (item,) = parse_named_list(INT4, "precision")
    second = GPTQBackend.prepare_artifact(parse_precision(PrecisionSpec(**item)), gptq_ctx)
    assert second.built is False and second.artifact == int4.artifact
    assert os.stat(Path(second.path, "model.safetensors")).st_mtime_ns == mtime
    assert not list(Path(int4.path).parent.parent.glob(".build-*"))
    assert not (Path(int4.path).parent / "offload").exists()


def test_the_same_recipe_built_again_is_the_same_file(gptq_ctx, int4, tmp_path):
    """A second build of the same recipe, in another artifact cache, is byte for byte the first: its
    sha256 names the weights, not the build (GPTQModel records its offload directory in the configs
    and the seconds per module in quant_log.csv; both are made build-independent)."""
    import dataclasses

    from qlongbench.backends.build.gptq_quantize import OFFLOAD_KEY
    from qlongbench.backends.gptq import GPTQBackend
    from qlongbench.spec.config import PrecisionSpec, parse_named_list
    from qlongbench.spec.labels import parse_precision

    (item,) = parse_named_list(INT4, "precision")
    other = dataclasses.replace(gptq_ctx, cache_dir=artifact_cache(tmp_path))
    again = GPTQBackend.prepare_artifact(parse_precision(PrecisionSpec(**item)), other)
    assert again.built is True and again.path != int4.path
    assert again.artifact.sha256 == int4.artifact.sha256
    for name in ("config.json", "quantize_config.json"):
        text = Path(again.path, name).read_text()
        assert str(tmp_path) not in text and ".build-" not in text
    cfg = json.loads(Path(again.path, "config.json").read_text())["quantization_config"]
    assert cfg["meta"][OFFLOAD_KEY] is None
    assert Path(again.path, "quant_log.csv").read_text().splitlines()[0].split(",")[:3] == ["layer", "module", "loss"]


def test_the_thread_count_is_part_of_a_cpu_builds_key(gptq_ctx):
    """torch's thread count changes the weights a CPU build writes, so it is part of the cache key:
    a run at another thread count builds its own artifact instead of reusing one it would not have
    written."""
    import dataclasses

    import torch

    from qlongbench.backends.build.gptq_quantize import builder_of

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = builder_of(gptq_ctx)
        torch.set_num_threads(2)
        two = builder_of(gptq_ctx)
    finally:
        torch.set_num_threads(threads)
    assert (one["cpu_threads"], two["cpu_threads"]) == ("1", "2")
    assert {k: v for k, v in one.items() if k != "cpu_threads"} == {k: v for k, v in two.items() if k != "cpu_threads"}
    assert "cpu_threads" not in builder_of(dataclasses.replace(gptq_ctx, device="cuda"))


def test_calibration_sources(gptq_ctx, tmp_path):
    from qlongbench.backends.build.gptq_quantize import calibration_set

    tok = gptq_ctx.tokenizer
    bos = tok.hf.bos_token_id
    synthetic = calibration_set("qlongbench-synthetic", tok, 3, 64)
    assert synthetic == calibration_set("qlongbench-synthetic", tok, 3, 64)  # reproducible
    assert len(synthetic.ids) == 3 and {len(s) for s in synthetic.ids} == {64}
    assert all(s[0] == bos for s in synthetic.ids) and len(set(synthetic.ids)) == 3

    text = tmp_path / "calib.txt"
    text.write_text("\n\n".join(f"Paragraph {i}: the river pilot counted {i} boats near the harbour." for i in range(40)))
    from_file = calibration_set(str(text), tok, 4, 32)
    assert from_file.source == f"file:{text.resolve()}"
    assert {len(s) for s in from_file.ids} == {32} and from_file.sha256 != synthetic.sha256
    assert tok.decode(list(from_file.ids[0][1:12])).startswith("Paragraph 0")
    with pytest.raises(UserError, match="ran out of text"):
        calibration_set(str(text), tok, 400, 64)
    with pytest.raises(UserError, match="no such file"):
        calibration_set(str(tmp_path / "nope.txt"), tok, 4, 32)

    pytest.importorskip("datasets", reason="hf: calibration needs the data extra")
    ds = tmp_path / "local_dataset"
    ds.mkdir()
    rows = [{"id": i, "text": f"Row {i}: the librarian studied an old map of the coast by the river."} for i in range(50)]
    (ds / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    from_ds = calibration_set(f"hf:{ds}", tok, 4, 32)
    assert from_ds.source == f"hf:{ds}" and {len(s) for s in from_ds.ids} == {32}
    assert tok.decode(list(from_ds.ids[0][1:12])).startswith("Row 0")


def test_checkpoint_guards(gptq_ctx, int4, tmp_path):
    with pytest.raises(UserError, match="holds 4-bit GPTQ weights but the precision is gptq-int8"):
        open_backend(f"gptq-int8:checkpoint={int4.path}", gptq_ctx)
    with pytest.raises(UserError, match="not a GPTQ checkpoint"):
        open_backend(f"gptq-int4:checkpoint={gptq_ctx.model}", gptq_ctx)
    with pytest.raises(UserError, match="no such directory"):
        open_backend(f"gptq-int4:checkpoint={tmp_path / 'missing'}", gptq_ctx)
    with pytest.raises(UserError, match="option n_samples=0: input should be greater than or equal to 1"):
        open_backend("gptq-int4:n_samples=0", gptq_ctx)
    # An AutoGPTQ-style checkpoint (quantize_config.json, no quantization_config in config.json) loads too.
    legacy = tmp_path / "autogptq"
    shutil.copytree(int4.path, legacy)
    cfg = json.loads((legacy / "config.json").read_text())
    qcfg = cfg.pop("quantization_config")
    (legacy / "config.json").write_text(json.dumps(cfg))
    (legacy / "quantize_config.json").write_text(json.dumps({k: qcfg[k] for k in ("bits", "group_size", "desc_act", "sym")}
                                                            | {"quant_method": "gptq", "checkpoint_format": "gptq"}))
    b = open_backend(f"gptq-int4:checkpoint={legacy}", gptq_ctx)
    try:
        assert b.info().recipe.group_size == 128
        assert b.generate([TokenPrompt(ids=tuple(prompt_ids(gptq_ctx.tokenizer)))], GenerationConfig(max_new_tokens=3))
    finally:
        b.close()


def test_context_session_reuse_equals_fresh_prompt(gptq_ctx, int4):
    b = open_backend(INT4, gptq_ctx)
    cfg = GenerationConfig(max_new_tokens=8)
    try:
        ids = prompt_ids(gptq_ctx.tokenizer, 200)
        fresh = b.session().generate(ids, cfg)
        sess = b.session()
        sess.extend(ids[:120])
        reuse = sess.generate(ids[120:], cfg)
        assert sess.n_tokens == 120
        sess.close()
        assert len(set(fresh.token_ids)) > 1
        assert reuse.token_ids == fresh.token_ids
    finally:
        b.close()
