#!/usr/bin/env bash
# The CUDA paths, checked in one run on a GPU machine (the session's `device` tool, or any CUDA box):
#   bash scripts/device_check.sh OUT_DIR
# What it runs (each step prints one line; the numbers land in OUT_DIR/device_check.json):
#   1. transformers bf16, bitsandbytes nf4 / fp4 / int8 (their CUDA kernels) and the quanto int4 KV
#      cache on --device cuda, over niah-single and kld at 1K and 4K on a tiny model built here, then
#      the same run on the CPU: greedy answers and KL of CUDA against CPU, per precision;
#   2. the CUDA allocator's readings (peak_source, KV bytes) against the formula
#      2 · layers · kv_heads · head_dim · tokens · bytes, at SmolLM2-135M's geometry at 8K (random
#      weights: only memory is read there);
#   3. `qlongbench report` and `qlongbench check` on the CUDA run.
# Never run here: GPTQ Marlin/ExLlama kernels, llama.cpp offload, vLLM on GPU (their packages are
# not on the machine and do not fit the 64 MiB the device tool carries: see the closing notes).
# Needs torch with CUDA, plus the project's Python dependencies: where the machine lacks them, the
# device tool carries them as .whl/site (see the README's "GPU check").
set -uo pipefail
OUT=${1:?usage: bash scripts/device_check.sh OUT_DIR}
mkdir -p "$OUT"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WORK=$(mktemp -d)
LOG="$OUT/device.log"
: > "$LOG"
DEVICES=${DEVICES:-cuda cpu}      # the CPU run is the comparison; DEVICES=cpu GEOMETRY_DEVICE=cpu tries the script anywhere
GEOMETRY_DEVICE=${GEOMETRY_DEVICE:-cuda}
if [ -d .whl/site ] && ! python3 -c "import pydantic, transformers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" .whl/*.whl >/dev/null 2>&1 || true
  export PYTHONPATH="$WORK/site:$ROOT/.whl/site${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$WORK/qlb" . >/dev/null 2>&1 \
  || { echo "could not install qlongbench without network"; exit 2; }
export PYTHONPATH="$WORK/qlb${PYTHONPATH:+:$PYTHONPATH}" PATH="$WORK/qlb/bin:$PATH"
export QLONGBENCH_CACHE="$WORK/cache"
python3 - <<'PY'
import torch, transformers, bitsandbytes, pydantic
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU",
      "| transformers", transformers.__version__, "| bitsandbytes", bitsandbytes.__version__)
PY
(cd "$WORK" && ROOT="$ROOT" python3 - "$WORK" <<'PY'
import os, sys
from pathlib import Path
sys.path.append(os.environ["ROOT"])  # for tests.tinymodel; qlongbench itself from the install (the tree's
                                     # qlongbench/ lacks the tasks and backends the install maps in)
from tests.tinymodel import build_tiny_llama
work = Path(sys.argv[1])
build_tiny_llama(work / "tiny", hidden=256, intermediate=512, layers=2, heads=4, kv_heads=2,
                 initializer_range=0.1, chat_template=True)
# SmolLM2-135M's attention geometry (30 layers, 9 heads / 3 KV heads, head_dim 64), random weights
build_tiny_llama(work / "geometry", hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3,
                 chat_template=True)
print("models built")
PY
)
COMMON=(--tasks niah-single,kld --languages en --lengths 1k,4k --samples 2 --seed 0 --no-report)
PRECS="bf16,bnb-nf4,bnb-fp4,bnb-int8,bf16+kv=int4"
FIRST=${DEVICES%% *}
for dev in $DEVICES; do
  start=$(date +%s)
  echo "== qlongbench run --device $dev" >> "$LOG"
  qlongbench run --model "$WORK/tiny" --device $dev --precisions "$PRECS" "${COMMON[@]}" --out "$WORK/run-$dev" >> "$LOG" 2>&1
  echo "run on $dev: exit $? in $(( $(date +%s) - start )) s"
done
start=$(date +%s)
echo "== geometry run" >> "$LOG"
qlongbench run --model "$WORK/geometry" --device "$GEOMETRY_DEVICE" --precisions bf16,bnb-nf4 --tasks niah-single \
  --languages en --lengths 8k --samples 1 --seed 0 --no-report --out "$WORK/run-geometry" >> "$LOG" 2>&1
echo "geometry run on $GEOMETRY_DEVICE: exit $? in $(( $(date +%s) - start )) s"
echo "== report" >> "$LOG"
qlongbench report "$WORK/run-$FIRST" --out "$WORK/report" >> "$LOG" 2>&1
echo "report: exit $?"
cp "$WORK/report/results.json" "$OUT/results-$FIRST.json" 2>/dev/null
echo "== check" >> "$LOG"
qlongbench check "$WORK/run-$FIRST" --reference bf16 --max-drop 50 --markdown "$OUT/check.md" >> "$LOG" 2>&1
echo "check: exit $? (0 pass, 1 fail or nothing passed, 2 input error)"
DEVICES="$DEVICES" python3 - "$WORK" "$OUT" <<'PY'
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])

def records(run):
    path = work / run / "records.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []

import os
first, *rest = os.environ.get("DEVICES", "cuda cpu").split()
cuda = {(r["precision"], r["sample_id"]): r for r in records(f"run-{first}")}
cpu = {(r["precision"], r["sample_id"]): r for r in records(f"run-{rest[0]}")} if rest else {}
summary = {"per_precision": {}, "geometry": []}
for prec in sorted({p for p, _ in cuda}):
    mine = [k for k in cuda if k[0] == prec]
    keys = [k for k in mine if k in cpu]
    text = [k for k in keys if cuda[k]["task"] != "kld" and cuda[k]["status"] == "ok"]
    kl = [(cuda[k]["metrics"].get("mean_kl"), cpu[k]["metrics"].get("mean_kl")) for k in keys if cuda[k]["task"] == "kld"]
    summary["per_precision"][prec] = {
        "records": len(mine), "statuses": sorted({cuda[k]["status"] for k in mine}),
        "errors": sorted({(cuda[k].get("error") or "")[:200] for k in mine} - {""}),
        "same_output_as_other_device": f"{sum(cuda[k]['output'] == cpu[k]['output'] for k in text)} of {len(text)}",
        "kl_vs_reference_this_other_device": kl,
        "peak_source": sorted({cuda[k].get("peak_source") for k in mine} - {None}),
        "kv_cache_bytes_this_other_device": sorted({(cuda[k].get("kv_cache_bytes"), (cpu.get(k) or {}).get("kv_cache_bytes"))
                                                    for k in mine if cuda[k]["task"] != "kld"}, key=str)[:4],
        "seconds": round(sum((cuda[k].get("prefill_seconds") or 0) + (cuda[k].get("decode_seconds") or 0) for k in mine), 2),
    }
for r in records("run-geometry"):
    tokens = r["n_prompt_tokens"]
    formula = 2 * 30 * 3 * 64 * tokens * 2
    summary["geometry"].append({"precision": r["precision"], "status": r["status"], "tokens": tokens,
                                "kv_cache_bytes": r.get("kv_cache_bytes"), "formula_bf16": formula,
                                "kv_allocator_bytes": r.get("kv_cache_allocator_bytes"),
                                "peak_bytes": r.get("peak_bytes"), "peak_source": r.get("peak_source"),
                                "prefill_seconds": r.get("prefill_seconds"), "decode_seconds": r.get("decode_seconds")})
(out / "device_check.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(summary, indent=1))
PY
for d in "run-$FIRST" run-geometry; do cp "$WORK/$d/run.json" "$OUT/$d.run.json" 2>/dev/null; done
echo "device check done"
