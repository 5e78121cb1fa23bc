"""The cache of quantized artifacts that qlongbench builds (GGUF files, GPTQ checkpoints).

Layout: ``<cache_dir>/<kind>/<key>/`` holds the artifact and ``artifact.json`` (its record). The key
is the sha256 of the source weights' hash, the full recipe and the builder's version, so a changed
model, recipe or converter builds a new artifact and never reuses a stale one.

A build runs in a temporary directory beside its final place and is renamed into place only once it
is complete (``os.rename`` of a directory is atomic on one filesystem): an interrupted build leaves a
``.build-*`` directory that is never loaded and is removed by the next build of the same key. A
per-key file lock makes two processes building the same artifact wait for each other instead of
building it twice."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from qlongbench.errors import UserError
from qlongbench.hashing import file_sha256, sha256_json, tree_sha256
from qlongbench.types import Frozen, QuantRecipe

log = logging.getLogger(__name__)

RECORD_NAME = "artifact.json"


class Artifact(Frozen):
    """A quantized artifact: what was built, from what, how, and where it lies."""

    kind: str
    """Which engine's artifact: gguf or gptq."""
    key: str
    """Cache key: sha256 of source hash + recipe + builder versions."""
    path: str
    """The file or directory an engine loads, relative to the artifact's entry directory (the
    cache can move; a record never points outside its entry)."""
    sha256: str
    """sha256 of the artifact's bytes (of the file, or of every file of a directory)."""
    size_bytes: int
    """Bytes on disk."""
    source: str
    """Reference model it was built from (directory or hub id)."""
    source_sha256: str
    """Hash of the reference's weights, configs and tokenizer files."""
    recipe: QuantRecipe
    """How it was quantized."""
    builder: dict[str, str]
    """Versions of the tools that built it (llama.cpp converter, gptqmodel ...)."""
    built_at: str
    """UTC ISO-8601 time the build finished."""
    build_seconds: float
    """Wall time of the build."""


@dataclass(frozen=True)
class Prepared:
    """An artifact ready to load, and whether this call had to build it."""

    artifact: Artifact
    """The artifact."""
    path: Path
    """Absolute path of what an engine loads (its content hash checked)."""
    built: bool
    """True when this call built it; False when it came from the cache."""


def artifact_key(source_sha256: str, recipe: QuantRecipe, builder: dict[str, str]) -> str:
    return sha256_json({"source": source_sha256, "recipe": recipe.model_dump(mode="json"), "builder": builder})


def path_sha256(path: Path) -> str:
    """sha256 of a file, or of every file below a directory (names and contents)."""
    return file_sha256(path) if path.is_file() else tree_sha256(path)


def path_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class ArtifactCache:
    """Quantized artifacts under one root directory, built once and reused."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def check_writable(self) -> None:
        """Fail early, before a run directory is touched, when the cache cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe"):
                pass
        except OSError as err:
            raise UserError(f"cannot write to the artifact cache {self.root}: {err.strerror or err}; "
                            "choose another with --cache-dir or QLONGBENCH_CACHE") from None

    def entry_dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def lookup(self, kind: str, key: str) -> tuple[Artifact, Path] | None:
        """The complete artifact stored under key and its absolute path, or None. Its bytes are
        hashed again and compared with the record: a file damaged in place is rebuilt, never used."""
        record = self.entry_dir(kind, key) / RECORD_NAME
        if not record.is_file():
            return None
        try:
            art = Artifact.model_validate_json(record.read_text(encoding="utf-8"))
        except (ValidationError, OSError) as err:
            log.warning("ignoring unreadable artifact record %s: %s", record, err)
            return None
        entry = self.entry_dir(kind, key).resolve()
        path = (entry / art.path).resolve()
        if entry not in path.parents or not path.exists() or path_size(path) != art.size_bytes \
                or path_sha256(path) != art.sha256:
            log.warning("cached artifact %s is missing or changed on disk; it will be rebuilt", path)
            return None
        return art, path

    @contextlib.contextmanager
    def _locked(self, kind: str, key: str) -> Iterator[None]:
        parent = self.root / kind
        try:
            parent.mkdir(parents=True, exist_ok=True)
            fh = open(parent / f".{key}.lock", "a+")
        except OSError as err:
            raise UserError(f"cannot write to the artifact cache {self.root}: {err.strerror or err}; "
                            "choose another with --cache-dir or QLONGBENCH_CACHE") from None
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def get_or_build(self, *, kind: str, source: str, source_sha256: str, recipe: QuantRecipe,
                     builder: dict[str, str], build: Callable[[Path], Path]) -> Prepared:
        """The cached artifact for (source, recipe, builder), building it first if needed.

        `build(tmp_dir)` writes the artifact inside the empty directory tmp_dir and returns its path
        (a file or a directory inside tmp_dir)."""
        key = artifact_key(source_sha256, recipe, builder)
        found = self.lookup(kind, key)
        if found is not None:
            log.info("reusing cached %s artifact %s", kind, found[1])
            return Prepared(artifact=found[0], path=found[1], built=False)
        with self._locked(kind, key):
            found = self.lookup(kind, key)  # another process may have built it while we waited
            if found is not None:
                log.info("reusing cached %s artifact %s", kind, found[1])
                return Prepared(artifact=found[0], path=found[1], built=False)
            final = self.entry_dir(kind, key)
            parent = final.parent
            for stale in parent.glob(f".build-{key}-*"):
                log.info("removing an interrupted build %s", stale)
                shutil.rmtree(stale, ignore_errors=True)
            if final.exists():  # a record-less or damaged entry: never load it, rebuild it
                shutil.rmtree(final)
            tmp = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=parent))
            try:
                t0 = time.perf_counter()
                log.info("building %s artifact for %s (%s)", kind, source, recipe.quant_type or recipe.method)
                built = Path(build(tmp)).resolve()
                if not built.exists() or tmp.resolve() not in built.parents:
                    raise RuntimeError(f"artifact builder returned {built}, which is not inside {tmp}")
                seconds = time.perf_counter() - t0
                art = Artifact(kind=kind, key=key, path=str(built.relative_to(tmp.resolve())),
                               sha256=path_sha256(built), size_bytes=path_size(built), source=source,
                               source_sha256=source_sha256, recipe=recipe, builder=builder,
                               built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               build_seconds=round(seconds, 3))
                _write_synced(tmp / RECORD_NAME, json.dumps(art.model_dump(mode="json"), indent=2) + "\n")
                _fsync_tree(tmp)
                os.rename(tmp, final)
                _fsync_dir(parent)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        path = (final / art.path).resolve()
        log.info("built %s artifact %s in %.1fs", kind, path, art.build_seconds)
        return Prepared(artifact=art, path=path, built=True)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_tree(root: Path) -> None:
    """Flush every file of a finished build before the rename makes it visible."""
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
