"""A pre-quantized AWQ checkpoint given as `awq-int4:checkpoint=<dir>`: checked before anything runs,
as a GPTQ checkpoint is (backends/build/gptq_checkpoint.py), so a bad directory is one line naming
the file and what is wrong (exit 2), not error records after the reference ran.

What is checked: what every quantized checkpoint directory passes (gptq_checkpoint.check_checkpoint_dir:
the model-file rules, config.json's geometry against the reference's, tokenizer JSON files that parse);
the AWQ settings (config.json's quantization_config: quant_method awq, 4 bits, a positive group size,
zero_point, the layout); the packed GEMM tensors those settings describe; and, once the reference
tokenizer is loaded, that the checkpoint's tokenizer is the reference's (fairness rule 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qlongbench.backends.build.gptq_checkpoint import (
    check_checkpoint_dir, check_group_shapes, packed_layers, read_json_object, safetensors_tensors,
)
from qlongbench.errors import UserError, validation_problem

AWQ_CONFIG_FILES = ("quant_config.json", "quantize_config.json")
"""Side files that also hold AWQ settings (named when config.json lacks them)."""


class AWQSettings(BaseModel):
    """The AWQ settings of a checkpoint, as transformers (AwqConfig) and GPTQModel read them."""

    model_config = ConfigDict(extra="allow", strict=True)

    bits: Literal[4]
    """Weight bits (AWQ checkpoints are 4-bit)."""
    group_size: Annotated[int, Field(ge=1)] = 128
    """Input columns per group."""
    zero_point: bool = True
    """Asymmetric groups with a zero point."""
    version: str = "gemm"
    """Layout: gemm (AutoAWQ's default), gemv, gemv_fast, ..."""


def awq_settings(path: Path, what: str) -> dict[str, Any]:
    """The validated AWQ settings of a checkpoint directory: config.json's quantization_config, where
    AutoAWQ and GPTQModel write them and transformers reads them (bits read from `w_bit` too, the
    layout from `version` or `format`)."""
    source = path / "config.json"
    cfg = read_json_object(source, what).get("quantization_config") if source.is_file() else None
    if not cfg:
        side = [name for name in AWQ_CONFIG_FILES if (path / name).is_file()]
        also = f" ({side[0]} alone is not read by transformers: put its settings there)" if side else ""
        raise UserError(f"{what}: {path} is not an AWQ checkpoint (no quantization_config in config.json{also})")
    if not isinstance(cfg, dict):
        raise UserError(f"{what}: {source}: quantization_config must be a JSON object, not {type(cfg).__name__}")
    method = cfg.get("quant_method", cfg.get("method"))
    if not isinstance(method, str) or method.lower() != "awq":
        raise UserError(f"{what}: {path} is not an AWQ checkpoint ({source.name} says quant_method {method!r})")
    norm = dict(cfg)
    if "bits" not in norm and "w_bit" in norm:
        norm["bits"] = norm["w_bit"]
    if "group_size" not in norm and "q_group_size" in norm:
        norm["group_size"] = norm["q_group_size"]
    layout = norm.get("version", norm.get("format"))
    norm["version"] = layout.lower() if isinstance(layout, str) else "gemm" if layout is None else layout
    try:
        settings = AWQSettings.model_validate(norm)
    except ValidationError as err:
        problem = validation_problem(err)
        if "bits" in problem:
            problem = f"bits must be 4 for awq-int4, not {norm.get('bits')!r}"
        raise UserError(f"{what}: {source}: quantization_config.{problem}") from None
    return settings.model_dump()


def check_packed(path: Path, q: dict[str, Any], what: str) -> None:
    """The safetensors hold AWQ's packed GEMM layers as the settings describe them: every `X.qweight`
    (int32, `in × out·4/32`) with `X.scales` (`groups × out`) and `X.qzeros` (int32, `groups × out·4/32`).
    Other layouts (gemv ...) are left to the engine."""
    tensors = safetensors_tensors(path)
    group = q["group_size"]
    for prefix in packed_layers(tensors, what, "AWQ"):
        dtype, shape, file = tensors[f"{prefix}.qweight"]
        if q["version"] != "gemm":
            continue
        if dtype != "I32" or len(shape) != 2:
            raise UserError(f"{what}: {file}: {prefix}.qweight must be a 2-D int32 tensor, not {dtype} {shape}")
        inputs, outputs = shape[0], shape[1] * 8
        if inputs % group:
            raise UserError(f"{what}: {file}: {prefix} has {inputs} inputs, not a multiple of group_size {group}")
        groups = inputs // group
        check_group_shapes(tensors, prefix, {"scales": [groups, outputs], "qzeros": [groups, shape[1]]},
                           f"{what}: {file}", f"4-bit AWQ weights of {inputs} inputs in groups of {group}")


def check_awq_checkpoint(path: Path, label: str, reference: str, *, trust_remote_code: bool,
                         allow_pickle: bool) -> dict[str, Any]:
    """Every check that needs no tokenizer (see the module docstring); returns the AWQ settings."""
    what = f"{label}: checkpoint {path}"
    check_checkpoint_dir(path, what, reference, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    q = awq_settings(path, what)
    check_packed(path, q, what)
    return q
