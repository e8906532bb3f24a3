#!/usr/bin/env bash
# The main job: sets up, builds, compiles the bundled tiny ChatGLM2 (trained
# 4-layer model, test/models/tiny) into a package for the VCU128 (dense INT4,
# every transformer op on the FPGA) and generates an answer on the `sim`
# device (the golden model), printing the compile report on the way and the
# host and modeled VCU128 speed at the end. `edgellm-run PKG --chat` chats.
#   tools/run.sh ["prompt"] [extra edgellm-compile flags, e.g. --quant=none]
# Build folder: $EDGELLM_BUILD_DIR (default: build/ in the checkout).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${EDGELLM_BUILD_DIR:-$root/build}
prompt=${1:-你好}
shift $(( $# > 0 ? 1 : 0 ))

"$root/tools/bootstrap.sh"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
ninja -C "$build" -j "${EDGELLM_JOBS:-2}" edgellm-compile edgellm-run

pkg=$build/tiny-chatglm2.elpkg
"$build/bin/edgellm-compile" "$root/test/models/tiny/decode.op17.onnx" --target=vcu128 \
  -o "$pkg" "$@" 2>&1 | grep -v "lowering [a-z_]*: layer\|packing weights"
"$build/bin/edgellm-run" "$pkg" --prompt "$prompt" --max-tokens 64 --stats
