"""The reference model's files: which exist, whether they may be opened, and their one hash.

Every engine and builder reads the model through these rules, third-party converters included:
custom code (an `auto_map` in a config, or Python files) only with --trust-remote-code, pickle
weights only with --allow-pickle. The hash covers every file an engine may read, whatever its
format, so a changed `.bin` or tokenizer file can never reuse an artifact built from the old one."""

from __future__ import annotations

import json
import logging
import math
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qlongbench.errors import UserError, validation_problem
from qlongbench.hashing import file_sha256

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weight files loaded with pickle, which can run code."""
HUB_PATTERNS = ["*.safetensors", "*.json", "*.model", "*.txt", "*.tiktoken", "*.jinja", "*.py", "*.bin"]
"""What is fetched from the hub when a hub model has to be converted or quantized locally."""
CONFIGS_WITH_CODE = ("config.json", "tokenizer_config.json", "processor_config.json", "generation_config.json")


def model_files(root: Path) -> list[Path]:
    """Every regular file below root that an engine may read (hidden files and folders left out)."""
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def declares_custom_code(root: Path) -> str | None:
    """Why the model would run its own code when loaded (None when it would not)."""
    for name in CONFIGS_WITH_CODE:
        path = root / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        if isinstance(data, dict) and data.get("auto_map"):
            return f"{name} maps classes to the model's own code (auto_map)"
    code = [p.name for p in model_files(root) if p.suffix == ".py"]
    if code:
        return f"it ships Python code ({', '.join(code[:3])})"
    return None


def check_model_files(root: Path, *, trust_remote_code: bool, allow_pickle: bool, what: str = "model") -> None:
    """Refuse, before any engine opens the directory, what the user did not allow."""
    files = model_files(root)
    if not files:
        raise UserError(f"{what} directory {root} is empty")
    if not trust_remote_code:
        why = declares_custom_code(root)
        if why:
            raise UserError(f"{what} {root} would run its own code: {why}; read it, then pass --trust-remote-code "
                            "if you trust it")
    has_safetensors = any(p.suffix == ".safetensors" for p in files)
    pickled = [p.name for p in files if p.suffix in PICKLE_SUFFIXES]
    if pickled and not has_safetensors and not allow_pickle:
        raise UserError(f"{what} {root} has pickle weights only ({', '.join(pickled[:3])}), which can run code "
                        "when loaded; convert them to safetensors, or pass --allow-pickle if you trust them")
    if not any(p.suffix in (".safetensors", *PICKLE_SUFFIXES) for p in files):
        raise UserError(f"{what} {root} holds no weights (no .safetensors or .bin files)")
    for p in files:
        if p.suffix == ".safetensors":
            check_safetensors(p)


DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "F16": 2,
               "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}
"""Bytes per element of every dtype the safetensors format names (F4 and F6 pack several per byte)."""


class TensorEntry(BaseModel):
    """One tensor of a safetensors header: what its bytes must be."""

    model_config = ConfigDict(extra="forbid")

    dtype: str
    shape: list[Annotated[int, Field(ge=0, strict=True)]]
    data_offsets: tuple[Annotated[int, Field(ge=0, strict=True)], Annotated[int, Field(ge=0, strict=True)]]

    @model_validator(mode="after")
    def _bytes_fit(self) -> TensorEntry:
        begin, end = self.data_offsets
        if end < begin:
            raise ValueError(f"data_offsets {list(self.data_offsets)} end before they begin")
        size = DTYPE_BYTES.get(self.dtype)
        if size is None and self.dtype not in ("F4", "F6_E2M3", "F6_E3M2"):
            raise ValueError(f"dtype {self.dtype!r} is not one safetensors knows")
        if size is not None and math.prod(self.shape) * size != end - begin:
            raise ValueError(f"shape {self.shape} of {self.dtype} needs {math.prod(self.shape) * size:,} bytes, "
                             f"data_offsets give {end - begin:,}")
        return self


def check_safetensors(path: Path) -> None:
    """A safetensors file whose header parses, each tensor's shape and dtype matching the bytes its
    offsets give, laid end to end inside the file (a truncated, damaged or lying file is refused here,
    in one line, before any engine reads it). Reads the header only."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if n <= 0 or n > 100 * 2**20:
                raise ValueError("no valid header length")
            header = json.loads(fh.read(n).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        entries = {k: TensorEntry.model_validate(v) for k, v in header.items() if k != "__metadata__"}
    except ValidationError as err:
        raise UserError(f"{path} is not a readable safetensors file (tensor {validation_problem(err)}); it is "
                        "damaged — download or convert it again") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not a readable safetensors file ({err}); it is damaged — download or "
                        "convert it again") from None
    at = 0  # the tensors' bytes lie end to end from the start of the data, as the format requires
    for begin, end in sorted(e.data_offsets for e in entries.values()):
        if begin != at:
            raise UserError(f"{path} is not a readable safetensors file (tensor bytes {'overlap' if begin < at else 'skip'}"
                            f" at offset {min(begin, at):,}); it is damaged — download or convert it again")
        at = end
    need, size = 8 + n + at, path.stat().st_size
    if size < need:
        raise UserError(f"{path} is truncated ({size:,} bytes, its tensors need {need:,}); download it again")
    if size > need:
        raise UserError(f"{path} is not a readable safetensors file ({size - need:,} bytes past its last tensor); it "
                        "is damaged — download or convert it again")


