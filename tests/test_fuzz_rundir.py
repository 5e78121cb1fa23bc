"""Fuzzing run directories (Hypothesis): a finished run directory mutated the ways a disk, an
editor or an adversary would — a records or samples line with a wrong type, a missing or an extra
field, NaN, a negative count, an unknown status, a duplicated or foreign sample id, another run's
id, a truncated file, garbage bytes, a symlink or a device in place of a file, a read-only
directory, a run.json field changed — then read by `report`, `check` and a resumed `run`. Each
must exit 0 (check: 0 or 1, its verdict) with a whole result, or exit 2 with exactly one error line;
either way the run directory keeps every byte and a refused report leaves no directory behind.
Policy files and kept log-prob files (.npz) are fuzzed the same way.

Budget: QLONGBENCH_FUZZ_EXAMPLES scales the example counts (percent; 100 = CI), e.g.

    QLONGBENCH_FUZZ_EXAMPLES=1000 python -m pytest tests/test_fuzz_rundir.py

Derandomized; no example database is kept."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz_helpers import assert_clean_outcome, fuzz_settings, make_run
from tests.reliability_helpers import cli, run_argv, tree
from tests.test_fuzz_cli import assert_a_correct_run, fresh_dir

SAMPLES = "samples/niah-single-en-256.jsonl"
FIELDS = ["run_id", "precision", "engine", "task", "language", "length", "n_prompt_tokens", "sample_id", "depth",
          "prompt_sha256", "output", "expected", "score", "parsed", "status", "metrics", "n_generated_tokens",
          "prefill_seconds", "kv_cache_bytes", "peak_bytes", "created_at"]
SAMPLE_FIELDS = ["sample_id", "task", "language", "length", "index", "status", "prompt_ids", "prefix_len",
                 "max_new_tokens", "expected", "depth", "metadata"]
JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["ok", "error", "oom", "overlength", "done", "", "bf16", "niah-single", "en", "xx", "1.0", "NaN",
                     "2026-01-01T00:00:00+00:00", "yesterday", "niah-single-en-256-0001", "nope"]),
    st.text(max_size=6), st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                  st.integers(), max_size=2))


@st.composite
def jsonl_mutation(draw, fields: list[str]):
    """(op, line index, arguments) for one line of a JSONL file."""
    op = draw(st.sampled_from(["set", "set", "set", "delete", "extra", "duplicate", "swap-id", "garbage", "not-object",
                               "truncate", "bad-utf8", "blank"]))
    return op, draw(st.integers(0, 20)), draw(st.sampled_from(fields)), draw(JSON_VALUES), draw(st.integers(1, 400))


def mutate_jsonl(path: Path, mutation) -> None:
    op, i, field, value, cut = mutation
    data = path.read_bytes()
    lines = data.decode("utf-8").splitlines(keepends=True)
    i %= len(lines)
    row = json.loads(lines[i])
    if op == "truncate":
        path.write_bytes(data[: max(0, len(data) - cut)])
        return
    if op == "bad-utf8":
        path.write_bytes(data[: len(data) // 2] + b"\xff\xfe" + data[len(data) // 2:])
        return
    if op == "set":
        row[field] = value
    elif op == "delete":
        row.pop(field, None)
    elif op == "extra":
        row[f"x_{field}"] = value
    elif op == "swap-id":
        row["sample_id"] = json.loads(lines[(i + 1) % len(lines)])["sample_id"]
    new = json.dumps(row) + "\n"
    if op == "duplicate":
        new = lines[i] + lines[i]
    elif op == "garbage":
        new = lines[i] + '{"run_id": "x", oops\n'
    elif op == "not-object":
        new = json.dumps(value) + "\n"
    elif op == "blank":
        new = lines[i] + "\n   \n"
    lines[i] = new
    path.write_text("".join(lines), encoding="utf-8")


@st.composite
def header_mutation(draw):
    path = draw(st.sampled_from([("run_id",), ("name",), ("created_at",), ("version",), ("seed",), ("spec", "samples"),
                                 ("spec", "lengths"), ("plan", "model", "num_hidden_layers"), ("plan", "model", "source"),
                                 ("precisions", "bf16", "weight_bytes"), ("plan", "tasks", "niah-single", "chance_level"),
                                 ("plan", "tasks", "niah-single", "generation", "max_new_tokens"), ("samples",),
                                 ("precisions",), ("resumed_at",), ("plan", "added"), ("plan", "logprob_reference"),
                                 ("plan", "precisions"), ("plan", "reference"), ("plan", "measure", "floor"),
                                 ("plan", "engine_baselines")]))
    return path, draw(JSON_VALUES), draw(st.booleans())


def mutate_header(root: Path, mutation) -> None:
    path, value, delete = mutation
    data = json.loads((root / "run.json").read_text(encoding="utf-8"))
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    (root / "run.json").write_text(json.dumps(data), encoding="utf-8")


def mutate_structure(root: Path, kind: str) -> None:
    records = root / "records.jsonl"
    if kind == "symlink-copy":
        shutil.copy(records, root / "elsewhere.jsonl")
        records.unlink()
        records.symlink_to(root / "elsewhere.jsonl")
    elif kind == "symlink-dir":
        records.unlink()
        records.symlink_to(root / "samples", target_is_directory=True)
    elif kind == "symlink-dangling":
        records.unlink()
        records.symlink_to(root / "nowhere.jsonl")
    elif kind == "symlink-device":
        records.unlink()
        records.symlink_to("/dev/zero")
    elif kind == "records-is-dir":
        records.unlink()
        records.mkdir()
    elif kind == "run-json-symlink-loop":
        (root / "run.json").unlink()
        (root / "run.json").symlink_to(root / "run.json")
    elif kind == "samples-stray":
        shutil.copy(root / SAMPLES, root / "samples" / "niah-single-en-999.jsonl")
    elif kind == "samples-missing":
        (root / SAMPLES).unlink()
    elif kind == "read-only":
        for p in [root, *root.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o555 if p.is_dir() else 0o444)


STRUCTURE = ["symlink-copy", "symlink-dir", "symlink-dangling", "symlink-device", "records-is-dir",
             "run-json-symlink-loop", "samples-stray", "samples-missing", "read-only"]


@st.composite
def run_mutation(draw):
    target = draw(st.sampled_from(["records", "records", "records", "samples", "header", "structure"]))
    if target == "records":
        return target, draw(jsonl_mutation(FIELDS))
    if target == "samples":
        return target, (draw(jsonl_mutation(SAMPLE_FIELDS)), draw(st.booleans()))
    if target == "header":
        return target, draw(header_mutation())
    return target, draw(st.sampled_from(STRUCTURE))


def apply(root: Path, mutation) -> None:
    target, args = mutation
    if target == "records":
        mutate_jsonl(root / "records.jsonl", args)
    elif target == "samples":
        jsonl, rebind = args
        mutate_jsonl(root / SAMPLES, jsonl)
        if rebind:  # a careful forger binds the edited file in run.json again
            import hashlib

            data = json.loads((root / "run.json").read_text(encoding="utf-8"))
            data["samples"][Path(SAMPLES).name] = hashlib.sha256((root / SAMPLES).read_bytes()).hexdigest()
            (root / "run.json").write_text(json.dumps(data), encoding="utf-8")
    elif target == "header":
        mutate_header(root, args)
    else:
        mutate_structure(root, args)


def snapshot(root: Path) -> dict[str, object]:
    """Every entry below root: a file's bytes, a symlink's target, a directory's mode."""
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        out[key] = ("link", os.readlink(p)) if p.is_symlink() else (
            ("dir", p.stat().st_mode) if p.is_dir() else p.read_bytes())
    return out


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("base") / "run", n=8, precisions=("bf16", "bnb-nf4", "fp32"))


