"""What `qlongbench check` prints and writes: a terminal table, a Markdown summary for a
pull-request comment, JUnit XML (one test case per cell)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from qlongbench.files import atomic_write_text
from qlongbench.gate.check import CellVerdict, CheckResult
from qlongbench.render.markdown import example_rows
from qlongbench.render.text import md_code, md_escape

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""What XML 1.0 cannot hold, escaped or not."""
_MARK = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "insufficient": "⚠️", "not measured": "⛔"}


def _pts(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _ci(v: CellVerdict) -> str:
    """The bounds that agree with the verdict (lower at Holm's level, upper at α); the plain two-sided
    interval only for cells decided without a test."""
    iv = v.bounds if v.bounds is not None else (v.drop.interval if v.drop is not None else None)
    return "–" if iv is None else f"{100 * iv.low:+.1f}…{100 * iv.high:+.1f}"


def _drop(v: CellVerdict) -> str:
    return "–" if v.drop is None else f"{100 * v.drop.drop:+.1f}"


def _counts(result: CheckResult) -> str:
    return (f"{result.count('pass')} pass, {result.count('fail')} fail, {result.count('inconclusive')} inconclusive, "
            f"{result.count('insufficient')} insufficient, {result.count('not measured')} not measured")


def family_line(result: CheckResult) -> str:
    """How many comparisons the gate made and how they are controlled."""
    cands = {v.cell.candidate for v in result.cells}
    tested = sum(v.family_size > 0 for v in result.cells)
    return (f"{len(result.cells)} cells gated for {len(cands)} candidate{'s' * (len(cands) != 1)}; {tested} tested: "
            f"pass = one-sided exact test at α = {1 - result.confidence:g} per cell, fail = Holm over each "
            "candidate's tested cells; bounds = the drop's lower bound at the level Holm tested the cell and its "
            "upper bound at α, so a cell fails exactly when the lower bound is above its tolerance and passes "
            "exactly when the upper bound is below it")


def summary_line(result: CheckResult) -> str:
    strict = " (strict: inconclusive counts as fail)" if result.strict else ""
    empty = ""
    if result.nothing_passed:
        empty = (" — no cell passed (allowed by allow_no_pass)" if result.allow_no_pass else
                 " — no cell passed, so the gate fails (pass --allow-no-pass to accept that)")
    return f"qlongbench check: {result.overall.upper()} — {_counts(result)} versus {result.reference}{strict}{empty}"


def text_table(result: CheckResult) -> str:
    """A plain-text table for the terminal."""
    head = ("verdict", "candidate", "task", "lang", "length", "n", "ref %", "cand %", "drop", "bounds", "tolerance")
    rows = [head] + [(v.verdict, v.cell.candidate, v.cell.task, v.cell.language, str(v.cell.length), str(v.n),
                      _pts(v.drop.reference_mean if v.drop else None), _pts(v.drop.candidate_mean if v.drop else None),
                      _drop(v), _ci(v), v.tolerance.describe()) for v in result.cells]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    notes = [f"  {v.cell}: {v.reason}" for v in result.cells if v.verdict != "pass"]
    out = lines + (["", "notes:"] + notes if notes else []) + [""] + [f"warning: {w}" for w in result.warnings]
    return "\n".join(out + [family_line(result), summary_line(result)]) + "\n"


def markdown(result: CheckResult) -> str:
    """A summary suited to a pull-request comment."""
    head = {"pass": "✅ PASS", "fail": "❌ FAIL", "inconclusive": "⚠️ INCONCLUSIVE",
            "nothing passed": "❌ NOTHING PASSED" if not result.allow_no_pass else "⚠️ NOTHING PASSED"}[result.overall]
    lines = [f"## qlongbench check: {head}", "",
             f"Run {md_code(result.run_id)} · reference **{md_escape(result.reference)}** · "
             f"{_counts(result)} · one-sided {100 * result.confidence:g} % bounds"
             + (" · strict" if result.strict else ""), "",
             "| | candidate | task | lang | length | n | ref % | cand % | drop (pts) | bounds | tolerance | note |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|"]
    order = {"fail": 0, "not measured": 1, "insufficient": 1, "inconclusive": 1, "pass": 2}
    for v in sorted(result.cells, key=lambda v: order[v.verdict]):
        note = "" if v.verdict == "pass" else v.reason
        lines.append(f"| {_MARK[v.verdict]} {v.verdict} | {md_escape(v.cell.candidate)} | {md_escape(v.cell.task)} | "
                     f"{md_escape(v.cell.language)} | {v.cell.length} | {v.n} | "
                     f"{_pts(v.drop.reference_mean if v.drop else None)} | "
                     f"{_pts(v.drop.candidate_mean if v.drop else None)} | {_drop(v)} | {_ci(v)} | "
                     f"{md_escape(v.tolerance.describe())} | {md_escape(note)} |")
    lines += ["", "Drop = reference − candidate accuracy on the same samples (positive = worse). A cell passes "
              "when the exact paired test shows its drop below the tolerance (the one-sided upper bound is within "
              "it) and fails when the test, Holm-adjusted over the candidate's cells, shows it above. "
              f"{family_line(result)}."]
    if result.examples:
        lines += ["", "<details><summary>Answers lost: the first per cell that did not pass</summary>", "",
                  *example_rows(result.examples, limit=len(result.examples)), "", "</details>"]
    if result.warnings:
        lines += ["", *[f"> warning: {md_escape(w)}" for w in result.warnings]]
    return "\n".join(lines) + "\n"


def junit_xml(result: CheckResult) -> str:
    """JUnit XML: one test suite per candidate, one test case per cell. Fail cells carry a <failure>;
    inconclusive cells are <skipped>, or a <failure> under --strict."""
    root = ET.Element("testsuites", name="qlongbench check")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for cand in dict.fromkeys(v.cell.candidate for v in result.cells):
        cells = [v for v in result.cells if v.cell.candidate == cand]
        suite = ET.SubElement(root, "testsuite", name=f"qlongbench check {cand} vs {result.reference}")
        props = ET.SubElement(suite, "properties")
        for k, val in (("run_id", result.run_id), ("reference", result.reference), ("candidate", cand),
                       ("confidence", f"{result.confidence:g}"), ("strict", str(result.strict).lower()),
                       ("fail_family", f"Holm over {max((v.family_size for v in cells), default=0)} cells")):
            ET.SubElement(props, "property", name=k, value=val)
        counts = {"tests": len(cells), "failures": 0, "skipped": 0}
        for v in cells:
            case = ET.SubElement(suite, "testcase", classname=f"qlongbench.{cand}.{v.cell.task}",
                                 name=f"{v.cell.task}/{v.cell.language}/{v.cell.length}", time="0")
            tests = (f" p_pass={v.p_pass:.3g} p_fail={v.p_fail:.3g} p_fail_holm={v.p_fail_adjusted:.3g}"
                     if v.p_pass is not None and v.p_fail is not None and v.p_fail_adjusted is not None else "")
            detail = (f"n={v.n} drop={_drop(v)} pts bounds={_ci(v)}{tests} tolerance={v.tolerance.describe()} "
                      f"reference={_pts(v.drop.reference_mean if v.drop else None)}% "
                      f"candidate={_pts(v.drop.candidate_mean if v.drop else None)}%")
            if v.verdict == "fail" or (result.strict and v.verdict in ("inconclusive", "insufficient", "not measured")):
                counts["failures"] += 1
                el = ET.SubElement(case, "failure", message=f"{v.verdict}: {v.reason}", type=v.verdict)
                el.text = detail
            elif v.verdict in ("inconclusive", "insufficient", "not measured"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"{v.verdict}: {v.reason}")
            else:
                ET.SubElement(case, "system-out").text = f"pass: {v.reason}; {detail}"
        for k, n in counts.items():
            suite.set(k, str(n))
            totals[k] += n
        suite.set("errors", "0")
    for k, n in totals.items():
        root.set(k, str(n))
    root.set("errors", "0")
    ET.indent(root)
    # ElementTree escapes markup but passes characters XML 1.0 forbids (control characters from a
    # label or a reason) through, and no parser reads the file then: they become U+FFFD.
    text = _XML_ILLEGAL.sub("\ufffd", ET.tostring(root, encoding="unicode"))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def write_outputs(result: CheckResult, junit: str | Path | None = None, markdown_path: str | Path | None = None) -> None:
    for path, text in ((junit, junit_xml(result) if junit else ""), (markdown_path, markdown(result) if markdown_path else "")):
        if path:
            atomic_write_text(Path(path), text)
