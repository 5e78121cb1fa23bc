"""Shared by the fuzzing suites (tests/test_fuzz_*.py): the example budget, small run directories
written without a model (through qlongbench.run.store, as tests/data/check/make_fixtures.py does),
and the invariant every fuzzed command must keep.

The budget: every @settings in the fuzz suites takes `examples(n)`, which is n at the default
budget and n x QLONGBENCH_FUZZ_EXAMPLES / 100 otherwise (QLONGBENCH_FUZZ_EXAMPLES=1000 runs ten
times as many examples of each property; 100 is the default)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, settings

from tests.reliability_helpers import error_lines

BUDGET = int(os.environ.get("QLONGBENCH_FUZZ_EXAMPLES", "100"))
"""Percent of each property's default example count (100 = the CI budget)."""


def examples(n: int) -> int:
    return max(1, n * BUDGET // 100)


def fuzz_settings(n: int) -> settings:
    """Reproducible (derandomized, no example database) and without Hypothesis' deadline: a case
    may load a tokenizer or draw a chart."""
    return settings(max_examples=examples(n), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


CREATED = "2026-01-01T00:00:00+00:00"
LABELS = ("bf16", "fp32", "fp16", "bnb-nf4", "bnb-int8", "gguf-q4_k_m")
"""Labels the spec in run.json may hold (records may carry any label: the report must cope)."""
TASK = "niah-single"
MAX_NEW = 8


def make_run(root: Path, *, name: str = "fuzz", precisions: Sequence[str] = ("bf16", "bnb-nf4"), n: int = 6,
             lengths: Sequence[int] = (256,), outputs: dict[tuple[str, int], str] | None = None,
             task: str = TASK, language: str = "en", with_records: bool = True, model: str = "fixture-model",
             origin: str | None = None) -> Path:
    """A run directory of `task` (a label: options may follow the name) in `language` at
    `lengths`, n samples per cell, one record per (precision, sample): the reference right on every
    sample, each other precision wrong on sample 0. `outputs` overrides the text of (precision,
    sample index) records (escaping tests)."""
    from qlongbench.hashing import ids_sha256, sha256_json
    from qlongbench.run.header import RunHeader
    from qlongbench.run.plan import GenerationConfigRecord, ModelInfo, PlannedTask, RunPlan
    from qlongbench.run.store import RunDir
    from qlongbench.spec.config import RunSpec
    from qlongbench.spec.labels import parse_label
    from qlongbench.spec.precision import Precision
    from qlongbench.spec.references import choose_reference
    from qlongbench.types import BackendInfo, GenerationConfig, QuantRecipe, Record, Sample

    gen = GenerationConfig(max_new_tokens=MAX_NEW)
    rd = RunDir(root)
    run_id = f"{name}-20260101T000000Z"
    spec = RunSpec(model="fixture-model", precisions=",".join(p for p in precisions if p in LABELS) or "bf16",
                   lengths=list(lengths), languages=["en"], samples=n, out="run", name="fixture")
    bound, samples = {}, []
    for length in lengths:
        cell = []
        for i in range(n):
            ids = tuple(range(3, 3 + 10 + i))
            cell.append(Sample(sample_id=f"{task}-{language}-{length}-{i:04d}", task=task, language=language,
                               instruction_language=language, length=length, index=i, seed=0, status="ok",
                               prompt_ids=ids, prefix_len=0, max_new_tokens=MAX_NEW, expected=(str(1000 + i),),
                               depth=float(10 * i), prompt_sha256=ids_sha256(ids)))
        path = rd.samples_path(f"{task}-{language}-{length}")
        bound[path.name] = rd.write_samples(path, cell)
        samples += cell
    # A label from outside (a hostile one in the escaping tests) is a precision of the bnb-nf4 backend.
    planned = tuple(parse_label(p) if p in LABELS else
                    Precision(label=p, weights=p, name="bnb-nf4", engine="transformers") for p in precisions)
    plan = RunPlan(
        model=ModelInfo(source=model, origin=origin, num_hidden_layers=2, num_key_value_heads=2, head_dim=16), seed=0,
        tasks={task: PlannedTask(label=task, name=task.split(":")[0], metric="fixture",
                                 generation=GenerationConfigRecord.of(gen), lengths=tuple(lengths),
                                 languages=(language,), samples=n)},
        precisions=planned, reference=choose_reference(planned))
    rd.write_header(RunHeader(
        run_id=run_id, name=name, created_at=CREATED, spec=spec, spec_sha256=sha256_json({"fixture": name}),
        sample_identity_sha256=sha256_json({"fixture": name}), seed=0, plan=plan,
        precisions={p: BackendInfo(precision=p, engine="transformers", engine_version="0", device="cpu", dtype="bf16",
                                   recipe=QuantRecipe(method="none"), weight_bytes=(8 - i) * 2**20)
                    for i, p in enumerate(precisions)}, samples=bound))
    if not with_records:
        return root
    outputs = outputs or {}
    with rd.open_records() as writer:
        for p, prec in enumerate(precisions):
            for s in samples:
                right = p == 0 or s.index != 0
                text = outputs.get((prec, s.index), s.expected[0] if right else "no idea")
                writer.append(Record(
                    run_id=run_id, precision=prec, engine="transformers", task=task, language=language,
                    instruction_language=language, length=s.length, n_prompt_tokens=len(s.prompt_ids),
                    sample_id=s.sample_id, depth=s.depth, prompt_sha256=s.prompt_sha256,
                    gen_config_sha256=sha256_json(gen), output=text, expected=s.expected,
                    score=1.0 if right else 0.0, parsed=True, status="ok", n_generated_tokens=3,
                    prefill_seconds=0.01, decode_seconds=0.01, n_prefilled_tokens=len(s.prompt_ids),
                    kv_cache_bytes=2048 * len(s.prompt_ids), created_at=CREATED))
    return root


def assert_clean_outcome(rc: object, err: str, before: dict[str, bytes], after: dict[str, bytes],
                         *, ok_codes: tuple[int, ...] = (0,)) -> None:
    """The fuzzing invariant: an exit code in ok_codes, or exit 2 with exactly one error line and
    the snapshot unchanged. Never a traceback, never exit 1 ('unexpected ...') for bad input."""
    assert "Traceback" not in err, err
    if rc == 2:
        lines = error_lines(err)
        assert len(lines) == 1 and lines[0].startswith("qlongbench: error: "), lines
        assert after == before, sorted(set(after) ^ set(before)) or "a file's bytes changed"
    else:
        assert rc in ok_codes, (rc, err)
        assert "unexpected" not in err, err
