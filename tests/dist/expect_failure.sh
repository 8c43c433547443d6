#!/bin/sh
# expect_failure.sh SECONDS PATTERN COMMAND...: passes when COMMAND ends within SECONDS with a
# non-zero status and its output matches PATTERN (grep -E); fails when it succeeds, times out
# (a hang) or says something else. For the MPI fault tests.
limit="$1"; pattern="$2"; shift 2
out="$(timeout -k 5 "$limit" "$@" 2>&1)"
rc=$?
printf '%s\n' "$out"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "expect_failure: FAIL: still running after $limit s (a hang)"; exit 1; fi
if [ "$rc" -eq 0 ]; then echo "expect_failure: FAIL: it succeeded"; exit 1; fi
if ! printf '%s\n' "$out" | grep -Eq "$pattern"; then echo "expect_failure: FAIL: no '$pattern' in the output"; exit 1; fi
echo "expect_failure: ok: exit status $rc, '$pattern' in the output"
