import subprocess
import sys


def test_import_does_not_load_torch():
    code = ("import sys, qlongbench, qlongbench.spec.config, qlongbench.registry, qlongbench.types, qlongbench.run.store, "
            "qlongbench.analysis.build, qlongbench.analysis.stats, qlongbench.render.write, qlongbench.gate.check, qlongbench.cli, qlongbench.tasks.languages; "
            "from qlongbench import registry; [registry.task_class(n) for n in ('niah', 'niah-single')]; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_backends_and_tasks_are_installed_under_the_package():
    import importlib.util

    assert importlib.util.find_spec("qlongbench.backends.hf") is not None
    assert importlib.util.find_spec("qlongbench.tasks.niah") is not None
    # No generic top-level module of that name is installed by us.
    for name in ("backends", "tasks"):
        spec = importlib.util.find_spec(name)
        assert spec is None or "qlongbench" not in str(spec.origin or "")
