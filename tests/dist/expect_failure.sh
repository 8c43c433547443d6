#!/bin/sh
# expect_failure.sh SECONDS PATTERN COMMAND...: passes when COMMAND ends within SECONDS with a
# non-zero status and its output matches PATTERN (grep -E); fails when it succeeds, runs until
# killed at SECONDS (a hang) or says something else. For the MPI fault tests. (The time tells a
# hang, not the status: mpirun itself exits 137 when a rank was killed by SIGKILL.)
limit="$1"; pattern="$2"; shift 2
start=$(date +%s)
out="$(timeout -k 5 "$limit" "$@" 2>&1)"
rc=$?
elapsed=$(( $(date +%s) - start ))
printf '%s\n' "$out"
if [ "$elapsed" -ge "$limit" ]; then echo "expect_failure: FAIL: still running after $limit s (a hang)"; exit 1; fi
if [ "$rc" -eq 0 ]; then echo "expect_failure: FAIL: it succeeded"; exit 1; fi
if ! printf '%s\n' "$out" | grep -Eq "$pattern"; then echo "expect_failure: FAIL: no '$pattern' in the output"; exit 1; fi
echo "expect_failure: ok: exit status $rc after ${elapsed} s, '$pattern' in the output"
