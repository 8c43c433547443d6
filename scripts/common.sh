# Shared by scripts/demo and scripts/test (sourced, not run).

CTNN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Packages a build needs, and what the full test run adds (Debian 12 names).
CTNN_BUILD_PACKAGES=(build-essential cmake ninja-build libboost-dev libxsimd-dev zlib1g-dev
                     nlohmann-json3-dev)
CTNN_TEST_PACKAGES=(catch2 libbenchmark-dev dataset-fashion-mnist python3-torch
                    libopenblas0-pthread clang-14 libclang-rt-14-dev)

# ctnn_ensure_packages PKG...: installs those not installed yet, with one `apt-get update`,
# and only when something is missing. Uses sudo when not root.
ctnn_ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing missing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: not root and no sudo; install these first: ${missing[*]}" >&2
            return 1
        fi
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Parallel jobs: CTNN_JOBS, else the number of cores, at most 2 on CI.
ctnn_jobs() {
    if [ -n "${CTNN_JOBS:-}" ]; then echo "$CTNN_JOBS"; return; fi
    local n
    n="$(nproc 2>/dev/null || echo 2)"
    if [ -n "${CI:-}" ] && [ "$n" -gt 2 ]; then n=2; fi
    echo "$n"
}

# Where builds go: CTNN_BUILD_ROOT, else build/ in the repository (ignored by git).
CTNN_BUILD_ROOT="${CTNN_BUILD_ROOT:-$CTNN_ROOT/build}"
