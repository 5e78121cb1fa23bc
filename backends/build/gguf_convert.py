"""Building GGUF files: llama.cpp's own converter (convert_hf_to_gguf.py) to BF16 / F16, then
`llama_model_quantize` to the quantized types, each cached as an artifact.

The converter is not in the installed llama-cpp-python package, only in its sdist: it is found
through $LLAMA_CPP_DIR (a llama.cpp checkout), else the sdist matching the installed version is
fetched from the package registry once and the converter and its vendored gguf-py are kept in the
cache."""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from qlongbench.backends.base import LoadContext
from qlongbench.backends.build.artifacts import ArtifactCache, Prepared, path_sha256
from qlongbench.backends.build.model_files import local_model_dir, model_files_sha256
from qlongbench.backends.llama_lib import _last_engine_error, _llama_cpp, default_threads, llama_cpp_version
from qlongbench.errors import UserError
from qlongbench.types import QuantRecipe

log = logging.getLogger(__name__)


FILE_TYPES: dict[str, str] = {
    "gguf-bf16": "BF16", "gguf-f16": "F16", "gguf-q8_0": "Q8_0", "gguf-q6_k": "Q6_K",
    "gguf-q5_k_m": "Q5_K_M", "gguf-q4_k_m": "Q4_K_M", "gguf-q3_k_m": "Q3_K_M", "gguf-q2_k": "Q2_K",
}
"""Precision label -> llama.cpp file type (LLAMA_FTYPE_MOSTLY_<type>)."""


CONVERTED = {"BF16": "bf16", "F16": "f16"}
"""File types written by the converter itself (its --outtype); the others are quantized from BF16."""


QUANTIZE_FROM = "gguf-bf16"
"""Quantized types are made from the BF16 conversion: lossless for the usual BF16 checkpoints, and
the same file the engine-matched baseline loads."""


CONVERTER = "convert_hf_to_gguf.py"


def converter_script(cache_dir: Path) -> Path:
    """llama.cpp's convert_hf_to_gguf.py: from $LLAMA_CPP_DIR, else from the llama-cpp-python
    sdist of the installed version (fetched once into the cache)."""
    env = os.environ.get("LLAMA_CPP_DIR")
    if env:
        root = Path(env).expanduser()
        for candidate in (root / CONVERTER, root / "vendor" / "llama.cpp" / CONVERTER):
            if candidate.is_file():
                return candidate
        raise UserError(f"LLAMA_CPP_DIR={env} holds no {CONVERTER}; point it at a llama.cpp checkout "
                        "(or unset it to fetch the converter of the installed llama-cpp-python)")
    version = llama_cpp_version()
    root = cache_dir / "llama.cpp" / version
    script = root / CONVERTER
    if script.is_file() and not any(root.parent.glob(f".fetch-{version}-*")):
        return script
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{version}.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        for stale in root.parent.glob(f".fetch-{version}-*"):  # we hold the lock: a dead fetch's leftovers
            shutil.rmtree(stale, ignore_errors=True)
        if not script.is_file():
            _fetch_converter(version, root)
    return script


