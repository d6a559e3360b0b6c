#!/usr/bin/env bash
# Shows that the host pixel math computes the same bits on x86-64 and aarch64 only with
# -ffp-contract=off (CMakeLists.txt sets it for C++ and for the host side of CUDA files): g++ fuses
# a*b+c into one FMA by default on aarch64, which rounds once instead of twice, so the host path
# would stop matching the CUDA kernels (they use __fmul_rn/__fadd_rn, never fused).
#
# Builds native/checks/host_math_digest.cc with the host core three times: x86-64 (reference),
# aarch64 with -ffp-contract=off, aarch64 with g++'s default; runs the aarch64 ones under
# qemu-aarch64 and compares digests of every float result. Also counts fused multiply-add
# instructions in the aarch64 objects. Needs g++-aarch64-linux-gnu and qemu-user (apt).
# Exit: 0 proven, 1 a mismatch, 77 the tools are missing (skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in g++ aarch64-linux-gnu-g++ aarch64-linux-gnu-objdump qemu-aarch64; do
  command -v "$tool" > /dev/null || { echo "skipped: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user)"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sources=(native/checks/host_math_digest.cc native/core/host_pipeline.cc native/core/pipeline_geometry.cc native/core/errors.cc)
common=(-std=c++17 -O2 -Inative)

g++ "${common[@]}" -ffp-contract=off "${sources[@]}" -o "$work/x64"
aarch64-linux-gnu-g++ "${common[@]}" -ffp-contract=off -static "${sources[@]}" -o "$work/arm64-off"
aarch64-linux-gnu-g++ "${common[@]}" -static "${sources[@]}" -o "$work/arm64-default"
aarch64-linux-gnu-g++ "${common[@]}" -ffp-contract=off -c native/core/host_pipeline.cc -o "$work/off.o"
aarch64-linux-gnu-g++ "${common[@]}" -c native/core/host_pipeline.cc -o "$work/default.o"

fused() { aarch64-linux-gnu-objdump -d "$1" | grep -c -E '\s(fmadd|fmsub|fnmadd|fnmsub|fmla|fmls)\s' || true; }
reference=$("$work/x64")
off=$(qemu-aarch64 "$work/arm64-off")
default=$(qemu-aarch64 "$work/arm64-default")
echo "x86-64                          digest $reference"
echo "aarch64 -ffp-contract=off       digest $off   (fused multiply-adds in host_pipeline.o: $(fused "$work/off.o"))"
echo "aarch64 g++ default (fast)      digest $default   (fused multiply-adds in host_pipeline.o: $(fused "$work/default.o"))"
if [[ "$off" != "$reference" ]]; then
  echo "FAIL: with -ffp-contract=off the aarch64 host math differs from x86-64" >&2
  exit 1
fi
if [[ "$(fused "$work/off.o")" != "0" ]]; then
  echo "FAIL: fused multiply-adds in host_pipeline.o despite -ffp-contract=off" >&2
  exit 1
fi
if [[ "$default" == "$reference" ]]; then
  echo "note: g++'s default gave the same bits here too (the flag is then not what keeps them equal)"
else
  echo "proven: without -ffp-contract=off aarch64 computes different bits; with it, the same as x86-64"
fi
