"""Progress a person can trust: records per second, elapsed and ETA per precision, in the plain log
lines (no terminal) and in the rich bars (a terminal)."""

from __future__ import annotations

import io

import pytest

from qlongbench.run.progress import Pace, PaceReading, Progress, clock_text, plain_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pace_counts_from_the_precision_start():
    clock = Clock()
    pace = Pace(clock)
    pace.start("bf16")
    assert pace.reading("bf16", 0, 40).text() == "– rec/s, elapsed 0:00:00, ETA ?"
    clock.now += 20  # model load and the first context: the early pace errs slow, the ETA long
    r = pace.reading("bf16", 10, 40)
    assert r.rate == 0.5 and r.eta == 60 and r.text() == "0.50 rec/s, elapsed 0:00:20, ETA 0:01:00"
    clock.now += 10
    assert pace.reading("bf16", 40, 40).eta == 0.0
    pace.start("bnb-nf4")  # each precision has its own clock
    clock.now += 4
    assert pace.reading("bnb-nf4", 2, 4).text() == "0.50 rec/s, elapsed 0:00:04, ETA 0:00:04"
    assert PaceReading(done=300, total=400, elapsed=10).text().startswith("30 rec/s")
    assert clock_text(3725.4) == "1:02:05" and clock_text(None) == "?"


def test_plain_lines_one_per_step():
    clock = Clock()
    pace = Pace(clock)
    events = [Progress("samples", 2, 2), Progress("precision", 1, 2, precision="bf16", detail="4 to run"),
              Progress("record", 1, 4, precision="bf16", cell="niah/en/1024"),
              Progress("cell", 1, 2, precision="bf16", cell="niah/en/1024", detail="mean score 1.00 over 1")]
    lines = []
    for e in events:
        if e.kind == "precision":
            pace.start(e.precision)
        clock.now += 3
        lines.append(plain_line(e, pace, 65))
    assert lines[0] == "[0:01:05] samples frozen: 2 cells"
    assert lines[1] == "[0:01:05] precision 1/2: bf16 (4 to run)"
    assert lines[2] == "[0:01:05]   bf16 1/4 records, 0.17 rec/s, elapsed 0:00:06, ETA 0:00:18"
    assert "niah/en/1024 done (1/2 cells" in lines[3]
    assert plain_line(Progress("samples", 1, 2), pace, 1) is None


def test_cli_feedback_plain_and_rich(capsys):
    from rich.console import Console
    from rich.progress import Progress as RichProgress, TextColumn

    from qlongbench.cli.feedback import Feedback

    with Feedback(tty=False, quiet=False) as fb:
        fb(Progress("precision", 1, 1, precision="bf16", detail="2 to run"))
        fb(Progress("record", 1, 2, precision="bf16", cell="c"))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "bf16 1/2 records" in out[1] and "rec/s" in out[1] and "ETA" in out[1]

    buf = io.StringIO()
    fb = Feedback(tty=True, quiet=False)
    fb._progress = RichProgress(TextColumn("{task.description}"), TextColumn("{task.fields[pace]}"),
                                console=Console(file=buf, width=120, force_terminal=False))
    for prec in ("bf16", "bnb-nf4"):
        fb(Progress("precision", 1, 2, precision=prec, detail=""))
        fb(Progress("record", 1, 3, precision=prec, cell="c"))
    tasks = fb._progress.tasks
    assert [t.description for t in tasks] == ["running bf16", "running bnb-nf4"]
    assert all("rec/s" in t.fields["pace"] and "ETA" in t.fields["pace"] for t in tasks)


def test_eta_weighs_records_by_their_cost():
    """Records answered longest first: counting them alike, the ETA after the 8K ones would say the
    1K ones take as long; weighed by cost it says what is left."""
    clock = Clock()
    pace = Pace(clock)
    pace.start("bf16")
    clock.now += 100
    counted = pace.reading("bf16", 2, 4)  # two 8K records in 100 s, two 1K ones left
    assert counted.eta == 100
    weighed = pace.reading("bf16", 2, 4, work_done=2 * 24.0, work_total=2 * 24.0 + 2 * 1.5)
    assert weighed.eta == (3.0 / 48.0) * 100  # 1K work 1.5 against 8K's 24: ~6 s, not 100
    assert pace.reading("bf16", 4, 4, work_done=51.0, work_total=51.0).eta == 0.0
    pace.start("bf16")  # a second slice of the precision does not restart its clock
    assert pace.reading("bf16", 2, 4).elapsed == 100


