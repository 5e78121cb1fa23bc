"""The minutes the reports quote per precision, from the records' timestamps (analysis.build.durations):
a table of tricky timelines."""

from __future__ import annotations

import pytest

from qlongbench.analysis.timing import PhaseSeconds, durations, prefilled_context, phase_seconds
from qlongbench.types import Record

T0 = "2026-01-01T00:00:00+00:00"


def at(precision: str, minute: float, i: int = 0, task: str = "t", **timed: float | int | None) -> Record:
    seconds = int(round(minute * 60))
    stamp = f"2026-01-01T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}+00:00"
    return Record(run_id="r", precision=precision, engine="e", task=task, language="en", instruction_language="en",
                  length=1024, n_prompt_tokens=1024, sample_id=f"t-{minute}-{i}", depth=0.0, prompt_sha256="p",
                  gen_config_sha256="g", output="x", expected=("1",), score=1.0, parsed=True, status="ok",
                  created_at=stamp, **timed)


def minutes(records, resumed=()):
    return {p: (n, s / 60) for p, (n, s) in durations(records, T0, [f"2026-01-01T{m // 60:02d}:{m % 60:02d}:00+00:00"
                                                                    for m in resumed]).items()}


@pytest.mark.parametrize("records,resumed,expected", [
    # one after another: each from the previous one's last record (the first from the start: its load)
    ([at("a", 2), at("a", 3, 1), at("b", 5), at("b", 9, 1)], (), {"a": (2, 3.0), "b": (2, 6.0)}),
    # the records' file order does not matter, only their times
    ([at("b", 9, 1), at("a", 3, 1), at("b", 5), at("a", 2)], (), {"a": (2, 3.0), "b": (2, 6.0)}),
    # stopped after minute 3, resumed at minute 60: the 57 idle minutes count for nobody
    ([at("a", 2), at("a", 3, 1), at("a", 61, 2), at("b", 64)], (60,), {"a": (3, 4.0), "b": (1, 3.0)}),
    # resumed to add a precision (as --noise-floor does): it is timed from the resume, its load included
    ([at("a", 2), at("b", 70)], (65,), {"a": (1, 2.0), "b": (1, 5.0)}),
    # two precisions side by side (Ray): the wall clock is shared, its sum is the run's 10 minutes
    ([at("a", 2), at("b", 4), at("a", 6, 1), at("b", 10, 1)], (), {"a": (2, 4.0), "b": (2, 6.0)}),
    # a record stamped before a later resume (a resume that found nothing to do) is not charged twice
    ([at("a", 5), at("a", 20, 1)], (10, 15), {"a": (2, 10.0)}),
    ([], (), {}),
])
def test_durations(records, resumed, expected):
    got = minutes(records, resumed)
    assert list(got) == list(expected)  # in the order the precisions finished
    assert {p: (n, pytest.approx(m)) for p, (n, m) in expected.items()} == got


@pytest.mark.parametrize("records,expected", [
    # summed per key, in the order each key was first seen
    ([at("b", 1, prefill_seconds=2.0, decode_seconds=1.0), at("a", 2, prefill_seconds=3.0, decode_seconds=0.5),
      at("b", 3, 1, prefill_seconds=0.25, decode_seconds=4.0)],
     {"b": PhaseSeconds(2, 2.25, 5.0, 2.25), "a": PhaseSeconds(1, 3.0, 0.5, 3.0)}),
    # a record that failed before it timed anything (None) counts as a record with no seconds
    ([at("a", 1, prefill_seconds=None, decode_seconds=None), at("a", 2, 1, prefill_seconds=1.5, decode_seconds=None)],
     {"a": PhaseSeconds(2, 1.5, 0.0, 1.5)}),
    # a log-prob record prefills and decodes nothing after it
    ([at("a", 1, prefill_seconds=9.0, decode_seconds=0.0)], {"a": PhaseSeconds(1, 9.0, 0.0, 9.0)}),
    # a context's first question prefills its whole prompt; the next one appends 24 tokens to the kept
    # context: only the first counts as a context's prefill
    ([at("a", 1, prefill_seconds=8.0, decode_seconds=1.0, n_prefilled_tokens=1024),
      at("a", 2, 1, prefill_seconds=0.5, decode_seconds=1.0, n_prefilled_tokens=24)],
     {"a": PhaseSeconds(2, 8.5, 2.0, 8.0)}),
    ([], {}),
])
def test_phase_seconds_by_precision(records, expected):
    got = phase_seconds(records, lambda r: r.precision)
    assert list(got) == list(expected)
    assert got == {k: PhaseSeconds(v.records, pytest.approx(v.prefill), pytest.approx(v.decode), pytest.approx(v.contexts))
                   for k, v in expected.items()}


@pytest.mark.parametrize("prefilled,context", [
    (None, True),   # written before records counted prefilled tokens: nothing was reused then
    (1024, True),   # the prompt's 1,024 tokens, all prefilled
    (1010, True),   # a kept chat-template header of 14 tokens reused, the context prefilled
    (512, True),    # a nested sweep extending a kept 512 tokens to 1,024: half of it is new context
    (511, False),   # most of the prompt came from the cache
    (24, False),    # a question appended to a kept context
    (0, False),     # everything reused (an exact repeat of a kept prompt)
])
def test_prefilled_context(prefilled, context):
    assert prefilled_context(at("a", 1, n_prefilled_tokens=prefilled)) is context


def test_phase_seconds_by_task_over_precisions():
    records = [at("a", 1, task="kld", prefill_seconds=10.0, decode_seconds=0.0),
               at("b", 2, task="kld", prefill_seconds=20.0, decode_seconds=0.0),
               at("a", 3, 1, task="niah", prefill_seconds=1.0, decode_seconds=2.0)]
    assert phase_seconds(records, lambda r: r.task) == {"kld": PhaseSeconds(2, 30.0, 0.0, 30.0),
                                                         "niah": PhaseSeconds(1, 1.0, 2.0, 1.0)}
