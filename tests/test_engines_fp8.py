"""FP8 (e4m3) weight-only with torchao on CPU, on the tiny engine model: the linear layers really hold
float8 codes (8 bits a weight, plus one float32 scale per matrix or per row), the weight bytes say so,
and the numbers differ from bf16 by FP8's rounding only. No mocks."""

from __future__ import annotations

import pytest

from qlongbench.errors import UserError
from qlongbench.types import GenerationConfig, TokenPrompt
from tests.engine_fixtures import artifact_cache, engine_model, load_context, open_backend, prompt_ids
from tests.fuzz_helpers import assert_clean_outcome
from tests.reliability_helpers import cli, tree

pytest.importorskip("torchao", reason="the fp8 extra (torchao) is not installed")

RUN = ("--lengths", "256", "--samples", "1", "--no-report", "-q", "--device", "cpu", "--max-new-tokens", "2")


@pytest.fixture(scope="module")
def fp8_ctx(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.getbasetemp()
    return load_context(engine_model(root), artifact_cache(root))


def linear_bytes(model, dtype_bytes: float) -> int:
    """Bytes the decoder's linear weights take at `dtype_bytes` a weight."""
    import torch

    return int(sum(m.weight.numel() * dtype_bytes for n, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and ".layers." in f".{n}"))


@pytest.mark.parametrize("granularity", ["tensor", "row"])
def test_weights_are_held_in_8_bits_and_stay_close(fp8_ctx, granularity):
    import torch
    from torchao.quantization import Float8Tensor

    fp8, bf16 = open_backend(f"fp8-wo:granularity={granularity}", fp8_ctx), open_backend("bf16", fp8_ctx)
    try:
        info, ref = fp8.info(), bf16.info()
        r = info.recipe
        assert (r.method, r.bits, r.quant_type, r.compute_dtype) == ("fp8", 8, "float8_e4m3fn", "bfloat16")
        assert r.options["scale"] == f"per-{granularity}, float32" and r.options["fp8_layers"] == 14
        assert info.engine == "transformers" and info.versions["torchao"]
        decoder = [m for n, m in fp8.model.named_modules() if isinstance(m, torch.nn.Linear) and ".layers." in f".{n}"]
        assert len(decoder) == 14 and all(isinstance(m.weight, Float8Tensor) for m in decoder)
        assert all(m.weight.qdata.dtype == torch.float8_e4m3fn for m in decoder)
        # The saving is the decoder's linear weights going from 2 bytes to 1 (scales: a few bytes each).
        saved = ref.weight_bytes - info.weight_bytes
        half = linear_bytes(bf16.model, 1)
        assert half - 4 * 2 * 512 * 14 <= saved <= half, (saved, half)
        assert not isinstance(fp8.model.lm_head.weight, Float8Tensor)
        ids = prompt_ids(fp8_ctx.tokenizer, 100)
        a, base = fp8.session().forward_all(ids), bf16.session().forward_all(ids)
        kl = torch.nn.functional.kl_div(a.log_softmax(-1), base.log_softmax(-1), log_target=True, reduction="batchmean")
        assert 1e-7 < float(kl) < 0.05
        (gen,) = fp8.generate([TokenPrompt(ids=tuple(ids))], GenerationConfig(max_new_tokens=5))
        assert len(gen.token_ids) == 5 or gen.finish_reason == "eos"
    finally:
        fp8.close()
        bf16.close()


def test_bad_options_are_one_line(capsys, fp8_ctx, tmp_path):
    with pytest.raises(UserError, match="granularity"):
        open_backend("fp8-wo:granularity=block", fp8_ctx)
    for label, says in [("fp8-wo:granularity=block", "granularity"), ("fp8-wo:compute_dtype=int8", "compute_dtype"),
                        ("fp8-wo:group_size=64", "group_size")]:
        out = tmp_path / "run"
        rc, _, err = cli(capsys, ["run", "--model", fp8_ctx.model, "--out", out, *RUN, "--precisions", f"bf16,{label}"])
        assert_clean_outcome(rc, err, {}, tree(out))
        assert rc == 2 and says in err, err
