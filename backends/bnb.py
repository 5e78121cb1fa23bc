"""bitsandbytes nf4 / fp4 / int8 through transformers: the weights are quantized while loading, and
decoding reuses the reference's greedy loop (HFSession) unchanged.

The 4-bit type is always spelled out: `BitsAndBytesConfig(load_in_4bit=True)` alone means fp4, not
nf4, and a published comparison got this wrong. Recent bitsandbytes (0.50.2 measured) has CPU
kernels, so every label runs on CPU (device_map="cpu") as well as on CUDA."""

from __future__ import annotations

import logging
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, ValidationInfo, model_validator

from qlongbench.backends.base import LoadContext, ValidateContext
from qlongbench.backends.hf import HFBackend, torch_dtype
from qlongbench.errors import UserError
from qlongbench.spec.precision import BackendOptions, Precision, lower
from qlongbench.types import QuantRecipe

log = logging.getLogger(__name__)

QUANT_TYPES = {"bnb-nf4": "nf4", "bnb-fp4": "fp4", "bnb-int8": "int8"}
INT8_THRESHOLD = 6.0
"""LLM.int8() outlier threshold (bitsandbytes' default), recorded with the recipe."""
_DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "bfloat16": "bfloat16",
                "float16": "float16", "float32": "float32"}


class BnbOptions(BackendOptions):
    """Options of bnb-nf4, bnb-fp4 and bnb-int8."""

    double_quant: bool = False
    """Quantize the 4-bit types' scales as well (nested quantization); not for bnb-int8."""
    compute_dtype: Annotated[Literal["bf16", "fp16", "fp32", "bfloat16", "float16", "float32"],
                             BeforeValidator(lower)] = "bf16"
    """dtype the matmuls run in."""

    @model_validator(mode="after")
    def _four_bit_only(self, info: ValidationInfo) -> BnbOptions:
        if self.double_quant and (info.context or {}).get("name") == "bnb-int8":
            raise ValueError("double_quant applies to the 4-bit types only (bnb-nf4, bnb-fp4)")
        return self


class _DropPerMatmulNotice(logging.Filter):
    """bitsandbytes logs one 'inputs will be cast ...' warning per 8-bit matmul: thousands per answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be cast from" not in record.getMessage()


_FILTER = _DropPerMatmulNotice()


def silence_per_matmul_log() -> None:
    for name in ("bitsandbytes", "bitsandbytes.autograd._functions"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class BnbBackend(HFBackend):
    engine: ClassVar[str] = "transformers"
    """transformers' forward with bitsandbytes' kernels: the HF reference is its engine-matched baseline."""
    description: ClassVar[str] = "bitsandbytes 4-bit (nf4 / fp4) or LLM.int8() through transformers; CPU or CUDA"
    extra: ClassVar[str | None] = "bnb"
    Options: ClassVar[type[BackendOptions]] = BnbOptions

    @property
    def batch_invariant(self) -> bool:
        """LLM.int8() picks outlier columns over the whole batch, so a prompt's numbers (and its
        greedy answer) depend on what it is batched with: int8 always runs one prompt at a time."""
        return self.quant_type != "int8" and super().batch_invariant

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        if ctx.device not in ("cpu", "cuda") and not ctx.device.startswith("cuda:"):
            raise UserError(f"{precision.name} runs on cpu or cuda, not {ctx.device}")

    def __init__(self, precision: Precision, ctx: LoadContext):
        self.bnb = self.require("bitsandbytes", "bnb")
        silence_per_matmul_log()
        options = precision.options
        assert isinstance(options, BnbOptions)
        self.quant_type = QUANT_TYPES[precision.name]
        self.double_quant = options.double_quant
        self.compute_dtype_name = _DTYPE_NAMES[options.compute_dtype]
        super().__init__(precision, ctx)
        probe_forward(self)

    def compute_dtype(self) -> Any:
        return torch_dtype(self.compute_dtype_name)

    def load_kwargs(self) -> dict[str, Any]:
        from transformers import BitsAndBytesConfig

        if self.quant_type == "int8":
            cfg = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=INT8_THRESHOLD)
        else:
            cfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=self.quant_type,
                                     bnb_4bit_use_double_quant=self.double_quant,
                                     bnb_4bit_compute_dtype=self.compute_dtype())
        return {"quantization_config": cfg}

    def recipe(self) -> QuantRecipe:
        int8 = self.quant_type == "int8"
        return QuantRecipe(method="bitsandbytes", bits=8 if int8 else 4, quant_type=self.quant_type,
                           double_quant=None if int8 else self.double_quant, compute_dtype=self.compute_dtype_name,
                           options={"llm_int8_threshold": INT8_THRESHOLD} if int8 else
                           {"cpu_packed_weights": True} if self.model is not None and self.cpu_packed() else {})

    def cpu_packed(self) -> bool:
        """bitsandbytes' AVX512-BF16 CPU path repacks 4-bit weights at the first forward and keeps
        their scales dequantized (double quantization then saves no memory): worth recording."""
        return any(getattr(getattr(getattr(m, "weight", None), "quant_state", None), "packing_format_for_cpu", False)
                   for m in self.model.modules())

    def versions(self) -> dict[str, str]:
        return {"bitsandbytes": self.bnb.__version__}


def probe_forward(backend: HFBackend) -> None:
    """Run one token through the loaded model so a precision the device cannot run fails here, with
    one clear line, instead of on every sample."""
    import torch

    x = torch.tensor([[backend.pad_id()]], dtype=torch.long, device=backend.device)
    try:
        with torch.inference_mode():
            backend.model(input_ids=x, use_cache=False)
    except Exception as err:  # noqa: BLE001 - any kernel failure means "cannot run here"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        backend.close()
        raise UserError(f"{backend.precision.label} cannot run on {backend.ctx.device}: {first}") from None
