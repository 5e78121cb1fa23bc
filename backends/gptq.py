"""GPTQ int4 / int8 with GPTQModel (the maintained successor of AutoGPTQ, and what transformers
itself uses for GPTQ).

Two ways in:
- quantize the reference locally: GPTQModel on CPU or CUDA with a calibration set (by default text
  this project writes: filler sentences, needles and questions in every shipped language), saved
  as a cached artifact;
- `checkpoint=<hub id or dir>`: a pre-quantized GPTQ checkpoint (AutoGPTQ or GPTQModel format).

Either way the checkpoint is loaded through transformers (optimum + gptqmodel kernels), so decoding
is the reference's own greedy loop (HFSession) on the same token ids."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from qlongbench.backends.base import LoadContext, ValidateContext
from qlongbench.backends.bnb import probe_forward
from qlongbench.backends.build.artifacts import Prepared, path_sha256
from qlongbench.backends.build.gptq_checkpoint import check_checkpoint, gptq_config, local_checkpoint
from qlongbench.backends.build.gptq_checkpoint import check_checkpoint_tokenizer as check_tokenizer
from qlongbench.backends.build.model_files import local_model_dir
from qlongbench.backends.build.gptq_quantize import (
    BITS, _DTYPES, CalibratedOptions, GPTQOptions, _version, engine_output, prepare_gptq, require_gptqmodel,
)
from qlongbench.backends.hf import HFBackend, torch_dtype
from qlongbench.errors import UserError
from qlongbench.spec.precision import BackendOptions, Precision
from qlongbench.types import QuantRecipe

log = logging.getLogger(__name__)

class GPTQModelBackend(HFBackend):
    """What GPTQ and AWQ share: a checkpoint GPTQModel built from the reference (cached) or one the user
    gives (checkpoint=, checked up front), loaded by transformers with GPTQModel's kernels."""

    engine: ClassVar[str] = "transformers"
    """transformers' forward with GPTQModel's kernels: the HF reference is its engine-matched baseline."""
    extra: ClassVar[str | None] = "gptq"

    @classmethod
    def check_checkpoint(cls, precision: Precision, path: Path, ctx: ValidateContext | LoadContext) -> dict[str, Any]:
        """Every check of a given checkpoint directory that needs no tokenizer; its quantization settings."""
        raise NotImplementedError

    @classmethod
    def validate(cls, precision: Precision, ctx: ValidateContext) -> None:
        """A local checkpoint= directory (files, config, quantization settings, packed tensors), before any
        work; the options themselves were typed by the parser."""
        given = precision.options.given_artifact()
        path = local_checkpoint(str(given)) if given else None
        if path is not None:
            cls.check_checkpoint(precision, path, ctx)

    @classmethod
    def validate_tokenizer(cls, precision: Precision, ctx: ValidateContext, tokenizer: Any) -> None:
        """A local checkpoint's tokenizer is the reference's, before any work."""
        given = precision.options.given_artifact()
        path = local_checkpoint(str(given)) if given else None
        if path is not None:
            check_tokenizer(path, tokenizer, trust_remote_code=ctx.trust_remote_code)

    def __init__(self, precision: Precision, ctx: LoadContext):
        self.require("optimum", "gptq")
        require_gptqmodel()
        self.gptqmodel_version = _version("gptqmodel")
        assert isinstance(precision.options, CalibratedOptions)
        self.checkpoint: str | None = precision.options.checkpoint
        self.prepared: Prepared | None = None
        self.checkpoint_dir: Path | None = None
        self.checkpoint_config: dict[str, Any] = {}
        super().__init__(precision, ctx)

    def _load(self) -> Any:
        with engine_output(None):  # transformers' GPTQ / AWQ path lets GPTQModel print its kernel choice
            return super()._load()

    def model_source(self) -> str:
        if self.checkpoint:
            self.checkpoint_dir = resolve_checkpoint(self.checkpoint, self.ctx)
            self.checkpoint_config = self.check_checkpoint(self.precision, self.checkpoint_dir, self.ctx)
            check_checkpoint_tokenizer(self.checkpoint_dir, self.ctx)
            return str(self.checkpoint_dir)
        self.prepared = self.prepare_artifact(self.precision, self.ctx)
        return str(self.prepared.path)

    def artifact(self) -> tuple[str | None, str | None]:
        if self.prepared is not None:
            return str(self.prepared.path), self.prepared.artifact.sha256
        if self.checkpoint_dir is not None:
            return str(self.checkpoint_dir), path_sha256(self.checkpoint_dir)
        return None, None

    def versions(self) -> dict[str, str]:
        return {"gptqmodel": self.gptqmodel_version, "optimum": _version("optimum")}


