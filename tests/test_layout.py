"""The layout is the data flow: spec -> run -> analysis -> render | gate, engines (backends/) and
task families (tasks/) below the run. Checked from the source itself: no import circles, no arrow
that runs back up the flow, no module over 400 lines, no capability probed with hasattr."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"qlongbench": ROOT / "qlongbench", "qlongbench.backends": ROOT / "backends",
            "qlongbench.tasks": ROOT / "tasks"}
MAX_LINES = 400

# Rooms in flow order: a module may import its own room, the shared foundation, and rooms before it.
FLOW = ["spec", "tasks", "backends", "run", "analysis", "render", "gate", "harness", "cli"]
ALLOWED_SIDEWAYS = {("gate", "render")}
"""gate prints drops with the same number formatting as the report (render.text)."""


def module_name(path: Path) -> str:
    for package, root in PACKAGES.items():
        if root in path.parents:
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            return ".".join([package, *parts])
    raise ValueError(path)


def modules() -> dict[str, Path]:
    out = {}
    for root in PACKAGES.values():
        for path in root.rglob("*.py"):
            out[module_name(path)] = path
    return out


def room(name: str) -> str:
    """The room of a module: spec, run, ..., or 'foundation' for qlongbench's top-level modules."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in FLOW:
        return parts[1]
    return "foundation"


def imports(path: Path, known: set[str]) -> set[str]:
    """Project modules a file imports (top-level and lazy imports alike)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n:
                found.add(n)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(path, known) - {name} for name, path in mods.items()}


def test_no_import_circles():
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # A package's __init__ importing its own submodules is not a circle of the flow.
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    assert circles == [], f"import circles: {circles}"


def test_no_arrow_runs_back_up_the_flow():
    back = []
    for src, targets in graph().items():
        a = room(src)
        for dst in targets:
            b = room(dst)
            if a == "foundation" or b == "foundation" or a == b or (a, b) in ALLOWED_SIDEWAYS:
                continue
            if a in FLOW and b in FLOW and FLOW.index(b) > FLOW.index(a):
                back.append(f"{src} -> {dst}")
    assert back == [], "imports against the data flow:\n" + "\n".join(sorted(back))


def test_the_foundation_imports_no_room():
    """qlongbench's top-level modules (types, errors, hashing, files, memory, tokenizer, registry) are
    the shared vocabulary: they import nothing from the rooms (the registry loads them lazily, by name)."""
    bad = [f"{src} -> {dst}" for src, targets in graph().items() if room(src) == "foundation"
           and src != "qlongbench.registry" for dst in targets if room(dst) != "foundation"]
    assert bad == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name):
    path = modules()[name]
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (limit {MAX_LINES}): split it by job"


def test_capabilities_are_declared_not_probed():
    """No hasattr/getattr probing for a capability a base class does not declare."""
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr":
                target = node.args[1] if len(node.args) > 1 else None
                if isinstance(target, ast.Constant) and target.value in {
                        "generate_batch", "batch_invariant", "engine_baseline", "uses_logprobs", "run_logprobs",
                        "prepare_artifact", "iter_logprobs", "logprob_scorer", "supports_batches"}:
                    offenders.append(f"{name}: hasattr(..., {target.value!r})")
    assert offenders == []
