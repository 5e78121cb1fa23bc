"""What a model directory may make qlongbench do: its own code runs only with --trust-remote-code,
pickle weights load only with --allow-pickle (and any change of them is a new model hash, so an
artifact built from the old file is never reused), a run name never leaves reports/, an artifact
record never points outside its cache entry. For every engine, for `run` and for `quantize`.

Covered elsewhere, not repeated here: a cached artifact damaged in place (same size) is rebuilt and
artifact.json stores relative paths (tests/test_artifacts.py::test_a_damaged_entry_is_rebuilt,
::test_built_once_then_reused); a .bin-only model runs with --allow-pickle
(tests/test_reliability.py::test_pickle_weights_are_refused_without_allow_pickle)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from qlongbench.backends.build.model_files import model_files_sha256
from qlongbench.errors import UserError
from tests.reliability_helpers import assert_one_line, cli, run_argv, tree

ENGINES = ["bf16", "bnb-nf4", "gptq-int4", "gguf-q4_k_m"]

MARKER_CODE = '''
import pathlib

pathlib.Path({marker!r}).write_text("the model's own code ran")

from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer


class MarkerConfig(LlamaConfig):
    pass


class MarkerModel(LlamaForCausalLM):
    config_class = MarkerConfig


class MarkerTokenizer(LlamaTokenizer):
    pass
'''

CODE_WAYS = {
    # where the model declares its code -> (file with auto_map, its auto_map, ships marker_code.py)
    "config.json": ("config.json", {"AutoConfig": "marker_code.MarkerConfig",
                                    "AutoModelForCausalLM": "marker_code.MarkerModel"}, True),
    "tokenizer_config.json": ("tokenizer_config.json", {"AutoTokenizer": ["marker_code.MarkerTokenizer", None]}, True),
    "code-from-another-repo": ("config.json", {"AutoModelForCausalLM": "someone/else--marker_code.MarkerModel"},
                               False),
    "python-file-only": (None, None, True),
}


def code_model(tiny_model: Path, root: Path, way: str) -> tuple[Path, Path]:
    """tiny_model plus code that writes a marker file when imported; (model dir, marker path)."""
    model, marker = root / f"code-{way}", root / f"marker-{way}"
    shutil.copytree(tiny_model, model)
    config_name, auto_map, ships = CODE_WAYS[way]
    if ships:
        (model / "marker_code.py").write_text(MARKER_CODE.format(marker=str(marker)), encoding="utf-8")
    if config_name:
        data = json.loads((model / config_name).read_text(encoding="utf-8"))
        data["auto_map"] = auto_map
        (model / config_name).write_text(json.dumps(data, indent=2), encoding="utf-8")
    return model, marker


def pickle_model(tiny_model: Path, dst: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    shutil.copytree(tiny_model, dst)
    state = load_file(str(dst / "model.safetensors"))
    (dst / "model.safetensors").unlink()
    torch.save(state, dst / "pytorch_model.bin")
    return dst


def quantize_argv(model: Path, cache: Path, precisions: str, *extra: str) -> list[object]:
    return ["quantize", "--model", model, "--precisions", precisions, "--cache-dir", cache, "--device", "cpu", *extra]


# --- custom code ------------------------------------------------------------------------------

@pytest.mark.parametrize("way", list(CODE_WAYS))
@pytest.mark.parametrize("engine", ENGINES)
def test_custom_code_is_refused_without_trust_remote_code(capsys, tiny_model, tmp_path, engine, way):
    model, marker = code_model(tiny_model, tmp_path, way)
    out, cache = tmp_path / "run", tmp_path / "cache"
    rc, _, err = cli(capsys, run_argv(model, out, "--precisions", engine, "--cache-dir", str(cache)))
    assert rc == 2
    assert_one_line(err, "would run its own code", "--trust-remote-code")
    rc, _, err = cli(capsys, quantize_argv(model, cache, engine))
    assert rc == 2
    assert_one_line(err, "would run its own code", "--trust-remote-code")
    assert not marker.exists() and not out.exists() and tree(cache) == {}


@pytest.mark.parametrize("way", ["config.json", "code-from-another-repo"])
def test_the_builders_refuse_custom_code_when_called_directly(tiny_model, tiny_tokenizer, tmp_path, way):
    """Below the CLI, the GGUF and GPTQ builders (which hand the directory to third-party
    converters) check the directory themselves."""
    from qlongbench.backends.base import LoadContext
    from qlongbench.backends.build.gguf_convert import prepare_gguf
    from qlongbench.backends.build.gptq_quantize import prepare_gptq
    from qlongbench.backends.build.gptq_quantize import GPTQOptions

    model, marker = code_model(tiny_model, tmp_path, way)
    ctx = LoadContext(model=str(model), revision=None, device="cpu", cache_dir=tmp_path / "cache",
                      tokenizer=tiny_tokenizer)
    with pytest.raises(UserError, match="would run its own code"):
        prepare_gguf("gguf-bf16", ctx)
    with pytest.raises(UserError, match="would run its own code"):
        prepare_gptq("gptq-int4", 4, GPTQOptions(), ctx)
    assert not marker.exists() and tree(tmp_path / "cache") == {}


@pytest.mark.parametrize("engine", ["bf16", "bnb-nf4"])
def test_the_transformers_engines_never_import_untrusted_code(tiny_model, tiny_tokenizer, tmp_path, engine):
    """Below the CLI, an engine handed the directory anyway loads transformers' own Llama and never
    imports the directory's code."""
    from qlongbench.backends.base import LoadContext
    from tests.engine_fixtures import open_backend

    if engine.startswith("bnb"):
        pytest.importorskip("bitsandbytes", reason="the bnb extra is not installed")
    model, marker = code_model(tiny_model, tmp_path, "config.json")
    ctx = LoadContext(model=str(model), revision=None, device="cpu", cache_dir=tmp_path / "cache",
                      tokenizer=tiny_tokenizer)
    try:
        open_backend(engine, ctx).close()
    except UserError:
        pass
    assert not marker.exists()


