"""`qlongbench check` on committed run directories (tests/data/check, written by make_fixtures.py):
verdicts, exit codes, refusals, policy rules, JUnit XML and Markdown."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qlongbench.gate import check, outputs
from qlongbench.cli import main
from qlongbench.errors import UserError
from qlongbench.spec.policy import Policy, Tolerance, load_policy
from qlongbench.run.store import RunDir

DATA = Path(__file__).parent / "data" / "check"


def run_check(case: str, **overrides) -> check.CheckResult:
    return check.check(DATA / case, load_policy(None, overrides))


def verdicts(result: check.CheckResult) -> dict[tuple[str, str, str, int], str]:
    return {(v.cell.candidate, v.cell.task, v.cell.language, v.cell.length): v.verdict for v in result.cells}


def cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- fixtures are what make_fixtures.py writes ---------------------------------------------------
def test_fixtures_are_reproducible(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_fixtures", DATA / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", tmp_path)
    mod.main()
    for case in ("pass", "fail", "inconclusive", "hash_mismatch", "missing_reference"):
        for name in ("run.json", "records.jsonl"):
            assert (tmp_path / case / name).read_bytes() == (DATA / case / name).read_bytes(), f"{case}/{name} is stale"
        assert len(RunDir(DATA / case).records()) > 0


# --- verdicts ------------------------------------------------------------------------------------
def test_pass():
    result = run_check("pass", max_drop=5)
    assert verdicts(result) == {("bnb-nf4", "niah-single", "en", 256): "pass",
                                ("bnb-nf4", "niah-single", "en", 1024): "pass"}
    assert result.exit_code == 0 and result.overall == "pass"
    cell = result.cells[1]
    # one discordant pair each way: no drop, but a non-degenerate interval
    assert cell.drop.drop == 0 and cell.drop.interval.low < 0 < cell.drop.interval.high <= 0.05
    assert cell.n == 150 and cell.p_pass <= 0.05 < cell.p_fail


def test_tighter_tolerance_turns_the_same_pass_inconclusive():
    result = run_check("pass", max_drop=1)
    v = verdicts(result)
    # 150 identical answers do not prove a drop below 1 point: a 1-point drop would leave all 150
    # unchanged 22 % of the time (0.99^150), so the exact test cannot pass it
    assert v[("bnb-nf4", "niah-single", "en", 256)] == "inconclusive"
    assert v[("bnb-nf4", "niah-single", "en", 1024)] == "inconclusive"
    assert result.exit_code == 1 and result.nothing_passed
    for cell in result.cells:
        assert cell.more_samples and cell.more_samples > 0 and f"about {cell.more_samples} more" in cell.reason
    same = [c for c in result.cells if c.cell.length == 256][0]
    assert same.more_samples == math.ceil(math.log(0.05) / math.log(0.99)) - 150  # (1 - tol)^n <= alpha


def test_fail():
    result = run_check("fail", max_drop=8)
    v = verdicts(result)
    for lang in ("en", "de"):
        assert v[("bnb-nf4", "niah-single", lang, 1024)] == "fail"
        # 40 identical answers certify 8 points (0.92^40 = 3.6 % ≤ 5 %), not 3 (0.97^40 = 30 %)
        assert v[("bnb-nf4", "niah-single", lang, 256)] == "pass"
    assert verdicts(run_check("fail", max_drop=3))[("bnb-nf4", "niah-single", "en", 256)] == "inconclusive"
    # bnb-int8 matches the reference but ran out of memory on one sample: a crash fails the cell
    assert v[("bnb-int8", "niah-single", "en", 1024)] == "fail"
    int8 = [c for c in result.cells if c.cell.candidate == "bnb-int8" and c.cell.language == "en" and c.cell.length == 1024][0]
    assert int8.candidate_failures == 1 and "oom" in int8.reason
    assert result.exit_code == 1 and result.overall == "fail"
    worst = [c for c in result.cells if c.verdict == "fail" and c.drop is not None and c.drop.drop > 0.3]
    assert worst and all(c.drop.interval.low > 0.03 for c in worst)


def test_inconclusive_and_insufficient():
    result = run_check("inconclusive", max_drop=3)
    v = verdicts(result)
    assert v[("gguf-q4_k_m", "niah-single", "en", 256)] == "inconclusive"
    assert v[("gguf-q4_k_m", "niah-single", "en", 1024)] == "insufficient"
    cell = [c for c in result.cells if c.cell.length == 256][0]
    assert cell.drop.interval.low <= 0.03 < cell.drop.interval.high
    assert cell.more_samples is not None and cell.more_samples > 0
    short = [c for c in result.cells if c.cell.length == 1024][0]
    assert short.n == 8 and short.more_samples == 12 and "minimum of 20" in short.reason
    # Nothing passed: the gate fails unless the user accepts that explicitly.
    assert result.nothing_passed and result.exit_code == 1 and result.overall == "nothing passed"
    allowed = check.check(DATA / "inconclusive", load_policy(None, {"max_drop": 3, "allow_no_pass": True}))
    assert allowed.exit_code == 0 and allowed.overall == "nothing passed"
    strict = check.check(DATA / "inconclusive", load_policy(None, {"max_drop": 3, "strict": True}))
    assert strict.exit_code == 1


def test_min_samples_lowered_gives_a_verdict():
    # 8 identical answers certify a 35-point tolerance (0.65^8 = 3.2 % ≤ 5 %)
    result = run_check("inconclusive", max_drop=35, min_samples=5)
    assert verdicts(result)[("gguf-q4_k_m", "niah-single", "en", 1024)] == "pass"


def test_higher_confidence_widens_intervals():
    loose = run_check("inconclusive", max_drop=3, confidence=0.6)
    tight = run_check("inconclusive", max_drop=3, confidence=0.99)
    a = [c for c in loose.cells if c.cell.length == 256][0].drop.interval
    b = [c for c in tight.cells if c.cell.length == 256][0].drop.interval
    assert b.width > a.width
    assert loose.interval_confidence == pytest.approx(0.2) and tight.interval_confidence == pytest.approx(0.98)


def test_relative_tolerance():
    # the collapse at 1024 tokens loses about half of the reference's accuracy
    assert verdicts(run_check("fail", max_relative_drop=80))[("bnb-nf4", "niah-single", "en", 1024)] == "pass"
    assert verdicts(run_check("fail", max_relative_drop=10))[("bnb-nf4", "niah-single", "en", 1024)] == "fail"
    # both criteria: failing either fails the cell
    both = run_check("fail", max_drop=90, max_relative_drop=10)
    assert verdicts(both)[("bnb-nf4", "niah-single", "en", 1024)] == "fail"


# --- policy rules and scope ----------------------------------------------------------------------
def test_policy_rules_override_per_language_and_length(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "reference: bf16\n"
        "candidates: [bnb-nf4]\n"
        "max_drop: 8\n"
        "min_samples: 10\n"
        "rules:\n"
        "  - {language: de, min_length: 1k, max_drop: 90}\n"
        "  - {task: niah, language: en, length: 256, skip: true}\n", encoding="utf-8")
    result = check.check(DATA / "fail", load_policy(path))
    v = verdicts(result)
    assert v == {("bnb-nf4", "niah-single", "de", 256): "pass", ("bnb-nf4", "niah-single", "de", 1024): "pass",
                 ("bnb-nf4", "niah-single", "en", 1024): "fail"}
    tol = [c for c in result.cells if c.cell.language == "de" and c.cell.length == 1024][0].tolerance
    assert tol == Tolerance(max_drop=0.9, max_relative_drop=None, min_samples=10)


def test_later_rule_wins_and_null_switches_a_criterion_off():
    policy = Policy.model_validate({"max_drop": 3, "max_relative_drop": 5, "rules": [
        {"min_length": 1024, "max_drop": 10}, {"language": "de", "max_drop": 20}, {"task": "x", "max_drop": None}]})
    assert policy.tolerance("c", "default", "niah-single", "de", 2048) == Tolerance(0.2, 0.05, 20)
    assert policy.tolerance("c", "default", "niah-single", "en", 2048) == Tolerance(0.1, 0.05, 20)
    assert policy.tolerance("c", "default", "niah-single", "en", 512) == Tolerance(0.03, 0.05, 20)
    assert policy.tolerance("c", "default", "x", "en", 512) == Tolerance(None, 0.05, 20)


def test_cli_flags_override_the_policy_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("max_drop: 90\ncandidates: bnb-nf4\n", encoding="utf-8")
    assert run_check_cli_exit(path, "--max-drop", "3") == 1
    assert run_check_cli_exit(path) == 0


def run_check_cli_exit(policy: Path, *extra: str) -> int:
    return main(["check", str(DATA / "fail"), "--policy", str(policy), "-q", *extra])


def test_at_length_and_candidate_scope(capsys):
    code, out, _ = cli("check", str(DATA / "fail"), "--max-drop", "8", "--at-length", "256", "-q", capsys=capsys)
    assert code == 0 and "PASS" in out and "4 pass, 0 fail" in out
    code, out, _ = cli("check", str(DATA / "fail"), "--max-drop", "8", "--candidate", "bnb-int8",
                       "--at-length", "256,1k", "-q", capsys=capsys)
    assert code == 1 and "3 pass, 1 fail" in out


def test_unmatched_rule_is_a_warning():
    result = check.check(DATA / "pass", load_policy(None, {"max_drop": 5, "rules": [{"language": "fr", "max_drop": 9}]}))
    assert any("matched no cell" in w for w in result.warnings)


@pytest.mark.parametrize("text, needle", [
    ("max_drop: 3\nmax_dorp: 4\n", "max_dorp: Extra inputs are not permitted"),
    ("max_drop: 300\n", "max_drop"),
    ("confidence: 0.3\n", "confidence"),
    ("rules:\n  - {task: niah-single}\n", "rules.0"),
    ("lengths: [32q]\n", "bad length"),
    ("max_drop: [\n", "not valid YAML"),
    ("- 1\n- 2\n", "must hold a mapping"),
])
def test_bad_policy_is_one_line_exit_2(tmp_path, capsys, text, needle):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = cli("check", str(DATA / "pass"), "--policy", str(path), capsys=capsys)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1


# --- refusals ------------------------------------------------------------------------------------
def test_hash_mismatch_is_refused_naming_the_record(capsys):
    code, out, err = cli("check", str(DATA / "hash_mismatch"), "--max-drop", "3", capsys=capsys)
    assert code == 2 and out == ""
    assert "records.jsonl:" in err and "bnb-nf4 / niah-single-en-1024-0000" in err and "other prompt ids" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_reference_is_refused_naming_the_cell(capsys):
    code, _, err = cli("check", str(DATA / "missing_reference"), "--max-drop", "3", capsys=capsys)
    assert code == 2
    assert "reference has no record" in err and "bnb-nf4 niah-single/en/1024 (30 samples)" in err


@pytest.mark.parametrize("args, needle", [
    (["--max-drop", "3", "--candidate", "gguf-q2_k"], "candidate gguf-q2_k has no records"),
    (["--max-drop", "3", "--reference", "fp16"], "reference 'fp16' has no records"),
    (["--max-drop", "3", "--at-length", "8k"], "no reference records for lengths 8192"),
    ([], "no tolerance"),
    (["--max-drop", "3", "--alpha", "0.7"], "--alpha"),
    (["--max-drop", "3", "--candidate", "bf16"], "cannot also be a candidate"),
])
def test_usage_errors_exit_2(capsys, args, needle):
    code, _, err = cli("check", str(DATA / "pass"), *args, capsys=capsys)
    assert code == 2 and needle in err


def test_not_a_run_directory(tmp_path, capsys):
    code, _, err = cli("check", str(tmp_path), "--max-drop", "3", capsys=capsys)
    assert code == 2 and "not a qlongbench run directory" in err


def test_decide_is_pure_and_handles_edges():
    cell = check.CellId("c", "t", "en", 256)
    tol = Tolerance(0.3, None, 1)
    assert check.decide(cell, tol, [1.0] * 10, [1.0] * 10, confidence=0.95).verdict == "pass"  # 0.7^10 = 2.8 %
    assert check.decide(cell, Tolerance(0.03, None, 1), [1.0] * 10, [1.0] * 10,
                        confidence=0.95).verdict == "inconclusive"  # 0.97^10 = 74 %: ten items prove little
    assert check.decide(cell, tol, [1.0] * 10, [0.0] * 10, confidence=0.95).verdict == "fail"
    assert check.decide(cell, tol, [], [], confidence=0.95).verdict == "insufficient"
    # a candidate better than the reference passes
    assert check.decide(cell, tol, [0.0] * 10, [1.0] * 10, confidence=0.95).verdict == "pass"
    # a reference at zero accuracy has no relative drop: not measured, never a pass
    rel = Tolerance(None, 0.05, 1)
    assert check.decide(cell, rel, [0.0] * 10, [0.0] * 10, confidence=0.95).verdict == "not measured"
    # an unmeasurable cell (the pairing said why) is never a pass either
    v = check.decide(cell, tol, [0.0] * 10, [0.0] * 10, confidence=0.95, unmeasured="reference at the floor")
    assert v.verdict == "not measured" and "floor" in v.reason
    # graded scores (ROUGE, coverage) work the same way
    graded = check.decide(cell, Tolerance(0.03, None, 1), [0.8, 0.6, 0.7, 0.9] * 10, [0.5, 0.4, 0.6, 0.5] * 10,
                          confidence=0.95)
    assert graded.verdict == "fail" and graded.drop.method.startswith("sign-flip")
    assert check.decide(cell, tol, [0.8, 0.6, 0.7, 0.9] * 10, [0.5, 0.4, 0.6, 0.5] * 10,
                        confidence=0.95).verdict == "pass"  # the 25-point drop is within a 30-point tolerance


# --- outputs -------------------------------------------------------------------------------------
def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}


def test_junit_xml_parses_with_one_case_per_cell(tmp_path, capsys):
    junit = tmp_path / "check.xml"
    md = tmp_path / "check.md"
    code, out, _ = cli("check", str(DATA / "fail"), "--max-drop", "8", "--junit", str(junit), "--markdown", str(md),
                       capsys=capsys)
    assert code == 1 and f"junit: {junit}" in out
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("8", "3", "0")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"qlongbench check bnb-nf4 vs bf16", "qlongbench check bnb-int8 vs bf16"}
    cases = _cases(root)
    assert len(cases) == 8
    failed = cases["qlongbench.bnb-nf4.niah-single::niah-single/en/1024"].find("failure")
    assert failed is not None and failed.get("type") == "fail" and "above the tolerance" in failed.get("message")
    assert cases["qlongbench.bnb-nf4.niah-single::niah-single/en/256"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in suites["qlongbench check bnb-nf4 vs bf16"].iter("property")}
    assert props["reference"] == "bf16" and props["candidate"] == "bnb-nf4"
    text = md.read_text(encoding="utf-8")
    assert text.startswith("## qlongbench check: ❌ FAIL")
    assert "| ❌ fail | bnb-nf4 | niah-single | en | 1024 |" in text
    # failures first, so a long PR comment shows them without scrolling
    assert text.index("❌ fail") < text.index("✅ pass")


def test_junit_inconclusive_is_skipped_or_failure_under_strict(tmp_path):
    result = run_check("inconclusive", max_drop=3)
    root = ET.fromstring(outputs.junit_xml(result).split("\n", 1)[1])
    assert (root.get("failures"), root.get("skipped")) == ("0", "2")
    skipped = [c.find("skipped") for c in root.iter("testcase")]
    assert all(s is not None for s in skipped) and "more" in skipped[0].get("message")
    strict = check.check(DATA / "inconclusive", load_policy(None, {"max_drop": 3, "strict": True}))
    root = ET.fromstring(outputs.junit_xml(strict).split("\n", 1)[1])
    assert (root.get("failures"), root.get("skipped")) == ("2", "0")
    assert {c.find("failure").get("type") for c in root.iter("testcase")} == {"inconclusive", "insufficient"}


def test_strict_and_no_pass_exit_codes(capsys):
    inconclusive = str(DATA / "inconclusive")
    assert cli("check", inconclusive, "--max-drop", "3", "-q", capsys=capsys)[0] == 1  # nothing passed
    assert cli("check", inconclusive, "--max-drop", "3", "--allow-no-pass", "-q", capsys=capsys)[0] == 0
    assert cli("check", inconclusive, "--max-drop", "3", "--allow-no-pass", "--strict", "-q", capsys=capsys)[0] == 1


def test_markdown_escapes_and_text_table(capsys):
    result = run_check("pass", max_drop=5)
    md = outputs.markdown(result)
    assert "✅ PASS" in md and "| bounds |" in md and "one-sided 95 % bounds" in md
    code, out, _ = cli("check", str(DATA / "pass"), "--max-drop", "5", capsys=capsys)
    assert code == 0 and "verdict" in out.splitlines()[0] and out.rstrip().endswith("versus bf16")


def test_unwritable_output_is_a_user_error(tmp_path):
    result = run_check("pass", max_drop=5)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write"):
        outputs.write_outputs(result, junit=blocker / "sub" / "x.xml")


def test_ci_example_workflow_is_valid(tmp_path):
    """docs/ci-example.yml parses, its policy validates, and its command line is one the CLI accepts."""
    import shlex

    import yaml

    from qlongbench.cli import build_parser

    workflow = yaml.safe_load((Path(__file__).parents[1] / "docs" / "ci-example.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["gate"]["steps"]
    script = next(s["run"] for s in steps if s.get("id") == "policy")
    policy_text = script.split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0]
    (tmp_path / "policy.yaml").write_text(policy_text, encoding="utf-8")
    policy = load_policy(tmp_path / "policy.yaml")
    assert policy.reference == "bf16" and policy.rules
    command = next(s["run"] for s in steps if "qlongbench run" in s.get("run", ""))
    env = workflow["env"]
    for name, value in env.items():
        command = command.replace(f'"${name}"', shlex.quote(str(value)))
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[:2] == ["qlongbench", "run"]
    args = build_parser().parse_args(argv[1:])
    assert args.check == "qlongbench-policy.yaml" and args.junit and args.markdown


def test_run_then_gate_in_one_command(tiny_model, tmp_path, capsys, monkeypatch):
    """`qlongbench run ... --check policy.yaml` runs the sweep, then returns the check's exit code."""
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "policy.yaml"
    # The random-init tiny model scores 0, so its reference cannot show a drop: the cell is not measured,
    # nothing passes, and the gate fails unless the user accepts that explicitly.
    policy.write_text("reference: fp32\nmax_drop: 5\nmin_samples: 3\n", encoding="utf-8")
    base = ["run", "--model", str(tiny_model), "--precisions", "fp32,bf16", "--lengths", "256", "--samples", "3",
            "--no-chat-template", "--device", "cpu", "--out", str(tmp_path / "run"), "--no-report", "-q"]
    junit = tmp_path / "gate.xml"
    code = main([*base, "--check", str(policy), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert "qlongbench check:" in out and "versus fp32" in out
    result = check.check(tmp_path / "run", load_policy(policy))
    assert code == result.exit_code == 1
    assert [(c.n, c.verdict) for c in result.cells] == [(3, "not measured")]
    assert ET.parse(junit).getroot().get("tests") == "1"
    assert main([*base, "--check", str(policy), "--allow-no-pass"]) == 0  # resumed run, nothing rerun
    assert main([*base, "--check", str(policy), "--allow-no-pass", "--strict"]) == 1
    capsys.readouterr()


def test_run_refuses_a_bad_policy_before_running(tiny_model, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_drop: 3\nconfidense: 0.9\n", encoding="utf-8")
    code = main(["run", "--model", str(tiny_model), "--lengths", "256", "--samples", "2", "--out",
                 str(tmp_path / "run"), "--check", str(policy)])
    assert code == 2 and "confidense" in capsys.readouterr().err
    assert not (tmp_path / "run" / "records.jsonl").exists()
    assert main(["run", "--model", str(tiny_model), "--out", str(tmp_path / "run"), "--strict"]) == 2


def test_precision_labels_with_options_survive_comma_lists():
    from qlongbench.spec.policy import split_list

    assert split_list(["bnb-nf4:compute_dtype=bf16,double_quant=True,gguf-q4_k_m", "fp16"]) == [
        "bnb-nf4:compute_dtype=bf16,double_quant=True", "gguf-q4_k_m", "fp16"]
    assert load_policy(None, {"candidates": "bnb-nf4:a=1,b=2,bnb-int8"}).candidates == ["bnb-nf4:a=1,b=2", "bnb-int8"]
    assert load_policy(None, {"tasks": "niah,rag", "languages": ["en"]}).languages == ["en"]


def test_a_cell_with_only_overlength_samples_says_so():
    v = check.decide(check.CellId("c", "t", "en", 64), Tolerance(0.03, None, 5), [], [], confidence=0.95, excluded=5)
    assert v.verdict == "insufficient" and "5 samples are overlength" in v.reason and v.excluded == 5


def test_check_and_policy_import_no_engine():
    code = ("import sys, qlongbench.gate.check, qlongbench.spec.policy, qlongbench.harness; "
            "print(sorted(m for m in ('torch', 'transformers', 'lm_eval') if m in sys.modules))")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _family(rng, n: int, losses: list[int], tol: float):
    tested = []
    for k, b in enumerate(losses):
        ref = [1.0] * n
        cand = [0.0] * b + [1.0] * (n - b)
        rng.shuffle(cand)
        tested.append(check.assess_cell(check.CellId("c", "t", "en", 1024 * (k + 1)),
                                        Tolerance(max_drop=tol, max_relative_drop=None, min_samples=1), ref, cand, confidence=0.95))
    return check.decide_family(tested, 0.95)


def test_the_bounds_shown_agree_with_every_verdict():
    """fail exactly when the lower bound (Holm's level) clears the tolerance, pass exactly when the upper
    bound (α) is below it — over random families, tolerances and sizes."""
    import random

    rng = random.Random(4)
    seen = set()
    for _ in range(60):
        n = rng.choice([20, 40, 60, 120])
        tol = rng.choice([0.0, 0.02, 0.05, 0.1])
        verdicts = _family(rng, n, [rng.randrange(0, n // 4) for _ in range(rng.choice([1, 3, 5]))], tol)
        for v in verdicts:
            seen.add(v.verdict)
            assert v.bounds is not None and v.bounds.low <= v.drop.drop <= v.bounds.high
            assert (v.verdict == "fail") == (v.bounds.low > tol)
            assert (v.verdict == "pass") == (v.bounds.high < tol)
            assert 0.05 / v.family_size - 1e-12 <= v.fail_level <= 0.05 + 1e-12
    assert {"pass", "fail", "inconclusive"} <= seen


def test_a_raw_significant_cell_that_holm_keeps_reads_inconclusive_with_bounds_that_say_so():
    """Tolerance 0, n = 60, four losses in a family of four: the raw one-sided test rejects 'no drop' but
    Holm does not, so the verdict is inconclusive — and the shown bounds hold the tolerance (the plain
    two-sided interval, +1.3…+14.6, did not)."""
    import random

    [v, *_] = _family(random.Random(0), 60, [4, 0, 0, 0], 0.0)
    assert v.p_fail <= 0.05 < v.p_fail_adjusted
    assert v.verdict == "inconclusive" and v.bounds.low <= 0.0 < v.bounds.high
    assert v.drop.interval.low > 0.0  # the interval the gate used to print, which contradicted it
