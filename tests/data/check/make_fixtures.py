"""Writes the small run directories that tests/test_check.py gates on.

    python tests/data/check/make_fixtures.py     # rewrites tests/data/check/<case>/

Each case is a real run directory (run.json, samples/ and records.jsonl written through
qlongbench.run.store), with binary scores chosen so that the verdicts are known by construction:

- pass:              bnb-nf4 matches bf16 except one discordant pair each way at 1024 tokens (150
                     samples per cell: fewer cannot certify a 5-point tolerance with an exact test).
- fail:              bnb-nf4 loses ~45 points at 1024 tokens (en and de); bnb-int8 matches bf16 but
                     hit an out-of-memory error on one 1024-token sample.
- inconclusive:      gguf-q4_k_m loses 2 of 30 at 256 tokens (the interval straddles a 3-point
                     tolerance); only 8 samples at 1024 tokens (insufficient).
- hash_mismatch:     bnb-nf4's 1024-token records carry other prompt hashes than their frozen
                     samples (3 samples): the run directory itself refuses them.
- missing_reference: bnb-nf4 has 1024-token records that bf16 never ran.

Everything is seeded and timestamps are fixed, so rerunning reproduces the files byte for byte.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from qlongbench.hashing import ids_sha256, sha256_json  # noqa: E402
from qlongbench.run.header import RunHeader  # noqa: E402
from qlongbench.run.plan import ModelInfo  # noqa: E402
from qlongbench.run.planner import assemble, plan_precisions, plan_tasks  # noqa: E402
from qlongbench.run.store import RunDir  # noqa: E402
from qlongbench.spec.config import RunSpec  # noqa: E402
from qlongbench.types import Record, Sample  # noqa: E402

CREATED = "2026-01-01T00:00:00+00:00"
ENGINES = {"bf16": "transformers", "bnb-nf4": "transformers", "bnb-int8": "transformers", "gguf-q4_k_m": "llama.cpp"}

# A candidate's score for sample i given the reference's: a function (i, ref_score) -> score or a status.
Outcome = Callable[[int, int], "int | str"]


def same(i: int, ref: int) -> int:
    return ref


def sample_id(task: str, lang: str, length: int, i: int) -> str:
    return f"{task}-{lang}-{length}-{i:04d}"


def record(run_id: str, gen_sha256: str, precision: str, task: str, lang: str, length: int, i: int, score: int | str,
           prompt_salt: str = "") -> Record:
    value = str(1_000_000 + 7919 * i + length)
    status = score if isinstance(score, str) else "ok"
    ok = status == "ok"
    return Record(
        run_id=run_id, precision=precision, engine=ENGINES[precision], task=task, language=lang,
        instruction_language=lang, length=length, n_prompt_tokens=length - 24 if ok else 0,
        sample_id=sample_id(task, lang, length, i), depth=float(10 * (i % 11)),
        prompt_sha256=ids_sha256([length, i, hash_salt(prompt_salt)]), gen_config_sha256=gen_sha256,
        output=(value if score == 1 else "I could not find it.") if ok else "", expected=(value,),
        score=float(score) if ok else None, parsed=(score == 1) if ok else None, status=status,
        error=None if ok else f"{status}: fixture", n_generated_tokens=8 if ok else 0, created_at=CREATED)


def hash_salt(text: str) -> int:
    return sum(map(ord, text))


def sample(task: str, lang: str, length: int, i: int) -> Sample:
    ids = (length, i, hash_salt(""))
    value = str(1_000_000 + 7919 * i + length)
    return Sample(sample_id=sample_id(task, lang, length, i), task=task, language=lang, instruction_language=lang,
                  length=length, index=i, seed=0, status="ok", prompt_ids=ids, prefix_len=0, max_new_tokens=24,
                  expected=(value,), depth=float(10 * (i % 11)), prompt_sha256=ids_sha256(ids))


def write_run(name: str, cells: Sequence[tuple[str, str, int, int]], candidates: dict[str, dict[tuple[str, str, int], Outcome]],
              reference_accuracy: float = 0.9, seed: int = 0, reference_cells: Sequence[tuple[str, str, int, int]] | None = None,
              prompt_salts: dict[tuple[str, tuple[str, str, int]], set[int]] | None = None) -> Path:
    """cells: (task, language, length, n). candidates: precision -> cell -> outcome (default: same)."""
    root = HERE / name
    rd = RunDir(root)
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    run_id = f"fixture-{name}"
    ref_scores = reference_scores(seed, cells, reference_accuracy)
    ref_cells = cells if reference_cells is None else reference_cells
    precisions = ["bf16", *candidates]
    langs = sorted({c[1] for c in cells})
    spec = RunSpec(model="fixture-model", precisions=",".join(precisions), tasks=sorted({c[0] for c in cells}),
                   lengths=sorted({c[2] for c in cells}), languages=langs, samples=max(c[3] for c in cells),
                   seed=seed, out=f"tests/data/check/{name}", name=name)
    bound = {}
    for stem_cells in cells:
        task, lang, n, k = stem_cells
        path = rd.samples_path(f"{task}-{lang}-{n}")
        bound[path.name] = rd.write_samples(path, [sample(task, lang, n, i) for i in range(k)])
    tasks = plan_tasks(spec)
    plan = assemble(spec, ModelInfo(source="fixture-model"), tasks, plan_precisions(spec, tasks))
    gen = plan.tasks["niah-single"].generation.sha256
    rd.write_header(RunHeader(
        run_id=run_id, name=name, created_at=CREATED, spec=spec, spec_sha256=sha256_json({"fixture": name}),
        sample_identity_sha256=sha256_json({"fixture": name}), seed=seed, plan=plan, samples=bound))
    salts = prompt_salts or {}
    with rd.open_records() as writer:
        for t, lang, n, k in ref_cells:
            for i, s in enumerate(ref_scores[(t, lang, n)][:k]):
                writer.append(record(run_id, gen, "bf16", t, lang, n, i, s))
        for prec, outcomes in candidates.items():
            for t, lang, n, k in cells:
                outcome = outcomes.get((t, lang, n), same)
                salted = salts.get((prec, (t, lang, n)), set())
                for i, s in enumerate(ref_scores[(t, lang, n)][:k]):
                    writer.append(record(run_id, gen, prec, t, lang, n, i, outcome(i, s),
                                         prompt_salt="other-prompt" if i in salted else ""))
    return root


def flip_to(indices_wrong: set[int], indices_right: set[int] = frozenset()) -> Outcome:
    """The candidate answers wrong on indices_wrong and right on indices_right, else like the reference."""
    def outcome(i: int, ref: int) -> int:
        if i in indices_wrong:
            return 0
        if i in indices_right:
            return 1
        return ref
    return outcome


def reference_scores(seed: int, cells: Sequence[tuple[str, str, int, int]], accuracy: float = 0.9
                     ) -> dict[tuple[str, str, int], list[int]]:
    rng = random.Random(seed)
    return {(t, lang, n): [int(rng.random() < accuracy) for _ in range(k)] for t, lang, n, k in cells}


def pick(scores: list[int], value: int, k: int) -> set[int]:
    return set([i for i, s in enumerate(scores) if s == value][:k])


def main() -> None:
    t = "niah-single"

    cells = [(t, "en", 256, 150), (t, "en", 1024, 150)]
    ref = reference_scores(1, cells)
    s = ref[(t, "en", 1024)]
    write_run("pass", cells, {"bnb-nf4": {(t, "en", 1024): flip_to(pick(s, 1, 1), pick(s, 0, 1))}}, seed=1)

    cells = [(t, lang, n, 40) for lang in ("en", "de") for n in (256, 1024)]
    ref = reference_scores(2, cells, 0.95)
    collapse = {(t, lang, 1024): flip_to(set(range(0, 40, 2))) for lang in ("en", "de")}
    def oom_once(i: int, r: int) -> int | str:
        return "oom" if i == 5 else r
    write_run("fail", cells, {"bnb-nf4": collapse, "bnb-int8": {(t, "en", 1024): oom_once}},
              reference_accuracy=0.95, seed=2)

    cells = [(t, "en", 256, 30), (t, "en", 1024, 8)]
    ref = reference_scores(3, cells)
    write_run("inconclusive", cells, {"gguf-q4_k_m": {(t, "en", 256): flip_to(pick(ref[(t, "en", 256)], 1, 2))}}, seed=3)

    cells = [(t, "en", 256, 30), (t, "en", 1024, 30)]
    write_run("hash_mismatch", cells, {"bnb-nf4": {}}, seed=4,
              prompt_salts={("bnb-nf4", (t, "en", 1024)): {0, 1, 2}})

    write_run("missing_reference", cells, {"bnb-nf4": {}}, seed=5, reference_cells=[(t, "en", 256, 30)])


if __name__ == "__main__":
    main()
