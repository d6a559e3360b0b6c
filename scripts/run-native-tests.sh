#!/usr/bin/env bash
# Configures and builds the native test binaries standalone (no cmake-js, no Node addon target)
# and runs them. Usage: scripts/run-native-tests.sh [parity|stress|timing|all] [extra args]
# Without a GPU the binary prints "skipped: no CUDA device (...)" and exits 0.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${LOTUS_TEST_BUILD_DIR:-$root/build-tests}"
nvcc="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
# "native" needs a visible GPU; without one, any architecture will do to build.
if nvidia-smi -L >/dev/null 2>&1; then default_arch=native; else default_arch=89-real; fi
arch="${LOTUS_CUDA_ARCHITECTURES:-$default_arch}"
cmake -S "$root" -B "$build" -DLOTUS_BUILD_TESTS=ON -DLOTUS_BUILD_ADDON=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" >/dev/null
cmake --build "$build" --target lotus_kernel_tests -j"$(nproc)"
bin="$build/lotus_kernel_tests"
[ -x "$bin" ] || bin="$build/native/tests/lotus_kernel_tests"
mode="${1:-parity}"
shift || true
case "$mode" in
  parity) "$bin" "$@" ;;
  stress) "$bin" --stress "$@" ;;
  timing) "$bin" --timing "$@" ;;
  all) "$bin" && "$bin" --stress "$@" && "$bin" --timing ;;
  *) echo "usage: $0 [parity|stress|timing|all]" >&2; exit 2 ;;
esac
