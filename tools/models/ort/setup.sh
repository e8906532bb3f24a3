#!/bin/sh
# Installs onnxruntime-node (the ONNX Runtime reference executor) into
# tools/models/ort/node_modules from package-lock.json, only when it is missing.
# ONNXRUNTIME_NODE_INSTALL=skip: the package's post-install would otherwise try to
# download GPU binaries; the CPU library ships inside the npm package.
set -e
cd "$(dirname "$0")"
if [ -f node_modules/onnxruntime-node/package.json ] && \
   [ -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node ]; then
  exit 0
fi
export ONNXRUNTIME_NODE_INSTALL=skip
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
