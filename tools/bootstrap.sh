#!/usr/bin/env bash
# Installs every Debian package EdgeLLM needs, when it is missing.
# Idempotent and non-interactive; exits non-zero with a clear message on failure.
#
#   tools/bootstrap.sh            build + test + model-tool packages
#   tools/bootstrap.sh --check    only report what is missing (exit 1 if anything is)
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build ccache g++ pkg-config
  # LLVM / MLIR 22 (shared libMLIR.so; lit and FileCheck come with llvm-22-tools)
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  # libraries
  libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  libxrt-dev uuid-dev
  libsentencepiece-dev
  # model tools (reference models, tokenizer, exports)
  python3 python3-numpy python3-torch python3-onnx python3-sentencepiece
  # reference executor (onnxruntime-node from npm); npm comes with nodejs on this
  # image (nodesource build), Debian's separate npm package conflicts with it
  nodejs
  # training text shipped by Debian
  fortunes fortunes-zh
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [[ "${1:-}" == "--check" ]]; then
  if ((${#missing[@]})); then
    echo "bootstrap: missing packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "bootstrap: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
  echo "bootstrap: 'apt-get update' failed; check the network / Debian mirror" >&2
  exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/edgellm-bootstrap.log 2>&1; then
  echo "bootstrap: 'apt-get install' failed for: ${missing[*]}" >&2
  tail -n 30 /tmp/edgellm-bootstrap.log >&2
  exit 1
fi
echo "bootstrap: done"
