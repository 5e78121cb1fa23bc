"""A pre-quantized GPTQ checkpoint given as `checkpoint=<dir>`: checked before anything runs, so a
bad directory is one line naming the file and what is wrong (exit 2), not error records after the
reference ran (or the process aborted by GPTQ's kernel on tensors that are not what the settings say).

What is checked: the file rules every model directory obeys (no custom code without
--trust-remote-code, no pickle-only weights without --allow-pickle, safetensors headers that hold
what they promise: backends/build/model_files.py); config.json (a JSON object whose geometry matches
the reference's); the GPTQ settings (config.json's quantization_config, or AutoGPTQ's
quantize_config.json: bits, group size, flags of the right types, the bits the label names); the
packed tensors those settings describe; the tokenizer's JSON files parse; and, once the reference tokenizer is loaded, that the checkpoint's
tokenizer is the reference's (fairness rule 2)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qlongbench.backends.build.model_files import check_model_files
from qlongbench.errors import UserError, validation_problem

log = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")
"""A checkpoint holding any of these ships its own tokenizer (compared with the reference's)."""
TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                  "added_tokens.json", "generation_config.json")
"""JSON files transformers reads beside the weights: each must parse."""
GEOMETRY = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "intermediate_size")
"""Numbers a quantization of the reference keeps."""


class GPTQConfig(BaseModel):
    """The GPTQ settings of a checkpoint, as transformers and GPTQModel read them."""

    model_config = ConfigDict(extra="allow", strict=True)

    bits: Literal[2, 3, 4, 8]
    """Weight bits."""
    group_size: Annotated[int, Field(ge=-1)] = -1
    """Columns per quantization group (-1: one group per column)."""
    desc_act: bool | None = None
    """Activation order."""
    sym: bool | None = None
    """Symmetric quantization."""
    quant_method: str | None = None
    """gptq (transformers)."""
    checkpoint_format: str | None = None
    """gptq, gptq_v2 ... (GPTQModel)."""

    @field_validator("group_size")
    @classmethod
    def _not_zero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("group_size 0 is no group; use -1 (per column) or a positive size")
        return v


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file that must hold an object; one UserError line naming the file and the problem."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise UserError(f"{what}: cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{what}: {path} is not UTF-8 text (byte {err.start}); it is damaged — download or "
                        "save the checkpoint again") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{what}: {path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
                        "it is damaged — download or save the checkpoint again") from None
    if not isinstance(data, dict):
        raise UserError(f"{what}: {path} must hold a JSON object, not {type(data).__name__}")
    return data


def gptq_config(path: Path, what: str) -> dict[str, Any]:
    """The quantization settings of a GPTQ checkpoint directory: config.json's quantization_config
    (GPTQModel / transformers) or quantize_config.json (AutoGPTQ), validated."""
    config_json, legacy = path / "config.json", path / "quantize_config.json"
    source, cfg = config_json, None
    if config_json.is_file():
        cfg = read_json_object(config_json, what).get("quantization_config")
    if not cfg and legacy.is_file():
        source, cfg = legacy, read_json_object(legacy, what)
    if not cfg:
        raise UserError(f"{what}: {path} is not a GPTQ checkpoint (no GPTQ quantization_config in config.json or "
                        "quantize_config.json)")
    if not isinstance(cfg, dict):
        raise UserError(f"{what}: {source}: quantization_config must be a JSON object, not {type(cfg).__name__}")
    method = cfg.get("quant_method", cfg.get("method", "gptq"))
    if not isinstance(method, str) or method.lower() != "gptq":
        raise UserError(f"{what}: {path} is not a GPTQ checkpoint ({source.name} says quant_method {method!r})")
    try:
        GPTQConfig.model_validate(cfg)
    except ValidationError as err:
        key = "quantization_config." if source == config_json else ""
        raise UserError(f"{what}: {source}: {key}{validation_problem(err)}") from None
    return cfg


def safetensors_tensors(path: Path) -> dict[str, tuple[str, list[int], str]]:
    """Name -> (dtype, shape, file name) of every tensor in a directory's safetensors files (headers
    only; check_model_files has checked them)."""
    out: dict[str, tuple[str, list[int], str]] = {}
    for f in sorted(path.rglob("*.safetensors")):
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n).decode("utf-8"))
        out |= {k: (v["dtype"], list(v["shape"]), f.name) for k, v in header.items() if k != "__metadata__"}
    return out


PACKED_FORMATS = (None, "gptq", "gptq_v2")
"""Checkpoint formats whose packed tensors have the layout checked here (GPTQ's own; Marlin and
other repacked formats are left to the engine)."""


def packed_layers(tensors: dict[str, tuple[str, list[int], str]], what: str, method: str) -> list[str]:
    """The layers a GPTQ-style checkpoint (GPTQ, AWQ) packs: every prefix of an `X.qweight` tensor, each
    with its `X.scales` and `X.qzeros`; none at all means it was saved unquantized. No tensors: pickle
    weights (allowed by --allow-pickle), which only the engine can read."""
    if not tensors:
        return []
    packed = sorted(n[: -len(".qweight")] for n in tensors if n.endswith(".qweight"))
    if not packed:
        raise UserError(f"{what} holds no {method} weights (no *.qweight tensor in its safetensors files): it was "
                        f"saved unquantized, or is not a {method} checkpoint")
    for prefix in packed:
        for part in ("scales", "qzeros"):
            if f"{prefix}.{part}" not in tensors:
                raise UserError(f"{what}: {tensors[prefix + '.qweight'][2]} holds {prefix}.qweight without "
                                f"{prefix}.{part}")
    return packed


