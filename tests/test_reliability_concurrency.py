"""Readers beside a writer, and a report killed half way. `report` and `check` on a directory a run
is writing read a consistent snapshot — the whole records written so far, the samples files it has
not bound yet left out — say so in one note line and write nothing into the run; a report is
finished when its directory holds results.json (qlongbench/render/write.py), and a `report` killed
with SIGKILL at any moment, or failing between two files, never leaves a results.json beside pages
of another report. Real processes and real SIGKILLs where it matters."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qlongbench.run.store import RunDir, RunLock
from tests.fuzz_helpers import make_run
from tests.reliability_helpers import assert_one_line, cli, error_lines, tree

NOTE = "qlongbench: note: a run is still writing"


@pytest.fixture
def run(tmp_path) -> Path:
    return make_run(tmp_path / "run", n=6)


def _in_progress(run: Path) -> None:
    """What a reader meets mid-run: a record half appended, a samples file frozen but not bound yet."""
    with open(run / "records.jsonl", "ab") as fh:
        fh.write(b'{"run_id": "fuzz-20260101T000000Z", "precision": "bnb-n')
    shutil.copy(run / "samples" / "niah-single-en-256.jsonl", run / "samples" / "niah-single-en-512.jsonl")


@pytest.mark.parametrize("reader", ["report", "check"])
def test_a_reader_beside_a_live_run_reads_whole_records_and_says_so(capsys, run, tmp_path, reader):
    _in_progress(run)
    whole = len(RunDir(run).records(live=True))
    before = tree(run)
    argv = {"report": ["report", run, "--out", tmp_path / "rep", "-q"],
            "check": ["check", run, "-q", "--max-drop", "50", "--min-samples", "1"]}[reader]
    lock = RunLock(run)
    lock.acquire()
    try:
        rc, out, err = cli(capsys, argv)
    finally:
        lock.release()
    assert rc in (0, 1), err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith(NOTE) and f"pid {os.getpid()}" in lines[0], lines
    assert tree(run) == before  # the torn line is not "repaired" under the writer's feet
    if reader == "report":
        cells = json.loads((tmp_path / "rep" / "results.json").read_text(encoding="utf-8"))["cells"]
        assert sum(c["n"] for c in cells) == whole == 12
    # The control: with no run holding the lock the same directory is refused (an unbound samples
    # file), so the snapshot rule is what let the reader through.
    (tmp_path / "rep").exists() and shutil.rmtree(tmp_path / "rep")
    rc, _, err = cli(capsys, argv)
    assert rc == 2
    assert_one_line(err, "niah-single-en-512.jsonl", "not one of this run's samples files")


def test_report_and_check_during_a_real_run(capsys, tiny_model, tmp_path):
    """A child `qlongbench run` writes while this process reads again and again: every read is a
    whole snapshot (exit 0/1 with the note), or one line saying there is nothing to read yet."""
    out = tmp_path / "live"
    child = subprocess.Popen([sys.executable, "-m", "qlongbench.cli", "run", "--model", str(tiny_model), "--out",
                              str(out), "--lengths", "256,320", "--samples", "4", "--precisions", "bf16,fp32",
                              "--max-new-tokens", "6", "--no-report", "-q", "--device", "cpu"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen, reads = [], 0
    try:
        deadline = time.monotonic() + 240
        while child.poll() is None and time.monotonic() < deadline:
            for argv in (["check", out, "-q", "--max-drop", "50", "--min-samples", "1"],
                         ["report", out, "--out", tmp_path / f"rep{reads}", "-q"]):
                if not (out / "run.json").exists():
                    continue
                rc, _, err = cli(capsys, argv)
                reads += 1
                lines = error_lines(err)
                if rc == 2:  # nothing to read yet: no records, or only the reference's so far
                    line = assert_one_line(err)
                    assert "has no records yet" in line or "has only the reference" in line, line
                else:
                    assert rc in (0, 1) and "Traceback" not in err, err
                    assert all(line.startswith((NOTE, "WARNING")) for line in lines), lines
                    seen.append(bool(lines) and lines[0].startswith(NOTE))
            time.sleep(0.2)
    finally:
        if child.poll() is None:
            child.kill()
        _, child_err = child.communicate(timeout=60)
    assert child.returncode == 0, child_err
    assert any(seen), f"no read landed while the run wrote ({reads} reads)"
    assert len(RunDir(out).records()) == 2 * 4 * 2
    rc, _, err = cli(capsys, ["check", out, "-q", "--max-drop", "50", "--min-samples", "1"])
    assert rc in (0, 1) and NOTE not in err  # the run is over: no note


# --- a report killed half way ------------------------------------------------------------------------

def finished_or_not(report: Path) -> str:
    """'absent', 'unfinished' (no results.json), or the run id of a finished report — whose pages
    are all whole and all of that same run (a results.json beside another report's pages fails)."""
    if not report.exists():
        return "absent"
    if not (report / "results.json").exists():
        return "unfinished"
    run_id = json.loads((report / "results.json").read_text(encoding="utf-8"))["run_id"]
    summary = (report / "summary.md").read_text(encoding="utf-8")
    page = (report / "index.html").read_text(encoding="utf-8")
    assert summary.startswith(f"# qlongbench report: {run_id}"), summary[:80]
    assert page.rstrip().endswith("</html>") and run_id in page
    other = {"alpha-20260101T000000Z", "beta-20260101T000000Z"} - {run_id}
    assert not any(o in summary or o in page for o in other), "pages of two reports mixed"
    return run_id


def test_a_report_killed_at_random_moments_is_finished_or_visibly_not(tmp_path):
    """Reports of two runs (alpha, beta) take turns in one directory, each killed at a random
    moment: the directory always holds one run's finished report, or an unfinished one."""
    runs = [make_run(tmp_path / name, name=name, n=6) for name in ("alpha", "beta")]
    report = tmp_path / "report"
    rng = random.Random(25)

    def argv(run: Path) -> list[str]:
        return [sys.executable, "-m", "qlongbench.cli", "report", str(run), "--out", str(report), "-q"]

    t0 = time.monotonic()
    subprocess.run(argv(runs[0]), check=True, capture_output=True, timeout=120)
    whole = time.monotonic() - t0  # how long one report takes here, imports included
    states = []
    for i in range(5):
        child = subprocess.Popen(argv(runs[(i + 1) % 2]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 1.05) * whole)
        child.send_signal(signal.SIGKILL)
        child.wait()
        states.append(finished_or_not(report))
    assert "absent" not in states, states
    done = subprocess.run(argv(runs[1]), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert finished_or_not(report) == "beta-20260101T000000Z"
    assert not list(report.glob(".partial-*")), "the staging folders of killed reports were swept"


@pytest.mark.parametrize("fail_at", [0, 1, 3, -3, -2, -1])
def test_a_report_failing_between_two_files_never_looks_finished(capsys, monkeypatch, tmp_path, fail_at):
    """An error on the n-th rename of the commit (a full disk, a vanished directory): exit 2 in one
    line, no results.json — then the same command writes the finished report."""
    import qlongbench.render.write as write

    run = make_run(tmp_path / "run", name="alpha", n=6)
    report = tmp_path / "report"
    assert cli(capsys, ["report", run, "--out", report, "-q"])[0] == 0
    renames = len(list(report.iterdir()))
    real, calls = os.replace, []

    def replace(src, dst):  # os.replace is every atomic write's too: count the commit's moves only
        if Path(dst).parent == report:
            calls.append(dst)
            if len(calls) - 1 == fail_at % renames:
                raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(write.os, "replace", replace)
    rc, _, err = cli(capsys, ["report", run, "--out", report, "-q"])
    assert rc == 2
    assert_one_line(err, "no space left on the device")
    assert finished_or_not(report) == "unfinished"
    assert not list(report.glob(".partial-*"))
    monkeypatch.setattr(write.os, "replace", real)
    assert cli(capsys, ["report", run, "--out", report, "-q"])[0] == 0
    assert finished_or_not(report) == "alpha-20260101T000000Z"


def test_a_report_that_fails_while_drawing_leaves_the_finished_one_untouched(capsys, monkeypatch, tmp_path):
    from qlongbench.render import html

    run = make_run(tmp_path / "run", name="alpha", n=6)
    report = tmp_path / "report"
    assert cli(capsys, ["report", run, "--out", report, "-q"])[0] == 0
    before = tree(report)

    def explode(*a, **k):
        from qlongbench.errors import UserError

        raise UserError("the page could not be drawn (injected)")

    monkeypatch.setattr(html, "render", explode)
    rc, _, err = cli(capsys, ["report", run, "--out", report, "-q"])
    assert rc == 2
    assert_one_line(err, "injected")
    assert tree(report) == before and finished_or_not(report) == "alpha-20260101T000000Z"
