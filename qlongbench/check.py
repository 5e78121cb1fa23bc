"""`qlongbench check`: turn a run's paired comparison into a pass/fail gate.

For every cell (candidate × task × language × length) the candidate's scores are paired with the
reference's on the same samples and the drop (reference − candidate) gets a paired bootstrap
interval (qlongbench.stats). Each verdict is a one-sided test at the policy's confidence c, so both
bounds come from one two-sided interval at 2c − 1 (90 % for c = 0.95):

- pass: the upper bound of the drop is within tolerance;
- fail: the lower bound exceeds tolerance (or the candidate crashed on a sample the reference ran);
- inconclusive: the interval straddles the tolerance; the verdict says roughly how many more samples
  would decide it;
- insufficient: fewer paired samples than the policy's minimum (an inconclusive verdict).

Records whose prompt_sha256 or gen_config_sha256 differ between reference and candidate, or a
candidate record without a reference record, are refused (UserError, exit 2) with the cells named.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qlongbench import stats
from qlongbench.errors import UserError
from qlongbench.policy import Policy, Tolerance
from qlongbench.report import choose_reference, language_label, md_escape
from qlongbench.store import RunDir, atomic_write_text
from qlongbench.types import Record

log = logging.getLogger(__name__)

Verdict = Literal["pass", "fail", "inconclusive", "insufficient"]

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

_MARK = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "insufficient": "⚠️"}


@dataclass(frozen=True)
class CellId:
    """One gated cell."""

    candidate: str
    """Candidate precision label."""
    task: str
    """Task name."""
    language: str
    """Language label (`de`, or `en_de` in cross-lingual runs)."""
    length: int
    """Target length in tokens."""

    def __str__(self) -> str:
        return f"{self.candidate} {self.task}/{self.language}/{self.length}"


@dataclass(frozen=True)
class CellVerdict:
    """The gate's decision on one cell, with the numbers behind it."""

    cell: CellId
    """Which cell."""
    verdict: Verdict
    """pass, fail, inconclusive or insufficient."""
    tolerance: Tolerance
    """What the cell may lose."""
    n: int
    """Paired, scored samples."""
    drop: stats.PairedDrop | None
    """Paired drop with its interval at the check's two-sided confidence (None when n = 0)."""
    more_samples: int | None
    """Inconclusive only: roughly how many more paired samples would decide it (None when unknown)."""
    candidate_failures: int
    """Samples the reference scored but the candidate hit oom/error on."""
    excluded: int
    """Samples left out: overlength for everyone, or not scored by the reference."""
    reason: str
    """One line explaining the verdict."""


@dataclass(frozen=True)
class CheckResult:
    """Everything `check` decided; `exit_code` is what the CLI returns."""

    run_id: str
    """Run that was checked."""
    run_dir: str
    """Its directory."""
    reference: str
    """Reference precision."""
    confidence: float
    """One-sided confidence of each bound."""
    strict: bool
    """Whether inconclusive cells count as failures."""
    cells: tuple[CellVerdict, ...]
    """One verdict per gated cell."""
    warnings: tuple[str, ...]
    """Policy rules or scopes that matched nothing, and similar hints."""

    def count(self, *verdicts: str) -> int:
        return sum(c.verdict in verdicts for c in self.cells)

    @property
    def failed(self) -> bool:
        return self.count("fail") > 0 or (self.strict and self.count("inconclusive", "insufficient") > 0)

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.failed else EXIT_PASS

    @property
    def overall(self) -> str:
        if self.failed:
            return "fail"
        return "inconclusive" if self.count("inconclusive", "insufficient") else "pass"

    @property
    def interval_confidence(self) -> float:
        """Two-sided confidence of the intervals shown (2c − 1)."""
        return two_sided(self.confidence)


def two_sided(one_sided: float) -> float:
    return round(2.0 * one_sided - 1.0, 12)


# --- pairing -------------------------------------------------------------------------------------
@dataclass
class _Cell:
    reference: list[float]
    candidate: list[float]
    candidate_failures: list[str]
    excluded: int = 0


def _latest(records: Sequence[Record]) -> dict[str, dict[str, Record]]:
    """precision -> sample_id -> record (a later line replaces an earlier one)."""
    out: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
        out[r.precision][r.sample_id] = r
    return out


