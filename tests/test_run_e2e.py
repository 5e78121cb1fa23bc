"""The spine end to end on a real tiny model: CLI run + report, resume, hashes, chat template."""

from __future__ import annotations

import os

import json

import pytest

from qlongbench.cli import main
from qlongbench.spec.config import build_spec
from qlongbench.run.device import cpu_model
from qlongbench.run.runner import Runner
from qlongbench.run.store import RunDir


def test_cli_run_and_report(tiny_model, tmp_path, capsys):
    out = tmp_path / "first"
    rc = main(["run", "--model", str(tiny_model), "--precisions", "bf16", "--tasks", "niah", "--lengths", "256,512",
               "--samples", "3", "--out", str(out), "--no-report"])
    assert rc == 0
    rd = RunDir(out)
    records = rd.records()
    assert len(records) == 6
    assert {r.length for r in records} == {256, 512}
    assert all(r.status == "ok" and r.score in (0.0, 1.0) for r in records)
    assert all(r.task == "niah-single" and r.engine == "transformers" for r in records)
    required = {"run_id", "precision", "engine", "task", "language", "length", "n_prompt_tokens", "sample_id", "depth",
                "prompt_sha256", "gen_config_sha256", "output", "expected", "score", "status", "error", "created_at"}
    line = json.loads(rd.records_path.read_text().splitlines()[0])
    assert required <= set(line)
    header = rd.read_header()
    assert header.version == 4 and header.seed == 0 and header.plan.model.files_sha256
    assert header.plan.model.files_hash_rule == "all-files" and header.plan.reference == "bf16"
    assert [p.label for p in header.plan.precisions] == ["bf16"] and header.plan.logprob_tasks == ()
    assert {"torch", "transformers", "qlongbench", "python"} <= set(header.environment.versions)
    assert header.precisions["bf16"].recipe.method == "none"
    assert header.executor.placements["bf16"].cpu == cpu_model() != ""
    assert header.executor.cpus == {"bf16": [cpu_model()]} and header.cpus("bf16") == [cpu_model()]
    assert header.plan.tasks["niah-single"].generation.max_new_tokens == 24
    assert header.plan.tasks["niah-single"].lengths == (256, 512)
    assert sorted(p.name for p in rd.samples_dir.iterdir()) == ["niah-single-en-256.jsonl", "niah-single-en-512.jsonl"]

    report_dir = tmp_path / "rep"
    assert main(["report", str(out), "--out", str(report_dir), "-q"]) == 0
    summary = (report_dir / "summary.md").read_text()
    assert "| niah-single | en | 256 | bf16 | transformers | 3 |" in summary
    results = json.loads((report_dir / "results.json").read_text())
    cells = results["cells"]
    assert len(cells) == 2
    for cell in cells:
        assert cell["n_ok"] == 3
        assert 0.0 <= cell["interval"]["low"] <= cell["accuracy"] <= cell["interval"]["high"] <= 1.0


def test_resume_after_interrupt_writes_each_record_once(tiny_model, tmp_path):
    spec = build_spec({"model": str(tiny_model), "lengths": [256, 384], "samples": 4, "out": str(tmp_path / "r")})
    calls = {"n": 0}

    def interrupt_after_a_few(event, **info):
        calls["n"] += 1
        if calls["n"] == 40:  # a few records in, like Ctrl-C
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Runner(spec, fault_hook=interrupt_after_a_few).run()
    partial = RunDir(spec.out).records()
    assert 0 < len(partial) < 8
    result = Runner(spec).run()
    records = RunDir(spec.out).records()
    assert len(records) == 8
    assert len({r.key() for r in records}) == 8
    assert result.skipped == len(partial) and result.written == 8 - len(partial)
    # A third run has nothing to do.
    again = Runner(spec).run()
    assert again.written == 0 and len(RunDir(spec.out).records()) == 8


def test_resume_refuses_a_different_spec(tiny_model, tmp_path, capsys):
    out = str(tmp_path / "r")
    base = ["run", "--model", str(tiny_model), "--lengths", "256", "--out", out, "--no-report"]
    assert main([*base, "--samples", "2"]) == 0
    assert main([*base, "--samples", "3"]) == 2
    err = capsys.readouterr().err
    assert "different spec" in err and "samples" in err and "--new" in err
    assert main([*base, "--samples", "3", "--new"]) == 0
    assert len(RunDir(out).records()) == 3


