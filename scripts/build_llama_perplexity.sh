#!/usr/bin/env bash
# Build llama.cpp's `llama-perplexity` from the llama.cpp vendored in the
# llama-cpp-python sdist of the *installed* version, so that the binary and the
# Python binding (used by qlongbench's gguf backend) share one llama.cpp.
#
#   scripts/build_llama_perplexity.sh [DEST]
#
# DEST defaults to build/llama.cpp-<ver>/bin/llama-perplexity.
# The extracted sdist stays at build/llama.cpp-<ver>/src (its
# vendor/llama.cpp also holds convert_hf_to_gguf.py and gguf-py).
# Env: JOBS (default 2), PYTHON (default python), CMAKE_EXTRA (extra cmake args),
#      NATIVE (ON by default: -march=native, the same kernels as a plain `pip install
#      llama-cpp-python`, which builds natively; OFF gives a portable AVX2 binary whose bf16 logits
#      differ measurably from the binding's: KL(binary‖binding) ≈ 1.6e-4 on SmolLM2-135M bf16).
set -euo pipefail

PY=${PYTHON:-python}
JOBS=${JOBS:-2}
VER=$("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)')
ROOT="$(cd "$(dirname "$0")/.." && pwd)/build/llama.cpp-$VER"
DEST=${1:-$ROOT/bin/llama-perplexity}
SRC=$ROOT/src
NATIVE=${NATIVE:-ON}
BUILD=$ROOT/build-native-$NATIVE

mkdir -p "$ROOT" "$(dirname "$DEST")"
if [ ! -d "$SRC/vendor/llama.cpp" ]; then
    tmp=$(mktemp -d)
    "$PY" -m pip download --no-deps --no-binary llama_cpp_python -d "$tmp" "llama_cpp_python==$VER"
    tarball=$(ls "$tmp"/llama_cpp_python-*.tar.gz)
    mkdir -p "$SRC"
    tar -xzf "$tarball" -C "$SRC" --strip-components=1
    cp "$tarball" "$ROOT/"
    rm -rf "$tmp"
fi

# The comparison needs llama-perplexity and llama-cpp-python to compute the same logits, so the
# binary is built with the flags the binding's wheel was built with (check both with
# `python -c "import llama_cpp; print(llama_cpp.llama_print_system_info())"` and the binary's
# "system_info" log line).
cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=$NATIVE \
    -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DBUILD_SHARED_LIBS=OFF \
    ${CMAKE_EXTRA:-}
cmake --build "$BUILD" --target llama-perplexity -j "$JOBS"
cp "$BUILD/bin/llama-perplexity" "$DEST"
echo "built: $DEST"
"$DEST" --version 2>&1 | tail -n 2 || true
