"""Fuzzing the command line (Hypothesis): `qlongbench run` with generated lengths, sample counts,
precision labels (options, `+kv=`), languages, task options, `--out` and `--name`, and generated
config files. Each case must end in exit 0 with a correct run directory (one record per frozen
sample and precision), or in exit 2 with exactly one error line and nothing written — never a
traceback, never exit 1 for bad input. In-process on the tiny model (tests/conftest.py).

Budget: the example counts scale with QLONGBENCH_FUZZ_EXAMPLES (percent of the default; 100 is
what CI runs), e.g. ten times as many examples:

    QLONGBENCH_FUZZ_EXAMPLES=1000 python -m pytest tests/test_fuzz_cli.py

Examples are derandomized (the same cases every run) and no example database is kept."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlongbench.files import safe_name
from qlongbench.run.store import RunDir
from tests.fuzz_helpers import assert_clean_outcome, fuzz_settings
from tests.reliability_helpers import cli, tree

# --- strategies --------------------------------------------------------------------------------
# Good values are small (a valid case runs the tiny model in a second or two); bad ones are drawn
# from what a user plausibly types and what an adversary would try.
GOOD_LENGTH = st.sampled_from(["256", "320", "0.25k", "300", " 288 "])
BAD_LENGTH = st.one_of(st.sampled_from(["abc", "1e3", "0x100", "2.5", "1.1k", "", "-256", "256k", "16k", "8"]),
                       st.integers(-10**9, 15).map(str), st.integers(8193, 10**15).map(str))
GOOD_SAMPLES = st.sampled_from(["1", "2"])
BAD_SAMPLES = st.one_of(st.sampled_from(["abc", "1.5", "", "1e2", "two"]), st.integers(-5, 0).map(str),
                        st.integers(10_001, 10**15).map(str))
CHEAP = ["bf16", "fp32", "fp16", "bnb-nf4"]
COSTLY = {"gguf-q4_k_m": "n_threads=0", "gguf-bf16": "n_threads=-1", "gptq-int4": "group_size=0",
          "gptq-int8": "group_size=-7"}
"""Engines whose first run converts or quantizes for minutes: always drawn with an option they refuse."""
OPTIONS = {"threads": ["1", "2", "0", "-1", "x", "1.5"], "double_quant": ["true", "false", "maybe"],
           "compute_dtype": ["fp32", "bf16", "fp16", "xx"], "foo": ["1"], "n_threads": ["1", "0"],
           "group_size": ["32", "0"], "file": ["/nonexistent/model.gguf"]}
KV = ["int4", "int2", "q8_0", "", "zz", "INT4"]
JUNK_LABELS = ["bf17", "", "BF16", "bf16 fp32", "gguf", "bf16:", "bf16:=1", ":x=1", "bf16+kv", "bf16+foo=1",
               "bf16+kv=int4+kv=int2", "fp32\t", "vllm-bf16", "bnb", "../bf16", "bf16:threads"]
LANGS = ["en", "de", "zh", "hi", "ar"]
BAD_LANGS = ["xx", "EN", "", "en_de", "e n", "klingon"]
TASKS = ["niah-single", "niah", "niah-multikey", "niah-none", "niah-nested", "rag", "summ-facts", "kld"]
BAD_TASKS = ["niah-singel", "NIAH", "", "summ-doc", "rag rag", "kld:"]
TASK_KEYS = ["value_digits", "distractors", "values", "queries", "none_option", "haystack", "sentences_per_chunk",
             "source", "max_rows", "questions_per_context", "facts", "top_k", "tail_samples", "buckets", "chunk",
             "across_lengths", "lengths", "languages", "samples", "foo", ""]
TASK_VALUES = ["1", "0", "-1", "2", "3", "7", "19", "true", "false", "maybe", "nan", "inf", "0.5", "256/320", "abc",
               "file:/nonexistent.txt", "hf:nope/nope", "facts", "filler", "10000000000", "en/de", "", "4k"]


GOOD_OPTIONS = {"bf16": ["threads=1"], "fp32": ["threads=1"], "fp16": [],
                "bnb-nf4": ["double_quant=true", "compute_dtype=fp32"]}
GOOD_TASK_OPTIONS = {"niah-single": ["value_digits=3", "none_option=true", "sentences_per_chunk=64"],
                     "niah": ["value_digits=18"], "niah-multikey": ["distractors=2"], "niah-none": ["distractors=0"],
                     "niah-nested": ["across_lengths=false", "value_digits=5"], "rag": ["questions_per_context=2"],
                     "summ-facts": ["facts=2"], "kld": ["top_k=4", "tail_samples=0", "buckets=2", "chunk=64"]}
WHERE_OPTIONS = ["samples=1", "lengths=256/320", "languages=en/de"]


@st.composite
def good_label(draw) -> str:
    name = draw(st.sampled_from(CHEAP))
    text = name + ("+kv=" + draw(st.sampled_from(["int4", "int2"])) if name != "bnb-nf4" and draw(
        st.integers(0, 3)) == 0 else "")
    opts = draw(st.lists(st.sampled_from(GOOD_OPTIONS[name]), max_size=1)) if GOOD_OPTIONS[name] else []
    return text + (":" + ",".join(opts) if opts else "")


@st.composite
def bad_label(draw) -> str:
    kind = draw(st.sampled_from(["options", "costly", "junk"]))
    if kind == "junk":
        return draw(st.sampled_from(JUNK_LABELS))
    if kind == "costly":
        name = draw(st.sampled_from(sorted(COSTLY)))
        return f"{name}:{COSTLY[name]}"
    text = draw(st.sampled_from(CHEAP)) + ("+kv=" + draw(st.sampled_from(KV)) if draw(st.booleans()) else "")
    opts = draw(st.lists(st.sampled_from(sorted(OPTIONS)), min_size=1, max_size=2, unique=True))
    return text + ":" + ",".join(f"{k}={draw(st.sampled_from(OPTIONS[k]))}" for k in opts)


@st.composite
def good_task(draw) -> str:
    name = draw(st.sampled_from(sorted(GOOD_TASK_OPTIONS)))
    opts = draw(st.lists(st.sampled_from(GOOD_TASK_OPTIONS[name] + WHERE_OPTIONS), max_size=2, unique=True))
    return name + (":" + ",".join(opts) if opts else "")


@st.composite
def bad_task(draw) -> str:
    name = draw(st.sampled_from(TASKS + BAD_TASKS))
    keys = draw(st.lists(st.sampled_from(TASK_KEYS), min_size=1, max_size=2, unique=True))
    return name + ":" + ",".join(f"{k}={draw(st.sampled_from(TASK_VALUES))}" for k in keys)


def _same(item: str) -> str:
    """What makes two items of a list the same one (a length, a label, a task by name)."""
    name = item.split(":")[0].strip()
    return {"niah": "niah-single", "0.25k": "256"}.get(name, name)


def listed(good, bad, max_size: int = 2):
    """A comma list of distinct good items with at most one bad one among them (bad=None: only
    good ones)."""
    goods = st.lists(good, min_size=0 if bad is not None else 1, max_size=max_size, unique_by=_same)
    if bad is None:
        return goods.map(",".join)
    return st.tuples(goods, bad, st.integers(0, max_size)).map(lambda t: ",".join(t[0][:t[2]] + [t[1]] + t[0][t[2]:]))


EXTRA = {"--max-new-tokens": (["1", "4"], ["0", "-1", "100000", "abc"]),
         "--seed": (["0", "7"], ["-1", "99999999999999999999", "1.5"]),
         "--batch-size": (["1", "2"], ["0", "-3"]),
         "--instruction-language": (["en", "de"], ["xx", ""]),
         "--chat-template": (["off", "auto"], ["on", "maybe"])}


@st.composite
def run_flags(draw) -> list[str]:
    """Flags after `run --model TINY --out OUT --no-report -q --device cpu`: all good, or with one
    field bad (which one is drawn), so that both outcomes are exercised."""
    bad = draw(st.sampled_from([None] * 5 + ["lengths", "samples", "precisions", "languages", "tasks", "extra"]))

    def pick(field, good, wrong):
        return draw(wrong if bad == field else good)

    flags = ["--lengths", pick("lengths", listed(GOOD_LENGTH, None), listed(GOOD_LENGTH, BAD_LENGTH)),
             "--samples", pick("samples", GOOD_SAMPLES, BAD_SAMPLES)]
    for field, flag, good, wrong in (("precisions", "--precisions", listed(good_label(), None),
                                      listed(good_label(), bad_label())),
                                     ("languages", "--languages", listed(st.sampled_from(LANGS), None),
                                      listed(st.sampled_from(LANGS), st.sampled_from(BAD_LANGS))),
                                     ("tasks", "--tasks", listed(good_task(), None), listed(good_task(), bad_task()))):
        if bad == field or draw(st.booleans()):
            flags += [flag, pick(field, good, wrong)]
    wrong_extra = draw(st.sampled_from(sorted(EXTRA))) if bad == "extra" else None
    for flag, (good, wrong) in EXTRA.items():
        if flag == wrong_extra:
            flags += [flag, draw(st.sampled_from(wrong))]
        elif draw(st.integers(0, 4)) == 0:
            flags += [flag, draw(st.sampled_from(good))]
    return flags


_counter = itertools.count()


def fresh_dir(root: Path) -> Path:
    """A new empty directory for one example (Hypothesis reuses the test's tmp_path)."""
    return Path(tempfile.mkdtemp(prefix=f"ex{next(_counter)}-", dir=root))


def assert_a_correct_run(out: Path) -> None:
    """Every frozen sample has exactly one record per precision that loaded; overlength samples
    have overlength records, the others ran."""
    rd = RunDir(out)
    header = rd.read_header()
    samples = rd.all_samples(header)
    records = rd.records()
    assert not header.precision_errors
    assert samples
    labels = set(header.plan.labels)  # every planned precision (none loads when all are overlength)
    want = {(p, s.sample_id) for p in labels for s in samples}
    assert sorted(r.key() for r in records) == sorted(want)
    status = {s.sample_id: s.status for s in samples}
    for r in records:
        assert r.status == ("overlength" if status[r.sample_id] == "overlength" else "ok"), r


# --- properties ----------------------------------------------------------------------------------

@fuzz_settings(200)
@given(flags=run_flags())
def test_fuzzed_run_arguments_run_correctly_or_fail_in_one_line(capsys, tiny_model, tmp_path, flags):
    case = fresh_dir(tmp_path)
    out = case / "run"
    before = tree(case)
    # A two-token answer budget (a flag drawn later overrides it): the random tiny model never stops
    # early, and decoding, not validation, would spend the budget.
    rc, _, err = cli(capsys, ["run", "--model", tiny_model, "--out", out, "--no-report", "-q", "--device", "cpu",
                              "--max-new-tokens", "2", *flags])
    assert_clean_outcome(rc, err, before, tree(case))
    if rc == 0:
        assert_a_correct_run(out)


NAME_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
PATH_PART = st.one_of(st.sampled_from(["..", ".", "run", " ", "a b", "--x", "ü", "<b>", "r|n", "x\ny"]),
                      st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="/\x00"),
                              min_size=1, max_size=6))


