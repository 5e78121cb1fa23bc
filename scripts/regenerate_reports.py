"""Regenerate every committed figure from committed run records.

    python scripts/regenerate_reports.py           # rewrite reports/smollm2/<run>/ and the generated tables
    python scripts/regenerate_reports.py --check   # exit 1 when a committed table, summary.md or results.json
                                                   # differs from its records

The records of every reference run live in reports/<model>/records/<run>/ (run.json, records.jsonl,
samples/: a run directory the report verifies like any other; models: smollm2, and the optional
gemma3). From them this script draws each run's report (reports/<model>/<run>/: index.html,
summary.md, results.json, charts) and the Markdown tables between `<!-- BEGIN generated: KEY -->`
and `<!-- END generated: KEY -->` in README.md and reports/<model>/README.md. Nothing in those blocks is typed by hand; the prose around
them carries no number. tests/test_regenerate.py runs --check in CI: the generated blocks and each
run's summary.md and results.json must equal what the records give, byte for byte (the charts and
index.html are redrawn by the plain command; their PNG bytes depend on the matplotlib build).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from qlongbench.analysis.build import build  # noqa: E402
from qlongbench.analysis.data import ReportData  # noqa: E402
from qlongbench.render import tables  # noqa: E402
from qlongbench.render.kv import grid_markdown  # noqa: E402
from qlongbench.render.markdown import glance_lines  # noqa: E402
from study_matrix import matrix_lines  # noqa: E402

MODELS = ("smollm2", "gemma3")
"""The committed reports: reports/<model>/records/<run>/ drawn into reports/<model>/<run>/."""

BLOCK = re.compile(r"(<!-- BEGIN generated: (?P<key>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated: (?P=key) -->)",
                   re.DOTALL)


def minutes(data: ReportData) -> str:
    seconds = sum(s for _, s in data.durations.values())
    return f"{int(seconds // 60)} min {int(round(seconds % 60)):02d} s"


def blocks(runs: dict[str, ReportData], gemma: dict[str, ReportData] | None = None) -> dict[str, Callable[[], list[str]]]:
    """Every generated block by key (a block whose run has no records says so); the study matrix counts
    the second model's runs too, named gemma3/<run>."""
    def need(*names: str) -> ReportData | None:
        missing = [n for n in names if n not in runs]
        return None if missing else runs[names[0]]

    def missing(*names: str) -> list[str]:
        return [f"(not regenerated: no records in reports/smollm2/records/{', '.join(n for n in names if n not in runs)})"]

    def suite_glance() -> list[str]:
        data = need("suite")
        return glance_lines(data) if data else missing("suite")

    def between(a: str, b: str, label_a: str, label_b: str) -> Callable[[], list[str]]:
        """The same job's two runs side by side (what moved between them)."""
        def draw() -> list[str]:
            if need(a, b) is None:
                return missing(a, b)
            return tables.stability_table(runs[a], runs[b], label_a, label_b)
        return draw

    def per_run(name: str, draw: Callable[[ReportData], list[str]]) -> Callable[[], list[str]]:
        return lambda: (draw(runs[name]) if name in runs else missing(name))

    def kv_sweep() -> list[str]:
        data = need("kv-sweep")
        return grid_markdown(data)[3:] if data else missing("kv-sweep")

    def run_minutes(name: str) -> Callable[[], list[str]]:
        return lambda: ([minutes(runs[name])] if name in runs else missing(name))

    out = {"suite-glance": suite_glance, "suite-kl": per_run("suite", tables.kl_table),
           "kl-awq-fp8": per_run("awq-fp8", tables.kl_table), "kl-awq-vllm": per_run("awq-vllm", tables.kl_table),
           "suite-questions": per_run("suite", tables.questions_table),
           "questions-nested": per_run("nested", tables.questions_table),
           "suite-drops": per_run("suite", tables.drops_summary), "stability": between("suite", "suite-1thread", "2 threads", "1 thread"), "suite-minutes": run_minutes("suite"),
           "suite-rerun-minutes": run_minutes("suite-rerun"), "suite-amx-minutes": run_minutes("suite-amx"),
           "stability-machines-amx": between("suite-rerun", "suite-amx", "2026-12-05 machine", "2026-12-06 machine"),
           "stability-split": between("suite-amx", "suite-split", "masked chunks", "split chunks"),
           "suite-split-minutes": run_minutes("suite-split"), "stability-machines": between("suite", "suite-rerun", "committed machine", "2026-12-05 machine"),
           "nested-rows10-minutes": run_minutes("nested-rows10"), "niah-single-n50-minutes": run_minutes("niah-single-n50"),
           "stability-nested-rows10": between("nested", "nested-rows10", "committed, one at a time", "--decode-rows 10, 2026-12-05"),
           "kv-sweep": kv_sweep, "study-matrix": lambda: matrix_lines(runs | {f"gemma3/{k}": v for k, v in (gemma or {}).items()})}
    for name in ("suite", "suite-1thread", "suite-rerun", "suite-amx", "suite-split", "nested", "niah-single-short", "kv-sweep", "study-tasks",
                 "awq-fp8", "awq-vllm", "nested-rows10", "niah-single-n50"):
        out[f"timing-{name}"] = per_run(name, tables.timing_table)
        out[f"phases-{name}"] = per_run(name, tables.phase_table)
    for name in ("nested", "niah-single-short", "niah-single-n50", "study-tasks", "awq-fp8", "awq-vllm"):
        out[f"drops-{name}"] = per_run(name, tables.drops_summary)
        out[f"wording-{name}"] = per_run(name, tables.wording_table)
        out[f"depth-{name}"] = per_run(name, tables.depth_table)
    return out