def _pair(reference: dict[str, Record], candidate: str, rows: dict[str, Record]) -> dict[tuple[str, str, int], _Cell]:
    """Pair a candidate's records with the reference's, refusing incomparable or orphan records."""
    cells: dict[tuple[str, str, int], _Cell] = defaultdict(lambda: _Cell([], [], []))
    mismatched: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    mismatched_n: dict[tuple[str, str, int], int] = defaultdict(int)
    orphans: dict[tuple[str, str, int], int] = defaultdict(int)
    for sid, r in rows.items():
        key = (r.task, language_label(r), r.length)
        q = reference.get(sid)
        if q is None:
            orphans[key] += 1
            continue
        if "overlength" in (r.status, q.status):
            cells[key].excluded += 1
            continue
        fields = {f for f in ("prompt_sha256", "gen_config_sha256") if getattr(r, f) != getattr(q, f)}
        if fields:
            mismatched[key] |= fields
            mismatched_n[key] += 1
            continue
        if q.status != "ok" or q.score is None:
            cells[key].excluded += 1
            continue
        if r.status != "ok" or r.score is None:
            cells[key].candidate_failures.append(r.status)
            continue
        cells[key].reference.append(float(q.score))
        cells[key].candidate.append(float(r.score))
    if mismatched:
        named = ", ".join(f"{candidate} {t}/{lang}/{n} ({mismatched_n[(t, lang, n)]} samples: "
                          f"{' and '.join(sorted(mismatched[(t, lang, n)]))})"
                          for (t, lang, n) in sorted(mismatched))
        raise UserError(f"refusing to compare: the reference and candidate records disagree on their hashes in "
                        f"{len(mismatched)} cell(s): {named}; they did not see identical prompt ids and generation "
                        "settings — run both precisions in the same run directory")
    if orphans:
        named = ", ".join(f"{candidate} {t}/{lang}/{n} ({k} samples)" for (t, lang, n), k in sorted(orphans.items()))
        raise UserError(f"refusing to compare: the reference has no record for {len(orphans)} cell(s): {named}; "
                        "run the reference on those cells first (re-run the same `qlongbench run` command)")
    return cells


# --- verdicts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Criterion:
    verdict: Verdict
    needed: int | None


def _criterion(low: float, high: float, point: float, tolerance: float, sd: float, confidence: float) -> _Criterion:
    if high <= tolerance:
        return _Criterion("pass", None)
    if low > tolerance:
        return _Criterion("fail", None)
    return _Criterion("inconclusive", stats.samples_needed(point, tolerance, sd, confidence=confidence))


def decide(cell: CellId, tolerance: Tolerance, ref: Sequence[float], cand: Sequence[float], *,
           confidence: float, candidate_failures: Sequence[str] = (), excluded: int = 0) -> CellVerdict:
    """The verdict on one cell from its paired scores (pure; `confidence` is one-sided)."""
    n = len(ref)
    both = two_sided(confidence)
    drop = stats.paired_bootstrap_drop(ref, cand, confidence=both) if n else None
    base = dict(cell=cell, tolerance=tolerance, n=n, drop=drop, candidate_failures=len(candidate_failures),
                excluded=excluded)
    if candidate_failures:
        kinds = ", ".join(f"{k} ×{candidate_failures.count(k)}" for k in sorted(set(candidate_failures)))
        return CellVerdict(verdict="fail", more_samples=None, reason=f"candidate failed on samples the reference "
                           f"ran ({kinds})", **base)
    if drop is None:
        why = (f"{excluded} samples are overlength or were not scored by the reference" if excluded else
               "the candidate has no scored records here")
        return CellVerdict(verdict="insufficient", more_samples=tolerance.min_samples,
                           reason=f"no paired samples in this cell ({why})", **base)
    sd = stats.paired_difference_sd(ref, cand)
    criteria: list[_Criterion] = []
    if tolerance.max_drop is not None:
        criteria.append(_criterion(drop.interval.low, drop.interval.high, drop.drop, tolerance.max_drop, sd, both))
    if tolerance.max_relative_drop is not None:
        if drop.relative_interval is None or drop.relative_drop is None:
            # The reference scores 0 everywhere: the candidate cannot be worse.
            criteria.append(_Criterion("pass", None))
        else:
            rel_sd = sd / drop.reference_mean
            criteria.append(_criterion(drop.relative_interval.low, drop.relative_interval.high, drop.relative_drop,
                                       tolerance.max_relative_drop, rel_sd, both))
    ci = f"{100 * drop.interval.low:+.1f}…{100 * drop.interval.high:+.1f}"
    if n < tolerance.min_samples:
        return CellVerdict(verdict="insufficient", more_samples=tolerance.min_samples - n,
                           reason=f"{n} paired samples, fewer than the policy's minimum of {tolerance.min_samples} "
                           f"({tolerance.min_samples - n} more needed before a verdict)",
                           **base)
    if any(c.verdict == "fail" for c in criteria):
        return CellVerdict(verdict="fail", more_samples=None, reason=f"drop {100 * drop.drop:+.1f} pts "
                           f"(CI {ci}): the lower bound exceeds the tolerance {tolerance.describe()}", **base)
    if all(c.verdict == "pass" for c in criteria):
        return CellVerdict(verdict="pass", more_samples=None, reason=f"drop {100 * drop.drop:+.1f} pts (CI {ci}): "
                           f"the upper bound is within the tolerance {tolerance.describe()}", **base)
    needed = [c.needed for c in criteria if c.verdict == "inconclusive"]
    total = max(needed) if needed and all(x is not None for x in needed) else None
    more = total - n if total is not None and total > n else None
    hint = (f"about {more} more paired samples (≈{total} in all) would decide it" if more is not None else
            "the drop sits right at the tolerance; more samples may not settle it")
    return CellVerdict(verdict="inconclusive", more_samples=more, reason=f"drop {100 * drop.drop:+.1f} pts "
                       f"(CI {ci}) straddles the tolerance {tolerance.describe()}; {hint}", **base)


