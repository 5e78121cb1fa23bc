"""The lm-eval plugin: committed YAMLs, samples that re-encode to the exact ids `qlongbench run`
freezes, scoring by the task's own function, and the real `lm_eval` CLI on the tiny model whose
per-sample results equal `qlongbench run`'s."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qlongbench import registry
from qlongbench.errors import UserError
from qlongbench.harness import generate, include_path, plugin
from qlongbench.hashing import ids_sha256
from qlongbench.run.store import RunDir
from qlongbench.tasks.haystack import FIT_TOLERANCE

REPO = Path(__file__).resolve().parents[1]
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def available_tasks() -> list[tuple[str, str]]:
    """(lm-eval name, qlongbench task) of every plugin task whose module is installed here."""
    out = []
    for name, task in generate.plugin_tasks():
        try:
            registry.task_class(task)
        except ImportError:
            continue
        out.append((name, task))
    return out


def options(model: Path, task: str = "niah-single", **extra) -> plugin.HarnessOptions:
    return plugin.read_options({"pretrained": str(model), "qlb_task": task, "max_seq_lengths": [256],
                                "num_samples": 3, **extra})


SHORT = (512, 1024)
LONG = (2048, 3072)
_LENGTHS: dict[str, tuple[int, int]] = {}


def lengths_for(model: Path, task: str) -> tuple[int, int]:
    """The tiny model's two test lengths for a task: 512 and 1024, or 2048 and 3072 for a task whose
    shortest prompt does not fit 512 of the tiny vocabulary's tokens (cwe's 10 x 10 list entries,
    fwe's fewest words with a clear top three, vt's worked example): these are overlength at 512,
    which `test_tasks_aggregation` and `test_tasks_tracing` check."""
    if task not in _LENGTHS:
        try:
            fits = len(plugin.build_docs(options(model, task, max_seq_lengths=[SHORT[0]]))) == 3
        except UserError:
            fits = False
        _LENGTHS[task] = SHORT if fits else LONG
    return _LENGTHS[task]


# --- the shipped files ---------------------------------------------------------------------------
def test_committed_yamls_are_up_to_date():
    stale = generate.stale()
    assert not stale, f"run `python -m qlongbench.harness.generate`: stale {stale}"


def test_every_registered_task_is_in_the_plugin_or_says_why_not():
    """The plugin's task list is the registry's: a registered task has its committed YAML, unless its
    class keeps it out (lm_eval_name None) and says why in that method's docstring."""
    from qlongbench.tasks.base import Task

    for name in registry.names(registry.TASKS):
        cls = registry.task_class(name)
        lm_eval = cls.lm_eval_name()
        if lm_eval is None:
            assert cls.uses_logprobs or (cls.lm_eval_name.__func__ is not Task.lm_eval_name.__func__
                                         and cls.lm_eval_name.__doc__), name
            continue
        path = include_path() / f"{lm_eval}.yaml"
        assert path.is_file(), f"task {name} has no {path.name}: run `python -m qlongbench.harness.generate`"
        assert f"  qlb_task: {cls.name}\n" in path.read_text(encoding="utf-8")


def test_a_registered_task_missing_from_the_plugin_makes_it_stale(monkeypatch):
    from qlongbench.tasks.niah import NiahSingle

    class NewTask(NiahSingle):
        name = "new-task"

        @classmethod
        def lm_eval_name(cls):
            return "qlongbench_new_task"

    real_names, real_class = registry.names, registry.task_class
    monkeypatch.setattr(registry, "names", lambda group: real_names(group) + ["new-task"])
    monkeypatch.setattr(registry, "task_class", lambda name: NewTask if name == "new-task" else real_class(name))
    assert ("qlongbench_new_task", "new-task") in generate.plugin_tasks()
    assert generate.stale() == ["qlongbench_new_task.yaml"]


