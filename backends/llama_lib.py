"""llama-cpp-python, loaded once: its log routed into Python logging, and the small readers of a
GGUF file that both building (quantize) and running (the engine) need."""

from __future__ import annotations

import collections
import ctypes
import logging
import os
from pathlib import Path
from typing import Any

from qlongbench.backends.base import Backend, cpu_threads
from qlongbench.backends.tokenizer_check import VocabView
from qlongbench.errors import UserError

log = logging.getLogger(__name__)


GGUF_MAGIC = b"GGUF"


_RECENT_ERRORS: collections.deque[str] = collections.deque(maxlen=8)


_LOG_CALLBACK: Any = None


_BACKEND_READY = False


def _llama_cpp() -> Any:
    """Import llama_cpp, route its log into Python logging (it prints to stderr otherwise)."""
    global _LOG_CALLBACK, _BACKEND_READY
    llama_cpp = Backend.require("llama_cpp", "gguf")
    if _LOG_CALLBACK is None:
        engine_log = logging.getLogger(f"{__name__}.llama_cpp")
        levels = {1: logging.DEBUG, 2: logging.WARNING, 3: logging.ERROR, 4: logging.DEBUG}
        last = [logging.DEBUG]

        def on_log(level: int, text: bytes, _user: Any) -> None:
            line = text.decode("utf-8", "replace").rstrip()
            py_level = last[0] if level == 5 else levels.get(level, logging.DEBUG)
            last[0] = py_level
            if py_level >= logging.ERROR and line:
                _RECENT_ERRORS.append(line)
            # llama.cpp's warnings are mostly load chatter (e.g. tokenizer notes): keep them at debug.
            if line:
                engine_log.log(logging.DEBUG if py_level < logging.ERROR else logging.INFO, "%s", line)

        _LOG_CALLBACK = llama_cpp.llama_log_callback(on_log)  # kept referenced: C holds the pointer
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
    if not _BACKEND_READY:
        llama_cpp.llama_backend_init()
        _BACKEND_READY = True
    return llama_cpp


def _last_engine_error() -> str:
    return _RECENT_ERRORS[-1] if _RECENT_ERRORS else "no reason given"


def llama_cpp_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("llama_cpp_python")
    except md.PackageNotFoundError:
        return _llama_cpp().__version__


def default_threads() -> int:
    """$OMP_NUM_THREADS when set (llama.cpp's CPU backend runs on OpenMP), else every usable core.
    On a machine shared with other busy processes fewer threads are faster: llama.cpp's threads
    wait for each other at every operation, so one descheduled thread stalls them all."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else cpu_threads()


def check_magic(path: Path) -> None:
    """A clear error for a file that is not GGUF at all, before llama.cpp parses it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as err:
        raise UserError(f"cannot read GGUF file {path}: {err.strerror or err}") from None
    if head != GGUF_MAGIC:
        raise UserError(f"{path} is not a GGUF file (it starts with {head!r}, not {GGUF_MAGIC!r}); "
                        "convert the model with llama.cpp's convert_hf_to_gguf.py, or leave out file= to let "
                        "qlongbench convert the reference")


def meta_str(llama_cpp: Any, model: Any, key: str) -> str | None:
    buf = ctypes.create_string_buffer(512)
    n = llama_cpp.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
    return buf.value.decode("utf-8", "replace") if n >= 0 else None


def ftype_name(llama_cpp: Any, value: int) -> str | None:
    for name in dir(llama_cpp):
        if name.startswith("LLAMA_FTYPE_MOSTLY_") and getattr(llama_cpp, name) == value:
            return name.removeprefix("LLAMA_FTYPE_MOSTLY_")
    return {0: "F32"}.get(value)


def gguf_vocab(llama_cpp: Any, model: Any) -> VocabView:
    vocab = llama_cpp.llama_model_get_vocab(model)
    n = llama_cpp.llama_vocab_n_tokens(vocab)
    tokens = tuple(llama_cpp.llama_vocab_get_text(vocab, i).decode("utf-8", "replace") for i in range(n))
    specials = {"bos": llama_cpp.llama_vocab_bos(vocab), "eos": llama_cpp.llama_vocab_eos(vocab)}
    return VocabView(tokens=tokens, specials={k: (v if v >= 0 else None) for k, v in specials.items()})