@fuzz_settings(250)
@given(mutation=run_mutation(), reader=st.sampled_from(["check", "report"]))
def test_a_mutated_run_directory_reads_whole_or_is_one_line(capsys, base_run, tmp_path, mutation, reader):
    case = fresh_dir(tmp_path)
    run = case / "run"
    shutil.copytree(base_run, run, symlinks=True)
    apply(run, mutation)
    before = snapshot(run)
    report = case / "report"
    argv = {"check": ["check", run, "-q", "--max-drop", "50", "--min-samples", "1"],
            "report": ["report", run, "--out", report, "-q"]}[reader]
    try:
        rc, out, err = cli(capsys, argv)
    finally:
        for p in [run, *run.rglob("*")]:  # read-only: the test's own cleanup must still work
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() else 0o644)
    after = snapshot(run)
    assert_clean_outcome(rc, err, {}, {}, ok_codes=(0, 1) if reader == "check" else (0,))
    assert {k: v for k, v in after.items() if not isinstance(v, tuple) or v[0] != "dir"} == {
        k: v for k, v in before.items() if not isinstance(v, tuple) or v[0] != "dir"}, "a reader wrote into the run"
    if rc == 2:
        assert not report.exists() or not any(report.iterdir())
    elif reader == "check":
        assert "qlongbench check:" in out
    else:
        payload = json.loads((report / "results.json").read_text(encoding="utf-8"))
        assert payload and (report / "index.html").is_file() and (report / "summary.md").is_file()
        assert_counts(payload, before)  # the report counts exactly the records the directory holds


