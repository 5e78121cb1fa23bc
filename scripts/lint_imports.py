"""Check the import contracts of pyproject.toml ([tool.importlinter]) with import-linter.

    python scripts/lint_imports.py        # exit 0 when every contract is kept (tests/test_layout.py runs it)

The distribution installs backends/ and tasks/ as qlongbench.backends and qlongbench.tasks; the import
graph import-linter builds walks one directory per package, so the three folders are first laid out
as the one package they are installed as (a copy in a temporary directory), and import-linter reads
that copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"qlongbench": ROOT / "qlongbench", "qlongbench/backends": ROOT / "backends",
           "qlongbench/tasks": ROOT / "tasks"}
"""Where each part of the installed package lives in the source tree."""


def stage(into: Path) -> Path:
    """The package as it is installed, under `into` (Python sources only)."""
    for target, source in FOLDERS.items():
        shutil.copytree(source, into / target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                        dirs_exist_ok=True)
    return into


def lint(staged: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over a staged package, its report captured."""
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if found is None:
        raise FileNotFoundError("lint-imports is not installed: pip install 'qlongbench[dev]'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(staged), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([found, str(ROOT / "pyproject.toml"), "--no-cache"], cwd=staged, env=env,
                          capture_output=True, text=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="qlongbench-imports-") as tmp:
        try:
            done = lint(stage(Path(tmp)))
        except FileNotFoundError as err:
            print(err, file=sys.stderr)
            return 2
    print(done.stdout + done.stderr, end="")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
