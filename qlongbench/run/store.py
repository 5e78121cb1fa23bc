"""The run directory: run.json (the header), samples/*.jsonl (frozen prompts), records.jsonl
(append-only), logprobs/ (the log-prob reference's files).

Records are flushed and fsynced one line at a time; a torn last line (a kill mid-write) is cut off
when the run is opened again, so a resumed run appends after the last whole record.

A run directory proves its own contents (`load_run`): the samples files are bound to the header by
their sha256, every prompt hash is recomputed from the frozen ids, every record must belong to the
header's run, match its sample's prompt hash and its task's generation-config hash, and appear
once. The report, the gate and a resumed run all read through it. Every file is parsed strictly
against its typed model (qlongbench/types.py, run/header.py): a value qlongbench never writes is one
line naming the file, the line, the field and what is allowed.

A reader never waits for a run and never writes into it: while a run holds the lock, `load_run`
reads a snapshot — the whole records written so far (records first, so every sample they name is
already bound in the header read after them), samples files not yet bound left out."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from qlongbench.errors import UserError, validation_problem
from qlongbench.files import atomic_write_bytes, atomic_write_text, read_jsonl_lines, safe_name, write_error
from qlongbench.hashing import ids_sha256
from qlongbench.run.header import RunHeader
from qlongbench.run.verify import task_names, verify_records
from qlongbench.run.logprobs import LogprobFiles  # noqa: F401 - re-exported: the run directory's files
from qlongbench.spec.yaml_lines import Origin, key_lines
from qlongbench.types import Record, Sample

log = logging.getLogger(__name__)


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

    def holder(self) -> str | None:
        """Who holds the lock now ('pid N on HOST'), or None; the file is neither created nor changed.
        The holder writes itself into the file after taking the lock and empties it on release, so an
        empty file is free and a non-empty one is probed (a killed holder left its line behind)."""
        import fcntl

        try:
            with open(self.path, encoding="utf-8") as fh:
                text = fh.read().strip()
                if not text:
                    return None
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError as err:
                    return text if err.errno in (errno.EAGAIN, errno.EACCES) else None
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        except (OSError, UnicodeDecodeError):
            return None
        return None

    def release(self) -> None:
        if self._fh is not None:
            # Emptied, not removed: unlinking a flock file races with a process waiting on it.
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.close()
            self._fh = None


def record_line(record: Record) -> str:
    """A record as its one JSONL line (no newline)."""
    return json.dumps(record.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def samples_bytes(samples: Iterable[Sample]) -> bytes:
    return "".join(json.dumps(s.model_dump(mode="json"), ensure_ascii=False, sort_keys=True,
                              separators=(",", ":")) + "\n" for s in samples).encode("utf-8")


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

    @property
    def logprobs_dir(self) -> Path:
        return self.root / "logprobs"

    def exists(self) -> bool:
        return self.run_json.is_file()

    def holds_data(self) -> bool:
        """Whether samples, records or log-prob files are here (with or without a header)."""
        return (self.records_path.exists() or any(self.samples_dir.glob("*.jsonl"))
                or any(self.logprobs_dir.glob("*")))

    def check_writable(self) -> None:
        """Fail early, before any work, when the directory cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe", delete=True)
            probe.close()
        except OSError as err:
            raise UserError(f"cannot write to the output directory {self.root}: {err.strerror or err}") from None

    def clear(self) -> None:
        """Remove what a run wrote here (--new): header, samples, records, log-prob files."""
        for path in [self.run_json, self.records_path, *self.samples_dir.glob("*.jsonl"),
                     *self.logprobs_dir.glob("*")]:
            path.unlink(missing_ok=True)

    # --- run.json ----------------------------------------------------------------------------
    def read_header(self) -> RunHeader:
        if not self.exists():
            raise UserError(f"{self.root} is not a qlongbench run directory (no run.json)")
        try:
            text = self.run_json.read_text(encoding="utf-8")
            raw = json.loads(text)
        except OSError as err:
            raise UserError(f"cannot read {self.run_json}: {err.strerror or err}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise UserError(f"{self.run_json} is not valid JSON ({err}); restore it or start over with --new") from None
        if not isinstance(raw, dict):
            raise UserError(f"{self.run_json} must hold a JSON object, not {type(raw).__name__}; restore it or "
                            "start over with --new")
        try:
            return RunHeader.load(raw, str(self.run_json))
        except ValidationError as err:  # named FILE:LINE when the field is in the file (JSON read as YAML)
            line = Origin("run header", str(self.run_json), key_lines(text)).line_of(err.errors()[0]["loc"])
            where = f"{self.run_json}:{line}" if line else str(self.run_json)
            raise UserError(f"{where}: not a valid run header: {validation_problem(err)}; restore it "
                            "or start over with --new") from None

    def write_header(self, header: RunHeader) -> None:
        text = json.dumps(header.model_dump(mode="json"), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        atomic_write_text(self.run_json, text)

    # --- samples -----------------------------------------------------------------------------
    def samples_path(self, stem: str) -> Path:
        path = (self.samples_dir / f"{safe_name(stem)}.jsonl").resolve()
        if path.parent != self.samples_dir.resolve():
            raise UserError(f"refusing to write outside the run directory: {path}")
        return path

    def write_samples(self, path: Path, samples: Iterable[Sample]) -> str:
        """Write a samples file; returns its sha256 (to be bound in the header)."""
        data = samples_bytes(samples)
        atomic_write_bytes(path, data)
        return hashlib.sha256(data).hexdigest()

    def read_samples(self, path: Path, expected_sha256: str | None = None,
                     task_names: Mapping[str, str] | None = None) -> list[Sample]:
        """The samples of one file, each prompt hash recomputed from its ids; when the header binds
        the file, its bytes must hash to expected_sha256. `task_names` (task label -> registered name,
        from the run's plan) says whose metadata model each sample's metadata must satisfy."""
        if not path.is_file():
            raise UserError(f"{path} is missing (run.json binds it); restore it, or start the run over with --new")
        if expected_sha256 is not None:
            try:
                actual = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as err:
                raise UserError(f"cannot read {path}: {err.strerror or err}") from None
            if actual != expected_sha256:
                raise UserError(f"{path} was changed after the run froze it (sha256 {actual[:12]}…, run.json says "
                                f"{expected_sha256[:12]}…); restore it, or start the run over with --new")
        from qlongbench import registry

        out = []
        for n, line in read_jsonl_lines(path):
            try:
                sample = Sample.model_validate_json(line, strict=True)
            except ValidationError as err:
                raise UserError(f"{path}:{n}: not a valid sample: {validation_problem(err)}; restore the file, or "
                                "start the run over with --new") from None
            try:  # what the task reads back when it scores (each task types its own keys)
                meta = registry.metadata_model((task_names or {}).get(sample.task, sample.task))
                if meta is not None:
                    meta.model_validate(sample.metadata)
            except ValidationError as err:
                raise UserError(f"{path}:{n}: not a valid sample: metadata.{validation_problem(err)}; restore the "
                                "file, or start the run over with --new") from None
            if ids_sha256(sample.prompt_ids) != sample.prompt_sha256:
                raise UserError(f"{path}:{n}: the prompt ids of {sample.sample_id} no longer hash to its prompt_sha256 "
                                "(the file was edited); restore it, or start the run over with --new")
            out.append(sample)
        return out

    def all_samples(self, header: RunHeader | None = None, *, live: bool = False) -> list[Sample]:
        """Every frozen sample. With a header that binds files, exactly the bound files, verified
        (`live`: a run is writing, so a file it has not bound yet is left out, not refused)."""
        if header is not None and header.samples:
            present = {p.name for p in self.samples_dir.glob("*.jsonl")}
            stray = sorted(present - set(header.samples))
            if stray and not live:
                raise UserError(f"{self.samples_dir / stray[0]} is not one of this run's samples files (run.json "
                                "binds them); remove it, or start the run over with --new")
            out: list[Sample] = []
            for name, sha in sorted(header.samples.items()):
                path = self.samples_dir / name
                if not path.is_file():
                    raise UserError(f"{path} is missing (run.json binds it); restore it, or start over with --new")
                out.extend(self.read_samples(path, sha, task_names(header)))
            return out
        names = task_names(header) if header is not None else None
        return [s for path in sorted(self.samples_dir.glob("*.jsonl")) for s in self.read_samples(path, None, names)]

    def verify_for_resume(self, header: RunHeader) -> dict[str, list[Sample]]:
        """Before a resume writes anything: the samples files run.json binds (every one found, when a
        run was killed before it bound any) and every record, checked as load_run checks them. Returns
        the verified samples by file name; anything wrong is one UserError line naming the file."""
        names = task_names(header)
        if header.samples:
            by_file = {name: self.read_samples(self.samples_dir / name, sha, names)
                       for name, sha in header.samples.items()}
        else:
            by_file = {p.name: self.read_samples(p, None, names) for p in sorted(self.samples_dir.glob("*.jsonl"))}
        samples = {s.sample_id: s for ss in by_file.values() for s in ss}
        numbered = self.numbered_records()
        verify_records(header, samples, [r for _, r in numbered], self.records_path, [n for n, _ in numbered])
        return by_file

    @staticmethod
    def file_sha256(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    # --- records -----------------------------------------------------------------------------
    def records(self, *, repair: bool = False, live: bool = False) -> list[Record]:
        """Every whole record (`live`: a run is appending, so a last line without its newline is a
        record being written, left out without a warning)."""
        return [r for _, r in self.numbered_records(repair=repair, live=live)]

    def numbered_records(self, *, repair: bool = False, live: bool = False) -> list[tuple[int, Record]]:
        """Every whole record with its line number in records.jsonl (see `records`)."""
        out = []
        for n, line in read_jsonl_lines(self.records_path, repair=repair, quiet=live):
            try:
                out.append((n, Record.model_validate_json(line, strict=True)))
            except ValidationError as err:
                raise UserError(f"{self.records_path}:{n}: not a valid record: {validation_problem(err)}; restore "
                                "the file, or start the run over with --new") from None
        return out

    def open_records(self) -> RecordWriter:
        return RecordWriter(self.records_path)


class HeaderBook:
    """run.json while an invocation holds the run directory: the one place the header is written
    from (opened or resumed, samples files bound, what each unit loaded and where)."""

    def __init__(self, run_dir: RunDir, header: RunHeader):
        self.run_dir = run_dir
        self.header = header
        self.update()

    def update(self, **changes: object) -> RunHeader:
        """The header with `changes`, written atomically."""
        if changes:
            self.header = self.header.model_copy(update=changes)
        self.run_dir.write_header(self.header)
        return self.header


class RecordWriter:
    """Appends one record per line; each line is flushed and fsynced before the next is run."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")
        except OSError as err:
            raise write_error(path, err) from None

    def append(self, record: Record) -> None:
        line = record_line(record)
        try:
            self._fh.write(line + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as err:
            # A partial line may be on disk: the next open cuts it (a torn last line).
            raise write_error(self.path, err) from None

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class RunContents:
    """A run directory read and verified: what the analysis and the gate work from."""

    root: Path
    """The run directory."""
    header: RunHeader
    """run.json."""
    samples: dict[str, Sample]
    """Frozen samples by id (prompt hashes recomputed)."""
    records: list[Record]
    """Every record, each verified against its sample and the header."""
    in_progress: str | None = None
    """'pid N on HOST' when a run was writing the directory as it was read (a snapshot), else None."""


def run_in_progress(root: str | Path) -> str | None:
    """'pid N on HOST' while a run holds the directory's lock, else None (nothing is written)."""
    return RunLock(Path(root).resolve()).holder()


def load_run(root: str | Path) -> RunContents:
    """Read and verify a run directory (see verify_records); a snapshot while a run writes it."""
    rd = RunDir(root)
    if not rd.exists():
        rd.read_header()  # the one line for a directory that is not a run
    live = run_in_progress(rd.root)
    numbered = rd.numbered_records(live=live is not None)  # before the header: the samples they name are bound in it
    records = [r for _, r in numbered]
    header = rd.read_header()
    samples: dict[str, Sample] = {}
    for s in rd.all_samples(header, live=live is not None):
        if s.sample_id in samples:
            raise UserError(f"two frozen samples share the id {s.sample_id} in {rd.samples_dir}; start over with --new")
        samples[s.sample_id] = s
    verify_records(header, samples, records, rd.records_path, [n for n, _ in numbered])
    return RunContents(root=rd.root, header=header, samples=samples, records=records, in_progress=live)
