#!/usr/bin/env bash
# Benchmark: compile the ChatGLM2-6B-shaped model into a package (dense INT4
# by default): import, raise, quantise + pack 6.2 G weights from the mmap'd
# FP32 source, lower, write. Prints the compiler's report, the wall time,
# the peak RSS, and the package's bits per weight (goal: under 3 minutes and
# 3 GB; 4.125 bits per weight for dense INT4).
#   tools/bench/compile-6b.sh [BUILD_DIR] [MODEL_DIR] [extra edgellm-compile flags]
# Makes the model with tools/models/make_6b.py when missing (~4 min, 25 GB).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
dir=${2:-$root/tools/models/out/glm6b}
shift $(( $# > 2 ? 2 : $# ))
if [[ ! -f "$dir/decode.onnx" ]]; then
  /usr/bin/python3 "$root/tools/models/make_6b.py" --out-dir "$dir" --kinds prefill,decode
fi
out=${PKG_OUT:-$dir/chatglm2-6b.elpkg}
/usr/bin/time -f "edgellm-compile: %e s wall, peak RSS %M KiB" \
  "$build/bin/edgellm-compile" "$dir/decode.onnx" --target=vcu128 -o "$out" \
  --report="$out.report.json" "$@" 2>&1 | grep -v "lowering [a-z_]*: layer"
ls -l "$out"