def test_prompt_hashes_match_frozen_samples(tiny_model, tmp_path):
    spec = build_spec({"model": str(tiny_model), "precisions": "bf16,fp32", "lengths": [256], "samples": 3,
                       "out": str(tmp_path / "h")})
    Runner(spec).run()
    rd = RunDir(spec.out)
    samples = {s.sample_id: s for s in rd.all_samples()}
    records = rd.records()
    assert {r.precision for r in records} == {"bf16", "fp32"}
    for r in records:
        assert r.prompt_sha256 == samples[r.sample_id].prompt_sha256
        assert r.n_prompt_tokens + 24 <= 256
    by_sample = {}
    for r in records:
        by_sample.setdefault(r.sample_id, set()).add((r.prompt_sha256, r.gen_config_sha256))
    assert all(len(v) == 1 for v in by_sample.values())


def test_chat_template_is_applied_and_can_be_turned_off(tiny_chat_model, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_chat_model))
    for flag, expect in ((True, True), (False, False)):
        spec = build_spec({"model": str(tiny_chat_model), "lengths": [256], "samples": 1, "chat_template": flag,
                           "out": str(tmp_path / f"c{flag}")})
        Runner(spec).run()
        sample = RunDir(spec.out).all_samples()[0]
        text = tok.decode(list(sample.prompt_ids))
        assert ("<|assistant|>" in text) is expect
        assert ("<|user|>" in text) is expect
        assert len(sample.prompt_ids) + sample.max_new_tokens <= 256
        assert RunDir(spec.out).read_header().plan.model.chat_template_used is expect


@pytest.mark.parametrize("argv,needle", [
    (["--model", "/nonexistent/model/dir"], "does not exist"),
    (["--tasks", "niah-singel"], "did you mean niah-single"),
    (["--precisions", "bf61"], "did you mean bf16"),
    (["--samples", "0"], "samples must be at least 1"),
    (["--lengths", "4m"], "bad length"),
    (["--languages", "xx"], "unknown language 'xx'"),
])
def test_cli_user_errors_exit_2_with_one_line(tiny_model, tmp_path, capsys, argv, needle):
    args = ["run", "--model", str(tiny_model), "--lengths", "256", "--samples", "1", "--out", str(tmp_path / "e"),
            "--no-report", *argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "e").exists()


def test_length_beyond_max_positions_is_refused(tiny_model, tmp_path, capsys):
    args = ["run", "--model", str(tiny_model), "--lengths", "16k", "--samples", "1", "--out", str(tmp_path / "x"), "--no-report"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "max_position_embeddings" in err and "--allow-extrapolation" in err


def test_overlength_sample_is_recorded_not_cut(tiny_model, tmp_path):
    spec = build_spec({"model": str(tiny_model), "lengths": [40], "samples": 2, "out": str(tmp_path / "o")})
    Runner(spec).run()
    records = RunDir(spec.out).records()
    assert [r.status for r in records] == ["overlength", "overlength"]
    assert all(r.score is None and "tokens" in (r.error or "") for r in records)


@pytest.mark.parametrize("length", [256, 1024, 2048, 4096])
def test_niah_single_fits_each_length_exactly(tiny_tokenizer, length):
    from qlongbench.tasks.base import BuildContext
    from qlongbench.tasks.haystack import FIT_TOLERANCE
    from qlongbench.tasks.niah import NiahSingle

    ctx = BuildContext.for_cell(tiny_tokenizer, task="niah-single", length=length, language="en",
                                instruction_language="en", n_samples=3, run_seed=0, max_new_tokens=24,
                                lengths=[length])
    for s in NiahSingle().build(ctx):
        assert s.status == "ok"
        assert length - FIT_TOLERANCE <= len(s.prompt_ids) + s.max_new_tokens <= length
        text = tiny_tokenizer.decode(s.prompt_ids)
        assert text.count(s.expected[0]) == 1  # the needle, exactly once


def test_malformed_yaml_config_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "sweep.yaml"
    bad.write_text("precisions: [bf16\nlengths: 1k\n")
    assert main(["run", "--config", str(bad), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not valid YAML at line" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "y").exists()


def test_an_unreachable_hub_fails_within_seconds(monkeypatch, tmp_path, capsys):
    """A hub id without network: the hub is probed once (a few seconds at most), the run goes offline,
    and the one-line error with the hint follows at once instead of a minute of retries."""
    import time

    from qlongbench.cli import main
    from qlongbench.run import model as model_mod

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://qlongbench-unreachable.invalid")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    t0 = time.monotonic()
    assert model_mod.hub_reachable() is False
    assert time.monotonic() - t0 < 5  # the probe is bounded (3 s connect + 1 s grace), never retried
    code = main(["run", "--model", "someorg/some-model", "--out", str(tmp_path / "run"), "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and "HF_HUB_OFFLINE=1" in err and len(err.strip().splitlines()) == 1
    # The run went offline after the probe: the hub client is not asked again (no retries).
    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
    assert not (tmp_path / "run").exists()