@fuzz_settings(10)
@given(parts=st.lists(PATH_PART, min_size=1, max_size=3), name=st.one_of(st.none(), NAME_TEXT))
def test_fuzzed_out_and_name_stay_where_they_belong(capsys, monkeypatch, tiny_model, tmp_path, parts, name):
    """`--out` is any relative path (`..` included) and `--name` any text: the run lands in the
    directory given, the report in reports/<a safe name>/ under the working directory — or one
    line, and nothing anywhere changed."""
    case = fresh_dir(tmp_path)
    cwd = case / "w" / "d"  # two levels to climb before leaving the case
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    out = "/".join(parts[:2] if parts.count("..") > 1 else parts)
    argv = ["run", "--model", tiny_model, "--out", out, "-q", "--device", "cpu", "--lengths", "256",
            "--samples", "1", "--max-new-tokens", "2"] + ([] if name is None else ["--name", name])
    before = tree(case)
    rc, stdout, err = cli(capsys, argv)
    assert_clean_outcome(rc, err, before, tree(case))
    if rc == 0:
        run_dir = (cwd / out).resolve()
        assert run_dir == case.resolve() or case.resolve() in run_dir.parents
        assert_a_correct_run(run_dir)
        report = cwd / "reports" / safe_name(name if name else run_dir.name)
        assert (report / "index.html").is_file() and (report / "results.json").is_file(), sorted(tree(case))
        assert report.resolve().parent == (cwd / "reports").resolve()


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
              st.sampled_from(["bf16", "fp32", "niah-single", "rag:samples=2", "en", "de", "4k", "256", "auto", "on",
                               "abc", "", "bf16+kv=int4", "bf16:threads=1", "gguf-q4_k_m", "1k,2k", "cpu", "ray"]),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["name", "options", "lengths", "languages", "samples", "kv", "foo"]), inner, max_size=3)),
    max_leaves=6)
