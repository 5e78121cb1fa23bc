"""The run directory: run.json, samples/*.jsonl (frozen prompts), records.jsonl (append-only).

Records are flushed and fsynced one line at a time; a torn last line (a kill mid-write) is cut
off when the run is opened again, so a resumed run appends after the last whole record."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from qlongbench.errors import UserError
from qlongbench.types import Record, Sample

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(*parts: object) -> str:
    """A file name made only of safe characters: names from configs never traverse directories."""
    name = "-".join(_SAFE.sub("_", str(p)) for p in parts).strip("._-")
    return name or "unnamed"


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temp file in the same directory, fsync, rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_jsonl_lines(path: Path, *, repair: bool = False) -> list[str]:
    """Whole lines of a JSONL file. A last line without its newline is a torn write: it is
    dropped (and cut from the file when repair is true)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        log.warning("%s: dropping a torn last line (%d bytes)", path, len(data) - cut)
        if repair:
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
        data = data[:cut]
    return [line for line in data.decode("utf-8").split("\n") if line.strip()]


class RunLock:
    """An exclusive flock on RUN_DIR/.lock; the holder's pid and host are written inside."""

    def __init__(self, root: Path):
        self.path = root / ".lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise UserError(f"run directory {self.path.parent} is in use by {holder}; wait for it to finish "
                            "or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def records_path(self) -> Path:
        return self.root / "records.jsonl"

    @property
    def samples_dir(self) -> Path:
        return self.root / "samples"

    def exists(self) -> bool:
        return self.run_json.is_file()

    def check_writable(self) -> None:
        """Fail early, before any work, when the directory cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe", delete=True)
            probe.close()
        except OSError as err:
            raise UserError(f"cannot write to the output directory {self.root}: {err.strerror or err}") from None

    # --- run.json ----------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        if not self.exists():
            raise UserError(f"{self.root} is not a qlongbench run directory (no run.json)")
        try:
            return json.loads(self.run_json.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise UserError(f"{self.run_json} is not valid JSON: {err}") from None

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_text(self.run_json, json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n")

    # --- samples -----------------------------------------------------------------------------
    def samples_path(self, task: str, instruction_language: str, language: str, length: int) -> Path:
        lang = language if instruction_language == language else f"{instruction_language}_{language}"
        path = (self.samples_dir / f"{safe_name(task, lang, length)}.jsonl").resolve()
        if path.parent != self.samples_dir.resolve():
            raise UserError(f"refusing to write outside the run directory: {path}")
        return path

    def write_samples(self, path: Path, samples: Iterable[Sample]) -> None:
        text = "".join(json.dumps(s.model_dump(mode="json"), ensure_ascii=False, sort_keys=True,
                                  separators=(",", ":")) + "\n" for s in samples)
        atomic_write_text(path, text)

    def read_samples(self, path: Path) -> list[Sample]:
        out = []
        for n, line in enumerate(read_jsonl_lines(path), 1):
            try:
                out.append(Sample.model_validate_json(line))
            except ValidationError as err:
                raise UserError(f"{path}:{n}: not a valid sample ({err.errors()[0]['msg']})") from None
        return out

    def all_samples(self) -> Iterator[Sample]:
        for path in sorted(self.samples_dir.glob("*.jsonl")):
            yield from self.read_samples(path)

    # --- records -----------------------------------------------------------------------------
    def records(self, *, repair: bool = False) -> list[Record]:
        out = []
        for n, line in enumerate(read_jsonl_lines(self.records_path, repair=repair), 1):
            try:
                out.append(Record.model_validate_json(line))
            except ValidationError as err:
                raise UserError(f"{self.records_path}:{n}: not a valid record ({err.errors()[0]['msg']})") from None
        return out

    def open_records(self) -> RecordWriter:
        return RecordWriter(self.records_path)


class RecordWriter:
    """Appends one record per line; each line is flushed and fsynced before the next is run."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")

    def append(self, record: Record) -> None:
        line = json.dumps(record.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