def test_harness_path_cli_prints_the_yaml_directory(capsys):
    from qlongbench.cli import main

    assert main(["harness-path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == include_path() and (path / "qlongbench_niah.yaml").is_file() and (path / "utils.py").is_file()


def test_lm_eval_indexes_every_task_and_the_group():
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(include_path()), include_defaults=False)
    names = set(tm.all_tasks)
    from qlongbench.tasks.languages import languages

    want = {n for n, _ in generate.plugin_tasks()} | {f"qlongbench_niah_{c}" for c in languages()} | {"qlongbench_niah_multilingual"}
    assert want <= names
    assert "qlongbench_niah_multilingual" in tm.all_groups and "qlongbench" in tm.all_tags


def test_answer_budget_matches_the_task():
    for name, task in available_tasks():
        text = (include_path() / f"{name}.yaml").read_text(encoding="utf-8")
        budget = registry.task_class(task).default_max_new_tokens
        assert f"qlb_max_new_tokens: {budget}\n" in text and f"max_gen_toks: {budget}\n" in text


# --- samples and scoring -------------------------------------------------------------------------
@pytest.mark.parametrize("task", [t for _, t in available_tasks()])
def test_docs_reencode_to_exact_ids_and_fit_the_length(tiny_model, tiny_tokenizer, task):
    lengths = lengths_for(tiny_model, task)
    opts = options(tiny_model, task, max_seq_lengths=list(lengths))
    docs = plugin.build_docs(opts)
    assert {d["length"] for d in docs} == set(lengths) and len(docs) == 6
    budget = registry.task_class(task).default_max_new_tokens
    for d in docs:
        ids = plugin.lm_eval_ids(tiny_tokenizer, d["input"])
        assert d["exact_ids"] and ids_sha256(ids) == d["prompt_sha256"] and len(ids) == d["n_prompt_tokens"]
        assert d["length"] - budget - FIT_TOLERANCE <= len(ids) <= d["length"] - budget


def test_a_tokenizer_that_adds_bos_gets_it_from_lm_eval_not_from_the_text(tiny_model, tmp_path):
    """Llama-style tokenizers add BOS themselves: the doc text must not carry it ('<s>' + text encodes
    differently: the first word loses its leading-space piece), lm-eval adds it back."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tiny_model))
    hf.add_bos_token = True
    hf.save_pretrained(str(tmp_path / "bos"))
    tok = plugin.load_tokenizer(str(tmp_path / "bos"), None, False, False)
    assert tok.encode("", add_special_tokens=True) == [hf.bos_token_id]
    docs = plugin.build_docs(options(tmp_path / "bos"))
    for d in docs:
        assert not d["input"].startswith("<s>") and d["exact_ids"]
        ids = plugin.lm_eval_ids(tok, d["input"])
        assert ids[0] == hf.bos_token_id and ids[1] != hf.bos_token_id
        assert ids_sha256(ids) == d["prompt_sha256"]
    assert plugin.lm_eval_ids(tok, "<s>" + docs[0]["input"]) != plugin.lm_eval_ids(tok, docs[0]["input"])


@pytest.mark.parametrize("language", ["de", "zh", "hi", "ar"])
def test_multilingual_docs_reencode_exactly(tiny_model, tiny_tokenizer, language):
    from qlongbench.tasks.languages import languages

    if language not in languages():
        pytest.skip(f"language {language} is not shipped in this tree")
    docs = plugin.build_docs(options(tiny_model, qlb_language=language, max_seq_lengths=[1024], num_samples=2))
    assert all(d["exact_ids"] and d["language"] == language for d in docs)
    assert all(ids_sha256(plugin.lm_eval_ids(tiny_tokenizer, d["input"])) == d["prompt_sha256"] for d in docs)


def test_process_results_uses_the_task_score_under_the_length_only(tiny_model):
    doc = plugin.build_docs(options(tiny_model))[0]
    answer = doc["target"]
    assert plugin.process_results(doc, [f"The special magic number is {answer}."]) == {"256": 1.0}
    assert plugin.process_results(doc, [f"The special magic number is {answer}9."]) == {"256": 0.0}
    assert plugin.process_results(doc, [""]) == {"256": 0.0}
    task = registry.task_class("niah-single")()
    sample = plugin.doc_sample(doc)
    assert sample.sample_id == doc["sample_id"] and sample.expected == (answer,)
    assert task.score(sample, f"x {answer}").score == plugin.process_results(doc, [f"x {answer}"])["256"]


@pytest.mark.parametrize("chat", [False, True])
def test_same_seed_lengths_and_samples_give_qlongbench_runs_samples(tiny_model, tiny_chat_model, tmp_path, chat):
    from qlongbench.spec.config import build_spec
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    model = tiny_chat_model if chat else tiny_model
    spec = build_spec({"model": str(model), "precisions": "fp32", "lengths": "256,512", "samples": 3,
                       "chat_template": chat, "out": str(tmp_path / "run"), "device": "cpu"})
    Runner(spec).run()
    frozen = {s.sample_id: s.prompt_sha256 for s in RunDir(spec.out).all_samples()}
    docs = plugin.build_docs(options(model, max_seq_lengths=[256, 512], chat_template=chat))
    assert {d["sample_id"]: d["prompt_sha256"] for d in docs} == frozen
    other_seed = plugin.build_docs(options(model, max_seq_lengths=[256, 512], seed=1, chat_template=chat))
    assert {d["prompt_sha256"] for d in other_seed}.isdisjoint(frozen.values())


@pytest.mark.parametrize("chat", [False, True])
def test_lm_eval_hf_model_encodes_the_doc_text_to_the_exact_ids(tiny_model, tiny_chat_model, chat):
    """lm-eval's own HF model (HFLM.tok_batch_encode, as generate_until calls it) turns the doc text
    back into the sample's ids, with the template rendered by the plugin or not."""
    from lm_eval.models.huggingface import HFLM

    model = tiny_chat_model if chat else tiny_model
    lm = HFLM(pretrained=str(model), device="cpu", dtype="float32", batch_size=1)
    for doc in plugin.build_docs(options(model, chat_template=chat)):
        ids, _ = lm.tok_batch_encode([doc["input"]])
        assert ids_sha256(ids[0].tolist()) == doc["prompt_sha256"]


@pytest.mark.parametrize("extra, needle", [
    ({"qlb_task": "niah-single", "max_seq_lengths": [256]}, "pretrained=<model>"),
    ({"qlb_task": "niah-single", "max_seq_lengths": [16384], "pretrained": "MODEL"}, "max_position_embeddings (8192)"),
    ({"qlb_task": "niah-single", "max_seq_lengths": [4096], "pretrained": "MODEL", "max_length": 2048}, "max_length=2048"),
    ({"qlb_task": "niah-single", "max_seq_lengths": ["4q"], "pretrained": "MODEL"}, "bad length"),
    ({"qlb_task": "niah-single", "max_seq_lengths": [256], "pretrained": "MODEL", "language": "xx"}, "no text in 'xx'"),
    ({"qlb_task": "niah-single", "max_seq_lengths": [32], "pretrained": "MODEL"}, "no sample fits"),
    ({"qlb_task": "niah-single", "max_seq_lengths": [256], "pretrained": "MODEL", "chat_template": True}, "no chat template"),
    ({"qlb_task": "niah-singel", "max_seq_lengths": [256], "pretrained": "MODEL"}, "did you mean niah-single"),
])
def test_bad_metadata_is_one_clear_error(tiny_model, extra, needle, capsys):
    """lm-eval calls build_dataset: a bad setting ends the process with one line and exit code 2."""
    kwargs = {k: (str(tiny_model) if v == "MODEL" else v) for k, v in extra.items()}
    with pytest.raises(SystemExit) as stop:
        plugin.build_dataset(**kwargs)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1
    with pytest.raises(UserError):
        plugin.build_docs(plugin.read_options(kwargs))


def test_lm_eval_cli_length_past_the_model_is_one_line(tiny_model, tmp_path):
    """Through the real lm_eval CLI: a length past max_position_embeddings gives the one-line error
    and exit code 2, not a traceback."""
    env = {**os.environ, **OFFLINE}
    bin_dir = Path(sys.executable).parent
    harness = subprocess.run([str(bin_dir / "qlongbench"), "harness-path"], capture_output=True, text=True, env=env,
                             check=True).stdout.strip()
    cmd = [str(bin_dir / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={tiny_model},dtype=float32",
           "--tasks", "qlongbench_niah", "--include_path", harness,
           "--metadata", json.dumps({"max_seq_lengths": [16384]}), "--limit", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "qlongbench: error: length 16384 exceeds the model's max_position_embeddings (8192)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_allow_extrapolation_and_chat_template(tiny_model, tiny_chat_model, tiny_tokenizer):
    opts = plugin.read_options({"pretrained": str(tiny_model), "qlb_task": "niah-single", "max_seq_lengths": [9000],
                                "allow_extrapolation": "true"})
    plugin.check_lengths(opts)  # no error
    docs = plugin.build_docs(options(tiny_chat_model, chat_template=True))
    assert docs and all(d["exact_ids"] for d in docs)
    assert docs[0]["input"].startswith("<s><|user|>")  # rendered here; lm-eval must not add BOS again
    chat_tok = plugin.load_tokenizer(str(tiny_chat_model), None, False, True)
    assert ids_sha256(plugin.lm_eval_ids(chat_tok, docs[0]["input"])) == docs[0]["prompt_sha256"]


# --- the real lm_eval CLI ------------------------------------------------------------------------
def test_lm_eval_cli_matches_qlongbench_run(tiny_model, tmp_path):
    """lm_eval runs the plugin's tasks on the tiny model; for every logged sample the prompt ids,
    the output and the score equal those of `qlongbench run` (fp32, no chat template, same seed).
    Tasks that need longer prompts on the tiny vocabulary run in a second lm_eval call at 2048."""
    tasks = available_tasks()
    short = [(n, t) for n, t in tasks if lengths_for(tiny_model, t) == SHORT]
    long = [(n, t) for n, t in tasks if lengths_for(tiny_model, t) == LONG]
    compared = _lm_eval_matches_run(tiny_model, tmp_path / "short", short, SHORT[0], extra_de=True)
    if long:
        compared += _lm_eval_matches_run(tiny_model, tmp_path / "long", long, LONG[0])
    assert compared == 3 * (len(tasks) + 1)


def _lm_eval_matches_run(tiny_model: Path, tmp_path: Path, tasks: list[tuple[str, str]], length: int, *,
                         extra_de: bool = False) -> int:
    tmp_path.mkdir()
    lm_tasks = [n for n, _ in tasks] + (["qlongbench_niah_de"] if extra_de else [])
    env = {**os.environ, **OFFLINE}
    bin_dir = Path(sys.executable).parent
    harness = subprocess.run([str(bin_dir / "qlongbench"), "harness-path"], capture_output=True, text=True, env=env,
                             check=True).stdout.strip()
    out = tmp_path / "lm_eval"
    cmd = [str(bin_dir / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={tiny_model},dtype=float32",
           "--tasks", ",".join(lm_tasks), "--include_path", harness,
           "--metadata", json.dumps({"max_seq_lengths": [length], "num_samples": 3}),
           "--limit", "3", "--log_samples", "--output_path", str(out), "--device", "cpu", "--batch_size", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]

    from qlongbench.cli import main

    records = {}
    groups = [("en", [t for _, t in tasks])] + ([("de", ["niah-single"])] if extra_de else [])
    for languages, run_tasks in groups:
        run_dir = tmp_path / f"run-{languages}"
        code = main(["run", "--model", str(tiny_model), "--precisions", "fp32", "--tasks", ",".join(run_tasks),
                     "--languages", languages, "--lengths", str(length), "--samples", "3", "--no-chat-template",
                     "--device", "cpu", "--out", str(run_dir), "--no-report", "-q"])
        assert code == 0
        records.update({r.sample_id: r for r in RunDir(run_dir).records()})

    (results_file,) = glob.glob(str(out / "*" / "results_*.json"))
    results = json.loads(Path(results_file).read_text())["results"]
    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(str(tiny_model))
    compared = 0
    key = str(length)
    for name in lm_tasks:
        metrics = {k for k in results[name] if k not in ("name", "alias", "sample_len")}
        assert metrics == {f"{key},none", f"{key}_stderr,none"}, f"{name}: only the length that ran is reported"
        (samples_file,) = [f for f in glob.glob(str(out / "*" / f"samples_{name}_*.jsonl"))
                           if re.fullmatch(rf"samples_{name}_\d{{4}}-.*\.jsonl", Path(f).name)]
        lines = [json.loads(line) for line in Path(samples_file).read_text().splitlines()]
        assert len(lines) == 3
        for row in lines:
            doc = row["doc"]
            rec = records[doc["sample_id"]]
            context = row["arguments"]["gen_args_0"]["arg_0"]
            fed = hf_tok(context)["input_ids"]  # what HFLM encodes (tokenizer defaults, BOS added)
            assert ids_sha256(fed) == rec.prompt_sha256 == doc["prompt_sha256"]
            assert row["filtered_resps"][0] == rec.output
            assert row[key] == rec.score
            assert row["arguments"]["gen_args_0"]["arg_1"]["max_gen_toks"] == doc["max_new_tokens"]
            compared += 1
        assert results[name][f"{key},none"] == pytest.approx(sum(r[key] for r in lines) / 3)
    return compared