CONFIG_KEYS = ["precisions", "tasks", "lengths", "languages", "instruction_language", "samples", "seed", "device",
               "chat_template", "max_new_tokens", "trust_remote_code", "allow_pickle", "batch_size", "reuse",
               "engine_baseline", "noise_floor", "name", "replicas", "gpus", "cpus_per_unit", "executor",
               "sampels", "model_name"]


PLAUSIBLE = {
    "precisions": [["bf16"], "bf16,fp32", ["bf16", "bnb-nf4:double_quant=true"], [{"name": "bf16+kv=int4"}],
                   [{"name": "gguf-q4_k_m", "options": {"n_threads": 2}}], "fp32:threads=1"],
    "tasks": [["niah-single"], "rag", [{"name": "rag", "samples": 3, "lengths": ["1k", 2048]}],
              [{"name": "niah-nested", "options": {"across_lengths": False}}], "kld:top_k=8", [{"name": "summ-facts",
                                                                                              "languages": ["de"]}]],
    "lengths": [[256, 512], "1k,2k", ["4k"], [1024.0], "256"], "languages": [["en"], "en,de", ["zh", "hi"]],
    "instruction_language": ["en", "de"], "samples": [1, 20, 3], "seed": [0, 7, -3], "device": ["cpu", "auto"],
    "chat_template": ["auto", "off", True], "max_new_tokens": [4, None], "trust_remote_code": [False],
    "allow_pickle": [False, True], "batch_size": [1, 4], "reuse": ["exact", "none"], "engine_baseline": [True],
    "noise_floor": [True, False], "name": ["sweep", "my run"], "replicas": [1, 2], "gpus": [1, {"bf16": 2, "*": 1}, "bf16=2"],
    "cpus_per_unit": [1, 0.5], "executor": ["local", "ray"]}