# --- the check -----------------------------------------------------------------------------------
def check_records(records: Sequence[Record], policy: Policy, *, run_id: str = "", run_dir: str = "") -> CheckResult:
    """Verdicts for every gated cell of a run's records under a policy."""
    if not records:
        raise UserError(f"{run_dir or 'the run'} has no records yet; run `qlongbench run` first")
    by_prec = _latest(records)
    order = list(dict.fromkeys(r.precision for r in records))
    reference = choose_reference(order, policy.reference)
    if reference is None:
        raise UserError(f"no reference precision: the run has {', '.join(order)}; pass --reference")
    candidates = policy.candidates or [p for p in order if p != reference]
    missing = [c for c in candidates if c not in by_prec]
    if missing:
        raise UserError(f"candidate {', '.join(missing)} has no records in this run; precisions: {', '.join(order)}")
    if reference in candidates:
        raise UserError(f"{reference} is the reference; it cannot also be a candidate")
    if not candidates:
        raise UserError(f"the run has only the reference {reference}; nothing to check (run a candidate precision)")

    ref_rows = by_prec[reference]
    all_cells = {(r.task, language_label(r), r.length) for r in ref_rows.values()}
    warnings: list[str] = []
    for name, scope, present in (("lengths", policy.lengths, {c[2] for c in all_cells}),
                                 ("tasks", policy.tasks, {c[0] for c in all_cells}),
                                 ("languages", policy.languages, {c[1] for c in all_cells})):
        if scope is not None and not set(scope) & present:
            raise UserError(f"the run has no reference records for {name} {', '.join(map(str, scope))}; "
                            f"it has {', '.join(map(str, sorted(present)))}")
        if scope is not None and set(scope) - present:
            warnings.append(f"{name} {', '.join(map(str, sorted(set(scope) - present)))} not in this run")

    verdicts: list[CellVerdict] = []
    used_rules: set[int] = set()
    for cand in candidates:
        paired = _pair(ref_rows, cand, by_prec[cand])
        for task, lang, length in sorted(all_cells | set(paired)):
            if ((policy.lengths is not None and length not in policy.lengths)
                    or (policy.tasks is not None and task not in policy.tasks)
                    or (policy.languages is not None and lang not in policy.languages)):
                continue
            used_rules |= {i for i, rule in enumerate(policy.rules) if rule.matches(cand, task, lang, length)}
            tol = policy.tolerance(cand, task, lang, length)
            if tol is None:
                continue
            if tol.max_drop is None and tol.max_relative_drop is None:
                raise UserError(f"no tolerance for cell {CellId(cand, task, lang, length)}: set --max-drop or "
                                "--max-relative-drop, or max_drop / max_relative_drop in the policy")
            cell = paired.get((task, lang, length)) or _Cell([], [], [])
            verdicts.append(decide(CellId(cand, task, lang, length), tol, cell.reference, cell.candidate,
                                   confidence=policy.confidence, candidate_failures=cell.candidate_failures,
                                   excluded=cell.excluded))
    for i, rule in enumerate(policy.rules):
        if i not in used_rules:
            warnings.append(f"policy rule {i + 1} ({rule.model_dump(exclude_defaults=True)}) matched no cell")
    if not verdicts:
        raise UserError("no cell left to check: every cell was skipped by the policy")
    return CheckResult(run_id=run_id, run_dir=run_dir, reference=reference, confidence=policy.confidence,
                       strict=policy.strict, cells=tuple(verdicts), warnings=tuple(warnings))


def check(run_dir: str | Path, policy: Policy) -> CheckResult:
    """Read a run directory and check it."""
    rd = RunDir(run_dir)
    meta = rd.read_meta()
    return check_records(rd.records(), policy, run_id=str(meta.get("run_id", rd.root.name)), run_dir=str(rd.root))


