"""Bad input is one line and exit 2, before the run directory is touched, and fixing the input is
all it takes to go on: damaged models and GGUF files, bad engine options, absurd sizes, a full
disk, plus typos a user plausibly makes. Child processes die with qlongbench; stale converter
fetches are swept. All in-process on the tiny model."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qlongbench.run.store import RunDir
from tests.reliability_helpers import FAST, assert_one_line, cli, run_argv, tree


def refused_before_the_run(capsys, argv: list[object], out: Path, *needles: str) -> None:
    """Exit 2, one line holding the needles, and no run directory made."""
    rc, _, err = cli(capsys, argv)
    assert rc == 2, err
    assert_one_line(err, *needles)
    assert not out.exists() or tree(out) == {}, tree(out)


# --- GGUF files and engine options ------------------------------------------------------------

@pytest.fixture(scope="module")
def gguf_cache(tiny_model, tmp_path_factory):
    """An artifact cache holding the tiny model's gguf-bf16 and gguf-q4_k_m (llama.cpp's converter)."""
    from qlongbench.cli import main
    from tests.engine_fixtures import use_converter

    pytest.importorskip("llama_cpp", reason="the gguf extra is not installed")
    why = use_converter()
    if why:
        pytest.skip(why)
    cache = tmp_path_factory.mktemp("gguf_cache")
    assert main(["quantize", "--model", str(tiny_model), "--precisions", "gguf-q4_k_m", "--cache-dir", str(cache),
                 "--device", "cpu"]) == 0
    return cache


def _truncated_gguf(path: Path) -> None:
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_tensor("weights", np.ones((128, 128), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4096])


def _bare_gguf(path: Path) -> None:
    """A whole, well-formed GGUF file with no model in it (no architecture parameters, no vocabulary):
    the gguf reader takes it, llama.cpp cannot."""
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_tensor("weights", np.ones((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


BAD_GGUF = {
    "not-gguf": (lambda p: p.write_text("<html>404 Not Found</html>"), "not a GGUF file"),
    "truncated": (_truncated_gguf, "truncated"),
    "no-model": (_bare_gguf, "llama.cpp cannot read"),  # used to run the reference, then exit 1
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "missing": (lambda p: None, "does not exist"),
}


@pytest.mark.parametrize("kind", list(BAD_GGUF))
def test_a_bad_gguf_file_is_refused_then_the_good_one_runs(capsys, tiny_model, tmp_path, kind, request):
    pytest.importorskip("llama_cpp", reason="the gguf extra is not installed")
    make, needle = BAD_GGUF[kind]
    bad, out = tmp_path / "model.gguf", tmp_path / "run"
    make(bad)
    argv = run_argv(tiny_model, out, "--precisions", f"gguf-q4_k_m:file={bad}", "--no-engine-baseline")
    rc, _, err = cli(capsys, argv)
    assert rc == 2
    line = assert_one_line(err, "gguf-q4_k_m")
    assert needle in line.lower() or needle in line, line
    assert not out.exists()
    if kind not in ("not-gguf", "directory"):
        return
    (good,) = (request.getfixturevalue("gguf_cache") / "gguf").glob("*/model-Q4_K_M.gguf")
    shutil.rmtree(bad) if bad.is_dir() else bad.unlink()
    shutil.copy(good, bad)
    rc, _, err = cli(capsys, argv)  # the same command, the input fixed
    assert rc == 0, err
    assert [r.status for r in RunDir(out).records()] == ["ok"]


def test_a_gguf_file_of_another_type_than_its_label_is_one_line(capsys, tiny_model, tmp_path, gguf_cache):
    """file= holding BF16 weights under gguf-q4_k_m: refused before anything runs (llama.cpp reads the
    file's metadata and vocabulary up front), not error records after the run started."""
    (bf16,) = (gguf_cache / "gguf").glob("*/model-BF16.gguf")
    out = tmp_path / "run"
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--precisions", f"bf16,gguf-q4_k_m:file={bf16}",
                                      "--no-engine-baseline"))
    assert rc == 2
    assert_one_line(err, "holds BF16 weights but the precision is gguf-q4_k_m")
    assert not out.exists()


BAD_OPTIONS = [  # (bad label, its message, the label fixed, run the fixed one here)
    ("bf16:foo=1", "takes no option foo", "bf16", True),
    ("bnb-nf4:double_quant=maybe", "double_quant", "bnb-nf4:double_quant=true", True),
    ("gguf-q4_k_m:n_threads=-3", "option n_threads=-3: input should be greater than or equal to 1",
     "gguf-q4_k_m:n_threads=1", True),
    ("gptq-int4:group_size=0", "group_size", "gptq-int4:group_size=32", False),  # GPTQ on CPU: a minute
]