def _signature(root: Path) -> tuple[tuple[str, int, int, int, int], ...]:
    """Name, size, inode, mtime and ctime of every file: a file rewritten in place changes its
    ctime even when its size is the same and its mtime was put back (os.utime, touch -r)."""
    out = []
    for p in model_files(root):
        st = p.stat()
        out.append((str(p.relative_to(root)), st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


@cache
def _files_sha256(root: str, signature: tuple[tuple[str, int, int, int, int], ...]) -> str:
    import hashlib

    h = hashlib.sha256()
    for rel, *_ in signature:
        h.update(rel.encode())
        h.update(file_sha256(Path(root) / rel).encode())
    return h.hexdigest()


def model_files_sha256(root: str | Path) -> str:
    """Hash of every file an engine may read (names and contents). Memoised on the files' sizes,
    inodes and change times: hashing gigabytes twice in one process is wasted time."""
    path = Path(root).resolve()
    return _files_sha256(str(path), _signature(path))


def local_model_dir(model: str, revision: str | None = None, *, trust_remote_code: bool = False,
                    allow_pickle: bool = False) -> Path:
    """A local directory holding the reference's files: the model itself when it is a directory,
    else a hub snapshot in the Hugging Face cache; checked by check_model_files either way."""
    p = Path(model).expanduser()
    if p.is_dir():
        root = p.resolve()
    else:
        try:
            from huggingface_hub import snapshot_download

            root = Path(snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS))
        except Exception as err:  # noqa: BLE001 - hub errors come in many types; all mean "cannot fetch"
            raise UserError(f"cannot fetch {model!r} from the Hugging Face hub to quantize it locally: "
                            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    check_model_files(root, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    return root


def input_widths(model: str) -> set[int]:
    """Input widths of a local llama-like model's linear layers (empty when its config is not at hand)."""
    path = Path(model).expanduser() / "config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(cfg, dict):
        return set()
    sizes = {k: cfg.get(k) for k in ("num_attention_heads", "head_dim", "hidden_size", "intermediate_size")}
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0) for v in sizes.values()):
        return set()  # a config that cannot describe a model: refused where the model itself is read
    heads, hidden = sizes["num_attention_heads"], sizes["hidden_size"]
    head_dim = sizes["head_dim"] or (hidden // heads if heads and hidden else None)
    return {int(w) for w in (hidden, sizes["intermediate_size"], heads * head_dim if heads and head_dim else None) if w}
