"""The layout is the data flow: spec -> tasks, backends -> run -> analysis -> render | gate -> harness,
cli, with the shared vocabulary (types, errors, hashing, files, memory, tokenizer, registry) below
every room. import-linter checks it from the source ([tool.importlinter] in pyproject.toml: a layers
contract, exhaustive, so every new top-level module must take its place); here too: no module over
400 lines, no capability probed (hasattr / getattr with a default) on our own objects."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"qlongbench": ROOT / "qlongbench", "qlongbench.backends": ROOT / "backends",
            "qlongbench.tasks": ROOT / "tasks"}
MAX_LINES = 400


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


def _lint_imports():
    pytest.importorskip("importlinter", reason="import-linter is in the dev extra: pip install 'qlongbench[dev]'")
    spec = importlib.util.spec_from_file_location("lint_imports", ROOT / "scripts" / "lint_imports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_import_contracts_hold(tmp_path):
    """No import runs back up the flow, and the shared vocabulary imports no room (the registry's
    lazy lookup by name is the one declared exception)."""
    lint = _lint_imports()
    done = lint.lint(lint.stage(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("module, source", [
    ("qlongbench/spec/backwards.py", "from qlongbench.run.store import RunDir\n"),
    ("qlongbench/tasks/backwards.py", "def f():\n    from qlongbench.backends import base\n"),  # lazy counts too
    ("qlongbench/memory_extra.py", "x = 1\n"),  # a new top-level module must take its place in the layers
])
def test_the_contract_catches_what_it_forbids(tmp_path, module, source):
    lint = _lint_imports()
    staged = lint.stage(tmp_path)
    (staged / module).write_text(source, encoding="utf-8")
    done = lint.lint(staged)
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name):
    path = modules()[name]
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (limit {MAX_LINES}): split it by job"


PROBES_OF_THIRD_PARTY_OBJECTS: dict[str, tuple[str, set[str]]] = {
    "qlongbench.cli": ("signal: SIGPIPE is POSIX-only", {"SIGPIPE"}),
    "qlongbench.memory": ("transformers / remote-code model configs: fields differ by architecture",
                          {"getattr(cfg, k, None)", "get_text_config"}),
    "qlongbench.harness.plugin": ("transformers config and tokenizer: optional fields",
                                  {"max_position_embeddings", "bos_token"}),
    "qlongbench.run.bundled_model": ("transformers config: optional fields", {"quantization_config", "getattr(cfg, k, None)"}),
    "qlongbench.run.model": ("transformers config: optional fields", {"getattr(text, k, None)", "rope_scaling",
                                                                      "sliding_window", "layer_types"}),
    "qlongbench.run.ray_executor": ("Ray's exceptions: only some carry the unit's own error as .cause", {"cause"}),
    "qlongbench.spec.yaml_lines": ("PyYAML's errors: only marked ones carry a position", {"problem_mark", "problem"}),
    "qlongbench.tokenizer": ("transformers tokenizers: optional special tokens and template",
                             {"chat_template", "getattr(self.hf, name, None)"}),
    "qlongbench.backends.base": ("os (platform-dependent) and transformers configs", {"sched_getaffinity", "eos_token_id"}),
    "qlongbench.backends.bnb": ("torch modules: only bitsandbytes' 4-bit weights carry a quant_state",
                                {"weight", "quant_state", "packing_format_for_cpu"}),
    "qlongbench.backends.build.gguf_convert": ("tarfile: data_filter is Python >= 3.11.4", {"data_filter"}),
    "qlongbench.backends.hf": ("torch's dtypes and transformers configs: optional fields",
                               {"getattr(torch, attr, None)", "head_dim", "getattr(cfg, name, None)",
                                "generation_config", "eos_token_id"}),
    "qlongbench.backends.hf_attention": ("transformers config: a private field", {"_attn_implementation"}),
    "qlongbench.backends.hf_kvcache": ("transformers caches and torch tensor subclasses differ by version",
                                       {"layers", "head_dim", "__tensor_flatten__", "is_initialized",
                                        "getattr(layer, name, None)"}),
    "qlongbench.backends.hf_sliding": ("transformers cache layers: only sliding ones carry a window",
                                       {"layers", "is_sliding", "sliding_window"}),
    "qlongbench.backends.tokenizer_check": ("transformers tokenizers: optional special tokens", {"getattr(hf_tokenizer, f'{role}_token_id', None)"}),
    "qlongbench.backends.vllm_options": ("os: sched_getaffinity is Linux-only", {"sched_getaffinity"}),
    "qlongbench.backends.vllm_worker": ("vLLM's model runner and configs differ by version",
                                        {"_qlongbench_capture", "getattr(cc, k, None)", "num_hidden_layers",
                                         "num_attention_heads",
                                         "num_key_value_heads"}),
}
"""The only probes allowed: attributes of objects this project does not define (module -> (why,
probed names; a name computed at run time as the whole call, so only that one call on that one
object passes)). Our own objects declare what they have."""


def probes(mods: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """module -> names it probes with hasattr(x, name) or getattr(x, name, default); a name computed
    at run time as the source of the whole call."""
    out: dict[str, set[str]] = {}
    for name, path in (modules() if mods is None else mods).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if (node.func.id == "hasattr" and len(node.args) == 2) or (node.func.id == "getattr" and len(node.args) == 3):
                target = node.args[1]
                attr = target.value if isinstance(target, ast.Constant) else ast.unparse(node)
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
    bad.write_text("def f(backend, name):\n    return hasattr(backend, 'generate_batch') or getattr(backend, 'model', None)"
                   " or getattr(backend, name, None)\n"
                   "def g(x):\n    return getattr(x, 'model')  # no default: not a probe\n")
    assert probes({"qlongbench.run.probe": bad}) == {"qlongbench.run.probe": {"generate_batch", "model",
                                                                             "getattr(backend, name, None)"}}
