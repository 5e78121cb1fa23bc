"""AWQ int4 (activation-aware weight quantization) with GPTQModel, run through transformers.

Two ways in, as for GPTQ (backends/gptq.py, whose GPTQModelBackend this shares):
- quantize the reference locally: GPTQModel's AWQ on CPU or CUDA with a calibration set (the GPTQ
  calibration sets: by default text this project writes), saved in AutoAWQ's GEMM layout as a cached
  artifact (backends/build/awq_quantize.py);
- `checkpoint=<hub id or dir>`: a pre-quantized AWQ checkpoint (AutoAWQ / GPTQModel, GEMM layout),
  checked before the run (backends/build/awq_checkpoint.py).

Either way transformers loads it (AwqConfig; on CPU GPTQModel's `TorchAtenAwqLinear` kernel, which
keeps the weights packed at 4 bits and dequantizes per matmul), so decoding is the reference's own
greedy loop (HFSession) on the same token ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from qlongbench.backends.base import LoadContext, ValidateContext
from qlongbench.backends.bnb import probe_forward
from qlongbench.backends.build.artifacts import Prepared
from qlongbench.backends.build.awq_checkpoint import check_awq_checkpoint
from qlongbench.backends.build.awq_quantize import AWQOptions, AWQRecipeOptions, group_size_for, prepare_awq
from qlongbench.backends.build.gptq_quantize import _DTYPES
from qlongbench.backends.gptq import GPTQModelBackend
from qlongbench.backends.hf import torch_dtype
from qlongbench.backends.build.model_files import input_widths
from qlongbench.spec.precision import BackendOptions, Precision
from qlongbench.types import QuantRecipe


class AWQBackend(GPTQModelBackend):
    description: ClassVar[str] = ("AWQ int4 via GPTQModel: quantized locally with a calibration set (cached; slow "
                                  "on CPU), or checkpoint=<hub id or dir> (AutoAWQ / GPTQModel, GEMM layout)")
    Options: ClassVar[type[BackendOptions]] = AWQOptions

    @classmethod
    def check_checkpoint(cls, precision: Precision, path: Path, ctx: ValidateContext | LoadContext) -> dict[str, Any]:
        return check_awq_checkpoint(path, precision.name, ctx.model, trust_remote_code=ctx.trust_remote_code,
                                    allow_pickle=ctx.allow_pickle)

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        """A given checkpoint= directory, or a group size that divides every layer's input width, before
        any work."""
        super().validate(precision, ctx)
        opts = precision.options
        assert isinstance(opts, AWQRecipeOptions)  # awq-int4's, or vllm-awq-int4's with the same recipe
        if not opts.checkpoint:
            group_size_for(precision.label, opts.group_size, sorted(input_widths(ctx.model)))

    def __init__(self, precision: Precision, ctx: LoadContext):
        assert isinstance(precision.options, AWQOptions)
        self.opts: AWQOptions = precision.options
        self.kernel: str | None = None
        """The linear-layer class GPTQModel picked (recorded: it decides how the matmuls run)."""
        super().__init__(precision, ctx)
        self.kernel = kernel_name(self.model)
        probe_forward(self)

    # --- HFBackend hooks ----------------------------------------------------------------------
    def compute_dtype(self) -> Any:
        return torch_dtype(_DTYPES[self.opts.compute_dtype])

    def recipe(self) -> QuantRecipe:
        kernel = {"kernel": self.kernel}
        if self.prepared is not None:
            built = self.prepared.artifact.recipe
            return built.model_copy(update={"compute_dtype": _DTYPES[self.opts.compute_dtype],
                                            "options": built.options | kernel})
        given = checkpoint_recipe(self.checkpoint_config, str(self.opts.checkpoint))
        return given.model_copy(update={"compute_dtype": _DTYPES[self.opts.compute_dtype],
                                        "options": given.options | kernel})

    @classmethod
    def prepare_artifact(cls, precision: Precision, ctx: LoadContext) -> Prepared:
        """Quantize the reference with GPTQModel's AWQ (once; cached)."""
        assert isinstance(precision.options, AWQOptions)
        return prepare_awq(precision.label, precision.options, ctx)


def checkpoint_recipe(q: dict[str, Any], checkpoint: str) -> QuantRecipe:
    """The recipe of a given AWQ checkpoint, from its checked settings (check_awq_checkpoint); shared
    by awq-int4 and vllm-awq-int4."""
    return QuantRecipe(method="awq", bits=q["bits"], quant_type="int4", group_size=q["group_size"], desc_act=False,
                       sym=not q["zero_point"], options={"checkpoint": checkpoint, "format": q["version"],
                                                          "zero_point": q["zero_point"]})


def kernel_name(model: Any) -> str | None:
    """Class name of the first quantized linear layer (the module holding AWQ's packed `qweight`)."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Module) and "qweight" in module._buffers | module._parameters:
            return type(module).__name__
    return None
