"""AWQ int4 with GPTQModel on CPU: real quantization of the tiny engine model (activation-aware scale
search, GEMM packing), saved, cached, reloaded through transformers (GPTQModel's torch AWQ kernel),
and a user's checkpoint= checked before the run. No mocks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from qlongbench.errors import UserError
from qlongbench.types import GenerationConfig, TokenPrompt
from tests.engine_fixtures import GPTQ_TEST_OPTIONS, artifact_cache, engine_model, load_context, open_backend, prompt_ids
from tests.fuzz_helpers import assert_clean_outcome
from tests.reliability_helpers import cli, tree

pytest.importorskip("gptqmodel", reason="the gptq extra (gptqmodel) is not installed")
pytest.importorskip("optimum", reason="the gptq extra (optimum) is not installed")

OPTS = ",".join(f"{k}={v}" for k, v in GPTQ_TEST_OPTIONS.items())
AWQ = f"awq-int4:{OPTS}"
RUN = ("--lengths", "256", "--samples", "1", "--no-report", "-q", "--device", "cpu", "--max-new-tokens", "2")


@pytest.fixture(scope="session")
def awq_ctx(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.getbasetemp()
    return load_context(engine_model(root), artifact_cache(root))


@pytest.fixture(scope="session")
def awq(awq_ctx):
    """The AWQ artifact, quantized once for the session."""
    from qlongbench.backends.awq import AWQBackend
    from qlongbench.spec.config import PrecisionSpec, parse_named_list
    from qlongbench.spec.labels import parse_precision

    (item,) = parse_named_list(AWQ, "precision")
    return AWQBackend.prepare_artifact(parse_precision(PrecisionSpec(**item)), awq_ctx)


def logits_of(backend, ids):
    sess = backend.session()
    try:
        return sess.forward_all(ids)
    finally:
        sess.close()


def test_quantize_load_generate_and_reload_from_checkpoint(awq_ctx, awq):
    """The artifact is an AWQ GEMM checkpoint (4-bit packed, group 128 picked for widths 256/512, zero
    point) that transformers runs with 4-bit weights in memory; checkpoint= of the same directory gives
    the same logits; it differs measurably from bf16 while staying close."""
    import torch

    cfg = json.loads(Path(awq.path, "config.json").read_text())["quantization_config"]
    assert (cfg["quant_method"], cfg["bits"], cfg["group_size"], cfg["zero_point"]) == ("awq", 4, 128, True)
    built, bf16 = open_backend(AWQ, awq_ctx), open_backend("bf16", awq_ctx)
    again = open_backend(f"awq-int4:checkpoint={awq.path}", awq_ctx)
    try:
        info, ref = built.info(), bf16.info()
        r = info.recipe
        assert (r.method, r.bits, r.quant_type, r.group_size, r.sym) == ("awq", 4, "int4", 128, False)
        assert r.calibration == "qlongbench-synthetic" and len(r.options["calibration_sha256"]) == 64
        assert (r.calibration_samples, r.calibration_seq_len) == (GPTQ_TEST_OPTIONS["n_samples"], GPTQ_TEST_OPTIONS["seq_len"])
        assert r.options["format"] == "gemm" and r.options["kernel"] == "TorchAtenAwqLinear"
        assert info.engine == "transformers" and info.versions["gptqmodel"] and info.artifact_sha256 == awq.artifact.sha256
        assert info.weight_bytes < ref.weight_bytes * 0.7
        assert not any(isinstance(m, torch.nn.Linear) and "layers" in n for n, m in built.model.named_modules())
        ids = prompt_ids(awq_ctx.tokenizer, 100)
        a, b, base = logits_of(built, ids), logits_of(again, ids), logits_of(bf16, ids)
        assert torch.equal(a, b)
        kl = torch.nn.functional.kl_div(a.log_softmax(-1), base.log_softmax(-1), log_target=True, reduction="batchmean")
        assert 1e-6 < float(kl) < 0.5
        (gen,) = built.generate([TokenPrompt(ids=tuple(ids))], GenerationConfig(max_new_tokens=5))
        assert len(gen.token_ids) == 5 or gen.finish_reason == "eos"
        ck = again.info().recipe
        assert ck.options["checkpoint"] == str(awq.path) and (ck.group_size, ck.bits, ck.sym) == (128, 4, False)
        assert again.info().artifact_sha256 == awq.artifact.sha256
    finally:
        for x in (built, again, bf16):
            x.close()


def test_quantizing_leaves_the_reference_tokenizer_as_it_was(awq_ctx, awq):
    """GPTQModel's AWQ gives the tokenizer it is handed a pad token: it gets a copy, so the checkpoint's
    tokenizer is the reference model's own, and a fresh process (a reference tokenizer loaded anew)
    accepts the artifact as checkpoint= (found in CI: vllm-awq-int4:checkpoint=<artifact> was refused,
    'pad_token' <unk> vs none)."""
    from qlongbench.backends.build.gptq_checkpoint import check_checkpoint_tokenizer
    from qlongbench.tokenizer import PromptTokenizer

    fresh = PromptTokenizer.load(str(awq_ctx.model))
    assert awq_ctx.tokenizer.hf.special_tokens_map == fresh.hf.special_tokens_map
    check_checkpoint_tokenizer(Path(awq.path), fresh, trust_remote_code=False)


def test_artifact_is_reused_and_keyed_apart_from_gptq(awq_ctx, awq):
    from qlongbench.backends.awq import AWQBackend
    from qlongbench.spec.config import PrecisionSpec, parse_named_list
    from qlongbench.spec.labels import parse_precision

    mtime = os.stat(Path(awq.path, "model.safetensors")).st_mtime_ns
    (item,) = parse_named_list(AWQ, "precision")
    second = AWQBackend.prepare_artifact(parse_precision(PrecisionSpec(**item)), awq_ctx)
    assert second.built is False and second.artifact == awq.artifact
    assert os.stat(Path(second.path, "model.safetensors")).st_mtime_ns == mtime
    assert Path(awq.path).parent.parent.name == "awq" and not (Path(awq.path).parent / "offload").exists()


def test_group_size_and_options_are_refused_up_front(awq_ctx):
    with pytest.raises(UserError, match="multiple of group_size=96; this model has 256, 512; use awq-int4:group_size=128"):
        open_backend("awq-int4:group_size=96", awq_ctx)
    with pytest.raises(UserError, match="option n_samples=0: input should be greater than or equal to 1"):
        open_backend("awq-int4:n_samples=0", awq_ctx)
    with pytest.raises(UserError, match="not a AWQ checkpoint|not an AWQ checkpoint"):
        open_backend(f"awq-int4:checkpoint={awq_ctx.model}", awq_ctx)


def test_the_cli_refuses_bad_options_in_one_line(capsys, awq_ctx, tmp_path):
    for label, says in [("awq-int4:group_size=96", "use awq-int4:group_size=128"),
                        ("awq-int4:zero_point=maybe", "zero_point"), ("awq-int4:bits=8", "bits"),
                        (f"awq-int4:checkpoint={tmp_path / 'missing'}", "no such directory")]:
        out = tmp_path / "run"
        rc, _, err = cli(capsys, ["run", "--model", awq_ctx.model, "--out", out, *RUN, "--precisions", f"bf16,{label}"])
        assert_clean_outcome(rc, err, {}, tree(out))
        assert rc == 2 and says in err, err


# --- a user's checkpoint=DIR, broken the ways a download or another method would ---------------------

def _break(ck: Path, kind: str) -> str:
    """Break a copy of the AWQ artifact one way; the words the refusal must hold."""
    from safetensors.torch import load_file, save_file

    config = ck / "config.json"
    cfg = json.loads(config.read_text())
    q = cfg["quantization_config"]
    if kind == "gptq":
        q["quant_method"] = "gptq"
        says = "not an AWQ checkpoint"
    elif kind == "bits":
        q["bits"] = 8
        says = "bits must be 4 for awq-int4"
    elif kind == "group":
        q["group_size"] = 64
        says = "the checkpoint's settings disagree with its tensors"
    elif kind == "geometry":
        cfg["num_hidden_layers"] += 1
        says = "is not a quantization of the reference model"
    elif kind == "unquantized":
        shutil.copy(Path(ck.parent / "reference" / "model.safetensors"), ck / "model.safetensors")
        says = "holds no AWQ weights"
    elif kind == "scales":
        tensors = load_file(ck / "model.safetensors")
        name = sorted(n for n in tensors if n.endswith(".scales"))[0]
        tensors[name] = tensors[name][:, :-1].contiguous()
        save_file(tensors, ck / "model.safetensors", metadata={"format": "pt"})
        says = ".scales has shape"
    else:  # tokenizer: same strings, two ids swapped
        from tests.engine_fixtures import swapped_vocab_tokenizer

        swapped_vocab_tokenizer(ck.parent / "reference", ck, 5, 60)
        says = "tokenizer"
    config.write_text(json.dumps(cfg))
    return says


@pytest.mark.parametrize("kind", ["gptq", "bits", "group", "geometry", "unquantized", "scales", "tokenizer"])
def test_a_broken_checkpoint_is_one_line_before_the_run(capsys, awq_ctx, awq, tmp_path, kind):
    ref = tmp_path / "reference"
    shutil.copytree(awq_ctx.model, ref)
    ck = tmp_path / "ckpt"
    shutil.copytree(awq.path, ck)
    says = _break(ck, kind)
    out = tmp_path / "run"
    rc, _, err = cli(capsys, ["run", "--model", ref, "--out", out, *RUN, "--precisions", f"bf16,awq-int4:checkpoint={ck}"])
    assert_clean_outcome(rc, err, {}, tree(out))
    assert rc == 2 and str(ck) in err and says in err, err
