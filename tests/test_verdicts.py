"""The verdict rules, table-driven, and the promise that the report and the gate agree cell by cell:
both pair records through analysis.pairing, so one cell cannot be 'within noise' in the report and
'fail' at the gate, nor 'no drop' in one and 'not measured' in the other."""

from __future__ import annotations

import pytest

from qlongbench.analysis.drops import paired_drops
from qlongbench.analysis.pairing import CellId, PairedCell, pair_all
from qlongbench.gate.check import check_records, default_candidates
from qlongbench.hashing import ids_sha256
from qlongbench.spec.measure import MeasureRule
from qlongbench.spec.policy import load_policy
from qlongbench.types import Record
from tests.plan_helpers import planned

TASK = "niah-single"
PLAN = planned("bf16,bnb-nf4").model_copy(update={"measure": MeasureRule()})
"""The plan of the records below: bf16 the reference, bnb-nf4 the candidate, the report's measure rule."""


def rec(precision: str, i: int, outcome: str, *, length: int = 1024, lang: str = "en", parsed: bool = True,
        engine: str = "transformers") -> Record:
    """outcome: '1' right, '0' wrong, 'O' oom, 'E' error, '-' overlength."""
    status = {"O": "oom", "E": "error", "-": "overlength"}.get(outcome, "ok")
    ok = status == "ok"
    return Record(run_id="r", precision=precision, engine=engine, task=TASK, language=lang, instruction_language=lang,
                  length=length, n_prompt_tokens=100, sample_id=f"{TASK}-{lang}-{length}-{i:04d}", depth=0.0,
                  prompt_sha256=ids_sha256([i, length]), gen_config_sha256="g", output="x", expected=("1",),
                  score=float(outcome) if ok else None, parsed=parsed if ok else None, status=status,
                  created_at="2026-01-01T00:00:00+00:00")


def records(reference: str, candidate: str, **kw) -> list[Record]:
    assert len(reference) == len(candidate)
    return ([rec("bf16", i, o, **kw) for i, o in enumerate(reference)]
            + [rec("bnb-nf4", i, o, **kw) for i, o in enumerate(candidate)])


CASES = [
    # name, reference outcomes, candidate outcomes, report verdict, gate verdict (max drop 10, min 5)
    ("equal at the ceiling", "1" * 40, "1" * 40, "within noise", "pass"),
    ("a real collapse", "1" * 40, "1" * 10 + "0" * 30, "worse", "fail"),
    ("reference at the floor", "0" * 40, "0" * 40, "not measured", "not measured"),
    ("reference below the 10 % floor", "0" * 37 + "111", "0" * 40, "not measured", "not measured"),
    ("reference just above the floor", "0" * 35 + "1" * 5, "0" * 35 + "1" * 5, "within noise", "pass"),
    ("a crash counts as a wrong answer", "1" * 40, "1" * 38 + "OE", "within noise", "fail"),
    ("crashes everywhere", "1" * 40, "O" * 40, "worse", "fail"),
    ("overlength for everyone", "-" * 10, "-" * 10, "not measured", "not measured"),
    ("too few paired", "1111", "1111", "within noise", "insufficient"),
]


@pytest.mark.parametrize("name, ref, cand, report_verdict, gate_verdict", CASES, ids=[c[0] for c in CASES])
def test_report_and_gate_verdicts(name, ref, cand, report_verdict, gate_verdict):
    rows = records(ref, cand)
    [drop] = paired_drops(rows, "bf16", ["bnb-nf4"], MeasureRule())
    assert drop.verdict == report_verdict
    policy = load_policy(None, {"max_drop": 10, "min_samples": 5, "allow_no_pass": True})
    [cell] = check_records(rows, policy, PLAN).cells
    assert cell.verdict == gate_verdict
    # The same pairing: same n and the same point drop on both sides.
    assert cell.n == (drop.paired.n if drop.paired else 0)
    if drop.paired:
        assert cell.drop.drop == pytest.approx(drop.paired.drop)


def test_unparsable_reference_answers_are_not_a_measurement():
    rows = [rec("bf16", i, "1" if i < 15 else "0", parsed=i < 15) for i in range(40)]
    rows += [rec("bnb-nf4", i, "0") for i in range(40)]
    [drop] = paired_drops(rows, "bf16", ["bnb-nf4"], MeasureRule())
    assert drop.verdict == "not measured" and "parse" in drop.unmeasured
    [cell] = check_records(rows, load_policy(None, {"max_drop": 10, "allow_no_pass": True}), PLAN).cells
    assert cell.verdict == "not measured"


def test_the_task_chance_level_raises_the_floor():
    rows = records("1" * 12 + "0" * 28, "0" * 40)  # reference 30 %
    assert paired_drops(rows, "bf16", ["bnb-nf4"], MeasureRule())[0].verdict == "worse"
    chance = MeasureRule(chance={TASK: 0.5})
    assert paired_drops(rows, "bf16", ["bnb-nf4"], chance)[0].verdict == "not measured"


def test_a_gate_where_nothing_passed_fails_unless_allowed():
    rows = records("0" * 40, "0" * 40)
    strict = check_records(rows, load_policy(None, {"max_drop": 10}), PLAN)
    assert strict.nothing_passed and strict.exit_code == 1
    assert check_records(rows, load_policy(None, {"max_drop": 10, "allow_no_pass": True}), PLAN).exit_code == 0


def test_engine_baselines_are_not_gated_unless_named():
    assert default_candidates(["bf16", "gguf-bf16", "gguf-q4_k_m"], "bf16", ["gguf-bf16"]) == ["gguf-q4_k_m"]
    assert default_candidates(["bf16", "gguf-bf16"], "bf16", []) == ["gguf-bf16"]  # named by the user


def test_pairing_counts_and_exclusions():
    rows = records("11-1O1", "1O11-E")
    [cell] = pair_all(rows, "bf16", ["bnb-nf4"])
    assert isinstance(cell, PairedCell) and cell.cell == CellId(TASK, "en", 1024)
    # sample 2 and 4 leave (overlength on one side; the reference crashed on 4), 1 and 5 are crashes
    assert cell.n == 4 and cell.excluded == 2 and sorted(cell.candidate_failures) == ["error", "oom"]
    assert cell.reference_scores == [1.0, 1.0, 1.0, 1.0] and cell.candidate_scores == [1.0, 0.0, 1.0, 0.0]


def test_report_and_gate_agree_on_every_cell_of_a_mixed_run():
    """A run with several cells of every kind: the gate's verdict classes follow from the report's."""
    rows: list[Record] = []
    for length, (ref, cand) in {512: ("1" * 30, "1" * 30), 1024: ("1" * 30, "1" * 20 + "0" * 10),
                                2048: ("0" * 30, "0" * 30), 4096: ("1" * 30, "1" * 29 + "O")}.items():
        rows += [rec("bf16", i, o, length=length) for i, o in enumerate(ref)]
        rows += [rec("bnb-nf4", i, o, length=length) for i, o in enumerate(cand)]
    drops = {d.length: d for d in paired_drops(rows, "bf16", ["bnb-nf4"], MeasureRule())}
    gate = {c.cell.length: c for c in check_records(rows, load_policy(None, {"max_drop": 10, "min_samples": 5}), PLAN).cells}
    assert set(drops) == set(gate)
    for length, d in drops.items():
        g = gate[length]
        assert (d.verdict == "not measured") == (g.verdict == "not measured"), length
        assert bool(d.failures) == (g.candidate_failures > 0), length
        if d.verdict == "worse":
            assert g.verdict in ("fail", "inconclusive"), length
        assert g.n == d.paired.n
