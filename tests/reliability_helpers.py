"""Shared by the reliability suites (tests/test_reliability*.py): the CLI run in-process on the tiny
model, the check that an error is one line without a traceback, and snapshots that prove a
directory was left exactly as it was."""

from __future__ import annotations

from pathlib import Path

FAST = ("--lengths", "256", "--samples", "1", "--no-report", "-q", "--device", "cpu")
"""The smallest end-to-end run: one sample of one 256-token cell."""

PROGRESS_MARKS = ("it/s]", "s/it]", "%|")
"""What a library's progress bar line (tqdm) contains: not an error line."""


def run_argv(model: Path, out: Path, *extra: str, fast: tuple[str, ...] = FAST) -> list[str]:
    return ["run", "--model", str(model), "--out", str(out), *fast, *extra]


def cli(capsys, argv: list[object]) -> tuple[int, str, str]:
    """`qlongbench ARGV` in this process: (exit code, stdout, stderr)."""
    from qlongbench.cli import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse refuses a flag's value this way
        rc = exit_.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def error_lines(err: str) -> list[str]:
    """stderr's lines, library progress bars left out."""
    out = []
    for line in err.splitlines():
        last = line.split("\r")[-1]
        if last.strip() and not any(m in last for m in PROGRESS_MARKS):
            out.append(last)
    return out


def assert_one_line(err: str, *needles: str) -> str:
    """stderr is exactly one `qlongbench: error:` line (no traceback) holding every needle."""
    lines = error_lines(err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("qlongbench: error: "), lines[0]
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root with its bytes (the run lock's file left out: it is emptied, not
    removed, by every invocation); {} when root does not exist."""
    root = Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}
