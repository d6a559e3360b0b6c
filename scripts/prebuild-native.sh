#!/usr/bin/env bash
# Makes prebuilds/<platform>-<arch>/lotus-trt.node with prebuildify (N-API, so one binary serves every
# Node >= 20). prebuildify has no cmake-js backend: it is handed a script in node-gyp's place, and
# copies the .so files next to the addon (the TensorRT plugins) into the prebuild folder too.
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx prebuildify --napi --strip --node-gyp "$PWD/scripts/prebuildify-cmake.sh"
