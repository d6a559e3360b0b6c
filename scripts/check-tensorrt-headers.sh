#!/usr/bin/env bash
# Compiles the TensorRT plugin (native/tensorrt) and the addon's plugin loader against each given
# TensorRT include directory with -Wall -Wextra -Werror, then checks each plugin with nm: no
# undefined TensorRT/CUDA symbols (it dlopens them) and nothing exported but the entry point.
# No GPU or TensorRT libraries needed, only the headers (and CUDA's for cuda_runtime_api.h).
#   scripts/check-tensorrt-headers.sh /tmp/trt11/include /tmp/trt10/include
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: $0 TENSORRT_INCLUDE_DIR..." >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cxx="${CXX:-g++}"
cuda_include="${CUDA_INCLUDE:-/usr/local/cuda/include}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(-std=c++17 -fPIC -Wall -Wextra -Werror -O2 -fvisibility=hidden -fvisibility-inlines-hidden)
status=0

# The loader is TensorRT-free: compile it once (it only sees plugin_api.h).
echo "== loader: native/core/tensorrt_plugin.cc, tensorrt_engine.cc"
for source in tensorrt_plugin.cc tensorrt_engine.cc; do
  "$cxx" "${flags[@]}" -isystem "$cuda_include" -I"$root/native" -c "$root/native/core/$source" -o "$out/$source.o"
done
echo "   ok"

for include in "$@"; do
  major="$(sed -nE 's/^#define (NV_TENSORRT_MAJOR|TRT_MAJOR_ENTERPRISE) ([0-9]+).*/\2/p' "$include/NvInferVersion.h" | head -n1)"
  minor="$(sed -nE 's/^#define (NV_TENSORRT_MINOR|TRT_MINOR_ENTERPRISE) ([0-9]+).*/\2/p' "$include/NvInferVersion.h" | head -n1)"
  plugin="$out/lotus_tensorrt$major.so"
  echo "== TensorRT $major.$minor headers: $include"
  if ! "$cxx" "${flags[@]}" -shared -isystem "$include" -isystem "$cuda_include" -I"$root/native" \
      "$root"/native/tensorrt/*.cc -o "$plugin" -Wl,--no-undefined \
      "-Wl,--version-script=$root/native/tensorrt/exports.map" -ldl; then
    echo "   FAILED to compile"
    status=1
    continue
  fi
  echo "   compiled $(basename "$plugin") ($(stat -c %s "$plugin") bytes), no warnings"
  undefined="$(nm -D --undefined-only "$plugin" | grep -Ei 'nvinfer|nvonnx|cuda|_INTERNAL|getInferLibVersion' || true)"
  if [ -n "$undefined" ]; then
    echo "   FAIL: undefined TensorRT/CUDA symbols:"; echo "$undefined"; status=1
  else
    echo "   nm -D --undefined-only: no TensorRT or CUDA symbols"
  fi
  exported="$(nm -D --defined-only "$plugin" | awk '{print $3}')"
  if [ "$exported" != "lotus_tensorrt_plugin_api" ]; then
    echo "   FAIL: exports other than the entry point:"; echo "$exported"; status=1
  else
    echo "   nm -D --defined-only: exports only lotus_tensorrt_plugin_api"
  fi
  needed="$(readelf -d "$plugin" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p' | tr '\n' ' ')"
  echo "   NEEDED: $needed"
  if echo "$needed" | grep -Eq 'nvinfer|nvonnx|cudart'; then echo "   FAIL: links TensorRT/cudart"; status=1; fi
done
exit $status
