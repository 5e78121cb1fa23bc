"""Backends and tasks are found through entry points, so a new one touches its module and its
registration in pyproject.toml only. Names are precision labels (group qlongbench.backends) and
task names (group qlongbench.tasks)."""

from __future__ import annotations

import difflib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from qlongbench.errors import UserError

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


def load(group: str, name: str) -> Any:
    """The class registered under name; UserError with 'did you mean' otherwise."""
    eps = _entry_points(group)
    if name not in eps:
        kind = "precision" if group == BACKENDS else "task"
        raise UserError(unknown_name_message(kind, name, sorted(eps)))
    return eps[name].load()


def backend_class(precision: str) -> Any:
    return load(BACKENDS, precision)


def task_class(name: str) -> Any:
    return load(TASKS, name)


def canonical_task_name(name: str) -> str:
    """Aliases (niah -> niah-single) resolve to the class's own name."""
    return task_class(name).name
