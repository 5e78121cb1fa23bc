"""FP8 (e4m3) weights on any device, through transformers and torchao: the weight format the study
ran on GPU through vLLM (`vllm-fp8`, which stays the GPU label), here weight-only.

torchao's `Float8WeightOnlyConfig` quantizes every decoder linear layer while loading (no calibration,
like vLLM's online `quantization="fp8"`): the weights are held as float8_e4m3fn codes with float32
scales, one per matrix by default (vLLM's online fp8 scale) or one per output row, and each matmul
dequantizes them to the compute dtype (bf16) and multiplies in bf16. Activations are not quantized —
vLLM on an FP8 GPU also quantizes them (W8A8, matmuls in FP8), so the two share the weights' rounding
and differ in the activations'. Embeddings and lm_head stay bf16 (as in vLLM).

Why torchao (measured on this CPU, torch 2.13, torchao 0.18, GPTQModel 7.6.0): torchao keeps the
weights in 8 bits on CPU (the layers' codes are float8_e4m3fn tensors; SmolLM2-135M's weight bytes
drop accordingly) and transformers loads it with `TorchAoConfig`. GPTQModel's FP8 method quantizes
on CPU, but its loader holds the weights upcast to bf16 (and the scales rounded to bf16), so nothing
is saved, and transformers refuses its checkpoint ("issues during automatic conversion of the
weights"). torchao's FP8 activation quantization (`Float8DynamicActivationFloat8WeightConfig`) is
refused on CPU: "requires CUDA compute capability >= 8.9 or MI300+ or XPU"."""

from __future__ import annotations

import logging
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator

from qlongbench.backends.base import LoadContext, ValidateContext
from qlongbench.backends.bnb import probe_forward
from qlongbench.backends.hf import _DTYPES, HFBackend, torch_dtype
from qlongbench.backends.hf_kvcache import tensor_bytes
from qlongbench.errors import UserError
from qlongbench.spec.precision import BackendOptions, Precision, lower
from qlongbench.types import QuantRecipe


class FP8Options(BackendOptions):
    """Options of fp8-wo."""

    granularity: Annotated[Literal["tensor", "row"], BeforeValidator(lower)] = "tensor"
    """Weight scales: one per matrix (tensor: vLLM's online fp8) or one per output row (row)."""
    compute_dtype: Annotated[Literal["bf16", "fp16", "fp32"], BeforeValidator(lower)] = "bf16"
    """dtype the weights are dequantized to and the matmuls run in."""


class FP8Backend(HFBackend):
    engine: ClassVar[str] = "transformers"
    """transformers' forward with torchao's float8 weights: the HF reference is its engine-matched baseline."""
    description: ClassVar[str] = ("FP8 e4m3 weights (vllm-fp8's format) via torchao, weight-only: held in 8 bits, "
                                  "dequantized to bf16 per matmul; CPU or CUDA")
    extra: ClassVar[str | None] = "fp8"
    Options: ClassVar[type[BackendOptions]] = FP8Options

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        if ctx.device not in ("cpu", "cuda") and not ctx.device.startswith("cuda:"):
            raise UserError(f"{precision.name} runs on cpu or cuda, not {ctx.device}")

    def __init__(self, precision: Precision, ctx: LoadContext):
        for name in ("torchao", "torch.utils._pytree"):  # import-time notes on CUDA-only extensions
            logging.getLogger(name).setLevel(logging.ERROR)
        self.torchao = self.require("torchao", "fp8")
        assert isinstance(precision.options, FP8Options)
        self.opts: FP8Options = precision.options
        self.layers: int | None = None
        """How many linear layers hold float8 weights (0 would mean nothing was quantized)."""
        super().__init__(precision, ctx)
        probe_forward(self)
        self.layers = fp8_layers(self.model)
        if not self.layers:
            self.close()
            raise UserError(f"{precision.label}: torchao quantized no linear layer of {ctx.model}")

    def compute_dtype(self) -> Any:
        return torch_dtype(_DTYPES[self.opts.compute_dtype])

    def load_kwargs(self) -> dict[str, Any]:
        import torch
        from torchao.quantization import Float8WeightOnlyConfig, PerRow, PerTensor
        from transformers import TorchAoConfig

        granularity = PerTensor() if self.opts.granularity == "tensor" else PerRow()
        # set_inductor_config=False: torchao would otherwise change torch.compile's global settings.
        config = Float8WeightOnlyConfig(weight_dtype=torch.float8_e4m3fn, granularity=granularity,
                                        set_inductor_config=False)
        return {"quantization_config": TorchAoConfig(config)}

    def recipe(self) -> QuantRecipe:
        return QuantRecipe(method="fp8", bits=8, quant_type="float8_e4m3fn", compute_dtype=_DTYPES[self.opts.compute_dtype],
                           options={"library": "torchao", "config": "Float8WeightOnlyConfig",
                                    "scale": f"per-{self.opts.granularity}, float32",
                                    "activations": "not quantized (weight-only)",
                                    "matmul": f"weights dequantized to {_DTYPES[self.opts.compute_dtype]} per matmul",
                                    "not_quantized": "embeddings, lm_head, norms",
                                    "fp8_layers": self.layers})

    def weight_bytes(self) -> int:
        """Bytes the weights really occupy: float8 codes and their scales for the quantized layers (a
        torchao tensor reports its nominal bf16 size to `get_memory_footprint`), every other tensor as
        it is; a storage shared by tied weights counted once."""
        seen: set[tuple[int, int, int]] = set()
        return sum(tensor_bytes(t, seen) for t in [*self.model.parameters(), *self.model.buffers()])

    def versions(self) -> dict[str, str]:
        return {"torchao": str(self.torchao.__version__)}


def fp8_layers(model: Any) -> int:
    """Linear layers whose weight holds float8 codes (torchao's Float8Tensor)."""
    import torch
    from torchao.quantization import Float8Tensor

    return sum(1 for m in model.modules() if isinstance(m, torch.nn.Linear) and isinstance(m.weight, Float8Tensor)
               and m.weight.qdata.dtype == torch.float8_e4m3fn)
