#!/usr/bin/env bash
# Checks what a prebuild asks of the system libraries, from `objdump -T`:
#   - no GLIBC_ symbol version above the documented minimum (default 2.28, docs/install.md);
#   - no libstdc++ versions (GLIBCXX_/CXXABI_): libstdc++ is linked in;
#   - libgcc_s versions no newer than GCC_7.0.0 (any glibc distribution of the last decade has them);
#   - no unversioned undefined symbol except Node's own (napi_*, node_api_*, uv_*) and weak ones:
#     such a symbol would be looked up by name on the user's machine, where an older glibc lacks it.
# usage: scripts/release/check-glibc.sh [--max 2.28] <binary>...
set -euo pipefail
max=2.28
if [[ "${1:-}" == "--max" ]]; then max=$2; shift 2; fi
[[ $# -gt 0 ]] || { echo "usage: $0 [--max 2.28] <binary>..." >&2; exit 2; }

newer() {  # newer A B: A > B as dotted versions
  [[ "$1" != "$2" && "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" == "$1" ]]
}

status=0
for file in "$@"; do
  objdump=objdump
  if readelf -h "$file" | grep -q 'AArch64' && command -v aarch64-linux-gnu-objdump > /dev/null; then
    objdump=aarch64-linux-gnu-objdump
  fi
  table=$("$objdump" -T "$file")
  versions() { { grep -o "$1_[0-9.]*" <<< "$table" || true; } | sed "s/$1_//" | sort -V; }
  glibc=$(versions GLIBC | uniq -c | awk '{printf "%s(%s) ", $2, $1}')
  highest=$(versions GLIBC | tail -n 1)
  gcc=$(versions GCC | tail -n 1)
  echo "$file: GLIBC ${glibc:-none}; highest GLIBC_${highest:-none}, GCC_${gcc:-none}"
  if [[ -n "$highest" ]] && newer "$highest" "$max"; then
    echo "  FAIL: needs GLIBC_$highest, above the minimum $max:" >&2
    grep -E "GLIBC_[0-9.]+" <<< "$table" | awk -v max="$max" '{print}' | while read -r line; do
      v=$(grep -o 'GLIBC_[0-9.]*' <<< "$line" | sed 's/GLIBC_//')
      if newer "$v" "$max"; then echo "    $line" >&2; fi
    done
    status=1
  fi
  if grep -q -E 'GLIBCXX_|CXXABI_' <<< "$table"; then
    echo "  FAIL: links libstdc++ dynamically ($(grep -o -E '(GLIBCXX|CXXABI)_[0-9.]*' <<< "$table" | sort -V | tail -n 1))" >&2
    status=1
  fi
  if [[ -n "$gcc" ]] && newer "$gcc" 7.0.0; then
    echo "  FAIL: needs libgcc_s GCC_$gcc" >&2
    status=1
  fi
  loose=$(awk '$3 == "*UND*" && $2 != "w" && $5 == "Base" || ($2 == "D" && $3 == "*UND*" && $4 !~ /^(GLIBC|GCC)/)' <<< "$table" \
    | grep -v -E ' (napi_|node_api_|uv_)[A-Za-z0-9_]*$' || true)
  if [[ -n "$loose" ]]; then
    echo "  FAIL: unversioned undefined symbols (they would be looked up by name at load time):" >&2
    sed 's/^/    /' <<< "$loose" >&2
    status=1
  fi
done
exit $status
