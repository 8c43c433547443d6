#!/usr/bin/env bash
# Compile times of two programs (docs/compile-times.md): the seed example and a 20-layer net,
# with g++ -O2, g++ -O2 -march=native and clang++-14 -O2. Prints CPU time (user + sys) per
# compile, the best of REPS runs (default 3; the machine is a shared VM).
#
#   bench/compile_times.sh [INCLUDE_DIR] [REPS]      (INCLUDE_DIR: default include/ here)
#   EXTRA="-DFOO" bench/compile_times.sh             (extra compiler flags)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
inc="${1:-$here/../include}"
reps="${2:-3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
measure() {  # label, compiler, flags..., source
    local label="$1" cxx="$2"; shift 2
    local best=""
    for _ in $(seq "$reps"); do
        local t
        t="$( { /usr/bin/time -f "%U %S" "$cxx" -std=c++20 -I "$inc" "$@" -o "$out/a.out" >/dev/null 2>"$out/err" || { cat "$out/err" >&2; exit 1; }; } 2>&1 | tail -1)"
        t="$(tail -1 "$out/err" | awk '{printf "%.2f", $1 + $2}')"
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best="$t"; fi
    done
    printf '%-34s %6s s\n' "$label" "$best"
}
for prog in "seed example:$here/../examples/seed_forward.cpp" "20-layer net:$here/deep20.cpp"; do
    name="${prog%%:*}" src="${prog#*:}"
    measure "$name, g++ -O2" g++ -O2 ${EXTRA:-} "$src" -lpthread
    measure "$name, g++ -O2 -march=native" g++ -O2 -march=native ${EXTRA:-} "$src" -lpthread
    measure "$name, clang++-14 -O2" clang++-14 -O2 ${EXTRA:-} "$src" -lpthread
done