def expected_cells(snap: dict[str, object]) -> dict[tuple, tuple[int, int, float | None]]:
    """Read without qlongbench from a snapshot of the run: the whole, non-blank lines of records.jsonl
    grouped by cell (precision, task, language, length) as (records, ok records, mean score of the ok ones)."""
    data = snap.get("records.jsonl")
    if isinstance(data, tuple) and data[0] == "link":  # a symlink to a copy: the copy's bytes
        data = snap.get(Path(data[1]).name)
    data = data if isinstance(data, bytes) else b""
    rows = [json.loads(line) for line in data[: data.rfind(b"\n") + 1].decode("utf-8").splitlines() if line.strip()]
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        lang = r["language"] if r.get("instruction_language", r["language"]) == r["language"] else \
            f"{r['instruction_language']}_{r['language']}"
        cells.setdefault((r["precision"], r["task"], lang, r["length"]), []).append(r)
    out = {}
    for key, rs in cells.items():
        ok = [r["score"] for r in rs if r["status"] == "ok"]
        out[key] = (len(rs), len(ok), sum(ok) / len(ok) if ok else None)
    return out


def assert_counts(payload: dict, snap: dict[str, object]) -> None:
    got = {(c["key"]["precision"], c["key"]["task"], c["key"]["language"], c["key"]["length"]):
           (c["n"], c["n_ok"], c["accuracy"]) for c in payload["cells"]}
    want = expected_cells(snap)
    assert set(got) == set(want), (sorted(got), sorted(want))
    for key, (n, n_ok, acc) in want.items():
        assert got[key][:2] == (n, n_ok), (key, got[key], (n, n_ok))
        assert (acc is None and got[key][2] is None) or abs(got[key][2] - acc) < 1e-9, (key, got[key], acc)


# --- a resumed run on a mutated directory -------------------------------------------------------------
MADE = ("--lengths", "256", "--samples", "2", "--precisions", "bf16,fp32", "--no-report", "-q", "--device", "cpu",
        "--max-new-tokens", "2")


@pytest.fixture(scope="module")
def made_run(tiny_model, tmp_path_factory) -> Path:
    from qlongbench.cli import main

    out = tmp_path_factory.mktemp("made") / "run"
    assert main(run_argv(tiny_model, out, fast=MADE)) == 0
    return out


@fuzz_settings(16)
@given(mutation=st.one_of(jsonl_mutation(FIELDS).map(lambda m: ("records", m)),
                          st.sampled_from(["symlink-copy", "symlink-dangling", "samples-stray", "samples-missing"])
                          .map(lambda k: ("structure", k))))
def test_a_resume_on_a_mutated_run_completes_or_is_one_line(capsys, tiny_model, made_run, tmp_path, mutation):
    """The same `run` command on a damaged directory: it completes (a torn last line repaired, a
    missing record run again) with every record exactly once, or refuses in one line with every
    byte left as it was."""
    case = fresh_dir(tmp_path)
    run = case / "run"
    shutil.copytree(made_run, run, symlinks=True)
    apply(run, mutation)
    before = tree(run)
    rc, _, err = cli(capsys, run_argv(tiny_model, run, fast=MADE))
    assert_clean_outcome(rc, err, before, tree(run))
    if rc == 0:
        assert_a_correct_run(run)


# --- policy files -----------------------------------------------------------------------------------
POLICY_KEYS = ["reference", "candidates", "confidence", "min_samples", "max_drop", "max_relative_drop", "lengths",
               "tasks", "languages", "strict", "allow_no_pass", "min_reference_accuracy", "min_parsed", "rules", "maxdrop"]
RULE_KEYS = ["task", "language", "length", "min_length", "max_length", "candidate", "kv", "max_drop",
             "max_relative_drop", "min_samples", "skip", "when"]
POLICY_VALUES = st.one_of(JSON_VALUES, st.sampled_from([5, 3.5, 0.9, 0.95, 100, "4k", [256], "bf16", ["bnb-nf4"],
                                                        "niah", ["en"], True, 20]))