def gemma_blocks(runs: dict[str, ReportData]) -> dict[str, Callable[[], list[str]]]:
    """The optional second model's blocks (reports/gemma3/README.md), keyed gemma-<kind>-<run>."""
    out: dict[str, Callable[[], list[str]]] = {}
    for name, data in runs.items():
        out[f"gemma-drops-{name}"] = (lambda d=data: tables.drops_summary(d))
        out[f"gemma-questions-{name}"] = (lambda d=data: tables.questions_table(d))
        out[f"gemma-timing-{name}"] = (lambda d=data: tables.timing_table(d))
        out[f"gemma-kl-{name}"] = (lambda d=data: tables.kl_table(d))
    return out


def fill(text: str, made: dict[str, Callable[[], list[str]]], source: Path) -> str:
    """The text with every generated block redrawn (a block sits on lines of its own: in a sentence its
    line breaks render as spaces)."""
    def one(m: re.Match[str]) -> str:
        key = m.group("key")
        if key not in made:
            raise SystemExit(f"{source}: unknown generated block {key!r}; known: {', '.join(sorted(made))}")
        return m.group(1) + "\n".join(made[key]()).rstrip("\n") + "\n" + m.group(4)
    return BLOCK.sub(one, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this script's)")
    args = parser.parse_args(argv)
    runs_of: dict[Path, dict[str, ReportData]] = {}
    for model in MODELS:
        records = args.root / "reports" / model / "records"
        names = sorted(p.name for p in records.iterdir() if (p / "run.json").is_file()) if records.is_dir() else []
        runs_of[args.root / "reports" / model] = {name: build(records / name) for name in names}
    smollm2, gemma3 = (runs_of[args.root / "reports" / m] for m in MODELS)
    made = blocks(smollm2, gemma3) | gemma_blocks(gemma3)
    stale = []
    docs = [args.root / "README.md", *(reports / "README.md" for reports in runs_of if (reports / "README.md").is_file())]
    for doc in docs:
        old = doc.read_text(encoding="utf-8")
        new = fill(old, made, doc)
        if new != old:
            stale.append(doc)
            if args.check:
                sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                           str(doc), f"{doc} (from records)"))
            else:
                doc.write_text(new, encoding="utf-8")
    if args.check:
        from qlongbench.render.markdown import summary_markdown
        from qlongbench.render.results_json import results_json

        for reports, runs in runs_of.items():  # each run's own report: its text pages, byte for byte
            for name, data in runs.items():
                for page, draw in (("summary.md", summary_markdown), ("results.json", results_json)):
                    path = reports / name / page
                    old = path.read_text(encoding="utf-8") if path.is_file() else ""
                    new = draw(data)
                    if new != old:
                        stale.append(path)
                        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                                   str(path), f"{path} (from records)"))
        if stale:
            print(f"{len(stale)} file(s) differ from their records: run python scripts/regenerate_reports.py")
            return 1
        every = [f"{reports.name}/{name}" for reports, runs in runs_of.items() for name in runs]
        print(f"every generated table matches its records ({', '.join(every) or 'no runs'})")
        return 0
    from qlongbench.render.write import write

    for reports, runs in runs_of.items():
        for name in runs:
            path = write(reports / "records" / name, reports / name)
            print(f"report: {path / 'index.html'}")
    for doc in stale:
        print(f"rewrote the generated tables in {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