@pytest.mark.parametrize("bad, message, fixed, run_fixed", BAD_OPTIONS, ids=[b[0] for b in BAD_OPTIONS])
def test_a_bad_engine_option_is_refused_then_the_fixed_label_runs(capsys, tiny_model, tmp_path, bad, message, fixed,
                                                                 run_fixed, request):
    out = tmp_path / "run"
    extra = ["--cache-dir", str(request.getfixturevalue("gguf_cache"))] if bad.startswith("gguf") else []
    refused_before_the_run(capsys, run_argv(tiny_model, out, "--precisions", bad, *extra), out, message)
    if not run_fixed:
        from qlongbench.run.planner import validate_precisions
        from qlongbench.spec.config import build_spec
        from qlongbench.spec.labels import parse_precision

        validate_precisions([parse_precision(p) for p in build_spec({"precisions": fixed}).precisions],
                            str(tiny_model), "cpu")
        return
    rc, _, err = cli(capsys, run_argv(tiny_model, out, "--precisions", fixed, *extra))
    assert rc == 0, err  # no "different model files ... pass --new": the refusal left nothing behind
    assert {r.status for r in RunDir(out).records()} == {"ok"}


# --- damaged models and configs: one line, no traceback ---------------------------------------

def _corrupt_safetensors(m: Path) -> None:
    (m / "model.safetensors").write_bytes(os.urandom(4096))


