"""Backends and tasks are found through entry points, so a new one touches its module and its
registration in pyproject.toml only. Names are precision labels (group qlongbench.backends) and
task names (group qlongbench.tasks)."""

from __future__ import annotations

import difflib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

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


def canonical_task_name(name: str) -> str:
    """Aliases (niah -> niah-single) resolve to the class's own name."""
    return task_class(name).name


def task_listing() -> list[str]:
    """`qlongbench tasks`: each task with its aliases, metric, languages and options (a task whose
    module or dependency is missing is listed as unavailable, not fatal)."""
    out: list[str] = []
    seen: dict[str, list[str]] = {}
    for name in names(TASKS):
        try:
            cls = task_class(name)
        except ImportError as err:
            out.append(f"{name}  (unavailable: {err})")
            continue
        seen.setdefault(cls.name, []).append(name)
    for canonical, found in seen.items():
        cls = task_class(canonical)
        aliases = [n for n in found if n != canonical]
        out.append(f"{canonical}{'  (alias: ' + ', '.join(aliases) + ')' if aliases else ''}")
        out.append(f"    {cls.description}")
        out.append(f"    metric: {cls.metric}; answer budget {cls.default_max_new_tokens} tokens")
        out.append(f"    languages: {', '.join(cls.languages())}")
        opts = cls.Options.model_fields
        if opts:
            out.append("    options: " + "; ".join(f"{k}={f.default!r} ({' '.join(f.description.split())})"
                                                 if f.description else f"{k}={f.default!r}" for k, f in opts.items()))
    return out


def precision_listing() -> list[str]:
    """`qlongbench precisions`: each label with its engine and what it is; after each backend's labels,
    the options they take (name:key=value), read from the backend's options model."""
    from qlongbench.spec.precision import options_help

    out: list[str] = []
    by_class: dict[type[Backend], list[str]] = {}
    for name in names(BACKENDS):
        try:
            by_class.setdefault(backend_class(name), []).append(name)
        except ImportError as err:
            out.append(f"{name:14s} (unavailable: {err})")
    for cls, labels in by_class.items():
        extra = f" [extra: {cls.extra}]" if cls.extra else ""
        out += [f"{name:14s} {cls.engine:13s} {cls.description}{extra}" for name in labels]
        options = options_help(cls.Options)
        if options:
            out.append(f"    options of {', '.join(labels)}:")
            out += [f"      {line}" for line in options]
    return out
