"""`qlongbench tasks` and `qlongbench precisions`: what the registry holds, with each task's and each
backend's options read from their options models (a docstring per field)."""

from __future__ import annotations

from qlongbench.backends.base import Backend
from qlongbench.registry import BACKENDS, TASKS, backend_class, names, task_class
from qlongbench.spec.precision import options_help


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
