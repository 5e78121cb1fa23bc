"""Every figure in README.md and reports/<model>/README.md is drawn from committed run records
(reports/<model>/records/: smollm2, gemma3) by scripts/regenerate_reports.py; a table typed by hand, or records that
changed under it, fail here."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("regenerate_reports", ROOT / "scripts" / "regenerate_reports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_generated_table_matches_the_committed_records(capsys):
    code = _script().main(["--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    runs = sorted(p.name for p in (ROOT / "reports" / "smollm2" / "records").iterdir())
    assert {"suite", "suite-1thread", "nested"} <= set(runs)
    # the optional second model's reports are checked the same way
    assert "gemma3/gemma-langs4k" in out and "gemma3/gemma-en-long" in out, out


def test_a_number_typed_by_hand_is_caught(tmp_path, capsys):
    (tmp_path / "reports" / "smollm2").mkdir(parents=True)
    shutil.copytree(ROOT / "reports" / "smollm2" / "records", tmp_path / "reports" / "smollm2" / "records")
    shutil.copy(ROOT / "reports" / "smollm2" / "README.md", tmp_path / "reports" / "smollm2" / "README.md")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- BEGIN generated: suite-minutes -->")
    end = readme.index("<!-- END generated: suite-minutes -->")
    (tmp_path / "README.md").write_text(readme[:start] + "<!-- BEGIN generated: suite-minutes -->\n9 min 59 s\n"
                                        + readme[end:], encoding="utf-8")
    assert _script().main(["--check", "--root", str(tmp_path)]) == 1
    assert "9 min 59 s" in capsys.readouterr().out
