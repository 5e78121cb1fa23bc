"""The layout is the data flow: spec -> run -> analysis -> render | gate, engines (backends/) and
task families (tasks/) below the run. Checked from the source itself: no import circles, no arrow
that runs back up the flow, no module over 400 lines, no capability probed (hasattr / getattr with a
default) on our own objects."""

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


PROBES_OF_THIRD_PARTY_OBJECTS: dict[str, tuple[str, set[str]]] = {
    "qlongbench.cli": ("argparse Namespace: the subcommands share these readers but each parser defines "
                       "only its own flags", {"command", "at_length", "reference", "candidate", "max_drop",
                                               "max_relative_drop", "min_samples", "alpha", "allow_no_pass",
                                               "min_reference", "<name>", "SIGPIPE"}),
    "qlongbench.memory": ("transformers / remote-code model configs: fields differ by architecture",
                          {"<k>", "get_text_config"}),
    "qlongbench.harness.plugin": ("transformers config and tokenizer: optional fields",
                                  {"max_position_embeddings", "bos_token"}),
    "qlongbench.run.bundled_model": ("transformers config: optional fields", {"quantization_config", "<k>"}),
    "qlongbench.run.model": ("transformers config: optional fields", {"<k>", "rope_scaling"}),
    "qlongbench.run.ray_executor": ("Ray's exceptions: only some carry the unit's own error as .cause", {"cause"}),
    "qlongbench.spec.yaml_lines": ("PyYAML's errors: only marked ones carry a position", {"problem_mark", "problem"}),
    "qlongbench.tokenizer": ("transformers tokenizers: optional special tokens and template",
                             {"chat_template", "<name>"}),
    "qlongbench.backends.base": ("os (platform-dependent) and transformers configs", {"sched_getaffinity", "eos_token_id"}),
    "qlongbench.backends.bnb": ("torch modules: only bitsandbytes' 4-bit weights carry a quant_state",
                                {"weight", "quant_state", "packing_format_for_cpu"}),
    "qlongbench.backends.build.gguf_convert": ("tarfile: data_filter is Python >= 3.11.4", {"data_filter"}),
    "qlongbench.backends.hf": ("torch's dtypes and transformers configs: optional fields",
                               {"<attr>", "head_dim", "<name>", "generation_config", "eos_token_id"}),
    "qlongbench.backends.hf_attention": ("transformers config: a private field", {"_attn_implementation"}),
    "qlongbench.backends.hf_kvcache": ("transformers caches and torch tensor subclasses differ by version",
                                       {"layers", "head_dim", "__tensor_flatten__", "is_initialized", "<name>"}),
    "qlongbench.backends.tokenizer_check": ("transformers tokenizers: optional special tokens", {"<f'{role}_token_id'>"}),
    "qlongbench.backends.vllm_options": ("os: sched_getaffinity is Linux-only", {"sched_getaffinity"}),
    "qlongbench.backends.vllm_worker": ("vLLM's model runner and configs differ by version",
                                        {"_qlongbench_capture", "<k>", "num_hidden_layers", "num_attention_heads",
                                         "num_key_value_heads"}),
}
"""The only probes allowed: attributes of objects this project does not define (module -> (why,
probed names; a non-constant name as <its source>)). Our own objects declare what they have."""


def probes(mods: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """module -> names it probes with hasattr(x, name) or getattr(x, name, default)."""
    out: dict[str, set[str]] = {}
    for name, path in (modules() if mods is None else mods).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if (node.func.id == "hasattr" and len(node.args) == 2) or (node.func.id == "getattr" and len(node.args) == 3):
                target = node.args[1]
                attr = target.value if isinstance(target, ast.Constant) else f"<{ast.unparse(target)}>"
                out.setdefault(name, set()).add(attr)
    return out


def test_capabilities_are_declared_not_probed():
    """No hasattr / getattr(x, name, default) probing anywhere in the package, except the listed
    attributes of third-party objects: a capability is a method the base class declares."""
    offenders = [f"{mod}: probes {attr!r}" for mod, attrs in sorted(probes().items())
                 for attr in sorted(attrs - PROBES_OF_THIRD_PARTY_OBJECTS.get(mod, ("", set()))[1])]
    assert offenders == [], "declare it on the base class instead of probing:\n" + "\n".join(offenders)


def test_the_probe_allowlist_has_no_stale_entries():
    found = probes()
    stale = [f"{mod}: {attr}" for mod, (_, attrs) in PROBES_OF_THIRD_PARTY_OBJECTS.items()
             for attr in sorted(attrs - found.get(mod, set()))]
    assert stale == []


def test_the_probe_check_can_fail(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text("def f(backend):\n    return hasattr(backend, 'generate_batch') or getattr(backend, 'model', None)\n"
                   "def g(x):\n    return getattr(x, 'model')  # no default: not a probe\n")
    assert probes({"qlongbench.run.probe": bad}) == {"qlongbench.run.probe": {"generate_batch", "model"}}