class GPTQBackend(GPTQModelBackend):
    description: ClassVar[str] = ("GPTQ via GPTQModel: quantized locally with a calibration set (cached), "
                                  "or checkpoint=<hub id or dir> (AutoGPTQ / GPTQModel format)")
    Options: ClassVar[type[BackendOptions]] = GPTQOptions

    @classmethod
    def check_checkpoint(cls, precision: Precision, path: Path, ctx: ValidateContext | LoadContext) -> dict[str, Any]:
        return check_checkpoint(path, BITS[precision.name], precision.name, ctx.model,
                                trust_remote_code=ctx.trust_remote_code, allow_pickle=ctx.allow_pickle)

    def __init__(self, precision: Precision, ctx: LoadContext):
        assert isinstance(precision.options, GPTQOptions)
        self.opts: GPTQOptions = precision.options
        self.kernel = self.opts.kernel
        """The kernel loaded: the option, or torch after the auto-selected one could not run."""
        super().__init__(precision, ctx)
        try:
            probe_forward(self)
        except UserError as err:
            if self.kernel != "auto":
                raise
            # The auto-selected fast kernel has shape limits (e.g. torch's int4pack CPU kernel needs
            # in_features divisible by group_size); GPTQModel's plain torch kernel has none.
            log.warning("%s: the auto-selected GPTQ kernel cannot run this model (%s); using GPTQModel's "
                        "torch kernel (recorded as kernel=torch)", precision.label, err)
            self.kernel = "torch"
            self.model = self._load()
            self.model.eval()
            probe_forward(self)

    # --- HFBackend hooks ----------------------------------------------------------------------
    def compute_dtype(self) -> Any:
        return torch_dtype(_DTYPES[self.opts.compute_dtype])

    def load_kwargs(self) -> dict[str, Any]:
        if self.kernel == "auto":
            return {}
        from transformers import GPTQConfig

        # transformers reads `backend` as a load-time setting: the kernel, not the quantization.
        return {"quantization_config": GPTQConfig(bits=BITS[self.precision.name], backend=self.kernel)}

    def recipe(self) -> QuantRecipe:
        if self.prepared is not None:
            built = self.prepared.artifact.recipe
            return built.model_copy(update={"compute_dtype": _DTYPES[self.opts.compute_dtype],
                                            "options": built.options | {"kernel": self.kernel}})
        q = self.checkpoint_config
        return QuantRecipe(method="gptq", bits=q.get("bits"), quant_type=f"int{q.get('bits')}",
                           group_size=q.get("group_size"), desc_act=q.get("desc_act"), sym=q.get("sym"),
                           compute_dtype=_DTYPES[self.opts.compute_dtype],
                           options={"checkpoint": str(self.opts.checkpoint),
                                    "checkpoint_format": q.get("checkpoint_format") or q.get("format"),
                                    "quantizer": q.get("meta", {}).get("quantizer") if isinstance(q.get("meta"), dict) else None,
                                    "kernel": self.kernel})

    @classmethod
    def prepare_artifact(cls, precision: Precision, ctx: LoadContext) -> Prepared:
        """Quantize the reference with GPTQModel (once; cached)."""
        assert isinstance(precision.options, GPTQOptions)
        return prepare_gptq(precision.label, BITS[precision.name], precision.options, ctx)


# --- checkpoints (the checks themselves: backends/build/gptq_checkpoint.py) ------------------------


def check_checkpoint_path(checkpoint: str | None) -> None:
    """A given checkpoint= that names a local path must be a directory that exists."""
    if checkpoint:
        local_checkpoint(checkpoint)


def resolve_checkpoint(checkpoint: str, ctx: LoadContext) -> Path:
    """The checkpoint's local directory: the one given, or a hub snapshot (checked as a model
    directory is)."""
    path = local_checkpoint(checkpoint)
    if path is not None:
        return path
    return local_model_dir(checkpoint, trust_remote_code=ctx.trust_remote_code, allow_pickle=ctx.allow_pickle)


def read_gptq_config(path: Path) -> dict[str, Any]:
    """The validated GPTQ settings of a checkpoint directory (config.json's quantization_config or
    AutoGPTQ's quantize_config.json)."""
    return gptq_config(path, f"checkpoint {path}")


def check_checkpoint_tokenizer(path: Path, ctx: LoadContext) -> None:
    """Fairness rule 2 for checkpoints: their tokenizer must be the reference's."""
    check_tokenizer(path, ctx.tokenizer, trust_remote_code=ctx.trust_remote_code)
