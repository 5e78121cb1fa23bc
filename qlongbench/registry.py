"""Backends and tasks are found through entry points, so a new one touches its module and its
registration in pyproject.toml only. Names are precision labels (group qlongbench.backends) and
task names (group qlongbench.tasks)."""

from __future__ import annotations

import difflib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from pydantic import BaseModel

from qlongbench.errors import UserError

if TYPE_CHECKING:  # typing only: importing the base classes here would cost nothing, but keep it lean
    from qlongbench.backends.base import Backend
    from qlongbench.tasks.base import Task

BACKENDS = "qlongbench.backends"
TASKS = "qlongbench.tasks"


@cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def names(group: str) -> list[str]:
    return sorted(_entry_points(group))


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"unknown {kind} {name!r}: {hint}known: {', '.join(known)}"


def _load(group: str, name: str) -> object:
    """What is registered under name; UserError with 'did you mean' otherwise."""
    eps = _entry_points(group)
    if name not in eps:
        kind = "precision" if group == BACKENDS else "task"
        raise UserError(unknown_name_message(kind, name, sorted(eps)))
    return eps[name].load()


def backend_class(name: str) -> type[Backend]:
    """The Backend subclass registered under a precision name (gguf-q4_k_m, not a whole label)."""
    from qlongbench.backends.base import Backend

    cls = _load(BACKENDS, name)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise UserError(f"the entry point for precision {name} ({cls!r}) is not a qlongbench Backend")
    return cls


def task_class(name: str) -> type[Task]:
    """The Task subclass registered under a task name (niah-single, or an alias such as niah)."""
    from qlongbench.tasks.base import Task

    cls = _load(TASKS, name)
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise UserError(f"the entry point for task {name} ({cls!r}) is not a qlongbench Task")
    return cls


def metadata_model(task: str) -> type[BaseModel] | None:
    """The model a task's sample metadata is validated against when a samples file is read (the
    task's `Metadata`); None for a task not installed here (nothing here will score its samples)."""
    try:
        return task_class(task).Metadata
    except (UserError, ImportError):
        return None


def canonical_task_name(name: str) -> str:
    """Aliases (niah -> niah-single) resolve to the class's own name."""
    return task_class(name).name
