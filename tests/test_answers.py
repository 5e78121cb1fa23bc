"""Answers worded / scored differently from a baseline, and the reference's misses by needle depth
(analysis/answers.py): tables of tricky cases."""

from __future__ import annotations

import pytest

from qlongbench.analysis.answers import (Answer, DepthMisses, Wording, answers_of, misses_by_depth, wording,
                                        wording_between)
from qlongbench.types import Record


def rec(precision: str, sid: str, output: str = "x", score: float | None = 1.0, *, status: str = "ok",
        task: str = "niah", length: int = 1024, depth: float | None = 50.0) -> Record:
    return Record(run_id="r", precision=precision, engine="e", task=task, language="en", instruction_language="en",
                  length=length, n_prompt_tokens=length, sample_id=sid, depth=depth, prompt_sha256="p",
                  gen_config_sha256="g", output=output, expected=("1",), score=score if status == "ok" else None,
                  parsed=True, status=status, created_at="2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize("records,pairs,expected", [
    # same score, other words: worded, not scored; other score: both
    ([rec("a", "1", "the number is 1"), rec("b", "1", "1"), rec("a", "2", "7", 0.0), rec("b", "2", "1")],
     [("b", "a")], [Wording("b", "a", 2, 2, 1)]),
    # identical answers: nothing differs
    ([rec("a", "1"), rec("b", "1")], [("b", "a")], [Wording("b", "a", 1, 0, 0)]),
    # an item the baseline did not answer (error) is not paired
    ([rec("a", "1", status="error"), rec("b", "1", "y"), rec("a", "2"), rec("b", "2")], [("b", "a")],
     [Wording("b", "a", 1, 0, 0)]),
    # one candidate against two baselines (the reference and its engine's), each counted alone
    ([rec("ref", "1", "1"), rec("eng", "1", "one"), rec("q", "1", "one")], [("q", "ref"), ("q", "eng")],
     [Wording("q", "ref", 1, 1, 0), Wording("q", "eng", 1, 0, 0)]),
    # a log-prob task's records are not answers
    ([rec("a", "1", task="kld"), rec("b", "1", "z", task="kld")], [("b", "a")], []),
    # a candidate with no item in common gives no row
    ([rec("a", "1"), rec("b", "2")], [("b", "a")], []),
])
def test_wording(records, pairs, expected):
    assert wording(records, pairs, {"kld"}) == expected


def test_answers_of_keeps_one_precisions_text_answers():
    records = [rec("a", "1", "x", 1.0), rec("a", "2", status="error"), rec("a", "3", task="kld"), rec("b", "1", "y")]
    assert answers_of(records, "a", {"kld"}) == {"1": Answer("x", 1.0), "2": Answer(None, None)}


@pytest.mark.parametrize("first,second,expected", [
    # one answer reworded with the same score, one rescored: 2 worded, 1 scored
    ({"1": Answer("1", 1.0), "2": Answer("7", 0.0), "3": Answer("3", 1.0)},
     {"1": Answer("the number is 1", 1.0), "2": Answer("2", 1.0), "3": Answer("3", 1.0)}, Wording("p", "p", 3, 2, 1)),
    # an item that failed in one run counts as changed (the other run answered it)
    ({"1": Answer(None, None)}, {"1": Answer("1", 1.0)}, Wording("p", "p", 1, 1, 1)),
    # failed in both: the same
    ({"1": Answer(None, None)}, {"1": Answer(None, None)}, Wording("p", "p", 1, 0, 0)),
    # only common items are compared; none in common: no row
    ({"1": Answer("1", 1.0), "2": Answer("x", 0.0)}, {"1": Answer("1", 1.0)}, Wording("p", "p", 1, 0, 0)),
    ({"1": Answer("1", 1.0)}, {"2": Answer("1", 1.0)}, None),
])
def test_wording_between_two_runs(first, second, expected):
    assert wording_between("p", first, second) == expected


def test_misses_by_depth_bands_edges_and_filters():
    records = [rec("ref", "1", depth=0.0, score=0.0), rec("ref", "2", depth=24.99, score=0.0),
               rec("ref", "3", depth=25.0, score=1.0), rec("ref", "4", depth=100.0, score=0.5),
               rec("ref", "5", depth=75.0, score=1.0, length=8192),
               rec("ref", "6", depth=None, score=0.0),             # no needle: not counted
               rec("ref", "7", depth=10.0, status="error"),        # not answered: not counted
               rec("other", "8", depth=10.0, score=0.0)]          # another precision
    assert misses_by_depth(records, "ref") == [
        DepthMisses("ref", "niah", 1024, 0.0, 25.0, 2, 2),
        DepthMisses("ref", "niah", 1024, 25.0, 50.0, 1, 0),
        DepthMisses("ref", "niah", 1024, 75.0, 100.0, 1, 1),   # 100 % falls in the last band; 0.5 is a miss
        DepthMisses("ref", "niah", 8192, 75.0, 100.0, 1, 0),
    ]


def test_misses_by_depth_other_bands():
    records = [rec("ref", "1", depth=49.0, score=0.0), rec("ref", "2", depth=51.0, score=1.0)]
    assert misses_by_depth(records, "ref", (0.0, 50.0, 100.0)) == [DepthMisses("ref", "niah", 1024, 0.0, 50.0, 1, 1),
                                                                   DepthMisses("ref", "niah", 1024, 50.0, 100.0, 1, 0)]
