#!/usr/bin/env bash
# Sets up, builds and runs every test of EdgeLLM:
#   1. installs the Debian packages it needs (tools/bootstrap.sh),
#   2. configures (Release, Ninja, ccache) and builds the whole tree with -j2,
#   3. runs every test through ctest: lit (FileCheck), GoogleTest, model fixtures.
# Build folder: $EDGELLM_BUILD_DIR (default: build/ in the checkout).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${EDGELLM_BUILD_DIR:-$root/build}
jobs=${EDGELLM_JOBS:-2}

"$root/tools/bootstrap.sh"

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
ninja -C "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure -j "$jobs"
