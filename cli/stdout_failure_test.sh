#!/usr/bin/env bash
# plantctl fails when what it printed could not be written (outside testing: a report sent
# to a full disk, or with stdout closed, exited 0 and empty): exit 1 and a message naming
# standard output. A pipe closed early still ends by SIGPIPE, as for other tools.
# Usage: stdout_failure_test.sh PLANTCTL
set -uo pipefail
plantctl=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

for args in "--version" "--help" "completion bash"; do
  # shellcheck disable=SC2086
  err=$("$plantctl" $args 2>&1 >/dev/full); rc=$?
  [ "$rc" = 1 ] || fail "plantctl $args >/dev/full exited $rc"
  [[ $err == *"plantctl: cannot write standard output"* ]] ||
    fail "plantctl $args >/dev/full said: $err"
done
err=$("$plantctl" --version 2>&1 >&-); rc=$?
[ "$rc" = 1 ] || fail "plantctl --version with stdout closed exited $rc"
[[ $err == *"plantctl: cannot write standard output"* ]] || fail "stdout closed: $err"
"$plantctl" --version >/dev/null || fail "plantctl --version >/dev/null exited $?"
echo "ok"