def test_the_code_really_runs_with_trust_remote_code(capsys, monkeypatch, tiny_model, tmp_path):
    """The control that makes the refusals above mean something: trusted, the same directory's
    code is imported (the marker appears) and the run completes."""
    import transformers.dynamic_module_utils as dyn

    monkeypatch.setattr(dyn, "HF_MODULES_CACHE", str(tmp_path / "hf_modules"))
    model, marker = code_model(tiny_model, tmp_path, "config.json")
    rc, _, err = cli(capsys, run_argv(model, tmp_path / "run", "--trust-remote-code"))
    assert rc == 0, err
    assert marker.read_text() == "the model's own code ran"


# --- pickle weights ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pickled(tiny_model, tmp_path_factory) -> Path:
    return pickle_model(tiny_model, tmp_path_factory.mktemp("pickled") / "model")


@pytest.mark.parametrize("engine", ENGINES)
def test_pickle_only_weights_are_refused_without_allow_pickle(capsys, pickled, tmp_path, engine):
    out, cache = tmp_path / "run", tmp_path / "cache"
    rc, _, err = cli(capsys, run_argv(pickled, out, "--precisions", engine, "--cache-dir", str(cache)))
    assert rc == 2
    assert_one_line(err, "pickle weights only", "pytorch_model.bin", "--allow-pickle")
    rc, _, err = cli(capsys, quantize_argv(pickled, cache, engine))
    assert rc == 2
    assert_one_line(err, "pickle weights only", "--allow-pickle")
    assert not out.exists() and tree(cache) == {}