PLAUSIBLE_POLICY = {
    "reference": ["bf16", "fp32", "bnb-nf4"], "candidates": [["bnb-nf4"], "bnb-nf4,fp32", ["fp32"]],
    "confidence": [0.9, 0.95, 0.99], "min_samples": [1, 5, 20], "max_drop": [5, 50, 0, 100, 12.5],
    "max_relative_drop": [10, 50], "lengths": [[256], "256", ["0.25k"]], "tasks": [["niah-single"], "niah"],
    "languages": [["en"], "en"], "strict": [True, False], "allow_no_pass": [True, False],
    "min_reference_accuracy": [0, 10, 90], "min_parsed": [0, 50], "task": ["niah", ["niah-single"]],
    "language": ["en"], "length": [[256], "256"], "min_length": ["256", 16], "max_length": ["4k"],
    "candidate": ["bnb-nf4"], "kv": ["default", ["q8_0"]], "skip": [True, False]}


@st.composite
def policy_value(draw, key: str):
    if key in PLAUSIBLE_POLICY and draw(st.integers(0, 3)) > 0:
        return draw(st.sampled_from(PLAUSIBLE_POLICY[key]))
    return draw(POLICY_VALUES)


@st.composite
def mapping(draw, keys: list[str], max_size: int) -> dict:
    return {k: draw(policy_value(k)) for k in draw(st.lists(st.sampled_from(keys), max_size=max_size, unique=True))}


@fuzz_settings(150)
@given(policy=mapping(POLICY_KEYS, 5), rules=st.lists(mapping(RULE_KEYS, 3), max_size=2))
def test_a_fuzzed_policy_gates_or_is_one_line(capsys, base_run, tmp_path, policy, rules):
    import yaml

    if rules:
        policy["rules"] = rules
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    junit = tmp_path / "junit.xml"
    junit.unlink(missing_ok=True)
    before = tree(base_run)
    rc, out, err = cli(capsys, ["check", base_run, "--policy", path, "-q", "--junit", junit])
    assert_clean_outcome(rc, err, {}, {}, ok_codes=(0, 1))
    assert tree(base_run) == before
    if rc == 2:
        assert not junit.exists()
    else:
        import xml.etree.ElementTree as ET

        assert "qlongbench check:" in out and ET.parse(junit).getroot().tag == "testsuites"


# --- kept log-prob files -----------------------------------------------------------------------------
ARRAYS = {"indices": "int32", "logprobs": "float32", "tail_logmass": "float32", "sample_indices": "int32",
          "sample_logprobs": "float32"}


@st.composite
def kept_arrays(draw):
    import numpy as np

    n, k, m = 5, 3, 2
    good = {"indices": np.arange(n * k, dtype=np.int32).reshape(n, k),
            "logprobs": -np.ones((n, k), dtype=np.float32), "tail_logmass": np.full(n, -2.0, dtype=np.float32),
            "sample_indices": np.zeros((n, m), dtype=np.int32), "sample_logprobs": np.full((n, m), -5.0, np.float32)}
    name = draw(st.sampled_from(sorted(ARRAYS)))
    op = draw(st.sampled_from(["drop", "shape", "dtype", "nan", "posinf", "neginf", "negative", "scalar", "keep"]))
    a = good[name]
    if op == "drop":
        del good[name]
    elif op == "shape":
        good[name] = a.reshape(-1) if a.ndim == 2 else a[:-1]
    elif op == "dtype":
        good[name] = a.astype(draw(st.sampled_from(["float64", "int64", "bool", "U3", "complex64"])))
    elif op in ("nan", "posinf", "neginf"):
        b = a.astype(np.float32)
        b.flat[draw(st.integers(0, b.size - 1))] = {"nan": np.nan, "posinf": np.inf, "neginf": -np.inf}[op]
        good[name] = b
    elif op == "negative":
        b = a.copy()
        b.flat[0] = -1
        good[name] = b
    elif op == "scalar":
        good[name] = np.array(3)
    return good