def check_packed(path: Path, quant: dict[str, Any], what: str) -> None:
    """The safetensors hold GPTQ's packed layers, shaped as the settings say: every `X.qweight` (int32,
    `in·bits/32 × out`) with its `X.scales` (`groups × out`) and `X.qzeros` (int32, `groups ×
    out·bits/32`). A checkpoint saved unquantized, or whose settings disagree with its tensors, is
    refused here: GPTQ's kernels abort the process on it (measured: a fake checkpoint killed the run)."""
    tensors = safetensors_tensors(path)
    bits, group = quant["bits"], quant.get("group_size", -1)
    layout = quant.get("checkpoint_format", quant.get("format"))
    for prefix in packed_layers(tensors, what, "GPTQ"):
        dtype, shape, file = tensors[f"{prefix}.qweight"]
        if layout not in PACKED_FORMATS or 32 % bits:
            continue
        if dtype != "I32" or len(shape) != 2:
            raise UserError(f"{what}: {file}: {prefix}.qweight must be a 2-D int32 tensor, not {dtype} {shape}")
        inputs, outputs = shape[0] * 32 // bits, shape[1]
        groups = 1 if group == -1 else -(-inputs // group)
        check_group_shapes(tensors, prefix, {"scales": [groups, outputs], "qzeros": [groups, outputs * bits // 32]},
                           f"{what}: {file}", f"{bits}-bit weights of {inputs} inputs in groups of {group}")


def check_group_shapes(tensors: dict[str, tuple[str, list[int], str]], prefix: str, want: dict[str, list[int]],
                       where: str, weights: str) -> None:
    """Each `prefix.part` tensor has the shape the checkpoint's settings give it (GPTQ and AWQ)."""
    for part, need in want.items():
        got = tensors[f"{prefix}.{part}"][1]
        if got != need:
            raise UserError(f"{where}: {prefix}.{part} has shape {got}, but {weights} need {need} (the "
                            "checkpoint's settings disagree with its tensors)")


def _geometry(cfg: dict[str, Any]) -> dict[str, Any]:
    text = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
    return {k: text.get(k) for k in GEOMETRY if k in text}


def check_checkpoint_dir(path: Path, what: str, reference: str, *, trust_remote_code: bool,
                         allow_pickle: bool) -> dict[str, Any]:
    """The checks every quantized checkpoint directory passes whatever its method (GPTQ, AWQ): the
    model-file rules, a config.json whose geometry is the reference's, tokenizer JSON files that
    parse. Returns config.json."""
    check_model_files(path, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle, what="checkpoint")
    if not (path / "config.json").is_file():
        raise UserError(f"{what} has no config.json; give the directory a quantized checkpoint was saved to")
    config = read_json_object(path / "config.json", what)
    theirs = _geometry(config)
    for key, value in theirs.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{what}: {path / 'config.json'}: {key} must be a positive whole number, not {value!r}")
    ref_config = Path(reference).expanduser() / "config.json"
    if ref_config.is_file():
        try:
            ours = _geometry(json.loads(ref_config.read_text(encoding="utf-8")))
        except (OSError, ValueError, AttributeError):
            ours = {}
        differ = [f"{k} {theirs[k]} (the reference has {ours[k]})" for k in theirs if k in ours and ours[k] != theirs[k]]
        if differ:
            raise UserError(f"{what} is not a quantization of the reference model: its config.json has "
                            f"{', '.join(differ)}")
    for name in TOKENIZER_JSON:
        if (path / name).is_file():
            read_json_object(path / name, what)
    return config


def check_checkpoint(path: Path, bits: int, label: str, reference: str, *, trust_remote_code: bool,
                     allow_pickle: bool) -> dict[str, Any]:
    """Every check that needs no tokenizer (see the module docstring); returns the GPTQ settings."""
    what = f"{label}: checkpoint {path}"
    check_checkpoint_dir(path, what, reference, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    quant = gptq_config(path, what)
    if quant["bits"] != bits:
        raise UserError(f"{what} holds {quant['bits']}-bit GPTQ weights but the precision is {label}; use "
                        f"gptq-int{quant['bits']}:checkpoint=...")
    check_packed(path, quant, what)
    return quant


def check_checkpoint_tokenizer(path: Path, reference_tokenizer: Any, *, trust_remote_code: bool) -> None:
    """Fairness rule 2 for checkpoints: their tokenizer must be the reference's."""
    from qlongbench.backends.tokenizer_check import require_same_hf

    if any((path / f).is_file() for f in TOKENIZER_FILES):
        from transformers import AutoTokenizer

        try:
            theirs = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        except Exception as err:  # noqa: BLE001 - a tokenizer that cannot load cannot be checked
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(f"cannot load the tokenizer of checkpoint {path}: {first}") from None
        require_same_hf(reference_tokenizer, theirs, f"checkpoint {path}")
        return
    # No tokenizer shipped: the embedding size is the one thing left to compare.
    vocab = read_json_object(path / "config.json", f"checkpoint {path}").get("vocab_size")
    ref = len(reference_tokenizer.hf.get_vocab())
    if isinstance(vocab, int) and vocab < ref:
        raise UserError(f"the tokenizer of checkpoint {path} differs from the reference model's: its vocabulary "
                        f"has {vocab} entries, the reference tokenizer {ref}")
    log.warning("checkpoint %s ships no tokenizer; it is fed the reference tokenizer's ids unchecked", path)


def local_checkpoint(given: str) -> Path | None:
    """The directory `checkpoint=` names when it is local (None for a hub id); UserError for a file
    or a path that does not exist."""
    path = Path(given).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"checkpoint={given} is a file; give the checkpoint's directory or hub id")
        return path.resolve()
    if given.startswith((".", "/", "~")) or given.count("/") > 1:
        raise UserError(f"checkpoint={given}: no such directory")
    return None
