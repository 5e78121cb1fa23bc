"""The one comparability check of a run directory's records against its header and frozen samples:
each record belongs to this run and to a precision its plan holds, was made from its sample's exact
ids with its task's generation config, and is the only record of its (precision, sample)."""

from __future__ import annotations

from pathlib import Path

from qlongbench.errors import UserError
from qlongbench.run.header import RunHeader
from qlongbench.types import Record, Sample


def task_names(header: RunHeader) -> dict[str, str]:
    """Task label -> registered task name, from the run's plan (a label carries its options)."""
    return {label: t.name for label, t in header.plan.tasks.items()}


def verify_records(header: RunHeader, samples: dict[str, Sample], records: list[Record], where: Path,
                   lines: list[int] | None = None) -> None:
    """The one comparability check: each record belongs to this run and to a precision its plan
    holds, was made from its frozen sample's exact ids (prompt hash) with its task's generation
    config, and is the only record of its (precision, sample). Anything else is one UserError line
    naming the record (`lines`: each record's line in the file, when known)."""
    seen: dict[tuple[str, str], int] = {}
    gen = {label: t.generation.sha256 for label, t in header.plan.tasks.items()}
    labels = header.precision_labels()
    for n, r in zip(lines or range(1, len(records) + 1), records):
        at = f"{where}:{n}"
        if r.run_id != header.run_id:
            raise UserError(f"{at}: record of run {r.run_id!r}, but run.json is run {header.run_id!r}; the directory "
                            "mixes two runs — start over with --new")
        if r.precision not in labels:
            raise UserError(f"{at}: record of precision {r.precision!r}, which run.json does not plan (it plans "
                            f"{', '.join(sorted(labels)) or 'none'}); remove the line, or start over with --new")
        first = seen.setdefault(r.key(), n)
        if first != n:
            raise UserError(f"{at}: a second record for {r.precision} / {r.sample_id} (the first is line {first}); "
                            "remove the duplicate line, or start over with --new")
        sample = samples.get(r.sample_id)
        if sample is None:
            raise UserError(f"{at}: record for sample {r.sample_id}, which no samples file of this run holds")
        if (r.task, r.language, r.instruction_language, r.length) != (
                sample.task, sample.language, sample.instruction_language, sample.length):
            raise UserError(f"{at}: {r.precision} / {r.sample_id} says task {r.task}, {r.language}/"
                            f"{r.instruction_language}, length {r.length}, but its frozen sample is {sample.task}, "
                            f"{sample.language}/{sample.instruction_language}, length {sample.length}; restore the "
                            "file, or start over with --new")
        if r.prompt_sha256 != sample.prompt_sha256:
            raise UserError(f"{at}: {r.precision} / {r.sample_id} was run on other prompt ids than the frozen sample "
                            "(prompt_sha256 differs); its precisions cannot be compared — rerun it in a fresh run")
        if r.status != "overlength" and r.task in gen and r.gen_config_sha256 != gen[r.task]:
            raise UserError(f"{at}: {r.precision} / {r.sample_id} used another generation config than run.json "
                            f"records for {r.task}; rerun it in a fresh run")
