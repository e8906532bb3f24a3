#!/usr/bin/env bash
# Benchmark: import + shape folding of the ChatGLM2-6B-shaped model.
# Makes the model with tools/models/make_6b.py when missing (~4 min, 25 GB of
# FP32 weights as external data, ~0.5 GB of memory), then prints the op
# statistics, the time and the peak RSS of edgellm-compile (the issue's bound:
# under 2 GB, since the weights are referenced, never read).
#   tools/bench/import-6b.sh [BUILD_DIR] [MODEL_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
dir=${2:-$root/tools/models/out/glm6b}
if [[ ! -f "$dir/prefill.onnx" ]]; then
  /usr/bin/python3 "$root/tools/models/make_6b.py" --out-dir "$dir" --kinds prefill
fi
/usr/bin/time -f "edgellm-compile: %e s wall, peak RSS %M KiB" \
  "$build/bin/edgellm-compile" "$dir/prefill.onnx" --op-stats -o /dev/null 2>&1 |
  grep -E "op statistics|onnx.MatMul|onnx.ExternalData|peak RSS|edgellm-compile"
