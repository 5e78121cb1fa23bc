"""Canonical JSON and sha256 helpers shared by samples, configs and artifacts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same value gives the same bytes anywhere."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def ids_sha256(ids: Iterable[int]) -> str:
    """Hash of a token-id sequence (comma-joined decimal), independent of container type."""
    return hashlib.sha256(",".join(str(int(i)) for i in ids).encode("ascii")).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_sha256(root: str | Path, suffixes: tuple[str, ...] | None = None) -> str:
    """Hash of every file below root (relative names and contents), in sorted order."""
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if suffixes and path.suffix not in suffixes:
            continue
        h.update(str(path.relative_to(root)).encode())
        h.update(file_sha256(path).encode())
    return h.hexdigest()
