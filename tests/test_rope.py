"""Past the model's window: refused up front with one line, unless RoPE scaling is asked for — then
recorded in the plan, applied by every engine that declares it (the same numbers in transformers and
llama.cpp), refused by the others, and labelled in the report as a different model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from qlongbench.errors import InvalidValue, UserError
from qlongbench.spec.lengths import check_lengths
from qlongbench.spec.rope import RopeScaling
from tests.reliability_helpers import assert_one_line, cli, tree


@pytest.mark.parametrize("text, expected", [
    ("yarn:4", ("yarn", 4.0, None)),
    ("linear:2.5", ("linear", 2.5, None)),
    ("dynamic:2:4096", ("dynamic", 2.0, 4096)),
    (" yarn : 8 ", ("yarn", 8.0, None)),
])
def test_rope_scaling_parses(text, expected):
    r = RopeScaling.parse(text)
    assert (r.type, r.factor, r.original_max_position_embeddings) == expected
    assert RopeScaling.parse(str(r)) == r


@pytest.mark.parametrize("text", ["yarn", "yarn:1", "yarn:0.5", "ntk:2", "yarn:x", "yarn:2:0", "yarn:2:8k", "yarn:nan",
                                  "yarn:inf", "linear:2:1:1", ""])
def test_bad_rope_scaling_is_one_line(text):
    with pytest.raises(InvalidValue, match="rope_scaling"):
        RopeScaling.parse(text)


def test_the_window_rule():
    check_lengths([4096], 4096, allow_extrapolation=False)
    with pytest.raises(UserError, match=r"--rope-scaling yarn:2: a different model"):
        check_lengths([8192], 4096, allow_extrapolation=False)
    rope = RopeScaling.parse("yarn:2").with_window(4096)
    check_lengths([8192], 4096, allow_extrapolation=False, rope=rope)
    with pytest.raises(UserError, match="exceeds the 8192-token window of RoPE scaling yarn:2:4096"):
        check_lengths([16384], 4096, allow_extrapolation=False, rope=rope)


@pytest.fixture(scope="module")
def short_model(tmp_path_factory):
    """The tiny test model with a 512-position window, so 1K is past it."""
    from tests.tinymodel import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("short") / "model", max_positions=512, chat_template=True)


def _argv(model, out, *extra):
    return ["run", "--model", model, "--precisions", "bf16", "--tasks", "niah-single", "--languages", "en",
            "--lengths", "1k", "--samples", "1", "--max-new-tokens", "3", "--device", "cpu", "--out", out, "-q", *extra]


def test_past_the_window_is_refused_with_one_line_and_nothing_written(capsys, short_model, tmp_path):
    rc, _, err = cli(capsys, [*_argv(short_model, tmp_path / "run"), "--no-report"])
    assert rc == 2
    assert_one_line(err, "length 1024 exceeds the model's max_position_embeddings (512)", "--rope-scaling yarn:2")
    assert not (tmp_path / "run").exists()


def test_a_scaled_run_is_recorded_applied_and_labelled(capsys, short_model, tmp_path):
    out, report = tmp_path / "run", tmp_path / "report"
    rc, _, err = cli(capsys, [*_argv(short_model, out, "--rope-scaling", "yarn:2"), "--no-report"])
    assert rc == 0, err
    header = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert header["plan"]["rope_scaling"] == {"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 512}
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert records and all(r["status"] == "ok" and r["n_prompt_tokens"] > 512 for r in records)
    rc, _, err = cli(capsys, ["report", out, "--out", report])
    assert rc == 0, err
    summary = (report / "summary.md").read_text(encoding="utf-8")
    assert "RoPE-scaled: every precision ran the model with yarn ×2 over 512 positions" in summary
    assert 'id="rope"' in (report / "index.html").read_text(encoding="utf-8")
    # the scaling is part of what the run measured: a resume cannot change it
    before = tree(out)
    rc, _, err = cli(capsys, [*_argv(short_model, out, "--rope-scaling", "linear:2"), "--no-report"])
    assert rc == 2 and tree(out) == before


def test_an_engine_that_cannot_scale_is_refused_before_the_run(capsys, short_model, tmp_path):
    pytest.importorskip("llama_cpp", reason="the gguf extra (llama-cpp-python) is not installed")
    argv = _argv(short_model, tmp_path / "run", "--rope-scaling", "dynamic:2")
    argv[argv.index("bf16")] = "bf16,gguf-bf16"
    rc, _, err = cli(capsys, [*argv, "--no-report"])
    assert rc == 2
    assert_one_line(err, "gguf-bf16 cannot run RoPE scaling dynamic", "linear, yarn")
    assert not (tmp_path / "run").exists()


def _hf_logprobs(ctx, ids):
    import torch

    from tests.engine_fixtures import open_backend

    b = open_backend("fp32", ctx)
    try:
        with torch.inference_mode():
            logits = b.model(torch.tensor([ids])).logits[0].float()
        return torch.log_softmax(logits, dim=-1).numpy()
    finally:
        b.close()


def _gguf_logprobs(ctx, ids):
    from tests.engine_fixtures import open_backend

    b = open_backend("gguf-f16:flash_attn=false", ctx)
    try:
        return np.concatenate([c.logprobs for c in b.iter_logprobs(ids, chunk=512)])
    finally:
        b.close()


def _kl(p, q):
    return float((np.exp(p) * (p - q)).sum(-1).mean())


@pytest.mark.parametrize("text", ["linear:2", "yarn:2"])
def test_transformers_and_llama_cpp_apply_the_same_scaling(gguf_setup, text):
    """The same scaling in both engines: their log-probs agree to float precision, while either
    against the unscaled model differs by orders of magnitude more."""
    from tests.engine_fixtures import prompt_ids

    rope = RopeScaling.parse(text).with_window(8192)
    scaled = dataclasses.replace(gguf_setup, rope_scaling=rope)
    ids = prompt_ids(gguf_setup.tokenizer, 300)
    hf, gg = _hf_logprobs(scaled, ids), _gguf_logprobs(scaled, ids)
    plain = _hf_logprobs(gguf_setup, ids)
    agree, moved = _kl(hf, gg), _kl(hf, plain)
    assert agree < 1e-4 and moved > 100 * agree, (agree, moved)
