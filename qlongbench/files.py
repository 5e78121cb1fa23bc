"""Writing files so that readers never see half of one, and names that never leave their folder.

Shared by the run directory, the artifact cache, the report and the gate. An OSError while writing
(a full disk, a read-only folder) becomes one UserError line naming the file; what was there
before stays whole."""

from __future__ import annotations

import errno
import logging
import os
import re
import tempfile
from pathlib import Path

from qlongbench.errors import UserError

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(*parts: object) -> str:
    """A file name made only of safe characters: names from configs never traverse directories."""
    name = "-".join(_SAFE.sub("_", str(p)) for p in parts).strip("._-")
    return name or "unnamed"


def write_error(path: Path, err: OSError) -> UserError:
    """One line for a failed write, with the fix for the usual causes."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"no space left on the device while writing {path}; free some space and run the same "
                         "command again (finished work is kept)")
    return UserError(f"cannot write {path}: {err.strerror or err}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, rename: readers never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, err) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def utf8_error_line(data: bytes, err: UnicodeDecodeError) -> int:
    """The 1-based line holding the first byte that is not UTF-8."""
    return data.count(b"\n", 0, err.start) + 1


def read_utf8(path: Path, what: str) -> str:
    """A text file's contents; one UserError line naming the file (and the line of a byte that is
    not UTF-8) when it cannot be read. `what` starts the message (e.g. 'haystack=file:x')."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{what}: cannot read {path}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{what}: {path}:{utf8_error_line(data, err)}: not UTF-8 text ({err.reason} at byte "
                        f"{err.start}); save it as UTF-8") from None


def read_jsonl_lines(path: Path, *, repair: bool = False, quiet: bool = False) -> list[tuple[int, str]]:
    """(line number, text) of the whole lines of a JSONL file. A last line without its newline is a
    torn write: it is dropped (and cut from the file when repair is true; `quiet`: a writer is at
    work, so the line is being written, not torn, and no warning is logged)."""
    if not path.exists():
        return []
    if not path.is_file():  # a directory, a device or a pipe in its place: never read (it may never end)
        raise UserError(f"{path} is not a regular file; restore it, or start the run over with --new")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        (log.debug if quiet else log.warning)("%s: dropping a torn last line (%d bytes)", path, len(data) - cut)
        if repair:
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
        data = data[:cut]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}:{utf8_error_line(data, err)}: not UTF-8 text (byte {err.start}); it was damaged — "
                        "restore it or start the run over with --new") from None
    return [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
