# shellcheck shell=bash
# Sourced by shell tests that run docs/runbook.md's command blocks verbatim (as
# tests/e2e/backup_restore_test.cc does in C++): the block after a line
# "<!-- tested: NAME -->" is the next ```sh fence, each line with its indentation removed.
#   RUNBOOK=<source dir>/docs/runbook.md; . runbook.sh
#   runbook_block NAME             prints the block (status 1 when there is none)
#   run_runbook_block NAME DIR     runs it with bash -eu -o pipefail in the caller's
#                                  environment; script and output in DIR/NAME.{sh,log};
#                                  on failure the output goes to stderr; as the user
#                                  $RUNBOOK_USER when set (runuser, root only)

runbook_block() {
  awk -v marker="<!-- tested: $1 -->" '
    { line = $0; sub(/^[ \t]+/, "", line) }
    !after { if (line == marker) after = 1; next }
    !inside { if (line == "```sh") inside = 1; next }
    line == "```" { found = 1; exit }
    { print line }
    END { exit found ? 0 : 1 }' "$RUNBOOK"
}

run_runbook_block() {
  local name=$1 dir=$2
  runbook_block "$name" >"$dir/$name.sh" || {
    echo "no block marked 'tested: $name' in $RUNBOOK" >&2
    return 1
  }
  local as_user=()
  [ -z "${RUNBOOK_USER:-}" ] || as_user=(runuser -u "$RUNBOOK_USER" --)
  if ! "${as_user[@]}" bash -eu -o pipefail "$dir/$name.sh" >"$dir/$name.log" 2>&1; then
    echo "---- runbook block '$name' failed; its output: ----" >&2
    cat "$dir/$name.log" >&2
    return 1
  fi
}