def _rewrite_bin(model: Path, *, keep_mtime: bool) -> None:
    """Change one weight of pytorch_model.bin in place (same size); optionally put its times back."""
    import torch

    path = model / "pytorch_model.bin"
    st = path.stat()
    state = torch.load(path, weights_only=True)
    name = next(iter(state))
    state[name] = state[name].clone()
    state[name].view(-1)[0] += 1.0
    torch.save(state, path)
    assert path.stat().st_size == st.st_size
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["edited", "edited-mtime-restored"])
def test_a_changed_bin_is_a_new_model_hash_and_artifact_key(pickled, tmp_path, keep_mtime):
    from qlongbench.backends.build.artifacts import artifact_key
    from qlongbench.types import QuantRecipe

    model = tmp_path / "model"
    shutil.copytree(pickled, model)
    recipe, builder = QuantRecipe(method="gguf", quant_type="BF16"), {"llama_cpp_python": "x"}
    before = model_files_sha256(model)
    _rewrite_bin(model, keep_mtime=keep_mtime)
    after = model_files_sha256(model)  # same process: the memo must not hand back the old hash
    assert after != before
    assert artifact_key(after, recipe, builder) != artifact_key(before, recipe, builder)


def test_a_gguf_built_from_an_old_bin_is_not_reused(capsys, pickled, tmp_path):
    """End to end with llama.cpp's converter: `quantize --allow-pickle` builds the GGUF, a second
    call finds it cached, and after the .bin changes the next call builds a new one."""
    from tests.engine_fixtures import use_converter

    pytest.importorskip("llama_cpp", reason="the gguf extra is not installed")
    why = use_converter()
    if why:
        pytest.skip(why)
    model, cache = tmp_path / "model", tmp_path / "cache"
    shutil.copytree(pickled, model)
    argv = quantize_argv(model, cache, "gguf-bf16", "--allow-pickle")
    outs = []
    for change in (False, False, True):
        if change:
            _rewrite_bin(model, keep_mtime=False)
        rc, out, err = cli(capsys, argv)
        assert rc == 0, err
        outs.append(out.split())
    assert outs[0][1] == "built" and outs[1][1] == "cached" and outs[2][1] == "built"
    assert outs[0][2] == outs[1][2] != outs[2][2]  # the artifact's path (its key) changed


# --- names and records that point elsewhere ---------------------------------------------------

def test_a_run_name_never_leaves_reports(capsys, monkeypatch, tiny_model, tmp_path):
    cwd = tmp_path / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    rc, out, err = cli(capsys, ["run", "--model", tiny_model, "--out", cwd / "runs" / "r", "--lengths", "256",
                                "--samples", "1", "-q", "--device", "cpu", "--name", "../../../x"])
    assert rc == 0, err
    reports = cwd / "reports"
    (made,) = list(reports.iterdir())
    assert (made / "index.html").is_file() and reports in made.resolve().parents
    outside = {p for p in tmp_path.rglob("*") if reports not in p.parents and p != reports
               and cwd / "runs" not in p.parents and p != cwd / "runs"}
    assert outside == {tmp_path / "a", tmp_path / "a" / "b", cwd}


def test_an_artifact_record_pointing_outside_its_entry_is_not_loaded(tmp_path):
    from qlongbench.backends.build.artifacts import ArtifactCache
    from qlongbench.types import QuantRecipe

    cache, calls = ArtifactCache(tmp_path / "cache"), []

    def build(tmp: Path) -> Path:
        calls.append(tmp)
        (tmp / "model.gguf").write_bytes(b"weights")
        return tmp / "model.gguf"

    kw = dict(kind="gguf", source="m", source_sha256="s" * 64, recipe=QuantRecipe(method="gguf"),
              builder={"tool": "1"}, build=build)
    first = cache.get_or_build(**kw)
    evil = tmp_path / "evil.gguf"
    evil.write_bytes(b"weights")  # same size and bytes: only the place differs
    record = first.path.parent / "artifact.json"
    data = json.loads(record.read_text())
    assert data["path"] == "model.gguf"  # stored relative to its entry: the cache can move
    data["path"] = os.path.relpath(evil, first.path.parent)
    record.write_text(json.dumps(data))
    assert cache.lookup("gguf", first.artifact.key) is None
    again = cache.get_or_build(**kw)
    assert again.built and len(calls) == 2 and again.path.parent == first.path.parent