def _fetch_converter(version: str, root: Path) -> None:
    """Download the sdist with pip, keep only the converter, its `conversion` package and the
    vendored gguf-py (the registry's gguf package is too old for it), then rename into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".fetch-{version}-", dir=root.parent))
    try:
        log.info("fetching llama_cpp_python==%s sdist for llama.cpp's %s", version, CONVERTER)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"llama_cpp_python=={version}", "-d", str(tmp / "sdist")]
        done = run_child(cmd)
        archives = sorted((tmp / "sdist").glob("*.tar.gz")) if done.returncode == 0 else []
        if not archives:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no archive downloaded"]
            raise UserError(f"cannot fetch llama.cpp's {CONVERTER} (pip download llama_cpp_python=={version} "
                            f"failed: {tail[0]}); set LLAMA_CPP_DIR to a llama.cpp checkout instead")
        out = tmp / "llama.cpp"
        with tarfile.open(archives[0]) as tar:
            members = []
            for m in tar.getmembers():
                parts = m.name.split("/")
                if len(parts) < 4 or parts[1:3] != ["vendor", "llama.cpp"] or not (m.isfile() or m.isdir()):
                    continue
                rel = parts[3:]
                if (len(rel) == 1 and rel[0].endswith(".py")) or rel[0] in ("gguf-py", "conversion"):
                    m.name = "/".join(rel)
                    members.append(m)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(out, members=members, **kwargs)
        if not (out / CONVERTER).is_file():
            raise UserError(f"the llama_cpp_python=={version} sdist holds no vendor/llama.cpp/{CONVERTER}; "
                            "set LLAMA_CPP_DIR to a llama.cpp checkout")
        os.rename(out, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to kill it when its parent dies (a kill -9 of qlongbench
    must not leave a converter or a download running)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_child(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """A subprocess (argument list, no shell) that dies with this process, its output captured."""
    return subprocess.run(cmd, capture_output=True, text=True, check=False,
                          preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None, **kwargs)


def convert(model_dir: Path, outfile: Path, outtype: str, cache_dir: Path) -> None:
    """Run llama.cpp's converter on a Hugging Face model directory (argument list, no shell)."""
    script = converter_script(cache_dir)
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # use the vendored gguf-py
    cmd = [sys.executable, str(script), str(model_dir), "--outfile", str(outfile), "--outtype", outtype]
    log.info("converting %s to GGUF %s", model_dir, outtype)
    done = run_child(cmd, cwd=outfile.parent, env=env)
    if done.returncode != 0 or not outfile.is_file():
        lines = [ln for ln in (done.stderr + done.stdout).strip().splitlines() if ln.strip()]
        reason = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "no output")
        raise UserError(f"llama.cpp's converter could not convert {model_dir}: {reason.strip()}")


def quantize_file(src: Path, dst: Path, file_type: str, threads: int) -> None:
    llama_cpp = _llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{file_type}")
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.is_file():
        raise UserError(f"llama.cpp could not quantize {src.name} to {file_type} (code {rc}): {_last_engine_error()}")


def prepare_gguf(name: str, ctx: LoadContext, threads: int | None = None) -> Prepared:
    """The GGUF of the reference at the precision `name`, converted / quantized once (with `threads`
    CPU threads, default llama.cpp's) and cached."""
    file_type = FILE_TYPES[name]
    _llama_cpp()  # fail early, naming the extra, when llama-cpp-python is missing
    model_dir = local_model_dir(ctx.model, ctx.revision, trust_remote_code=ctx.trust_remote_code,
                                allow_pickle=ctx.allow_pickle)
    src_sha = model_files_sha256(model_dir)
    cache = ArtifactCache(ctx.cache_dir)
    script = converter_script(ctx.cache_dir)
    builder = {"llama_cpp_python": llama_cpp_version(), "converter_sha256": path_sha256(script)}
    if file_type in CONVERTED:
        recipe = QuantRecipe(method="gguf", quant_type=file_type, options={"converter": CONVERTER})

        def build(tmp: Path) -> Path:
            out = tmp / f"model-{file_type}.gguf"
            convert(model_dir, out, CONVERTED[file_type], ctx.cache_dir)
            return out
    else:
        based = prepare_gguf(QUANTIZE_FROM, ctx)
        base, base_path = based.artifact, based.path
        recipe = QuantRecipe(method="gguf", quant_type=file_type,
                             options={"converter": CONVERTER, "quantized_from": FILE_TYPES[QUANTIZE_FROM],
                                      "quantized_from_sha256": base.sha256})
        n_threads = threads or default_threads()

        def build(tmp: Path) -> Path:
            out = tmp / f"model-{file_type}.gguf"
            quantize_file(base_path, out, file_type, n_threads)
            return out
    return cache.get_or_build(kind="gguf", source=ctx.model, source_sha256=src_sha, recipe=recipe,
                              builder=builder, build=build)
