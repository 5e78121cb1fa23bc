"""The artifact cache's contract: built once, keyed by source + recipe + builder, and an interrupted
or damaged build is never loaded. The builders here write plain files: the cache is what is under
test (the engines' own builds are tested in test_engines_*.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qlongbench.backends.build.artifacts import ArtifactCache, artifact_key
from qlongbench.backends.build.model_files import model_files_sha256
from qlongbench.types import QuantRecipe

RECIPE = QuantRecipe(method="gguf", quant_type="Q4_K_M")
BUILDER = {"tool": "1.0"}


def writer(calls: list[str], content: bytes = b"weights"):
    def build(tmp: Path) -> Path:
        calls.append(str(tmp))
        (tmp / "model.bin").write_bytes(content)
        return tmp / "model.bin"

    return build


def get(cache: ArtifactCache, build, recipe: QuantRecipe = RECIPE, source: str = "s" * 64):
    return cache.get_or_build(kind="gguf", source="model", source_sha256=source, recipe=recipe, builder=BUILDER,
                              build=build)


def test_built_once_then_reused(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    first = get(cache, writer(calls))
    second = get(cache, writer(calls))
    assert first.built and not second.built and len(calls) == 1
    assert second.artifact == first.artifact and second.path == first.path
    art = first.artifact
    assert first.path.read_bytes() == b"weights" and art.size_bytes == 7
    assert not Path(art.path).is_absolute()  # the record never pins the cache's location
    assert art.key == artifact_key("s" * 64, RECIPE, BUILDER) and first.path.parent.name == art.key
    assert not list((tmp_path / "gguf").glob(".build-*"))


def test_key_follows_source_recipe_and_builder(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    a = get(cache, writer(calls)).artifact
    b = get(cache, writer(calls), recipe=RECIPE.model_copy(update={"quant_type": "Q8_0"})).artifact
    c = get(cache, writer(calls), source="t" * 64).artifact
    assert len({a.key, b.key, c.key}) == 3 and len(calls) == 3
    assert artifact_key("s" * 64, RECIPE, {"tool": "2.0"}) != a.key


@pytest.mark.parametrize("error", [RuntimeError("converter crashed"), KeyboardInterrupt()])
def test_an_interrupted_build_leaves_nothing_that_loads(tmp_path, error):
    cache = ArtifactCache(tmp_path)

    def half(tmp: Path) -> Path:
        (tmp / "model.bin").write_bytes(b"half")
        raise error

    with pytest.raises(type(error)):
        get(cache, half)
    assert [p.name for p in (tmp_path / "gguf").iterdir() if not p.name.endswith(".lock")] == []
    calls: list[str] = []
    assert get(cache, writer(calls)).built and len(calls) == 1


def test_a_killed_build_directory_is_swept_and_never_loaded(tmp_path):
    """A process killed mid-build leaves .build-<key>-* behind (no rename happened): it is not an
    entry, and the next build of that key removes it."""
    cache = ArtifactCache(tmp_path)
    key = artifact_key("s" * 64, RECIPE, BUILDER)
    stale = tmp_path / "gguf" / f".build-{key}-dead"
    stale.mkdir(parents=True)
    (stale / "model.bin").write_bytes(b"half")
    assert cache.lookup("gguf", key) is None
    calls: list[str] = []
    prepared = get(cache, writer(calls))
    assert prepared.built and not stale.exists()


def test_a_damaged_entry_is_rebuilt(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []
    first = get(cache, writer(calls))
    art = first.artifact
    first.path.write_bytes(b"weights, then some")  # changed on disk after it was built
    assert cache.lookup("gguf", art.key) is None
    again = get(cache, writer(calls))
    assert again.built and len(calls) == 2 and again.path.read_bytes() == b"weights"
    again.path.write_bytes(b"WEIGHTS")  # damaged in place: same size, other bytes
    assert cache.lookup("gguf", art.key) is None
    third = get(cache, writer(calls))
    assert third.built and len(calls) == 3 and third.path.read_bytes() == b"weights"
    (third.path.parent / "artifact.json").write_text("{not json")
    assert cache.lookup("gguf", art.key) is None


def test_the_cache_can_move(tmp_path):
    cache, calls = ArtifactCache(tmp_path / "a"), []
    get(cache, writer(calls))
    (tmp_path / "a").rename(tmp_path / "b")
    moved = get(ArtifactCache(tmp_path / "b"), writer(calls))
    assert not moved.built and len(calls) == 1 and moved.path.read_bytes() == b"weights"


@pytest.mark.parametrize("changed", ["model.safetensors", "config.json", "tokenizer.model", "pytorch_model.bin",
                                     "modeling_x.py", "chat_template.jinja"])
def test_model_hash_covers_every_file_an_engine_may_read(tmp_path, changed):
    model = tmp_path / "m"
    model.mkdir()
    for name in ("model.safetensors", "config.json", "tokenizer.model", "pytorch_model.bin", "modeling_x.py",
                 "chat_template.jinja"):
        (model / name).write_bytes(name.encode())
    (model / ".cache").mkdir()
    (model / ".cache" / "x").write_text("hub bookkeeping")
    before = model_files_sha256(model)
    (model / ".cache" / "x").write_text("other bookkeeping")
    assert model_files_sha256(model) == before  # hidden files are not the model's
    (model / changed).write_bytes(b"changed in place")
    os.utime(model / changed, ns=(1, 1))
    assert model_files_sha256(model) != before