@st.composite
def config_value(draw, key: str):
    if key in PLAUSIBLE and draw(st.integers(0, 3)) > 0:
        return draw(st.sampled_from(PLAUSIBLE[key]))
    return draw(YAML_VALUES)


@st.composite
def config_file(draw) -> dict:
    keys = draw(st.lists(st.sampled_from(CONFIG_KEYS), max_size=6, unique=True))
    return {k: draw(config_value(k)) for k in keys}


@fuzz_settings(300)
@given(config=config_file())
def test_fuzzed_config_files_validate_and_plan_or_fail_in_one_line(tmp_path, config):
    """A YAML config (`run --config`) of any shape either gives a spec that plans (tasks, cells,
    precisions) or one UserError line — no other exception, on the way the CLI reads it."""
    import yaml

    from qlongbench.errors import UserError
    from qlongbench.run.planner import plan_precisions, plan_tasks
    from qlongbench.spec.config import build_spec, layered_values, load_yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    try:
        values, source = layered_values(load_yaml(path), {"model": "tiny-model-dir"}, str(path))
        spec = build_spec(values, source)
        plan_precisions(spec, plan_tasks(spec))  # tasks, their sizes, precisions and options
    except UserError as err:
        assert str(err).strip()
        return
    assert spec.samples >= 1 and spec.lengths and spec.precisions


@pytest.mark.parametrize("argv, needle", [
    (["run", "--name", "a\nb", "--samples", "0"], "samples"),
    (["run", "--out", "x\ny", "--lengths", "a\nb"], "bad length"),
    (["report", "no\nsuch\ndir"], "no\\nsuch\\ndir"),
    (["check", "\udcff"], "not valid UTF-8"),
], ids=["name-newline", "length-newline", "path-newline", "surrogate-byte"])
def test_an_error_naming_a_line_break_or_a_bad_byte_is_still_one_line(capsys, tmp_path, monkeypatch, argv, needle):
    """Found by the fuzzing: a value holding a line break made the error two lines (now escaped as
    \\n), and an undecodable byte in an argument (a lone surrogate) crashed the first write."""
    from tests.reliability_helpers import assert_one_line

    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(capsys, argv)
    assert rc == 2
    assert_one_line(err, needle)
    assert tree(tmp_path) == {}