def _truncated_safetensors(m: Path) -> None:
    data = (m / "model.safetensors").read_bytes()
    (m / "model.safetensors").write_bytes(data[: len(data) // 2])


def _no_tokenizer(m: Path) -> None:
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (m / name).unlink(missing_ok=True)


def _unknown_model_type(m: Path) -> None:
    import json

    cfg = json.loads((m / "config.json").read_text())
    cfg["model_type"] = "frobnicator"
    (m / "config.json").write_text(json.dumps(cfg))


DAMAGED_MODELS = {
    "corrupt-safetensors": (_corrupt_safetensors, "not a readable safetensors file"),
    "truncated-safetensors": (_truncated_safetensors, "truncated"),
    "missing-tokenizer": (_no_tokenizer, "tokenizer"),
    "unknown-model-type": (_unknown_model_type, "frobnicator"),
}


@pytest.mark.parametrize("kind", list(DAMAGED_MODELS))
def test_a_damaged_model_directory_is_one_line(capsys, tiny_model, tmp_path, kind):
    damage, needle = DAMAGED_MODELS[kind]
    model, out = tmp_path / "model", tmp_path / "run"
    shutil.copytree(tiny_model, model)
    damage(model)
    refused_before_the_run(capsys, run_argv(model, out), out, needle)


def test_a_config_that_is_not_utf8_is_one_line(capsys, tmp_path):
    cfg, out = tmp_path / "run.yaml", tmp_path / "run"
    cfg.write_bytes("model: caf\u00e9\nsamples: 3\n".encode("latin-1"))
    refused_before_the_run(capsys, ["run", "--config", cfg, "--out", out], out, "not UTF-8")


# --- upper bounds: refused at once, nothing built ---------------------------------------------

@pytest.mark.parametrize("extra, needle", [
    (["--samples", str(10**7)], "past the limit"),
    (["--lengths", "4000000"], "past the limit"),
    (["--lengths", "1000000", "--allow-extrapolation", "--samples", "500"], "would freeze"),
], ids=["samples", "length", "length-x-samples"])
def test_absurd_sizes_are_refused_at_once(capsys, tiny_model, tmp_path, extra, needle):
    out = tmp_path / "run"
    t0 = time.monotonic()
    refused_before_the_run(capsys, ["run", "--model", tiny_model, "--out", out, "--no-report", "-q", *extra], out,
                           needle)
    assert time.monotonic() - t0 < 20


# --- a full disk ------------------------------------------------------------------------------

def _disk_full_for(monkeypatch, stem: str) -> None:
    """os.fsync raises ENOSPC for files whose name (or atomic temp name) holds `stem`."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if stem in Path(os.readlink(f"/proc/self/fd/{fd}")).name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("stem", ["records.jsonl", "niah-single-en-256.jsonl", "run.json"])
def test_a_full_disk_while_running_is_one_line_and_the_rerun_completes(capsys, monkeypatch, tiny_model, tmp_path,
                                                                       stem):
    out = tmp_path / "run"
    argv = run_argv(tiny_model, out, "--precisions", "bf16,fp32")
    with monkeypatch.context() as m:
        _disk_full_for(m, stem)
        rc, _, err = cli(capsys, argv)
    assert rc == 2
    assert_one_line(err, "no space left on the device", stem)
    assert not [p for p in out.rglob(".*") if p.name != ".lock"]  # no temp file left behind
    data = (out / "records.jsonl").read_bytes() if (out / "records.jsonl").exists() else b""
    assert data == b"" or data.endswith(b"\n")
    rc, _, err = cli(capsys, argv)
    assert rc == 0, err
    assert sorted(r.precision for r in RunDir(out).records()) == ["bf16", "fp32"]


def test_a_full_disk_while_writing_the_report_is_one_line(capsys, monkeypatch, tiny_model, tmp_path):
    out, report = tmp_path / "run", tmp_path / "report"
    assert cli(capsys, run_argv(tiny_model, out))[0] == 0
    _disk_full_for(monkeypatch, "summary.md")
    rc, _, err = cli(capsys, ["report", out, "--out", report, "-q"])
    assert rc == 2
    assert_one_line(err, "no space left on the device", "summary.md")
    assert list(report.iterdir()) == []  # nothing half written, no temp file


# --- child processes and the converter's leftovers --------------------------------------------

def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has died, only not yet been reaped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("starter, dies", [
    ("from qlongbench.backends.build.gguf_convert import run_child as start", True),
    ("from subprocess import run as start", False),  # the control: a plain child outlives a killed parent
], ids=["run_child", "plain-subprocess"])
def test_a_child_dies_with_its_killed_parent(tmp_path, starter, dies):
    pidfile = tmp_path / "child.pid"
    code = f"import sys\n{starter}\nstart(['sh', '-c', 'echo $$ > ' + sys.argv[1] + '.tmp; mv ' + sys.argv[1] + " \
           "'.tmp ' + sys.argv[1] + '; exec sleep 60'])"
    parent = subprocess.Popen([sys.executable, "-c", code, str(pidfile)])
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = _alive(child)
    if survived:
        os.kill(child, 9)
    assert survived is not dies


@pytest.fixture
def converter_cache(monkeypatch, tmp_path):
    """A cache dir for converter_script with no LLAMA_CPP_DIR, a stale fetch, and the fetch stubbed
    (no network): (cache dir, version dir, stale dir)."""
    pytest.importorskip("llama_cpp", reason="the gguf extra is not installed")
    from qlongbench.backends.build import gguf_convert
    from qlongbench.backends.llama_lib import llama_cpp_version

    monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)
    version = llama_cpp_version()
    root = tmp_path / "llama.cpp" / version
    stale = root.parent / f".fetch-{version}-killed"
    (stale / "sdist").mkdir(parents=True)
    (stale / "sdist" / "llama_cpp_python.tar.gz").write_bytes(b"half a download")
    fetched = []

    def fetch(v: str, dst: Path) -> None:
        fetched.append(v)
        dst.mkdir(parents=True)
        (dst / gguf_convert.CONVERTER).write_text("# the converter\n")

    monkeypatch.setattr(gguf_convert, "_fetch_converter", fetch)
    return tmp_path, root, stale, fetched


def test_a_stale_fetch_is_swept_when_the_converter_is_fetched(converter_cache):
    from qlongbench.backends.build.gguf_convert import CONVERTER, converter_script

    cache, root, stale, fetched = converter_cache
    assert converter_script(cache) == root / CONVERTER
    assert fetched and not stale.exists()


def test_a_stale_fetch_is_swept_when_the_converter_is_already_there(converter_cache):
    from qlongbench.backends.build.gguf_convert import CONVERTER, converter_script

    cache, root, stale, fetched = converter_cache
    root.mkdir(parents=True)
    (root / CONVERTER).write_text("# the converter\n")
    assert converter_script(cache) == root / CONVERTER
    assert not fetched and not stale.exists()


# --- typos a user plausibly makes -------------------------------------------------------------

def _yaml(tmp: Path, text: str) -> Path:
    path = tmp / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _file(tmp: Path) -> Path:
    path = tmp / "a_file"
    path.write_text("not a directory")
    return path


def _empty_dir(tmp: Path) -> Path:
    path = tmp / "empty_model"
    path.mkdir()
    return path


def _policy(tmp: Path) -> Path:
    path = tmp / "policy.yaml"
    path.write_text("max_drop: 5\nrules:\n  - {min_length: 4k, max_drop: lots}\n", encoding="utf-8")
    return path


TYPOS = {  # name -> (argv after `run --model M --out OUT` + FAST, given the tmp dir; the line's needle)
    "lengths-4k,abc": (lambda t: ["--lengths", "4k,abc"], "bad length 'abc'"),
    "lengths-listed-twice": (lambda t: ["--lengths", "1k,1024"], "length 1024 is listed twice"),
    "lengths-too-short": (lambda t: ["--lengths", "8"], "at least 16 tokens"),
    "lengths-past-positions": (lambda t: ["--lengths", "16k"], "max_position_embeddings"),
    "languages-xx": (lambda t: ["--languages", "xx"], "unknown language 'xx'"),
    "languages-listed-twice": (lambda t: ["--languages", "en,de,en"], "language en is listed twice"),
    "instruction-language-zz": (lambda t: ["--instruction-language", "zz"], "unknown language 'zz'"),
    "precisions-empty": (lambda t: ["--precisions", ""], "must name at least one"),
    "precision-unknown": (lambda t: ["--precisions", "bf17"], "unknown precision 'bf17'"),
    "precision-listed-twice": (lambda t: ["--precisions", "bf16,fp32,bf16"], "bf16 is listed twice"),
    "task-unknown": (lambda t: ["--tasks", "niah-singel"], "niah-singel"),
    "task-option-type": (lambda t: ["--tasks", "niah-single:value_digits=seven"], "value_digits"),
    "samples-abc": (lambda t: ["--samples", "abc"], "invalid int value: 'abc'"),
    "samples-zero": (lambda t: ["--samples", "0"], "at least 1"),
    "seed-abc": (lambda t: ["--seed", "1.5"], "invalid int value"),
    "batch-size-zero": (lambda t: ["--batch-size", "0"], "batch_size"),
    "max-new-tokens-negative": (lambda t: ["--max-new-tokens", "-1"], "max_new_tokens"),
    "max-new-tokens-zero": (lambda t: ["--max-new-tokens", "0"], "max_new_tokens"),
    "config-is-a-directory": (lambda t: ["--config", str(t)], "is a directory"),
    "config-missing": (lambda t: ["--config", str(t / "nope.yaml")], "does not exist"),
    "config-unknown-key": (lambda t: ["--config", str(_yaml(t, "sampels: 3\n"))], "sampels"),
    "config-a-list": (lambda t: ["--config", str(_yaml(t, "- bf16\n- fp32\n"))], "must hold a mapping"),
    "config-bad-yaml": (lambda t: ["--config", str(_yaml(t, "lengths: [1k, 2k\n"))], "not valid YAML"),
    "out-is-a-file": (lambda t: ["--out", str(_file(t))], "cannot write to the output directory"),
    "out-empty": (lambda t: ["--out", ""], "out: must not be empty"),
    "model-empty": (lambda t: ["--model", ""], "model: must not be empty"),
    "model-empty-dir": (lambda t: ["--model", str(_empty_dir(t))], "is empty"),
    "model-missing": (lambda t: ["--model", str(t / "no_such_model")], "does not exist"),
    "cache-dir-is-a-file": (lambda t: ["--precisions", "gguf-q4_k_m", "--cache-dir", str(_file(t))],
                            "cannot write to the artifact cache"),
    "check-policy-bad-rule": (lambda t: ["--check", str(_policy(t))], "rules.0.max_drop"),
    "report-flag-without-check": (lambda t: ["--junit", str(t / "j.xml")], "go with --check"),
}


@pytest.mark.parametrize("name", list(TYPOS))
def test_a_typo_is_one_line_before_anything_is_written(capsys, tiny_model, tmp_path, name):
    make, needle = TYPOS[name]
    out = tmp_path / "run"
    extra = make(tmp_path)
    before = tree(tmp_path)
    refused_before_the_run(capsys, run_argv(tiny_model, out, *extra), out, needle)
    if "--out" not in extra:
        assert tree(tmp_path) == before  # nothing written anywhere (the cache dir, a report) either
    assert not (tmp_path / "j.xml").exists()


def test_quantize_into_an_unwritable_cache_is_one_line(capsys, tiny_model, tmp_path):
    rc, _, err = cli(capsys, ["quantize", "--model", tiny_model, "--precisions", "gguf-q4_k_m", "--cache-dir",
                              _file(tmp_path), "--device", "cpu"])
    assert rc == 2
    assert_one_line(err, "cannot write to the artifact cache")


def test_a_missing_haystack_file_is_one_line_then_the_same_command_runs(capsys, tiny_model, tmp_path):
    """The file is opened while the samples are built (after run.json is written): the refusal takes
    run.json back, so creating the file is all it takes."""
    text, out = tmp_path / "haystack.txt", tmp_path / "run"
    argv = run_argv(tiny_model, out, "--tasks", f"niah-single:haystack=file:{text}")
    refused_before_the_run(capsys, argv, out, "haystack.txt")
    text.write_text(" ".join(f"Entry {i} of the grey logbook was written at dawn." for i in range(400)))
    rc, _, err = cli(capsys, argv)
    assert rc == 0, err
    assert [r.status for r in RunDir(out).records()] == ["ok"]