def test_counter_spans_slices_and_weighs_by_context_length():
    """One counter per precision: a cell whose samples two slices share is done once, when its last
    record is written, and each record carries the work done (quadratic in length)."""
    from qlongbench.run.plan import Cell
    from qlongbench.run.progress import CellCounter
    from qlongbench.run.scheduler import chain_costs, chains, group_by_prefix, prefill_cost
    from qlongbench.types import Sample

    def sample(length: int, i: int) -> Sample:
        ids = tuple(range(1000 * i + 10, 1000 * i + 10 + length)) + (1, 2)
        return Sample(sample_id=f"s-{length}-{i}", task="t", language="en", instruction_language="en", length=length,
                      index=i, seed=0, status="ok", prompt_ids=ids, prefix_len=length, max_new_tokens=4,
                      expected=("a",), prompt_sha256="x")

    long, short = [sample(512, i) for i in range(2)], [sample(64, i + 2) for i in range(2)]
    cell_of = {s.sample_id: Cell("t", "en", "en", s.length) for s in long + short}
    events: list[Progress] = []
    cost = {s.sample_id: c for chain in chains(group_by_prefix(long + short)) for s, c in chain_costs(chain)}
    counter = CellCounter(events.append, "bf16", long + short, cell_of, cost)
    for s in (long[0], short[0], long[1], short[1]):  # two slices' records, interleaved
        counter.add(s, None)
    cells = [e for e in events if e.kind == "cell"]
    assert [(e.cell, e.done, e.total) for e in cells] == [("t-en-512", 1, 2), ("t-en-64", 2, 2)]
    records = [e for e in events if e.kind == "record"]
    assert [e.done for e in records] == [1, 2, 3, 4] and {e.total for e in records} == {4}
    assert records[-1].work_done == records[-1].work_total
    assert records[0].work_done > 5 * (records[1].work_done - records[0].work_done)  # a 512 prompt vs a 64 one
    assert records[0].work_done > prefill_cost(512)


def test_counter_prices_the_work_left_at_the_seconds_measured_per_part():
    """The work left is priced at this precision's measured seconds per prefill unit and per answer
    unit (an engine whose answers are dear against its prefills must not be given the static ratio);
    a cached context's question prefill counts as answering; a record that measured nothing teaches
    nothing; before any measured record the relative units stand."""
    from qlongbench.run.plan import Cell
    from qlongbench.run.progress import CellCounter
    from qlongbench.run.scheduler import Cost
    from qlongbench.types import Record, Sample

    def sample(sid: str, prefix: tuple[int, ...], question: tuple[int, ...]) -> Sample:
        ids = prefix + question
        return Sample(sample_id=sid, task="t", language="en", instruction_language="en", length=len(ids), index=0,
                      seed=0, status="ok", prompt_ids=ids, prefix_len=len(prefix), max_new_tokens=4, expected=("a",),
                      prompt_sha256="x")

    def record(s: Sample, prefill: float | None, decode: float | None) -> Record:
        return Record(run_id="r", precision="p", engine="e", task="t", language="en", instruction_language="en",
                      length=s.length, n_prompt_tokens=len(s.prompt_ids), sample_id=s.sample_id, depth=None,
                      prompt_sha256="x", gen_config_sha256="g", output="a", expected=("a",), score=1.0, parsed=True,
                      status="ok", created_at="2026-01-01T00:00:00+00:00", prefill_seconds=prefill,
                      decode_seconds=decode)

    ctx = tuple(range(10, 110))
    l0, l1, l2, s0 = (sample("l0", ctx, (1,)), sample("l1", ctx, (2,)), sample("l2", ctx, (3,)),
                      sample("s0", tuple(range(500, 520)), (4,)))
    cost = {"l0": Cost(100.0, 10.0), "l1": Cost(0.0, 10.0), "l2": Cost(0.0, 10.0), "s0": Cost(20.0, 10.0)}
    cell_of = {s.sample_id: Cell("t", "en", "en", s.length) for s in (l0, l1, l2, s0)}
    events: list[Progress] = []
    counter = CellCounter(events.append, "p", [l0, l1, l2, s0], cell_of, cost)

    def last() -> Progress:
        return [e for e in events if e.kind == "record"][-1]

    counter.add(l0, None)  # nothing measured yet: relative units
    assert (last().work_done, last().work_total) == (110.0, 160.0)
    counter.add(l1, record(l1, 0.5, 7.5))  # an answer on the cached context: 8 s for 10 units
    # prefill not measured yet: priced at the answer rate (0.8 s per unit); work in seconds from now on
    assert last().work_done == pytest.approx(8.0)
    assert last().work_total == pytest.approx(8.0 + (10 + 20 + 10) * 0.8)
    counter.add(s0, record(s0, 2.0, 6.0))  # its own prefill: 2 s for 20 units; its answer 6 s for 10
    answer_rate, prefill_rate = (7.5 + 0.5 + 6.0) / 20, 2.0 / 20
    assert prefill_rate != answer_rate
    assert last().work_done == pytest.approx(16.0)
    assert last().work_total == pytest.approx(16.0 + 10 * answer_rate)  # l2 left: one answer
    counter.add(l2, record(l2, 0.1, 3.9))
    assert last().work_done == pytest.approx(last().work_total) == pytest.approx(20.0)


def test_eta_paces_from_the_first_measured_record_leaving_the_load_out():
    """Work in seconds: the pace is taken from the first such record on, so a minute of loading
    before it does not stretch the ETA; in relative units the precision's whole clock counts."""
    now = [0.0]
    pace = Pace(clock=lambda: now[0])
    pace.start("gptq")
    now[0] = 70.0  # a 60 s quantization, then a 10 s first record
    first = pace.read(Progress("record", 1, 3, precision="gptq", work_done=10.0, work_total=30.0, measured=True))
    assert first.eta == pytest.approx(20.0 * 70.0 / 10.0)  # nothing since the first record yet: whole clock
    now[0] = 82.0  # the second record: 10 s of engine work in 12 s of clock
    second = pace.read(Progress("record", 2, 3, precision="gptq", work_done=20.0, work_total=30.0, measured=True))
    assert second.eta == pytest.approx(10.0 * 12.0 / 10.0)
    unmeasured = pace.read(Progress("record", 2, 3, precision="other", work_done=20.0, work_total=30.0))
    assert unmeasured.since_first is None