# --- writers -------------------------------------------------------------------------------------
def _pts(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _ci(v: CellVerdict) -> str:
    if v.drop is None:
        return "–"
    return f"{100 * v.drop.interval.low:+.1f}…{100 * v.drop.interval.high:+.1f}"


def _drop(v: CellVerdict) -> str:
    return "–" if v.drop is None else f"{100 * v.drop.drop:+.1f}"


def _counts(result: CheckResult) -> str:
    return (f"{result.count('pass')} pass, {result.count('fail')} fail, {result.count('inconclusive')} inconclusive, "
            f"{result.count('insufficient')} insufficient")


def summary_line(result: CheckResult) -> str:
    strict = " (strict: inconclusive counts as fail)" if result.strict else ""
    return f"qlongbench check: {result.overall.upper()} — {_counts(result)} versus {result.reference}{strict}"


def text_table(result: CheckResult) -> str:
    """A plain-text table for the terminal."""
    head = ("verdict", "candidate", "task", "lang", "length", "n", "ref %", "cand %", "drop", f"{100 * result.interval_confidence:g}% CI", "tolerance")
    rows = [head] + [(v.verdict, v.cell.candidate, v.cell.task, v.cell.language, str(v.cell.length), str(v.n),
                      _pts(v.drop.reference_mean if v.drop else None), _pts(v.drop.candidate_mean if v.drop else None),
                      _drop(v), _ci(v), v.tolerance.describe()) for v in result.cells]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    notes = [f"  {v.cell}: {v.reason}" for v in result.cells if v.verdict != "pass"]
    out = lines + (["", "notes:"] + notes if notes else []) + [""] + [f"warning: {w}" for w in result.warnings]
    return "\n".join(out + [summary_line(result)]) + "\n"


def markdown(result: CheckResult) -> str:
    """A summary suited to a pull-request comment."""
    head = {"pass": "✅ PASS", "fail": "❌ FAIL", "inconclusive": "⚠️ INCONCLUSIVE"}[result.overall]
    ci = f"{100 * result.interval_confidence:g} %"
    lines = [f"## qlongbench check: {head}", "",
             f"Run `{md_escape(result.run_id)}` · reference **{md_escape(result.reference)}** · "
             f"{_counts(result)} · one-sided {100 * result.confidence:g} % bounds ({ci} intervals)"
             + (" · strict" if result.strict else ""), "",
             f"| | candidate | task | lang | length | n | ref % | cand % | drop (pts) | {ci} CI | tolerance | note |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|"]
    order = {"fail": 0, "insufficient": 1, "inconclusive": 1, "pass": 2}
    for v in sorted(result.cells, key=lambda v: order[v.verdict]):
        note = "" if v.verdict == "pass" else v.reason
        lines.append(f"| {_MARK[v.verdict]} {v.verdict} | {md_escape(v.cell.candidate)} | {md_escape(v.cell.task)} | "
                     f"{md_escape(v.cell.language)} | {v.cell.length} | {v.n} | "
                     f"{_pts(v.drop.reference_mean if v.drop else None)} | "
                     f"{_pts(v.drop.candidate_mean if v.drop else None)} | {_drop(v)} | {_ci(v)} | "
                     f"{md_escape(v.tolerance.describe())} | {md_escape(note)} |")
    lines += ["", "Drop = reference − candidate accuracy on the same samples (positive = worse). A cell passes "
              "when the upper bound of its drop is within tolerance and fails when the lower bound is beyond it."]
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
                       ("confidence", f"{result.confidence:g}"), ("strict", str(result.strict).lower())):
            ET.SubElement(props, "property", name=k, value=val)
        counts = {"tests": len(cells), "failures": 0, "skipped": 0}
        for v in cells:
            case = ET.SubElement(suite, "testcase", classname=f"qlongbench.{cand}.{v.cell.task}",
                                 name=f"{v.cell.task}/{v.cell.language}/{v.cell.length}", time="0")
            detail = (f"n={v.n} drop={_drop(v)} pts CI={_ci(v)} tolerance={v.tolerance.describe()} "
                      f"reference={_pts(v.drop.reference_mean if v.drop else None)}% "
                      f"candidate={_pts(v.drop.candidate_mean if v.drop else None)}%")
            if v.verdict == "fail" or (result.strict and v.verdict in ("inconclusive", "insufficient")):
                counts["failures"] += 1
                el = ET.SubElement(case, "failure", message=f"{v.verdict}: {v.reason}", type=v.verdict)
                el.text = detail
            elif v.verdict in ("inconclusive", "insufficient"):
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
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_outputs(result: CheckResult, junit: str | Path | None = None, markdown_path: str | Path | None = None) -> None:
    for path, text in ((junit, junit_xml(result) if junit else ""), (markdown_path, markdown(result) if markdown_path else "")):
        if path:
            try:
                atomic_write_text(Path(path), text)
            except OSError as err:
                raise UserError(f"cannot write {path}: {err.strerror or err}") from None
