"""Writes tests/data/report_run/, the small run directory the report tests build a report from.

    python tests/data/make_report_fixture.py

A run directory written through qlongbench.run.store (run.json, samples/*.jsonl and records.jsonl),
whose outcomes are chosen by hand, so every number the report prints is known by construction:

- precisions bf16 (reference), bnb-nf4 (transformers), gguf-bf16 and gguf-q4_k_m (llama.cpp);
- niah-single in en and de at 256 and 512 tokens, 10 samples each; kld in en at 256 and 512, 2 documents;
- de-512 sample 9 is overlength for everyone; bnb-nf4 hit an error on de-512 sample 8 and
  gguf-q4_k_m ran out of memory on en-512 sample 7;
- one bnb-nf4 output is `<script>alert(1)</script>` (the HTML must show it as text), one is empty,
  one cannot be parsed;
- KV bytes: transformers records hold exactly the formula (2·4·2·64·tokens·2 = 2048 B/token),
  llama.cpp records the formula plus a fixed 6 KiB;
- weights: bf16 50 MiB, bnb-nf4 16 MiB, gguf-bf16 50 MiB + 1 KiB, gguf-q4_k_m 15 MiB.
Seeded, with fixed timestamps: rerunning reproduces the files byte for byte.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from qlongbench.hashing import ids_sha256, sha256_json  # noqa: E402
from qlongbench.run.header import RunHeader  # noqa: E402
from qlongbench.run.plan import GenerationConfigRecord, ModelInfo, PlannedTask, RunPlan  # noqa: E402
from qlongbench.spec.measure import MeasureRule  # noqa: E402
from qlongbench.spec.labels import parse_label  # noqa: E402
from qlongbench.run.store import RunDir  # noqa: E402
from qlongbench.types import GenerationConfig, Record, Sample  # noqa: E402

OUT = HERE / "report_run"
CREATED = "2026-01-01T00:00:00+00:00"
RUN_ID = "fixture-report-20260101T000000Z"
NIAH_GEN = GenerationConfig(max_new_tokens=24)
KLD_GEN = GenerationConfig(max_new_tokens=0)
LAYERS, HEADS, KV_HEADS, HEAD_DIM = 4, 8, 2, 64
KV_PER_TOKEN = 2 * LAYERS * KV_HEADS * HEAD_DIM * 2
"""Bytes per token of a bf16 / f16 KV cache: 2048."""
LLAMA_KV_OVERHEAD = 6 * 1024
MIB = 1024 * 1024

PRECISIONS = {
    "bf16": dict(engine="transformers", weight_bytes=50 * MIB, dtype="bfloat16", prefill=2000.0, decode=40.0,
                 recipe=dict(method="none", bits=16, compute_dtype="bfloat16")),
    "bnb-nf4": dict(engine="transformers", weight_bytes=16 * MIB, dtype="bfloat16", prefill=900.0, decode=20.0,
                    recipe=dict(method="bitsandbytes", bits=4, quant_type="nf4", double_quant=False,
                                compute_dtype="bfloat16")),
    "gguf-bf16": dict(engine="llama.cpp", weight_bytes=50 * MIB + 1024, dtype="bfloat16", prefill=1500.0, decode=30.0,
                      recipe=dict(method="gguf", bits=16, quant_type="BF16")),
    "gguf-q4_k_m": dict(engine="llama.cpp", weight_bytes=15 * MIB, dtype="float32", prefill=2500.0, decode=60.0,
                        recipe=dict(method="gguf", bits=4.5, quant_type="Q4_K_M")),
}

# Outcome of sample i per (precision, language, length): 1 right, 0 wrong, E error, O out of memory,
# - overlength (the sample itself could not fit).
NIAH = {
    "bf16":        {("en", 256): "1111111111", ("en", 512): "1111111110",
                    ("de", 256): "1111111111", ("de", 512): "111111111-"},
    "bnb-nf4":     {("en", 256): "1111111111", ("en", 512): "1111100010",
                    ("de", 256): "1111111110", ("de", 512): "11111110E-"},
    "gguf-bf16":   {("en", 256): "1111111111", ("en", 512): "1111111110",
                    ("de", 256): "1111111111", ("de", 512): "111111111-"},
    "gguf-q4_k_m": {("en", 256): "1111111101", ("en", 512): "1110100O10",
                    ("de", 256): "1111111011", ("de", 512): "111101111-"},
}
SPECIAL_OUTPUTS = {
    ("bnb-nf4", "en", 512, 5): ("<script>alert(1)</script>", True),
    ("bnb-nf4", "en", 512, 6): ("", False),
    ("bnb-nf4", "en", 512, 7): ("I cannot find it.", False),
}
ERRORS = {"E": ("error", "RuntimeError: kernel <b>failed</b> & stopped"),
          "O": ("oom", "OutOfMemoryError: failed to allocate 2.00 GiB for the KV cache")}
KLD_SCALE = {"bnb-nf4": (0.02, 0.15, 0.96), "gguf-bf16": (1e-4, 0.0, 0.999), "gguf-q4_k_m": (0.03, 0.2, 0.94)}
"""KL at the first bucket, its growth per bucket, top-1 agreement at the first bucket."""
BUCKETS = 8


def _sample(task: str, lang: str, length: int, i: int, rng: random.Random, overlength: bool) -> Sample:
    budget = length - (24 if task == "niah-single" else 0)
    ids = () if overlength else tuple(rng.randrange(3, 32000) for _ in range(budget - (i % 3)))
    value = str(1_000_000 + rng.randrange(9_000_000))
    return Sample(sample_id=f"{task}-{lang}-{length}-{i:04d}", task=task, language=lang, instruction_language=lang,
                  length=length, index=i, seed=1234, status="overlength" if overlength else "ok", prompt_ids=ids,
                  prefix_len=max(0, len(ids) - 20) if task == "niah-single" else len(ids),
                  max_new_tokens=24 if task == "niah-single" else 0,
                  expected=(value,) if task == "niah-single" else (),
                  depth=round(100 * i / 9, 4) if task == "niah-single" else None,
                  metadata={"reason": "the prompt without any haystack needs 600 tokens"} if overlength else {},
                  prompt_sha256=ids_sha256(ids))


def _record(prec: str, s: Sample, **kw) -> Record:
    p = PRECISIONS[prec]
    base = dict(run_id=RUN_ID, precision=prec, engine=p["engine"], task=s.task, language=s.language,
                instruction_language=s.instruction_language, length=s.length, n_prompt_tokens=len(s.prompt_ids),
                sample_id=s.sample_id, depth=s.depth, prompt_sha256=s.prompt_sha256,
                gen_config_sha256=sha256_json(NIAH_GEN if s.task == "niah-single" else KLD_GEN),
                expected=s.expected, created_at=CREATED)
    return Record(**(base | kw))


def _timing(prec: str, s: Sample, generated: int) -> dict:
    p = PRECISIONS[prec]
    n = len(s.prompt_ids)
    kv = n * KV_PER_TOKEN + (LLAMA_KV_OVERHEAD if p["engine"] == "llama.cpp" else 0)
    return dict(prefill_seconds=round(n / p["prefill"], 6), decode_seconds=round(generated / p["decode"], 6),
                n_prefilled_tokens=n, n_generated_tokens=generated,
                kv_cache_bytes=kv if s.task == "niah-single" else None,
                peak_bytes=p["weight_bytes"] + 300 * MIB + kv if p["engine"] == "transformers" else None,
                peak_source="process-peak-rss" if p["engine"] == "transformers" else None)


def niah_records(samples: dict[tuple[str, int], list[Sample]]) -> list[Record]:
    out = []
    for prec, cells in NIAH.items():
        for (lang, length), pattern in cells.items():
            for i, mark in enumerate(pattern):
                s = samples[(lang, length)][i]
                if mark == "-":
                    out.append(_record(prec, s, engine="-", output="", score=None, status="overlength",
                                       error=s.metadata["reason"]))
                elif mark in ERRORS:
                    status, message = ERRORS[mark]
                    out.append(_record(prec, s, output="", score=None, status=status, error=message))
                else:
                    right = mark == "1"
                    output, parsed = SPECIAL_OUTPUTS.get((prec, lang, length, i),
                                                         (s.expected[0] if right else "1234567", True))
                    if right:
                        output = f"The special magic number is {s.expected[0]}."
                    out.append(_record(prec, s, output=output, score=1.0 if right else 0.0, parsed=parsed,
                                       status="ok", metrics={"n_numbers": 1.0 if parsed and output else 0.0},
                                       **_timing(prec, s, 8 if output else 0)))
    return out


def kld_records(samples: dict[tuple[str, int], list[Sample]]) -> list[Record]:
    out = []
    for prec in PRECISIONS:
        for length in (256, 512):
            for s in samples[("en", length)]:
                n = len(s.prompt_ids)
                if prec == "bf16":
                    kl = [0.0] * BUCKETS
                    top = [1.0] * BUCKETS
                else:
                    k0, growth, t0 = KLD_SCALE[prec]
                    wiggle = 1 + 0.05 * s.index
                    kl = [round(k0 * wiggle * (1 + growth * b * length / 256), 8) for b in range(BUCKETS)]
                    top = [round(t0 - (0.004 if growth else 0.0) * b * length / 256 - 0.002 * s.index, 6)
                           for b in range(BUCKETS)]
                mean_kl = sum(kl) / BUCKETS
                top1 = sum(top) / BUCKETS
                metrics = {"mean_kl": mean_kl, "top1": top1, "delta_p": round(mean_kl / 2, 8),
                           "delta_p_abs": round(mean_kl / 2, 8), "p99_kl": round(max(kl) * 3, 8),
                           "n_buckets": float(BUCKETS), "n_positions": float(n)}
                metrics |= {f"kl_b{b}": kl[b] for b in range(BUCKETS)} | {f"top1_b{b}": top[b] for b in range(BUCKETS)}
                out.append(_record(prec, s, output="", score=top1, parsed=True, status="ok", metrics=metrics,
                                   **_timing(prec, s, 0)))
    return out


def run_meta(samples: dict[str, str]) -> RunHeader:
    precisions = {}
    for label, p in PRECISIONS.items():
        precisions[label] = {
            "precision": label, "engine": p["engine"], "engine_version": "5.24.0" if p["engine"] == "transformers"
            else "0.3.36", "device": "cpu", "dtype": p["dtype"],
            "recipe": {"method": "none", "options": {}} | p["recipe"], "weight_bytes": p["weight_bytes"],
            "artifact_path": f"/cache/qlongbench/tiny-{label}.gguf" if p["engine"] == "llama.cpp" else None,
            "artifact_sha256": ("ab" * 32) if p["engine"] == "llama.cpp" else None,
            "versions": {"torch": "2.13.0+cpu", "transformers": "5.24.0"},
        }
    spec = {"model": "tiny-llama-fixture", "precisions": [{"name": n, "options": {}} for n in PRECISIONS],
            "tasks": [{"name": "niah-single", "options": {}}, {"name": "kld", "options": {}}],
            "lengths": [256, 512], "languages": ["en", "de"], "samples": 10, "seed": 0, "device": "cpu",
            "chat_template": True, "max_new_tokens": None, "instruction_language": None}
    tasks = {"kld": PlannedTask(label="kld", name="kld", uses_logprobs=True, generation=GenerationConfigRecord.of(KLD_GEN),
                                lengths=(256, 512), languages=("en",), samples=2),
             "niah-single": PlannedTask(label="niah-single", name="niah-single",
                                        generation=GenerationConfigRecord.of(NIAH_GEN), lengths=(256, 512),
                                        languages=("en", "de"), samples=10)}
    model = ModelInfo(source="tiny-llama-fixture", files_sha256="cd" * 32, architecture="LlamaForCausalLM",
                      num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                      head_dim=HEAD_DIM, hidden_size=HEADS * HEAD_DIM, vocab_size=32000, max_position_embeddings=32768,
                      tokenizer={"vocab_size": 32000, "vocab_sha256": "ef" * 32}, chat_template_sha256="12" * 32,
                      chat_template_used=True)
    plan = RunPlan(model=model, seed=0, tasks=tasks, precisions=tuple(parse_label(p) for p in PRECISIONS),
                   reference="bf16", logprob_reference="bf16", engine_baselines={"llama.cpp": "gguf-bf16"},
                   measure=MeasureRule(chance={label: 0.0 for label in tasks}))
    return RunHeader.model_validate({
        "run_id": RUN_ID, "name": "fixture-report", "created_at": CREATED, "seed": 0,
        "spec_sha256": sha256_json(spec), "sample_identity_sha256": sha256_json({"fixture": 1}), "plan": plan,
        "environment": {"versions": {"qlongbench": "0.1.0", "python": "3.11.7", "torch": "2.13.0+cpu"},
                        "platform": "Linux-fixture", "machine": "x86_64",
                        "argv": ["run", "--precisions", "bf16,bnb-nf4,gguf-q4_k_m", "--tasks", "niah-single,kld"]},
        "precisions": precisions, "samples": samples, "spec": spec | {"chat_template": "auto"},
    })


def main() -> None:
    rng = random.Random(20260101)
    if OUT.exists():
        shutil.rmtree(OUT)
    rd = RunDir(OUT)
    rd.root.mkdir(parents=True)
    niah = {(lang, n): [_sample("niah-single", lang, n, i, rng, lang == "de" and n == 512 and i == 9) for i in range(10)]
            for lang in ("en", "de") for n in (256, 512)}
    kld = {("en", n): [_sample("kld", "en", n, i, rng, False) for i in range(2)] for n in (256, 512)}
    bound = {}
    for (lang, n), ss in niah.items():
        path = rd.samples_path(f"niah-single-{lang}-{n}")
        bound[path.name] = rd.write_samples(path, ss)
    for (lang, n), ss in kld.items():
        path = rd.samples_path(f"kld-{lang}-{n}")
        bound[path.name] = rd.write_samples(path, ss)
    rd.write_header(run_meta(dict(sorted(bound.items()))))
    with rd.open_records() as writer:
        for r in niah_records(niah) + kld_records(kld):
            writer.append(r)
    print(json.dumps({"run_dir": str(OUT), "records": len(rd.records())}))


if __name__ == "__main__":
    main()
