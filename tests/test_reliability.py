"""Kills, torn writes, locks, injected OOM and determinism, on real processes and a real model."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qlongbench.spec.config import build_spec
from qlongbench.errors import UserError
from qlongbench.run.runner import Runner
from qlongbench.run.store import RunDir, RunLock


def _cli(model: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "qlongbench.cli", "run", "--model", str(model), "--lengths", "256,320",
            "--samples", "6", "--precisions", "bf16,fp32", "--out", str(out), "--no-report", "-q", *extra]


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_at_random_points_then_resume_loses_nothing(tiny_model, tmp_path):
    out = tmp_path / "killed"
    records = out / "records.jsonl"
    rng = random.Random(1234)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    expected = 2 * 6 * 2
    for attempt in range(3):
        before = _lines(records)
        target = before + rng.randint(1, 6)
        proc = subprocess.Popen(_cli(tiny_model, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and _lines(records) < target:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        # a kill can land mid-line: simulate the worst case by tearing the last line as well
        if attempt == 1 and records.exists():
            with open(records, "ab") as fh:
                fh.write(b'{"run_id": "torn')
    done = subprocess.run(_cli(tiny_model, out), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = RunDir(out).records()
    assert len(rows) == expected
    assert len({r.key() for r in rows}) == expected
    assert records.read_bytes().endswith(b"\n")


def test_second_writer_is_refused_naming_the_holder(tiny_model, tmp_path):
    spec = build_spec({"model": str(tiny_model), "lengths": [256], "samples": 1, "out": str(tmp_path / "locked")})
    holder = RunLock(Path(spec.out).resolve())
    holder.acquire()
    try:
        with pytest.raises(UserError, match=r"in use by pid \d+ on"):
            Runner(spec).run()
        proc = subprocess.run(_cli(tiny_model, Path(spec.out)), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2
        assert f"pid {os.getpid()}" in proc.stderr
    finally:
        holder.release()
    Runner(spec).run()
    assert len(RunDir(spec.out).records()) == 1


def test_injected_oom_becomes_a_record_and_the_sweep_goes_on(tiny_model, tmp_path):
    import torch

    def oom_past_400_tokens(event, n_tokens, **_):
        if n_tokens > 400:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")

    spec = build_spec({"model": str(tiny_model), "precisions": "bf16,fp32", "lengths": [256, 512, 320],
                       "samples": 2, "out": str(tmp_path / "oom")})
    Runner(spec, fault_hook=oom_past_400_tokens).run()
    rows = RunDir(spec.out).records()
    assert len(rows) == 12
    by_len = {}
    for r in rows:
        by_len.setdefault(r.length, set()).add(r.status)
    assert by_len == {256: {"ok"}, 320: {"ok"}, 512: {"oom"}}
    assert all("out of memory" in r.error for r in rows if r.status == "oom")

    from qlongbench.analysis.build import build

    data = build(spec.out)
    oom_cells = {(c.key.precision, c.key.length): c.n_oom for c in data.cells}
    assert oom_cells[("bf16", 512)] == 2 and oom_cells[("fp32", 256)] == 0


def test_samples_are_byte_identical_across_processes(tiny_model, tmp_path):
    code = ("import sys; from qlongbench.spec.config import build_spec; from qlongbench.run.runner import Runner; "
            "Runner(build_spec({'model': sys.argv[1], 'lengths': [256, 300], 'samples': 3, 'precisions': 'bf16', "
            "'out': sys.argv[2]})).run()")
    for i, hashseed in enumerate(("1", "999")):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        subprocess.run([sys.executable, "-c", code, str(tiny_model), str(tmp_path / f"d{i}")], env=env, check=True,
                       capture_output=True, timeout=300)
    a = sorted((tmp_path / "d0" / "samples").iterdir())
    b = sorted((tmp_path / "d1" / "samples").iterdir())
    assert [p.name for p in a] == [p.name for p in b] and a
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes()


def test_unwritable_output_directory(tiny_model, tmp_path, capsys):
    from qlongbench.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    rc = main(["run", "--model", str(tiny_model), "--lengths", "256", "--samples", "1", "--out", str(blocker / "run"),
               "--no-report"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write to the output directory" in err and len(err.splitlines()) == 1


def test_chat_template_required_but_missing(tiny_model, tmp_path, capsys):
    from qlongbench.cli import main

    rc = main(["run", "--model", str(tiny_model), "--lengths", "256", "--samples", "1", "--chat-template", "on",
               "--out", str(tmp_path / "ct"), "--no-report"])
    assert rc == 2
    assert "has no chat template" in capsys.readouterr().err
    assert not (tmp_path / "ct").exists()


def test_pickle_weights_are_refused_without_allow_pickle(tiny_model, tmp_path, capsys):
    import shutil

    import torch
    from safetensors.torch import load_file

    from qlongbench.cli import main

    pkl = tmp_path / "pickled"
    shutil.copytree(tiny_model, pkl)
    state = load_file(str(pkl / "model.safetensors"))
    (pkl / "model.safetensors").unlink()
    torch.save(state, pkl / "pytorch_model.bin")
    argv = ["run", "--model", str(pkl), "--lengths", "256", "--samples", "1", "--no-report"]
    assert main([*argv, "--out", str(tmp_path / "p1")]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "p2"), "--allow-pickle"]) == 0
    assert RunDir(tmp_path / "p2").records()[0].status == "ok"


def test_hub_id_without_network_says_so(tmp_path, capsys, monkeypatch):
    from qlongbench.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc = main(["run", "--model", "qlongbench-test/does-not-exist", "--lengths", "256", "--samples", "1",
               "--out", str(tmp_path / "hub"), "--no-report"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "does-not-exist" in err and "local model directory" in err and "HF_HUB_OFFLINE" in err
