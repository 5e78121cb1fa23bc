"""Building AWQ checkpoints: GPTQModel's AWQ (activation-aware scale search, then 4-bit groups in
AutoAWQ's GEMM layout) on the same calibration sets as GPTQ, cached as artifacts.

Measured with GPTQModel 7.6.0 on CPU: its default AWQ packer (AwqGEMMLinear) stops with "AWQ: CUDA
is not available", so on CPU the quantization runs with its torch AWQ backend (`BACKEND.AWQ_TORCH`).
The per-layer search is fixed work per calibration token (a grid of 20 scale ratios per scaling group
and 10 clipping ratios per linear layer), so AWQ costs much more CPU time than GPTQ: SmolLM2-135M took
1,114 s with 8 x 128 tokens and 195 s with 2 x 64 on two heavily loaded cores."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator

from qlongbench.backends.base import LoadContext
from qlongbench.backends.build.artifacts import Prepared
from qlongbench.backends.build.gptq_quantize import (
    CalibratedOptions, Calibration, calibration_fields, calibration_options, prepare_calibrated, run_gptqmodel,
)
from qlongbench.backends.build.model_files import input_widths
from qlongbench.errors import UserError
from qlongbench.spec.precision import Positive, lower
from qlongbench.types import QuantRecipe

log = logging.getLogger(__name__)

BITS = 4
"""AWQ's weight bits (awq-int4: the only width AWQ's kernels and checkpoints use)."""
FORMAT = "gemm"
"""AutoAWQ's GEMM layout: what transformers, vLLM and GPTQModel's CPU kernel all read."""
GROUP_SIZES = (128, 64, 32)
"""Group sizes tried, largest first, when none is given: AutoAWQ's 128 where it fits the model."""


class AWQRecipeOptions(CalibratedOptions):
    """How GPTQModel's AWQ quantizes the reference (the artifact's recipe), or the checkpoint to load
    instead. Defaults are AutoAWQ's: 128 x 512 calibration tokens, groups of 128 with a zero point. Its
    scale search runs every calibration token through each layer 20 times: hours on a CPU at the
    defaults, so CPU runs give fewer (e.g. n_samples=8,seq_len=128, about 20 minutes for SmolLM2)."""

    group_size: Positive | None = None
    """Input columns that share one scale and zero point; it must divide every layer's input width.
    Unset: 128, or the largest of 64, 32 that divides them (SmolLM2's 576: 64); the one used is recorded."""
    zero_point: bool = True
    """Asymmetric groups with a zero point (AutoAWQ's default); false: symmetric groups."""


class AWQOptions(AWQRecipeOptions):
    """Options of awq-int4."""

    compute_dtype: Annotated[Literal["bf16", "fp16", "fp32"], BeforeValidator(lower)] = "bf16"
    """dtype the dequantized matmuls run in."""


def group_size_for(label: str, group_size: int | None, widths: list[int]) -> int:
    """The group size to build with: the one given, which must divide every layer's input width (AWQ's
    GEMM layout packs whole groups), or the largest of GROUP_SIZES that does. One line naming the
    widths and a size that fits otherwise, before anything is built."""
    fits = [g for g in GROUP_SIZES if all(w % g == 0 for w in widths)]
    if group_size is None:
        if fits:
            return fits[0]
        raise UserError(f"{label}: no AWQ group size of {', '.join(map(str, GROUP_SIZES))} divides this model's "
                        f"input widths ({', '.join(map(str, sorted(set(widths))))}); give group_size=")
    bad = sorted({w for w in widths if w % group_size})
    if bad:
        hint = f"; use {label.split(':')[0]}:group_size={fits[0]}" if fits else ""
        raise UserError(f"{label}: AWQ needs every layer's input width to be a multiple of group_size={group_size}; "
                        f"this model has {', '.join(map(str, bad))}{hint}")
    return group_size


def awq_recipe(opts: AWQRecipeOptions, group_size: int, calib: Calibration | None) -> QuantRecipe:
    """The recipe an AWQ artifact is built with (and keyed by): every setting GPTQModel is given."""
    return QuantRecipe(method="awq", bits=BITS, quant_type="int4", group_size=group_size, desc_act=False,
                       sym=not opts.zero_point, **calibration_fields(opts, calib),
                       options={"format": FORMAT, "zero_point": opts.zero_point, "quantizer": "gptqmodel-awq",
                                "scale_search": "awq grid 20 (duo scaling) + clip search 10"}
                       | calibration_options(calib))


def quantize_awq(model_dir: Path, out: Path, recipe: QuantRecipe, calib: Calibration, ctx: LoadContext, *,
                 work_dir: Path) -> None:
    from gptqmodel.quantization import FORMAT as GFORMAT
    from gptqmodel.quantization import METHOD
    from gptqmodel.utils.backend import BACKEND

    zero_point = bool(recipe.options["zero_point"])
    config = {"bits": BITS, "group_size": recipe.group_size, "quant_method": METHOD.AWQ, "format": GFORMAT.GEMM,
              "sym": not zero_point}
    # GPTQModel 7.6's default AWQ packer (AwqGEMMLinear) stops with "AWQ: CUDA is not available".
    kwargs = {"backend": BACKEND.AWQ_TORCH} if not ctx.device.startswith("cuda") else {}
    run_gptqmodel(model_dir, out, config, calib, ctx, work_dir=work_dir, quantize_kwargs=kwargs,
                  what=f"AWQ int4 (group {recipe.group_size}, zero point {zero_point})")
    check_saved(out, recipe)


def check_saved(out: Path, recipe: QuantRecipe) -> None:
    """What GPTQModel wrote is what the recipe asked for (bits, group, zero point, layout): the recipe
    recorded in run.json is then the checkpoint's own, never a request it ignored."""
    q = json.loads((out / "config.json").read_text(encoding="utf-8")).get("quantization_config") or {}
    saved = {"bits": q.get("bits"), "group_size": q.get("group_size"), "zero_point": q.get("zero_point"),
             "format": q.get("version", q.get("format")), "quant_method": q.get("quant_method")}
    want = {"bits": BITS, "group_size": recipe.group_size, "zero_point": recipe.options["zero_point"],
            "format": FORMAT, "quant_method": "awq"}
    if saved != want:
        raise RuntimeError(f"GPTQModel saved an AWQ checkpoint with {saved}, not the requested {want}")


def prepare_awq(label: str, opts: AWQRecipeOptions, ctx: LoadContext) -> Prepared:
    """Quantize the reference with GPTQModel's AWQ (once; the result is cached and reused)."""

    def recipe(model_dir: Path, calib: Calibration | None) -> QuantRecipe:
        return awq_recipe(opts, group_size_for(label, opts.group_size, sorted(input_widths(str(model_dir)))), calib)

    return prepare_calibrated("awq", label, opts, ctx, recipe, quantize_awq)