@fuzz_settings(100)
@given(arrays=kept_arrays())
def test_kept_log_prob_files_are_whole_or_one_line(tmp_path, arrays):
    """What the kld reference kept is read back only if every array has its shape, an integer or
    float dtype as the estimator needs, ids that are not negative and log-probs without NaN or +inf."""
    import numpy as np

    from qlongbench.errors import UserError
    from qlongbench.hashing import ids_sha256
    from qlongbench.run.logprobs import LogprobFiles
    from qlongbench.tasks.kld import kept_reference as reader  # what reads the loaded arrays
    from qlongbench.types import Sample

    ids = (5, 6, 7, 8, 9)
    sample = Sample(sample_id="kld-en-256-0000", task="kld", language="en", instruction_language="en", length=256,
                    index=0, seed=0, status="ok", prompt_ids=ids, prefix_len=5, max_new_tokens=0, expected=(),
                    prompt_sha256=ids_sha256(ids))
    files = LogprobFiles(tmp_path)
    files.save("bf16", sample, arrays)
    try:
        back = files.load("bf16", sample)
    except UserError as err:
        assert "\n" not in str(err) and "npz" in str(err)
        return
    ref = reader(back)  # accepted files are what the estimator can work with
    assert ref.indices.shape == ref.logprobs.shape and ref.tail_logmass.shape == (len(ref.indices),)
    for a in (ref.logprobs, ref.tail_logmass, ref.sample_logprobs):
        assert not np.isnan(a).any() and not np.isposinf(a).any()
    assert ref.indices.dtype.kind in "iu" and (ref.indices >= 0).all()


# --- a forged samples file whose metadata the tasks read back ----------------------------------------
META = ("--lengths", "64,256", "--samples", "1", "--precisions", "bf16", "--tasks", "niah-multikey,niah-none,summ-facts",
        "--no-report", "-q", "--device", "cpu", "--max-new-tokens", "2")
"""Tasks that read their samples' metadata when they score (distractor values, none words, the facts'
terms), and overlength samples at 64 tokens (their reason becomes the record's error)."""
META_KEYS = ["reason", "facts", "distractor_values", "none_words", "needle", "key", "document_tokens"]
META_VALUES = st.one_of(JSON_VALUES, st.sampled_from([
    [{"terms": 5}], [{"terms": [["x"], 3]}], [{"text": "no terms"}], [], [{"terms": []}], [{"terms": [[]]}],
    [{"terms": [["Ann"], ["red"]]}], ["1234567"], [1234567], [None], ["none", "nothing"], {"a": 1}]))


@pytest.fixture(scope="module")
def meta_run(tiny_model, tmp_path_factory) -> Path:
    from qlongbench.cli import main

    out = tmp_path_factory.mktemp("meta") / "run"
    assert main(run_argv(tiny_model, out, fast=META)) == 0
    return out


@st.composite
def metadata_mutation(draw):
    """(samples file index, line index, op, key, value) for one sample's metadata."""
    return (draw(st.integers(0, 20)), draw(st.integers(0, 20)), draw(st.sampled_from(["set", "set", "delete", "replace"])),
            draw(st.sampled_from(META_KEYS)), draw(META_VALUES))


def forge_metadata(run: Path, mutation) -> str:
    """Edit one sample's metadata, bind the file in run.json again (a careful forger), and drop the
    sample's records so that a resume scores it afresh. Returns the sample id."""
    import hashlib

    f, i, op, key, value = mutation
    files = sorted((run / "samples").glob("*.jsonl"))
    path = files[f % len(files)]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[i % len(lines)])
    if op == "set":
        row["metadata"][key] = value
    elif op == "delete":
        row["metadata"].pop(key, None)
    else:
        row["metadata"] = value
    lines[i % len(lines)] = json.dumps(row) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    header = json.loads((run / "run.json").read_text(encoding="utf-8"))
    header["samples"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (run / "run.json").write_text(json.dumps(header), encoding="utf-8")
    records = (run / "records.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (run / "records.jsonl").write_text("".join(r for r in records if json.loads(r)["sample_id"] != row["sample_id"]),
                                       encoding="utf-8")
    return row["sample_id"]


@fuzz_settings(16)
@given(mutation=metadata_mutation(), reader=st.sampled_from(["run", "run", "report"]))
def test_forged_sample_metadata_is_scored_or_one_line(capsys, tiny_model, meta_run, tmp_path, mutation, reader):
    """A samples file edited and bound again: the metadata a task reads back (the facts' terms,
    distractor values, none words, an overlength sample's reason) has its type checked when the file
    is read, so a resume that scores the sample again completes or is one line — never exit 1 with a
    traceback out of the scorer."""
    case = fresh_dir(tmp_path)
    run = case / "run"
    shutil.copytree(meta_run, run, symlinks=True)
    forge_metadata(run, mutation)
    before = tree(run)
    argv = run_argv(tiny_model, run, fast=META) if reader == "run" else ["report", run, "--out", case / "r", "-q"]
    rc, _, err = cli(capsys, argv)
    assert_clean_outcome(rc, err, before, tree(run) if rc == 2 else before)
    if rc == 0 and reader == "run":
        assert_a_correct_run(run)
